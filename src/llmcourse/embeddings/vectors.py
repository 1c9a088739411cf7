"""Static word vectors: a table with one row per word, and what you can do with it.

A word embedding is a lookup table `E` of shape (V, D): word number i is the row `E[i]`.
Meaning shows up as geometry. Words used in similar contexts get vectors pointing the same
way, so *cosine similarity* `cos(a, b) = a·b / (|a| |b|)` measures relatedness, and the
nearest neighbours of a word are the rows with the largest cosine. Some relations are even
(roughly) directions: `king - man + woman` lands near `queen` (the "3CosAdd" analogy rule).

`WordVectors` holds such a table for any source (our word2vec, gensim's, GloVe) so the
same code compares them, and converts to gensim's `KeyedVectors` so gensim's own
evaluators score every model the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import numpy as np


class UnknownWordError(KeyError):
    """A word that is not in the vocabulary."""

    def __str__(self) -> str:  # KeyError would print the repr of the message
        return str(self.args[0])


def cosine_topk(query: np.ndarray, matrix: np.ndarray, k: int = 10, exclude: Sequence[int] = ()) -> tuple[np.ndarray, np.ndarray]:
    """Indices and cosine similarities of the `k` rows of `matrix` most similar to `query`.

    query: (D,), matrix: (V, D). Rows listed in `exclude` are skipped. Zero rows score 0.
    Returns (indices (k,), similarities (k,)), best first.
    """
    matrix = np.asarray(matrix, dtype=np.float32)
    query = np.asarray(query, dtype=np.float32)
    if query.ndim != 1 or matrix.ndim != 2 or matrix.shape[1] != query.shape[0]:
        raise ValueError(f"need query (D,) and matrix (V, D); got {query.shape} and {matrix.shape}")
    norms = np.linalg.norm(matrix, axis=1) * max(float(np.linalg.norm(query)), 1e-12)  # (V,)
    sims = matrix @ query / np.maximum(norms, 1e-12)  # (V,)
    if len(exclude):
        sims[np.asarray(list(exclude))] = -np.inf
    k = min(k, int(np.isfinite(sims).sum()))
    top = np.argpartition(-sims, k - 1)[:k] if k else np.zeros(0, dtype=int)
    top = top[np.argsort(-sims[top], kind="stable")]
    return top, sims[top]


def top_k_cosine(query: np.ndarray, table: np.ndarray, k: int) -> np.ndarray:
    """Indices of the `k` rows of `table` (V, D) most cosine-similar to `query` (D,), best first."""
    return cosine_topk(query, table, k)[0]


def analogy_index(table: np.ndarray, a: int, b: int, c: int) -> int:
    """Row answering "a is to b as c is to ?" by 3CosAdd: the row whose cosine with
    u[b] - u[a] + u[c] is largest (u = rows scaled to length 1), a, b and c excluded."""
    unit = table / np.maximum(np.linalg.norm(table, axis=1, keepdims=True), 1e-12)  # (V, D)
    idx, _ = cosine_topk(unit[b] - unit[a] + unit[c], unit, 1, exclude=[a, b, c])
    return int(idx[0])


class WordVectors:
    """A vocabulary and its (V, D) float32 vectors, with cosine neighbours and analogies."""

    def __init__(self, words: Sequence[str], vectors: np.ndarray, name: str = "vectors"):
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)  # row-major (GloVe's .npy is column-major)
        if vectors.ndim != 2 or len(words) != vectors.shape[0]:
            raise ValueError(f"{len(words)} words but vectors of shape {vectors.shape}; need one (D,) row per word")
        if len(words) == 0:
            raise ValueError("no words: an embedding table needs at least one word")
        self.words = list(words)
        self.vectors = vectors  # (V, D)
        self.index = {w: i for i, w in enumerate(self.words)}
        self.name = name
        self._unit: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    @property
    def unit(self) -> np.ndarray:
        """Rows scaled to length 1 (zero rows stay zero): cosine becomes a dot product."""
        if self._unit is None:
            norms = np.linalg.norm(self.vectors, axis=1, keepdims=True)
            self._unit = self.vectors / np.maximum(norms, 1e-12)
        return self._unit

    def id(self, word: str) -> int:
        try:
            return self.index[word]
        except KeyError:
            hint = " (this vocabulary is lower case)" if word.lower() in self.index else ""
            raise UnknownWordError(
                f"{word!r} is not in the vocabulary of {self.name} ({len(self)} words){hint}; "
                f"check the spelling, or test membership first with `word in vectors`"
            ) from None

    def __getitem__(self, word: str) -> np.ndarray:
        return self.vectors[self.id(word)]

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of two words."""
        return float(self.unit[self.id(a)] @ self.unit[self.id(b)])

    def nearest(self, word_or_vector: str | np.ndarray, k: int = 10) -> list[tuple[str, float]]:
        """The `k` nearest words by cosine (a word query leaves itself out)."""
        if isinstance(word_or_vector, str):
            i = self.id(word_or_vector)
            idx, sims = cosine_topk(self.vectors[i], self.vectors, k, exclude=[i])
        else:
            idx, sims = cosine_topk(np.asarray(word_or_vector), self.vectors, k)
        return [(self.words[j], float(s)) for j, s in zip(idx, sims)]

    def analogy(self, a: str, b: str, c: str, k: int = 1) -> list[tuple[str, float]]:
        """"a is to b as c is to ?" by 3CosAdd: the words nearest to b - a + c (on unit vectors),
        leaving out a, b and c themselves (as gensim and Mikolov's evaluation do)."""
        ia, ib, ic = self.id(a), self.id(b), self.id(c)
        target = self.unit[ib] - self.unit[ia] + self.unit[ic]  # (D,)
        idx, sims = cosine_topk(target, self.unit, k, exclude=[ia, ib, ic])
        return [(self.words[j], float(s)) for j, s in zip(idx, sims)]

    def average(self, tokens: Iterable[str]) -> np.ndarray:
        """Mean vector of the known tokens (zeros when none is known): a bag-of-words sentence vector."""
        ids = [self.index[t] for t in tokens if t in self.index]
        if not ids:
            return np.zeros(self.dim, dtype=np.float32)
        return self.vectors[ids].mean(axis=0)

    def restrict(self, n: int) -> "WordVectors":
        """The first `n` words (the most frequent ones, for tables sorted by frequency)."""
        return WordVectors(self.words[:n], self.vectors[:n], self.name)

    def to_keyedvectors(self):
        """The same table as gensim's KeyedVectors (to use gensim's evaluators on any model)."""
        from llmcourse.assets import require

        models = require("gensim.models", "gensim")
        kv = models.KeyedVectors(self.dim, dtype=np.float32)
        kv.add_vectors(self.words, self.vectors)
        return kv

    @classmethod
    def from_keyedvectors(cls, kv, name: str = "gensim") -> "WordVectors":
        return cls(list(kv.index_to_key), np.asarray(kv.vectors), name)

    def save(self, path: str | Path) -> None:
        """Save as safetensors (vectors) plus the word list in its metadata."""
        import json

        from safetensors.numpy import save_file

        save_file({"vectors": self.vectors}, str(path), metadata={"words": json.dumps(self.words), "name": self.name})

    @classmethod
    def load(cls, path: str | Path) -> "WordVectors":
        import json

        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as fh:
            meta = fh.metadata() or {}
            if "words" not in meta:
                raise ValueError(f"{path} has no word list in its metadata: not saved by WordVectors.save")
            return cls(json.loads(meta["words"]), fh.get_tensor("vectors"), meta.get("name", "vectors"))

    def __repr__(self) -> str:
        return f"WordVectors({self.name!r}, {len(self)} words x {self.dim} dims)"


def project_2d(points: np.ndarray, method: str = "pca", seed: int = 0) -> tuple[np.ndarray, str]:
    """Project (N, D) points to (N, 2) for a scatter plot; returns (coords, method used).

    "pca": the two directions of largest variance (an SVD of the centred points).
    "umap": a neighbour-preserving map (umap-learn), falling back to PCA when it is not
    installed or there are too few points for it.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or len(points) < 2:
        raise ValueError(f"need at least two points as an (N, D) array, got shape {points.shape}")
    if method == "umap":
        try:
            import umap  # noqa: F401  (slow import: numba)
        except ImportError:
            method = "pca"
        else:
            if len(points) >= 6:
                reducer = umap.UMAP(n_neighbors=min(15, len(points) - 1), random_state=seed, n_jobs=1, init="random")
                return reducer.fit_transform(points), "umap"
            method = "pca"
    if method != "pca":
        raise ValueError(f"unknown projection {method!r}; use 'pca' or 'umap'")
    centred = points - points.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    coords = centred @ vt[:2].T  # (N, 2)
    if coords.shape[1] < 2:
        coords = np.pad(coords, ((0, 0), (0, 2 - coords.shape[1])))
    return coords, "pca"
