"""Exercises of notebook 2.3 (makemore): counts, NLL, backpropagation by hand, initialisation.

Oracles: counts and log-likelihoods computed directly with Python's Counter and
math.log; gradients from torch autograd (F.cross_entropy, F.batch_norm and the
step-by-step forward pass of `llmcourse.ngram.manual_backprop`, whose gradients
autograd computes); for the initialisation stretch, the network's own statistics
against thresholds (loss at init, spread and saturation of every tanh layer).
"""

from __future__ import annotations

import math
from collections import Counter

import torch
import torch.nn.functional as F

from llmcourse.exercises.registry import Case, exercise
from llmcourse.ngram import manual_backprop as mb

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


def _counts_no_end(names, stoi):
    N = torch.zeros(len(stoi), len(stoi), dtype=torch.long)
    for name in names:
        chars = ["."] + list(name)  # no "." at the end: names never end
        for x, y in zip(chars, chars[1:]):
            N[stoi[x], stoi[y]] += 1
    return N


def _counts_transposed(names, stoi):
    return _direct_bigram_counts(names, stoi).T.contiguous()


def _counts_distinct_pairs(names, stoi):
    N = torch.zeros(len(stoi), len(stoi), dtype=torch.long)
    for name in names:
        chars = ["."] + list(name) + ["."]
        for a, b in set(zip(chars, chars[1:])):  # a pair repeated inside a name counts once
            N[stoi[a], stoi[b]] += 1
    return N


@exercise("ngram.bigram_counts", difficulty=1, minutes=10,
          reference="llmcourse.ngram.counts:bigram_counts",
          wrong={"forgets the end marker": _counts_no_end, "N[next, prev] (transposed)": _counts_transposed,
                 "each pair once per name": _counts_distinct_pairs},
          hint="pad each name as ['.'] + list(name) + ['.'] and count every adjacent pair (a, b) into "
               "N[stoi[a], stoi[b]] (a long tensor of zeros to start)")
def _bigram_counts():
    for label, names in [("English names", ENGLISH), ("Thai names (not ASCII)", THAI),
                         ("a repeated name counts twice", ["ab", "ab", "b"]),
                         ("a pair repeated inside a name ('anana')", ["anana", "nan"])]:
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


def _pairs(names):
    for name in names:
        chars = ["."] + list(name) + ["."]
        yield from zip(chars, chars[1:])


def _nll_sum(P, names, stoi):
    return -sum(math.log(float(P[stoi[a], stoi[b]])) for a, b in _pairs(names))


def _nll_per_name(P, names, stoi):
    return _nll_sum(P, names, stoi) / len(names)


def _nll_no_end(P, names, stoi):
    pairs = [(a, b) for name in names for a, b in zip("." + name, name)]
    return -sum(math.log(float(P[stoi[a], stoi[b]])) for a, b in pairs) / len(pairs)


@exercise("ngram.nll", difficulty=1, minutes=10,
          reference="llmcourse.ngram.counts:average_nll",
          wrong={"sum, not mean": _nll_sum, "mean per name, not per character": _nll_per_name,
                 "forgets the end marker": _nll_no_end},
          hint="average over every predicted character (end token included) of -log P[prev, next]")
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


def _ce_no_mean(logits, Y):
    return mb.cross_entropy_backward(logits, Y) * logits.shape[0]


def _ce_wrong_axis(logits, Y):
    d = F.softmax(logits, dim=0)
    d[range(logits.shape[0]), Y] -= 1
    return d / logits.shape[0]


def _ce_naive_exp(logits, Y):
    e = logits.exp()  # overflows without the max subtracted
    d = e / e.sum(1, keepdim=True)
    d[range(logits.shape[0]), Y] -= 1
    return d / logits.shape[0]


@exercise("ngram.cross_entropy_backward", difficulty=2, minutes=10,
          reference="llmcourse.ngram.manual_backprop:cross_entropy_backward",
          wrong={"forgets to divide by the batch": _ce_no_mean, "softmax over the batch axis": _ce_wrong_axis,
                 "exp without subtracting the max": _ce_naive_exp},
          hint="dlogits = (softmax(logits) - one_hot(Y)) / B: softmax along dim 1, subtract 1 at each row's target, "
               "divide by the batch size")
def _cross_entropy_backward():
    g = torch.Generator().manual_seed(0)
    for label, B, V, scale in [("batch 32, 27 classes", 32, 27, 1.0), ("large logits (stable softmax?)", 8, 45, 300.0),
                               ("batch of one", 1, 5, 1.0)]:
        logits = (torch.randn(B, V, generator=g, dtype=torch.float64) * scale).requires_grad_(True)
        Y = torch.randint(0, V, (B,), generator=g)
        F.cross_entropy(logits, Y).backward()
        yield Case(label, args=(logits.detach(), Y), expected=logits.grad.clone(), atol=1e-10, rtol=1e-7)


def _bn_constant_stats(dhpreact, bngain, bnraw, bnvar_inv):
    return bngain * bnvar_inv * dhpreact  # as if the batch mean and variance were constants


