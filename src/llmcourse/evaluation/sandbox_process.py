"""Launching and killing a sandboxed process: resource limits, namespaces, a dedicated uid.

The mechanics behind `llmcourse.evaluation.sandbox.run_python`:

* `_limits` runs in the child between fork and exec: its own session and process group,
  `setrlimit` on CPU seconds, address space, file size, processes and open files, an empty
  network namespace when asked (without bubblewrap), then — when we are root — a switch to
  a dedicated unprivileged uid (root is exempt from the process-count limit).
* `_bwrap_args` is the bubblewrap command line: `/usr` and the interpreter read-only, a
  private `/tmp` and working folder in memory with a size cap, `--unshare-all` (network,
  PIDs, IPC, hostname, user), a cleared environment.
* `_kill` ends the whole process group and, under a dedicated uid, every process of that uid
  (stopped first, so a fork bomb cannot outrun it).
* `_Reader` drains a pipe, keeping the first bytes and dropping the rest, so a program that
  prints forever never blocks and never fills our memory.
"""

from __future__ import annotations

import math
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

SANDBOX_UID_BASE = 610_000  # dedicated uids when started as root: 610000..709999, none of them a login
SANDBOX_UIDS = 100_000  # distinct uids, so that concurrent runs (test workers) almost never share one
_counter = iter(range(10**9))
_counter_lock = threading.Lock()


def _interpreter() -> tuple[str, str]:
    """(python to run inside, why): ours when an unprivileged user can reach it, else the system's."""
    ours = os.path.realpath(sys.executable)
    if os.geteuid() != 0 or _reachable_by_others(ours):
        return ours, ""
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        if os.path.isfile(candidate) and _reachable_by_others(os.path.realpath(candidate)):
            return os.path.realpath(candidate), (f"the course's interpreter ({ours}) sits in a folder other users "
                                                 f"cannot enter, so the sandbox runs {candidate}")
    return ours, ""


def _reachable_by_others(path: str) -> bool:
    """Can a user who is neither owner nor group read `path` (every parent folder traversable)?"""
    p = Path(path)
    try:
        if not p.stat().st_mode & 0o005 == 0o005:
            return False
        return all(parent.stat().st_mode & 0o001 for parent in p.parents)
    except OSError:
        return False


def _prefix_of(python: str) -> str:
    """The installation folder of an interpreter (…/bin/python3 -> …)."""
    return str(Path(python).parent.parent)


def _next_uid() -> int:
    with _counter_lock:
        n = next(_counter)
    return SANDBOX_UID_BASE + (os.getpid() * 7919 + n) % SANDBOX_UIDS


def _processes_of(uid: int) -> int:
    """How many live processes `uid` runs now (zombies waiting to be reaped do not count)."""
    n = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    with open(f"/proc/{entry.name}/stat", "rb") as fh:
                        state = fh.read().rpartition(b")")[2][1:2]
                    n += state not in (b"Z", b"X")
            except OSError:
                pass
    return n


CLONE_NEWUSER, CLONE_NEWNET = 0x10000000, 0x40000000


def _unshare_network() -> None:
    """Move the calling process into a new, empty network namespace (Linux; root, or via a user namespace)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    flags = CLONE_NEWNET if os.geteuid() == 0 else CLONE_NEWUSER | CLONE_NEWNET
    if libc.unshare(flags) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET) failed")


def _limits(timeout: float, memory_mb: int, file_mb: int, max_processes: int, uid: int | None,
            own_network: bool = False):
    """The function the child runs between fork and exec: new session, limits, then drop root."""
    cpu = int(math.ceil(timeout)) + 1
    mem = int(memory_mb) << 20
    nproc = max_processes if uid is not None else _processes_of(os.getuid()) + max_processes

    def apply() -> None:
        os.setsid()  # its own session and process group: killed as one
        if own_network:  # without bubblewrap: at least an empty network namespace, when the kernel allows
            _unshare_network()
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_mb << 20, file_mb << 20))
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if uid is not None:  # root ignores RLIMIT_NPROC: become a user with no rights at all
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)

    return apply


def _bwrap_args(program_dir: Path, python: str, workdir_mb: int) -> list[str]:
    args = ["bwrap", "--ro-bind", "/usr", "/usr"]
    for link in ("bin", "lib", "lib64", "sbin"):  # merged-/usr systems: /lib -> usr/lib
        target = Path("/") / link
        if target.is_symlink():
            args += ["--symlink", os.readlink(target), str(target)]
        elif target.is_dir():
            args += ["--ro-bind", str(target), str(target)]
    prefix = _prefix_of(python)
    if not prefix.startswith("/usr/") and prefix != "/usr":
        args += ["--ro-bind", prefix, prefix]
    args += ["--size", str(16 << 20), "--tmpfs", "/tmp",
             "--size", str(workdir_mb << 20), "--tmpfs", "/sandbox",
             "--ro-bind", str(program_dir / "main.py"), "/sandbox/main.py",
             "--chdir", "/sandbox", "--proc", "/proc", "--dev", "/dev",
             "--unshare-all", "--die-with-parent", "--new-session", "--clearenv",
             "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", "/sandbox", "--setenv", "LANG", "C.UTF-8",
             "--setenv", "PYTHONIOENCODING", "utf-8"]
    return args


def _launch(program_dir: Path, python: str, use_bwrap: bool, timeout: float, memory_mb: int, file_mb: int,
            max_processes: int, uid: int | None, own_network: bool = False, workdir_mb: int = 64) -> subprocess.Popen:
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8", "HOME": str(program_dir)}
    if use_bwrap:
        cmd = _bwrap_args(program_dir, python, workdir_mb) + [python, "-I", "-B", "/sandbox/main.py"]
        cwd = "/"
    else:
        cmd = [python, "-I", "-B", "main.py"]
        cwd = str(program_dir)
    return subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, close_fds=True,
                            preexec_fn=_limits(timeout, memory_mb, file_mb, max_processes, uid,
                                               own_network and not use_bwrap))


def _kill(proc: subprocess.Popen, uid: int | None) -> None:
    """Kill the process group, and when it ran under its own uid, every process of that uid."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if uid is not None:
        _kill_uid(uid)


def _kill_uid(uid: int) -> None:
    """Fork a helper that becomes `uid` and kills every process of that uid.

    It first *stops* them all (a stopped process cannot fork), then kills them, and repeats
    until none is left: a fork bomb cannot outrun it.
    """
    for _ in range(20):
        if _processes_of(uid) == 0:
            return
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the helper
            try:
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
                os.kill(-1, signal.SIGSTOP)  # -1: every process this uid may signal, i.e. its own
                os.kill(-1, signal.SIGKILL)
            except OSError:
                pass
            os._exit(0)
        os.waitpid(pid, 0)
        time.sleep(0.01)


class _Reader(threading.Thread):
    """Drain one pipe: keep the first `limit` bytes, throw away the rest (so the child never blocks)."""

    def __init__(self, pipe, limit: int):
        super().__init__(daemon=True)
        self.pipe, self.limit, self.data, self.dropped = pipe, limit, bytearray(), 0

    def run(self) -> None:
        try:
            while chunk := self.pipe.read1(65536) if hasattr(self.pipe, "read1") else self.pipe.read(65536):
                room = self.limit - len(self.data)
                if room > 0:
                    self.data += chunk[:room]
                self.dropped += max(0, len(chunk) - max(room, 0))
        except (OSError, ValueError):
            pass
