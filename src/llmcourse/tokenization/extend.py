"""Vocabulary extension: teach an existing tokenizer new merges, and give the model rows for them.

An English-centric tokenizer spends many tokens per Thai or Tamil word (GPT-2 often
needs one token per *byte*). Retraining the tokenizer would orphan every embedding the
model learned. Extension keeps all of it:

1. Tokenize the new-language text with the *existing* tokenizer (its pre-tokenizer and
   all its merges): each piece is now a sequence of old token ids.
2. Learn more merges on those sequences with the same BPE trainer (`train_fast`, starting
   from the old ids); each new merge joins two existing tokens into a new one.
3. Append the merges *after* the old ones. BPE applies merges in order, so the old
   merges run first and any text the old tokenizer handled without the new merges comes
   out exactly as before: same ids for every such text.
4. Grow the model's embedding matrix (and output layer) by one row per new token, each
   initialised to the mean of the old rows, so a new token starts as "an average token"
   rather than random noise. Old rows are untouched, so logits on old-token text do not
   change at all.

Works for Hugging Face byte-level BPE tokenizers (GPT-2, RoBERTa, Llama 3, Qwen...).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

from llmcourse.assets.registry import require
from llmcourse.tokenization.train_fast import train_fast


@dataclass
class Extension:
    """What `extend_tokenizer` made: the new tokenizer and the tokens it added."""

    tokenizer: object  # a transformers tokenizer
    old_vocab_size: int
    new_tokens: list[str] = field(default_factory=list)  # readable text of each added token
    merges: list[tuple[str, str]] = field(default_factory=list)  # in the tokenizer's own alphabet
    dropped: int = 0  # learned merges skipped because their text was already a token

    @property
    def new_vocab_size(self) -> int:
        return self.old_vocab_size + len(self.new_tokens)


def _byte_level_bpe_json(tokenizer) -> dict:
    backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
    data = json.loads(backend.to_str())
    model, pre = data.get("model") or {}, data.get("pre_tokenizer") or {}
    pres = [pre] + list(pre.get("pretokenizers", []))
    if model.get("type") != "BPE" or not any(p.get("type") == "ByteLevel" for p in pres):
        raise ValueError(f"extend_tokenizer works on byte-level BPE tokenizers (GPT-2 style); this one has a "
                         f"{model.get('type')} model and a {pre.get('type')} pre-tokenizer")
    return data


def extend_tokenizer(tokenizer, texts: str | Iterable[str], n_new: int, min_count: int = 2,
                     progress: bool = False) -> Extension:
    """Learn up to `n_new` merges on `texts` on top of `tokenizer` (a HF byte-level BPE tokenizer).

    Pairs seen fewer than `min_count` times are not merged. Returns an `Extension` whose
    `.tokenizer` is a new transformers tokenizer: old ids unchanged, new ids after them.
    """
    tokenizers = require("tokenizers")
    transformers = require("transformers")
    if not isinstance(n_new, int) or n_new < 1:
        raise ValueError(f"n_new must be a positive int, got {n_new!r}")
    data = _byte_level_bpe_json(tokenizer)
    backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
    texts = [texts] if isinstance(texts, str) else list(texts)
    if not any(texts):
        raise ValueError("no text to learn new merges from; pass some text")

    # 1. pieces of the text, each as old token ids
    pieces: Counter[str] = Counter()
    for text in texts:
        if backend.normalizer is not None:
            text = backend.normalizer.normalize_str(text)
        pieces.update(p for p, _ in backend.pre_tokenizer.pre_tokenize_str(text))
    words = {tuple(t.id for t in backend.model.tokenize(p)): 0 for p in pieces}
    for p, c in pieces.items():
        words[tuple(t.id for t in backend.model.tokenize(p))] += c

    # 2. more merges, numbered after every existing id
    old_size = backend.get_vocab_size(with_added_tokens=True)
    learned = train_fast(words, n_new, first_id=old_size, progress=progress, min_count=min_count)

    # 3. append them to the vocabulary and the merge list
    vocab: dict[str, int] = data["model"]["vocab"]
    id_to_str = {i: s for s, i in vocab.items()}
    ext = Extension(tokenizer=None, old_vocab_size=old_size)
    next_id = old_size
    for k, ((a, b), _count) in enumerate(learned):
        sa, sb = id_to_str.get(a), id_to_str.get(b)
        if sa is None or sb is None or sa + sb in vocab:
            ext.dropped += 1  # its text is already a token, or it builds on a dropped merge
            continue
        vocab[sa + sb] = next_id
        id_to_str[old_size + k] = sa + sb  # the id the trainer used, for later merges
        ext.merges.append((sa, sb))
        next_id += 1
    merges = data["model"]["merges"]
    as_strings = bool(merges) and isinstance(merges[0], str)
    merges.extend(f"{a} {b}" if as_strings else [a, b] for a, b in ext.merges)

    new_backend = tokenizers.Tokenizer.from_str(json.dumps(data))
    specials = {k: getattr(tokenizer, k, None) for k in ("bos_token", "eos_token", "unk_token", "pad_token")}
    ext.tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=new_backend, **{k: v for k, v in specials.items() if v is not None})
    ext.new_tokens = [new_backend.decode([i]) for i in range(old_size, next_id)]
    return ext


def resize_embeddings_mean(model, new_vocab_size: int):
    """Grow `model`'s token embeddings (and untied output layer) to `new_vocab_size` rows.

    New rows are the mean of the old rows (and a new output bias, if any, the mean bias).
    Old rows keep their exact values, so the logits of old tokens do not change.
    Returns the model (changed in place).
    """
    torch = require("torch")
    emb = model.get_input_embeddings()
    old_n = emb.weight.shape[0]
    if new_vocab_size < old_n:
        raise ValueError(f"new_vocab_size {new_vocab_size} is smaller than the model's {old_n} rows; "
                         f"this only grows the vocabulary")
    out = model.get_output_embeddings()
    tied = out is not None and out.weight is emb.weight
    mean_in = emb.weight.detach().mean(dim=0)  # (C,)
    mean_out = None if out is None or tied else out.weight.detach().mean(dim=0)
    mean_bias = None if out is None or getattr(out, "bias", None) is None else out.bias.detach().mean()
    model.resize_token_embeddings(new_vocab_size, mean_resizing=False)  # old rows copied, new rows random
    with torch.no_grad():
        model.get_input_embeddings().weight[old_n:] = mean_in
        out = model.get_output_embeddings()
        if mean_out is not None:
            out.weight[old_n:] = mean_out
        if mean_bias is not None:
            out.bias[old_n:] = mean_bias
    return model
