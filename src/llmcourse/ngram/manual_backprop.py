"""Backpropagation by hand through the makemore MLP ("becoming a backprop ninja", makemore part 4).

The forward pass is written out one small operation at a time so that every
intermediate tensor has a name, and `backward()` walks those operations in reverse,
computing the gradient of the loss with respect to each of them with nothing but
the chain rule and tensor algebra -- no autograd. `cmp()` then compares each
hand-made gradient with PyTorch autograd's and prints

    logits          | exact: False | approximate: True  | maxdiff: 6.9e-18

Two rules do most of the work:
* a broadcast in the forward pass is a sum in the backward pass (and a sum is a
  broadcast): `bnmeani` (1, H) is used by every row of `bndiff` (B, H), so its
  gradient is the sum of theirs over the batch axis;
* a matrix product `y = x @ W` sends `dx = dy @ W.T` and `dW = x.T @ dy` (the only
  arrangement of the shapes that works).
A tensor used twice (`bndiff` feeds both `bndiff2` and `bnraw`; `counts` feeds both
`counts_sum` and `probs`) receives the sum of the gradients along both paths: `+=`.

Batch norm here divides the variance by n (the biased estimate), as
`torch.nn.BatchNorm1d` does when it normalises a training batch, so this forward
pass equals `MLPLanguageModel`'s with the same weights (makemore part 4 uses n-1,
Bessel's correction; the backward formula changes by that one factor).

Two fused gradients replace a dozen steps each:
* cross-entropy:  dlogits = (softmax(logits) - one_hot(Y)) / B
* batch norm:     dhprebn = gain * var_inv / B * (B dhpreact - sum(dhpreact) - bnraw * sum(dhpreact * bnraw))
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

PARAM_NAMES = ("C", "W1", "b1", "bngain", "bnbias", "W2", "b2")
# every intermediate of forward(), in the order the forward pass makes them
STEP_NAMES = ("emb", "embcat", "hprebn", "bnmeani", "bndiff", "bndiff2", "bnvar", "bnvar_inv", "bnraw",
              "hpreact", "h", "logits", "logit_maxes", "norm_logits", "counts", "counts_sum",
              "counts_sum_inv", "probs", "logprobs")
BN_EPS = 1e-5


def init_params(vocab_size: int, block_size: int = 3, n_embd: int = 10, n_hidden: int = 64,
                generator: torch.Generator | None = None, dtype: torch.dtype = torch.float64) -> dict[str, torch.Tensor]:
    """Parameters of the MLP, all requiring grad. W1 is (T*E, H) and W2 is (H, V): x @ W, not nn.Linear's x @ W.T.

    Biases and batch-norm gain/shift start at small random values rather than 0/1, so
    that a wrong gradient cannot hide behind a zero (as in makemore part 4).
    """
    g = generator
    fan_in = block_size * n_embd
    params = {
        "C": torch.randn(vocab_size, n_embd, generator=g, dtype=dtype),
        "W1": torch.randn(fan_in, n_hidden, generator=g, dtype=dtype) * (5 / 3) / math.sqrt(fan_in),
        "b1": torch.randn(n_hidden, generator=g, dtype=dtype) * 0.1,  # useless before batch norm; kept to check its grad
        "bngain": torch.randn(1, n_hidden, generator=g, dtype=dtype) * 0.1 + 1.0,
        "bnbias": torch.randn(1, n_hidden, generator=g, dtype=dtype) * 0.1,
        "W2": torch.randn(n_hidden, vocab_size, generator=g, dtype=dtype) * 0.1,
        "b2": torch.randn(vocab_size, generator=g, dtype=dtype) * 0.1,
    }
    for p in params.values():
        p.requires_grad_(True)
    return params


def params_from_model(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The parameters of an `MLPLanguageModel` in this module's layout (copies, requiring grad).

    The model's hidden layer has no bias (batch norm makes it redundant), so b1 is zero.
    """
    with torch.no_grad():
        params = {
            "C": model.emb.weight.clone(),
            "W1": model.hidden.weight.T.clone(),
            "b1": torch.zeros(model.hidden.out_features, dtype=model.hidden.weight.dtype),
            "bngain": model.bn.weight.view(1, -1).clone(),
            "bnbias": model.bn.bias.view(1, -1).clone(),
            "W2": model.out.weight.T.clone(),
            "b2": model.out.bias.clone(),
        }
    for p in params.values():
        p.requires_grad_(True)
    return params


