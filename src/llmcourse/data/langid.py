"""Language identification: a character n-gram Naive Bayes from scratch, and two real detectors.

Which language is a document in? Web pipelines ask this of every page (FineWeb keeps
English pages whose fastText score is at least 0.65). Characters give it away: "ng" and
" yang " say Indonesian/Malay, " th" and " the " English, a Thai letter Thai.

The classic model (Cavnar & Trenkle 1994; langid.py) is multinomial Naive Bayes over
character n-grams. For a text with n-gram counts x_f and a language c:

    log P(c | text) = log P(c) + sum_f x_f log theta_cf + const,
    theta_cf = (N_cf + alpha) / (N_c + alpha |V|)         (Laplace/Lidstone smoothing)

where N_cf counts n-gram f in language c's training text and |V| is the vocabulary of
n-grams seen in training (unseen ones are ignored). `CharNgramLangID` is exactly
scikit-learn's `CountVectorizer(analyzer="char") + MultinomialNB`, written out.

Real detectors that ship their models in the wheel: `lingua-language-detector` (n-gram
models up to 5-grams, very accurate on short text) and `langid` (Naive Bayes over byte
n-grams, fast). `fasttext-langdetect` downloads its model at run time and fails offline.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from functools import lru_cache

import numpy as np

__all__ = ["CharNgramLangID", "char_ngrams", "detect_language", "nb_fit"]

_WS = re.compile(r"\s\s+")


def char_ngrams(text: str, n_min: int = 1, n_max: int = 3) -> Counter:
    """Counts of every character n-gram (n_min <= n <= n_max) of the lowercased text.

    Runs of whitespace count as one space, as in scikit-learn's `analyzer="char"`.
    """
    text = _WS.sub(" ", text.lower())
    counts: Counter = Counter()
    for n in range(n_min, n_max + 1):
        counts.update(text[i:i + n] for i in range(len(text) - n + 1))
    return counts


def nb_fit(X: np.ndarray, y: np.ndarray, n_classes: int, alpha: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial Naive Bayes: (log prior (C,), log theta (C, F)) from counts X (N, F) and labels y (N,)."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    class_count = np.bincount(y, minlength=n_classes).astype(np.float64)  # (C,)
    feature_count = np.zeros((n_classes, X.shape[1]))
    np.add.at(feature_count, y, X)  # (C, F) summed counts per class
    smoothed = feature_count + alpha
    log_theta = np.log(smoothed) - np.log(smoothed.sum(axis=1, keepdims=True))
    log_prior = np.log(class_count) - math.log(class_count.sum())
    return log_prior, log_theta


class CharNgramLangID:
    """A character n-gram Naive Bayes language identifier, trained from a few examples per language."""

    def __init__(self, n_min: int = 1, n_max: int = 3, alpha: float = 1.0, fit=None):
        self.n_min, self.n_max, self.alpha = n_min, n_max, alpha
        self._fit = fit or nb_fit  # swap in your own nb_fit (notebook 4.1's exercise)
        self.vocab: dict[str, int] = {}
        self.labels: list[str] = []

    def _matrix(self, texts: list[str]):
        from scipy.sparse import csr_matrix

        rows, cols, vals = [], [], []
        for i, text in enumerate(texts):
            for gram, count in char_ngrams(text, self.n_min, self.n_max).items():
                j = self.vocab.get(gram)
                if j is not None:
                    rows.append(i)
                    cols.append(j)
                    vals.append(count)
        return csr_matrix((vals, (rows, cols)), shape=(len(texts), len(self.vocab)), dtype=np.float64)

    def fit(self, texts: list[str], labels: list[str]) -> CharNgramLangID:
        if not texts or len(texts) != len(labels):
            raise ValueError(f"need as many labels as texts (got {len(texts)} texts, {len(labels)} labels)")
        grams = sorted({g for t in texts for g in char_ngrams(t, self.n_min, self.n_max)})
        self.vocab = {g: i for i, g in enumerate(grams)}
        self.labels = sorted(set(labels))
        y = np.array([self.labels.index(label) for label in labels])
        X = self._matrix(texts).toarray()
        self.log_prior, self.log_theta = self._fit(X, y, len(self.labels), self.alpha)
        return self

    def predict_log_scores(self, texts: list[str]) -> np.ndarray:
        """(N, C) joint log-likelihoods log P(c) + sum_f x_f log theta_cf."""
        if not self.labels:
            raise RuntimeError("train the classifier first: .fit(texts, labels)")
        return np.asarray(self._matrix(texts) @ np.asarray(self.log_theta).T) + self.log_prior

    def predict(self, texts: list[str]) -> list[str]:
        return [self.labels[i] for i in self.predict_log_scores(texts).argmax(axis=1)]


# ----------------------------------------------------------------------------- real detectors
_LINGUA_NAMES = {"en": "ENGLISH", "id": "INDONESIAN", "ms": "MALAY", "th": "THAI", "vi": "VIETNAMESE",
                 "tl": "TAGALOG", "ta": "TAMIL"}


@lru_cache(maxsize=8)
def _lingua(langs: tuple[str, ...]):
    from lingua import Language, LanguageDetectorBuilder

    return LanguageDetectorBuilder.from_languages(*[getattr(Language, _LINGUA_NAMES[c]) for c in langs]).build()


@lru_cache(maxsize=8)
def _langid(langs: tuple[str, ...]):
    from langid.langid import LanguageIdentifier, model

    ident = LanguageIdentifier.from_modelstring(model, norm_probs=True)
    ident.set_languages(list(langs))
    return ident


def detect_language(text: str, engine: str = "langid", langs: tuple[str, ...] = tuple(_LINGUA_NAMES)
                    ) -> tuple[str, float]:
    """(language code, confidence in [0, 1]) from `lingua` or `langid`, choosing among `langs`."""
    unknown = set(langs) - set(_LINGUA_NAMES)
    if unknown:
        raise ValueError(f"no detector mapping for {sorted(unknown)}; known: {', '.join(_LINGUA_NAMES)}")
    if engine == "langid":
        code, prob = _langid(tuple(langs)).classify(text)
        return code, float(prob)
    if engine == "lingua":
        values = _lingua(tuple(langs)).compute_language_confidence_values(text)
        best = values[0]
        inverse = {v: k for k, v in _LINGUA_NAMES.items()}
        return inverse[best.language.name], float(best.value)
    raise ValueError(f"engine must be 'langid' or 'lingua', got {engine!r}")
