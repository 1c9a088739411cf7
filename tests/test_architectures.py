"""Notebook 3.3: the en→id phrase corpus and its tokenizer, BERT (masked LM), T5 (encoder-decoder),
the GPT as a prefix LM, BLEU/chrF, and the NLLB code path.

Oracles: Hugging Face's T5 relative-position buckets, torch's cross-entropy and SDPA, sacrebleu,
binomial statistics counted directly, and unpadded runs of the same model."""

from __future__ import annotations

import functools
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from llmcourse.assets.registry import AssetError
from llmcourse.assets.translation import KINDS, SPLITS, Pair, _all_pairs, split_of, translation_pairs
from llmcourse.evaluation.bleu import clipped_ngram_stats, corpus_bleu, corpus_chrf, translation_scores
from llmcourse.exercises.registry import run_exercise
from llmcourse.inference.translation import load_nllb, nllb_translate
from llmcourse.models.bert import BERT, BertConfig, fill_mask, mask_tokens, pair_batch, pair_segments
from llmcourse.models.common import IGNORE, label_loss
from llmcourse.models.prefix_lm import prefix_lm_batch, prefix_lm_translate
from llmcourse.models.t5 import T5, T5Config, relative_position_bucket, seq2seq_batch
from llmcourse.tokenization.phrases import phrase_tokenizer, train_phrase_tokenizer


@pytest.fixture(scope="module")
def tok():
    return phrase_tokenizer()


def tiny_t5(tok, **kw) -> T5:
    torch.manual_seed(0)
    cfg = dict(vocab_size=tok.vocab_size, n_embd=32, n_head=4, n_enc_layer=1, n_dec_layer=1, block_size=48)
    cfg.update(kw)
    return T5(T5Config(**cfg)).eval()


def tiny_bert(tok, **kw) -> BERT:
    torch.manual_seed(0)
    cfg = dict(vocab_size=tok.vocab_size, n_embd=32, n_head=4, n_layer=2, block_size=48)
    cfg.update(kw)
    return BERT(BertConfig(**cfg)).eval()


# ------------------------------------------------------------------ the corpus


def test_splits_are_disjoint_deterministic_and_mixed():
    splits = {s: translation_pairs(s) for s in SPLITS}
    sources = [{p.source for p in ps} for ps in splits.values()]
    assert not (sources[0] & sources[1]) and not (sources[0] & sources[2]) and not (sources[1] & sources[2])
    total = sum(len(v) for v in splits.values())
    assert 0.75 < len(splits["train"]) / total < 0.85 and 0.07 < len(splits["test"]) / total < 0.13
    for split, pairs in splits.items():
        assert {p.kind for p in pairs} == set(KINDS), f"{split} lacks some kinds"
        assert all(split_of(p) == split for p in pairs)
    _all_pairs.cache_clear()  # generate again from scratch: the same pairs in the same order
    assert translation_pairs("test") == splits["test"]
    assert translation_pairs("test", limit=10) == splits["test"][:10]


def test_pairs_are_translations_computed_by_the_packages():
    from babel.dates import format_date
    from num2words import num2words

    pairs = {p.source: p for p in _all_pairs()["train"] + _all_pairs()["dev"] + _all_pairs()["test"]}
    assert pairs[num2words(21)].target == num2words(21, lang="id") == "dua puluh satu"
    assert pairs["Germany"].target == "Jerman"
    import datetime

    some_date = next(p for p in pairs.values() if p.kind == "date")
    assert some_date.target.split()[-1] == some_date.source.split()[-1]  # same year on both sides
    assert format_date(datetime.date(2021, 3, 5), "long", locale="id") == "5 Maret 2021"


def test_bad_split_or_kind_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown split"):
        translation_pairs("validation")
    with pytest.raises(ValueError, match="unknown kinds"):
        translation_pairs("train", kinds=["numbers"])


