"""Exercises of notebook 2.3 (makemore): counts, NLL and backpropagation by hand.

Oracles: counts and log-likelihoods computed directly with Python's Counter and
math.log; gradients from torch autograd (F.cross_entropy, F.batch_norm and the
step-by-step forward pass of `llmcourse.ngram.manual_backprop`, whose gradients
autograd computes).
"""

from __future__ import annotations

import math
from collections import Counter

import torch
import torch.nn.functional as F

from llmcourse.exercises.registry import Case, exercise

ENGLISH = ["emma", "olivia", "ava", "isabella", "sophia", "mia", "anna", "ann"]
THAI = ["สมชาย", "สมศรี", "ชัย", "มานี", "ปิติ"]


def _stoi(names: list[str]) -> dict[str, int]:
    chars = sorted(set("".join(names)))
    return {".": 0, **{c: i + 1 for i, c in enumerate(chars)}}


def _direct_bigram_counts(names: list[str], stoi: dict[str, int]) -> torch.Tensor:
    pairs = Counter()
    for name in names:
        chars = ["."] + list(name) + ["."]
        pairs.update(zip(chars, chars[1:]))
    N = torch.zeros(len(stoi), len(stoi), dtype=torch.long)
    for (a, b), count in pairs.items():
        N[stoi[a], stoi[b]] = count
    return N


@exercise("ngram.bigram_counts", hint="pad each name as ['.'] + list(name) + ['.'] and count every adjacent pair "
          "(a, b) into N[stoi[a], stoi[b]]")
def _bigram_counts():
    for label, names in [("English names", ENGLISH), ("Thai names (not ASCII)", THAI),
                         ("a repeated name counts twice", ["ab", "ab", "b"])]:
        stoi = _stoi(names)
        yield Case(label, args=(names, stoi), expected=_direct_bigram_counts(names, stoi), atol=0, rtol=0)


def _direct_nll(P: torch.Tensor, names: list[str], stoi: dict[str, int]) -> float:
    total, count = 0.0, 0
    for name in names:
        chars = ["."] + list(name) + ["."]
        for a, b in zip(chars, chars[1:]):
            p = float(P[stoi[a], stoi[b]])
            total += math.log(p) if p > 0 else -math.inf
            count += 1
    return -total / count


def _inf_compare(got, expected) -> str | None:
    g = float(got.item() if hasattr(got, "item") else got)
    return None if g == expected else f"got {g}, expected {expected}: a zero probability makes the NLL infinite"


@exercise("ngram.nll", hint="average over every predicted character (end token included) of -log P[prev, next]")
def _nll():
    stoi = _stoi(ENGLISH)
    V = len(stoi)
    counts = _direct_bigram_counts(ENGLISH, stoi).double()
    smoothed = (counts + 1) / (counts + 1).sum(1, keepdim=True)
    yield Case("uniform model: NLL = log V", args=(torch.full((V, V), 1.0 / V, dtype=torch.float64), ENGLISH, stoi),
               expected=math.log(V), atol=1e-9)
    yield Case("add-one smoothed counts, training names", args=(smoothed, ENGLISH, stoi),
               expected=_direct_nll(smoothed, ENGLISH, stoi), atol=1e-9)
    yield Case("unseen names", args=(smoothed, ["mama", "sia"], stoi),
               expected=_direct_nll(smoothed, ["mama", "sia"], stoi), atol=1e-9)
    mle = counts / counts.sum(1, keepdim=True).clamp_min(1)
    yield Case("a zero probability gives inf", args=(mle, ["mama"], stoi), expected=math.inf, compare=_inf_compare)


@exercise("ngram.cross_entropy_backward", hint="dlogits = (softmax(logits) - one_hot(Y)) / B: softmax along dim 1, "
          "subtract 1 at each row's target, divide by the batch size")
def _cross_entropy_backward():
    g = torch.Generator().manual_seed(0)
    for label, B, V, scale in [("batch 32, 27 classes", 32, 27, 1.0), ("large logits (stable softmax?)", 8, 45, 60.0),
                               ("batch of one", 1, 5, 1.0)]:
        logits = (torch.randn(B, V, generator=g, dtype=torch.float64) * scale).requires_grad_(True)
        Y = torch.randint(0, V, (B,), generator=g)
        F.cross_entropy(logits, Y).backward()
        yield Case(label, args=(logits.detach(), Y), expected=logits.grad.clone(), atol=1e-10, rtol=1e-7)


