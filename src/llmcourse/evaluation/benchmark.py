"""A benchmark as data: items with a schema, a versioned and hashed JSONL file, deterministic splits.

Every item has the same fields, whatever it tests:

    id          unique and stable ("math-en-0007"): results are joined on it
    language    en, id, th, ... (a benchmark of the region reports per language)
    category    what skill it probes (math, translation, code, ...)
    difficulty  1 (easy) .. 3 (hard), as designed
    prompt      what the model sees
    reference   the gold answer (a choice's text, a number, a canonical program)
    grader      how an answer is scored: "choice" (log-likelihood of each choice, as
                lm-evaluation-harness does multiple choice), "math" (extract + compare
                numbers), "code" (run the tests in the sandbox), "exact" (string match)
    choices     the options of a "choice" item, written as the continuations scored
    meta        anything else a grader needs (HumanEval's tests and entry point)

The file is JSON Lines: a header line (name, version, number of items, the sha256 of the
item lines) and one item per line. Reading checks the hash and refuses duplicate ids, so
an edited or corrupted benchmark is noticed before it produces numbers. Splits come from
a hash of each id, never from a shuffle: an item stays in its split when items are added.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable

__all__ = ["GRADERS", "BenchmarkError", "Item", "read_benchmark", "split_of", "split_items", "summarize",
           "write_benchmark", "items_hash"]

GRADERS = ("choice", "math", "code", "exact")
FIELDS = ("id", "language", "category", "difficulty", "prompt", "reference", "grader")


class BenchmarkError(ValueError):
    """A benchmark file or item that cannot be used; the message says what to fix."""


@dataclass
class Item:
    id: str
    language: str
    category: str
    difficulty: int
    prompt: str
    reference: str
    grader: str
    choices: list[str] = field(default_factory=list)
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.id or not isinstance(self.id, str):
            raise BenchmarkError(f"an item needs a non-empty string id, got {self.id!r}")
        if self.grader not in GRADERS:
            raise BenchmarkError(f"item {self.id}: grader must be one of {', '.join(GRADERS)}, got {self.grader!r}")
        if self.difficulty not in (1, 2, 3):
            raise BenchmarkError(f"item {self.id}: difficulty must be 1, 2 or 3, got {self.difficulty!r}")
        if self.grader == "choice":
            if len(self.choices) < 2 or self.reference not in self.choices:
                raise BenchmarkError(f"item {self.id}: a choice item needs >= 2 choices with the reference among them")
            if len(set(self.choices)) != len(self.choices):
                raise BenchmarkError(f"item {self.id}: duplicate choices {self.choices}")

    @property
    def answer_index(self) -> int:
        return self.choices.index(self.reference)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)


def items_hash(items: Iterable[Item]) -> str:
    """sha256 of the items' canonical JSON lines: the benchmark's fingerprint."""
    h = hashlib.sha256()
    for item in items:
        h.update(item.to_json().encode("utf-8") + b"\n")
    return h.hexdigest()


def _check_ids(items: list[Item], where: str) -> None:
    dup = [i for i, n in Counter(it.id for it in items).items() if n > 1]
    if dup:
        raise BenchmarkError(f"{where}: duplicate item ids {dup[:5]}{' ...' if len(dup) > 5 else ''}: "
                             "ids must be unique (results are joined on them)")


def write_benchmark(items: list[Item], path: str | os.PathLike, name: str, version: str,
                    description: str = "") -> Path:
    """Write the benchmark as JSONL (header + items), atomically: a crash never leaves half a file."""
    items = list(items)
    _check_ids(items, name)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {"benchmark": name, "version": version, "n_items": len(items), "sha256": items_hash(items),
              "description": description}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(header, ensure_ascii=False) + "\n")
            for item in items:
                fh.write(item.to_json() + "\n")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def read_benchmark(path: str | os.PathLike, verify: bool = True) -> tuple[dict, list[Item]]:
    """(header, items) of a benchmark file; a wrong hash or duplicate ids raise BenchmarkError."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no benchmark file at {path}")
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines:
        raise BenchmarkError(f"{path} is empty: rebuild the benchmark")
    try:
        header = json.loads(lines[0])
    except json.JSONDecodeError as err:
        raise BenchmarkError(f"{path}: the first line must be the JSON header ({err})") from None
    if not isinstance(header, dict) or "sha256" not in header:
        raise BenchmarkError(f"{path}: the first line must be a header with name, version and sha256")
    items = []
    for n, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            missing = [f for f in FIELDS if f not in raw]
            if missing:
                raise BenchmarkError(f"missing fields {missing}")
            items.append(Item(**raw))
        except (json.JSONDecodeError, TypeError, BenchmarkError) as err:
            raise BenchmarkError(f"{path}, line {n}: not a valid item ({err})") from None
    _check_ids(items, str(path))
    if verify:
        if len(items) != header.get("n_items"):
            raise BenchmarkError(f"{path}: header says {header.get('n_items')} items, the file holds {len(items)}")
        if items_hash(items) != header["sha256"]:
            raise BenchmarkError(f"{path}: the items do not match the header's sha256 — the file was edited or "
                                 "damaged after it was written; rebuild it (or read with verify=False to inspect)")
    return header, items


def split_of(item_id: str, dev_fraction: float = 0.2) -> str:
    """"dev" or "test", from a hash of the id: stable when items are added or removed."""
    bucket = int(hashlib.sha256(item_id.encode("utf-8")).hexdigest()[:8], 16) / 16**8
    return "dev" if bucket < dev_fraction else "test"


def split_items(items: list[Item], dev_fraction: float = 0.2) -> dict[str, list[Item]]:
    out: dict[str, list[Item]] = {"dev": [], "test": []}
    for it in items:
        out[split_of(it.id, dev_fraction)].append(it)
    return out


def summarize(items: list[Item], header: dict | None = None, contamination: dict | None = None) -> str:
    """A model-card-like summary of a benchmark, in Markdown: what is in it, how it is graded, its limits."""
    header = header or {}
    by = lambda key: Counter(getattr(i, key) for i in items)  # noqa: E731
    splits = Counter(split_of(i.id) for i in items)
    lines = [f"## Benchmark card: {header.get('benchmark', 'benchmark')} v{header.get('version', '?')}", "",
             header.get("description", ""), "",
             f"- **Items**: {len(items)} (dev {splits['dev']}, test {splits['test']}; split by a hash of the id)",
             f"- **Fingerprint**: sha256 `{(header.get('sha256') or items_hash(items))[:16]}…`",
             "- **Languages**: " + ", ".join(f"{k} {v}" for k, v in sorted(by("language").items())),
             "- **Categories**: " + ", ".join(f"{k} {v}" for k, v in sorted(by("category").items())),
             "- **Difficulty**: " + ", ".join(f"{k}: {v}" for k, v in sorted(by("difficulty").items())),
             "- **Graders**: " + ", ".join(f"{k} {v}" for k, v in sorted(by("grader").items()))]
    if contamination:
        flagged = [k for k, v in contamination.items() if v["flagged"]]
        lines.append(f"- **Contamination** (n-gram overlap with the training text): {len(flagged)} of "
                     f"{len(contamination)} items flagged" + (f", e.g. {', '.join(flagged[:3])}" if flagged else ""))
    lines += ["- **Intended use**: comparing small models of this course on SEA-language skills, arithmetic word "
              "problems, Python and HumanEval; not a measure of general ability.",
              "- **Limitations**: generated from templates and offline word lists (narrow, formulaic text); "
              "multiple-choice items are scored by log-likelihood, which favours fluent guessers; small "
              "categories give wide confidence intervals."]
    return "\n".join(lines)
