"""Importing llmcourse, and every one of its modules, makes no network call."""

import subprocess
import sys

SCRIPT = r'''
import socket, pkgutil, importlib
calls = []
def refuse(*args, **kwargs):
    calls.append(args[:1])
    raise OSError("network call during import")
socket.socket.connect = refuse
socket.socket.connect_ex = refuse
socket.getaddrinfo = refuse
socket.create_connection = refuse
import llmcourse
names = [m.name for m in pkgutil.walk_packages(llmcourse.__path__, "llmcourse.")]
for name in names:
    importlib.import_module(name)
print(len(names), "modules;", len(calls), "network calls")
assert not calls, calls
'''


def test_importing_every_module_makes_no_network_call():
    env = {"PATH": "/usr/bin:/bin", "HOME": __import__("os").environ.get("HOME", "/tmp"),
           "PYTHONPATH": ":".join(p for p in sys.path if p)}
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "0 network calls" in out.stdout
