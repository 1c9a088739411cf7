"""What only a GPU can show, in one run: every notebook's smoke profile on CUDA and the GPU benchmarks.

    make gpu-check          # or: .venv/bin/python scripts/gpu_check.py [--minutes 8]

Runs the notebooks of this checkout in the smoke profile with the GPU as the device (the
CUDA paths of every notebook: mixed precision, bitsandbytes, vLLM, fused kernels), then every
`gpu_*` benchmark (training MFU, GPU inference and serving, fine-tuning memory). Writes one
JSON, build/gpu-check/gpu_check.json, with the device, the versions, each notebook's status
and time, and each benchmark's figures. Sized to finish in under 8 minutes on one GPU: work
that would run past the budget is skipped and listed as such. Never part of `make test`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=8.0, help="time budget for the whole check")
    parser.add_argument("--out", default=None, help="output folder (default build/gpu-check)")
    args = parser.parse_args()

    import torch

    from llmcourse.bench import discover, run_benchmarks
    from llmcourse.config import versions
    from llmcourse.course import available_notebooks, repo_root
    from llmcourse.runner import run_one

    out = Path(args.out) if args.out else repo_root() / "build" / "gpu-check"
    out.mkdir(parents=True, exist_ok=True)
    if not torch.cuda.is_available():
        print("gpu-check: no CUDA GPU here; nothing to check (this runs on a GPU machine)")
        (out / "gpu_check.json").write_text(json.dumps({"device": "cpu", "skipped": "no CUDA GPU"}, indent=1))
        return 0
    deadline = time.monotonic() + args.minutes * 60
    report = {"device": torch.cuda.get_device_name(0), "versions": versions(), "notebooks": [],
              "benchmarks": [], "skipped": []}
    benches = sorted(n for n in discover() if n.startswith("gpu_"))
    bench_share = 0.5 if benches else 0.0  # half the budget for the benchmarks
    for nb_id in available_notebooks():
        if time.monotonic() > deadline - bench_share * args.minutes * 60:
            report["skipped"].append(f"notebook {nb_id}: over budget")
            continue
        res = run_one(nb_id, "smoke", out / "notebooks", html=False)
        row = {"notebook": nb_id, "status": res.status, "seconds": round(res.seconds, 1), "error": res.error,
               "numbers": res.numbers}
        report["notebooks"].append(row)
        print(f"{'✓' if res.status == 'ok' else '✗'} {nb_id} {res.seconds:.1f}s {res.error}", flush=True)
    for name in benches:
        if time.monotonic() > deadline:
            report["skipped"].append(f"benchmark {name}: over budget")
            continue
        try:
            (path,) = run_benchmarks([name], out_dir=out / "bench")
            report["benchmarks"].append(json.loads(path.read_text()))
        except Exception as err:  # one broken benchmark must not hide the others
            report["benchmarks"].append({"name": name, "error": f"{type(err).__name__}: {err}"})
    path = out / "gpu_check.json"
    path.write_text(json.dumps(report, indent=1, default=str))
    failed = [r["notebook"] for r in report["notebooks"] if r["status"] != "ok"]
    print(f"gpu-check: {len(report['notebooks'])} notebooks ({len(failed)} failed: {failed}), "
          f"{len(report['benchmarks'])} benchmarks, {len(report['skipped'])} skipped -> {path}")
    return 1 if failed or any("error" in b for b in report["benchmarks"]) else 0


if __name__ == "__main__":
    sys.exit(main())
