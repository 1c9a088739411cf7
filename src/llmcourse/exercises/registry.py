"""The exercise registry: named exercises, each a list of test cases with known answers.

An exercise lives in `llmcourse/exercises/cases/<topic>.py` and is declared with
`@exercise("topic.name", hint=...)` on a function that yields `Case`s. A case is either

* inputs plus an `expected` answer computed by an *oracle* (torch autograd, SDPA,
  transformers, tiktoken, a count done by hand...), compared with `compare`; or
* a `test` callable that receives the student's function and raises AssertionError
  with a helpful message when something is wrong (for properties such as
  "sampling with the same generator gives the same tokens").

`check("topic.name", fn)` in a notebook and `run_exercise(...)` in pytest run the
same cases, so a check that passes in class is the check the library passes in CI.
"""

from __future__ import annotations

import importlib
import json
import os
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np


@dataclass
class Case:
    """One test case of an exercise."""

    name: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    expected: Any = None
    test: Callable[[Callable], None] | None = None
    compare: Callable[[Any, Any], str | None] | None = None
    atol: float = 1e-5
    rtol: float = 1e-4


@dataclass
class Exercise:
    name: str
    cases: Callable[[], Iterable[Case]]
    hint: str = ""


@dataclass
class Result:
    exercise: str
    passed: int
    total: int
    failures: list[str]

    @property
    def ok(self) -> bool:
        return self.total > 0 and self.passed == self.total


_REGISTRY: dict[str, Exercise] = {}


def exercise(name: str, hint: str = "") -> Callable:
    """Declare an exercise: decorate a function that yields its `Case`s."""

    def wrap(fn: Callable[[], Iterable[Case]]) -> Callable[[], Iterable[Case]]:
        _REGISTRY[name] = Exercise(name, fn, hint)
        return fn

    return wrap


def get_exercise(name: str) -> Exercise:
    """Find an exercise by name, importing `llmcourse.exercises.cases.<topic>` on first use."""
    if name not in _REGISTRY:
        topic = name.split(".")[0]
        try:
            importlib.import_module(f"llmcourse.exercises.cases.{topic}")
        except ModuleNotFoundError as err:
            if err.name != f"llmcourse.exercises.cases.{topic}":
                raise
    if name not in _REGISTRY:
        known = ", ".join(sorted(n for n in _REGISTRY if n.startswith(name.split(".")[0] + "."))) or "none"
        raise KeyError(f"no exercise named {name!r} (exercises in that topic: {known})")
    return _REGISTRY[name]


def all_exercises() -> list[str]:
    """Every exercise name, after importing every cases module."""
    import pkgutil

    import llmcourse.exercises.cases as cases

    for mod in pkgutil.iter_modules(cases.__path__):
        importlib.import_module(f"llmcourse.exercises.cases.{mod.name}")
    return sorted(_REGISTRY)


