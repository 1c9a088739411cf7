"""Word2Vec from scratch: skip-gram with negative sampling (SGNS), in PyTorch.

The idea (Mikolov et al., 2013): a word is known by the company it keeps. Slide a window
over the text; every (centre word, context word) pair inside the window is a *positive*
example, and a few words drawn at random from the vocabulary are *negatives*. Each word has
two vectors: an input vector `u` (the embedding we keep) and an output vector `v`. Training
pushes `σ(u_centre · v_context)` towards 1 and `σ(u_centre · v_negative)` towards 0:

    loss = -log σ(u·v_pos) - Σ_k log σ(-u·v_neg_k)

Three tricks from the original C tool, which gensim copies and so do we, make it work:

* a minimum count: rarer words are dropped from the vocabulary;
* subsampling of frequent words: a word of corpus frequency f is kept with probability
  (√(f/t) + 1)·t/f (t = `sample`, 1e-3), so "the" and "of" stop dominating;
* negatives drawn from the unigram distribution raised to the power 3/4, and a *dynamic
  window*: for each centre word the window is shrunk to a random size in [1, window], so
  near words count more often than far ones.

Training is plain SGD on the summed loss of a mini-batch, the learning rate falling
linearly from `alpha` to `min_alpha`, as in gensim. One difference: gensim updates after
every single pair; we update after a batch of pairs (faster in PyTorch, nearly the same
result). gensim also lets each *context* word predict the centre word; the textbook form
here lets the centre predict its context. The set of pairs is the same.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from llmcourse.embeddings.vectors import WordVectors


# ------------------------------------------------------------------ the loss and its gradient

def sgns_loss(center: torch.Tensor, context: torch.Tensor, negatives: torch.Tensor,
              reduction: str = "mean") -> torch.Tensor:
    """Skip-gram negative-sampling loss.

    center: (B, D) input vectors of the centre words; context: (B, D) output vectors of
    their true context words; negatives: (B, K, D) output vectors of K sampled words.
    Per pair: -log σ(c·o) - Σ_k log σ(-c·n_k). reduction: "mean" | "sum" | "none" (B,).
    """
    if center.shape != context.shape or negatives.ndim != 3 or negatives.shape[::2] != center.shape:
        raise ValueError(f"need center (B, D), context (B, D), negatives (B, K, D); "
                         f"got {tuple(center.shape)}, {tuple(context.shape)}, {tuple(negatives.shape)}")
    pos = (center * context).sum(-1)  # (B,)
    neg = torch.einsum("bd,bkd->bk", center, negatives)  # (B, K)
    loss = -F.logsigmoid(pos) - F.logsigmoid(-neg).sum(-1)  # (B,)
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"reduction {reduction!r}: use 'mean', 'sum' or 'none'")


def sgns_grads(center: torch.Tensor, context: torch.Tensor, negatives: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The gradient of the summed SGNS loss, derived by hand (what the original C code applies).

    With s = σ(c·o) and t_k = σ(c·n_k):
        dL/dc   = (s - 1)·o + Σ_k t_k·n_k
        dL/do   = (s - 1)·c
        dL/dn_k = t_k·c
    Returns (d_center (B, D), d_context (B, D), d_negatives (B, K, D)).
    """
    s = torch.sigmoid((center * context).sum(-1, keepdim=True))  # (B, 1)
    t = torch.sigmoid(torch.einsum("bd,bkd->bk", center, negatives)).unsqueeze(-1)  # (B, K, 1)
    d_center = (s - 1) * context + (t * negatives).sum(1)  # (B, D)
    d_context = (s - 1) * center  # (B, D)
    d_negatives = t * center.unsqueeze(1)  # (B, K, D)
    return d_center, d_context, d_negatives


# ------------------------------------------------------------------ vocabulary and sampling

