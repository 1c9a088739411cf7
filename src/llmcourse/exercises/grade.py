"""Grade a student notebook: run it headless and score every exercise it checks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from llmcourse.exercises.student import checked_exercises


@dataclass
class Grade:
    exercise: str
    passed: int
    total: int

    @property
    def ok(self) -> bool:
        return self.total > 0 and self.passed == self.total


def grade_notebook(path: Path, profile: str = "smoke", timeout: int = 1800) -> list[Grade]:
    """Execute `path` (.ipynb or jupytext .py) and return one Grade per checked exercise.

    Cells that raise do not stop the run; an exercise whose check never ran scores 0.
    """
    from llmcourse.runner import execute, load_notebook

    nb = load_notebook(Path(path))
    names = checked_exercises(nb)
    _, _, results, _ = execute(nb, profile, workdir=Path(path).resolve().parent, timeout=timeout,
                               allow_errors=True)
    seen = {r["exercise"]: r for r in results}
    return [Grade(n, seen[n]["passed"], seen[n]["total"]) if n in seen else Grade(n, 0, 0) for n in names]


def format_grades(grades: list[Grade]) -> str:
    lines = [f"{'exercise':40s} score"]
    for g in grades:
        mark = "✓" if g.ok else "✗"
        score = f"{g.passed}/{g.total}" if g.total else "did not run"
        lines.append(f"{mark} {g.exercise:38s} {score}")
    done = sum(g.ok for g in grades)
    lines.append(f"{done}/{len(grades)} exercises pass")
    return "\n".join(lines)
