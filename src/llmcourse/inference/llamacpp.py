"""The same GGUF in llama.cpp: in-process (llama-cpp-python) and as an OpenAI-compatible server.

llama.cpp is the engine inside Ollama: C++, quantised weights used as they are (no
dequantising to float32), tuned CPU kernels. Running the very same Gemma 3 270M GGUF
here and in transformers shows what a runtime alone is worth.

`LlamaServer` starts `python -m llama_cpp.server` on 127.0.0.1 — the stand-in for an
Ollama server — and stops it on exit. When an Ollama server answers (OLLAMA_HOST or
localhost:11434), `ollama_generate_timed` uses the real `ollama` client.
"""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from llmcourse.assets.registry import require


@dataclass
class Timing:
    """One timed generation: time to first token, decode speed, and the text."""

    runtime: str
    ttft_s: float
    tokens: int
    total_s: float
    text: str = ""

    @property
    def tokens_per_s(self) -> float:
        """Decode speed: tokens after the first, per second after the first arrived."""
        decode = self.total_s - self.ttft_s
        return (self.tokens - 1) / decode if self.tokens > 1 and decode > 0 else float("nan")


def default_threads() -> int:
    """Threads for llama.cpp: half the CPUs this process may use, as llama-cpp-python's own default.

    llama.cpp's threads wait for each other at every layer by spinning; with one thread per
    core, any other busy process (a notebook kernel, a second model) stalls them all: on a
    loaded 2-core machine 32 tokens took 4-6 s with 2 threads and 1 s with 1.
    """
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cpus // 2)


def load_llama(gguf: Path, n_ctx: int = 2048, logits_all: bool = False, n_threads: int | None = None):
    """A llama.cpp model from a GGUF file (logits_all=True keeps logits for every position)."""
    llama_cpp = require("llama_cpp", "llama-cpp-python")
    if not Path(gguf).is_file():
        raise FileNotFoundError(f"no GGUF at {gguf}; llmcourse.assets.gemma_gguf_path() assembles Gemma's")
    return llama_cpp.Llama(model_path=str(gguf), n_ctx=n_ctx, logits_all=logits_all,
                           n_threads=n_threads or default_threads(), n_threads_batch=n_threads or default_threads(),
                           verbose=False, seed=0)


def llamacpp_logits(llm, token_ids: list[int]) -> np.ndarray:
    """Logits (T, V) llama.cpp computes for each position of `token_ids` (needs logits_all=True)."""
    if not llm._logits_all:
        raise ValueError("load the model with load_llama(..., logits_all=True) to read logits")
    llm.reset()
    llm.eval(list(token_ids))
    return np.array(llm.scores[: len(token_ids)], dtype=np.float32)


def llamacpp_generate_timed(llm, prompt: str, max_tokens: int) -> Timing:
    """Greedy completion in-process, streamed, so the first token's arrival is seen."""
    llm.reset()
    start = time.perf_counter()
    ttft, n, text = float("nan"), 0, []
    for chunk in llm.create_completion(prompt, max_tokens=max_tokens, temperature=0.0, stream=True):
        choice = chunk["choices"][0]
        if choice["finish_reason"] is not None and not choice["text"]:
            continue  # the closing chunk carries no token
        if n == 0:
            ttft = time.perf_counter() - start
        n += 1
        text.append(choice["text"])
    return Timing("llama.cpp (in-process)", ttft, n, time.perf_counter() - start, "".join(text))


def hf_generate_timed(model, tokenizer, prompt: str, max_tokens: int) -> Timing:
    """Greedy `generate` in transformers, timing each token as it arrives.

    `generate` hands the prompt to its streamer first and then every new token; a streamer
    that only notes the clock is all we need.
    """
    import torch
    from transformers.generation.streamers import BaseStreamer

    class ClockStreamer(BaseStreamer):
        def __init__(self) -> None:
            self.times: list[float] = []

        def put(self, value) -> None:
            self.times.append(time.perf_counter())

        def end(self) -> None:
            pass

    ids = tokenizer(prompt, return_tensors="pt").input_ids.to(model.device)
    clock = ClockStreamer()
    start = time.perf_counter()
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=max_tokens, min_new_tokens=max_tokens, do_sample=False,
                             streamer=clock)
    total = time.perf_counter() - start
    new = out[0, ids.size(1):]
    ttft = clock.times[1] - start if len(clock.times) > 1 else total  # times[0] is the prompt
    return Timing("transformers", ttft, int(new.numel()), total, tokenizer.decode(new))


# ----------------------------------------------------------------------------- the server


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        return s.connect_ex((host, port)) != 0


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


# The server runs under this small launcher: a thread watches the parent's pid and ends the
# server the moment the parent is gone (killed, crashed, or a kernel restarted), so a server
# that was never stop()-ed cannot outlive its Python process and keep the port and ~400 MB.
_WATCHDOG = (
    "import os, sys, threading, time, runpy\n"
    "parent = int(sys.argv[1])\n"
    "sys.argv = ['llama_cpp.server'] + sys.argv[2:]\n"
    "def watch():\n"
    "    while os.getppid() == parent:\n"
    "        time.sleep(0.25)\n"
    "    os._exit(0)\n"
    "threading.Thread(target=watch, daemon=True).start()\n"
    "runpy.run_module('llama_cpp.server', run_name='__main__', alter_sys=True)\n"
)
_RUNNING: "weakref.WeakSet[LlamaServer]" = weakref.WeakSet()


