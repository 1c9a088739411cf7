"""Embeddings (1.3): word2vec against autograd and gensim, evaluation against gensim's evaluators,
contextual vectors, the real mteb evaluator on in-memory tasks, and bad input."""

from __future__ import annotations

import math
import socket

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from llmcourse.embeddings.vectors import UnknownWordError, WordVectors, analogy_index, cosine_topk, project_2d
from llmcourse.embeddings.word2vec import (
    SkipGram, Vocab, Word2VecConfig, keep_probabilities, negative_table, sample_negatives, sgns_grads, sgns_loss,
    skipgram_pairs, train_word2vec,
)
from llmcourse.exercises.registry import run_exercise


@pytest.fixture(scope="module")
def glove20k():
    from llmcourse.embeddings.glove import load_glove

    return load_glove(limit=20000)


# ------------------------------------------------------------------ SGNS loss and gradients

def _direct_loss(c, o, n):
    """The SGNS loss written out with plain ops: -log σ(c·o) - Σ log σ(-c·n_k), summed over the batch."""
    pos = torch.log(torch.sigmoid((c * o).sum(-1)))
    neg = torch.log(torch.sigmoid(-(c.unsqueeze(1) * n).sum(-1))).sum(-1)
    return -(pos + neg).sum()


@pytest.mark.parametrize("b,k,d", [(1, 1, 3), (7, 5, 16), (32, 10, 8)])
def test_sgns_loss_and_hand_gradients_match_autograd(b, k, d):
    g = torch.Generator().manual_seed(b * 100 + k)
    c, o, n = (torch.randn(*s, generator=g, dtype=torch.float64) * 0.7 for s in ((b, d), (b, d), (b, k, d)))
    leaves = [t.clone().requires_grad_(True) for t in (c, o, n)]
    direct = _direct_loss(*leaves)
    direct.backward()
    ours = [t.clone().requires_grad_(True) for t in (c, o, n)]
    loss = sgns_loss(*ours, reduction="sum")
    loss.backward()
    assert torch.allclose(loss, direct, atol=1e-10)
    assert torch.allclose(sgns_loss(c, o, n), direct / b, atol=1e-10)  # mean
    assert sgns_loss(c, o, n, reduction="none").shape == (b,)
    for got, ref in zip(ours, leaves):
        assert torch.allclose(got.grad, ref.grad, atol=1e-10)
    # the update rule of the original C code, derived by hand
    for hand, ref in zip(sgns_grads(c, o, n), leaves):
        assert torch.allclose(hand, ref.grad, atol=1e-10)


def test_skipgram_sparse_gradients_accumulate_repeated_words():
    """Repeated ids in a batch must add up their gradients in the embedding rows."""
    model = SkipGram(6, 4, seed=3)
    with torch.no_grad():
        model.out.weight.normal_()
    centre, context = torch.tensor([0, 0, 2]), torch.tensor([1, 3, 1])
    neg = torch.tensor([[4, 5], [1, 4], [5, 5]])
    model(centre, context, neg).backward()
    w_in = model.inp.weight.detach().clone().requires_grad_(True)
    w_out = model.out.weight.detach().clone().requires_grad_(True)
    _direct_loss(w_in[centre], w_out[context], w_out[neg]).backward()
    assert torch.allclose(model.inp.weight.grad.to_dense(), w_in.grad, atol=1e-6)
    assert torch.allclose(model.out.weight.grad.to_dense(), w_out.grad, atol=1e-6)


def test_sgns_loss_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"\(B, K, D\)"):
        sgns_loss(torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(2, 3))


# ------------------------------------------------------------------ vocabulary, subsampling, negatives vs gensim

@pytest.fixture(scope="module")
def gensim_vocab_model():
    from gensim.models import Word2Vec

    from llmcourse.assets.embedding_data import lee_corpus

    sentences = lee_corpus()[:120]
    model = Word2Vec(vector_size=10, min_count=3, sample=1e-3, sg=1, negative=5, ns_exponent=0.75, workers=1)
    model.build_vocab(sentences)
    return sentences, model


