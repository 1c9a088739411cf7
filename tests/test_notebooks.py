"""Every notebook: its .ipynb matches its source, it runs in the smoke profile with every
check passing, and its student version fails exactly the exercises whose solutions were stripped."""

from pathlib import Path

import pytest

from llmcourse.course import available_notebooks, notebook_source
from llmcourse.notebook_sync import in_sync, render, sources

NOTEBOOKS = available_notebooks()


@pytest.mark.parametrize("source", sources(), ids=lambda p: p.stem)
def test_ipynb_matches_source(source: Path):
    assert in_sync(source), f"{source.with_suffix('.ipynb').name} is stale: run `make sync` (llmcourse sync)"


def test_committed_ipynb_has_no_outputs():
    import nbformat

    for src in sources():
        nb = nbformat.reads(render(src), as_version=4)
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")


@pytest.mark.notebook
@pytest.mark.parametrize("nb_id", NOTEBOOKS)
def test_notebook_runs_in_smoke_profile(nb_id, tmp_path):
    from llmcourse.runner import run_one

    res = run_one(nb_id, "smoke", tmp_path, html=False)
    assert res.status == "ok", f"{nb_id}: {res.error}"
    assert res.checks, f"{nb_id} checks no exercise"
    assert all(c["passed"] == c["total"] > 0 for c in res.checks), res.checks


@pytest.mark.notebook
@pytest.mark.parametrize("nb_id", NOTEBOOKS)
def test_student_version_fails_exactly_the_stripped_exercises(nb_id, tmp_path):
    import jupytext
    import nbformat

    from llmcourse.exercises.grade import grade_notebook
    from llmcourse.exercises.student import stripped_exercises, write_student

    src = notebook_source(nb_id)
    stripped = set(stripped_exercises(jupytext.read(src)))
    assert stripped, f"{nb_id} has no stripped exercise"
    student = write_student(src, tmp_path)
    assert "### BEGIN SOLUTION" not in student.read_text()
    grades = grade_notebook(student, profile="smoke")
    failed = {g.exercise for g in grades if not g.ok}
    assert failed == stripped, f"failed {sorted(failed)} but stripped {sorted(stripped)}"
    assert nbformat.read(student, as_version=4).cells
