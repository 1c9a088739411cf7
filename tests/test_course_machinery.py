"""Profiles, the notebook catalogue, exercise stripping and grading, the runner and the bench harness."""

import json
import os
import time
from pathlib import Path

import nbformat
import pytest

from llmcourse import config
from llmcourse.course import notebook_id_of, notebook_ids, notebook_source
from llmcourse.exercises import registry as ER
from llmcourse.exercises.student import checked_exercises, strip_source, stripped_exercises


def test_profile_from_env_and_unknown_profile(monkeypatch):
    monkeypatch.setenv("LLMCOURSE_PROFILE", "laptop")
    assert config.pick_profile() == ("laptop", "set by LLMCOURSE_PROFILE")
    monkeypatch.setenv("LLMCOURSE_PROFILE", "supercomputer")
    with pytest.raises(config.ProfileError, match="smoke, laptop, colab, cluster"):
        config.pick_profile()


def test_profile_from_hardware(monkeypatch):
    import torch

    monkeypatch.delenv("LLMCOURSE_PROFILE", raising=False)
    for gpus, expected in [(0, "laptop"), (1, "colab"), (4, "cluster")]:
        monkeypatch.setattr(torch.cuda, "device_count", lambda g=gpus: g)
        assert config.pick_profile()[0] == expected


def test_pick_falls_back_through_profiles():
    cfg = config.Config("1.1", "cluster", "cpu", 0, False, "")
    assert cfg.pick(smoke=1, laptop=2) == 2
    assert cfg.pick(smoke=1, laptop=2, colab=3) == 3
    assert config.Config("1.1", "smoke", "cpu", 0, False, "").pick(smoke=1, laptop=2) == 1


def test_pick_takes_none_as_a_value():
    """None is a knob's value ("all", "torch's default"), not a missing profile."""
    laptop = config.Config("8.3", "laptop", "cpu", 0, False, "")
    colab = config.Config("3.2", "colab", "cpu", 0, False, "")
    assert laptop.pick(smoke=("TH",), laptop=None) is None
    assert colab.pick(smoke=1, laptop=1, colab=None) is None
    assert config.Config("3.2", "cluster", "cpu", 0, False, "").pick(smoke=1, laptop=1, colab=None) is None


def test_setup_rejects_unknown_notebook_and_seeds(monkeypatch, capsys):
    import torch

    with pytest.raises(ValueError, match="unknown notebook id"):
        config.setup("9.9")
    cfg = config.setup("1.1", seed=5)
    a = torch.rand(3)
    config.setup("1.1", seed=5)
    assert torch.equal(a, torch.rand(3))
    out = capsys.readouterr().out
    assert "profile smoke" in out and "offline" in out and cfg.online is False


def test_hub_check_is_fast_and_sets_offline(monkeypatch):
    """A server that accepts the connection but never answers costs at most the timeout."""
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    port = silent.getsockname()[1]
    try:
        for url in (f"https://127.0.0.1:{port}/api", "https://127.0.0.1:1/api"):  # silent, then refused
            monkeypatch.delenv("LLMCOURSE_ONLINE", raising=False)
            monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
            monkeypatch.setattr(config, "HUB_URL", url)
            start = time.perf_counter()
            assert config.hub_online(timeout=0.5) is False
            assert time.perf_counter() - start < 2.0
            assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["LLMCOURSE_ONLINE"] == "0"
            assert config.hub_online() is False  # decided once: the cached answer
    finally:
        silent.close()


def test_report_writes_numbers(tmp_path):
    cfg = config.Config("1.1", "smoke", "cpu", 0, False, "", report_path=tmp_path / "r.json")
    cfg.report(loss=1.23456789, name="x")
    assert json.loads((tmp_path / "r.json").read_text()) == {"loss": 1.2346, "name": "x"}


def test_catalogue():
    assert len(notebook_ids()) == 25 and notebook_ids()[0] == "1.1"  # week 2 has four
    assert notebook_id_of(notebook_source("1.1")) == "1.1"
    with pytest.raises(ValueError):
        notebook_source("4.4")