def test_vocab_order_subsampling_and_negative_table_match_gensim(gensim_vocab_model):
    sentences, model = gensim_vocab_model
    vocab = Vocab.build(sentences, min_count=3)
    assert vocab.words == list(model.wv.index_to_key)
    gensim_keep = np.array([model.wv.get_vecattr(w, "sample_int") for w in vocab.words], dtype=np.float64) / (2**32 - 1)
    assert np.allclose(keep_probabilities(vocab.counts, 1e-3), gensim_keep, atol=1e-8)
    assert np.array_equal(negative_table(vocab.counts, 0.75), model.cum_table)


def test_negative_sampling_follows_unigram_power():
    counts = np.array([1000, 100, 10, 1])
    table = negative_table(counts, 0.75)
    draws = sample_negatives(table, np.full(20000, -1), 5, np.random.default_rng(0)).ravel()
    freq = np.bincount(draws, minlength=4) / draws.size
    expected = counts**0.75 / (counts**0.75).sum()
    assert np.allclose(freq, expected, atol=0.01)


def test_negatives_avoid_the_true_context_word():
    table = negative_table(np.array([10, 1]), 1.0)
    neg = sample_negatives(table, np.zeros(1000, dtype=np.int64), 3, np.random.default_rng(1))
    assert (neg == 0).mean() < 0.9 * (10 / 11)  # redrawing clashes makes word 0 rarer than its share


@settings(max_examples=40, deadline=None)
@given(lengths=st.lists(st.integers(0, 12), min_size=1, max_size=6), window=st.integers(1, 4),
       seed=st.integers(0, 10_000))
def test_skipgram_pairs_stay_inside_the_window_and_sentence(lengths, window, seed):
    # token id = global position, so a pair tells its distance and its sentence
    starts = np.cumsum([0] + lengths[:-1])
    sentences = [np.arange(s, s + n) for s, n in zip(starts, lengths)]
    sentence_of = np.repeat(np.arange(len(lengths)), lengths)
    keep = np.ones(max(1, sum(lengths)))
    centres, contexts = skipgram_pairs(sentences, window, keep, np.random.default_rng(seed))
    dist = np.abs(centres - contexts)
    assert ((dist >= 1) & (dist <= window)).all()
    assert (sentence_of[centres] == sentence_of[contexts]).all()
    # every centre sees at least its immediate neighbours (the window shrinks to 1 at least)
    need = sum(2 * max(0, n - 1) for n in lengths)
    assert len(centres) >= need
    if window == 1:
        assert len(centres) == need


def test_word2vec_learns_topics():
    """Two disjoint 'topics': after training, words of one topic are closer to each other."""
    rng = np.random.default_rng(0)
    fruit = [f"fruit{i}" for i in range(8)]
    metal = [f"metal{i}" for i in range(8)]
    sentences = [list(rng.choice(fruit if i % 2 else metal, 12)) for i in range(300)]
    res = train_word2vec(sentences, Word2VecConfig(vector_size=16, min_count=1, sample=0, epochs=3, batch_size=256,
                                                   alpha=0.05), progress=False)
    assert res.losses[-1] < res.losses[0]
    wv = res.vectors
    within = np.mean([wv.similarity(a, b) for a in fruit for b in fruit if a != b])
    across = np.mean([wv.similarity(a, b) for a in fruit for b in metal])
    assert within > across + 0.3


@pytest.mark.parametrize("sentences,err,msg", [
    ([], ValueError, "empty"),
    ([[]], ValueError, "empty"),
    ("the cat sat", TypeError, "token lists"),
    ([["a", "b"], ["c"]], ValueError, "min_count"),
])
def test_train_word2vec_bad_input(sentences, err, msg):
    with pytest.raises(err, match=msg):
        train_word2vec(sentences, Word2VecConfig(min_count=5), progress=False)