def forward(params: dict[str, torch.Tensor], X: torch.Tensor, Y: torch.Tensor,
            retain_grad: bool = False) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The loss and every intermediate (named as in STEP_NAMES), one small operation at a time.

    With `retain_grad=True` autograd keeps the gradient of each intermediate, so that
    after `loss.backward()` we can read `cache["logits"].grad` and compare.
    """
    C, W1, b1, W2, b2 = params["C"], params["W1"], params["b1"], params["W2"], params["b2"]
    bngain, bnbias = params["bngain"], params["bnbias"]
    n = X.shape[0]
    if n < 2:
        raise ValueError("batch norm needs a batch of at least 2 examples")
    emb = C[X]  # (B, T, E)
    embcat = emb.view(n, -1)  # (B, T*E)
    hprebn = embcat @ W1 + b1  # (B, H) hidden layer before batch norm
    bnmeani = 1 / n * hprebn.sum(0, keepdim=True)  # (1, H)
    bndiff = hprebn - bnmeani  # (B, H)
    bndiff2 = bndiff**2  # (B, H)
    bnvar = 1 / n * bndiff2.sum(0, keepdim=True)  # (1, H) biased variance, as BatchNorm1d normalises
    bnvar_inv = (bnvar + BN_EPS) ** -0.5  # (1, H)
    bnraw = bndiff * bnvar_inv  # (B, H)
    hpreact = bngain * bnraw + bnbias  # (B, H)
    h = torch.tanh(hpreact)  # (B, H)
    logits = h @ W2 + b2  # (B, V)
    logit_maxes = logits.max(1, keepdim=True).values  # (B, 1) subtracted for numerical stability
    norm_logits = logits - logit_maxes  # (B, V)
    counts = norm_logits.exp()  # (B, V)
    counts_sum = counts.sum(1, keepdim=True)  # (B, 1)
    counts_sum_inv = counts_sum**-1  # (B, 1)
    probs = counts * counts_sum_inv  # (B, V)
    logprobs = probs.log()  # (B, V)
    loss = -logprobs[torch.arange(n), Y].mean()  # ()
    cache = {name: t for name, t in zip(STEP_NAMES, (
        emb, embcat, hprebn, bnmeani, bndiff, bndiff2, bnvar, bnvar_inv, bnraw, hpreact, h, logits,
        logit_maxes, norm_logits, counts, counts_sum, counts_sum_inv, probs, logprobs))}
    if retain_grad:
        for t in cache.values():
            t.retain_grad()
    return loss, cache


def backward(params: dict[str, torch.Tensor], X: torch.Tensor, Y: torch.Tensor,
             cache: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """d loss / d t for every intermediate t in STEP_NAMES and every parameter, by hand.

    Reads the forward values from `cache`; uses no autograd (everything under no_grad).
    """
    with torch.no_grad():
        c = {k: v.detach() for k, v in cache.items()}
        C, W1, W2 = params["C"].detach(), params["W1"].detach(), params["W2"].detach()
        bngain = params["bngain"].detach()
        n, vocab_size = c["logits"].shape
        g: dict[str, torch.Tensor] = {}
        # loss = -mean of the picked log-probs: each picked entry gets -1/n, the rest 0
        g["logprobs"] = torch.zeros_like(c["logprobs"])
        g["logprobs"][torch.arange(n), Y] = -1.0 / n
        g["probs"] = g["logprobs"] / c["probs"]  # d log p = 1/p
        # probs = counts * counts_sum_inv: counts_sum_inv (B,1) was broadcast over V -> sum over axis 1
        g["counts_sum_inv"] = (c["counts"] * g["probs"]).sum(1, keepdim=True)
        g["counts"] = c["counts_sum_inv"] * g["probs"]  # first of counts' two uses
        g["counts_sum"] = -c["counts_sum"] ** -2 * g["counts_sum_inv"]
        g["counts"] += torch.ones_like(c["counts"]) * g["counts_sum"]  # second use: the sum broadcasts back
        g["norm_logits"] = c["counts"] * g["counts"]  # d exp(x) = exp(x)
        g["logits"] = g["norm_logits"].clone()
        g["logit_maxes"] = -g["norm_logits"].sum(1, keepdim=True)
        g["logits"] += F.one_hot(c["logits"].max(1).indices, vocab_size).to(c["logits"].dtype) * g["logit_maxes"]
        # logits = h @ W2 + b2
        g["h"] = g["logits"] @ W2.T
        g["W2"] = c["h"].T @ g["logits"]
        g["b2"] = g["logits"].sum(0)
        g["hpreact"] = (1.0 - c["h"] ** 2) * g["h"]  # d tanh = 1 - tanh^2
        # hpreact = bngain * bnraw + bnbias, gain and bias (1,H) broadcast over the batch
        g["bngain"] = (c["bnraw"] * g["hpreact"]).sum(0, keepdim=True)
        g["bnraw"] = bngain * g["hpreact"]
        g["bnbias"] = g["hpreact"].sum(0, keepdim=True)
        # bnraw = bndiff * bnvar_inv
        g["bndiff"] = c["bnvar_inv"] * g["bnraw"]  # first of bndiff's two uses
        g["bnvar_inv"] = (c["bndiff"] * g["bnraw"]).sum(0, keepdim=True)
        g["bnvar"] = -0.5 * (c["bnvar"] + BN_EPS) ** -1.5 * g["bnvar_inv"]
        g["bndiff2"] = (1.0 / n) * torch.ones_like(c["bndiff2"]) * g["bnvar"]
        g["bndiff"] += 2 * c["bndiff"] * g["bndiff2"]  # second use, through the square
        g["hprebn"] = g["bndiff"].clone()
        g["bnmeani"] = -g["bndiff"].sum(0, keepdim=True)
        g["hprebn"] += (1.0 / n) * torch.ones_like(c["hprebn"]) * g["bnmeani"]
        # hprebn = embcat @ W1 + b1
        g["embcat"] = g["hprebn"] @ W1.T
        g["W1"] = c["embcat"].T @ g["hprebn"]
        g["b1"] = g["hprebn"].sum(0)
        g["emb"] = g["embcat"].view(c["emb"].shape)
        # emb = C[X]: every row of C receives the gradients of every position that looked it up
        g["C"] = torch.zeros_like(C)
        g["C"].index_add_(0, X.reshape(-1), g["emb"].reshape(-1, C.shape[1]))
    return g


def cross_entropy_backward(logits: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """d mean cross-entropy / d logits in one step: (softmax(logits) - one_hot(Y)) / B.  (B, V)"""
    with torch.no_grad():
        dlogits = F.softmax(logits.detach(), dim=1)  # (B, V)
        dlogits[torch.arange(logits.shape[0]), Y] -= 1.0
        return dlogits / logits.shape[0]


def batchnorm_backward(dhpreact: torch.Tensor, bngain: torch.Tensor, bnraw: torch.Tensor,
                       bnvar_inv: torch.Tensor) -> torch.Tensor:
    """d loss / d hprebn through batch norm (biased variance) in one step.  (B, H)"""
    with torch.no_grad():
        n = dhpreact.shape[0]
        dy, raw = dhpreact.detach(), bnraw.detach()
        return bngain.detach() * bnvar_inv.detach() / n * (
            n * dy - dy.sum(0, keepdim=True) - raw * (dy * raw).sum(0, keepdim=True))


@dataclass
class CmpResult:
    """How a hand-made gradient compares with autograd's."""

    name: str
    exact: bool
    approx: bool
    maxdiff: float
    note: str = ""

    def __str__(self) -> str:
        line = f"{self.name:15s} | exact: {self.exact!s:5s} | approximate: {self.approx!s:5s} | maxdiff: {self.maxdiff:.3g}"
        return line + (f" | {self.note}" if self.note else "")


