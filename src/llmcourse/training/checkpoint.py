"""Checkpoints that survive a crash, and resuming exactly where a run stopped.

A checkpoint must hold everything the next step depends on, or the resumed run drifts
from the one that was never interrupted:

    model weights, optimiser state (Adam's moments and step count), scheduler state,
    the data position (which batch comes next), and every random generator: Python's,
    NumPy's, torch's CPU and CUDA generators (dropout, masking, sampling)

Writing is atomic: the file is written under a temporary name, flushed to disk (fsync)
and renamed over the final name; a rename is all-or-nothing, so a crash leaves either
the old file or the new one, never half of one. A JSON sidecar records the sha256 of
the .pt file and the run's config; loading walks back from the newest checkpoint and
skips any whose bytes do not match (a disk that lost the end of a file, a copy cut
short), saying so. Files are read with `torch.load(weights_only=True)`: tensors and
plain containers only, no arbitrary code from a pickle.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
from pathlib import Path

import numpy as np
import torch

__all__ = ["CheckpointError", "atomic_torch_save", "capture_rng_state", "checkpoint_files", "load_latest_checkpoint",
           "restore_rng_state", "save_checkpoint"]

_NAME = re.compile(r"^step_(\d{8})\.pt$")


class CheckpointError(RuntimeError):
    """No usable checkpoint; the message says what was found and what to do."""


def capture_rng_state() -> dict:
    """Every global random generator's state, as tensors and plain values (weights_only-safe)."""
    py = random.getstate()
    np_state = np.random.get_state()
    state = {"python": {"version": py[0], "state": torch.tensor(py[1], dtype=torch.int64), "gauss": py[2]},
             "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                       "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict) -> None:
    """Put back what `capture_rng_state` captured."""
    py = state["python"]
    random.setstate((py["version"], tuple(int(x) for x in py["state"].tolist()), py["gauss"]))
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _atomic_write_bytes(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_torch_save(state: dict, path: str | os.PathLike) -> Path:
    """torch.save `state` to `path` so that a crash leaves the old file or the new one, never half of one."""
    path = Path(path)
    _atomic_write_bytes(path, lambda fh: torch.save(state, fh))
    return path


def save_checkpoint(folder: str | os.PathLike, step: int, state: dict, meta: dict | None = None,
                    keep: int = 3) -> Path:
    """Write `state` (tensors and plain values) as folder/step_NNNNNNNN.pt atomically; keep the newest `keep`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"step_{step:08d}.pt"
    _atomic_write_bytes(path, lambda fh: torch.save(state, fh))
    side = {"step": step, "sha256": _sha256(path), "bytes": path.stat().st_size, **(meta or {})}
    _atomic_write_bytes(path.with_suffix(".json"), lambda fh: fh.write(json.dumps(side, indent=1).encode()))
    for old in checkpoint_files(folder)[keep:]:
        old.unlink(missing_ok=True)
        old.with_suffix(".json").unlink(missing_ok=True)
    return path


def checkpoint_files(folder: str | os.PathLike) -> list[Path]:
    """Checkpoint files in `folder`, newest step first (temporary leftovers ignored)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found, reverse=True)]


def load_latest_checkpoint(folder: str | os.PathLike, map_location="cpu", say=print) -> tuple[dict, dict, Path]:
    """(state, sidecar meta, path) of the newest checkpoint whose bytes verify; older ones if the newest fails."""
    files = checkpoint_files(folder)
    if not files:
        raise CheckpointError(f"no checkpoint in {folder} (step_*.pt): nothing to resume; run without --resume")
    problems = []
    for path in files:
        side = path.with_suffix(".json")
        try:
            meta = json.loads(side.read_text())
        except (OSError, ValueError):
            problems.append(f"{path.name}: no readable sidecar {side.name}")
            say(f"[checkpoint] {path.name} has no readable {side.name} (interrupted while saving?); trying an older one")
            continue
        if path.stat().st_size != meta.get("bytes") or _sha256(path) != meta.get("sha256"):
            problems.append(f"{path.name}: bytes do not match its sha256")
            say(f"[checkpoint] {path.name} is damaged (its bytes do not match the recorded sha256); "
                "using the previous checkpoint")
            continue
        try:
            state = torch.load(path, map_location=map_location, weights_only=True)
        except Exception as err:  # a corrupt zip that still matched? report and go on
            problems.append(f"{path.name}: {type(err).__name__}")
            say(f"[checkpoint] {path.name} cannot be read ({type(err).__name__}); using the previous checkpoint")
            continue
        return state, meta, path
    raise CheckpointError(f"no usable checkpoint in {folder}: " + "; ".join(problems))
