"""Tokenization: byte-level BPE from scratch against tiktoken, HF tokenizers and SentencePiece.

Oracles: tiktoken (encodings and its Rust BPE), the naive trainer for the fast one, HF's
GPT-2 tokenizer, direct counts; hypothesis for round trips on arbitrary Unicode.
"""

from __future__ import annotations

import json
import random
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmcourse.assets import get_encoding
from llmcourse.assets.multilingual import LANGUAGES, count_words, multilingual_corpus, multilingual_sample
from llmcourse.exercises.registry import run_exercise
from llmcourse.tokenization import (
    GPT2_SPLIT_PATTERN, GPT4_SPLIT_PATTERN, O200K_SPLIT_PATTERN, BasicTokenizer, RegexTokenizer, bpe,
    count_chunks, get_stats, merge, split_chunks, train_fast, train_merges, train_merges_fast, train_naive,
)
from llmcourse.tokenization.patterns import NEWER_THAN_TIKTOKEN

ENCODINGS = ("gpt2", "cl100k_base", "o200k_base")
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# text that stresses a tokenizer: Thai/Tamil combining marks, emoji with skin tones and ZWJ,
# mixed scripts, digits, contractions, whitespace runs, special-token look-alikes
PIECES = ["สวัสดี", "ครับ", "ที่", "่", "ั", "தமிழ்", "ி", "Việt", "nguyễn", "Selamat", "ng", "mga",
          "👍🏽", "👨‍👩‍👧", "🇹🇭", " ", "  ", "\n", "\n\n", "\t", "\r\n", "'s", "'LL", "123456", "3.14",
          "<|endoftext|>", "<|endoftext", "<|fim_prefix|>", "<|endofprompt|>", "|>", "é", "e\u0301", "ß",
          "x", "The", " the", "ǅ", "\u200b", "\ufeff", "\x00", "\x1c", "😀"]
stress_text = st.lists(st.sampled_from(PIECES), max_size=30).map("".join)
stress_chars = st.text(alphabet=st.sampled_from(sorted(set("".join(PIECES)))), max_size=40)
any_text = st.one_of(st.text(max_size=80), stress_text, stress_chars)


@pytest.fixture(scope="module")
def corpus() -> dict[str, str]:
    return multilingual_corpus(4_000, seed=5)


@pytest.fixture(scope="module")
def tiktoken_tokenizers() -> dict[str, RegexTokenizer]:
    return {name: RegexTokenizer.from_tiktoken(name) for name in ENCODINGS}


@pytest.fixture(scope="module")
def trained(corpus) -> dict[str, object]:
    text = "\n".join(corpus.values())
    return {
        "basic": BasicTokenizer().train(text[:6000], 256 + 200),
        "regex-gpt4": RegexTokenizer().train(text, 256 + 300),
        "regex-gpt2": RegexTokenizer("gpt2").train(text, 256 + 300),
        "regex-o200k": RegexTokenizer("o200k_base").train(text, 256 + 300),
    }


# ----------------------------------------------------------------------------- exercises

def test_exercises_pass_with_the_library_reference():
    from llmcourse.exercises.cases.tokenization import _trained
    from llmcourse.tokenization import BasicTokenizer as B

    merges, vocab = _trained()
    ref = B()
    ref.merges = dict(merges)
    ref._rebuild()
    assert ref.vocab == vocab
    assert run_exercise("tokenization.get_stats", get_stats).ok
    assert run_exercise("tokenization.merge", merge).ok
    assert run_exercise("tokenization.bpe_encode", lambda text, m: bpe(list(text.encode("utf-8")), m)).ok
    assert run_exercise("tokenization.decode", lambda ids, v: ref.decode(ids)).ok