def test_tsv_asset_is_written_into_the_cache(tmp_path, monkeypatch):
    from llmcourse.assets.registry import get_asset, verify_folder

    monkeypatch.setenv("LLMCOURSE_CACHE", str(tmp_path))
    folder = get_asset("en-id-phrases").prepare()
    assert verify_folder(folder) is None
    lines = (folder / "test.tsv").read_text(encoding="utf-8").splitlines()
    assert [Pair(*line.split("\t")) for line in lines] == translation_pairs("test")


# ------------------------------------------------------------------ the tokenizer


def test_tokenizer_layout(tok):
    assert (tok.pad_id, tok.unk_id, tok.bos_id, tok.eos_id, tok.mask_id, tok.sep_id) == (0, 1, 2, 3, 4, 5)
    assert tok.pieces([6, 6 + 255]) == ["<0x00>", "<0xFF>"]
    assert tok.encode("dua ratus") and tok.decode(tok.encode("dua ratus")) == "dua ratus"


def test_pair_outside_the_tokenizer_uses_byte_fallback(tok):
    """Thai, Vietnamese diacritics, Chinese and an emoji never occur in the corpus: bytes, not <unk>."""
    pair = Pair("Hà Nội, กรุงเทพ and 東京 🚀", "Hà Nội, กรุงเทพ dan 東京 🚀", "locale")
    for text in (pair.source, pair.target):
        ids = tok.encode(text)
        assert tok.unk_id not in ids
        assert any(p.startswith("<0x") for p in tok.pieces(ids)), "expected byte pieces for unseen characters"
        assert tok.decode(ids) == text
    src, tgt_in, labels = seq2seq_batch([tok.encode(pair.source)], [tok.encode(pair.target)], tok.pad_id,
                                        tok.bos_id, tok.eos_id)
    _, loss = tiny_t5(tok, block_size=96)(src, tgt_in, labels)  # the model takes them like any token
    assert torch.isfinite(loss)


@functools.lru_cache(maxsize=1)
def _tok():
    return phrase_tokenizer()


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40).filter(lambda s: "<mask>" not in s and "<sep>" not in s))
def test_tokenizer_round_trips_any_unicode(text):
    """Byte fallback and no normalisation: every string survives (except the literal special strings)."""
    assert _tok().decode(_tok().encode(text)) == text


def test_tokenizer_training_is_deterministic_and_refuses_empty_text():
    texts = [p.source for p in translation_pairs("train", limit=300)] + [p.target for p in translation_pairs("train", limit=300)]
    assert train_phrase_tokenizer(texts, 400).proto == train_phrase_tokenizer(texts, 400).proto
    with pytest.raises(ValueError, match="no text"):
        train_phrase_tokenizer([])


# ------------------------------------------------------------------ BERT


def test_library_masking_passes_the_exercise():
    res = run_exercise("architectures.mlm_mask", mask_tokens)
    assert res.ok, res.failures


def test_masking_statistics_on_real_pairs(tok):
    """80/10/10 on tokenized pairs, within 5 binomial standard deviations; specials never chosen."""
    pairs = translation_pairs("train", limit=2000)
    ids, _ = pair_batch([tok.encode(p.source) for p in pairs], [tok.encode(p.target) for p in pairs],
                        tok.pad_id, tok.bos_id, tok.sep_id, tok.eos_id)
    inputs, labels = mask_tokens(ids, tok.mask_id, tok.vocab_size, tok.special_ids, 0.15,
                                 torch.Generator().manual_seed(0))
    special = torch.isin(ids, torch.tensor(tok.special_ids))
    chosen = labels != IGNORE
    assert not (chosen & special).any()
    n, k = int((~special).sum()), int(chosen.sum())

    def near(count, total, p):
        return abs(count - total * p) <= 5 * math.sqrt(total * p * (1 - p))

    assert near(k, n, 0.15)
    masked = int((inputs[chosen] == tok.mask_id).sum())
    kept = int((inputs[chosen] == ids[chosen]).sum())
    pool = tok.vocab_size - len(tok.special_ids)
    assert near(masked, k, 0.8) and near(kept, k, 0.1 + 0.1 / pool) and near(k - masked - kept, k, 0.1 - 0.1 / pool)


