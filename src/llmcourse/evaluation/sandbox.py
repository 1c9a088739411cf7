"""Run untrusted Python (model-written code) in a sandbox: `run_python(code) -> RunResult`.

A model that writes code can write *anything*: an infinite loop, a fork bomb, `rm -rf ~`,
code that reads your API keys from the environment and posts them to a server. Graders
like HumanEval's run that code, so the code must run somewhere it can do no harm:

* a **separate process** in a **fresh temporary directory**, with a **scrubbed
  environment** (no variable of ours reaches it: no tokens, no keys, no paths);
* **resource limits** (`setrlimit`): CPU seconds, address space (memory), the size of any
  file it writes, the number of processes (a fork bomb hits the ceiling at once) and of
  open files; its own process group, **killed as a whole** when the wall clock runs out;
* when bubblewrap (`bwrap`, Debian package `bubblewrap`) works on this machine, Linux
  namespaces on top: a read-only view of `/usr` and the interpreter only (no home
  folders, no project files), a private `/tmp` and working folder in memory with a size
  cap, **no network** (its own empty network namespace: even 127.0.0.1 is a different
  host) and its **own PID namespace** (it cannot see, signal or outlive anything of ours);
* when the caller is root, the code runs as a dedicated unprivileged user id: root ignores
  the process-count limit, an ordinary user does not.

Without bubblewrap (macOS, Windows, Colab without the package, kernels without user
namespaces) only the process-level protections remain and `RunResult.isolation` says so:
no network isolation, the host's files readable. Install `bubblewrap` for the rest.

    >>> r = run_python("print(sum(range(10)))")
    >>> r.status, r.stdout
    ('ok', '45\\n')
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from llmcourse.evaluation.sandbox_process import (  # noqa: F401  (SANDBOX_UID_BASE, _processes_of: for tests)
    SANDBOX_UID_BASE, SANDBOX_UIDS, _Reader, _interpreter, _kill, _launch, _next_uid, _processes_of,
)

__all__ = ["RunResult", "run_python", "sandbox_info"]

STATUSES = ("ok", "error", "timeout", "killed")


@dataclass
class RunResult:
    """What a sandboxed program did: status ok / error / timeout / killed, and its output."""

    status: str
    stdout: str
    stderr: str
    returncode: int | None
    seconds: float
    truncated: bool = False  # output beyond max_output bytes was dropped
    reason: str = ""  # why it was killed or failed, in words
    isolation: str = ""  # which protections applied (bubblewrap or process limits only)
    uid: int | None = None  # the dedicated user id it ran as (when started as root)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


# ----------------------------------------------------------------------------- what this machine allows
@functools.lru_cache(maxsize=1)
def _bwrap_problem() -> str | None:
    """None when bubblewrap can build our sandbox here, else why not (probed once per process)."""
    if not sys.platform.startswith("linux"):
        return f"bubblewrap is Linux-only (this is {sys.platform})"
    if shutil.which("bwrap") is None:
        return "bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    res = _execute("pass", timeout=20.0, memory_mb=512, stdin=b"", max_output=4096, file_mb=1, max_processes=8,
                   use_bwrap=True)
    if res.status != "ok":
        why = res.stderr.strip()[:200] or res.reason
        return f"bubblewrap cannot build the sandbox here ({why})"
    return None


@functools.lru_cache(maxsize=1)
def _netns_problem() -> str | None:
    """None when a process can be put in its own network namespace without bubblewrap, else why not."""
    if not sys.platform.startswith("linux"):
        return f"network namespaces are Linux-only (this is {sys.platform})"
    try:
        res = _execute("pass", timeout=20.0, memory_mb=512, stdin=b"", max_output=4096, file_mb=1, max_processes=8,
                       use_bwrap=False, own_network=True)
    except (OSError, subprocess.SubprocessError) as err:
        return f"the kernel refused a network namespace ({err})"
    return None if res.status == "ok" else f"the kernel refused a network namespace ({res.reason})"


def sandbox_info() -> dict:
    """Which protections `run_python` applies on this machine, with a sentence for people."""
    problem = _bwrap_problem()
    python, why = _interpreter()
    root = os.geteuid() == 0
    net = _netns_problem() if problem is not None else None
    sentence = ("bubblewrap: read-only /usr and interpreter, private /tmp and working folder in memory, "
                "no network, own PID namespace; rlimits on CPU, memory, file size, processes"
                if problem is None else
                f"process limits (CPU, memory, file size, processes; scrubbed environment, own process group), "
                + ("its own empty network namespace" if net is None else f"NO network isolation ({net})")
                + f", but NO filesystem isolation: {problem}")
    if root:
        sentence += "; runs as a dedicated unprivileged uid"
    if why:
        sentence += f"; {why}"
    return {"bubblewrap": problem is None, "problem": problem, "network_isolated": problem is None or net is None,
            "python": python, "dedicated_uid": root, "description": sentence}


_SIGNALS = {signal.SIGKILL: "killed (SIGKILL: out of memory or a limit)", signal.SIGXCPU: "CPU time limit (SIGXCPU)",
            signal.SIGXFSZ: "file size limit (SIGXFSZ)", signal.SIGSEGV: "segmentation fault (SIGSEGV)",
            signal.SIGABRT: "aborted (SIGABRT)", signal.SIGBUS: "bus error (SIGBUS)",
            signal.SIGTERM: "terminated (SIGTERM)"}


def run_python(code: str, timeout: float = 5.0, memory_mb: int = 512, *, stdin: str | bytes = "",
               max_output: int = 1 << 20, file_mb: int = 16, max_processes: int = 32,
               isolation: str = "auto") -> RunResult:
    """Run `code` with a fresh Python in the sandbox; never raises for anything the code does.

    status: "ok" (exit 0), "error" (non-zero exit: an exception, a failed assert),
    "timeout" (still running after `timeout` wall seconds: killed with its whole group),
    "killed" (ended by a signal: CPU, memory or file-size limit, a crash). stdout/stderr are
    decoded as UTF-8 with invalid bytes replaced, each cut at `max_output` bytes.
    isolation: "auto" (bubblewrap when it works here), "bwrap" (required) or "rlimits" (without).
    """
    if not isinstance(code, str):
        raise TypeError(f"code must be a str of Python source, got {type(code).__name__}")
    if timeout <= 0 or memory_mb < 32:
        raise ValueError(f"timeout must be > 0 s and memory_mb >= 32 (got {timeout}, {memory_mb})")
    if isolation not in ("auto", "bwrap", "rlimits"):
        raise ValueError(f"isolation must be auto, bwrap or rlimits, got {isolation!r}")
    problem = _bwrap_problem() if isolation != "rlimits" else "process limits only were asked for"
    if isolation == "bwrap" and problem:
        raise RuntimeError(f"bubblewrap sandbox unavailable: {problem}")
    use_bwrap = problem is None
    own_network = not use_bwrap and _netns_problem() is None
    res = _execute(code, timeout, memory_mb, stdin.encode() if isinstance(stdin, str) else stdin, max_output,
                   file_mb, max_processes, use_bwrap=use_bwrap, own_network=own_network)
    if isolation == "auto" or use_bwrap:
        res.isolation = sandbox_info()["description"]
    else:
        res.isolation = ("process limits only (asked for), " +
                         ("its own network namespace" if own_network else "no network isolation") +
                         ", no filesystem isolation")
    return res


def _execute(code: str, timeout: float, memory_mb: int, stdin: bytes, max_output: int, file_mb: int,
             max_processes: int, use_bwrap: bool, own_network: bool = False) -> RunResult:
    python, _ = _interpreter()
    uid = _next_uid() if os.geteuid() == 0 else None
    # a folder the sandbox user can reach (root's TMPDIR may sit inside /root)
    tmp = Path(tempfile.mkdtemp(prefix="llmcourse-sandbox-", dir="/tmp" if uid is not None else None))
    try:
        (tmp / "main.py").write_text(code, encoding="utf-8")
        if uid is not None:  # the program folder belongs to the sandbox user alone
            for p in (tmp, tmp / "main.py"):
                os.chown(p, uid, uid)
        start = time.perf_counter()
        proc = _launch(tmp, python, use_bwrap, timeout, memory_mb, file_mb, max_processes, uid, own_network)
        readers = [_Reader(proc.stdout, max_output), _Reader(proc.stderr, max_output)]
        for r in readers:
            r.start()
        try:
            proc.stdin.write(stdin)
            proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass
        timed_out = False
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
        _kill(proc, uid)  # whatever it left behind (children in its group or under its uid) goes too
        proc.wait()
        for r in readers:
            r.join(timeout=2.0)
        seconds = time.perf_counter() - start
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out, err = (bytes(r.data).decode("utf-8", errors="replace") for r in readers)
    truncated = any(r.dropped for r in readers)
    status, reason = _status(proc.returncode, timed_out, use_bwrap, err)
    return RunResult(status, out, err, None if timed_out else proc.returncode, seconds, truncated, reason, uid=uid)


def _status(rc: int, timed_out: bool, bwrap: bool, stderr: str) -> tuple[str, str]:
    if timed_out:
        return "timeout", "still running at the time limit: killed with its process group"
    if rc == 0:
        return "ok", ""
    sig = -rc if rc < 0 else (rc - 128 if bwrap and rc > 128 else None)  # bwrap reports a signal as 128+n
    if sig in _SIGNALS:
        return "killed", _SIGNALS[sig]
    last = stderr.strip().splitlines()[-1] if stderr.strip() else f"exit code {rc}"
    if "MemoryError" in last:
        last += " (the memory limit)"
    return "error", last[:300]