def test_toy_corpus_blames_subsampling_not_sentence_length():
    """Ten tokens: subsampling (sample=1e-3) keeps about half a token per epoch. The error says so,
    and with sample=0 the same corpus trains."""
    toy = [["hello", "world"]] * 5
    with pytest.raises(ValueError, match=r"subsampling.*sample=0"):
        train_word2vec(toy, Word2VecConfig(epochs=1, vector_size=8), progress=False)
    assert train_word2vec(toy, Word2VecConfig(epochs=1, vector_size=8, sample=0), progress=False).pairs_per_epoch > 0
    with pytest.raises(ValueError, match="no sentence has two words"):
        train_word2vec([["a"], ["a"], ["a"], ["a"], ["a"]], Word2VecConfig(epochs=1, min_count=1), progress=False)


def test_train_word2vec_with_a_learner_loss_equals_the_library():
    """A mean-reduced loss (the exercise's) trains exactly like the library's summed one."""
    from llmcourse.assets.embedding_data import lee_corpus

    sentences = lee_corpus()[:60]
    cfg = Word2VecConfig(vector_size=16, epochs=1, batch_size=512)
    lib = train_word2vec(sentences, cfg, progress=False)
    mean_loss = lambda c, o, n: sgns_loss(c, o, n)  # noqa: E731
    learner = train_word2vec(sentences, cfg, progress=False, loss_fn=mean_loss)
    assert np.allclose(lib.vectors.vectors, learner.vectors.vectors, atol=1e-5)


def test_vocab_follows_the_tokenizer_protocol():
    vocab = Vocab.build([["the", "cat"], ["the", "dog"]], min_count=1)
    assert vocab.vocab_size == 3 and vocab.encode("the dog flies") == [vocab.index["the"], vocab.index["dog"]]
    assert vocab.decode(vocab.encode("the cat")) == "the cat"
    with pytest.raises(TypeError, match="encode_sentences"):
        vocab.encode([["the", "cat"]])
    with pytest.raises(ValueError, match="unknown word ids"):
        vocab.decode([7])


# ------------------------------------------------------------------ word vectors, GloVe, evaluation

def test_unknown_word_is_a_clear_error(glove20k):
    with pytest.raises(UnknownWordError, match="not in the vocabulary") as info:
        glove20k["kuala lumpur"]
    assert isinstance(info.value, KeyError)
    with pytest.raises(KeyError, match="lower case"):
        glove20k.similarity("Jakarta", "bangkok")
    assert "jakarta" in glove20k and "Jakarta" not in glove20k


def test_cosine_topk_and_analogy_against_sklearn_and_gensim(glove20k):
    from sklearn.metrics.pairwise import cosine_similarity

    small = glove20k.restrict(3000)
    q = small["singapore"]
    idx, sims = cosine_topk(q, small.vectors, 5)
    ref = cosine_similarity(q[None], small.vectors)[0]
    assert list(idx) == list(np.argsort(-ref)[:5])
    assert np.allclose(sims, np.sort(ref)[::-1][:5], atol=1e-5)
    kv = small.to_keyedvectors()
    for a, b, c in [("france", "paris", "japan"), ("man", "king", "woman"), ("china", "beijing", "japan")]:
        want = kv.most_similar(positive=[b, c], negative=[a], topn=1)[0][0]
        assert small.analogy(a, b, c)[0][0] == want
        assert small.words[analogy_index(small.vectors, small.id(a), small.id(b), small.id(c))] == want


def test_glove_knows_sea_capitals(glove20k):
    assert glove20k.analogy("indonesia", "jakarta", "thailand")[0][0] == "bangkok"
    assert "bangkok" in [w for w, _ in glove20k.nearest("jakarta", 10)]