def test_exercises_catch_wrong_answers():
    assert not run_exercise("tokenization.get_stats", lambda ids: {}).ok
    assert not run_exercise("tokenization.merge", lambda ids, pair, idx: list(ids)).ok
    assert not run_exercise("tokenization.bpe_encode", lambda text, m: list(text.encode("utf-8"))).ok
    # decoding token by token breaks characters that span tokens
    bad = lambda ids, v: "".join(v[i].decode("utf-8", errors="replace") for i in ids)  # noqa: E731
    assert not run_exercise("tokenization.decode", bad).ok


# ----------------------------------------------------------------------------- primitives

@given(st.lists(st.integers(0, 5), max_size=200), st.integers(0, 5), st.integers(0, 5))
@SETTINGS
def test_merge_and_stats_against_direct_counts(ids, a, b):
    from collections import Counter

    assert get_stats(ids) == dict(Counter(zip(ids, ids[1:])))
    out = merge(ids, (a, b), 99)
    spelled = "".join(chr(65 + i) for i in ids).replace(chr(65 + a) + chr(65 + b), "#")
    assert out == [99 if c == "#" else ord(c) - 65 for c in spelled]


def test_patterns_are_tiktokens():
    for name, pattern in zip(ENCODINGS, (GPT2_SPLIT_PATTERN, GPT4_SPLIT_PATTERN, O200K_SPLIT_PATTERN)):
        assert get_encoding(name)._pat_str == pattern
    assert RegexTokenizer().pattern == GPT4_SPLIT_PATTERN
    assert split_chunks("hello world's 12345") == ["hello", " world", "'s", " ", "123", "45"]


# ----------------------------------------------------------------------------- tiktoken parity

@pytest.mark.parametrize("name", ENCODINGS)
def test_from_tiktoken_equals_tiktoken_on_multilingual_text(name, corpus, tiktoken_tokenizers):
    tok, enc = tiktoken_tokenizers[name], get_encoding(name)
    for lang, text in corpus.items():
        assert tok.encode(text) == enc.encode(text), f"{name} differs from tiktoken on {lang}"
        assert tok.decode(tok.encode(text)) == text
    lookalikes = ("a<|endoftext|>b <|endoftext| <|endoftext |> <|fim_prefix|><|endofprompt|>"
                  "<<|endoftext|>> |><|endoftext|><|endoftext|>\n" + corpus["th"][:200])
    for allowed in ("all", set()):
        try:
            expected = enc.encode(lookalikes, allowed_special=allowed, disallowed_special=())
        except ValueError:
            continue
        assert tok.encode(lookalikes, allowed_special=allowed or "none") == expected
    assert tok.encode(lookalikes, allowed_special="all") == enc.encode(lookalikes, allowed_special="all")
    with pytest.raises(ValueError, match="special token"):
        enc.encode(lookalikes)
    with pytest.raises(ValueError, match="special token"):
        tok.encode(lookalikes)


@pytest.mark.parametrize("name", ENCODINGS)
@given(text=any_text)
@SETTINGS
def test_from_tiktoken_equals_tiktoken_on_any_text(name, text, tiktoken_tokenizers):
    tok, enc = tiktoken_tokenizers[name], get_encoding(name)
    assert tok.encode_ordinary(text) == enc.encode_ordinary(text)
    assert tok.encode(text, allowed_special="all") == enc.encode(text, allowed_special="all")
    try:
        expected = enc.encode(text)
    except ValueError:
        with pytest.raises(ValueError):
            tok.encode(text)
    else:
        assert tok.encode(text) == expected


def test_unicode_newer_than_tiktoken_is_listed_exactly(tiktoken_tokenizers):
    """Every code point Python 3.11 leaves unassigned but `regex` knows: chunks match tiktoken."""
    import unicodedata

    import regex

    letterlike = regex.compile(r"[\p{L}\p{M}\p{N}\s]")
    newer = [c for c in range(0x110000) if not 0xD800 <= c < 0xE000
             and unicodedata.category(chr(c)) == "Cn" and letterlike.match(chr(c))]
    assert len(newer) > sum(b - a + 1 for a, b in NEWER_THAN_TIKTOKEN)  # the list is a strict subset
    for name in ("cl100k_base", "o200k_base"):
        tok, enc = tiktoken_tokenizers[name], get_encoding(name)
        for i in range(0, len(newer), 400):
            text = "".join(f"x{chr(c)} {chr(c)}{chr(c)}1{chr(c)}'s \n a{chr(c)}B " for c in newer[i:i + 400])
            assert tok.encode_ordinary(text) == enc.encode_ordinary(text), f"{name}: block at {hex(newer[i])}"


