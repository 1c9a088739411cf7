"""BM25 against bm25s (Lucene variant), nDCG against scikit-learn, RRF, recall/MRR, and chunking."""

import numpy as np
import pytest

from llmcourse.retrieval import (
    BM25, chunk_corpus, fixed_chunks, mean_reciprocal_rank, ndcg_at_k, recall_at_k, reciprocal_rank_fusion,
    recursive_chunks, sentence_chunks,
)


def corpus(n=60, seed=0):
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(40)]
    p = 1 / np.arange(1, 41)
    p /= p.sum()  # Zipf-like: some words everywhere, some rare
    return [list(rng.choice(words, size=rng.integers(1, 30), p=p)) for _ in range(n)]


@pytest.mark.parametrize("k1,b", [(1.5, 0.75), (1.2, 0.3), (2.0, 1.0)])
def test_bm25_scores_equal_bm25s_lucene(k1, b):
    bm25s = pytest.importorskip("bm25s")
    docs = corpus()
    ours = BM25(k1=k1, b=b).fit(docs)
    ref = bm25s.BM25(k1=k1, b=b, method="lucene")
    ref.index(docs, show_progress=False)
    rng = np.random.default_rng(1)
    for _ in range(10):
        query = list(rng.choice([f"w{i}" for i in range(45)], size=rng.integers(1, 6)))  # w40..44 unknown
        known = [t for t in query if t in ours._postings]
        expected = ref.get_scores(known) if known else np.zeros(len(docs))
        assert np.allclose(ours.scores(query), expected, rtol=1e-5, atol=1e-6), query


def test_bm25_ranks_like_rank_bm25_okapi_on_rare_terms():
    rank_bm25 = pytest.importorskip("rank_bm25")
    docs = corpus(seed=3)
    ours = BM25().fit(docs)
    ref = rank_bm25.BM25Okapi(docs, k1=1.5, b=0.75)
    q = ["w30", "w35"]
    # Okapi's idf differs (epsilon floor) and has the (k1 + 1) factor; rare terms have positive idf in
    # both, so the top documents agree
    assert set(np.argsort(-ours.scores(q))[:3]) == set(np.argsort(-ref.get_scores(q))[:3])


def test_bm25_bad_input():
    with pytest.raises(ValueError, match="empty"):
        BM25().fit([])
    with pytest.raises(ValueError, match="no document has any token"):
        BM25().fit([[], []])
    with pytest.raises(TypeError, match="list of tokens"):
        BM25().fit(["a whole string"])
    bm = BM25().fit([["a", "b"], []])  # an empty document is allowed: it scores 0
    assert bm.scores(["a"])[1] == 0
    with pytest.raises(TypeError, match="list of tokens"):
        bm.scores("a b")
    with pytest.raises(ValueError, match="fit"):
        BM25().scores(["a"])
    with pytest.raises(ValueError, match="k must be"):
        bm.search(["a"], 3)


def test_ndcg_equals_sklearn():
    from sklearn.metrics import ndcg_score

    rng = np.random.default_rng(0)
    for k in (None, 1, 3, 10):
        y_true = rng.integers(0, 4, size=(7, 12)).astype(float)
        y_true[0] = 0  # a query with nothing relevant
        y_score = rng.standard_normal((7, 12))  # no ties
        assert ndcg_at_k(y_true, y_score, k) == pytest.approx(ndcg_score(y_true, y_score, k=k), abs=1e-12)


def test_recall_and_mrr_by_hand():
    ranked = [[3, 1, 2], [5, 6, 7], [9, 8, 4]]
    relevant = [{1}, {7, 0}, {4}]
    assert recall_at_k(ranked, relevant, 1) == pytest.approx(0.0)
    assert recall_at_k(ranked, relevant, 3) == pytest.approx((1 + 0.5 + 1) / 3)
    assert mean_reciprocal_rank(ranked, relevant) == pytest.approx((1 / 2 + 1 / 3 + 1 / 3) / 3)
    with pytest.raises(ValueError, match="no relevant"):
        recall_at_k([[1]], [set()], 1)


def test_rrf_by_hand():
    fused = reciprocal_rank_fusion([[1, 2, 3], [3, 1, -1]], k=60)
    scores = dict(fused)
    assert scores[1] == pytest.approx(1 / 61 + 1 / 62)
    assert scores[3] == pytest.approx(1 / 63 + 1 / 61)
    assert scores[2] == pytest.approx(1 / 62)
    assert [d for d, _ in fused] == [1, 3, 2] and -1 not in scores


TEXT = ("Bangkok is the capital of Thailand. It lies on the Chao Phraya river.\n\n"
        "Jakarta is the capital of Indonesia! It is on Java. Hanoi is in Vietnam?\n"
        "Kuala Lumpur is the capital of Malaysia. " + "Filler words go here. " * 20)


@pytest.mark.parametrize("strategy", [fixed_chunks, sentence_chunks, recursive_chunks])
def test_chunks_cover_the_text_within_size(strategy):
    spans = strategy(TEXT, 120, 20)
    covered = np.zeros(len(TEXT), bool)
    for a, b in spans:
        covered[a:b] = True
    assert all(c or TEXT[i].isspace() for i, c in enumerate(covered))  # nothing but spaces is lost
    if strategy is not sentence_chunks:
        assert max(b - a for a, b in spans) <= 120
    assert spans == sorted(spans)


def test_sentence_chunks_never_cut_a_sentence():
    for a, b in sentence_chunks(TEXT, 100):
        assert TEXT[b - 1] in ".!?" or b == len(TEXT.rstrip()) or TEXT[b] == "\n"


def test_recursive_prefers_paragraphs_and_overlaps():
    spans = recursive_chunks(TEXT, 100, 30)
    assert TEXT[spans[0][0] : spans[0][1]].endswith("\n\n")  # the first paragraph is a chunk of its own
    assert any(spans[i + 1][0] < spans[i][1] for i in range(len(spans) - 1))  # some overlap


def test_chunk_corpus_bad_input():
    with pytest.raises(ValueError, match="empty"):
        chunk_corpus({})
    with pytest.raises(ValueError, match="'b' has no text"):
        chunk_corpus({"a": "text", "b": "   "})
    with pytest.raises(ValueError, match="unknown chunking"):
        chunk_corpus({"a": "x"}, "paragraphs")
    chunks = chunk_corpus({"a": TEXT, "b": "Short."}, "sentence", 100)
    assert [c.id for c in chunks] == list(range(len(chunks)))
    assert all(TEXT[c.start : c.end] == c.text for c in chunks if c.doc_id == "a")