def test_masking_rejects_bad_arguments():
    ids = torch.randint(6, 50, (2, 8))
    with pytest.raises(ValueError, match="mask_prob"):
        mask_tokens(ids, 4, 50, (0, 1), mask_prob=1.5)
    with pytest.raises(TypeError, match="integer"):
        mask_tokens(ids.float(), 4, 50, (0, 1))


def test_label_loss_matches_cross_entropy():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 7, 20, generator=g)
    labels = torch.randint(0, 20, (3, 7), generator=g)
    labels[0, :4] = IGNORE
    expected = F.cross_entropy(logits.reshape(-1, 20), labels.reshape(-1), ignore_index=IGNORE)
    assert torch.allclose(label_loss(logits, labels), expected, atol=1e-6)
    assert label_loss(logits, torch.full_like(labels, IGNORE)) == 0  # no target: zero, not NaN


def test_bert_is_bidirectional_and_ignores_padding(tok):
    model = tiny_bert(tok)
    ids = torch.tensor([[2, 10, 11, 12, 5, 13, 14, 3]])
    changed = ids.clone()
    changed[0, 6] = 20  # a later token
    h1, h2 = model.encode(ids), model.encode(changed)
    assert not torch.allclose(h1[0, 1], h2[0, 1]), "an encoder's early positions must see later tokens"
    padded = torch.cat([ids, torch.zeros(1, 5, dtype=torch.long)], dim=1)
    torch.testing.assert_close(model.encode(padded)[:, :8], h1, atol=1e-5, rtol=1e-5)


def test_pair_segments_mark_the_second_sentence():
    ids = torch.tensor([[2, 9, 9, 5, 8, 8, 3, 0]])
    assert pair_segments(ids, 5).tolist() == [[0, 0, 0, 0, 1, 1, 1, 1]]


def test_fill_mask_returns_sorted_probabilities(tok):
    model = tiny_bert(tok)
    ids = torch.tensor([[2, *tok.encode("dua"), tok.mask_id, *tok.encode("lima"), 3]])
    (guesses,) = fill_mask(model, ids, tok.mask_id, top_k=3)
    probs = [p for _, p in guesses]
    assert len(guesses) == 3 and probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1
    with pytest.raises(ValueError, match="no <mask>"):
        fill_mask(model, torch.tensor([[2, 10, 3]]), tok.mask_id)


