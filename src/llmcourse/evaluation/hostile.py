"""Hostile programs thrown at the sandbox, and how we know the host was unaffected.

Each attack is a small Python program that a badly behaved (or malicious) model might
write. `hostile_code_table()` runs them all through `run_python` and checks, from the
*outside*, that nothing happened to us: the secret in our environment did not show up in
its output, the file outside its folder was not written, our listener on 127.0.0.1 got no
connection, we are still alive, nothing it started is still running, and every result came
back within the time limit (plus a little slack for starting and cleaning up).
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from llmcourse.evaluation.sandbox import RunResult, run_python

__all__ = ["Attack", "hostile_code_table"]

SLACK = 3.0  # seconds allowed beyond the time limit to start the sandbox and clean up


@dataclass
class Attack:
    name: str
    code: str
    host_ok: bool
    status: str
    seconds: float
    detail: str


class _Listener:
    """A TCP server on 127.0.0.1 that counts the connections it accepts."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
                self.accepted += 1
                conn.close()
            except OSError:
                pass

    def close(self) -> None:
        self.stop.set()
        self.thread.join(1)
        self.sock.close()


def _attacks(secret_name: str, target: Path, port: int) -> dict[str, str]:
    return {
        "infinite loop": "while True:\n    pass\n",
        "fork bomb": "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
        "memory bomb": "blocks = []\nwhile True:\n    blocks.append(bytearray(50 * 2**20))\n",
        "write outside its folder": f"open({str(target)!r}, 'w').write('pwned')\n",
        "read our secrets": (f"import os, glob\nprint(os.environ.get({secret_name!r}))\n"
                             "for p in glob.glob('/proc/*/environ'):\n"
                             "    try:\n        print(open(p, 'rb').read())\n    except OSError:\n        pass\n"),
        "socket to 127.0.0.1": (f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=1)\n"
                                "s.sendall(b'hello')\nprint('connected')\n"),
        "kill its parent": (f"import os, signal\nfor pid in (os.getppid(), {os.getpid()}):\n"
                            "    try:\n        os.kill(pid, signal.SIGKILL)\n    except OSError as e:\n        print(pid, e)\n"),
        "huge output": "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n",
        "non-UTF-8 bytes": "import sys\nsys.stdout.buffer.write(b'\\xff\\xfe\\x80 caf\\xe9 ok')\n",
    }


def hostile_code_table(timeout: float = 2.0, memory_mb: int = 256, isolation: str = "auto") -> list[Attack]:
    """Run every attack in the sandbox; each row says whether the host was unaffected and why."""
    secret_name, secret = "LLMCOURSE_SANDBOX_SECRET", f"s3cret-{os.getpid()}-{time.time_ns()}"
    os.environ[secret_name] = secret
    listener = _Listener()
    outside = Path(tempfile.mkdtemp(prefix="llmcourse-host-")) / "outside.txt"
    rows = []
    try:
        for name, code in _attacks(secret_name, outside, listener.port).items():
            start, before = time.perf_counter(), listener.accepted
            res = run_python(code, timeout=timeout, memory_mb=memory_mb, max_output=1 << 16, isolation=isolation)
            took = time.perf_counter() - start
            ok, detail = _judge(name, res, took, timeout, secret, outside, listener.accepted - before)
            rows.append(Attack(name, code, ok, res.status, took, detail))
    finally:
        os.environ.pop(secret_name, None)
        listener.close()
        outside.unlink(missing_ok=True)
        outside.parent.rmdir()
    return rows


def _judge(name: str, res: RunResult, took: float, timeout: float, secret: str, outside: Path,
           connections: int) -> tuple[bool, str]:
    problems = []
    if took > timeout + SLACK:
        problems.append(f"took {took:.1f} s (limit {timeout} s)")
    if secret in res.stdout or secret in res.stderr:
        problems.append("our secret leaked into its output")
    if outside.exists():
        problems.append(f"it wrote {outside}")
    if connections:
        problems.append(f"our listener on 127.0.0.1 accepted {connections} connection(s)")
    if name == "huge output" and len(res.stdout.encode()) > (1 << 16) + 4:
        problems.append("output was not capped")
    if name == "non-UTF-8 bytes" and "\ufffd" not in res.stdout:
        problems.append("invalid bytes were not replaced")
    if problems:
        return False, "; ".join(problems)
    last = (res.reason or res.stdout.strip().splitlines()[-1:] and res.stdout.strip().splitlines()[-1] or "")
    return True, f"{res.status}: {str(last)[:90]}"