def test_lone_surrogates_become_replacement_like_tiktoken(tiktoken_tokenizers):
    text = "a\ud800b \udfff"
    assert tiktoken_tokenizers["cl100k_base"].encode(text) == get_encoding("cl100k_base").encode(text)


# ----------------------------------------------------------------------------- round trips

@given(text=any_text)
@SETTINGS
def test_round_trip_every_tokenizer(text, trained, tiktoken_tokenizers):
    for name, tok in list(trained.items()) + list(tiktoken_tokenizers.items()):
        assert tok.decode(tok.encode_ordinary(text)) == text, name
        assert tok.decode(tok.encode(text, allowed_special="all")) == text, name


@pytest.fixture(scope="module")
def reloaded(trained, tiktoken_tokenizers, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tok")
    out = {}
    for name, tok in list(trained.items()) + [("gpt2", tiktoken_tokenizers["gpt2"])]:
        if name == "regex-gpt4":
            tok.register_special_tokens({"<|endoftext|>": 10_000, "<|pad|>": 10_001})
        path = tok.save(folder / f"{name}.json")
        out[name] = (tok, type(tok)().load(path))
    return out


def test_save_load_keeps_everything(reloaded):
    for name, (tok, back) in reloaded.items():
        assert back.merges == tok.merges and back.vocab == tok.vocab, name
        assert back.pattern == tok.pattern and back.special_tokens == tok.special_tokens, name
        assert back.byte_ids == tok.byte_ids, name


@given(text=any_text)
@SETTINGS
def test_round_trip_through_save_load(text, reloaded):
    for name, (tok, back) in reloaded.items():
        ids = back.encode(text, allowed_special="all")
        assert ids == tok.encode(text, allowed_special="all"), name
        assert back.decode(ids) == text, name


def test_special_tokens_follow_tiktoken_rules(trained):
    tok = RegexTokenizer().train(multilingual_sample("en", 3000), 300)
    tok.register_special_tokens({"<|endoftext|>": 300, "<|user|>": 301})
    text = "hi<|endoftext|>there <|user|>"
    with pytest.raises(ValueError, match="allowed_special"):
        tok.encode(text)  # default: like tiktoken, special text in input raises
    assert tok.encode(text, allowed_special="all").count(300) == 1
    assert 300 not in tok.encode(text, allowed_special="none")
    assert tok.encode(text, allowed_special="none") == tok.encode_ordinary(text)
    with pytest.raises(ValueError, match="<|user|>"):
        tok.encode(text, allowed_special={"<|endoftext|>"})  # the other one is still disallowed
    ids = tok.encode(text, allowed_special={"<|endoftext|>"}, disallowed_special=())
    assert 300 in ids and 301 not in ids
    with pytest.raises(ValueError, match="does not have"):
        tok.encode(text, allowed_special={"<|nope|>"})
    with pytest.raises(ValueError, match="already token"):
        tok.register_special_tokens({"<|x|>": 257})


# ----------------------------------------------------------------------------- training

@given(st.lists(st.sampled_from(list("ab c\nก่") + ["ab", "  "]), min_size=2, max_size=200).map("".join),
       st.integers(1, 40))
@SETTINGS
def test_fast_trainer_equals_naive_on_random_text(text, n_merges):
    chunks = split_chunks(text)
    naive = train_naive([c.encode("utf-8") for c in chunks], n_merges)
    fast = train_fast(count_chunks(chunks), n_merges)
    assert fast == naive
    whole = [text.encode("utf-8")]  # one long sequence, as BasicTokenizer trains
    assert train_fast({whole[0]: 1}, n_merges) == train_naive(whole, n_merges)


@given(st.lists(st.lists(st.integers(0, 3), max_size=12), min_size=1, max_size=30), st.integers(1, 30))
@SETTINGS
def test_fast_trainer_equals_naive_on_random_id_sequences(seqs, n_merges):
    from collections import Counter

    words = Counter(tuple(s) for s in seqs)
    assert train_fast(words, n_merges) == train_naive(seqs, n_merges)


@pytest.mark.parametrize("cls", [BasicTokenizer, RegexTokenizer])
def test_fast_trainer_equals_naive_on_real_text(cls):
    text = "\n".join(multilingual_corpus(1_500, seed=7).values())
    fast = cls().train(text, 256 + 150)
    naive = cls().train(text, 256 + 150, algorithm="naive")
    assert fast.merges == naive.merges
    assert len(fast.vocab) == 256 + 150


def test_python_docs_corpus_fast_equals_naive():
    from pydoc_data.topics import topics

    text = "\n".join(topics[k] for k in sorted(topics))[:20_000]
    a = RegexTokenizer().train(text, 256 + 100)
    b = RegexTokenizer().train(text, 256 + 100, algorithm="naive")
    assert a.merges == b.merges


def test_learned_merges_compress_and_match_manual_replay():
    text = multilingual_sample("id", 5_000)
    tok = RegexTokenizer().train(text, 256 + 200)
    ids = tok.encode(text)
    assert len(ids) < len(text.encode("utf-8")) / 2
    # first merge is the most frequent pair of the chunked text, counted directly
    stats: dict = {}
    for c in split_chunks(text):
        get_stats(list(c.encode("utf-8")), stats)
    top = max(stats.values())
    first = next(iter(tok.merges))
    assert stats[first] == top and first == min(p for p, c in stats.items() if c == top)


# ----------------------------------------------------------------------------- bad input

def test_bad_training_input():
    with pytest.raises(ValueError, match="empty"):
        RegexTokenizer().train("", 300)
    with pytest.raises(ValueError, match=">= 256"):
        BasicTokenizer().train("hello", 255)
    with pytest.raises(ValueError, match="more than this text allows"):
        RegexTokenizer().train("ab ab ab", 10_000)
    with pytest.warns(UserWarning, match="stopped after"):
        tok = RegexTokenizer().train("aaaa bbbb", 256 + 7)  # bound 3 + 4; only 2 + 3 merges possible
    assert tok.vocab_size == 256 + 5
    with pytest.raises(ValueError, match="algorithm"):
        RegexTokenizer().train("hello", 260, algorithm="magic")
    with pytest.raises(TypeError):
        RegexTokenizer().train(b"bytes", 260)


def test_decode_invalid_utf8_replaces_like_tiktoken(tiktoken_tokenizers):
    tok, enc = tiktoken_tokenizers["cl100k_base"], get_encoding("cl100k_base")
    ids = enc.encode("สวัสดี 👍🏽")
    for cut in (ids[1:], ids[:-1], ids[::-1], [ids[0]] * 3):
        assert tok.decode(cut) == enc.decode(cut)
    cut_bytes = [tok.byte_ids[b] for b in "สวัสดี".encode("utf-8")[1:-1]]  # one token per byte
    assert tok.decode(cut_bytes) == enc.decode(cut_bytes) and "\ufffd" in tok.decode(cut_bytes)
    assert tok.decode([]) == ""
    with pytest.raises(ValueError, match="unknown token id"):
        tok.decode([10**9])


def test_bad_tokenizer_files(tmp_path, trained):
    tok = trained["regex-gpt4"]
    path = tok.save(tmp_path / "t.json")
    data = json.loads(path.read_text())
    data["version"] = 99
    (tmp_path / "v99.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="version 99"):
        RegexTokenizer().load(tmp_path / "v99.json")
    with pytest.raises(ValueError, match="holds a RegexTokenizer"):
        BasicTokenizer().load(path)
    (tmp_path / "minbpe.model").write_text("minbpe v1\n" + GPT4_SPLIT_PATTERN + "\n0\n101 32\n")
    with pytest.raises(ValueError, match="not a tokenizer file"):
        RegexTokenizer().load(tmp_path / "minbpe.model")
    data["version"] = 1
    data["merges"] = [[1, 2]]
    (tmp_path / "damaged.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="damaged"):
        RegexTokenizer().load(tmp_path / "damaged.json")
    # a failed load leaves the tokenizer as it was; a save replaces the file only when complete
    before = dict(tok.merges)
    with pytest.raises(ValueError):
        tok.load(tmp_path / "damaged.json")
    assert tok.merges == before
    assert RegexTokenizer().load(path).merges == before


def test_unknown_encoding_and_bad_arguments():
    with pytest.raises(ValueError, match="unknown tiktoken encoding"):
        RegexTokenizer.from_tiktoken("p50k_nope")
    tok = RegexTokenizer()
    with pytest.raises(TypeError, match="str"):
        tok.encode(b"bytes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="allowed_special"):
        tok.encode("x", allowed_special="some")
    with pytest.raises(ValueError, match="not a valid regex"):
        RegexTokenizer(pattern="(unclosed")
    assert tok.encode("") == [] and BasicTokenizer().encode("") == []


# ----------------------------------------------------------------------------- assets

def test_multilingual_sample_is_deterministic_and_sized():
    for lang in LANGUAGES:
        a = multilingual_sample(lang, 1_000, seed=3)
        assert a == multilingual_sample.__wrapped__(lang, 1_000, seed=3)
        assert 900 <= len(a) <= 1_000 and a != multilingual_sample(lang, 1_000, seed=4)
        assert count_words(a, lang) > 40
    assert " " not in multilingual_sample("th", 2_000).split("\n")[0][:40]  # Thai: no spaces inside clauses
    with pytest.raises(ValueError, match="unknown language"):
        multilingual_sample("xx", 100)


def test_hf_gpt2_tokenizer_offline_equals_tiktoken(corpus):
    from llmcourse.assets.gpt2_tokenizer import gpt2_tokenizer_offline

    hf, enc = gpt2_tokenizer_offline(), get_encoding("gpt2")
    for lang, text in corpus.items():
        assert hf.encode(text) == enc.encode(text), lang


# ----------------------------------------------------------------------------- comparisons

def test_sentencepiece_and_hf_bpe_round_trip_and_fertility(corpus):
    from llmcourse.tokenization.compare import (
        hf_contender, measure, sentencepiece_contender, tiktoken_contender, train_hf_bpe, train_sentencepiece,
    )

    text = "\n".join(corpus.values())
    test = multilingual_corpus(1_500, seed=9)
    cs = [sentencepiece_contender(train_sentencepiece(text, 800, t), f"sp {t}") for t in ("unigram", "bpe")]
    cs += [hf_contender(train_hf_bpe(text, 800), "hf"), tiktoken_contender("gpt2"), tiktoken_contender("o200k_base")]
    rows = measure(cs, test)
    assert all(r["round_trip"] for r in rows), [(r["tokenizer"], r["lang"]) for r in rows if not r["round_trip"]]
    cell = {(r["tokenizer"], r["lang"]): r for r in rows}
    for r in rows:
        assert r["tokens"] == len(next(c for c in cs if c.name == r["tokenizer"]).encode(test[r["lang"]]))
        assert r["fertility"] == pytest.approx(r["tokens"] / count_words(test[r["lang"]], r["lang"]))
    # GPT-2 has almost no Thai merges: far more tokens per Thai word than o200k
    assert cell[("tiktoken gpt2", "th")]["fertility"] > 3 * cell[("tiktoken o200k_base", "th")]["fertility"]


# ----------------------------------------------------------------------------- extension

def test_vocabulary_extension_keeps_old_behaviour():
    import torch

    from llmcourse.assets.gpt2_tokenizer import gpt2_tokenizer_offline, load_gpt2_model
    from llmcourse.tokenization.extend import extend_tokenizer, resize_embeddings_mean

    old = gpt2_tokenizer_offline()
    sea = "\n".join(multilingual_corpus(6_000, seed=0, languages=("th", "ta", "vi", "id")).values())
    ext = extend_tokenizer(old, sea, 300)
    assert 0 < len(ext.new_tokens) <= 300 and ext.new_vocab_size == len(ext.tokenizer) == 50257 + len(ext.new_tokens)
    held_out = multilingual_corpus(2_000, seed=1)
    for lang in ("th", "ta"):
        assert len(ext.tokenizer.encode(held_out[lang])) < 0.8 * len(old.encode(held_out[lang]))
        assert ext.tokenizer.decode(ext.tokenizer.encode(held_out[lang])) == held_out[lang]
    english = "Tokenizers turn text into numbers; the model never sees letters."
    ids = old.encode(english)
    assert ext.tokenizer.encode(english) == ids  # old-token text: same ids

    model, _ = load_gpt2_model(online=False)
    x = torch.tensor([ids])
    with torch.no_grad():
        before = model(x).logits  # (1, T, 50257)
    old_rows = model.get_input_embeddings().weight[:50257].detach().clone()
    resize_embeddings_mean(model, ext.new_vocab_size)
    with torch.no_grad():
        after = model(x).logits  # (1, T, 50257 + new)
    assert after.shape[-1] == ext.new_vocab_size
    torch.testing.assert_close(after[..., :50257], before)
    emb = model.get_input_embeddings().weight
    assert torch.equal(emb[:50257], old_rows)
    torch.testing.assert_close(emb[50257:], old_rows.mean(0).expand(len(ext.new_tokens), -1))


def test_extension_rejects_non_byte_level_tokenizers():
    import tokenizers

    from llmcourse.tokenization.extend import extend_tokenizer

    wl = tokenizers.Tokenizer(tokenizers.models.WordLevel({"a": 0, "[UNK]": 1}, unk_token="[UNK]"))
    with pytest.raises(ValueError, match="byte-level BPE"):
        extend_tokenizer(wl, "a a a", 5)


@pytest.mark.slow
def test_gemma_tokenizer_file_is_what_load_tokenizer_gives(corpus):
    import tokenizers

    from llmcourse.assets import load_tokenizer
    from llmcourse.assets.models import gemma_dir

    hf = load_tokenizer("gemma-3-270m")
    raw = tokenizers.Tokenizer.from_file(str(gemma_dir() / "tokenizer.json"))
    for lang, text in corpus.items():
        assert hf.encode(text, add_special_tokens=False) == raw.encode(text, add_special_tokens=False).ids, lang


def test_random_seeds_vary_fast_naive_ties():
    """Many equal counts (ties) in a shuffled alphabet: both trainers break them the same way."""
    rng = random.Random(11)
    for _ in range(20):
        words = ["".join(rng.choice("abcd") for _ in range(rng.randint(1, 6))) for _ in range(40)]
        chunks = [w.encode() for w in words]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert train_fast(count_chunks(words), 25) == train_naive(chunks, 25)


def test_course_tokenizer_through_the_artifact_door(tmp_path, monkeypatch):
    """1.2 saves the course tokenizer as an artifact; load_course_tokenizer() returns it, or the
    reference (trained the same way) when it is missing or damaged, and says so."""
    import llmcourse.models.course as mc
    import llmcourse.tokenization.course_tokenizer as ct
    from llmcourse.assets.artifacts import last_source, save_artifact

    monkeypatch.setenv("LLMCOURSE_ARTIFACTS", str(tmp_path / "artifacts"))
    tok = ct.train_course_tokenizer(400, chars_per_language=1_500)
    assert tok.vocab_size == 400 and list(tok.special_tokens) == list(ct.SPECIALS)
    assert min(tok.special_tokens.values()) > max(tok.merges.values())
    # the reference is the library's trainer on the same text: a RegexTokenizer with the same merges
    text = ct.course_tokenizer_text(1_500)
    chunks = [list(c.encode("utf-8")) for c in split_chunks(text, "gpt4")]
    assert tok.merges == train_merges(chunks, 400 - 2 - 256) == train_merges_fast(chunks, 400 - 2 - 256)

    built = []
    monkeypatch.setattr(mc, "reference_course_tokenizer", lambda: built.append(1) or tok)
    assert ct.load_course_tokenizer().vocab == tok.vocab and last_source("course-tokenizer") == "reference"
    mine = ct.with_course_specials(RegexTokenizer().train(text, 300))
    save_artifact("course-tokenizer", mine, notebook="1.2")
    assert ct.load_course_tokenizer().vocab == mine.vocab and last_source("course-tokenizer") == "yours"
    loaded = ct.load_course_tokenizer(vocab_size=1000)  # another size: says so, gives the course one
    assert loaded.vocab_size == mine.vocab_size
    with pytest.raises(ValueError, match="at least"):
        ct.train_course_tokenizer(200)


def test_decode_accepts_tensors_and_arrays():
    """A tensor of ids used to be reported as 'unknown token id tensor(…)' though every id was in range."""
    import numpy as np
    import torch

    tok = RegexTokenizer().train("selamat pagi selamat malam " * 20, 264)
    ids = tok.encode("selamat malam")
    assert tok.decode(torch.tensor(ids)) == tok.decode(np.array(ids)) == tok.decode(ids) == "selamat malam"
    assert tok.decode(list(torch.tensor(ids))) == "selamat malam"  # a list of 0-d tensors
    with pytest.raises(TypeError, match="integers"):
        tok.decode(torch.tensor(ids, dtype=torch.float32))
    with pytest.raises(ValueError, match="1-D"):
        tok.decode(torch.tensor([ids]))
    with pytest.raises(ValueError, match="unknown token id"):
        tok.decode([1.5])


def test_from_merges_checks_the_table():
    tok = RegexTokenizer.from_merges({(115, 101): 256, (256, 108): 257}, "gpt4")
    assert tok.decode([257]) == "sel" and tok.encode("sel") == [257]
    with pytest.raises(ValueError, match="256, 257"):
        RegexTokenizer.from_merges({(115, 101): 300})
    with pytest.raises(ValueError, match="earlier merge"):
        RegexTokenizer.from_merges({(115, 999): 256})


def test_every_course_vocabulary_follows_the_tokenizer_protocol():
    """BPE tokenizers, the char tokenizer, word2vec's vocabulary and CLIP's: encode, decode, vocab_size."""
    from llmcourse.embeddings.word2vec import Vocab
    from llmcourse.multimodal.clip import CaptionTokenizer
    from llmcourse.tokenization import TokenizerProtocol, check_tokenizer
    from llmcourse.tokenization.char import CharTokenizer

    text = "Selamat pagi! สวัสดีครับ Xin chào"
    toks = {
        "basic": BasicTokenizer().train(text * 3, 270),
        "regex": RegexTokenizer().train(text * 3, 270),
        "char": CharTokenizer.train(text),
        "word2vec": Vocab.build([["the", "red", "cat"], ["the", "blue", "cat"]], min_count=1),
        "clip": CaptionTokenizer(["a red circle", "a blue square"]),
    }
    samples = {"basic": text, "regex": text, "char": text, "word2vec": "the red cat", "clip": "a blue circle"}
    for name, tok in toks.items():
        assert isinstance(tok, TokenizerProtocol), name
        ids = check_tokenizer(tok, samples[name])
        assert ids and max(ids) < tok.vocab_size, name
    with pytest.raises(TypeError, match="protocol"):
        check_tokenizer(object(), "x")
