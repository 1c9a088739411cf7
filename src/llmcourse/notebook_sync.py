"""Keep each committed .ipynb in step with its jupytext source (`N_M_topic.py`).

The .py file is what people edit and review; the .ipynb beside it is generated, carries
no outputs, and `in_sync()` is what the test suite asks about every pair.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from llmcourse.course import repo_root


def sources() -> list[Path]:
    return sorted((repo_root() / "notebooks").glob("week*/[0-9]_[0-9]_*.py"))


def render(source: Path) -> str:
    """The .ipynb text for a jupytext source: cells only, no outputs, stable metadata."""
    import jupytext

    nb = jupytext.read(source)
    nb.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                   "language_info": {"name": "python"}}
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i}"  # stable ids: the same source always renders to the same file
        cell.metadata = {k: v for k, v in cell.metadata.items() if k in ("tags",)}
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nbformat.writes(nb) + "\n"


def first_code_cell_text(source: Path) -> str:
    """The source of the first code cell of a jupytext percent file."""
    import jupytext

    nb = jupytext.read(source)
    return next(c.source for c in nb.cells if c.cell_type == "code")


def fix_first_cell(source: Path) -> bool:
    """Rewrite the first code cell of `source` to the course's first cell; True if it changed."""
    from llmcourse.course import first_cell, notebook_id_of

    want = first_cell(notebook_id_of(source))
    have = first_code_cell_text(source)
    if have == want:
        return False
    text = source.read_text(encoding="utf-8")
    if text.count(have) != 1:
        raise ValueError(f"cannot find the first code cell of {source} to update it")
    source.write_text(text.replace(have, want), encoding="utf-8")
    return True


def in_sync(source: Path) -> bool:
    target = source.with_suffix(".ipynb")
    return target.is_file() and target.read_text(encoding="utf-8") == render(source)


def sync_all(ids: list[str] | None = None) -> list[Path]:
    """Rewrite the stale .ipynb files (of notebooks `ids`, default all); return those written."""
    from llmcourse.course import notebook_source

    written = []
    for src in [notebook_source(i) for i in ids] if ids else sources():
        if fix_first_cell(src):
            written.append(src)
        target = src.with_suffix(".ipynb")
        text = render(src)
        if not target.is_file() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
            written.append(target)
    return written
