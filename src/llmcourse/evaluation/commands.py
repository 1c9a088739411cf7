"""`llmcourse eval` (run the course benchmark on a model) and `llmcourse annotate` (the human-evaluation app).

    llmcourse eval --model course-gpt-pretrained --suite lite --out build/eval/gpt
    llmcourse eval --model gemma-3-270m --suite full --out build/eval/gemma --export-lm-eval
    llmcourse annotate --db votes.sqlite --pairs pairs.jsonl            # http://127.0.0.1:7860
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

__all__ = ["add_commands", "cmd_annotate", "cmd_eval", "suite_items"]

LITE_SIZE = 100


def suite_items(items: list, suite: str, n: int = LITE_SIZE, seed: int = 0, profile: str | None = None
                ) -> tuple[list, np.ndarray | None]:
    """The items of a suite and, for "lite", the weights that turn its answers into a full-score estimate.

    lite = the subset 7.3 chose and saved (artifact `lite-subset`) when it was chosen on this very
    benchmark (same sha256), else a stratified sample (category x language) of the multiple-choice items.
    """
    if suite == "full":
        return list(items), None
    if suite != "lite":
        raise ValueError(f"suite must be 'lite' or 'full', got {suite!r}")
    from llmcourse.assets.artifacts import ArtifactError, load_artifact
    from llmcourse.evaluation.benchmark import items_hash
    from llmcourse.evaluation.lite import stratified_subset

    choice = [it for it in items if it.grader == "choice"]
    by_id = {it.id: it for it in choice}
    try:
        saved = load_artifact("lite-subset", profile=profile, quiet=True)
        if saved.get("benchmark_sha256") == items_hash(items) and all(i in by_id for i in saved["item_ids"]):
            print(f"[eval] lite suite: the {len(saved['item_ids'])} items 7.3 chose ({saved['method']})")
            return [by_id[i] for i in saved["item_ids"]], np.asarray(saved["weights"], dtype=float)
    except (ArtifactError, KeyError, TypeError):
        pass
    sub = stratified_subset([f"{it.category}/{it.language}" for it in choice], n, np.random.default_rng(seed))
    print(f"[eval] lite suite: a stratified sample of {len(sub.items)} multiple-choice items")
    return [choice[i] for i in sub.items], sub.weights


def cmd_eval(args: argparse.Namespace) -> int:
    from llmcourse.config import pick_profile
    from llmcourse.evaluation.benchmark import read_benchmark
    from llmcourse.evaluation.course_bench import course_benchmark
    from llmcourse.evaluation.lm import load_eval_lm
    from llmcourse.evaluation.runner import evaluate_lm, summarize_results, write_results

    profile = args.profile or pick_profile()[0]
    if args.benchmark:
        header, items = read_benchmark(args.benchmark)
        print(f"[eval] benchmark {header.get('benchmark')} v{header.get('version')} ({len(items)} items)")
    else:
        items = course_benchmark(profile)
        print(f"[eval] the course benchmark, {profile} size ({len(items)} items)")
    items, weights = suite_items(items, args.suite, profile=profile)
    if args.categories:
        wanted = set(args.categories.split(","))
        keep = [k for k, it in enumerate(items) if it.category in wanted]
        items, weights = [items[k] for k in keep], None
        if not items:
            raise ValueError(f"no items in categories {sorted(wanted)}")
    if args.limit:
        items, weights = items[:args.limit], None
    if not items:
        raise ValueError("no items to evaluate (check --categories and --limit)")
    from llmcourse.assets.artifacts import ArtifactError

    try:
        lm = load_eval_lm(args.model, profile=profile)
    except ArtifactError as err:
        print(f"llmcourse eval: {err}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    records = evaluate_lm(lm, items, progress=True)
    summary = summarize_results(records)
    summary.update({"suite": args.suite, "seconds": time.perf_counter() - start, "n_items": len(records)})
    if weights is not None:
        summary["estimated_full_accuracy"] = float(np.asarray([r["correct"] for r in records]) @ weights * 100)
    per_item, summ = write_results(records, summary, args.out)
    if args.export_lm_eval:
        from llmcourse.evaluation.lm_eval_export import export_lm_eval_tasks

        tasks = export_lm_eval_tasks(items, Path(args.out) / "lm_eval_tasks")
        print(f"[eval] lm-eval tasks: {', '.join(tasks)} in {Path(args.out) / 'lm_eval_tasks'} "
              f"(lm_eval --include_path ... --tasks {','.join(tasks)})")
    o = summary["overall"]
    print(f"{lm.name}: {o['accuracy']:.1f}% (95% CI {o['ci'][0]:.1f}-{o['ci'][1]:.1f}) on {o['n']} items "
          f"in {summary['seconds']:.0f} s")
    for cat, row in summary["by_category"].items():
        print(f"  {cat:14s} {row['accuracy']:5.1f}%  n={row['n']}")
    if "estimated_full_accuracy" in summary:
        print(f"  estimated full-benchmark accuracy (weighted lite): {summary['estimated_full_accuracy']:.1f}%")
    print(f"wrote {per_item} and {summ}")
    return 0


def cmd_annotate(args: argparse.Namespace) -> int:
    from llmcourse.evaluation.annotate import AnnotationServer
    from llmcourse.evaluation.votes import VoteStore

    password = args.password or os.environ.get("LLMCOURSE_ANNOTATE_PASSWORD") or None
    store = VoteStore(args.db)
    if args.pairs:
        rows = []
        for n, line in enumerate(Path(args.pairs).read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
                rows.append((d["prompt"], d["output_1"], d["output_2"], d["model_1"], d["model_2"]))
            except (json.JSONDecodeError, KeyError) as err:
                raise ValueError(f"{args.pairs}, line {n}: need prompt, output_1, output_2, model_1, model_2 "
                                 f"({err})") from None
        store.add_pairs(rows, seed=args.seed)
        print(f"[annotate] added {len(rows)} pairs")
    server = AnnotationServer(store, host=args.host, port=args.port, password=password).start()
    c = store.counts()
    print(f"[annotate] {c['pairs']} pairs, {c['votes']} votes so far; open {server.url}/ (Ctrl-C to stop)")
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def add_commands(subparsers) -> None:
    e = subparsers.add_parser("eval", help="evaluate a model on the course benchmark: JSONL per item + summary")
    e.add_argument("--model", required=True, help="an artifact (course-gpt-pretrained, course-gpt-sft, ...), "
                   "gemma-3-270m or gemma-3-270m-gguf")
    e.add_argument("--suite", choices=["lite", "full"], default="lite")
    e.add_argument("--out", required=True, help="output folder (results.jsonl, summary.json)")
    e.add_argument("--benchmark", help="a benchmark JSONL file (default: the course benchmark)")
    e.add_argument("--categories", help="comma-separated categories to keep (e.g. math,code)")
    e.add_argument("--limit", type=int, help="evaluate only the first N items")
    e.add_argument("--profile", choices=["smoke", "laptop", "colab", "cluster"])
    e.add_argument("--export-lm-eval", action="store_true", help="also write the items as lm-eval tasks")
    e.set_defaults(fn=cmd_eval)

    a = subparsers.add_parser("annotate", help="the human-evaluation app: pairwise votes, Elo / Bradley-Terry")
    a.add_argument("--db", default="build/annotate/votes.sqlite", help="SQLite file of pairs and votes")
    a.add_argument("--pairs", help="JSONL of pairs to add: prompt, output_1, output_2, model_1, model_2")
    a.add_argument("--host", default="127.0.0.1", help="bind address (beyond 127.0.0.1 a password is required)")
    a.add_argument("--port", type=int, default=7860)
    a.add_argument("--password", help="required when --host is not loopback (or LLMCOURSE_ANNOTATE_PASSWORD)")
    a.add_argument("--seed", type=int, default=0, help="seed of the random A/B sides of new pairs")
    a.set_defaults(fn=cmd_annotate)


if __name__ == "__main__":  # pragma: no cover
    from llmcourse.cli import main

    sys.exit(main())