def test_strip_source_keeps_indentation_and_rejects_broken_markers():
    src = "def f(x):\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION\n\nprint(f)"
    out = strip_source(src)
    assert "return x + 1" not in out and "    raise NotImplementedError" in out and "print(f)" in out
    with pytest.raises(ValueError):
        strip_source("### BEGIN SOLUTION\nx = 1")
    with pytest.raises(ValueError):
        strip_source("x = 1\n### END SOLUTION")


def test_stripped_exercises_follow_solution_cells():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("def a():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION"),
        nbformat.v4.new_markdown_cell("text"),
        nbformat.v4.new_code_cell('check("t.a", a)'),
        nbformat.v4.new_code_cell('check("t.free", len)'),  # a check with no solution stripped
        nbformat.v4.new_code_cell("def b():\n    ### BEGIN SOLUTION\n    return 2\n    ### END SOLUTION"),
        nbformat.v4.new_code_cell('check("t.b", b)\ncheck("t.b2", b)'),
    ]
    assert stripped_exercises(nb) == ["t.a", "t.b", "t.b2"]
    assert checked_exercises(nb) == ["t.a", "t.free", "t.b", "t.b2"]


def test_check_returns_what_to_use_reports_and_logs(tmp_path, monkeypatch, capsys):
    def reference(x):
        return 2 * x

    @ER.exercise("testtopic.double", hint="multiply by two", reference=reference,
                 wrong={"adds": lambda x: x + 2, "squares": lambda x: x * x})
    def _cases():
        yield ER.Case("small", args=(2,), expected=4)
        yield ER.Case("negative", args=(-3,), expected=-6)

    def mine(x):
        return x * 2

    def stub(x):
        raise NotImplementedError

    log = tmp_path / "log.jsonl"
    monkeypatch.setenv("LLMCOURSE_CHECK_LOG", str(log))
    assert ER.check("testtopic.double", mine) is mine  # passes: the notebook uses the learner's
    assert ER.check("testtopic.double", lambda x: x + 2) is reference  # fails: the library's
    assert ER.check("testtopic.double", stub) is reference
    out = capsys.readouterr().out
    assert "all 2 cases pass" in out and "1/2 cases pass" in out and "hint: multiply by two" in out
    assert "not implemented yet" in out and "uses the library's" in out and "test_course_machinery" in out
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert [(x["passed"], x["total"], x["status"]) for x in lines] == [
        (2, 2, "pass"), (1, 2, "fail"), (0, 2, "not implemented")]
    with pytest.raises(ER.ExerciseNotFound, match="no exercise named 'testtopic.nope'"):
        ER.check("testtopic.nope", len)  # a typo is an error in the notebook, not a silent pass


def test_check_time_limit_stops_an_infinite_loop(monkeypatch):
    @ER.exercise("testtopic.loop", reference=lambda: 1, wrong={"a": lambda: 2, "b": lambda: 3})
    def _cases():
        yield ER.Case("one", expected=1)

    def forever():
        while True:
            try:
                pass
            except Exception:  # a student's broad except cannot swallow the time limit
                pass

    monkeypatch.setenv("LLMCOURSE_CHECK_TIMEOUT", "0.5")
    start = time.perf_counter()
    res = ER.run_exercise("testtopic.loop", forever, timeout=ER.check_timeout())
    assert res.status == "timeout" and not res.ok and time.perf_counter() - start < 5


def test_compare_is_exact_for_integers_and_checks_dtypes():
    import torch

    mask = torch.tensor([[True, False], [True, True]])
    assert "boolean mask" in ER.default_compare(mask.float(), mask)
    assert ER.default_compare(mask.clone(), mask) is None
    ids = torch.tensor([1, 2, 3])
    assert "exact" in ER.default_compare(torch.tensor([1, 2, 4]), ids)
    assert "dtype" in ER.default_compare(ids.float(), ids)
    assert "dtype" in ER.default_compare(torch.tensor([1.0, 2.0]), torch.tensor([1, 2]))


def test_default_compare_messages():
    import torch

    assert ER.default_compare(torch.ones(2), torch.ones(3)).startswith("shape")
    inf = torch.tensor([0.0, float("-inf")])
    assert "infinities" in ER.default_compare(torch.zeros(2), inf)
    assert ER.default_compare(inf.clone(), inf) is None
    assert "differ" in ER.default_compare(torch.tensor([1.0]), torch.tensor([1.5]))
    assert ER.default_compare({"a": 1.0}, {"a": 1.0}) is None


