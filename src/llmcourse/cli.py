"""The `llmcourse` command: doctor, run, check, student, sync, bench, assets, artifacts."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path


def cmd_doctor(args: argparse.Namespace) -> int:
    from llmcourse.assets.registry import all_assets
    from llmcourse.config import hub_online, pick_device, pick_profile, versions

    online = hub_online()
    profile, why = pick_profile()
    print("llmcourse doctor")
    for k, v in versions().items():
        print(f"  {k:18s} {v}")
    print(f"  {'device':18s} {pick_device()}")
    print(f"  {'profile':18s} {profile} ({why})")
    print(f"  {'Hugging Face Hub':18s} {'answers' if online else 'does not answer: offline assets'}")
    print(f"  {'cache':18s} {os.environ.get('LLMCOURSE_CACHE', '~/.cache/llmcourse')}")
    print("assets:")
    for name, asset in sorted(all_assets().items()):
        try:
            state = "cached" if asset.cached and asset.cached() else ("on demand" if asset.prepare else "-")
        except Exception as err:  # a broken asset should not break the report
            state = f"problem: {err}"
        print(f"  {name:26s} {state:10s} offline: {asset.offline}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from llmcourse.config import pick_profile
    from llmcourse.course import available_notebooks
    from llmcourse.runner import run_notebooks

    ids = available_notebooks() if args.all else args.notebooks
    if not ids:
        print("name notebook ids (e.g. `llmcourse run 1.1`) or --all", file=sys.stderr)
        return 2
    profile = args.profile or pick_profile()[0]
    results = run_notebooks(ids, profile, Path(args.out) if args.out else None, jobs=args.jobs)
    return 0 if all(r.status == "ok" for r in results) else 1


def cmd_check(args: argparse.Namespace) -> int:
    from llmcourse.exercises.grade import format_grades, grade_notebook

    path = Path(args.notebook)
    if not path.is_file():
        print(f"no such notebook: {path}", file=sys.stderr)
        return 2
    grades = grade_notebook(path, profile=args.profile, exercise_timeout=args.exercise_timeout,
                            cell_timeout=args.cell_timeout)
    print(format_grades(grades))
    return 0 if grades and all(g.ok for g in grades) else 1


def cmd_artifacts(args: argparse.Namespace) -> int:
    from llmcourse.assets.artifacts import artifacts_root, list_artifacts, remove_artifact

    if args.action == "graph":  # the thread as the notebooks' code draws it
        from llmcourse.runner import artifact_graph

        for nb_id, row in artifact_graph().items():
            if row["saves"] or row["loads"]:
                print(f"{nb_id:4s} saves {', '.join(row['saves']) or '-':40s} loads {', '.join(row['loads']) or '-'}")
        return 0
    if args.action == "remove":
        if not args.names:
            print("name the artifacts to remove", file=sys.stderr)
            return 2
        for name in args.names:
            gone = remove_artifact(name, args.profile)
            print(f"{name}: {'removed' if gone else 'not found'}")
        return 0
    rows = list_artifacts(args.profile)
    print(f"artifacts in {artifacts_root()}")
    if not rows:
        print("  none yet: notebooks save them as they run (1.2 saves the course tokenizer)")
    for r in rows:
        size = f"{r['bytes'] / 2**20:.1f} MB"
        print(f"  {r['name']:28s} {r['profile']:8s} notebook {r['notebook']:9s} {r['created']}  {size:>9s}  "
              f"{r['status']}  {r['about']}")
    return 0


def cmd_student(args: argparse.Namespace) -> int:
    from llmcourse.course import available_notebooks, notebook_source, repo_root
    from llmcourse.exercises.student import write_student

    ids = args.notebooks or available_notebooks()
    for nb_id in ids:
        src = notebook_source(nb_id)
        out = Path(args.out) if args.out else repo_root() / "exercises" / src.parent.name
        print(f"{nb_id}: {write_student(src, out)}")
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    """Regenerate the committed .ipynb beside every jupytext source (no outputs)."""
    from llmcourse.notebook_sync import sync_all

    for path in sync_all(args.notebooks or None):
        print(f"wrote {path}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from llmcourse.bench import run_benchmarks

    for path in run_benchmarks(args.names or None):
        print(f"wrote {path} and {path.with_suffix('.md').name}")
    return 0


def cmd_assets(args: argparse.Namespace) -> int:
    from llmcourse.assets.registry import AssetError, all_assets, get_asset

    if args.action == "list":
        for name, a in sorted(all_assets().items()):
            cached = a.cached() if a.cached else False
            print(f"{name:26s} {a.kind:10s} {'cached' if cached else '':7s} online: {a.online} | offline: {a.offline}")
        return 0
    from llmcourse.config import hub_online

    online = hub_online()
    names = args.names or [n for n, a in sorted(all_assets().items()) if a.prepare]
    status = 0
    for name in names:
        try:
            asset = get_asset(name)
            if asset.prepare is None:
                print(f"{name}: nothing to prepare ({asset.note or asset.offline})")
                continue
            if not args.names and asset.offline.strip() == "-" and not online:
                print(f"{name}: skipped (online only: {asset.online})")
                continue
            print(f"{name}: {_summary(asset.prepare())}", flush=True)
        except AssetError as err:
            print(f"{name}: {err}", file=sys.stderr)
            status = 1
    return status


def _summary(prepared: object) -> str:
    """A path as it is; anything else (a corpus, a list of pairs) by its type and size."""
    if isinstance(prepared, (str, Path)):
        return str(prepared)
    size = f" of {len(prepared)}" if hasattr(prepared, "__len__") else ""
    return f"ready ({type(prepared).__name__}{size})"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="llmcourse", description="The llmcourse command line.")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("doctor", help="report Python, torch, device, profile, assets and the Hub").set_defaults(fn=cmd_doctor)

    r = sub.add_parser("run", help="execute notebooks headless and write build/course/report.md")
    r.add_argument("notebooks", nargs="*", help="ids like 1.1 2.3")
    r.add_argument("--all", action="store_true", help="every notebook in this checkout")
    r.add_argument("--profile", choices=["smoke", "laptop", "colab", "cluster"], help="default: from the hardware")
    r.add_argument("--jobs", "-j", type=int, default=1, help="notebooks run in parallel")
    r.add_argument("--out", help="output folder (default build/course)")
    r.set_defaults(fn=cmd_run)

    c = sub.add_parser("check", help="grade a student notebook: a score per exercise")
    c.add_argument("notebook")
    c.add_argument("--profile", default="smoke", choices=["smoke", "laptop", "colab", "cluster"])
    c.add_argument("--exercise-timeout", type=float, default=120.0, metavar="S",
                   help="seconds one exercise's check may run (default 120)")
    c.add_argument("--cell-timeout", type=int, default=1800, metavar="S", help="seconds one cell may run")
    c.set_defaults(fn=cmd_check)

    f = sub.add_parser("artifacts", help="list the artifacts notebooks saved: who made them and when")
    f.add_argument("action", nargs="?", default="list", choices=["list", "graph", "remove"])
    f.add_argument("names", nargs="*")
    f.add_argument("--profile", choices=["smoke", "laptop", "colab", "cluster"], help="default: all profiles")
    f.set_defaults(fn=cmd_artifacts)

    s = sub.add_parser("student", help="write student notebooks (solutions stripped) to exercises/")
    s.add_argument("notebooks", nargs="*")
    s.add_argument("--out")
    s.set_defaults(fn=cmd_student)

    y = sub.add_parser("sync", help="regenerate .ipynb files from their jupytext .py sources")
    y.add_argument("notebooks", nargs="*", help="ids like 1.2 (default: all)")
    y.set_defaults(fn=cmd_sync)

    b = sub.add_parser("bench", help="run benchmarks side by side; JSON + markdown in build/bench")
    b.add_argument("names", nargs="*")
    b.set_defaults(fn=cmd_bench)

    a = sub.add_parser("assets", help="list or prepare the course's models, tokenizers and data")
    a.add_argument("action", choices=["list", "prepare"])
    a.add_argument("names", nargs="*")
    a.set_defaults(fn=cmd_assets)

    for module in COMMAND_MODULES:  # topic packages add their own commands (pretrain, serve, eval...)
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as err:
            if not err.name or not module.startswith(err.name):  # a missing dependency inside it is an error
                raise
            continue
        mod.add_commands(sub)
    return p


# Each module has `add_commands(subparsers)`; its command functions take the parsed args and
# return an exit code. Missing modules are skipped, so a topic can land on its own.
COMMAND_MODULES = (
    "llmcourse.training.commands",    # pretrain
    "llmcourse.serving.commands",     # serve
    "llmcourse.evaluation.commands",  # eval, annotate
)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except (ValueError, FileNotFoundError, KeyError) as err:
        print(f"llmcourse {args.command}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
