"""Decoding from scratch on raw logits: greedy, sampling (with its filters) and beam search.

A language model only ever gives us one thing: a vector of logits for the next token.
Everything else — which token to pick, how adventurous to be, how many continuations to
keep alive — is the *decoding strategy*, a few lines of code on top of those logits.

Works with any Hugging Face-style causal LM (`model(input_ids, cache=...,
use_cache=True).logits`). The prompt is encoded once (prefill); after that each step feeds
only the newest token and reuses the key/value cache, exactly as `model.generate` does, so
greedy and beam search here agree with `generate` token for token.

The filters (temperature, top-k, top-p, min-p, repetition penalty) live in
`llmcourse.inference.sampling`, the one sampler every generator of the course uses.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from llmcourse.inference.sampling import (  # noqa: F401  (re-exported: the filters live there)
    apply_repetition_penalty, check_generation_args, check_logits, min_p_filter, process_logits, top_k_filter,
    top_p_filter,
)


# ----------------------------------------------------------------------------- model plumbing


def _check_prompt(input_ids: torch.Tensor, max_new_tokens: int) -> torch.Tensor:
    if not isinstance(input_ids, torch.Tensor):
        raise TypeError("input_ids must be a LongTensor of shape (1, T); use tokenizer(..., return_tensors='pt')")
    if input_ids.is_floating_point() or input_ids.dtype == torch.bool:
        raise TypeError(f"input_ids must hold integer token ids, got dtype {input_ids.dtype}; "
                        "a float tensor would be truncated silently. Use tokenizer(..., return_tensors='pt')")
    if input_ids.dim() == 1:
        input_ids = input_ids[None]
    if input_ids.dim() != 2 or input_ids.size(0) != 1:
        raise ValueError(f"decode one prompt at a time: input_ids must be (1, T), got {tuple(input_ids.shape)}")
    if input_ids.size(1) == 0:
        raise ValueError("the prompt is empty: encode at least one token (most tokenizers add a BOS token)")
    if not isinstance(max_new_tokens, int) or max_new_tokens <= 0:
        raise ValueError(f"max_new_tokens must be a positive integer, got {max_new_tokens!r}")
    return input_ids.long()


def eos_token_ids(model) -> set[int]:
    """The ids that end generation: the model's generation config, like `generate` uses."""
    eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if eos is None:
        eos = getattr(model.config, "eos_token_id", None)
    if eos is None:
        return set()
    return {int(e) for e in (eos if isinstance(eos, (list, tuple)) else [eos])}


class _Stepper:
    """Feeds a model one step at a time with a key/value cache: prefill once, then one token."""

    def __init__(self, model, input_ids: torch.Tensor):
        self.model = model
        out = model(input_ids=input_ids.to(model.device), use_cache=True)
        self.cache = out.cache
        self.logits = out.logits[:, -1, :].float()  # (B, V)

    def step(self, next_ids: torch.Tensor) -> torch.Tensor:
        out = self.model(input_ids=next_ids.to(self.model.device), cache=self.cache, use_cache=True)
        self.cache = out.cache
        self.logits = out.logits[:, -1, :].float()
        return self.logits


# ----------------------------------------------------------------------------- generators


