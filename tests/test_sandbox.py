"""The sandbox of model-written code: hostile programs run, the host is unaffected, results arrive in time.

Every check is made from the outside (our process, our files, our listener, the process
table), never from what the sandboxed program says about itself.
"""

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from llmcourse.evaluation import sandbox
from llmcourse.evaluation.sandbox import run_python, sandbox_info

SLACK = 3.0  # seconds to start the sandbox and clean up, beyond the time limit
MODES = ["auto", "rlimits"]  # auto = bubblewrap where it works (Debian's bubblewrap is in deps/debian.txt)


def _left_running(result) -> int:
    """Live processes still running under the uid a sandboxed run used (root only; else 0)."""
    return sandbox._processes_of(result.uid) if result.uid is not None else 0


def test_bubblewrap_is_used_on_this_machine_or_the_reason_is_said():
    info = sandbox_info()
    if info["bubblewrap"]:
        assert "no network" in info["description"] and "PID namespace" in info["description"]
    else:
        assert info["problem"] and "NO filesystem isolation" in info["description"]


@pytest.mark.parametrize("mode", MODES)
def test_ok_and_error_and_stdin(mode):
    r = run_python("import sys\nprint(sum(range(10)), sys.stdin.read())", stdin="piped", isolation=mode)
    assert (r.status, r.stdout, r.returncode) == ("ok", "45 piped\n", 0)
    r = run_python("assert 1 == 2, 'nope'", isolation=mode)
    assert r.status == "error" and "AssertionError: nope" in r.stderr and r.returncode == 1


@pytest.mark.parametrize("mode", MODES)
def test_infinite_loop_is_killed_at_the_time_limit(mode):
    start = time.perf_counter()
    r = run_python("while True:\n    pass", timeout=1.0, isolation=mode)
    took = time.perf_counter() - start
    assert r.status == "timeout" and r.returncode is None
    assert 1.0 <= took < 1.0 + SLACK


@pytest.mark.parametrize("mode", MODES)
def test_fork_bomb_is_contained_and_nothing_survives(mode):
    start = time.perf_counter()
    r = run_python("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
                   timeout=1.5, isolation=mode)
    assert r.status == "timeout" and time.perf_counter() - start < 1.5 + SLACK
    assert os.geteuid() != 0 or sandbox.SANDBOX_UID_BASE <= r.uid < sandbox.SANDBOX_UID_BASE + sandbox.SANDBOX_UIDS
    assert _left_running(r) == 0, "processes of the fork bomb outlived the sandbox"
    ours = run_python("print('still fine')", isolation=mode)  # the machine still starts processes
    assert ours.stdout == "still fine\n"


def test_memory_bomb_hits_the_memory_limit():
    r = run_python("blocks = []\nwhile True:\n    blocks.append(bytearray(50 * 2**20))", timeout=5.0, memory_mb=200)
    assert r.status in ("error", "killed"), r
    assert r.status == "killed" or "MemoryError" in r.stderr
    assert r.seconds < 5.0


@pytest.mark.parametrize("mode", MODES)
def test_cannot_write_outside_its_folder(mode, tmp_path):
    target = tmp_path / "pwned.txt"
    home = os.path.expanduser("~/llmcourse-sandbox-pwned.txt")
    r = run_python(f"for p in ({str(target)!r}, {home!r}):\n    try:\n        open(p, 'w').write('x')\n"
                   "    except OSError as e:\n        print(type(e).__name__)\nopen('mine.txt', 'w').write('ok')\n"
                   "print(open('mine.txt').read())", isolation=mode)
    assert not target.exists() and not os.path.exists(home)
    assert r.status == "ok" and r.stdout.strip().endswith("ok"), "its own folder must stay writable"


