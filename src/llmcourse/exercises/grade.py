"""Grade a student notebook: run it headless and score every exercise of the course notebook.

The exercises a notebook must pass come from the course's own copy of that notebook (found
by its file name, `N_M_topic.ipynb`), not from the submission: deleting a failing check
cell does not remove the exercise, it scores 0 with the reason "its check cell is missing".
Each check runs under a time limit (an infinite loop stops that exercise, not the grading),
and an exercise that did not run says why: a syntax error, a timeout, an earlier failure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from llmcourse.exercises.student import CHECK_CALL, checked_exercises

SETUP_CALL = re.compile(r"""setup\(\s*["'](\d\.\d)["']""")


@dataclass
class Grade:
    exercise: str
    passed: int
    total: int
    status: str = ""  # pass | fail | not implemented | timeout | did not run
    reason: str = ""  # why it did not run, or what stopped it

    @property
    def ok(self) -> bool:
        return self.total > 0 and self.passed == self.total


def course_notebook_id(path: Path, nb) -> str:
    """Which course notebook a submission is: from its file name, else from its setup("N.M") call."""
    from llmcourse.course import notebook_id_of

    try:
        return notebook_id_of(path)
    except ValueError:
        pass
    for cell in nb.cells:
        found = SETUP_CALL.search(cell.source) if cell.cell_type == "code" else None
        if found:
            return found.group(1)
    raise ValueError(f"cannot tell which course notebook {path.name} is: keep its name (N_M_topic.ipynb) "
                     "and its first cell, setup(\"N.M\")")


def expected_exercises(nb_id: str) -> list[str]:
    """The exercises of course notebook `nb_id`, in order, from the course's own source."""
    import jupytext

    from llmcourse.course import notebook_source

    return checked_exercises(jupytext.read(notebook_source(nb_id)))


def _why_not_run(name: str, nb, stop: str) -> str:
    """Read the executed notebook to say why exercise `name` logged no result."""
    check_cells = [c for c in nb.cells if c.cell_type == "code" and name in CHECK_CALL.findall(c.source)]
    if not check_cells:
        return "its check cell is missing from the notebook (the course notebook has it)"
    cell = check_cells[0]
    errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    if errors:
        ename, evalue = errors[0].get("ename", "Error"), errors[0].get("evalue", "")
        syntax = [c for c in nb.cells if c.cell_type == "code" and any(
            o.get("output_type") == "error" and o.get("ename") in ("SyntaxError", "IndentationError")
            for o in c.get("outputs", []))]
        if syntax and nb.cells.index(syntax[0]) < nb.cells.index(cell):
            return f"a syntax error in an earlier cell ({ename}: {evalue} in the check cell)"
        return f"its check cell raised {ename}: {evalue}"
    if cell.get("execution_count") is None:
        return f"the notebook stopped before its check cell ({stop or 'an earlier failure'})"
    return "its check cell ran but check() logged nothing (was check redefined?)"


def grade_notebook(path: Path, profile: str = "smoke", exercise_timeout: float = 120.0,
                   cell_timeout: int = 1800) -> list[Grade]:
    """Execute `path` (.ipynb or jupytext .py) and return one Grade per exercise of its course notebook.

    Cells that raise do not stop the run. `exercise_timeout` bounds each check (seconds);
    `cell_timeout` bounds every cell.
    """
    from llmcourse.runner import execute, load_notebook

    path = Path(path)
    nb = load_notebook(path)
    names = expected_exercises(course_notebook_id(path, nb))
    nb, _, results, error = execute(nb, profile, workdir=path.resolve().parent, timeout=cell_timeout,
                                    allow_errors=True,
                                    extra_env={"LLMCOURSE_CHECK_TIMEOUT": str(exercise_timeout)})
    seen: dict[str, dict] = {}
    for r in results:  # a check run twice counts once: the last run
        seen[r["exercise"]] = r
    grades = []
    for n in names:
        if n in seen:
            r = seen[n]
            reason = "the check ran past its time limit" if r.get("status") == "timeout" else ""
            grades.append(Grade(n, r["passed"], r["total"], r.get("status", ""), reason))
        else:
            grades.append(Grade(n, 0, 0, "did not run", _why_not_run(n, nb, error)))
    return grades


def format_grades(grades: list[Grade]) -> str:
    lines = [f"{'exercise':40s} score"]
    for g in grades:
        mark = "✓" if g.ok else "✗"
        if g.total:
            score = f"{g.passed}/{g.total}" + (f" ({g.status})" if g.status not in ("", "pass", "fail") else "")
        else:
            score = f"did not run: {g.reason}"
        lines.append(f"{mark} {g.exercise:38s} {score}")
    done = sum(g.ok for g in grades)
    lines.append(f"{done}/{len(grades)} exercises pass")
    return "\n".join(lines)
