"""Scoring word vectors the standard way: WordSim-353 and the word2vec analogy questions.

* **WordSim-353**: 353 word pairs rated 0-10 by people. Score: Spearman's rank
  correlation between the cosine similarities and the human ratings (1 = same order).
* **Analogies** (`questions-words.txt`): 19,544 questions "a : b :: c : ?" such as
  athens : greece :: bangkok : ?. Score: accuracy of the 3CosAdd answer (the word nearest
  to b - a + c on unit vectors, a, b and c excluded), over the questions whose four words
  are among the `restrict_vocab` most frequent words of the model.

The rules are gensim's (`KeyedVectors.evaluate_word_pairs` / `evaluate_word_analogies`,
case-insensitive), and the tests check that these functions give gensim's numbers. They
answer all questions in a few matrix products instead of one at a time, which makes the
400k-word GloVe table quick to score. Both report *coverage*: a model trained on half a
million words knows few of the test words, and a score over 20 % of the questions is not
comparable with one over 90 %.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from llmcourse.assets.embedding_data import analogies_path, wordsim353_path
from llmcourse.embeddings.vectors import WordVectors


@lru_cache(maxsize=1)
def wordsim353() -> list[tuple[str, str, float]]:
    """(word1, word2, human score) rows of WordSim-353."""
    rows = []
    for line in wordsim353_path().read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        a, b, score = line.split("\t")[:3]
        rows.append((a, b, float(score)))
    return rows


@dataclass(frozen=True)
class AnalogySet:
    sections: tuple[str, ...]  # section name per question
    questions: tuple[tuple[str, str, str, str], ...]  # (a, b, c, expected d), upper case


@lru_cache(maxsize=1)
def analogy_questions() -> AnalogySet:
    """The 19,544 questions of questions-words.txt with their section names."""
    sections, questions, current = [], [], ""
    for line in analogies_path().read_text(encoding="utf-8").splitlines():
        if line.startswith(":"):
            current = line[1:].strip()
        elif line.strip():
            a, b, c, d = line.upper().split()
            sections.append(current)
            questions.append((a, b, c, d))
    return AnalogySet(tuple(sections), tuple(questions))


def _upper_index(vectors: WordVectors, restrict_vocab: int) -> dict[str, int]:
    """Upper-cased word -> row among the first `restrict_vocab` rows (first occurrence wins, as in gensim)."""
    out: dict[str, int] = {}
    for i, w in enumerate(vectors.words[:restrict_vocab]):
        out.setdefault(w.upper(), i)
    return out


def wordsim_spearman(vectors: WordVectors, restrict_vocab: int = 300000) -> tuple[float, float]:
    """(Spearman correlation with human ratings, coverage) on WordSim-353; pairs with unknown words are skipped."""
    from scipy.stats import spearmanr

    index = _upper_index(vectors, restrict_vocab)
    unit = vectors.unit
    model, human = [], []
    rows = wordsim353()
    for a, b, score in rows:
        ia, ib = index.get(a.upper()), index.get(b.upper())
        if ia is None or ib is None:
            continue
        model.append(float(unit[ia] @ unit[ib]))
        human.append(score)
    coverage = len(model) / len(rows)
    if len(model) < 3:
        return float("nan"), coverage
    return float(spearmanr(human, model).statistic), coverage


def analogy_results(vectors: WordVectors, restrict_vocab: int = 30000, chunk: int = 512) -> dict[str, tuple[int, int]]:
    """(correct, answered) per section of questions-words.txt, plus "total"."""
    index = _upper_index(vectors, restrict_vocab)
    qs = analogy_questions()
    keep = [i for i, q in enumerate(qs.questions) if all(w in index for w in q)]
    out: dict[str, list[int]] = {s: [0, 0] for s in dict.fromkeys(qs.sections)}
    if keep:
        ids = np.array([[index[w] for w in qs.questions[i]] for i in keep])  # (Q, 4)
        unit = vectors.unit[: min(restrict_vocab, len(vectors))]  # (V', D)
        correct = np.zeros(len(keep), dtype=bool)
        for s in range(0, len(keep), chunk):
            a, b, c, d = ids[s : s + chunk].T  # (q,) each
            target = unit[b] - unit[a] + unit[c]  # (q, D)
            sims = target @ unit.T  # (q, V')
            rows = np.arange(len(a))
            for col in (a, b, c):
                sims[rows, col] = -np.inf
            correct[s : s + chunk] = sims.argmax(axis=1) == d
        for i, ok in zip(keep, correct):
            out[qs.sections[i]][0] += int(ok)
            out[qs.sections[i]][1] += 1
    total = [sum(v[0] for v in out.values()), sum(v[1] for v in out.values())]
    result = {k: (v[0], v[1]) for k, v in out.items()}
    result["total"] = (total[0], total[1])
    return result


def evaluate_word_vectors(vectors: WordVectors, restrict_vocab: int = 30000) -> dict[str, float]:
    """WordSim-353 Spearman and analogy accuracy of `vectors`, each with its coverage."""
    spearman, ws_cov = wordsim_spearman(vectors, restrict_vocab=max(restrict_vocab, 300000))
    correct, answered = analogy_results(vectors, restrict_vocab)["total"]
    return {
        "wordsim353_spearman": spearman,
        "wordsim353_coverage": ws_cov,
        "analogy_accuracy": correct / answered if answered else 0.0,
        "analogy_coverage": answered / len(analogy_questions().questions),
        "vocab": len(vectors),
    }
