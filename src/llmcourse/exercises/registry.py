"""The exercise registry: named exercises, each with test cases, a reference and wrong answers.

An exercise lives in `llmcourse/exercises/cases/<topic>.py`, declared on a function that
yields its `Case`s:

    @exercise("gpt.lm_loss", difficulty=1, minutes=10,
              reference="llmcourse.models.gpt:next_token_loss",
              wrong={"softmax over the batch axis": _loss_wrong_axis, "no log": _loss_no_log},
              hint="log_softmax, gather the targets, minus the mean")
    def _lm_loss():
        yield Case("B=2 T=7 V=11", args=(logits, targets), expected=F.cross_entropy(...))

A case is either inputs plus an `expected` answer computed by an *oracle* (torch
autograd, SDPA, transformers, tiktoken, a count done by hand...), or a `test` callable
that receives the student's function and raises AssertionError with a helpful message.

Every exercise names its library `reference` (what the notebook falls back to) and at
least two plausible `wrong` answers, the mistakes students make; the test suite proves
the reference passes every case and every wrong answer fails one.

`check("topic.name", fn)` in a notebook runs the cases and returns the function the
notebook should use from then on: yours when it passes, else the reference (and it says
so). `run_exercise(...)` in pytest runs the same cases.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import threading
import time
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
    reference: str | Callable | None = None  # "package.module:attr" (imported lazily) or the object
    wrong: dict[str, Callable] = field(default_factory=dict)  # label -> a plausible wrong answer
    difficulty: int = 1  # 1 (a few lines) .. 3 (a stretch: open-ended, longer)
    minutes: int = 10  # expected time for a student
    stretch: bool = False  # the notebook's harder, open-ended exercise

    def reference_object(self) -> Callable:
        """The library's answer: what a notebook uses while the student's does not pass."""
        if self.reference is None:
            raise LookupError(f"exercise {self.name!r} declares no reference")
        if callable(self.reference):
            return self.reference
        module, _, attr = self.reference.partition(":")
        obj: Any = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
        return obj

    @property
    def reference_name(self) -> str:
        ref = self.reference
        if isinstance(ref, str):
            return ref.replace(":", ".")
        return f"{getattr(ref, '__module__', '?')}.{getattr(ref, '__qualname__', repr(ref))}"


@dataclass
class Result:
    exercise: str
    passed: int
    total: int
    failures: list[str]
    status: str = ""  # pass | fail | not implemented | timeout
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.total > 0 and self.passed == self.total


class ExerciseNotFound(KeyError):
    """`check()` was given a name no exercise has (a typo, or an outdated notebook)."""

    def __str__(self) -> str:  # KeyError would print the message with quotes around it
        return str(self.args[0])


class ExerciseTimeout(BaseException):
    """A check ran past its time limit (BaseException: student code's `except Exception` cannot eat it)."""


_REGISTRY: dict[str, Exercise] = {}


def exercise(name: str, hint: str = "", *, reference: str | Callable | None = None,
             wrong: dict[str, Callable] | None = None, difficulty: int = 1, minutes: int = 10,
             stretch: bool = False) -> Callable:
    """Declare an exercise: decorate a function that yields its `Case`s."""
    if difficulty not in (1, 2, 3):
        raise ValueError(f"difficulty of {name} must be 1, 2 or 3, got {difficulty}")

    def wrap(fn: Callable[[], Iterable[Case]]) -> Callable[[], Iterable[Case]]:
        _REGISTRY[name] = Exercise(name, fn, hint, reference, dict(wrong or {}), difficulty, minutes, stretch)
        return fn

    return wrap


def get_exercise(name: str) -> Exercise:
    """Find an exercise by name, importing `llmcourse.exercises.cases.<topic>` on first use."""
    if not isinstance(name, str) or "." not in name:
        raise ExerciseNotFound(f"exercise names look like 'topic.name', got {name!r}")
    if name not in _REGISTRY:
        topic = name.split(".")[0]
        try:
            importlib.import_module(f"llmcourse.exercises.cases.{topic}")
        except ModuleNotFoundError as err:
            if err.name != f"llmcourse.exercises.cases.{topic}":
                raise
    if name not in _REGISTRY:
        known = ", ".join(sorted(n for n in _REGISTRY if n.startswith(name.split(".")[0] + "."))) or "none"
        raise ExerciseNotFound(f"no exercise named {name!r} (exercises in that topic: {known}); "
                               "check the spelling in your check(...) call")
    return _REGISTRY[name]


def all_exercises() -> list[str]:
    """Every exercise name, after importing every cases module."""
    import pkgutil

    import llmcourse.exercises.cases as cases

    for mod in pkgutil.iter_modules(cases.__path__):
        importlib.import_module(f"llmcourse.exercises.cases.{mod.name}")
    return sorted(_REGISTRY)


# ----------------------------------------------------------------------------- comparing answers
def _short(x: Any, limit: int = 160) -> str:
    text = repr(x)
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        text = f"{type(x).__name__}(shape={tuple(x.shape)}, dtype={x.dtype}) {text}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _kind(dtype: Any) -> str:
    """'bool', 'int', 'float' or 'complex' for a numpy dtype."""
    dtype = np.dtype(dtype)
    return {"b": "bool", "i": "int", "u": "int", "f": "float", "c": "complex"}.get(dtype.kind, dtype.kind)


def _compare_arrays(got: np.ndarray, expected: np.ndarray, atol: float, rtol: float,
                    got_dtype: Any, expected_dtype: Any) -> str | None:
    if got.shape != expected.shape:
        return f"shape {got.shape} but expected {expected.shape}"
    want, have = _kind(expected.dtype), _kind(got.dtype)
    if want != have:
        return (f"dtype {got_dtype} but expected {expected_dtype} "
                f"(a {have} tensor where a {want} one belongs" +
                ("; a 0/1 float mask is not a boolean mask: use .bool() or comparisons" if want == "bool" else "") + ")")
    if want in ("bool", "int"):  # integers and booleans compare exactly
        if not np.array_equal(got, expected):
            wrong = int((got != expected).sum())
            return f"{wrong} of {expected.size} entries differ (integer and boolean results must be exact)"
        return None
    got, expected = got.astype(float), expected.astype(float)
    inf_e, inf_g = np.isinf(expected), np.isinf(got)
    if not np.array_equal(inf_e, inf_g) or not np.array_equal(np.sign(expected[inf_e]), np.sign(got[inf_g])):
        return f"infinities in different places: {int(inf_e.sum())} expected, {int(inf_g.sum())} found"
    nan_e, nan_g = np.isnan(expected), np.isnan(got)
    if not np.array_equal(nan_e, nan_g):
        return f"NaNs in different places: {int(nan_e.sum())} expected, {int(nan_g.sum())} found"
    fin = ~(inf_e | nan_e)
    if not np.allclose(got[fin], expected[fin], atol=atol, rtol=rtol):
        diff = np.max(np.abs(got[fin] - expected[fin])) if fin.any() else 0.0
        return f"values differ (max abs difference {diff:.3g}, tolerance {atol:g})"
    return None


def default_compare(got: Any, expected: Any, atol: float = 1e-5, rtol: float = 1e-4) -> str | None:
    """None when `got` matches `expected`, else a sentence that says how it differs.

    Tensors and arrays: same shape and the same kind of dtype (bool, integer, float), then
    exactly equal (bool, integer) or close (float); -inf and NaN must sit where expected.
    Sequences and dicts compare item by item.
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
        g_dtype, e_dtype = got.dtype, expected.dtype
        to_np = lambda t: t.detach().cpu().numpy() if t.dtype not in (torch.bfloat16, torch.float16) \
            else t.detach().cpu().float().numpy()  # noqa: E731
        return _compare_arrays(to_np(got), to_np(expected), atol, rtol, g_dtype, e_dtype)
    if isinstance(expected, np.ndarray):
        if torch is not None and isinstance(got, torch.Tensor):
            got = got.detach().cpu().numpy()
        got = np.asarray(got)
        return _compare_arrays(got, expected, atol, rtol, got.dtype, expected.dtype)
    if isinstance(expected, bool):
        return None if got is expected or (isinstance(got, (bool, np.bool_)) and bool(got) == expected) \
            else f"got {_short(got)}, expected {expected}"
    if isinstance(expected, float):
        if not isinstance(got, (int, float, np.floating, np.integer)) and not hasattr(got, "item"):
            return f"expected a number, got {type(got).__name__}"
        g = float(got.item() if hasattr(got, "item") else got)
        if np.isnan(expected):
            return None if np.isnan(g) else f"got {g:.6g}, expected NaN"
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


# ----------------------------------------------------------------------------- running the cases
class _time_limit:
    """Raise ExerciseTimeout in the main thread after `seconds` (no limit elsewhere or for None)."""

    def __init__(self, seconds: float | None):
        self.seconds = seconds if seconds and threading.current_thread() is threading.main_thread() else None

    def _fire(self, *_: Any) -> None:
        raise ExerciseTimeout(f"the check ran past its time limit of {self.seconds:g} s")

    def __enter__(self) -> None:
        if self.seconds:
            self.old = signal.signal(signal.SIGALRM, self._fire)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def __exit__(self, *exc: Any) -> None:
        if self.seconds:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.old)


def check_timeout() -> float | None:
    """The per-exercise time limit in seconds: LLMCOURSE_CHECK_TIMEOUT (unset = none)."""
    value = os.environ.get("LLMCOURSE_CHECK_TIMEOUT", "").strip()
    try:
        return float(value) if value else None
    except ValueError:
        raise ValueError(f"LLMCOURSE_CHECK_TIMEOUT must be a number of seconds, got {value!r}") from None


def run_exercise(name: str, fn: Callable, timeout: float | None = None) -> Result:
    """Run every case of exercise `name` against `fn` and collect what failed.

    `timeout` bounds the whole run (seconds); a run past it stops with status "timeout".
    """
    ex = get_exercise(name)
    passed, total, failures, todo = 0, 0, [], 0
    start = time.perf_counter()
    status = ""
    try:
        with _time_limit(timeout):
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
                    todo += 1
                    failures.append(f"{case.name}: not implemented yet (replace `raise NotImplementedError`)")
                except AssertionError as err:
                    failures.append(f"{case.name}: {err}")
                except Exception as err:  # a crash in student code is a failure with its cause
                    where = traceback.extract_tb(err.__traceback__)[-1]
                    failures.append(f"{case.name}: {type(err).__name__}: {err} (line {where.lineno} of {where.name})")
    except ExerciseTimeout as err:
        status = "timeout"
        failures.append(f"{err}: an infinite loop? (set LLMCOURSE_CHECK_TIMEOUT to change the limit)")
    if not status:
        status = "pass" if total and passed == total else ("not implemented" if todo and not passed else "fail")
    return Result(name, passed, total, failures, status, time.perf_counter() - start)


def check(name: str, fn: Callable, verbose: bool = True) -> Callable:
    """Check a student's `fn` on exercise `name`; return what the notebook should use next.

    Prints pass/fail with a hint. Returns `fn` when every case passes; otherwise the
    library's reference (and says so), so the rest of the notebook still runs. An unknown
    exercise name raises ExerciseNotFound. When LLMCOURSE_CHECK_LOG names a file, the
    result is appended to it as one JSON line: that is how `llmcourse check` grades.
    """
    ex = get_exercise(name)
    res = run_exercise(name, fn, timeout=check_timeout())
    if verbose:
        if res.ok:
            print(f"✓ {name}: all {res.total} cases pass — the notebook uses your version from here on")
        else:
            head = {"not implemented": "not implemented yet", "timeout": "stopped: time limit"}.get(
                res.status, f"{res.passed}/{res.total} cases pass")
            print(f"✗ {name}: {head}")
            for line in res.failures[:5]:
                print(f"   - {line}")
            if ex.hint and res.status != "not implemented":
                print(f"   hint: {ex.hint}")
            print(f"   ↪ until it passes, the notebook uses the library's {ex.reference_name}")
    log = os.environ.get("LLMCOURSE_CHECK_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"exercise": name, "passed": res.passed, "total": res.total,
                                 "status": res.status, "seconds": round(res.seconds, 3)}) + "\n")
    return fn if res.ok else ex.reference_object()
