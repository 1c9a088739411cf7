"""Character n-gram language models from counts: bigram (n=2), trigram (n=3), any n.

An n-gram model predicts each character from the n-1 characters before it:

    P(name) = prod_t P(c_t | c_{t-n+1} .. c_{t-1})

Training is counting. Pad the name with n-1 boundary tokens in front and one behind
(". . a n n a ." for a trigram), slide a window of n over it and count each window
in a table N of shape (V,) * n. The maximum-likelihood estimate of a row is the
row divided by its sum.

Smoothing. A window never seen in training gets probability 0, and one zero makes
the likelihood of a whole dev set zero (NLL = infinity). Add-k (Laplace) smoothing
pretends every window was seen k extra times: P = (N + k) / (row sum + k V). Larger
k pulls every row towards uniform; the best k is chosen on the dev set.

Score. The average negative log-likelihood per predicted character (the end token
included) is the loss every later model in the course reports; exp(NLL) is the
perplexity, "how many characters the model hesitates between".

With smoothing=0 a context never seen in training has an all-zero row: scoring a name
that needs it gives NLL = inf (the honest answer), and sampling from it raises an
error that says to use smoothing > 0.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import torch

from llmcourse.ngram.vocab import BOUNDARY as BOUNDARY_CHAR
from llmcourse.ngram.vocab import CharVocab


def bigram_counts(names: Iterable[str], stoi: dict[str, int]) -> torch.Tensor:
    """N[i, j] = how often character j follows character i, with the boundary "." around every name.

    `stoi` maps each character (the boundary "." included, usually at 0) to its row/column.
    The (V, V) long tensor of `NGramModel(vocab, n=2).fit(names).counts` for any mapping.
    """
    if BOUNDARY_CHAR not in stoi:
        raise ValueError(f"stoi must map the boundary token {BOUNDARY_CHAR!r} too")
    V = len(stoi)
    N = torch.zeros(V * V, dtype=torch.long)
    pairs = []
    for name in names:
        ids = [stoi[BOUNDARY_CHAR], *(stoi[c] for c in name), stoi[BOUNDARY_CHAR]]
        pairs += [a * V + b for a, b in zip(ids, ids[1:])]  # row-major index of (prev, next)
    if pairs:
        index = torch.tensor(pairs, dtype=torch.long)
        N.index_add_(0, index, torch.ones_like(index))
    return N.view(V, V)


def average_nll(P: torch.Tensor, names: Iterable[str], stoi: dict[str, int]) -> float:
    """-mean log P[prev, next] over every pair of the padded names (end marker included); inf if any P is 0."""
    rows, cols = [], []
    for name in names:
        ids = [stoi[BOUNDARY_CHAR], *(stoi[c] for c in name), stoi[BOUNDARY_CHAR]]
        rows += ids[:-1]
        cols += ids[1:]
    if not rows:
        raise ValueError("no names to score")
    with torch.no_grad():
        p = torch.as_tensor(P, dtype=torch.float64)[torch.tensor(rows), torch.tensor(cols)]
        return float(-torch.log(p).mean())


def ngram_windows(names: Iterable[str], vocab: CharVocab, n: int) -> torch.Tensor:
    """Every window of n token ids in the padded names, shape (W, n); the last column is the target.

    A name of length L gives L + 1 windows (one per character plus the end token).
    """
    if n < 1:
        raise ValueError(f"an n-gram model needs n >= 1, not {n}")
    rows: list[list[int]] = []
    for name in names:
        ids = [0] * (n - 1) + vocab.encode(name) + [0]  # 0 is the boundary token "."
        rows += [ids[i : i + n] for i in range(len(ids) - n + 1)]
    return torch.tensor(rows, dtype=torch.long).reshape(-1, n)  # (W, n)


class NGramModel:
    """An n-gram character model estimated by counting, with add-k smoothing.

    >>> model = NGramModel(vocab, n=2, smoothing=1.0).fit(train_names)
    >>> model.nll(dev_names)             # average NLL per character
    >>> model.sample(torch.Generator().manual_seed(0))
    """

    def __init__(self, vocab: CharVocab, n: int = 2, smoothing: float = 1.0) -> None:
        if n < 1:
            raise ValueError(f"an n-gram model needs n >= 1, not {n}")
        if smoothing < 0:
            raise ValueError(f"smoothing is a pseudo-count k >= 0, not {smoothing}")
        if len(vocab) ** n > 50_000_000:
            raise ValueError(f"a {n}-gram table over {len(vocab)} characters has {len(vocab) ** n:,} cells; use a smaller n")
        self.vocab, self.n, self.smoothing = vocab, n, float(smoothing)
        self.counts = torch.zeros((len(vocab),) * n, dtype=torch.long)  # (V, ..., V): n axes
        self._probs: tuple[tuple, torch.Tensor] | None = None

    def fit(self, names: Sequence[str]) -> "NGramModel":
        """Count every window of the training names (adds to counts already there)."""
        windows = ngram_windows(names, self.vocab, self.n)  # (W, n)
        flat = torch.zeros(self.counts.numel(), dtype=torch.long)
        index = torch.zeros(len(windows), dtype=torch.long)
        for axis in range(self.n):  # row-major flat index of each window
            index = index * len(self.vocab) + windows[:, axis]
        flat.index_add_(0, index, torch.ones_like(index))
        self.counts += flat.view_as(self.counts)
        return self

    @property
    def probs(self) -> torch.Tensor:
        """P(next | context), shape (V,) * n, float64; each last-axis row sums to 1.

        With smoothing=0, rows of contexts never seen are all zero (not NaN). Kept until the
        counts or the smoothing change, so sampling many names does not redo the division.
        """
        key = (self.smoothing, id(self.counts), self.counts._version)
        if self._probs is None or self._probs[0] != key:
            smoothed = self.counts.double() + self.smoothing  # (V, ..., V)
            totals = smoothed.sum(dim=-1, keepdim=True)  # (V, ..., 1)
            probs = torch.where(totals > 0, smoothed / totals.clamp_min(1e-300), torch.zeros_like(smoothed))
            self._probs = (key, probs)
        return self._probs[1]

    def log_likelihood(self, names: Sequence[str]) -> tuple[float, int]:
        """(sum of log P over every predicted character, number of predicted characters)."""
        windows = ngram_windows(names, self.vocab, self.n)  # (W, n)
        if len(windows) == 0:
            raise ValueError("no names to score")
        p = self.probs[tuple(windows.T)]  # (W,)
        with torch.no_grad():
            logp = torch.log(p)  # log 0 = -inf: a window the unsmoothed model never saw
        return float(logp.sum()), len(windows)

    def nll(self, names: Sequence[str]) -> float:
        """Average negative log-likelihood per character (end token included); inf if any P is 0."""
        total, count = self.log_likelihood(names)
        return -total / count

    def sample(self, generator: torch.Generator | None = None, max_len: int = 50, prefix: str = "") -> str:
        """One name: start from the boundary context (plus `prefix`) and draw until "." or max_len.

        `prefix` characters must be in the vocabulary (else UnknownCharacterError). The
        returned name includes the prefix and excludes the end token.
        """
        P = self.probs
        context = [0] * (self.n - 1) + self.vocab.encode(prefix)
        out = list(prefix)
        while len(out) < max_len:
            ctx = tuple(context[len(context) - (self.n - 1):]) if self.n > 1 else ()
            row = P[ctx]  # (V,)
            if float(row.sum()) == 0.0:
                seen = self.vocab.decode(ctx)
                raise ValueError(
                    f"the context {seen!r} never occurs in the training names and smoothing=0, so there is "
                    "no distribution to sample from; use smoothing > 0 or another prefix"
                )
            ix = int(torch.multinomial(row, 1, generator=generator))
            if ix == 0:
                break
            out.append(self.vocab.chars[ix])
            context.append(ix)
        return "".join(out)

    def perplexity(self, names: Sequence[str]) -> float:
        """exp(NLL): the effective number of choices per character."""
        return math.exp(self.nll(names))