def test_evaluation_matches_gensim(glove20k):
    import logging

    from llmcourse.assets.embedding_data import analogies_path, wordsim353_path
    from llmcourse.embeddings.evaluation import analogy_results, wordsim_spearman

    small = glove20k.restrict(4000)
    kv = small.to_keyedvectors()
    logging.getLogger("gensim").setLevel(logging.ERROR)
    acc, sections = kv.evaluate_word_analogies(str(analogies_path()), restrict_vocab=2000)
    ours = analogy_results(small, restrict_vocab=2000)
    total = sections[-1]
    assert ours["total"] == (len(total["correct"]), len(total["correct"]) + len(total["incorrect"]))
    for s in sections[:-1]:
        assert ours[s["section"]] == (len(s["correct"]), len(s["correct"]) + len(s["incorrect"]))
    _, (spearman, _), oov = kv.evaluate_word_pairs(str(wordsim353_path()))
    ours_s, coverage = wordsim_spearman(small)
    assert math.isclose(ours_s, spearman, abs_tol=1e-9)
    assert math.isclose(coverage, 1 - oov / 100, abs_tol=1e-9)


def test_word_vectors_save_load_roundtrip(tmp_path, glove20k):
    small = glove20k.restrict(50)
    small.save(tmp_path / "v.safetensors")
    back = WordVectors.load(tmp_path / "v.safetensors")
    assert back.words == small.words and np.array_equal(back.vectors, small.vectors)


def test_word_vectors_bad_input():
    with pytest.raises(ValueError, match="at least one word"):
        WordVectors([], np.zeros((0, 3)))
    with pytest.raises(ValueError, match="one \\(D,\\) row per word"):
        WordVectors(["a", "b"], np.zeros((3, 4)))
    with pytest.raises(ValueError, match="query"):
        cosine_topk(np.zeros(3), np.zeros((4, 5)))


def test_project_2d_is_pca():
    from sklearn.decomposition import PCA

    x = np.random.default_rng(0).standard_normal((30, 6)) * np.arange(1, 7)
    ours, method = project_2d(x, "pca")
    ref = PCA(2).fit_transform(x)
    assert method == "pca"
    assert np.allclose(np.abs(ours), np.abs(ref), atol=1e-8)
    with pytest.raises(ValueError, match="two points"):
        project_2d(x[:1])


# ------------------------------------------------------------------ contextual vectors

def test_batched_context_vectors_equal_one_sentence_at_a_time(tiny_lm):
    from llmcourse.embeddings.contextual import word_vectors_in_context

    model, tok = tiny_lm
    sents = ["The bank was closed.", "We sat on the river bank after a very long walk in the sun."]
    both = word_vectors_in_context(model, tok, sents, "bank", layer=-1)
    for i, s in enumerate(sents):  # one sentence, no padding at all
        alone = word_vectors_in_context(model, tok, [s], "bank", layer=-1)
        assert np.allclose(both[i], alone[0], atol=1e-5)
    # the direct computation: hidden state of the tokens that spell " bank"
    enc = tok(sents[0], return_offsets_mapping=True, return_tensors="pt")
    offsets = enc.pop("offset_mapping")[0].tolist()
    start = sents[0].index("bank")
    hit = [i for i, (s, e) in enumerate(offsets) if s < start + 4 and e > start and e > s]
    with torch.no_grad():
        h = model(**enc, output_hidden_states=True).hidden_states[-1][0]
    assert np.allclose(both[0], h[hit].mean(0).numpy(), atol=1e-5)


def test_context_vectors_bad_input(tiny_lm):
    from llmcourse.embeddings.contextual import sense_separation, word_vectors_in_context

    model, tok = tiny_lm
    with pytest.raises(ValueError, match="does not occur"):
        word_vectors_in_context(model, tok, ["no such word here"], "bank")
    with pytest.raises(ValueError, match="at least one sentence"):
        word_vectors_in_context(model, tok, [], "bank")
    with pytest.raises(ValueError, match="out of range"):
        word_vectors_in_context(model, tok, ["a bank"], "bank", layer=99)
    with pytest.raises(ValueError, match="two senses"):
        sense_separation(np.ones((2, 3)), ["a", "a"])


