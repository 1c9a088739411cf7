"""Sampling: the one home of temperature, top-k, top-p, min-p, repetition penalty and EOS.

A language model gives one thing per step: logits for the next token. How to turn them
into a token is the sampler's job, and every generator of the course uses this module:
`GPT.generate`, the KV-cached `generate_cached`, the decoding strategies of 1.1 and the
serving engine of week 6.

The pipeline on one step's logits (B, V), in transformers' order:

    repetition penalty -> temperature -> top-k -> top-p -> min-p -> softmax -> draw

Each filter returns the logits with removed entries set to -inf (like transformers'
logits processors), so they compose. Temperature 0 means greedy: the argmax.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["SamplingParams", "apply_repetition_penalty", "check_generation_args", "check_logits", "finish_eos",
           "min_p_filter", "process_logits", "sample_next", "sample_with", "top_k_filter", "top_p_filter"]


# ----------------------------------------------------------------------------- filters
def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k largest logits (and any tied with the k-th), set the rest to -inf.

    k larger than the vocabulary keeps everything.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k <= 0:
        raise ValueError(f"top_k must be a positive integer, got {k!r}")
    k = min(k, logits.size(-1))
    kth_largest = torch.topk(logits, k, dim=-1).values[..., -1:]  # (..., 1)
    return logits.masked_fill(logits < kth_largest, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filtering: keep the smallest set of most likely tokens whose probability sums to >= p.

    Sort ascending and drop tokens while the probability mass *below and including* them is
    still <= 1 - p; the most likely token always survives. p = 1.0 keeps everything.
    """
    if not (0.0 < p <= 1.0):
        raise ValueError(f"top_p must be in (0, 1], got {p!r}; use 1.0 to switch it off")
    sorted_logits, order = torch.sort(logits, dim=-1, descending=False)
    mass_below = sorted_logits.softmax(dim=-1).cumsum(dim=-1)  # (..., V), ascending
    drop_sorted = mass_below <= 1.0 - p
    drop_sorted[..., -1] = False  # never drop the most likely token
    drop = drop_sorted.scatter(-1, order, drop_sorted)  # back to vocabulary order
    return logits.masked_fill(drop, float("-inf"))


