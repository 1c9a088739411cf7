"""BM25: the keyword ranking function of search engines (Robertson et al.; Lucene's variant).

A document scores for a query by the query words it contains, each weighted by how rare
the word is (idf) and how often the document uses it (tf), with diminishing returns and a
correction for long documents:

    score(q, d) = sum over query tokens t:  idf(t) * tf / (tf + k1 * (1 - b + b * |d| / avgdl))
    idf(t)      = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))

tf = count of t in d, df(t) = documents containing t, N = documents, |d| = tokens in d,
avgdl = mean |d|. k1 (1.2-2) sets how fast repeats saturate, b (0-1) how much length
matters. This is Lucene's BM25 (its idf never goes negative; the (k1 + 1) factor of the
original is dropped, which changes no ranking), as `bm25s` computes with method="lucene".

Stored as a sparse term -> (doc ids, tf) table, so scoring a query touches only the
documents that contain one of its words.
"""

from __future__ import annotations

from collections import Counter
from typing import Sequence

import numpy as np

__all__ = ["BM25", "bm25_scores"]


class BM25:
    """Lucene-variant BM25 over pre-tokenised documents: `fit(tokenised_docs)`, then `scores(query_tokens)`."""

    def __init__(self, k1: float = 1.5, b: float = 0.75):
        if not k1 >= 0 or not 0 <= b <= 1:
            raise ValueError(f"need k1 >= 0 and 0 <= b <= 1, got k1={k1}, b={b}")
        self.k1, self.b = float(k1), float(b)
        self.n_docs = 0

    def fit(self, tokenised_docs: Sequence[Sequence[str]]) -> "BM25":
        """Index the documents (each a list of tokens). An empty document scores 0 for every query."""
        if isinstance(tokenised_docs, str) or not hasattr(tokenised_docs, "__len__"):
            raise TypeError("fit() takes a list of documents, each a list of tokens (e.g. text.lower().split())")
        docs = list(tokenised_docs)
        if not docs:
            raise ValueError("the corpus is empty: give at least one document")
        for i, doc in enumerate(docs):
            if isinstance(doc, str):
                raise TypeError(f"document {i} is a string, not a list of tokens: tokenise it first "
                                "(e.g. doc.lower().split())")
        if not any(len(d) for d in docs):
            raise ValueError("no document has any token: every score would be 0; check the tokenisation")
        lengths = np.array([len(d) for d in docs], dtype=np.float64)
        postings: dict[str, tuple[list[int], list[int]]] = {}
        for i, doc in enumerate(docs):
            for term, tf in Counter(doc).items():
                ids, tfs = postings.setdefault(term, ([], []))
                ids.append(i)
                tfs.append(tf)
        self.n_docs = len(docs)
        self.doc_len = lengths
        self.avgdl = float(lengths.mean())
        # length normalisation of each document, computed once: k1 * (1 - b + b |d| / avgdl)
        self._norm = self.k1 * (1 - self.b + self.b * lengths / self.avgdl)
        self._postings = {t: (np.array(ids), np.array(tfs, dtype=np.float64)) for t, (ids, tfs) in postings.items()}
        self.idf = {t: float(np.log(1 + (self.n_docs - len(ids) + 0.5) / (len(ids) + 0.5)))
                    for t, (ids, _) in self._postings.items()}
        return self

    @property
    def vocabulary(self) -> list[str]:
        return sorted(self._postings) if self.n_docs else []

    def scores(self, query_tokens: Sequence[str]) -> np.ndarray:
        """BM25 score of every document for the query: (n_docs,) float64. Unknown words add nothing."""
        if not self.n_docs:
            raise ValueError("fit(tokenised_docs) before scoring")
        if isinstance(query_tokens, str):
            raise TypeError("scores() takes the query as a list of tokens, not a string: tokenise it the way "
                            "the documents were (e.g. query.lower().split())")
        out = np.zeros(self.n_docs)
        for term in query_tokens:  # a repeated query word counts each time, as in bm25s
            if term in self._postings:
                ids, tf = self._postings[term]
                out[ids] += self.idf[term] * tf / (tf + self._norm[ids])
        return out

    def search(self, query_tokens: Sequence[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k best documents: (scores (k,), ids (k,)), best first (ties: lower id first)."""
        s = self.scores(query_tokens)
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= self.n_docs:
            raise ValueError(f"k must be an integer in [1, {self.n_docs}], got {k!r}")
        ids = np.argsort(-s, kind="stable")[:k]
        return s[ids], ids

    def __repr__(self) -> str:
        return f"BM25(k1={self.k1}, b={self.b}, n_docs={self.n_docs})"


def bm25_scores(tokenised_docs: Sequence[Sequence[str]], query_tokens: Sequence[str], k1: float = 1.5,
                b: float = 0.75) -> np.ndarray:
    """BM25 (Lucene) score of every document for one query: `BM25(k1, b).fit(docs).scores(query)`."""
    return BM25(k1, b).fit(tokenised_docs).scores(query_tokens)
