"""What the alignment heads need from a causal LM: its kind, its width, its last hidden state.

A value head (PPO) and a reward head (Bradley–Terry) are both a linear layer on the LM's
last hidden state (after the final norm, before the vocabulary projection). The LM can be

* the course GPT (`"gpt"`), whole or with LoRA adapters: the hidden state is read after `norm_f`;
* a Hugging Face causal LM (`"hf"`), e.g. the course GPT's `to_hf()`: `hidden_states[-1]`,
  which is the same tensor (Llama's decoder applies its final norm before returning it);
* any module with `returns_hidden = True` whose forward(ids, attention_mask=...) returns
  (logits, hidden) (`"custom"`, e.g. a one-token bandit "LM" in the tests).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["forward_lm", "lm_hidden", "lm_hidden_size", "lm_kind"]


def _base(lm: nn.Module) -> nn.Module:
    """The model under a peft wrapper (or the model itself)."""
    return getattr(lm, "get_base_model", lambda: lm)()


def lm_kind(lm: nn.Module) -> str:
    """"gpt", "hf" or "custom"; a clear error for anything else."""
    if getattr(lm, "returns_hidden", False):
        return "custom"
    base = _base(lm)
    if hasattr(base, "norm_f") and hasattr(base, "tok_emb"):
        return "gpt"
    if hasattr(lm, "config") and hasattr(lm, "get_input_embeddings"):
        return "hf"
    raise TypeError(f"{type(lm).__name__} is neither the course GPT nor a Hugging Face causal LM")


def lm_hidden_size(lm: nn.Module, kind: str | None = None) -> int:
    """Width C of the last hidden state."""
    kind = kind or lm_kind(lm)
    if kind == "custom":
        return int(lm.hidden_size)
    if kind == "gpt":
        return _base(lm).config.n_embd
    return int(lm.get_input_embeddings().weight.shape[1])


def forward_lm(lm: nn.Module, kind: str, ids: torch.Tensor, mask: torch.Tensor | None):
    """(logits (B, L, V), last hidden state (B, L, C)) of a course GPT, HF LM or custom module."""
    if kind == "custom":
        return lm(ids, attention_mask=mask)
    if kind == "gpt":
        caught = {}
        handle = _base(lm).norm_f.register_forward_hook(lambda mod, inp, out: caught.__setitem__("h", out))
        try:
            logits, _ = lm(ids, attention_mask=mask)
        finally:
            handle.remove()
        return logits, caught["h"]
    out = lm(input_ids=ids, attention_mask=mask, output_hidden_states=True)
    return out.logits, out.hidden_states[-1]


def lm_hidden(lm: nn.Module, kind: str, ids: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Last hidden state (B, L, C) only. For the course GPT it skips the vocabulary projection.

    `mask` (B, L), 1 = real token. With right padding (real tokens first) a causal model's
    hidden states at the real positions do not depend on the padding, so the course GPT
    path may ignore the mask.
    """
    base = _base(lm)
    if kind == "gpt" and base.config.positions != "alibi":
        from llmcourse.finetuning.gpt_forward import gpt_hidden

        return gpt_hidden(base, ids)
    return forward_lm(lm, kind, ids, mask)[1]