def softmax(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Probabilities over the last dimension of `logits / temperature`.

    softmax(z)_i = exp(z_i - m) / sum_j exp(z_j - m) with m = max_j z_j: subtracting the
    row's maximum changes nothing mathematically, but keeps exp() from overflowing for
    logits like 1000 (exp(1000) is inf in float32; exp(0) is 1).
    """
    if not isinstance(temperature, (int, float)) or not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}; temperature 0 is greedy (argmax)")
    z = logits / temperature
    z = z - z.amax(dim=-1, keepdim=True)  # the largest logit of each row becomes 0
    e = z.exp()
    return e / e.sum(dim=-1, keepdim=True)


@torch.no_grad()
def generate_with(model, input_ids: torch.Tensor, max_new_tokens: int,
                  choose: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """The generation loop every strategy shares; `choose` is the strategy.

    choose(logits (1, V), ids (1, T)) -> the next token id (1, 1), given the last
    position's logits and the sequence so far (for a repetition penalty). The loop keeps a
    key/value cache (prefill once, then one token per step) and stops right after an EOS
    id of the model's generation config, or after `max_new_tokens`. Returns prompt + new
    tokens, (1, T).
    """
    ids = _check_prompt(input_ids, max_new_tokens).to(model.device)
    eos = eos_token_ids(model)
    stepper = _Stepper(model, ids)
    logits = stepper.logits
    for i in range(max_new_tokens):
        nxt = choose(check_logits(logits), ids)
        if not isinstance(nxt, torch.Tensor) or nxt.shape != (1, 1) or nxt.is_floating_point():
            raise ValueError(f"choose(logits, ids) must return one integer token id of shape (1, 1), got "
                             f"{nxt.dtype if isinstance(nxt, torch.Tensor) else type(nxt).__name__} "
                             f"{tuple(nxt.shape) if isinstance(nxt, torch.Tensor) else ''}")
        ids = torch.cat([ids, nxt.to(ids.device)], dim=1)
        if nxt.item() in eos or i == max_new_tokens - 1:
            break
        logits = stepper.step(nxt)
    return ids


def greedy(model, input_ids: torch.Tensor, max_new_tokens: int) -> torch.Tensor:
    """Always take the most likely next token. Returns prompt + new tokens, shape (1, T)."""
    return generate_with(model, input_ids, max_new_tokens, lambda logits, ids: logits.argmax(dim=-1, keepdim=True))


def sample(model, input_ids: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
           top_k: int | None = None, top_p: float | None = None, min_p: float | None = None,
           repetition_penalty: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw each next token from the (filtered) softmax. Returns prompt + new tokens, (1, T).

    With the same `generator` state the same tokens come out. Without one, torch's global
    RNG is used, as `generate(do_sample=True)` does, so `torch.manual_seed(s)` before each
    reproduces `generate`'s draws.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}; for temperature 0 use greedy()")
    check_generation_args(max_new_tokens, temperature, top_k, top_p)

    def choose(logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        logits = process_logits(logits, ids, temperature, top_k, top_p, min_p, repetition_penalty)
        return torch.multinomial(logits.softmax(dim=-1), num_samples=1, generator=generator)  # (1, 1)

    return generate_with(model, input_ids, max_new_tokens, choose)


@torch.no_grad()
def beam_search(model, input_ids: torch.Tensor, num_beams: int, max_new_tokens: int,
                length_penalty: float = 1.0) -> torch.Tensor:
    """Keep the `num_beams` most likely partial sequences; return the best finished one, (1, T).

    The bookkeeping follows transformers' beam search (early_stopping=False):
    * each step scores every (beam, token) pair by the beam's summed log-probability plus the
      token's, and keeps the best 2·num_beams candidates (more when there are several EOS ids);
    * a candidate among the top num_beams that ends in EOS, or reaches the length limit, is
      *finished*, scored as sum_logprob / new_tokens ** length_penalty, and kept if it is
      among the num_beams best finished ones; the best unfinished candidates run on;
    * the search stops when all beams are finished and no running beam could still beat
      the worst finished one (judged at the current length), or at max_new_tokens.
    """
    if not isinstance(num_beams, int) or num_beams < 1:
        raise ValueError(f"num_beams must be a positive integer, got {num_beams!r}")
    prompt = _check_prompt(input_ids, max_new_tokens).to(model.device)
    eos = eos_token_ids(model)
    keep = max(2, 1 + len(eos)) * num_beams
    max_len = prompt.size(1) + max_new_tokens

    seqs = prompt.repeat(num_beams, 1)  # (nb, T) running sequences
    scores = torch.full((num_beams,), -1e9, device=prompt.device)  # summed log-probs per beam
    scores[0] = 0.0  # all beams start identical: let only the first one expand at step one
    finished: list[tuple[float, torch.Tensor]] = []  # (normalised score, sequence), best first
    can_improve = True
    stepper = _Stepper(model, seqs)
    logits = stepper.logits  # (nb, V)
    for step in range(1, max_new_tokens + 1):
        vocab = check_logits(logits).size(-1)
        total = (F.log_softmax(logits, dim=-1) + scores[:, None]).view(-1)  # (nb*V,)
        top_scores, top_idx = torch.topk(total, keep)  # (keep,)
        beam_of, token = top_idx // vocab, top_idx % vocab
        cand = torch.cat([seqs[beam_of], token[:, None]], dim=1)  # (keep, T+1)
        ends = torch.tensor([t.item() in eos for t in token], device=cand.device) | (cand.size(1) >= max_len)

        if can_improve:  # finish the candidates among the top num_beams that ended
            for j in range(num_beams):
                if ends[j]:
                    finished.append((top_scores[j].item() / step**length_penalty, cand[j]))
            finished = sorted(finished, key=lambda f: -f[0])[:num_beams]

        # the best candidates that did not end run on (ended ones are pushed to the bottom)
        running = torch.topk(top_scores - ends.float() * 1e9, num_beams).indices
        seqs, scores = cand[running], (top_scores - ends.float() * 1e9)[running]

        worst_finished = finished[-1][0] if len(finished) == num_beams else -1e9
        can_improve = can_improve and scores[0].item() / step**length_penalty > worst_finished
        if not can_improve or bool(ends.all()):
            break
        stepper.cache.reorder_cache(beam_of[running])  # each surviving beam keeps its parent's cache
        logits = stepper.step(seqs[:, -1:])
    return finished[0][1][None].clone()


def sequence_logprob(model, input_ids: torch.Tensor, prompt_len: int) -> float:
    """Sum of log-probabilities the model gives the tokens after the prompt (for comparing outputs)."""
    with torch.no_grad():
        logits = model(input_ids=input_ids.to(model.device)).logits.float()  # (1, T, V)
    logp = F.log_softmax(logits[0, :-1], dim=-1)
    targets = input_ids[0, 1:].to(logp.device)
    picked = logp.gather(-1, targets[:, None])[prompt_len - 1:]
    return float(picked.sum()) if picked.numel() else math.nan
