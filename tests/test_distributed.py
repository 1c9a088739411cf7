"""torchrun on this CPU (gloo): 2 DDP ranks with half the batch each end with the weights of one
process with the whole batch; FSDP2 (fully_shard) too, with less model state per rank."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SRC = str(Path(__file__).resolve().parents[1] / "src")
TORCHRUN = shutil.which("torchrun") or str(Path(sys.executable).with_name("torchrun"))


def _env():
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""), OMP_NUM_THREADS="1",
               LLMCOURSE_PROFILE="smoke")
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    return env


def _run(cmd, timeout=300):
    res = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    return res


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    from llmcourse.training.pretrain import course_shards, make_config, pretrain

    course_shards(make_config("smoke"))
    out = tmp_path_factory.mktemp("single") / "run"
    pretrain(make_config("smoke", steps=4, progress=False), out)
    return torch.load(out / "step_00000004.pt", weights_only=True)["model"]


def _torchrun(out, *extra):
    _run([TORCHRUN, "--standalone", "--nproc_per_node=2", "-m", "llmcourse.training.pretrain", "--preset",
          "smoke", "--max-steps", "4", "--out", str(out), "--no-progress", *extra])
    return torch.load(out / "step_00000004.pt", weights_only=True)["model"]


# After 4 AdamW steps the only difference is the order of float32 additions in the gradient mean
# (all-reduce of two half-batch means vs one mean): ~1e-7 relative per step, amplified by Adam's
# division by sqrt(v) to ~1e-6 of the weights. A rank reading the wrong half of the batch, or no
# averaging of gradients, moves weights by ~lr = 3e-3.
ATOL = 2e-5


RUNS: dict[str, Path] = {}  # mode -> run folder, shared with the memory test


@pytest.mark.parametrize("mode", ["ddp", "fsdp"])
def test_two_ranks_equal_one_process(tmp_path, single, mode):
    extra = ["--fsdp"] if mode == "fsdp" else []
    two = _torchrun(tmp_path / mode, *extra)
    RUNS[mode] = tmp_path / mode
    assert sorted(two) == sorted(single)
    worst = max((two[k] - single[k]).abs().max().item() for k in single)
    assert worst < ATOL, f"{mode}: weights differ by {worst:.2e}"


def test_fsdp_holds_less_state_per_rank(tmp_path, single):
    """Parameters + gradients + Adam state bytes per rank (written by each rank at the end of a run):
    FSDP about half of DDP on 2 ranks. Runs after the equality test has made both runs."""
    import json

    runs = {m: RUNS.get(m, tmp_path / m) for m in ("ddp", "fsdp")}
    for mode, out in runs.items():
        if not (out / "ranks").is_dir():
            _torchrun(out, *(["--fsdp"] if mode == "fsdp" else []))
    mem = {m: [json.loads((out / "ranks" / f"rank_{r}.json").read_text())["state_bytes"]["total"] for r in (0, 1)]
           for m, out in runs.items()}
    assert mem["ddp"][0] == mem["ddp"][1]
    assert 0.4 < max(mem["fsdp"]) / mem["ddp"][0] < 0.65, mem
