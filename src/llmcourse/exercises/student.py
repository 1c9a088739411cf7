"""Student notebooks: solutions stripped, nbgrader style.

In a solution notebook an exercise looks like

    def merge(ids, pair, idx):
        ### BEGIN SOLUTION
        ...the answer...
        ### END SOLUTION

and the next code cell calls `check("tokenization.merge", merge)`. The student
version keeps everything but the lines between the markers, which become
`raise NotImplementedError` at the same indentation.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
CHECK_CALL = re.compile(r"""check\(\s*["']([\w.]+)["']""")


def strip_source(source: str) -> str:
    """Replace every BEGIN/END SOLUTION block by `raise NotImplementedError`."""
    out, inside = [], False
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith(BEGIN):
            if inside:
                raise ValueError(f"nested {BEGIN!r}")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}# YOUR CODE HERE")
            out.append(f"{indent}raise NotImplementedError")
        elif stripped.startswith(END):
            if not inside:
                raise ValueError(f"{END!r} without {BEGIN!r}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{BEGIN!r} without {END!r}")
    return "\n".join(out)


def strip_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of `nb` with solutions stripped and outputs cleared."""
    student = nbformat.from_dict(nb)
    for cell in student.cells:
        if cell.cell_type == "code":
            cell.source = strip_source(cell.source)
            cell.outputs, cell.execution_count = [], None
    return student


def checked_exercises(nb: nbformat.NotebookNode) -> list[str]:
    """Every exercise name a notebook checks, in order."""
    names: list[str] = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            names += [n for n in CHECK_CALL.findall(cell.source) if n not in names]
    return names


def stripped_exercises(nb: nbformat.NotebookNode) -> list[str]:
    """Exercises whose solution is stripped: the checks in the code cells after a solution block.

    For each cell holding a solution, the names checked in it or in the code cells that
    follow it (up to the next cell holding a solution) belong to that exercise.
    """
    names: list[str] = []
    open_block = False
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if BEGIN in cell.source:
            open_block = True
        if open_block:
            found = CHECK_CALL.findall(cell.source)
            names += [n for n in found if n not in names]
            if found:
                open_block = False
    return names


def write_student(source: Path, out_dir: Path) -> Path:
    """Write the student .ipynb of one solution notebook source (a jupytext .py)."""
    import jupytext

    nb = jupytext.read(source)
    student = strip_notebook(nb)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / (source.stem + ".ipynb")
    nbformat.write(student, target)
    return target