@pytest.mark.parametrize("mode", MODES)
def test_cannot_read_our_environment_secrets(mode, monkeypatch):
    secret = f"tok-{time.time_ns()}"
    monkeypatch.setenv("LLMCOURSE_TEST_SECRET", secret)
    r = run_python("import os, glob\nprint(dict(os.environ))\nfor p in glob.glob('/proc/*/environ'):\n"
                   "    try:\n        print(open(p, 'rb').read())\n    except OSError:\n        pass\n"
                   f"print(open('/proc/{os.getpid()}/environ', 'rb').read())", isolation=mode)
    assert secret not in r.stdout and secret not in r.stderr


@pytest.mark.parametrize("mode", MODES)
def test_no_connection_reaches_a_listener_on_loopback(mode):
    if mode == "rlimits" and not sandbox_info()["network_isolated"]:
        pytest.skip("this kernel gives no network namespace without bubblewrap")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    server.settimeout(0.1)
    port = server.getsockname()[1]
    accepted = []

    def serve():
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            try:
                accepted.append(server.accept()[0])
            except OSError:
                pass

    t = threading.Thread(target=serve)
    t.start()
    r = run_python(f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=1)\nprint('in')",
                   isolation=mode)
    t.join()
    server.close()
    assert not accepted and "in" not in r.stdout and r.status == "error"


@pytest.mark.parametrize("mode", MODES)
def test_cannot_kill_its_parent_or_our_processes(mode):
    if mode == "rlimits" and os.geteuid() != 0:
        pytest.skip("without bubblewrap and without root the code runs as our own user: it could signal us")
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        r = run_python(f"import os, signal\nfor pid in (os.getppid(), {os.getpid()}, {bystander.pid}):\n"
                       "    try:\n        os.kill(pid, signal.SIGKILL)\n    except OSError as e:\n        print(e)\n"
                       "os.killpg(0, signal.SIGKILL)", isolation=mode)
        time.sleep(0.2)
        assert bystander.poll() is None, "the sandbox killed one of our processes"
        assert r.status in ("ok", "killed")  # killpg(0) kills only its own group
    finally:
        bystander.send_signal(signal.SIGKILL)
        bystander.wait()


@pytest.mark.parametrize("mode", MODES)
def test_huge_output_is_capped_and_the_run_still_ends(mode):
    r = run_python("import sys\nwhile True:\n    sys.stdout.write('x' * 65536)", timeout=1.0, max_output=10_000,
                   isolation=mode)
    assert r.status == "timeout" and r.truncated and len(r.stdout) == 10_000


def test_non_utf8_bytes_are_replaced_not_raised():
    r = run_python("import sys\nsys.stdout.buffer.write(b'ok \\xff\\xfe caf\\xe9')\nsys.stderr.buffer.write(b'\\x80')")
    assert r.status == "ok" and r.stdout.startswith("ok ") and "\ufffd" in r.stdout and r.stderr == "\ufffd"


def test_file_size_limit():
    r = run_python("open('big.bin', 'wb').write(b'x' * (4 * 2**20))", file_mb=1)
    assert r.status in ("error", "killed") and ("File too large" in r.stderr or "SIGXFSZ" in r.reason)


def test_bad_arguments_get_clear_errors(monkeypatch):
    with pytest.raises(TypeError, match="str of Python source"):
        run_python(b"print(1)")
    with pytest.raises(ValueError, match="timeout"):
        run_python("pass", timeout=0)
    with pytest.raises(ValueError, match="isolation"):
        run_python("pass", isolation="docker")
    monkeypatch.setattr(sandbox, "_bwrap_problem", lambda: "bubblewrap is not installed")
    with pytest.raises(RuntimeError, match="not installed"):
        run_python("pass", isolation="bwrap")
    r = run_python("print(1)")  # auto falls back and says so
    assert r.ok and "NO filesystem isolation" in r.isolation and "not installed" in r.isolation


def test_hostile_code_table_reports_every_attack_contained():
    from llmcourse.evaluation.hostile import hostile_code_table

    rows = hostile_code_table(timeout=1.0, memory_mb=200)
    assert len(rows) == 9
    bad = [(r.name, r.detail) for r in rows if not r.host_ok]
    assert not bad, bad
