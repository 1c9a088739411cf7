"""The same Gemma 3 270M GGUF in llama.cpp and in transformers: same tokens, close logits;
the OpenAI-compatible server starts, answers, stops, and refuses a port that is taken."""

import socket
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("llama_cpp")

from llmcourse.assets import gemma_gguf_path  # noqa: E402
from llmcourse.inference.llamacpp import (LlamaServer, llamacpp_generate_timed, llamacpp_logits,  # noqa: E402
                                          load_llama, openai_generate_timed)

PROMPTS = ["The capital of Indonesia is", "สวัสดีครับ ผมชื่อ", "Selamat pagi, apa kabar?"]


@pytest.fixture(scope="module")
def llm():
    model = load_llama(gemma_gguf_path(), n_ctx=256, logits_all=True)
    yield model
    model.close()


@pytest.mark.slow
@pytest.mark.parametrize("prompt", PROMPTS)
def test_llamacpp_and_transformers_agree_on_next_token(llm, gemma, prompt):
    model, tok = gemma
    ids = tok(prompt).input_ids
    assert llm.tokenize(prompt.encode(), add_bos=True, special=True) == ids  # same tokenizer
    ours = llamacpp_logits(llm, ids)  # (T, V)
    with torch.no_grad():
        hf = model(torch.tensor([ids])).logits[0].float().numpy()  # (T, V)
    assert ours.shape == hf.shape
    for t in range(len(ids)):
        a, b = ours[t], hf[t]
        cosine = float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
        assert cosine > 0.99, f"position {t}: cosine {cosine:.4f}"
    assert ours[-1].argmax() == hf[-1].argmax()
    top5 = set(np.argsort(-ours[-1])[:5]) & set(np.argsort(-hf[-1])[:5])
    assert len(top5) >= 4


def test_logits_need_logits_all():
    small = load_llama(gemma_gguf_path(), n_ctx=64)
    try:
        with pytest.raises(ValueError, match="logits_all=True"):
            llamacpp_logits(small, [2, 818])
        timing = llamacpp_generate_timed(small, "Hello", 4)
        assert timing.tokens == 4 and timing.ttft_s > 0 and timing.total_s >= timing.ttft_s
    finally:
        small.close()


def test_missing_gguf_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no GGUF"):
        load_llama(tmp_path / "nope.gguf")


def test_server_answers_and_port_in_use_is_refused():
    with LlamaServer(gemma_gguf_path(), n_ctx=256) as server:
        timing = openai_generate_timed(server.base_url, server.model_name, "The capital of Indonesia is", 4)
        assert timing.tokens == 4 and "Jakarta" in timing.text
        with pytest.raises(OSError, match="already in use"):
            LlamaServer(gemma_gguf_path(), port=server.port)
        proc = server.proc
    assert proc.poll() is not None  # stopped on exit


def test_port_in_use_by_another_program():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        with pytest.raises(OSError, match="pass port=None"):
            LlamaServer(gemma_gguf_path(), port=s.getsockname()[1])


def _alive(pid: int) -> bool:
    """Is `pid` a live process? (A zombie waiting to be reaped counts as dead.)"""
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in state


_START_AND_EXIT = """
import os, sys
from llmcourse.assets import gemma_gguf_path
from llmcourse.inference.llamacpp import LlamaServer
server = LlamaServer(gemma_gguf_path(), n_ctx=64).start()
print(server.proc.pid, server.port, flush=True)
if sys.argv[1] == "hard":
    os._exit(0)  # no atexit: only the server's watchdog can notice
"""


@pytest.mark.parametrize("how", ["normal", "hard"])
def test_server_dies_with_the_process_that_started_it(how):
    """A LlamaServer never stop()-ed must not outlive its Python process (the port and ~400 MB)."""
    import os
    import subprocess
    import sys
    import time

    from llmcourse.inference.llamacpp import port_free

    out = subprocess.run([sys.executable, "-c", _START_AND_EXIT, how], capture_output=True, text=True,
                         timeout=300, env=dict(os.environ))
    assert out.returncode == 0, out.stderr[-2000:]
    pid, port = map(int, out.stdout.split()[-2:])
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and (_alive(pid) or not port_free(port)):
        time.sleep(0.2)
    alive = _alive(pid)
    if alive:  # clean up before failing, so the test does not leak what it tests for
        os.kill(pid, 9)
    assert not alive, f"the llama.cpp server (pid {pid}) outlived its parent ({how} exit)"
    assert port_free(port), f"port {port} is still held"


def test_failed_start_leaves_no_log_file(tmp_path, monkeypatch):
    import tempfile

    # a private temp dir: servers started by tests on other workers log to the shared one
    logs = tmp_path / "logs"
    logs.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(logs))
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF not really a model")
    server = LlamaServer(bad, n_ctx=64, startup_timeout=60)
    with pytest.raises((RuntimeError, TimeoutError)):
        server.start()
    assert list(logs.glob("llama-server-*.log")) == [], "a failed start left its log file behind"
    assert server.proc is None
