"""Benchmarks, side by side: ours against the library a user would pick instead, in one run.

A benchmark is a function in `benchmarks/bench_<name>.py` decorated with
`@benchmark("name")`. It receives a `Bench` and times things with `b.measure(...)`:

    @benchmark("bpe_train")
    def run(b: Bench) -> None:
        b.measure("ours fast, 1 MB", lambda: train(text), repeats=3)
        b.measure("HF tokenizers, 1 MB", lambda: hf_train(text), repeats=3)
        b.ratio("ours / HF", "ours fast, 1 MB", "HF tokenizers, 1 MB")

Benchmarks named `gpu_*` need a CUDA GPU: `make bench` skips them on a CPU machine and
`make gpu-check` runs them. `run_benchmarks()` writes `build/bench/NAME.json` (device, CPU count, versions, git SHA,
min and median of every figure) and `NAME.md`, a table. Benchmarks are not tests: no
assertion on time anywhere; the ratios are reported for people to read.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import statistics
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from llmcourse.config import pick_device, versions
from llmcourse.course import repo_root


@dataclass
class Figure:
    label: str
    unit: str
    values: list[float]
    group: str = ""
    higher_is_better: bool = False

    @property
    def min(self) -> float:
        return min(self.values)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def max(self) -> float:
        return max(self.values)


@dataclass
class Bench:
    name: str
    figures: dict[str, Figure] = field(default_factory=dict)
    ratios: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def measure(self, label: str, fn: Callable[[], object], repeats: int = 5, warmup: int = 1,
                work: float | None = None, unit: str | None = None, group: str = "") -> Figure:
        """Time `fn` `repeats` times after `warmup` calls.

        Without `work` the figure is seconds per call (lower is better). With `work` (tokens,
        bytes...) it is work per second, e.g. unit="tok/s" (higher is better).
        """
        for _ in range(warmup):
            fn()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        if work is None:
            fig = Figure(label, "s", times, group)
        else:
            fig = Figure(label, unit or "items/s", [work / t for t in times], group, higher_is_better=True)
        self.figures[label] = fig
        print(f"  {label:50s} median {fig.median:12.4g} {fig.unit}  (min {fig.min:.4g}, {repeats} runs)", flush=True)
        return fig

    def record(self, label: str, values: float | list[float], unit: str, group: str = "",
               higher_is_better: bool = False) -> Figure:
        """Record a figure measured another way (memory in MB, a loss, a count)."""
        vals = [float(v) for v in values] if isinstance(values, (list, tuple)) else [float(values)]
        fig = Figure(label, unit, vals, group, higher_is_better)
        self.figures[label] = fig
        print(f"  {label:50s} {fig.median:12.4g} {unit}", flush=True)
        return fig

    def ratio(self, name: str, numerator: str, denominator: str) -> float:
        """median(numerator) / median(denominator), kept under `name`."""
        value = self.figures[numerator].median / self.figures[denominator].median
        self.ratios[name] = value
        print(f"  ratio {name}: {value:.3g}x", flush=True)
        return value

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"  note: {text}", flush=True)


_BENCHMARKS: dict[str, Callable[[Bench], None]] = {}


def benchmark(name: str) -> Callable:
    def wrap(fn: Callable[[Bench], None]) -> Callable[[Bench], None]:
        _BENCHMARKS[name] = fn
        return fn

    return wrap


def discover(folder: Path | None = None) -> dict[str, Callable[[Bench], None]]:
    """Import every benchmarks/bench_*.py and return the registered benchmarks."""
    folder = folder or repo_root() / "benchmarks"
    for path in sorted(folder.glob("bench_*.py")):
        spec = importlib.util.spec_from_file_location(f"llmcourse_benchmarks.{path.stem}", path)
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    return dict(_BENCHMARKS)


def git_sha() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=repo_root(), timeout=5).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def provenance() -> dict:
    return {"device": pick_device(), "cpu": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "torch_threads": _torch_threads(), "versions": versions(),
            "git_sha": git_sha(), "when": time.strftime("%Y-%m-%d %H:%M:%S")}


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def to_markdown(bench: Bench, prov: dict) -> str:
    lines = [f"# {bench.name}", "",
             f"{prov['device']} · {prov['cpu_count']} CPUs · torch threads {prov['torch_threads']} · "
             f"git {prov['git_sha']} · {prov['when']}", "",
             "| figure | median | min | max | unit |", "| --- | ---: | ---: | ---: | --- |"]
    for f in bench.figures.values():
        lines.append(f"| {f.label} | {f.median:.4g} | {f.min:.4g} | {f.max:.4g} | {f.unit} |")
    if bench.ratios:
        lines += ["", "| ratio | value |", "| --- | ---: |"]
        lines += [f"| {k} | {v:.3g}x |" for k, v in bench.ratios.items()]
    if bench.notes:
        lines += [""] + [f"- {n}" for n in bench.notes]
    return "\n".join(lines) + "\n"


def run_benchmarks(names: list[str] | None = None, out_dir: Path | None = None) -> list[Path]:
    """Run the named benchmarks (all by default); write JSON and markdown for each."""
    found = discover()
    if not names:  # by default the CPU benchmarks; gpu_* ones run in `make gpu-check` (or when named)
        names = sorted(n for n in found if not n.startswith("gpu_") or pick_device() == "cuda")
    unknown = [n for n in names if n not in found]
    if unknown:
        raise KeyError(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(sorted(found))}")
    out_dir = out_dir or repo_root() / "build" / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names:
        print(f"▶ benchmark {name}", flush=True)
        bench = Bench(name)
        found[name](bench)
        prov = provenance()
        data = {"name": name, **prov,
                "figures": [dict(asdict(f), min=f.min, median=f.median) for f in bench.figures.values()],
                "ratios": bench.ratios, "notes": bench.notes}
        path = out_dir / f"{name}.json"
        path.write_text(json.dumps(data, indent=1))
        path.with_suffix(".md").write_text(to_markdown(bench, prov))
        written.append(path)
    return written