def _bn_no_mean_term(dhpreact, bngain, bnraw, bnvar_inv):
    n = dhpreact.shape[0]
    return bngain * bnvar_inv / n * (n * dhpreact - bnraw * (dhpreact * bnraw).sum(0, keepdim=True))


def _bn_no_variance_term(dhpreact, bngain, bnraw, bnvar_inv):
    n = dhpreact.shape[0]
    return bngain * bnvar_inv / n * (n * dhpreact - dhpreact.sum(0, keepdim=True))


@exercise("ngram.batchnorm_backward", difficulty=2, minutes=15,
          reference="llmcourse.ngram.manual_backprop:batchnorm_backward",
          wrong={"batch statistics treated as constants": _bn_constant_stats,
                 "forgets the mean's term (- sum g)": _bn_no_mean_term,
                 "forgets the variance's term (- x_hat sum g x_hat)": _bn_no_variance_term},
          hint="dhprebn = bngain * bnvar_inv / n * (n * dhpreact - dhpreact.sum(0) "
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


def _mb_overwrites(params, X, Y, cache):
    grads = mb.backward(params, X, Y, cache)
    grads["bndiff"] = cache["bnvar_inv"] * (params["bngain"].detach() * grads["hpreact"])  # = instead of +=
    return grads


def _mb_no_batch_mean(params, X, Y, cache):
    grads = mb.backward(params, X, Y, cache)
    return {k: v * X.shape[0] for k, v in grads.items()}  # dlogprobs = -1 instead of -1/n


def _mb_drops_c(params, X, Y, cache):
    grads = mb.backward(params, X, Y, cache)
    del grads["C"]
    return grads


@exercise("ngram.manual_backward", difficulty=3, minutes=60,
          reference="llmcourse.ngram.manual_backprop:backward",
          wrong={"= instead of += for bndiff (used twice)": _mb_overwrites,
                 "forgets the 1/n of the mean in the loss": _mb_no_batch_mean,
                 "no gradient for the embedding table C": _mb_drops_c},
          hint="go backwards through forward() one line at a time; a broadcast forward is a sum backward, "
               "x @ W gives dx = dy @ W.T and dW = x.T @ dy, and a tensor used twice gets +=")
def _manual_backward():
    PARAM_NAMES, STEP_NAMES, autograd_grads, cmp, forward, init_params = (
        mb.PARAM_NAMES, mb.STEP_NAMES, mb.autograd_grads, mb.cmp, mb.forward, mb.init_params)

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


# ----------------------------------------------------------------------------- stretch: initialise a deep tanh net
def _init_untouched(model):
    return model  # nn.Linear's default: every layer shrinks the signal


def _init_randn(model):
    from llmcourse.ngram.diagnostics import init_randn

    return init_randn(model)


def _init_full_scale_output(model):
    from llmcourse.ngram.diagnostics import TANH_GAIN, init_kaiming

    return init_kaiming(model, last_scale=TANH_GAIN)  # the output layer too big: a confident wrong first guess


def _init_case(seed: int, n_layers: int, n_hidden: int):
    def test(fn):
        from llmcourse.ngram.diagnostics import DeepMLP, layer_stats

        V = 27
        model = DeepMLP(V, block_size=3, n_embd=10, n_hidden=n_hidden, n_layers=n_layers,
                        generator=torch.Generator().manual_seed(seed))
        out = fn(model)
        model = out if isinstance(out, torch.nn.Module) else model
        g = torch.Generator().manual_seed(seed + 1)
        X, Y = torch.randint(V, (1000, 3), generator=g), torch.randint(V, (1000,), generator=g)
        loss, stats = layer_stats(model, X, Y)
        problems = []
        if not loss < math.log(V) + 0.1:
            problems.append(f"loss at init {loss:.3f}, more than log(V) + 0.1 = {math.log(V) + 0.1:.3f}: shrink the "
                            "output layer so the first guess is close to uniform")
        for s in stats:
            if not 0.5 <= s.act_std <= 0.9:
                problems.append(f"layer {s.layer}: tanh outputs have std {s.act_std:.2f}, outside [0.5, 0.9]")
            if s.saturated > 0.3:
                problems.append(f"layer {s.layer}: {s.saturated:.0%} of tanh outputs saturated (|t| > 0.97)")
        if problems:
            raise AssertionError("; ".join(problems[:3]))
    return test


@exercise("ngram.init_deep_mlp", difficulty=3, minutes=30, stretch=True,
          reference="llmcourse.ngram.diagnostics:init_kaiming",
          wrong={"leaves nn.Linear's default init": _init_untouched, "torch.randn weights": _init_randn,
                 "output layer at full scale": _init_full_scale_output},
          hint="weights of a layer with fan_in inputs ~ N(0, (5/3)^2 / fan_in) keep tanh's inputs at a steady "
               "size; zero the biases; make the output layer ~10x smaller so the loss starts near log(V)")
def _init_deep_mlp():
    yield Case("4 tanh layers of 100", test=_init_case(0, 4, 100))
    yield Case("8 tanh layers of 64", test=_init_case(1, 8, 64))