def test_all_exercises_are_importable():
    names = ER.all_exercises()
    assert "decoding.greedy" in names and len(names) == len(set(names))


def test_bench_harness_writes_json_and_markdown(tmp_path, monkeypatch):
    from llmcourse import bench

    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "bench_toy.py").write_text(
        "from llmcourse.bench import benchmark\n"
        "@benchmark('toy')\n"
        "def run(b):\n"
        "    b.measure('sum list', lambda: sum(range(1000)), repeats=3)\n"
        "    b.measure('sum range', lambda: sum(range(10)), repeats=3)\n"
        "    b.measure('tokens', lambda: None, repeats=2, work=100, unit='tok/s')\n"
        "    b.record('memory', 12.5, 'MB')\n"
        "    b.ratio('list/range', 'sum list', 'sum range')\n")
    monkeypatch.setattr(bench, "repo_root", lambda: tmp_path)
    (path,) = bench.run_benchmarks(["toy"], out_dir=tmp_path / "out")
    data = json.loads(path.read_text())
    assert data["name"] == "toy" and data["cpu_count"] >= 1 and "torch" in data["versions"]
    figs = {f["label"]: f for f in data["figures"]}
    assert figs["sum list"]["min"] <= figs["sum list"]["median"] and len(figs["sum list"]["values"]) == 3
    assert figs["tokens"]["unit"] == "tok/s" and data["ratios"]["list/range"] > 0
    assert "| list/range |" in path.with_suffix(".md").read_text()
    with pytest.raises(KeyError, match="unknown benchmark"):
        bench.run_benchmarks(["nope"], out_dir=tmp_path / "out")


def test_cli_errors_are_clear(capsys):
    from llmcourse.cli import main

    assert main(["run", "9.9", "--profile", "smoke"]) == 2
    assert "unknown notebook id" in capsys.readouterr().err
    assert main(["check", "no/such.ipynb"]) == 2
    with pytest.raises(SystemExit):
        main(["run", "1.1", "--profile", "huge"])


def test_cli_student_writes_stripped_notebooks(tmp_path):
    from llmcourse.cli import main

    assert main(["student", "1.1", "--out", str(tmp_path)]) == 0
    (nb_path,) = tmp_path.glob("1_1_*.ipynb")
    text = nb_path.read_text()
    assert "BEGIN SOLUTION" not in text and "raise NotImplementedError" in text
    assert all(not c.get("outputs") for c in nbformat.read(nb_path, as_version=4).cells if c.cell_type == "code")


def test_doctor_runs(capsys):
    from llmcourse.cli import main

    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "torch" in out and "tiktoken-cl100k_base" in out and "does not answer" in out


def test_threads_are_one_in_smoke_and_the_runners_share_otherwise(monkeypatch):
    import os

    from llmcourse.config import Config

    laptop = Config("5.2", "laptop", "cpu", 0, False, "")
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # what `llmcourse run --jobs N` gives each kernel
    assert laptop.threads == 3 and Config("5.2", "smoke", "cpu", 0, False, "").threads == 1
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert laptop.threads == (os.cpu_count() or 1)
    monkeypatch.setenv("OMP_NUM_THREADS", "lots")  # not a number: every core
    assert laptop.threads == (os.cpu_count() or 1)


def test_scratch_folder_is_fresh_and_gone_when_the_kernel_exits():
    """cfg.scratch() gives each call its own folder, usable while the notebook runs, deleted at exit."""
    import subprocess
    import sys

    code = ("from llmcourse import config\n"
            "cfg = config.Config('4.3', 'smoke', 'cpu', 0, False, '')\n"
            "a, b = cfg.scratch('work'), cfg.scratch('work')\n"
            "(a / 'ckpt.pt').write_bytes(b'x' * 1000)\n"
            "print(a, b, a.is_dir() and b.is_dir() and a != b and 'llmcourse-4.3-work-' in a.name)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    a, b, fine = out
    assert fine == "True"
    assert not Path(a).exists() and not Path(b).exists()