@pytest.mark.parametrize("make", [tiny_bert, tiny_t5], ids=["bert", "t5"])
def test_empty_batch_and_too_long_input_are_clear_errors(tok, make):
    model = make(tok)
    run = (lambda x: model(x)) if isinstance(model, BERT) else (lambda x: model(x, torch.tensor([[2]] * len(x))))
    with pytest.raises(ValueError, match="empty batch"):
        run(torch.zeros(0, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="block_size=48"):
        run(torch.full((1, 49), 7))
    with pytest.raises(ValueError, match="vocabulary"):
        run(torch.tensor([[7, tok.vocab_size]]))
    with pytest.raises(ValueError, match="empty batch"):
        pair_batch([], [], 0, 2, 5, 3)
    with pytest.raises(TypeError, match="integer token ids"):
        run(torch.zeros(1, 4))
    with pytest.raises(ValueError, match="ids\\[None\\]"):
        run(torch.zeros(4, dtype=torch.long))


def test_shared_model_helpers():
    from llmcourse.models.common import check_ids, init_weights, pad_batch

    assert pad_batch([[5, 6, 7], [8]], pad_id=0).tolist() == [[5, 6, 7], [8, 0, 0]]
    with pytest.raises(ValueError, match="every sequence in the batch is empty"):
        pad_batch([[], []], 0)
    check_ids(torch.tensor([[1, 2]]), block_size=2, vocab_size=3)
    layer = torch.nn.Linear(400, 300)
    init_weights(layer)
    assert abs(layer.weight.std().item() - 0.02) < 0.002 and not layer.bias.any()


# ------------------------------------------------------------------ T5


@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("max_distance", [16, 64, 128])
@pytest.mark.parametrize("num_buckets", [8, 16, 32])
def test_relative_buckets_equal_hugging_face_t5(num_buckets, max_distance, bidirectional):
    from transformers.models.t5.modeling_t5 import T5Attention

    rel = torch.arange(-300, 301)[None, :] - torch.arange(0, 3)[:, None]
    ours = relative_position_bucket(rel, bidirectional, num_buckets, max_distance)
    theirs = T5Attention._relative_position_bucket(rel, bidirectional, num_buckets, max_distance)
    assert torch.equal(ours, theirs)


def test_seq2seq_batch_layout():
    src, tgt_in, labels = seq2seq_batch([[7, 8], [9]], [[10, 11, 12], [13]], pad_id=0, bos_id=2, eos_id=3)
    assert src.tolist() == [[7, 8, 3], [9, 3, 0]]
    assert tgt_in.tolist() == [[2, 10, 11, 12], [2, 13, 0, 0]]
    assert labels.tolist() == [[10, 11, 12, 3], [13, 3, IGNORE, IGNORE]]


def test_cross_attention_with_padded_sources_equals_unpadded_runs(tok):
    """Padding in the source changes nothing at the real positions (compared with one-by-one runs)."""
    model = tiny_t5(tok)
    sources = [[7, 8, 9, 10, 11, 12], [20, 21], [30, 31, 32, 33]]
    targets = [[40, 41, 42], [43, 44, 45], [46, 47, 48]]
    src, tgt_in, _ = seq2seq_batch(sources, targets, tok.pad_id, tok.bos_id, tok.eos_id)
    assert (src == tok.pad_id).any()
    batched = model(src, tgt_in)[0]
    for b, (s, t) in enumerate(zip(sources, targets)):
        s1, t1, _ = seq2seq_batch([s], [t], tok.pad_id, tok.bos_id, tok.eos_id)
        torch.testing.assert_close(batched[b:b + 1], model(s1, t1)[0], atol=1e-5, rtol=1e-5)
    # and the mask is what makes it so: pretend padding is a real token and the result moves
    model.config.pad_id = 999
    assert not torch.allclose(model(src, tgt_in)[0][1], batched[1], atol=1e-4)


def test_library_cross_mask_passes_the_exercise():
    from llmcourse.models.t5 import cross_attention_mask

    res = run_exercise("architectures.cross_mask", cross_attention_mask)
    assert res.ok, res.failures


def test_decoder_is_causal(tok):
    model = tiny_t5(tok)
    src = torch.tensor([[7, 8, 9, 3]])
    tgt = torch.tensor([[2, 10, 11, 12, 13]])
    changed = tgt.clone()
    changed[0, 3] = 30
    a, b = model(src, tgt)[0], model(src, changed)[0]
    torch.testing.assert_close(a[:, :3], b[:, :3])
    assert not torch.allclose(a[:, 3:], b[:, 3:])


def test_encoder_decoder_overfits_a_few_pairs(tok):
    pairs = translation_pairs("train", limit=6)
    sources, targets = [tok.encode(p.source) for p in pairs], [tok.encode(p.target) for p in pairs]
    model = tiny_t5(tok, n_embd=64).train()
    src, tgt_in, labels = seq2seq_batch(sources, targets, tok.pad_id, tok.bos_id, tok.eos_id)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(120):
        _, loss = model(src, tgt_in, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05
    out = model.generate(src, max_new_tokens=40)
    assert [tok.decode(o) for o in out] == [p.target for p in pairs]


def test_generate_arguments(tok):
    model = tiny_t5(tok)
    with pytest.raises(ValueError, match="max_new_tokens"):
        model.generate(torch.tensor([[7, 3]]), max_new_tokens=0)
    out = model.generate(torch.tensor([[7, 3], [8, 3]]), max_new_tokens=5)
    assert len(out) == 2 and all(len(o) <= 5 for o in out)
    with pytest.raises(ValueError, match="empty batch"):
        model.generate(torch.zeros(0, 3, dtype=torch.long))


# ------------------------------------------------------------------ GPT as a prefix LM


def test_prefix_lm_batch_puts_the_loss_on_the_target_only():
    idx, labels = prefix_lm_batch([[7, 8], [9]], [[10, 11], [12, 13, 14]], pad_id=0, bos_id=2, sep_id=5, eos_id=3)
    assert idx.tolist() == [[2, 7, 8, 5, 10, 11], [2, 9, 5, 12, 13, 14]]
    assert labels.tolist() == [[IGNORE, IGNORE, IGNORE, 10, 11, 3], [IGNORE, IGNORE, 12, 13, 14, 3]]
    idx, labels = prefix_lm_batch([[7, 8, 9]], [[10]], pad_id=0, bos_id=2, sep_id=5, eos_id=3)
    assert idx.tolist() == [[2, 7, 8, 9, 5, 10]] and labels.tolist() == [[IGNORE] * 4 + [10, 3]]
    idx, labels = prefix_lm_batch([[7], [8, 9, 9]], [[10], [11]], pad_id=0, bos_id=2, sep_id=5, eos_id=3)
    assert idx.tolist() == [[2, 7, 5, 10, 0, 0], [2, 8, 9, 9, 5, 11]]
    assert labels.tolist() == [[IGNORE, IGNORE, 10, 3, IGNORE, IGNORE], [IGNORE] * 4 + [11, 3]]


def test_gpt_prefix_lm_loss_equals_cross_entropy_on_targets(tok):
    from llmcourse.models.gpt import GPT, GPTConfig

    torch.manual_seed(0)
    gpt = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=32, n_layer=1, n_head=2, n_embd=32)).eval()
    idx, labels = prefix_lm_batch([[7, 8], [9]], [[10, 11], [12, 13, 14]], tok.pad_id, tok.bos_id, tok.sep_id, tok.eos_id)
    logits, loss = gpt(idx, labels)
    keep = labels != IGNORE
    expected = F.cross_entropy(logits[keep], labels[keep])
    torch.testing.assert_close(loss, expected)