def test_sense_separation_of_a_static_vector_is_zero():
    from llmcourse.embeddings.contextual import sense_separation

    same = np.tile(np.random.default_rng(0).standard_normal(5), (4, 1))
    assert abs(sense_separation(same, ["x", "x", "y", "y"])["gap"]) < 1e-12


@pytest.mark.slow
def test_minilm_separates_the_senses_of_bank():
    from llmcourse.embeddings.contextual import SENSE_SETS, load_minilm_encoder, sense_separation, word_vectors_in_context

    model, tok = load_minilm_encoder()
    bank = SENSE_SETS[0]
    sep = sense_separation(word_vectors_in_context(model, tok, bank.sentences, bank.word), bank.senses)
    assert sep["gap"] > 0.02 and sep["nn_accuracy"] >= 0.75


# ------------------------------------------------------------------ mteb on in-memory tasks

class _FactOracle:
    """An encoder that knows the answer: one-hot of the CLDR fact (or country) a text talks about."""

    def __new__(cls, langs):
        from llmcourse.assets import embedding_data as data
        from llmcourse.embeddings.encoders import CachedEncoder, _meta

        table = {}
        for f in data.sample_facts(400, seed=0):
            for l in langs:
                table[data.fact_text(f, l)] = ("fact", f)
        for code, names in data.parallel_names("territory").items():
            table[data.territory_card(code)] = ("country", code)
            for l in langs:
                table[names[l]] = ("country", code)
        keys = {v: i for i, v in enumerate(dict.fromkeys(table.values()))}

        def embed(texts, kind):
            out = np.zeros((len(texts), len(keys) + 1), dtype=np.float32)
            for i, t in enumerate(texts):
                out[i, keys[table[t]] if t in table else -1] = 1.0
            return out

        return CachedEncoder(embed, _meta("oracle", len(keys) + 1, None))


