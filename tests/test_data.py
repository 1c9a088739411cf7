"""llmcourse.data against oracles: datasketch (MinHash, LSH), scikit-learn (Naive Bayes), jiwer (CER),
charset-normalizer round trips, and hand-counted quality signals; shards and loaders on bad input."""

import json
import math

import numpy as np
import pytest
import torch

from llmcourse.data import clean_ocr, decode_bytes, dehyphenate, normalize_unicode, strip_page_furniture, unwrap_lines
from llmcourse.data.dedup import (MinHash, exact_duplicates, jaccard, jaccard_estimate, lsh_params, near_duplicates,
                                  shingle_hashes, shingles)
from llmcourse.data.io import DocumentError, read_document


# ----------------------------------------------------------------------------- cleaning
def test_cleaning_steps_undo_printing():
    ocr = ("THE BOOK\nIt was a trans-\nformation of the\nwhole town.\n\nA new para.\n- 12 -\n\f"
           "THE BOOK\nAnd then the anak-\nanak came.\n13\n\f")
    assert strip_page_furniture(ocr).split("\n")[0] == "It was a trans-"
    assert "12" not in strip_page_furniture(ocr) and "THE BOOK" not in strip_page_furniture(ocr)
    assert dehyphenate("a trans-\nformation") == "a transformation"
    assert dehyphenate("anak-\nanak", "id") == "anak-anak" and dehyphenate("anak-\nanak", "en") == "anakanak"
    assert dehyphenate("Marcellus-\nAnd", "en") == "Marcellus-\nAnd"  # a capital: not a split word
    assert unwrap_lines("a b\nc d\n\ne f") == "a b c d\ne f"
    assert unwrap_lines("สวัสดี\nครับ", "th") == "สวัสดีครับ"
    cleaned = clean_ocr(ocr, "id")
    assert cleaned == "It was a transformation of the whole town.\nA new para. And then the anak-anak came."


def test_unicode_nfkc_but_thai_nfc():
    assert normalize_unicode("ﬁne ‘quote’ Ｆull") == "fine 'quote' Full"
    assert normalize_unicode("mojibake: cafÃ©") == "mojibake: café"
    # NFKC would split SARA AM; Thai keeps it, and OCR's split pair is composed back
    assert normalize_unicode("ทำ", "th") == "ทำ" and normalize_unicode("ท\u0e4d\u0e32", "th") == "ทำ"
    assert normalize_unicode("น\u0e4d\u0e49\u0e32", "th") == "น\u0e49\u0e33"


def test_clean_ocr_lowers_cer_on_real_ocr():
    """On real OCR output (cached pages), the cleaned text is closer to the source (jiwer's CER)."""
    import jiwer

    from llmcourse.assets.ocr_pages import ocr_document

    for lang in ("en", "th"):
        doc = ocr_document(lang, 2, progress=False)
        before, after = jiwer.cer(doc.truth, doc.ocr), jiwer.cer(doc.truth, clean_ocr(doc.ocr, lang))
        assert after < 0.5 * before, f"{lang}: CER {before:.3f} -> {after:.3f}"


def test_clean_ocr_bad_input():
    with pytest.raises(TypeError, match="decode bytes"):
        clean_ocr(b"bytes")
    assert clean_ocr("") == ""