def cmp(name: str, manual: torch.Tensor | None, reference: torch.Tensor | None, rtol: float = 1e-5,
        atol: float = 1e-8, verbose: bool = True) -> CmpResult:
    """Compare a hand-made gradient with autograd's (`tensor.grad`): exact, approximately equal, max difference.

    A missing gradient or a shape mismatch counts as not equal (maxdiff inf) and says so.
    """
    if manual is None or reference is None:
        res = CmpResult(name, False, False, math.inf, "missing" if manual is None else "autograd gave no grad")
    elif tuple(manual.shape) != tuple(reference.shape):
        res = CmpResult(name, False, False, math.inf, f"shape {tuple(manual.shape)}, expected {tuple(reference.shape)}")
    else:
        m, r = manual.detach(), reference.detach().to(manual.dtype)
        res = CmpResult(name, bool(torch.equal(m, r)), bool(torch.allclose(m, r, rtol=rtol, atol=atol)),
                        float((m - r).abs().max()) if m.numel() else 0.0)
    if verbose:
        print(res)
    return res


def autograd_grads(params: dict[str, torch.Tensor], X: torch.Tensor, Y: torch.Tensor) -> dict[str, torch.Tensor]:
    """Autograd's gradient of every intermediate and parameter (the oracle for `backward`)."""
    for p in params.values():
        p.grad = None
    loss, cache = forward(params, X, Y, retain_grad=True)
    loss.backward()
    out = {name: t.grad for name, t in cache.items()}
    out.update({name: p.grad for name, p in params.items()})
    return out


def compare_with_autograd(grads: dict[str, torch.Tensor], params: dict[str, torch.Tensor], X: torch.Tensor,
                          Y: torch.Tensor, verbose: bool = True, rtol: float = 1e-5,
                          atol: float = 1e-8) -> list[CmpResult]:
    """`cmp` every tensor of the forward pass and every parameter, from the loss back to C."""
    ref = autograd_grads(params, X, Y)
    order = list(reversed(STEP_NAMES))
    order[order.index("logits") + 1 : order.index("logits") + 1] = ["W2", "b2"]
    order[order.index("hpreact") + 1 : order.index("hpreact") + 1] = ["bngain", "bnbias"]
    order[order.index("hprebn") + 1 : order.index("hprebn") + 1] = ["W1", "b1"]
    order.append("C")
    return [cmp(name, grads.get(name), ref[name], rtol=rtol, atol=atol, verbose=verbose) for name in order]