@dataclass
class Vocab:
    """Words kept for training (count >= min_count), most frequent first, as gensim orders them."""

    words: list[str]
    counts: np.ndarray  # (V,) int64
    index: dict[str, int]

    @classmethod
    def build(cls, sentences: Sequence[Sequence[str]], min_count: int = 5) -> "Vocab":
        counts = Counter(w for s in sentences for w in s)
        if not counts:
            raise ValueError("the corpus is empty: give a list of sentences, each a list of word strings")
        first = {w: i for i, w in enumerate(counts)}  # Counter keeps first-seen order
        kept = [w for w, c in counts.items() if c >= min_count]
        if not kept:
            raise ValueError(f"no word occurs {min_count} times or more ({len(counts)} distinct words, "
                             f"{sum(counts.values())} tokens): use a bigger corpus or a smaller min_count")
        # gensim's order: count descending, ties broken by later first occurrence first
        kept.sort(key=lambda w: (-counts[w], -first[w]))
        return cls(kept, np.array([counts[w] for w in kept], dtype=np.int64), {w: i for i, w in enumerate(kept)})

    def __len__(self) -> int:
        return len(self.words)

    @property
    def vocab_size(self) -> int:
        return len(self.words)

    def encode(self, text: str) -> list[int]:
        """Word ids of a whitespace-separated text; words outside the vocabulary are dropped, as
        word2vec drops them from its training text (the course's tokenizer protocol)."""
        if not isinstance(text, str):
            raise TypeError(f"encode takes a str, got {type(text).__name__}; for tokenised sentences use "
                            "encode_sentences(sentences)")
        return [self.index[w] for w in text.split() if w in self.index]

    def decode(self, ids) -> str:
        """The words of the ids, separated by spaces."""
        ids = ids.tolist() if hasattr(ids, "tolist") else list(ids)
        bad = [i for i in ids if not isinstance(i, (int, np.integer)) or not 0 <= i < len(self.words)]
        if bad:
            raise ValueError(f"unknown word ids {bad[:5]}: this vocabulary has ids 0..{len(self.words) - 1}")
        return " ".join(self.words[i] for i in ids)

    def encode_sentences(self, sentences: Sequence[Sequence[str]]) -> list[np.ndarray]:
        """Each tokenised sentence as an array of word ids, out-of-vocabulary words dropped."""
        return [np.array([self.index[w] for w in s if w in self.index], dtype=np.int64) for s in sentences]