class _EchoModel(torch.nn.Module):
    """Stands in for a GPT: `generate` appends (first source token + 100), then eos."""

    def __init__(self, block_size=16):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.config = type("C", (), {"block_size": block_size})()
        self.calls = []

    def generate(self, idx, max_new_tokens, temperature, eos_token_id):
        self.calls.append(tuple(idx.shape))
        extra = torch.stack([idx[:, 1] + 100, torch.full_like(idx[:, 1], eos_token_id)], dim=1)
        return torch.cat([idx, extra], dim=1)


def test_prefix_lm_translate_groups_by_length_and_keeps_order():
    model = _EchoModel()
    sources = [[7, 8], [9], [10, 11], [12]]
    out = prefix_lm_translate(model, sources, bos_id=2, sep_id=5, eos_id=3, max_new_tokens=4)
    assert out == [[107], [109], [110], [112]]
    assert sorted(model.calls) == [(2, 3), (2, 4)]  # two lengths, no padding in any prompt
    with pytest.raises(ValueError, match="block_size=16"):
        prefix_lm_translate(model, [[7] * 12], 2, 5, 3, max_new_tokens=4)
    assert prefix_lm_translate(model, [], 2, 5, 3) == []


# ------------------------------------------------------------------ BLEU and chrF


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.lists(st.sampled_from("abcde"), min_size=1, max_size=12),
                          st.lists(st.sampled_from("abcdef"), min_size=1, max_size=12)), min_size=1, max_size=6))
def test_corpus_bleu_equals_sacrebleu(corpus):
    from sacrebleu.metrics import BLEU

    hyps, refs = [" ".join(h) for h, _ in corpus], [" ".join(r) for _, r in corpus]
    oracle = BLEU(tokenize="none", smooth_method="none").corpus_score(hyps, [refs])
    assert [clipped_ngram_stats(hyps, refs, n) for n in range(1, 5)] == list(zip(oracle.counts, oracle.totals))
    assert math.isclose(corpus_bleu(hyps, refs), oracle.score, abs_tol=1e-9)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.text("abcde ", max_size=14), st.text("abcdef ", max_size=14)), min_size=1, max_size=5))
