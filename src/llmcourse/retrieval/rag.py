"""Retrieval-augmented generation with citations, and how to score it.

RAG answers a question in three steps:

1. **Retrieve** the k chunks most relevant to the question (vector search, BM25, or both
   fused by RRF).
2. **Prompt** the language model with the chunks as numbered sources:

       Sources:
       [1] Laos. The currency of Laos is the Laotian Kip (LAK). ...
       [2] ...
       Question: What is the currency of Laos?
       Answer: Laotian Kip [1]

   and ask it to answer and cite the source number in brackets.
3. **Check**: the answer against the truth (exact match, token F1, SQuAD-style: lower
   case, no punctuation or articles; and whether the answer appears anywhere in the reply,
   for models that answer in a sentence) and each citation against its chunk (citation
   precision: does the cited chunk contain the answer?).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

__all__ = ["RAGAnswer", "answer_in", "build_prompt", "citation_precision", "closed_book_prompt", "exact_match",
           "normalize_answer", "parse_answer", "token_f1"]

# The worked example is about a country that does not exist, so it gives away no fact of the
# corpus (an example about a real country answers that country's questions for the model).
FEW_SHOT = ("Sources:\n[1] Peru is a country in South America.\n"
            "[2] Ruritania. The currency of Ruritania is the Ruritanian Crown (RUC).\n"
            "Question: What is the currency of Ruritania?\nAnswer: Ruritanian Crown [2]\n\n")


def build_prompt(question: str, chunks: Sequence[str], few_shot: bool = True) -> str:
    """The prompt: numbered sources, the question, "Answer:" (one worked example first by default)."""
    if not question.strip():
        raise ValueError("the question is empty")
    sources = "\n".join(f"[{i}] {c.strip()}" for i, c in enumerate(chunks, start=1))
    return (FEW_SHOT if few_shot else "") + f"Sources:\n{sources}\nQuestion: {question}\nAnswer:"


def closed_book_prompt(question: str) -> str:
    """The prompt without sources (what a fine-tuned model answers from memory)."""
    return f"Question: {question}\nAnswer:"


_CITE = re.compile(r"\[(\d+)\]")


@dataclass
class RAGAnswer:
    text: str  # the answer without its citations
    citations: list[int]  # 1-based source numbers, in order of appearance


def parse_answer(generated: str) -> RAGAnswer:
    """Split "Laotian Kip [1][3]" (first line only) into the answer text and its citations."""
    line = generated.strip().split("\n")[0]
    cites = [int(c) for c in _CITE.findall(line)]
    return RAGAnswer(_CITE.sub("", line).strip(" .,;"), list(dict.fromkeys(cites)))


def normalize_answer(s: str) -> str:
    """SQuAD's normalisation: lower case, no punctuation, no English articles, single spaces."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def exact_match(prediction: str, answers: Sequence[str]) -> float:
    """1.0 if the normalised prediction equals any normalised accepted answer."""
    p = normalize_answer(prediction)
    return float(any(p == normalize_answer(a) for a in answers))


def answer_in(prediction: str, answers: Sequence[str]) -> float:
    """1.0 if a normalised accepted answer appears in the normalised prediction as whole words.

    "The three-letter code of Germany's currency is EUR" holds "EUR"; "EURO" does not. Looser
    than exact match, it credits a small model that answers in a sentence.
    """
    p = f" {normalize_answer(prediction)} "
    return float(any(a and f" {a} " in p for a in (normalize_answer(x) for x in answers)))


def token_f1(prediction: str, answers: Sequence[str]) -> float:
    """Best token-overlap F1 against the accepted answers (SQuAD)."""
    best = 0.0
    pred = normalize_answer(prediction).split()
    for a in answers:
        gold = normalize_answer(a).split()
        common = sum((Counter(pred) & Counter(gold)).values())
        if common == 0:
            continue
        precision, recall = common / len(pred), common / len(gold)
        best = max(best, 2 * precision * recall / (precision + recall))
    return best


def citation_precision(citations: Sequence[int], chunks: Sequence[str], answers: Sequence[str]) -> float | None:
    """Share of cited sources (1-based) that contain an accepted answer; None when nothing is cited."""
    if not citations:
        return None
    norm_answers = [normalize_answer(a) for a in answers if a.strip()]
    good = 0
    for c in citations:
        if 1 <= c <= len(chunks):
            text = normalize_answer(chunks[c - 1])
            good += any(a and a in text for a in norm_answers)
    return good / len(citations)