def min_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Keep tokens whose probability is at least p times the top token's probability.

    Unlike top-p, the cut scales with the model's confidence: a sharp distribution keeps
    few tokens, a flat one keeps many. p = 0 keeps everything.
    """
    if not (0.0 <= p <= 1.0):
        raise ValueError(f"min_p must be in [0, 1], got {p!r}")
    probs = logits.softmax(dim=-1)
    threshold = p * probs.amax(dim=-1, keepdim=True)  # (..., 1)
    drop = probs < threshold
    drop.scatter_(-1, logits.argmax(dim=-1, keepdim=True), False)  # the top token always stays
    return logits.masked_fill(drop, float("-inf"))


def apply_repetition_penalty(logits: torch.Tensor, seen: torch.Tensor, penalty: float) -> torch.Tensor:
    """Make tokens already in `seen` (B, T) less likely (CTRL's rule, as in transformers).

    A positive logit is divided by the penalty, a negative one multiplied, so the token
    always becomes less likely whatever its sign. penalty = 1.0 changes nothing.
    """
    if penalty <= 0:
        raise ValueError(f"repetition_penalty must be > 0 (1.0 = off), got {penalty!r}")
    picked = logits.gather(-1, seen)  # (B, T)
    picked = torch.where(picked < 0, picked * penalty, picked / penalty)
    return logits.scatter(-1, seen, picked)


# ----------------------------------------------------------------------------- parameters
@dataclass(frozen=True)
class SamplingParams:
    """How to pick each next token. The defaults are plain sampling at temperature 1.

    temperature 0 is greedy. `seed` makes a request's draws reproducible on its own
    generator, whatever else runs in the same process (the serving engine relies on it).
    """

    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    min_p: float | None = None
    repetition_penalty: float = 1.0
    seed: int | None = None

    def __post_init__(self) -> None:
        check_generation_args(1, self.temperature, self.top_k, self.top_p)
        if self.min_p is not None and not 0.0 <= self.min_p <= 1.0:
            raise ValueError(f"min_p must be in [0, 1], got {self.min_p!r}")
        if self.repetition_penalty <= 0:
            raise ValueError(f"repetition_penalty must be > 0 (1.0 = off), got {self.repetition_penalty!r}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def generator(self, device: str | torch.device = "cpu") -> torch.Generator | None:
        return None if self.seed is None else torch.Generator(device=device).manual_seed(self.seed)


def check_generation_args(max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
                          top_p: float | None = None) -> None:
    """One clear ValueError for arguments no generator can use (fractional lengths, top_k <= 0...)."""
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be a whole number >= 0, got {max_new_tokens!r}")
    if not isinstance(temperature, (int, float)) or math.isnan(temperature) or temperature < 0:
        raise ValueError(f"temperature must be >= 0 (0 = greedy), got {temperature!r}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k <= 0):
        raise ValueError(f"top_k must be a positive integer or None (no filter), got {top_k!r}")
    if top_p is not None and not (0.0 < top_p <= 1.0):
        raise ValueError(f"top_p must be in (0, 1], got {top_p!r}; use None or 1.0 to switch it off")


def check_logits(logits: torch.Tensor) -> torch.Tensor:
    """Raise when logits hold NaN: an argmax over NaN quietly returns token 0."""
    if torch.isnan(logits).any():
        raise ValueError("the model produced NaN logits, so no token can be chosen; the weights or the input "
                         "are broken (a diverged training run? fp16 overflow?). Check model outputs for NaN")
    return logits


GREEDY = SamplingParams(temperature=0.0)


# ----------------------------------------------------------------------------- one step
def process_logits(logits: torch.Tensor, seen: torch.Tensor | None = None, temperature: float = 1.0,
                   top_k: int | None = None, top_p: float | None = None, min_p: float | None = None,
                   repetition_penalty: float = 1.0) -> torch.Tensor:
    """The filters on one step's logits (B, V): repetition penalty, temperature, top-k, top-p, min-p."""
    if repetition_penalty != 1.0:
        if seen is None:
            raise ValueError("a repetition penalty needs the tokens seen so far (seen=...)")
        logits = apply_repetition_penalty(logits, seen, repetition_penalty)
    if temperature not in (0, 1.0):
        logits = logits / temperature
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None and top_p < 1.0:
        logits = top_p_filter(logits, top_p)
    if min_p is not None:
        logits = min_p_filter(logits, min_p)
    return logits


def sample_next(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                generator: torch.Generator | None = None, *, top_p: float | None = None,
                min_p: float | None = None, seen: torch.Tensor | None = None,
                repetition_penalty: float = 1.0) -> torch.Tensor:
    """One token per row from next-token logits (B, V) -> ids (B, 1).

    temperature 0 is greedy (argmax, after any repetition penalty); otherwise a draw from
    softmax of the filtered logits / temperature, with `generator` when given (else torch's
    global RNG, as `generate(do_sample=True)` uses).
    """
    logits = check_logits(logits.float())
    logits = process_logits(logits, seen, temperature, top_k, top_p, min_p, repetition_penalty)
    if temperature == 0:
        return logits.argmax(dim=-1, keepdim=True)  # (B, 1)
    probs = F.softmax(logits, dim=-1)  # (B, V)
    return torch.multinomial(probs, num_samples=1, generator=generator)  # (B, 1)


def sample_with(params: SamplingParams, logits: torch.Tensor, seen: torch.Tensor | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """`sample_next` with a SamplingParams: logits (B, V) -> ids (B, 1)."""
    return sample_next(logits, params.temperature, params.top_k, generator, top_p=params.top_p,
                       min_p=params.min_p, seen=seen, repetition_penalty=params.repetition_penalty)


def finish_eos(next_id: torch.Tensor, done: torch.Tensor, eos_token_id: int | None) -> tuple[torch.Tensor, bool]:
    """EOS bookkeeping for a batch: rows already finished keep emitting EOS.

    next_id (B, 1), done (B,) bool, updated in place. Returns (next_id, every row done?).
    Without an EOS id nothing ever finishes.
    """
    if eos_token_id is None:
        return next_id, False
    next_id = next_id.masked_fill(done[:, None], eos_token_id)
    done |= next_id[:, 0] == eos_token_id
    return next_id, bool(done.all())