def test_corpus_chrf_equals_sacrebleu(corpus):
    from sacrebleu.metrics import CHRF

    hyps, refs = [h for h, _ in corpus], [r for _, r in corpus]
    assert math.isclose(corpus_chrf(hyps, refs), CHRF().corpus_score(hyps, [refs]).score, abs_tol=1e-9)


def test_library_bleu_passes_the_exercises():
    assert run_exercise("architectures.ngram_stats", clipped_ngram_stats).ok
    assert run_exercise("architectures.bleu", corpus_bleu).ok


def test_translation_scores_are_sacrebleus_and_check_their_input():
    import sacrebleu

    hyps, refs = ["5 Maret 2021", "dua ratus lima"], ["5 Maret 2021", "dua ratus lima puluh"]
    got = translation_scores(hyps, refs)
    assert math.isclose(got["bleu"], sacrebleu.corpus_bleu(hyps, [refs]).score)
    assert math.isclose(got["chrf"], sacrebleu.corpus_chrf(hyps, [refs]).score)
    perfect = translation_scores(refs, refs)
    assert math.isclose(perfect["bleu"], 100.0) and math.isclose(perfect["chrf"], 100.0)
    with pytest.raises(ValueError, match="one reference per hypothesis"):
        translation_scores(hyps, refs[:1])
    with pytest.raises(TypeError, match="lists of sentences"):
        translation_scores("5 Maret", "5 Maret")
    with pytest.raises(ValueError, match="no translations"):
        translation_scores([], [])


# ------------------------------------------------------------------ NLLB (online) code path


def test_nllb_offline_is_a_clear_error():
    with pytest.raises(AssetError, match="Hub"):
        load_nllb()


def test_nllb_translate_forces_the_target_language():
    """The online path's mechanics on a tiny random M2M100 (NLLB's architecture) and a word tokenizer."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import M2M100Config, M2M100ForConditionalGeneration, PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["<pad>", "<s>", "</s>", "<unk>", "eng_Latn", "ind_Latn", "two", "days"])}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", bos_token="<s>", eos_token="</s>",
                                        unk_token="<unk>", model_input_names=["input_ids", "attention_mask"])
    torch.manual_seed(0)
    config = M2M100Config(vocab_size=len(vocab), d_model=16, encoder_layers=1, decoder_layers=1, encoder_ffn_dim=32,
                          decoder_ffn_dim=32, encoder_attention_heads=2, decoder_attention_heads=2,
                          max_position_embeddings=32, pad_token_id=0, bos_token_id=1, eos_token_id=2,
                          decoder_start_token_id=2)
    model = M2M100ForConditionalGeneration(config).eval()
    out = nllb_translate(["two days", "days"], model, tokenizer, max_new_tokens=3, batch_size=1)
    assert len(out) == 2 and all(isinstance(o, str) for o in out)
    batch = tokenizer(["two days"], return_tensors="pt")
    gen = model.generate(**batch, forced_bos_token_id=vocab["ind_Latn"], max_new_tokens=3, do_sample=False)
    assert gen[0, 1].item() == vocab["ind_Latn"]  # what nllb_translate relies on
    assert nllb_translate([], model, tokenizer) == []


def test_cross_attention_maps_are_distributions_over_real_source_tokens(tok):
    from llmcourse.models.t5 import cross_attention_maps

    model = tiny_t5(tok, n_dec_layer=2)
    src, tgt_in, _ = seq2seq_batch([[7, 8, 9], [10]], [[11, 12], [13, 14]], tok.pad_id, tok.bos_id, tok.eos_id)
    maps = cross_attention_maps(model, src, tgt_in)
    assert maps.shape == (2, 2, 4, 3, 4)  # layers, batch, heads, target, source (3 tokens + eos)
    torch.testing.assert_close(maps.sum(-1), torch.ones(2, 2, 4, 3))
    assert (maps[:, 1, :, :, 2:] == 0).all()  # the padded source positions get no weight