# ----------------------------------------------------------------------------- reading documents
def test_read_document_encodings_and_bad_files(tmp_path):
    thai = "สวัสดีครับ นี่คือข้อความภาษาไทยที่เข้ารหัสแบบ TIS-620 เพื่อทดสอบการอ่านไฟล์ " * 3
    (tmp_path / "th.txt").write_bytes(thai.encode("cp874"))
    assert read_document(tmp_path / "th.txt") == thai
    (tmp_path / "u16.txt").write_bytes("héllo wörld".encode("utf-16"))
    assert read_document(tmp_path / "u16.txt") == "héllo wörld"
    (tmp_path / "empty.txt").write_bytes(b"  \n")
    with pytest.raises(DocumentError, match="empty"):
        read_document(tmp_path / "empty.txt")
    (tmp_path / "img.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(DocumentError, match="binary"):
        read_document(tmp_path / "img.png")
    with pytest.raises(DocumentError, match="not a file"):
        read_document(tmp_path / "missing.txt")
    assert decode_bytes("plain".encode())[1] == "utf-8"


# ----------------------------------------------------------------------------- quality
def test_gopher_and_c4_signals_hand_counted():
    from llmcourse.data.quality import (c4_filter, duplicate_ngram_char_fraction, gopher_filter, gopher_quality,
                                        gopher_repetition, top_ngram_char_fraction)

    ws = "a b a b a b c".split()
    # the most frequent 2-gram (a b) occurs 3 times: 3 * 2 characters of 7
    assert top_ngram_char_fraction(ws, 2) == pytest.approx(6 / 7)
    ws = "x y z q x y z".split()  # the second "x y z" repeats a 3-gram: 3 of 7 characters
    assert duplicate_ngram_char_fraction(ws, 3) == pytest.approx(3 / 7)
    rep = gopher_repetition("one line\nother\none line\none line")
    assert rep["dup_line_frac"] == pytest.approx(2 / 4)
    q = gopher_quality("the cat and the dog ... #tag\n• item")
    assert q["n_words"] == 8 and q["stop_words"] == 2 and q["bullet_line_frac"] == 0.5
    prose = " ".join(["The king of the land went to the sea with his men and came back."] * 1)
    ok, why = gopher_filter((prose + " ") * 2)
    assert not ok and any(w.startswith("n_words") for w in why)
    body, removed = c4_filter("Nice text here is fine.\nHome | About\nAnother good sentence here.\nA third one is ok.")
    assert body.count("\n") == 2 and "no terminal punctuation" in removed
    assert c4_filter("lorem ipsum dolor")[0] is None and c4_filter("f() { x; }. a b c.")[0] is None


# ----------------------------------------------------------------------------- language ID
def test_char_ngrams_and_naive_bayes_equal_sklearn():
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.naive_bayes import MultinomialNB

    from llmcourse.assets.multilingual import multilingual_sample
    from llmcourse.data.langid import CharNgramLangID, char_ngrams

    text = "Hello  World, hello!"
    cv = CountVectorizer(analyzer="char", ngram_range=(1, 3))
    X = cv.fit_transform([text])
    assert dict(char_ngrams(text, 1, 3)) == {g: int(X[0, i]) for g, i in cv.vocabulary_.items()}
    langs = ["en", "id", "ms", "th", "vi"]
    train = [multilingual_sample(lang, 300, seed=s)[i * 100:(i + 1) * 100] for lang in langs for s in (0, 1)
             for i in range(2)]
    labels = [lang for lang in langs for _ in range(4)]
    tests = [multilingual_sample(lang, 200, seed=5)[:60] for lang in langs]
    ours = CharNgramLangID(1, 3, alpha=1.0).fit(train, labels)
    cv = CountVectorizer(analyzer="char", ngram_range=(1, 3)).fit(train)
    nb = MultinomialNB(alpha=1.0).fit(cv.transform(train), labels)
    assert ours.predict(tests) == list(nb.predict(cv.transform(tests)))
    np.testing.assert_allclose(ours.predict_log_scores(tests), nb.predict_joint_log_proba(cv.transform(tests)),
                               rtol=1e-9, atol=1e-7)


def test_detectors_agree_on_clear_text():
    from llmcourse.assets.multilingual import multilingual_sample
    from llmcourse.data.langid import detect_language

    for lang in ("en", "th", "vi"):
        text = multilingual_sample(lang, 400, seed=3)
        for engine in ("langid", "lingua"):
            code, score = detect_language(text, engine)
            assert code == lang and 0 <= score <= 1


# ----------------------------------------------------------------------------- MinHash / LSH vs datasketch
def _doc(seed: int, n: int = 1500) -> str:
    from llmcourse.assets.multilingual import multilingual_sample

    return multilingual_sample("en", n, seed=seed)


def test_minhash_signature_equals_datasketch_bit_for_bit():
    """Fed our shingle hashes, datasketch's affine32 MinHash (same seed) gives our signature."""
    from datasketch import MinHash as DSMinHash

    text = _doc(0)
    for seed in (0, 7):
        ours = MinHash(num_perm=128, ngram=5, seed=seed).signature(text)
        ds = DSMinHash(num_perm=128, seed=seed, hashfunc=lambda x: x)
        ds.update_batch([int(h) for h in shingle_hashes(text, 5)])
        assert ours.dtype == np.uint32 and np.array_equal(ours, ds.hashvalues)


def test_jaccard_estimates_within_statistical_error():
    """Estimates from ours and from datasketch (its own sha1 hashing) both lie within 4 standard errors."""
    from datasketch import MinHash as DSMinHash

    base = _doc(1, 3000)
    words = base.split(" ")
    rng = np.random.default_rng(0)
    mh = MinHash(num_perm=256, ngram=5, seed=0)
    for frac in (0.02, 0.1, 0.3):
        other = list(words)
        for i in rng.choice(len(words), int(frac * len(words)), replace=False):
            other[i] = "zq" + other[i]
        other = " ".join(other)
        true = jaccard(shingles(base, 5), shingles(other, 5))
        se = math.sqrt(true * (1 - true) / 256)
        est = jaccard_estimate(mh.signature(base), mh.signature(other))
        a, b = DSMinHash(num_perm=256, seed=0), DSMinHash(num_perm=256, seed=0)
        a.update_batch([s.encode() for s in shingles(base, 5)])
        b.update_batch([s.encode() for s in shingles(other, 5)])
        assert abs(est - true) < 4 * se + 1e-9, (frac, est, true)
        assert abs(a.jaccard(b) - true) < 4 * se + 1e-9
    assert jaccard_estimate(mh.signature("same text"), mh.signature("same text")) == 1.0
    with pytest.raises(ValueError, match="num_perm"):
        jaccard_estimate(np.zeros(3), np.zeros(4))


def test_lsh_params_equal_datasketch():
    from datasketch.lsh import _optimal_param

    for t, k in ((0.8, 128), (0.5, 64), (0.9, 256), (0.7, 100)):
        assert lsh_params(t, k) == _optimal_param(t, k, 0.5, 0.5)


def test_near_duplicates_same_clusters_as_datasketch():
    """A planted corpus: originals and lightly edited copies; ours and a datasketch LSH pipeline agree."""
    from datasketch import MinHash as DSMinHash
    from datasketch import MinHashLSH

    rng = np.random.default_rng(1)
    originals = [_doc(100 + i, 1200) for i in range(30)]
    texts, planted = list(originals), {}
    for i in range(0, 30, 3):  # every third original gets 1-2 near copies
        for _ in range(1 + i % 2):
            words = originals[i].split(" ")
            for j in rng.choice(len(words), 3, replace=False):
                words[j] = words[j].upper()
            planted.setdefault(i, {i}).add(len(texts))
            texts.append(" ".join(words))
    ours = near_duplicates(texts, threshold=0.8, num_perm=128)
    assert sorted(map(sorted, ours)) == sorted(map(sorted, planted.values()))
    lsh = MinHashLSH(threshold=0.8, num_perm=128)
    sigs = []
    for i, t in enumerate(texts):
        m = DSMinHash(num_perm=128, seed=1)
        m.update_batch([s.encode() for s in shingles(t, 5)])
        lsh.insert(str(i), m)
        sigs.append(m)
    parent = list(range(len(texts)))

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x

    for i, m in enumerate(sigs):
        for j in map(int, lsh.query(m)):
            parent[max(find(i), find(j))] = min(find(i), find(j))
    groups = {}
    for i in range(len(texts)):
        groups.setdefault(find(i), set()).add(i)
    theirs = [g for g in groups.values() if len(g) > 1]
    assert sorted(map(sorted, ours)) == sorted(map(sorted, theirs))


def test_exact_duplicates_normalised():
    assert exact_duplicates(["Hello  World", "hello world\n", "other"]) == [{0, 1}]
    assert near_duplicates([]) == [] and exact_duplicates([]) == []


# ----------------------------------------------------------------------------- sampling
def test_temperature_weights():
    from llmcourse.data.mixing import sample_by_language, temperature_weights

    counts = {"en": 900.0, "th": 100.0}
    assert temperature_weights(counts, 1.0) == pytest.approx({"en": 0.9, "th": 0.1})
    assert temperature_weights(counts, 0.0) == pytest.approx({"en": 0.5, "th": 0.5})
    w = temperature_weights(counts, 0.3)
    assert w["th"] == pytest.approx(0.1 ** 0.3 / (0.1 ** 0.3 + 0.9 ** 0.3))
    docs = {"en": [(f"e{i}", 100) for i in range(9)], "th": [("t0", 100)]}
    mix = sample_by_language(docs, 1000, alpha=0.0, seed=0)
    assert sum(lang == "th" for lang, _ in mix) == 5  # up-sampled: five passes over the one Thai document
    with pytest.raises(ValueError, match="positive"):
        temperature_weights({"en": 0})


# ----------------------------------------------------------------------------- shards and loader
class _Tok:  # a byte tokenizer with an end-of-text id, enough for shard tests
    vocab_size = 257
    special_tokens = {"<|endoftext|>": 256}

    def encode_ordinary(self, text):
        return list(text.encode())

    def to_dict(self):
        return {"kind": "bytes"}


def _shards(tmp_path, n_docs=40, **kw):
    docs = [f"document number {i} " + "abcdefghij" * (5 + i % 7) for i in range(n_docs)]
    return docs, write_shards_(docs, tmp_path / "shards", **kw)


def write_shards_(docs, folder, **kw):
    from llmcourse.data.shards import write_shards

    return write_shards(docs, _Tok(), folder, progress=False, **kw)


def test_shards_round_trip_and_windows(tmp_path):
    from llmcourse.data.shards import TokenShardDataset

    docs, manifest = _shards(tmp_path, shard_tokens=500, val_fraction=0.2)
    assert manifest["dtype"] == "uint16" and len([s for s in manifest["shards"] if s["split"] == "train"]) > 1
    folder = tmp_path / "shards"
    stream = np.concatenate([np.fromfile(folder / s["file"], dtype=np.uint16) for s in manifest["shards"]
                             if s["split"] == "train"])
    expected = [t for d in docs if not _is_val(d) for t in [256] + list(d.encode())]
    assert stream.tolist() == expected
    ds = TokenShardDataset(folder, block_size=16, split="train")
    x, y = ds[3]
    assert x.dtype == torch.int64 and x.shape == (16,) and torch.equal(x[1:], y[:-1])
    assert len(TokenShardDataset(folder, 16, "val")) > 0


def _is_val(text):
    from llmcourse.data.shards import _is_val as is_val

    return is_val(text, 0.2)


def test_shards_refuse_damage(tmp_path):
    from llmcourse.data.shards import ShardError, TokenShardDataset

    _, manifest = _shards(tmp_path, shard_tokens=500)
    folder = tmp_path / "shards"
    victim = folder / manifest["shards"][0]["file"]
    data = victim.read_bytes()
    victim.write_bytes(data[:-10])  # truncated
    with pytest.raises(ShardError, match="truncated"):
        TokenShardDataset(folder, 16)
    victim.write_bytes(bytes([data[0] ^ 1]) + data[1:])  # same size, flipped bits
    with pytest.raises(ShardError, match="sha256"):
        TokenShardDataset(folder, 16)
    victim.unlink()
    with pytest.raises(ShardError, match="missing"):
        TokenShardDataset(folder, 16)
    with pytest.raises(ShardError, match="no manifest"):
        TokenShardDataset(tmp_path, 16)
    with pytest.raises(ShardError, match="no training tokens"):
        write_shards_(["", "   "], tmp_path / "empty")
    assert not (tmp_path / "empty").exists()


def test_loader_deterministic_resumable_and_data_parallel(tmp_path):
    from llmcourse.data.loader import ShardBatchSampler, make_loader
    from llmcourse.data.shards import TokenShardDataset

    _shards(tmp_path, n_docs=80)
    ds = TokenShardDataset(tmp_path / "shards", 8)
    full = [x for x, _ in make_loader(ds, 8, seed=3, steps=12)]
    again = [x for x, _ in make_loader(ds, 8, seed=3, steps=12, num_workers=2)]
    assert all(torch.equal(a, b) for a, b in zip(full, again))
    resumed = [x for x, _ in make_loader(ds, 8, seed=3, start_step=5, steps=12)]
    assert all(torch.equal(a, b) for a, b in zip(full[5:], resumed))
    halves = [list(make_loader(ds, 8, seed=3, steps=12, rank=r, world_size=2)) for r in (0, 1)]
    for step in range(12):
        assert torch.equal(torch.cat([halves[0][step][0], halves[1][step][0]]), full[step])
    s = ShardBatchSampler(len(ds), 8, seed=3)
    assert s.global_batch(0) != ShardBatchSampler(len(ds), 8, seed=4).global_batch(0)
    epoch1 = [i for st in range(s.per_epoch, 2 * s.per_epoch) for i in s.global_batch(st)]
    assert len(set(epoch1)) == len(epoch1)  # an epoch visits each window at most once
    with pytest.raises(ValueError, match="divisible by the world size"):
        ShardBatchSampler(len(ds), 6, world_size=4)


# ----------------------------------------------------------------------------- FineWeb format and the pipeline
def test_offline_fineweb_rows_schema_parquet_and_pipeline(tmp_path):
    """Rows in FineWeb's schema round-trip through parquet; the pipeline removes the junk and the copies."""
    from llmcourse.data.fineweb import FINEWEB_COLUMNS, offline_web_rows, read_parquet_rows, write_parquet_rows
    from llmcourse.data.pipeline import filter_documents

    rows = offline_web_rows(60, seed=3)
    assert all(list(r) == list(FINEWEB_COLUMNS) for r in rows)
    write_parquet_rows(rows, tmp_path / "part.parquet")
    back = list(read_parquet_rows(tmp_path / "part.parquet"))
    assert back == rows
    assert all(0 <= r["language_score"] <= 1 and r["token_count"] > 0 for r in rows)
    kept, report = filter_documents(rows, progress=False)
    kinds = [d["file_path"].split("/")[-1] for d in kept]
    assert not {"boilerplate", "spam", "table", "code", "lorem", "exact-copy"} & set(kinds)
    assert report.stages["input"] == 60 and report.stages["near dedup"] == len(kept) > 10
    with pytest.raises(ValueError, match="FineWeb columns"):
        write_parquet_rows([{"text": "x"}], tmp_path / "bad.parquet")


def test_ocr_pages_bad_input():
    from llmcourse.assets.ocr_pages import ocr_pages

    with pytest.raises(ValueError, match="no OCR book"):
        ocr_pages("xx", 1)
    with pytest.raises(ValueError, match="at least 1"):
        ocr_pages("en", 0)
