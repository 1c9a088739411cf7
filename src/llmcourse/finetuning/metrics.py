"""What fine-tuning is judged by: perplexity on held-out text, a task metric, answers.

* `perplexity(model, ids)`: exp of the mean next-token loss over consecutive windows of a
  held-out token stream (every token scored once), for the course GPT or a Hugging Face LM.
* `cloze_accuracy(...)`: the keyword cloze of the domain corpus — the candidate under
  which the completed line is most likely, against the true keyword.
* `generate_answers(...)`: greedy answers to chat prompts, for before/after tables and
  verifiers (through each model's own generate, which uses the course's one sampler).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F

from llmcourse.models.gpt import GPT

__all__ = ["cloze_accuracy", "continuation_logprobs", "encode_text", "generate_answers", "lm_logits", "perplexity"]


def encode_text(tokenizer, text: str) -> list[int]:
    """Token ids of plain text with either kind of tokenizer (no special tokens added)."""
    if hasattr(tokenizer, "apply_chat_template"):
        return tokenizer(text, add_special_tokens=False)["input_ids"]
    return tokenizer.encode_ordinary(text)


def lm_logits(model, idx: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Logits (B, T, V) of the course GPT (or a wrapper returning (logits, loss)) or a Hugging Face LM."""
    hf = hasattr(model, "get_input_embeddings")  # a Hugging Face model takes a padding mask
    out = model(idx, attention_mask=attention_mask) if hf and attention_mask is not None else model(idx)
    return out[0] if isinstance(out, tuple) else out.logits


def _device(model) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def perplexity(model, ids: torch.Tensor | Sequence[int], block_size: int, batch_size: int = 8,
               max_tokens: int | None = None) -> float:
    """exp(mean next-token loss) over consecutive non-overlapping windows of a held-out stream."""
    ids = torch.as_tensor(ids, dtype=torch.long)
    if max_tokens:
        ids = ids[: max_tokens + 1]
    n_windows = (len(ids) - 1) // block_size
    if n_windows < 1:
        raise ValueError(f"{len(ids)} tokens are fewer than one window of {block_size} + 1")
    was = model.training
    model.eval()
    total, count = 0.0, 0
    device = _device(model)
    for start in range(0, n_windows, batch_size):
        rows = range(start, min(n_windows, start + batch_size))
        x = torch.stack([ids[r * block_size:(r + 1) * block_size] for r in rows]).to(device)  # (B, T)
        y = torch.stack([ids[r * block_size + 1:(r + 1) * block_size + 1] for r in rows]).to(device)
        logits = lm_logits(model, x).float()
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum").item()
        count += y.numel()
    model.train(was)
    return math.exp(total / count)


@torch.no_grad()
def continuation_logprobs(model, tokenizer, prefixes: Sequence[str], continuations: Sequence[str],
                          max_len: int | None = None, batch_size: int = 16) -> torch.Tensor:
    """log p(continuation | prefix) summed over the continuation's tokens, one per pair (N,)."""
    rows, spans = [], []
    for pre, cont in zip(prefixes, continuations):
        a, b = encode_text(tokenizer, pre), encode_text(tokenizer, cont)
        ids = a + b
        if max_len and len(ids) > max_len:  # keep the end: the continuation and the nearest context
            cut = len(ids) - max_len
            ids, start = ids[cut:], max(1, len(a) - cut)
        else:
            start = max(1, len(a))
        rows.append(ids)
        spans.append((start, len(ids)))
    out = torch.empty(len(rows))
    was = model.training
    model.eval()
    device = _device(model)
    for s in range(0, len(rows), batch_size):
        chunk = rows[s:s + batch_size]
        T = max(len(r) for r in chunk)
        x = torch.zeros(len(chunk), T, dtype=torch.long)
        mask = torch.zeros(len(chunk), T, dtype=torch.long)
        for i, r in enumerate(chunk):
            x[i, :len(r)] = torch.tensor(r)
            mask[i, :len(r)] = 1
        logp = lm_logits(model, x.to(device), mask.to(device)).float().log_softmax(-1).cpu()  # (B, T, V)
        for i in range(len(chunk)):
            a, b = spans[s + i]
            targets = x[i, a:b]
            out[s + i] = logp[i, a - 1:b - 1].gather(-1, targets[:, None]).sum()
    model.train(was)
    return out


def cloze_accuracy(model, tokenizer, items, candidates: Sequence[str], max_len: int | None = None,
                   per_character: bool = True) -> float:
    """Share of cloze items where the true keyword gives the most likely line among `candidates`.

    With `per_character` (lm-evaluation-harness's "acc_norm") the log-likelihood of each completed
    line is divided by its length in characters, so a long keyword ("import", several tokens) is not
    beaten by a short one ("in") just for having more tokens to pay for.
    """
    prefixes, conts = [], []
    for it in items:
        for word in candidates:
            prefixes.append(it.context)
            conts.append(f"{it.before}{word}{it.after}")
    scores = continuation_logprobs(model, tokenizer, prefixes, conts, max_len=max_len)
    if per_character:
        scores = scores / torch.tensor([len(c) for c in conts], dtype=torch.float)
    scores = scores.view(len(items), len(candidates))
    picked = scores.argmax(dim=1)
    right = torch.tensor([list(candidates).index(it.answer) for it in items])
    return (picked == right).float().mean().item()


@torch.no_grad()
def generate_answers(model, tokenizer, prompts: Sequence[str], max_new_tokens: int = 24,
                     chat_template: str | None = None) -> list[str]:
    """Greedy answers to user prompts rendered with the chat template (generation prompt added)."""
    from llmcourse.finetuning.chat import render_chat

    answers = []
    device = _device(model)
    for prompt in prompts:
        text = render_chat([{"role": "user", "content": prompt}], tokenizer, add_generation_prompt=True,
                           chat_template=chat_template)
        if isinstance(model, GPT):
            ids = tokenizer.encode(text, allowed_special="all")
            ids = ids[-(model.config.block_size - max_new_tokens):]
            eos = tokenizer.special_tokens.get("<|endoftext|>")
            out = model.generate(torch.tensor([ids], device=device), max_new_tokens, temperature=0.0,
                                 eos_token_id=eos)[0, len(ids):].tolist()
            if eos in out:
                out = out[: out.index(eos)]
            answers.append(tokenizer.decode(out).strip())
        else:
            enc = tokenizer(text, add_special_tokens=False, return_tensors="pt").to(device)
            eot = [t for t in (tokenizer.convert_tokens_to_ids("<end_of_turn>"), tokenizer.eos_token_id)
                   if isinstance(t, int) and t >= 0]
            out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=eot or None,
                                 pad_token_id=tokenizer.pad_token_id)
            answers.append(tokenizer.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True).strip())
    return answers
