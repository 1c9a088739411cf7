"""Speculative decoding: a small draft guesses k tokens, the big target checks them in one pass.

Decoding is slow because each token needs one full forward pass of the big model, and on
most hardware that pass costs about the same for 1 token as for 5 (it is bound by reading
the weights, or, on a CPU with a small model, by per-layer overhead). So (Leviathan et
al.; Chen et al., 2023):

    1. the draft proposes k tokens d_1..d_k, one cheap forward each
    2. the target runs ONE forward over [last, d_1, .., d_k]: its greedy choice t_i after
       each prefix, i = 0..k
    3. accept d_1..d_n while d_i == t_{i-1}; then append t_n (the target's own token where
       the draft first went wrong, or a bonus token when all k were right)

Every round yields between 1 and k + 1 tokens, and every token is one the target itself
would have chosen: greedy speculative decoding returns *exactly* the target's greedy
output, only faster when the draft is often right. Both models keep KV caches; rejected
guesses are rolled back with `KVCache.truncate`.

*Prompt lookup* needs no draft model: the guesses are the tokens that followed the last
n-gram the last time it appeared in the text so far (great when the output copies from
the prompt: summaries, code edits, retrieval answers).

With sampling (temperature > 0) a guess x is kept with probability min(1, p(x) / q(x))
(p the target's, q the draft's distribution) and a rejection draws from max(0, p - q)
renormalised: the output is distributed exactly as the target's own samples.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from llmcourse.inference.kv_cache import KVCache, forward_cached
from llmcourse.inference.sampling import SamplingParams, check_generation_args, process_logits

__all__ = ["SpeculativeStats", "accept_greedy", "prompt_lookup_candidates", "prompt_lookup_generate",
           "speculative_generate"]


@dataclass
class SpeculativeStats:
    """What happened: guesses proposed and accepted, forward passes of each model."""

    proposed: int = 0
    accepted: int = 0
    target_forwards: int = 0
    draft_forwards: int = 0
    new_tokens: int = 0
    accepted_per_round: list[int] = field(default_factory=list)

    @property
    def acceptance_rate(self) -> float:
        return self.accepted / self.proposed if self.proposed else 0.0

    @property
    def tokens_per_target_forward(self) -> float:
        return self.new_tokens / self.target_forwards if self.target_forwards else 0.0


def accept_greedy(proposed: list[int], target_choice: list[int]) -> tuple[int, int]:
    """Greedy verification: (how many guesses to keep, the token to append after them).

    target_choice[i] is the target's argmax after the prefix plus the first i guesses
    (len(proposed) + 1 values). Keep guesses while they equal the target's choice; the
    next token is the target's choice at the first mismatch (or the bonus after all).
    """
    n = 0
    while n < len(proposed) and proposed[n] == target_choice[n]:
        n += 1
    return n, target_choice[n]


def _check(models, idx: torch.Tensor, max_new_tokens: int, k: int) -> None:
    if idx.dim() != 2 or idx.shape[0] != 1 or idx.shape[1] == 0:
        raise ValueError(f"idx must be one prompt (1, T) with T >= 1, got shape {tuple(idx.shape)}")
    check_generation_args(max_new_tokens)
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k (guesses per round) must be a whole number >= 1, got {k!r}")
    for m in models:
        need = idx.shape[1] + max_new_tokens + k
        if need > m.config.block_size:
            raise ValueError(f"prompt ({idx.shape[1]}) + max_new_tokens ({max_new_tokens}) + k ({k}) = {need} "
                             f"positions exceed a model's context block_size={m.config.block_size}")


def _probs(logits: torch.Tensor, s: SamplingParams) -> torch.Tensor:
    return torch.softmax(process_logits(logits.float(), None, s.temperature, s.top_k, s.top_p, s.min_p), dim=-1)


@torch.no_grad()
def _verify_loop(target, idx, max_new_tokens, k, propose, stats, sampling, generator, accept=accept_greedy):
    """The loop both speculative and prompt-lookup decoding share; `propose(tokens) -> guesses`."""
    cache = KVCache.for_model(target, max_len=idx.shape[1] + max_new_tokens + k)
    tokens = idx[0].tolist()
    forward_cached(target, idx[:, :-1], cache) if idx.shape[1] > 1 else None  # all but the last token
    new = 0
    while new < max_new_tokens:
        guesses, q = propose(tokens, min(k, max_new_tokens - new))
        run = torch.tensor([[tokens[-1]] + guesses], device=idx.device)
        logits = forward_cached(target, run, cache)[0]  # (1 + g, V)
        stats.target_forwards += 1
        if sampling is None or sampling.greedy:
            n, nxt = accept(guesses, logits.argmax(dim=-1).tolist())
        else:
            n, nxt = _accept_sampled(guesses, _probs(logits, sampling), q, generator)
        stats.proposed += len(guesses)
        stats.accepted += n
        stats.accepted_per_round.append(n)
        kept = guesses[:n] + [nxt]
        tokens += kept
        new += len(kept)
        cache.truncate(len(tokens) - 1)  # forget the rejected guesses: the cache holds all but the newest
    stats.new_tokens += min(new, max_new_tokens)
    return torch.tensor([tokens[: idx.shape[1] + max_new_tokens]], device=idx.device)


def _accept_sampled(guesses, p, q, generator):
    """Rejection sampling: keep guess i with probability min(1, p/q); on rejection draw from (p - q)+."""
    for i, g in enumerate(guesses):
        u = torch.rand((), generator=generator, device=p.device)
        if u * q[i, g] <= p[i, g]:
            continue
        residual = (p[i] - q[i]).clamp(min=0)
        residual = residual / residual.sum() if residual.sum() > 0 else p[i]
        return i, int(torch.multinomial(residual, 1, generator=generator))
    return len(guesses), int(torch.multinomial(p[len(guesses)], 1, generator=generator))


@torch.no_grad()
def speculative_generate(target, draft, idx: torch.Tensor, max_new_tokens: int, k: int = 4,
                         sampling: SamplingParams | None = None, stats: SpeculativeStats | None = None,
                         accept=accept_greedy) -> torch.Tensor:
    """Generate with `draft` guessing k tokens per round for `target`: idx (1, T) -> (1, T + new).

    Greedy (the default) returns exactly `target`'s greedy generation. Pass a
    `SpeculativeStats` to read the acceptance rate afterwards. Both models must share
    the tokenizer (same vocabulary). `accept(guesses, target_choice) -> (n, next)` is the
    greedy verification rule (notebook 6.1 passes the learner's).
    """
    _check((target, draft), idx, max_new_tokens, k)
    if draft.config.vocab_size != target.config.vocab_size:
        raise ValueError(f"draft and target must share a vocabulary: {draft.config.vocab_size} vs "
                         f"{target.config.vocab_size} tokens")
    stats = stats if stats is not None else SpeculativeStats()
    generator = sampling.generator(idx.device) if sampling is not None else None
    dcache = KVCache.for_model(draft, max_len=idx.shape[1] + max_new_tokens + k)
    target.eval(), draft.eval()

    def propose(tokens: list[int], n: int):
        dcache.truncate(min(len(dcache), len(tokens) - 1))
        pending = torch.tensor([tokens[len(dcache):]], device=idx.device)  # what the draft has not seen
        guesses, qs = [], []
        for _ in range(n):
            logits = forward_cached(draft, pending, dcache)[0, -1]  # (V,)
            stats.draft_forwards += 1
            if sampling is None or sampling.greedy:
                g = int(logits.argmax())
            else:
                qs.append(_probs(logits[None], sampling)[0])
                g = int(torch.multinomial(qs[-1], 1, generator=generator))
            guesses.append(g)
            pending = torch.tensor([[g]], device=idx.device)
        return guesses, (torch.stack(qs) if qs else None)

    return _verify_loop(target, idx, max_new_tokens, k, propose, stats, sampling, generator, accept)


def prompt_lookup_candidates(tokens: list[int], k: int, max_ngram: int = 3) -> list[int]:
    """Up to k guesses: what followed an earlier occurrence of the last n-gram (n = max_ngram down to 1).

    The earliest occurrence that has a continuation wins (transformers' prompt lookup does
    the same); no occurrence at all gives no guesses.
    """
    for n in range(min(max_ngram, len(tokens) - 1), 0, -1):
        tail = tokens[-n:]
        for start in range(len(tokens) - n):  # earliest first; the tail itself has no continuation
            if tokens[start:start + n] == tail:
                follow = tokens[start + n: start + n + k]
                if follow:
                    return follow
    return []


@torch.no_grad()
def prompt_lookup_generate(model, idx: torch.Tensor, max_new_tokens: int, k: int = 4, max_ngram: int = 3,
                           stats: SpeculativeStats | None = None, candidates=None) -> torch.Tensor:
    """Greedy generation verified like speculative decoding, guesses copied from the text so far.

    Returns exactly `model`'s greedy output; faster when the output repeats the prompt.
    `candidates(tokens, k, max_ngram)` finds the guesses (default `prompt_lookup_candidates`).
    """
    find = candidates or prompt_lookup_candidates
    _check((model,), idx, max_new_tokens, k)
    stats = stats if stats is not None else SpeculativeStats()
    model.eval()
    return _verify_loop(model, idx, max_new_tokens, k,
                        lambda tokens, n: (list(find(tokens, n, max_ngram))[:n], None), stats, None, None)
