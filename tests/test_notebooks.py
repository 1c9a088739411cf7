"""Every notebook: its .ipynb matches its source, it runs in the smoke profile with every
check passing, and its student version fails exactly the exercises whose solutions were stripped."""

from pathlib import Path

import pytest

from llmcourse.course import available_notebooks, notebook_source
from llmcourse.notebook_sync import in_sync, render, sources

NOTEBOOKS = available_notebooks()
# A week's notebooks run on one test worker, in order: a reference artifact one of them builds
# (7.3's model population, 4.1's shards) is then cached for the next instead of built twice at once.
BY_WEEK = [pytest.param(nb, marks=pytest.mark.xdist_group(f"week{nb.split('.')[0]}")) for nb in NOTEBOOKS]


@pytest.mark.parametrize("source", sources(), ids=lambda p: p.stem)
def test_ipynb_matches_source(source: Path):
    assert in_sync(source), f"{source.with_suffix('.ipynb').name} is stale: run `make sync` (llmcourse sync)"


def test_committed_ipynb_has_no_outputs():
    import nbformat

    for src in sources():
        nb = nbformat.reads(render(src), as_version=4)
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")


@pytest.mark.notebook
@pytest.mark.parametrize("nb_id", BY_WEEK)
def test_notebook_runs_in_smoke_profile(nb_id, tmp_path):
    from llmcourse.runner import run_one

    res = run_one(nb_id, "smoke", tmp_path, html=False)
    assert res.status == "ok", f"{nb_id}: {res.error}"
    assert res.checks, f"{nb_id} checks no exercise"
    assert all(c["passed"] == c["total"] > 0 for c in res.checks), res.checks
    expected = EXPECTATIONS.get(nb_id)
    assert expected, f"{nb_id}: no expectations on its reported numbers in tests/expect_week{nb_id[0]}.py"
    problems = [msg for key, want in expected.items() if (msg := _meets(res.numbers, key, want))]
    assert not problems, f"{nb_id} reported numbers: " + "; ".join(problems)


def _load_expectations() -> dict:
    """EXPECT dicts of tests/expect_weekN.py: notebook -> {reported key: what it must be}."""
    import importlib.util

    table = {}
    for path in sorted(Path(__file__).parent.glob("expect_week*.py")):
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        table.update(module.EXPECT)
    return table


EXPECTATIONS = _load_expectations()


def _meets(numbers: dict, key: str, want) -> str | None:
    """None if numbers[key] is what `want` says: True/False/a string (equal), (lo, hi) (a range), a predicate."""
    if key not in numbers:
        return f"{key} was not reported"
    got = numbers[key]
    if isinstance(want, tuple):
        lo, hi = want
        ok = isinstance(got, (int, float)) and lo <= got <= hi
        return None if ok else f"{key}={got!r} not in [{lo}, {hi}]"
    if callable(want):
        return None if want(got) else f"{key}={got!r} fails {getattr(want, '__name__', 'its check')}"
    return None if got == want else f"{key}={got!r}, expected {want!r}"


@pytest.mark.notebook
@pytest.mark.parametrize("nb_id", BY_WEEK)
def test_student_version_runs_to_the_end_on_fallbacks(nb_id, tmp_path):
    """The stripped notebook runs top to bottom with no exercise done: every cell but the
    stripped bodies runs without error (the notebook falls back to the library's pieces), and
    every exercise reports "not implemented" through its check, once."""
    import jupytext

    from llmcourse.exercises.student import stripped_exercises, write_student
    from llmcourse.runner import run_one

    src = notebook_source(nb_id)
    stripped = stripped_exercises(jupytext.read(src))
    assert stripped, f"{nb_id} has no stripped exercise"
    student = write_student(src, tmp_path)
    assert "### BEGIN SOLUTION" not in student.read_text()
    res = run_one(nb_id, "smoke", tmp_path / "run", html=False, source=student)
    assert res.status == "ok", f"{nb_id} student version stopped: {res.error}"
    reported = [c["exercise"] for c in res.checks]
    assert sorted(reported) == sorted(stripped), f"checks reported {reported}, exercises {stripped}"
    not_done = [c["exercise"] for c in res.checks if c["status"] != "not implemented"]
    assert not not_done, f"exercises not reported as 'not implemented': {not_done}"


@pytest.mark.parametrize("source", sources(), ids=lambda p: p.stem)
def test_first_cell_installs_on_colab_and_sets_up(source: Path):
    from llmcourse.course import first_cell, notebook_id_of
    from llmcourse.notebook_sync import first_code_cell_text

    assert first_code_cell_text(source) == first_cell(notebook_id_of(source)), (
        f"{source.name}: the first code cell is not the course's (Colab install + setup): run `make sync`")
