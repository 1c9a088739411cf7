"""Supervised fine-tuning (SFT): next-token loss on the assistant's tokens only.

    loss = mean over positions t with labels[t+1] != -100 of  -log p(labels[t+1] | tokens[..t])

The same loss as pre-training, with a mask (from `tokenize_chat`): what the user said is
context, never a target. Batches are padded on the right (causal attention never looks
forward, so padding after an example changes nothing) or packed (`pack_examples`, with a
block-diagonal mask). The loop is the course's one training loop, `llmcourse.training.train`,
with `sft_loss_fn` as its loss; `sft_loss` equals trl's SFTTrainer loss on the same batch.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from llmcourse.finetuning.chat import (IGNORE_INDEX, ChatExample, pack_examples, packed_attention_mask, pad_examples,
                                       tokenize_chat)

__all__ = ["SFT_STEPS", "reference_sft_gpt", "sft_batches", "sft_conversations", "sft_loss", "sft_loss_fn", "train_sft"]

SFT_STEPS = {"smoke": 40, "laptop": 600, "colab": 1500, "cluster": 1500}


def sft_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of logits (B, T, V) against labels (B, T) aligned with the inputs, shifted by one.

    Position t predicts labels[t + 1]; -100 labels are not counted.
    """
    shift_logits = logits[:, :-1].float()  # (B, T-1, V): the prediction made at t ...
    shift_labels = labels[:, 1:]  # (B, T-1): ... is scored against token t + 1
    if not (shift_labels != IGNORE_INDEX).any():
        raise ValueError("no label to learn from in this batch (all -100): is there an assistant turn?")
    return F.cross_entropy(shift_logits.reshape(-1, shift_logits.shape[-1]), shift_labels.reshape(-1),
                           ignore_index=IGNORE_INDEX)


def sft_loss_fn(model, batch: tuple[torch.Tensor, ...], loss: Callable = None, mask_fn: Callable = None
                ) -> torch.Tensor:
    """Loss for `llmcourse.training.train`: batch = (ids, labels) padded, or (ids, labels, doc_ids) packed.

    `loss` (default `sft_loss`) and `mask_fn` (default `packed_attention_mask`) can be swapped
    for a learner's own versions.
    """
    loss, mask_fn = loss or sft_loss, mask_fn or packed_attention_mask
    from llmcourse.finetuning.gpt_forward import gpt_logits

    if len(batch) == 3:
        ids, labels, docs = batch
        logits = gpt_logits(model, ids, mask=mask_fn(docs))
    else:
        ids, labels = batch
        out = model(ids)
        logits = out[0] if isinstance(out, tuple) else out.logits
    return loss(logits, labels)


def sft_batches(examples: Sequence[ChatExample], batch_size: int, pad_id: int, generator: torch.Generator,
                pack_to: int | None = None, device: str | torch.device = "cpu") -> Callable[[], tuple]:
    """A function returning a fresh random batch each call: padded (ids, labels), or packed rows with doc ids."""
    examples = list(examples)
    if not examples:
        raise ValueError("no examples to make batches from")
    if pack_to:
        ids, labels, docs = pack_examples(examples, pack_to, pad_id)

        def packed() -> tuple:
            rows = torch.randint(len(ids), (batch_size,), generator=generator)
            return ids[rows].to(device), labels[rows].to(device), docs[rows].to(device)
        return packed

    def padded() -> tuple:
        picks = torch.randint(len(examples), (batch_size,), generator=generator).tolist()
        x, y, _ = pad_examples([examples[i] for i in picks], pad_id)
        return x.to(device), y.to(device)
    return padded


def train_sft(model, tokenizer, conversations: Sequence[list[dict]], steps: int, lr: float = 1e-3,
              batch_size: int = 16, val_conversations: Sequence[list[dict]] | None = None, pack_to: int | None = None,
              seed: int = 0, max_length: int | None = None, progress: bool = True, eval_every: int | None = None,
              device: str | torch.device = "cpu", loss: Callable | None = None, mask_fn: Callable | None = None):
    """SFT with the course's training loop; returns its History (train and val SFT loss)."""
    from llmcourse.training import train

    max_length = max_length or getattr(getattr(model, "config", None), "block_size", None)
    train_ex = [tokenize_chat(c, tokenizer, max_length=max_length) for c in conversations]
    pad_id = _pad_id(tokenizer)
    g = torch.Generator().manual_seed(seed)
    batches = sft_batches(train_ex, batch_size, pad_id, g, pack_to, device)
    val = None
    if val_conversations:
        val_ex = [tokenize_chat(c, tokenizer, max_length=max_length) for c in val_conversations]
        gv = torch.Generator().manual_seed(seed + 1)
        val = sft_batches(val_ex, batch_size, pad_id, gv, None, device)
    return train(model, batches, steps=steps, lr=lr, val_batch=val, eval_every=eval_every or max(1, steps // 4),
                 eval_batches=4, warmup=max(1, steps // 10), progress=progress, desc="SFT",
                 loss_fn=lambda m, b: sft_loss_fn(m, b, loss, mask_fn))


def _pad_id(tokenizer) -> int:
    if hasattr(tokenizer, "pad_token_id") and tokenizer.pad_token_id is not None:
        return tokenizer.pad_token_id
    specials = getattr(tokenizer, "special_tokens", {})
    return specials.get("<|pad|>", specials.get("<|endoftext|>", 0))


def sft_conversations(split: str, per_kind: int) -> list[list[dict]]:
    """The instruction data of a split as chat messages (the conversations SFT trains on)."""
    from llmcourse.assets.instructions import instruction_data, to_messages

    return [to_messages(it) for it in instruction_data(split, per_kind=per_kind)]


def reference_sft_gpt() -> dict:
    """The pre-trained course GPT instruction-tuned on the course's instruction data, seed 0 (5.3's stand-in)."""
    from llmcourse.assets.artifacts import load_artifact
    from llmcourse.config import pick_profile
    from llmcourse.models.course import reference_pretrained_gpt

    profile = pick_profile()[0]
    art = load_artifact("course-gpt-pretrained", fallback=reference_pretrained_gpt)
    model, tok = art["model"], art["tokenizer"]
    steps = SFT_STEPS.get(profile, 600)
    per_kind = 40 if profile == "smoke" else 100
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        history = train_sft(model, tok, sft_conversations("train", per_kind), steps=steps, lr=1e-3,
                            val_conversations=sft_conversations("val", per_kind), batch_size=16,
                            progress=False, seed=0)
    model.eval()
    return {"model": model, "tokenizer": tok,
            "metrics": {"sft_val_loss": history.val_loss[-1], "steps": steps, "trained_by": "reference"}}
