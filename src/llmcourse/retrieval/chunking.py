"""Cutting documents into chunks: the unit a retriever indexes and a prompt quotes.

Too long, and a chunk's embedding blurs several topics and wastes the prompt; too short,
and it loses the context that makes it findable. Three strategies:

* **fixed**: windows of `size` characters every `size - overlap` characters. Simple, cuts
  words and sentences in half.
* **sentence**: whole sentences packed greedily up to `size` characters. Never cuts a
  sentence (one longer than `size` becomes its own chunk).
* **recursive** (LangChain's RecursiveCharacterTextSplitter): split on the coarsest
  separator (paragraphs), recurse with finer ones (lines, sentences, words, characters)
  only on the pieces still too long, then merge neighbouring pieces up to `size`, keeping
  about `overlap` characters of the previous chunk at the start of the next.

Every chunk keeps its document and character span, so "does the chunk contain the answer?"
can be checked on the source text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

__all__ = ["Chunk", "STRATEGIES", "chunk_corpus", "fixed_chunks", "recursive_chunks", "sentence_chunks",
           "split_sentences"]


@dataclass(frozen=True)
class Chunk:
    """A span [start, end) of document `doc_id`; `id` is its place in the chunk list."""

    id: int
    doc_id: str
    text: str
    start: int
    end: int


def _check(text: str, size: int, overlap: int) -> None:
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {type(text).__name__}")
    if size < 1 or not 0 <= overlap < size:
        raise ValueError(f"need size >= 1 and 0 <= overlap < size, got size={size}, overlap={overlap}")


def fixed_chunks(text: str, size: int = 500, overlap: int = 50) -> list[tuple[int, int]]:
    """Spans of `size` characters, each starting `size - overlap` after the previous one."""
    _check(text, size, overlap)
    step = size - overlap
    spans = []
    for start in range(0, max(len(text), 1), step):
        spans.append((start, min(start + size, len(text))))
        if start + size >= len(text):
            break
    return [s for s in spans if text[s[0] : s[1]].strip()]


# a sentence ends at . ! ? (or the Thai/Devanagari/CJK enders) followed by space, or at a line break
_SENTENCE_END = re.compile(r"(?<=[.!?。।])\s+|\n+")


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of `text` (blank ones dropped)."""
    spans, start = [], 0
    for m in _SENTENCE_END.finditer(text):
        spans.append((start, m.start()))
        start = m.end()
    spans.append((start, len(text)))
    return [(a, b) for a, b in spans if text[a:b].strip()]


def sentence_chunks(text: str, size: int = 500, overlap: int = 0) -> list[tuple[int, int]]:
    """Whole sentences packed up to `size` characters; `overlap` > 0 repeats the last sentence."""
    _check(text, size, overlap)
    sentences = split_sentences(text)
    spans, group = [], []
    for s in sentences:
        if group and s[1] - group[0][0] > size:
            spans.append((group[0][0], group[-1][1]))
            group = group[-1:] if overlap else []
        group.append(s)
    if group:
        spans.append((group[0][0], group[-1][1]))
    return spans


SEPARATORS = ("\n\n", "\n", ". ", " ", "")


def _split_keep(text: str, start: int, sep: str) -> list[tuple[int, int]]:
    """Spans of `text` cut after each `sep` (the separator stays at the end of its piece)."""
    if sep == "":
        return [(start + i, start + i + 1) for i in range(len(text))]
    out, pos = [], 0
    while True:
        i = text.find(sep, pos)
        if i < 0:
            out.append((start + pos, start + len(text)))
            break
        out.append((start + pos, start + i + len(sep)))
        pos = i + len(sep)
    return [(a, b) for a, b in out if b > a]


def recursive_chunks(text: str, size: int = 500, overlap: int = 50,
                     separators: Sequence[str] = SEPARATORS) -> list[tuple[int, int]]:
    """Split on the coarsest separator that works, recurse on long pieces, merge up to `size` with overlap."""
    _check(text, size, overlap)

    def pieces(a: int, b: int, seps: Sequence[str]) -> list[tuple[int, int]]:
        if b - a <= size or not seps:
            return [(a, b)]
        sep, rest = seps[0], seps[1:]
        if sep and sep not in text[a:b]:
            return pieces(a, b, rest)
        out = []
        for pa, pb in _split_keep(text[a:b], a, sep):
            out.extend(pieces(pa, pb, rest) if pb - pa > size else [(pa, pb)])
        return out

    spans: list[tuple[int, int]] = []
    current: list[tuple[int, int]] = []
    for piece in pieces(0, len(text), list(separators)):
        if current and piece[1] - current[0][0] > size:
            spans.append((current[0][0], current[-1][1]))
            while current and (current[-1][1] - current[0][0] > overlap or piece[1] - current[0][0] > size):
                current.pop(0)  # keep at most `overlap` characters of the tail
        current.append(piece)
    if current:
        spans.append((current[0][0], current[-1][1]))
    return [(a, b) for a, b in spans if text[a:b].strip()]


STRATEGIES: dict[str, Callable[..., list[tuple[int, int]]]] = {
    "fixed": fixed_chunks, "sentence": sentence_chunks, "recursive": recursive_chunks,
}


def chunk_corpus(docs: dict[str, str] | Sequence[tuple[str, str]], strategy: str = "recursive", size: int = 500,
                 overlap: int = 50) -> list[Chunk]:
    """Chunks of every document ({doc_id: text} or (doc_id, text) pairs), ids numbered in order.

    An empty corpus, or a document with no text, is an error naming it.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown chunking strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")
    items = list(docs.items()) if isinstance(docs, dict) else list(docs)
    if not items:
        raise ValueError("the corpus is empty: give at least one document")
    chunks: list[Chunk] = []
    for doc_id, text in items:
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"document {doc_id!r} has no text; drop it or fix how it was loaded")
        for a, b in STRATEGIES[strategy](text, size, overlap):
            chunks.append(Chunk(len(chunks), str(doc_id), text[a:b], a, b))
    return chunks
