"""The artifact door: save/load round trips, hash verification, fallbacks, per-profile folders,
atomic replacement, stale temp folders, and the cache and tiktoken folders' bad states."""

import os
import subprocess
import sys

import pytest
import torch

from llmcourse.assets import artifacts as A
from llmcourse.models.gpt import GPT, GPTConfig
from llmcourse.tokenization.bpe_regex import RegexTokenizer
from llmcourse.tokenization.char import CharTokenizer


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMCOURSE_ARTIFACTS", str(tmp_path / "artifacts"))
    monkeypatch.setenv("LLMCOURSE_PROFILE", "smoke")
    return tmp_path / "artifacts"


def _gpt():
    torch.manual_seed(0)
    return GPT(GPTConfig.llama_style(vocab_size=300, block_size=16, n_layer=1, n_head=2, n_embd=16)).eval()


def _tok():
    return RegexTokenizer().train("hello world, selamat pagi dunia " * 20, 270)


def test_bundle_round_trip_keeps_weights_and_tokenizer(root, capsys):
    model, tok = _gpt(), _tok()
    folder = A.save_artifact("course-gpt", {"model": model, "tokenizer": tok, "metrics": {"val_loss": 2.5}},
                             notebook="3.1", about="test model", steps=10)
    assert folder == root / "smoke" / "course-gpt" and (folder / "MANIFEST.json").is_file()
    art = A.load_artifact("course-gpt")
    x = torch.randint(0, 300, (2, 8))
    assert torch.equal(art["model"](x)[0], model(x)[0])
    assert art["tokenizer"].encode("selamat pagi") == tok.encode("selamat pagi")
    assert art["metrics"] == {"val_loss": 2.5}
    assert A.last_source("course-gpt") == "yours" and "yours, from notebook 3.1" in capsys.readouterr().out
    info = A.artifact_info("course-gpt")
    assert info["notebook"] == "3.1" and info["extra"] == {"steps": 10} and info["about"] == "test model"


def test_single_objects_round_trip(root, tmp_path):
    A.save_artifact("numbers", {"a": [1, 2], "b": "x"}, notebook="1.1")
    assert A.load_artifact("numbers") == {"a": [1, 2], "b": "x"}
    t = {"w": torch.randn(3, 4), "b": torch.arange(4)}
    A.save_artifact("weights", t, notebook="1.1")
    got = A.load_artifact("weights")
    assert torch.equal(got["w"], t["w"]) and torch.equal(got["b"], t["b"])
    f = tmp_path / "model.gguf"
    f.write_bytes(b"GGUF" + bytes(range(200)))
    A.save_artifact("gguf", f, notebook="6.2")
    loaded = A.load_artifact("gguf")
    assert loaded.read_bytes() == f.read_bytes() and loaded != f
    chars = CharTokenizer.train("abc")
    A.save_artifact("chars", chars, notebook="2.2")
    assert A.load_artifact("chars").encode("cab") == chars.encode("cab")


def test_unsaveable_object_is_a_clear_error(root):
    with pytest.raises(A.ArtifactError, match="cannot save a object"):
        A.save_artifact("thing", object(), notebook="1.1")
    with pytest.raises(A.ArtifactError, match="plain words"):
        A.save_artifact("../escape", 1, notebook="1.1")


def test_flipped_byte_is_detected_and_names_the_notebook(root, capsys):
    A.save_artifact("course-gpt", {"model": _gpt()}, notebook="3.1")
    weights = root / "smoke" / "course-gpt" / "model" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(A.ArtifactError, match="damaged .*re-run notebook 3.1"):
        A.load_artifact("course-gpt")
    # with a fallback the notebook keeps going, and says why
    built = A.load_artifact("course-gpt", fallback=lambda: {"model": _gpt()})
    assert isinstance(built["model"], GPT) and A.last_source("course-gpt") == "reference"
    assert "re-run notebook 3.1" in capsys.readouterr().out


def test_truncated_file_is_detected(root):
    A.save_artifact("course-tokenizer", _tok(), notebook="1.2")
    path = root / "smoke" / "course-tokenizer" / "tokenizer.json"
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(A.ArtifactError, match="does not match its recorded sha256.*notebook 1.2"):
        A.load_artifact("course-tokenizer")


