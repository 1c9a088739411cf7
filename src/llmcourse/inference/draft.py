"""A draft model for speculative decoding: a small course GPT distilled from the target.

A draft is only useful if it guesses what the *target* would say, and cheap: one layer,
half the width, the same tokenizer. Trained on the target's own next-token distributions
(distillation: minimise KL(target || draft) at every position of the course text), it
learns to imitate the target rather than the text, which is what raises the acceptance
rate. Deterministic for a given target, text and seed.

    draft = distill_draft(target, tokenizer, steps=300)

A draft fits one target only: `target_fingerprint(target)` names the weights it was
distilled from, so a cached draft can be checked against the model it is asked to serve.
"""

from __future__ import annotations

import hashlib

import torch
import torch.nn.functional as F

from llmcourse.models.gpt import GPT, GPTConfig

__all__ = ["distill_draft", "draft_config", "target_fingerprint"]


def target_fingerprint(model: torch.nn.Module) -> str:
    """A short hash of a model's weights (names, shapes and values): equal iff the weights are."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(f"{name}{tuple(t.shape)}{t.dtype}".encode())
        h.update(t.detach().to("cpu").contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def draft_config(target: GPTConfig, n_layer: int = 1, width_divisor: int = 2) -> GPTConfig:
    """The target's config with fewer layers and a narrower width (heads halved with it)."""
    n_embd = max(16, target.n_embd // width_divisor)
    n_head = max(1, target.n_head // width_divisor)
    while n_embd % n_head or (n_embd // n_head) % 2:
        n_head -= 1
    n_kv = max(1, min(target.n_kv_head, n_head))
    while n_head % n_kv:
        n_kv -= 1
    return target.replace(n_layer=n_layer, n_embd=n_embd, n_head=n_head, n_kv_head=n_kv, ffn_hidden=None,
                          attn_impl="sdpa")


def distill_draft(target: GPT, tokenizer, steps: int = 300, text_chars: int = 100_000, batch: int = 16,
                  seq_len: int = 64, lr: float = 3e-3, seed: int = 0, progress: bool = True) -> GPT:
    """Train a small draft to match the target's next-token distributions on the course text."""
    from tqdm.auto import tqdm

    from llmcourse.models.course import course_text
    from llmcourse.training import get_batch, lr_at, make_optimizer

    ids = torch.tensor([t for text in course_text(text_chars // 8).values() for t in tokenizer.encode_ordinary(text)])
    seq_len = min(seq_len, target.config.block_size, len(ids) - 1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        draft = GPT(draft_config(target.config))
    device = next(target.parameters()).device
    draft.to(device).train()
    target.eval()
    g = torch.Generator().manual_seed(seed)
    opt = make_optimizer(draft, lr, weight_decay=0.0)
    for step in tqdm(range(steps), desc="distilling the draft", disable=not progress, mininterval=0.5):
        x, _ = get_batch(ids, seq_len, batch, g)
        x = x.to(device)
        with torch.no_grad():
            teacher = target(x)[0].log_softmax(-1)  # (B, T, V)
        student = draft(x)[0].log_softmax(-1)
        loss = F.kl_div(student, teacher, log_target=True, reduction="batchmean") / x.shape[1]
        for group in opt.param_groups:
            group["lr"] = lr_at(step, steps, lr, warmup=steps // 10)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(draft.parameters(), 1.0)
        opt.step()
    return draft.eval()