def keep_probabilities(counts: np.ndarray, sample: float = 1e-3) -> np.ndarray:
    """Probability of keeping each occurrence of a word (frequent-word subsampling, gensim's formula).

    With t = sample · (total count), a word seen c times is kept with probability
    min(1, (√(c/t) + 1) · t/c). sample=0 keeps everything.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if sample <= 0:
        return np.ones_like(counts)
    threshold = sample * counts.sum()
    return np.minimum(1.0, (np.sqrt(counts / threshold) + 1) * threshold / counts)


def negative_table(counts: np.ndarray, exponent: float = 0.75, domain: int = 2**31 - 1) -> np.ndarray:
    """Cumulative table of the unigram^exponent distribution, scaled to integers (gensim's cum_table).

    A word is drawn by picking a random integer below table[-1] and finding its insertion
    point (`np.searchsorted(table, r, side="left")`).
    """
    weights = np.asarray(counts, dtype=np.float64) ** exponent
    return np.round(np.cumsum(weights) / weights.sum() * domain).astype(np.uint32)


def sample_negatives(table: np.ndarray, avoid: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """(B, K) word ids drawn from the negative table; a draw equal to its row's `avoid` id is redrawn once."""
    draw = lambda shape: np.searchsorted(table, rng.integers(0, table[-1], size=shape), side="left")  # noqa: E731
    neg = draw((len(avoid), k))
    clash = neg == avoid[:, None]
    if clash.any():
        neg[clash] = draw(int(clash.sum()))
    return neg


def skipgram_pairs(sentences: Sequence[np.ndarray], window: int, keep: np.ndarray,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """All (centre, context) id pairs of one epoch, after subsampling, with a dynamic window.

    Subsampling removes words first (so the window then reaches further, as in gensim).
    For each centre position i a reduced window w_i is drawn uniformly from 1..window and
    every position j with 0 < |i - j| <= w_i in the same sentence gives a pair.
    Returns (centres (P,), contexts (P,)).
    """
    kept = [s[rng.random(len(s)) < keep[s]] for s in sentences]
    tokens = np.concatenate(kept) if kept else np.zeros(0, dtype=np.int64)  # (N,)
    sent = np.repeat(np.arange(len(kept)), [len(s) for s in kept])  # (N,) sentence of each token
    reach = window - rng.integers(0, window, size=len(tokens))  # (N,) in 1..window
    centres, contexts = [], []
    for d in range(1, window + 1):
        i = np.arange(len(tokens) - d)
        j = i + d
        same = sent[i] == sent[j]
        right = same & (reach[i] >= d)  # centre i sees j on its right
        left = same & (reach[j] >= d)  # centre j sees i on its left
        centres += [tokens[i[right]], tokens[j[left]]]
        contexts += [tokens[j[right]], tokens[i[left]]]
    if not centres:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(centres), np.concatenate(contexts)


# ------------------------------------------------------------------ the model and its training

class SkipGram(nn.Module):
    """Two embedding tables: `inp` (the word vectors we keep) and `out` (context vectors).

    Initialised like gensim: inputs uniform in ±0.5/D, outputs zero. Sparse gradients: a
    batch touches only a few rows of a large table, so only those rows are updated.
    """

    def __init__(self, vocab_size: int, dim: int, seed: int = 1, loss_fn: Callable | None = None):
        super().__init__()
        self.loss_fn = loss_fn  # (center (B, D), context (B, D), negatives (B, K, D)) -> mean loss; None: sgns_loss
        self.inp = nn.Embedding(vocab_size, dim, sparse=True)
        self.out = nn.Embedding(vocab_size, dim, sparse=True)
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            self.inp.weight.uniform_(-0.5 / dim, 0.5 / dim, generator=gen)
            self.out.weight.zero_()

    def forward(self, centre: torch.Tensor, context: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
        """Summed SGNS loss of a batch: centre (B,), context (B,), negatives (B, K) word ids."""
        if self.loss_fn is None:
            return sgns_loss(self.inp(centre), self.out(context), self.out(negatives), reduction="sum")
        # a loss written as a mean over the batch (the exercise's), scaled back to the sum SGD steps on
        return self.loss_fn(self.inp(centre), self.out(context), self.out(negatives)) * len(centre)


@dataclass
class Word2VecConfig:
    """The settings gensim's Word2Vec calls by the same names (skip-gram, negative sampling)."""

    vector_size: int = 100
    window: int = 5
    min_count: int = 5
    sample: float = 1e-3
    negative: int = 5
    ns_exponent: float = 0.75
    alpha: float = 0.025
    min_alpha: float = 0.0001
    epochs: int = 5
    batch_size: int = 1024
    seed: int = 1

    def gensim_kwargs(self) -> dict:
        """The same settings for `gensim.models.Word2Vec(sg=1, hs=0, ...)`."""
        return dict(vector_size=self.vector_size, window=self.window, min_count=self.min_count, sample=self.sample,
                    negative=self.negative, ns_exponent=self.ns_exponent, alpha=self.alpha, min_alpha=self.min_alpha,
                    epochs=self.epochs, sg=1, hs=0, seed=self.seed)


@dataclass
class Word2VecResult:
    vectors: WordVectors
    vocab: Vocab
    losses: list[float]  # mean loss per pair, one value per logged stretch of batches
    pairs_per_epoch: int
    seconds: float


def train_word2vec(sentences: Sequence[Sequence[str]], config: Word2VecConfig | None = None,
                   progress: bool = True, log_every: int = 50, loss_fn: Callable | None = None) -> Word2VecResult:
    """Train skip-gram with negative sampling on `sentences` (lists of word strings).

    loss_fn: the batch loss, `(center (B, D), context (B, D), negatives (B, K, D)) -> mean`
    (notebook 1.3 trains with the learner's); None uses `sgns_loss`.
    """
    from tqdm.auto import tqdm

    cfg = config or Word2VecConfig()
    if cfg.window < 1 or cfg.negative < 1 or cfg.vector_size < 1 or cfg.epochs < 1:
        raise ValueError(f"window, negative, vector_size and epochs must be >= 1 (got {cfg})")
    if isinstance(sentences, str) or (len(sentences) and isinstance(sentences[0], str)):
        raise TypeError("sentences must be a list of token lists, e.g. [['the', 'cat'], ['a', 'dog']]; "
                        "split your text into words first")
    vocab = Vocab.build(sentences, cfg.min_count)
    ids = vocab.encode_sentences(sentences)
    keep = keep_probabilities(vocab.counts, cfg.sample)
    table = negative_table(vocab.counts, cfg.ns_exponent)
    rng = np.random.default_rng(cfg.seed)
    model = SkipGram(len(vocab), cfg.vector_size, seed=cfg.seed, loss_fn=loss_fn)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.alpha)

    # the schedule needs the total number of steps; epochs differ a little in size, so estimate
    est_pairs = len(skipgram_pairs(ids, cfg.window, keep, np.random.default_rng(cfg.seed + 999))[0])
    if est_pairs == 0:
        raise ValueError(_no_pairs_reason(ids, vocab, cfg))
    total_steps = max(1, cfg.epochs * -(-est_pairs // cfg.batch_size))
    step, losses, running, seen = 0, [], 0.0, 0
    start = time.perf_counter()
    bar = tqdm(total=total_steps, desc="word2vec (ours)", disable=not progress, mininterval=1.0)
    for _epoch in range(cfg.epochs):
        centres, contexts = skipgram_pairs(ids, cfg.window, keep, rng)
        order = rng.permutation(len(centres))
        centres, contexts = torch.from_numpy(centres[order]), torch.from_numpy(contexts[order])
        for b in range(0, len(centres), cfg.batch_size):
            c, o = centres[b : b + cfg.batch_size], contexts[b : b + cfg.batch_size]  # (B,), (B,)
            neg = torch.from_numpy(sample_negatives(table, o.numpy(), cfg.negative, rng))  # (B, K)
            lr = cfg.alpha - (cfg.alpha - cfg.min_alpha) * min(step, total_steps) / total_steps
            for group in opt.param_groups:
                group["lr"] = lr
            loss = model(c, o, neg)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            running += loss.item()
            seen += len(c)
            step += 1
            if step % log_every == 0:
                losses.append(running / seen)
                bar.set_postfix(loss=f"{losses[-1]:.3f}", lr=f"{lr:.4f}")
                running, seen = 0.0, 0
            bar.update(1)
    bar.close()
    if seen:
        losses.append(running / seen)
    vectors = WordVectors(vocab.words, model.inp.weight.detach().numpy().copy(), "word2vec (ours)")
    return Word2VecResult(vectors, vocab, losses, est_pairs, time.perf_counter() - start)


def _no_pairs_reason(ids: Sequence[np.ndarray], vocab: Vocab, cfg: Word2VecConfig) -> str:
    """Why an epoch would have no (centre, context) pair: short sentences, or subsampling."""
    long_enough = sum(len(s) >= 2 for s in ids)
    if long_enough == 0:
        return (f"no training pairs: no sentence has two words that occur min_count={cfg.min_count} times or more; "
                "use a bigger corpus or a smaller min_count")
    keep = keep_probabilities(vocab.counts, cfg.sample)
    expected = sum(float(keep[s].sum()) for s in ids)
    return (f"no training pairs: frequent-word subsampling (sample={cfg.sample:g}) drops almost every word of this "
            f"small corpus ({int(vocab.counts.sum())} tokens, {len(vocab)} words; about {expected:.1f} tokens kept "
            f"per epoch). Subsampling is meant for millions of words: pass Word2VecConfig(sample=0) to keep every "
            f"word, or use a bigger corpus")


def train_gensim(sentences: Sequence[Sequence[str]], config: Word2VecConfig | None = None,
                 workers: int = 1) -> tuple[WordVectors, float]:
    """gensim's Word2Vec on the same sentences and settings; returns (vectors, seconds)."""
    from llmcourse.assets import require

    models = require("gensim.models", "gensim")
    cfg = config or Word2VecConfig()
    start = time.perf_counter()
    model = models.Word2Vec(sentences=[list(s) for s in sentences], workers=workers, **cfg.gensim_kwargs())
    seconds = time.perf_counter() - start
    return WordVectors.from_keyedvectors(model.wv, "word2vec (gensim)"), seconds