def test_mteb_runs_in_memory_tasks_offline(glove20k, monkeypatch):
    from llmcourse.embeddings.encoders import AveragedWordVectorsEncoder
    from llmcourse.embeddings.mteb_tasks import offline_tasks, run_mteb, scores_table

    def no_network(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    langs = ["en", "th"]
    tasks = offline_tasks(langs, n=8, lee_docs=6)
    names = {t.metadata.name for t in tasks}
    assert names == {"LeeDocumentSTS", "SeaFactSTS", "SeaBitextMining", "SeaCountryRetrieval",
                     "SeaNameClassification", "SeaNameClustering"}
    glove = AveragedWordVectorsEncoder(glove20k)
    oracle = _FactOracle(langs)
    rows = run_mteb([glove, oracle], tasks)
    got = {(r["model"], r["task"], r["lang"]) for r in rows}
    for model in (glove.name, oracle.name):
        assert (model, "LeeDocumentSTS", "en") in got
        assert (model, "SeaBitextMining", "th") in got
        for task in ("SeaFactSTS", "SeaCountryRetrieval", "SeaNameClassification", "SeaNameClustering"):
            assert {(model, task, "en"), (model, task, "th")} <= got
    score = {(r["model"], r["task"], r["lang"]): r["score"] for r in rows}
    assert all(np.isfinite(score[(glove.name, t, "en")]) for t in ("LeeDocumentSTS", "SeaFactSTS", "SeaCountryRetrieval"))
    # the encoder that knows the facts mines every translation and ranks every card first
    assert score[(oracle.name, "SeaBitextMining", "th")] == pytest.approx(1.0)
    assert score[(oracle.name, "SeaCountryRetrieval", "th")] == pytest.approx(1.0)
    # English GloVe has no Thai words: it cannot find the Thai translations
    assert score[(glove.name, "SeaBitextMining", "th")] < 0.5
    table = scores_table(rows)
    assert list(table.columns) == ["en", "th", "mean"]


def test_averaged_word_vectors_encoder_is_the_mean(glove20k):
    from llmcourse.embeddings.encoders import AveragedWordVectorsEncoder

    enc = AveragedWordVectorsEncoder(glove20k)
    got = enc.embed(["Bangkok and Jakarta", "ภาษาไทย"])
    want = (glove20k["bangkok"] + glove20k["and"] + glove20k["jakarta"]) / 3
    assert np.allclose(got[0], want, atol=1e-6)
    assert not got[1].any()  # no known word: the zero vector
    assert enc.coverage(["Bangkok ภาษาไทย"]) == 0.5
    with pytest.raises(TypeError, match="list of texts"):
        enc.embed("one string")


def test_in_memory_tasks_bad_input():
    from llmcourse.embeddings.mteb_tasks import SeaBitextMining, offline_tasks

    with pytest.raises(ValueError, match="choose from"):
        offline_tasks(["xx"])
    with pytest.raises(ValueError, match="at least 4"):
        offline_tasks(["en"], n=2)
    with pytest.raises(ValueError, match="no subset"):
        SeaBitextMining(langs=["en"], n=8)


def test_hub_tasks_are_real_mteb_tasks_for_the_same_languages():
    from llmcourse.embeddings.mteb_tasks import hub_tasks

    tasks = {t.metadata.name: t for t in hub_tasks(["en", "th", "ta"])}
    assert set(tasks) == {"STSBenchmark", "Tatoeba", "SIB200Classification", "SIB200ClusteringS2S"}
    assert set(tasks["Tatoeba"].hf_subsets) == {"tha-eng", "tam-eng"}
    assert set(tasks["SIB200Classification"].hf_subsets) == {"eng_Latn", "tha_Thai", "tam_Taml"}


def test_cldr_data_is_parallel():
    from llmcourse.assets import embedding_data as data

    names = data.parallel_names("territory")
    assert names["TH"]["en"] == "Thailand" and names["TH"]["th"] == "ไทย"
    assert all(set(v) == set(data.SEA_LANGUAGES) for v in names.values())
    facts = data.sample_facts(20, seed=3)
    assert len(set(facts)) == 20 and facts == data.sample_facts(20, seed=3)
    import random

    for keep in range(4):
        other = data.perturb_fact(facts[0], keep, random.Random(keep))
        assert sum(a == b for a, b in zip(facts[0].parts(), other.parts())) == keep
    with pytest.raises(ValueError, match="unknown kind"):
        data.parallel_names("planet")


# ------------------------------------------------------------------ the exercises pass with the library's answers

def test_exercises_pass_with_the_library():
    from llmcourse.multimodal.clip import clip_loss

    assert run_exercise("embeddings.cosine_topk", lambda q, m, k: cosine_topk(q, m, k)[0]).ok
    assert run_exercise("embeddings.analogy", analogy_index).ok
    assert run_exercise("embeddings.sgns_loss", sgns_loss).ok
    assert run_exercise("embeddings.info_nce", clip_loss).ok


def test_exercises_fail_wrong_answers():
    def no_exclusion(t, a, b, c):
        u = t / np.linalg.norm(t, axis=1, keepdims=True)
        return int(np.argmax(u @ (u[b] - u[a] + u[c])))

    def unstable(c, o, n):
        return (-torch.log(torch.sigmoid((c * o).sum(-1)))
                - torch.log(torch.sigmoid(-torch.einsum("bd,bkd->bk", c, n))).sum(-1)).mean()

    def one_direction(i, t, temp):
        logits = torch.nn.functional.normalize(i, dim=-1) @ torch.nn.functional.normalize(t, dim=-1).T / temp
        return torch.nn.functional.cross_entropy(logits, torch.arange(len(i)))

    assert not run_exercise("embeddings.analogy", no_exclusion).ok
    assert not run_exercise("embeddings.sgns_loss", unstable).ok
    assert not run_exercise("embeddings.info_nce", one_direction).ok
    assert not run_exercise("embeddings.cosine_topk", lambda q, m, k: np.argsort(-(m @ q))[:k]).ok
