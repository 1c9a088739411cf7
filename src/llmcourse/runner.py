"""Run notebooks headless: jupytext source -> executed .ipynb + HTML + the course report.

`run_notebooks(["1.1"], profile="smoke")` executes each notebook in a fresh kernel with
LLMCOURSE_PROFILE set, writes `build/course/N_M_topic.ipynb` and `.html`, and collects
the key numbers each notebook records with `cfg.report(...)` into `report.md`.
Notebooks run in parallel (one kernel per worker) when `jobs > 1`.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from llmcourse.config import PROFILES, ProfileError
from llmcourse.course import TITLES, notebook_source, repo_root


@dataclass
class RunResult:
    notebook: str
    status: str  # ok | error
    seconds: float
    numbers: dict = field(default_factory=dict)
    error: str = ""
    executed: Path | None = None
    checks: list[dict] = field(default_factory=list)


def load_notebook(path: Path):
    """A notebook from a jupytext .py source or an .ipynb file."""
    import jupytext
    import nbformat

    return jupytext.read(path) if path.suffix == ".py" else nbformat.read(path, as_version=4)


CELL_TIMEOUT = {"smoke": 1800}  # seconds a cell may run before the run is called hung; other profiles: 2 hours


def execute(nb, profile: str, workdir: Path, timeout: int | None = None, allow_errors: bool = False,
            extra_env: dict | None = None) -> tuple[object, dict, list[dict], str]:
    """Execute notebook `nb` in a fresh kernel; return (nb, reported numbers, check results, error).

    `timeout` (seconds per cell) defaults by profile: a smoke cell is done in seconds, while a
    laptop cell that trains 21 models can take half an hour on a 2-core machine.
    """
    timeout = timeout or CELL_TIMEOUT.get(profile, 7200)
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    workdir.mkdir(parents=True, exist_ok=True)
    fd, report = tempfile.mkstemp(suffix=".json", prefix="report-")
    os.close(fd)
    fd, checks = tempfile.mkstemp(suffix=".jsonl", prefix="checks-")
    os.close(fd)
    env = dict(os.environ, LLMCOURSE_PROFILE=profile, LLMCOURSE_REPORT=report, LLMCOURSE_CHECK_LOG=checks,
               MPLBACKEND="module://matplotlib_inline.backend_inline", PYTHONUNBUFFERED="1",
               LLMCOURSE_ROOT=str(repo_root()))
    env.update(extra_env or {})
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=allow_errors,
                            resources={"metadata": {"path": str(workdir)}})
    error = ""
    try:
        client.execute(env=env)
    except CellExecutionError as err:
        text = re.sub(r"\x1b\[[0-9;]*m", "", str(err)).strip()  # drop the terminal colours
        error = text.splitlines()[-1] if text else repr(err)
    except Exception as err:  # kernel died, timeout
        error = f"{type(err).__name__}: {err}"
    numbers = json.loads(Path(report).read_text() or "{}") if Path(report).stat().st_size else {}
    results = [json.loads(line) for line in Path(checks).read_text().splitlines() if line.strip()]
    Path(report).unlink(missing_ok=True)
    Path(checks).unlink(missing_ok=True)
    return nb, numbers, results, error


def run_one(nb_id: str, profile: str, out_dir: Path, html: bool = True, extra_env: dict | None = None,
            source: Path | None = None) -> RunResult:
    """Execute one notebook (its course source, or `source`: a student version, say)."""
    import nbformat

    src = source or notebook_source(nb_id)
    nb = load_notebook(src)
    start = time.perf_counter()
    nb, numbers, checks, error = execute(nb, profile, workdir=out_dir / "work", extra_env=extra_env)
    seconds = time.perf_counter() - start
    out_dir.mkdir(parents=True, exist_ok=True)
    executed = out_dir / f"{src.stem}.ipynb"
    nbformat.write(nb, executed)
    if html:
        try:
            from nbconvert import HTMLExporter

            body, _ = HTMLExporter().from_notebook_node(nb)
            executed.with_suffix(".html").write_text(body, encoding="utf-8")
        except Exception as err:  # HTML is a convenience; the run itself counts
            print(f"  (no HTML for {nb_id}: {err})", file=sys.stderr)
    failed = [c["exercise"] for c in checks if c["passed"] != c["total"]]
    if failed and not error and source is None:
        error = f"checks failed in the solution notebook: {', '.join(failed)}"
    return RunResult(nb_id, "error" if error else "ok", seconds, numbers, error, executed, checks)


def write_report(results: list[RunResult], profile: str, out_dir: Path) -> Path:
    lines = [f"# Course run ({profile} profile)", "",
             "| notebook | title | status | seconds | key numbers |", "| --- | --- | --- | ---: | --- |"]
    for r in results:
        nums = "; ".join(f"{k}={v}" for k, v in r.numbers.items()) or "-"
        status = r.status if r.status == "ok" else f"error: {r.error[:120]}"
        lines.append(f"| {r.notebook} | {TITLES[r.notebook]} | {status} | {r.seconds:.1f} | {nums} |")
    path = out_dir / "report.md"
    path.write_text("\n".join(lines) + "\n")
    (out_dir / "report.json").write_text(json.dumps(
        [{"notebook": r.notebook, "status": r.status, "seconds": round(r.seconds, 2), "numbers": r.numbers,
          "error": r.error} for r in results], indent=1))
    return path


def run_notebooks(ids: list[str], profile: str, out_dir: Path | None = None, jobs: int = 1,
                  html: bool = True) -> list[RunResult]:
    """Execute notebooks `ids` in `profile`; write them, their HTML and report.md to `out_dir`.

    With `jobs > 1` notebooks run in parallel, but in the order of the artifact thread: a
    notebook that loads an artifact starts only after the notebooks (in this run) that save
    it have finished, and notebooks that measure speed run alone, so their timings are not
    those of a shared machine.
    """
    if profile not in PROFILES:
        raise ProfileError(f"unknown profile {profile!r}; use one of {', '.join(PROFILES)}")
    for nb_id in ids:
        notebook_source(nb_id)  # unknown or missing ids fail before anything runs
    out_dir = out_dir or repo_root() / "build" / "course"
    out_dir.mkdir(parents=True, exist_ok=True)
    graph = artifact_graph(ids)
    jobs = max(1, jobs)
    cores = os.cpu_count() or 1

    def go(nb_id: str, alone: bool, running: int) -> RunResult:
        print(f"▶ {nb_id} {TITLES[nb_id]} ({profile}{', alone: it measures speed' if alone else ''})", flush=True)
        threads = cores if alone or jobs == 1 else max(1, cores // jobs)
        env = {"LLMCOURSE_PARALLEL": str(running)}
        if "OMP_NUM_THREADS" not in os.environ:  # share the cores between the kernels
            env["OMP_NUM_THREADS"] = str(threads)
        res = run_one(nb_id, profile, out_dir, html, extra_env=env)
        mark = "✓" if res.status == "ok" else "✗"
        print(f"{mark} {nb_id} in {res.seconds:.1f}s {res.error}", flush=True)
        return res

    results: dict[str, RunResult] = {}
    pending = list(ids)
    running: dict[str, object] = {}
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        while pending or running:
            for nb_id in list(pending):
                alone = graph[nb_id]["timed"] and jobs > 1
                waits = [d for d in graph[nb_id]["after"] if d in pending or d in running]
                if waits or len(running) >= jobs or (running and alone) or \
                        any(graph[r]["timed"] and jobs > 1 for r in running):
                    continue
                running[nb_id] = pool.submit(go, nb_id, alone, len(running) + 1)
                pending.remove(nb_id)
                if alone:
                    break
            done, _ = wait(list(running.values()), return_when=FIRST_COMPLETED) if running else (set(), None)
            for nb_id, fut in list(running.items()):
                if fut in done:
                    results[nb_id] = fut.result()
                    del running[nb_id]
    ordered = [results[i] for i in ids]
    report = write_report(ordered, profile, out_dir)
    print(f"report: {report}")
    return ordered


ARTIFACT_CALL = re.compile(r"""\b(save|load)_artifact\(\s*["']([\w-]+)["']""")
TIMING_CALL = re.compile(r"\bcfg\.timing_is_reliable\(")


def artifact_graph(ids: list[str] | None = None) -> dict[str, dict]:
    """For each notebook: the artifacts it saves and loads, the notebooks it must run after, timed?

    Read from the sources themselves (`save_artifact("name"`, `load_artifact("name"`,
    `cfg.timing_is_reliable(`), so the graph is whatever the notebooks really do.
    """
    from llmcourse.course import available_notebooks

    ids = ids or available_notebooks()
    info: dict[str, dict] = {}
    for nb_id in available_notebooks():
        text = notebook_source(nb_id).read_text(encoding="utf-8")
        calls = ARTIFACT_CALL.findall(text)
        info[nb_id] = {"saves": sorted({n for kind, n in calls if kind == "save"}),
                       "loads": sorted({n for kind, n in calls if kind == "load"}),
                       "timed": bool(TIMING_CALL.search(text))}
    order = list(TITLES)
    for nb_id, row in info.items():
        row["after"] = sorted({other for other, o in info.items() if order.index(other) < order.index(nb_id)
                               and set(o["saves"]) & set(row["loads"])}, key=order.index)
        row["loaded_by"] = sorted({other for other, o in info.items() if set(o["loads"]) & set(row["saves"])
                                   and order.index(other) > order.index(nb_id)}, key=order.index)
    return {i: info[i] for i in ids}