def test_reference_is_built_once_and_profiles_are_separate(root, capsys):
    calls = []

    def build():
        """a tiny reference"""
        calls.append(1)
        return {"value": 7}

    assert A.load_artifact("thing", fallback=build) == {"value": 7}
    assert A.load_artifact("thing", fallback=build) == {"value": 7}
    assert len(calls) == 1, "the reference is cached after the first build"
    out = capsys.readouterr().out
    assert "building the reference one" in out and "built earlier" in out
    A.save_artifact("thing", {"value": 1}, notebook="1.1", profile="laptop")
    assert A.load_artifact("thing", profile="laptop") == {"value": 1}
    assert A.load_artifact("thing", fallback=build) == {"value": 7}, "smoke does not see laptop's artifact"


def test_save_replaces_atomically_and_a_failed_save_keeps_the_old(root, monkeypatch):
    A.save_artifact("n", {"v": 1}, notebook="1.1")
    monkeypatch.setattr(A, "write_manifest", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        A.save_artifact("n", {"v": 2}, notebook="1.1")
    monkeypatch.undo()
    os.environ["LLMCOURSE_ARTIFACTS"] = str(root)
    os.environ["LLMCOURSE_PROFILE"] = "smoke"
    assert A.load_artifact("n") == {"v": 1}, "the previous artifact survives a failed save"
    leftovers = [p.name for p in (root / "smoke").iterdir() if p.name.startswith(".")]
    assert not leftovers, leftovers


def test_stale_temp_folders_of_dead_builds_are_removed(root):
    parent = root / "smoke"
    parent.mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = parent / f".n-tmp-{dead.stdout.strip()}-abcd"
    stale.mkdir()
    (stale / "big.bin").write_bytes(b"x" * 1000)
    live = parent / f".n-tmp-{os.getpid()}-efgh"
    live.mkdir()
    A.save_artifact("n", {"v": 1}, notebook="1.1")
    assert not stale.exists(), "a dead build's temp folder is cleaned"
    assert live.exists(), "a running build's temp folder is left alone"


def test_list_and_cli(root, capsys):
    from llmcourse.cli import main

    A.save_artifact("course-tokenizer", _tok(), notebook="1.2", about="sea bpe")
    rows = A.list_artifacts()
    assert [(r["name"], r["notebook"], r["status"]) for r in rows] == [("course-tokenizer", "1.2", "ok")]
    assert main(["artifacts"]) == 0
    out = capsys.readouterr().out
    assert "course-tokenizer" in out and "notebook 1.2" in out and "sea bpe" in out
    assert main(["artifacts", "graph"]) == 0
    assert main(["artifacts", "remove", "course-tokenizer"]) == 0
    assert A.list_artifacts() == []


def test_cache_dir_errors_are_clear(tmp_path, monkeypatch):
    from llmcourse.config import CacheError, cache_dir

    monkeypatch.setenv("LLMCOURSE_CACHE", "")
    assert cache_dir() != __import__("pathlib").Path.cwd(), "empty means unset, never the current folder"
    a_file = tmp_path / "file"
    a_file.write_text("x")
    monkeypatch.setenv("LLMCOURSE_CACHE", str(a_file))
    with pytest.raises(CacheError, match="LLMCOURSE_CACHE=.*not a folder this user can write"):
        cache_dir()
    if os.getuid() != 0:  # root can write anywhere
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        monkeypatch.setenv("LLMCOURSE_CACHE", str(ro / "sub"))
        with pytest.raises(CacheError):
            cache_dir()


def test_tiktoken_files_live_in_the_course_cache_and_are_reseeded(tmp_path, monkeypatch):
    from llmcourse.assets import tiktoken_files as T

    monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)
    monkeypatch.delenv("DATA_GYM_CACHE_DIR", raising=False)
    monkeypatch.setenv("LLMCOURSE_CACHE", str(tmp_path / "cache"))
    assert T.tiktoken_cache_dir() == tmp_path / "cache" / "tiktoken"
    assert os.environ["TIKTOKEN_CACHE_DIR"] == str(tmp_path / "cache" / "tiktoken")
    assert set(T.ensure_tiktoken_files()) == set(T.FILES)  # wiped: all written again
    assert T.ensure_tiktoken_files() == []  # intact: nothing to do
    T.cache_path(T.FILES["gpt2"][0][0]).write_bytes(b"corrupt")
    assert T.ensure_tiktoken_files() == ["gpt2"]
    import tiktoken

    assert tiktoken.get_encoding("gpt2").encode("hello world") == [31373, 995]