@atexit.register
def _stop_all_servers() -> None:
    """At interpreter exit, stop every server this process started and did not stop."""
    for server in list(_RUNNING):
        server.stop()


class LlamaServer:
    """llama.cpp's OpenAI-compatible server on 127.0.0.1, as a context manager.

        with LlamaServer(gguf) as server:
            client = openai.OpenAI(base_url=server.base_url, api_key="none")

    `port=None` picks a free port; a port that is taken is an error that says so. A server
    dies with the Python process that started it, even without `stop()` (a watchdog in the
    server process checks its parent; `atexit` stops it on a normal exit), and a start that
    fails leaves no log file behind. `n_threads` defaults to `default_threads()`; a speed
    comparison with torch passes torch's own thread count.
    """

    def __init__(self, gguf: Path, port: int | None = None, n_ctx: int = 2048, startup_timeout: float = 120.0,
                 n_threads: int | None = None):
        require("llama_cpp", "llama-cpp-python[server]")
        require("uvicorn", "llama-cpp-python[server]")
        if port is not None and not port_free(port):
            raise OSError(f"port {port} on 127.0.0.1 is already in use; stop what runs there or pass port=None "
                          "to pick a free one")
        self.gguf, self.port, self.n_ctx, self.timeout = Path(gguf), port or free_port(), n_ctx, startup_timeout
        self.n_threads = n_threads or default_threads()
        self.proc: subprocess.Popen | None = None
        self.log = None
        self.model_name = self.gguf.stem

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> "LlamaServer":
        if self.proc is not None and self.proc.poll() is None:
            return self  # already running
        cmd = [sys.executable, "-c", _WATCHDOG, str(os.getpid()), "--model", str(self.gguf), "--host", "127.0.0.1",
               "--port", str(self.port), "--n_ctx", str(self.n_ctx), "--model_alias", self.model_name,
               "--n_threads", str(self.n_threads), "--n_threads_batch", str(self.n_threads)]
        # the server logs a lot; a file (not a pipe nobody reads) keeps it from blocking
        self.log = tempfile.NamedTemporaryFile(prefix="llama-server-", suffix=".log", delete=False)
        try:
            self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            _RUNNING.add(self)
            deadline = time.monotonic() + self.timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    err = Path(self.log.name).read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"llama.cpp server exited with code {self.proc.returncode}: {err}")
                try:
                    with urllib.request.urlopen(f"{self.base_url}/models", timeout=1) as r:
                        if r.status == 200:
                            return self
                except OSError:
                    time.sleep(0.3)
            raise TimeoutError(f"llama.cpp server did not answer on port {self.port} within {self.timeout:.0f} s")
        except BaseException:
            self.stop()  # a failed start leaves neither a process nor its log file
            raise

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        _RUNNING.discard(self)
        if getattr(self, "log", None) is not None:
            self.log.close()
            Path(self.log.name).unlink(missing_ok=True)
            self.log = None

    def __enter__(self) -> "LlamaServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def openai_generate_timed(base_url: str, model: str, prompt: str, max_tokens: int,
                          runtime: str = "llama.cpp server (OpenAI API)") -> Timing:
    """A streamed greedy completion through any OpenAI-compatible endpoint."""
    openai = require("openai")
    client = openai.OpenAI(base_url=base_url, api_key="not-needed")
    start = time.perf_counter()
    ttft, n, text = float("nan"), 0, []
    stream = client.completions.create(model=model, prompt=prompt, max_tokens=max_tokens, temperature=0.0,
                                       stream=True)
    for chunk in stream:
        if not chunk.choices or (chunk.choices[0].finish_reason is not None and not chunk.choices[0].text):
            continue  # the closing chunk carries no token
        if n == 0:
            ttft = time.perf_counter() - start
        n += 1
        text.append(chunk.choices[0].text)
    return Timing(runtime, ttft, n, time.perf_counter() - start, "".join(text))


# ----------------------------------------------------------------------------- Ollama


def ollama_host() -> str:
    host = os.environ.get("OLLAMA_HOST", "http://127.0.0.1:11434")
    return host if host.startswith("http") else f"http://{host}"


def ollama_available(timeout: float = 1.0) -> bool:
    """Does an Ollama server answer at OLLAMA_HOST (default localhost:11434)?"""
    try:
        with urllib.request.urlopen(f"{ollama_host()}/api/version", timeout=timeout) as r:
            return r.status == 200
    except OSError:
        return False


def ollama_generate_timed(prompt: str, max_tokens: int, model: str | None = None) -> Timing:
    """The same prompt through the `ollama` client (model: OLLAMA_MODEL, default gemma3:270m)."""
    ollama = require("ollama")
    client = ollama.Client(host=ollama_host())
    model = model or os.environ.get("OLLAMA_MODEL", "gemma3:270m")
    start = time.perf_counter()
    ttft, n, text = float("nan"), 0, []
    for part in client.generate(model=model, prompt=prompt, stream=True, raw=True,
                                options={"num_predict": max_tokens, "temperature": 0}):
        if n == 0:
            ttft = time.perf_counter() - start
        if part.get("response"):
            n += 1
            text.append(part["response"])
    return Timing(f"ollama ({model})", ttft, n, time.perf_counter() - start, "".join(text))