def _short(x: Any, limit: int = 160) -> str:
    text = repr(x)
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        text = f"{type(x).__name__}(shape={tuple(x.shape)}, dtype={x.dtype}) {text}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def default_compare(got: Any, expected: Any, atol: float = 1e-5, rtol: float = 1e-4) -> str | None:
    """None when `got` matches `expected`, else a sentence that says how it differs.

    Tensors and arrays: same shape, then close (or equal for integer/bool types);
    -inf must sit where -inf is expected. Sequences and dicts compare item by item.
    """
    try:
        import torch
    except ImportError:  # pragma: no cover
        torch = None
    if torch is not None and isinstance(expected, torch.Tensor):
        if not isinstance(got, torch.Tensor):
            return f"expected a torch.Tensor, got {type(got).__name__}"
        if tuple(got.shape) != tuple(expected.shape):
            return f"shape {tuple(got.shape)} but expected {tuple(expected.shape)}"
        got, expected = got.detach().cpu().double().numpy(), expected.detach().cpu().double().numpy()
    if isinstance(expected, np.ndarray):
        got = np.asarray(got, dtype=float) if not isinstance(got, np.ndarray) else got.astype(float)
        expected = expected.astype(float)
        if got.shape != expected.shape:
            return f"shape {got.shape} but expected {expected.shape}"
        inf_e, inf_g = np.isinf(expected), np.isinf(got)
        if not np.array_equal(inf_e, inf_g) or not np.array_equal(np.sign(expected[inf_e]), np.sign(got[inf_g])):
            return f"infinities in different places: {int(inf_e.sum())} expected, {int(inf_g.sum())} found"
        fin = ~inf_e
        if not np.allclose(got[fin], expected[fin], atol=atol, rtol=rtol, equal_nan=True):
            diff = np.nanmax(np.abs(got[fin] - expected[fin])) if fin.any() else 0.0
            return f"values differ (max abs difference {diff:.3g}, tolerance {atol:g})"
        return None
    if isinstance(expected, float):
        if not isinstance(got, (int, float, np.floating, np.integer)) and not hasattr(got, "item"):
            return f"expected a number, got {type(got).__name__}"
        g = float(got.item() if hasattr(got, "item") else got)
        return None if abs(g - expected) <= atol + rtol * abs(expected) else f"got {g:.6g}, expected {expected:.6g}"
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return f"expected a dict, got {type(got).__name__}"
        if set(got) != set(expected):
            return f"keys {sorted(map(str, got))} but expected {sorted(map(str, expected))}"
        for k in expected:
            msg = default_compare(got[k], expected[k], atol, rtol)
            if msg:
                return f"[{k!r}]: {msg}"
        return None
    if isinstance(expected, (list, tuple)) and expected and not isinstance(expected[0], (str, bytes)):
        if not isinstance(got, (list, tuple)):
            got = list(got) if hasattr(got, "__iter__") else got
        if not isinstance(got, (list, tuple)) or len(got) != len(expected):
            return f"got {_short(got)}, expected {_short(expected)}"
        for i, (g, e) in enumerate(zip(got, expected)):
            msg = default_compare(g, e, atol, rtol)
            if msg:
                return f"item {i}: {msg}"
        return None
    return None if got == expected else f"got {_short(got)}, expected {_short(expected)}"


def run_exercise(name: str, fn: Callable) -> Result:
    """Run every case of exercise `name` against `fn` and collect what failed."""
    ex = get_exercise(name)
    passed, total, failures = 0, 0, []
    for case in ex.cases():
        total += 1
        try:
            if case.test is not None:
                case.test(fn)
            else:
                got = fn(*case.args, **case.kwargs)
                compare = case.compare or (lambda g, e: default_compare(g, e, case.atol, case.rtol))
                msg = compare(got, case.expected)
                if msg:
                    raise AssertionError(msg)
            passed += 1
        except NotImplementedError:
            failures.append(f"{case.name}: not implemented yet (replace `raise NotImplementedError`)")
        except AssertionError as err:
            failures.append(f"{case.name}: {err}")
        except Exception as err:  # a crash in student code is a failure with its cause
            where = traceback.extract_tb(err.__traceback__)[-1]
            failures.append(f"{case.name}: {type(err).__name__}: {err} (line {where.lineno} of {where.name})")
    return Result(name, passed, total, failures)


def check(name: str, fn: Callable, verbose: bool = True) -> bool:
    """Check a student's `fn` on exercise `name`; print pass/fail with a hint. Never raises.

    When LLMCOURSE_CHECK_LOG names a file, the result is also appended to it as one JSON
    line, which is how `llmcourse check` grades a whole notebook.
    """
    try:
        res = run_exercise(name, fn)
        hint = get_exercise(name).hint
    except KeyError as err:
        print(f"✗ {err}")
        return False
    if verbose:
        if res.ok:
            print(f"✓ {name}: all {res.total} cases pass")
        else:
            print(f"✗ {name}: {res.passed}/{res.total} cases pass")
            for line in res.failures[:5]:
                print(f"   - {line}")
            if hint:
                print(f"   hint: {hint}")
    log = os.environ.get("LLMCOURSE_CHECK_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"exercise": name, "passed": res.passed, "total": res.total}) + "\n")
    return res.ok