@exercise("ngram.batchnorm_backward", hint="dhprebn = bngain * bnvar_inv / n * (n * dhpreact - dhpreact.sum(0) "
          "- bnraw * (dhpreact * bnraw).sum(0)), sums with keepdim=True")
def _batchnorm_backward():
    g = torch.Generator().manual_seed(1)
    for label, B, H in [("batch 32, 64 units", 32, 64), ("batch 5, 3 units", 5, 3)]:
        hprebn = (torch.randn(B, H, generator=g, dtype=torch.float64) * 2 + 0.5).requires_grad_(True)
        gain = torch.randn(H, generator=g, dtype=torch.float64) * 0.1 + 1.0
        bias = torch.randn(H, generator=g, dtype=torch.float64) * 0.1
        out = F.batch_norm(hprebn, None, None, gain, bias, training=True, eps=1e-5)  # the real torch batch norm
        dhpreact = torch.randn(B, H, generator=g, dtype=torch.float64)
        out.backward(dhpreact)
        with torch.no_grad():
            mean = hprebn.mean(0, keepdim=True)
            var = ((hprebn - mean) ** 2).mean(0, keepdim=True)
            bnvar_inv = (var + 1e-5) ** -0.5
            bnraw = (hprebn - mean) * bnvar_inv
        yield Case(label, args=(dhpreact, gain.view(1, H), bnraw, bnvar_inv), expected=hprebn.grad.clone(),
                   atol=1e-9, rtol=1e-6)


@exercise("ngram.manual_backward", hint="go backwards through forward() one line at a time; a broadcast forward is "
          "a sum backward, x @ W gives dx = dy @ W.T and dW = x.T @ dy, and a tensor used twice gets +=")
def _manual_backward():
    from llmcourse.ngram.manual_backprop import PARAM_NAMES, STEP_NAMES, autograd_grads, cmp, forward, init_params

    def make(seed: int, vocab_size: int, batch: int, n_hidden: int):
        g = torch.Generator().manual_seed(seed)
        params = init_params(vocab_size, block_size=3, n_embd=5, n_hidden=n_hidden, generator=g)
        X = torch.randint(0, vocab_size, (batch, 3), generator=g)
        Y = torch.randint(0, vocab_size, (batch,), generator=g)
        return params, X, Y

    def case(seed: int, vocab_size: int, batch: int, n_hidden: int):
        def test(fn):
            params, X, Y = make(seed, vocab_size, batch, n_hidden)
            ref = autograd_grads(params, X, Y)  # autograd is the oracle
            _, cache = forward(params, X, Y)
            cache = {k: v.detach() for k, v in cache.items()}
            got = fn({k: v.detach() for k, v in params.items()}, X, Y, cache)
            if not isinstance(got, dict):
                raise AssertionError(f"return a dict of gradients by name, not {type(got).__name__}")
            missing = [n for n in (*STEP_NAMES, *PARAM_NAMES) if got.get(n) is None]
            wrong = []
            for name in [*reversed(STEP_NAMES), *PARAM_NAMES]:  # from the loss back: the first is the cause
                if got.get(name) is None:
                    continue
                res = cmp(name, got[name], ref[name], verbose=False)
                if not res.approx:
                    wrong.append(f"{name} ({res.note or f'maxdiff {res.maxdiff:.3g}'})")
            problems = []
            if wrong:
                problems.append("not equal to autograd: " + ", ".join(wrong[:6]) + (" ..." if len(wrong) > 6 else ""))
            if missing:
                problems.append("missing: " + ", ".join(missing[:8]) + (" ..." if len(missing) > 8 else ""))
            if problems:
                raise AssertionError("; ".join(problems))
        return test

    yield Case("27 characters, batch 32", test=case(0, 27, 32, 64))
    yield Case("45 characters (Tamil), batch 8", test=case(1, 45, 8, 16))
