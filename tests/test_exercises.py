"""Every registered exercise, both ways: its reference passes, each declared wrong answer fails,
and the student's stub (`raise NotImplementedError`) is reported as not implemented."""

import re

import pytest

from llmcourse.exercises.registry import all_exercises, get_exercise, run_exercise

EXERCISES = all_exercises()


def _stub(*args, **kwargs):
    raise NotImplementedError


@pytest.mark.parametrize("name", EXERCISES)
def test_exercise_declares_reference_and_wrong_answers(name):
    ex = get_exercise(name)
    assert ex.reference is not None, f"{name} declares no library reference"
    assert len(ex.wrong) >= 2, f"{name} declares {len(ex.wrong)} wrong answers; give at least two plausible mistakes"
    assert ex.hint, f"{name} has no hint"
    assert ex.difficulty in (1, 2, 3) and ex.minutes > 0


@pytest.mark.parametrize("name", EXERCISES)
def test_reference_passes_wrong_answers_fail(name):
    ex = get_exercise(name)
    res = run_exercise(name, ex.reference_object())
    assert res.ok, f"{name}: the reference {ex.reference_name} fails: {res.failures[:3]}"
    for label, wrong in ex.wrong.items():
        res = run_exercise(name, wrong)
        assert not res.ok, f"{name}: the wrong answer {label!r} passes every case: the cases cannot catch it"
    res = run_exercise(name, _stub)
    assert res.status == "not implemented" and res.passed == 0, f"{name}: the stub is reported as {res.status}"


def test_every_notebook_exercise_has_difficulty_and_minutes_in_its_heading():
    """The markdown that introduces an exercise shows its difficulty and expected minutes."""
    import jupytext

    from llmcourse.course import available_notebooks, notebook_source
    from llmcourse.exercises.student import checked_exercises

    missing = []
    for nb_id in available_notebooks():
        nb = jupytext.read(notebook_source(nb_id))
        text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        for name in checked_exercises(nb):
            ex = get_exercise(name)
            pattern = rf"`{re.escape(name)}`[^\n]*difficulty {ex.difficulty}[^\n]*~{ex.minutes} min"
            if not re.search(pattern, text):
                missing.append(f"{nb_id} {name}: expected a line with `{name}` ... difficulty {ex.difficulty} "
                               f"... ~{ex.minutes} min")
    assert not missing, "\n".join(missing)


def test_every_notebook_has_a_stretch_exercise():
    import jupytext

    from llmcourse.course import available_notebooks, notebook_source
    from llmcourse.exercises.student import checked_exercises

    lacking = [nb_id for nb_id in available_notebooks()
               if not any(get_exercise(n).stretch for n in checked_exercises(jupytext.read(notebook_source(nb_id))))]
    assert not lacking, f"notebooks without a stretch exercise: {lacking}"
