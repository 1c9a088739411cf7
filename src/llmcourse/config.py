"""Profiles, device choice, seeds and the banner every notebook starts with.

A *profile* says how big the experiments in a notebook may be:

    smoke    CI and tests: every notebook in under a minute on 2 CPU cores
    laptop   real learning results on a CPU (the default without a GPU)
    colab    a free T4: real Hub models, 4-bit SEA-LION, vLLM
    cluster  several GPUs: GPT-2-small-scale pre-training with torchrun

`setup("1.1")` is the first line of every notebook. It picks the profile (from
LLMCOURSE_PROFILE, else from the hardware), the device, seeds every RNG, decides
once whether the Hugging Face Hub answers, and prints a short banner.
"""

from __future__ import annotations

import atexit
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import threading
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

PROFILES = ("smoke", "laptop", "colab", "cluster")
T = TypeVar("T")
_UNSET: Any = object()  # a profile pick() was not given a value for


class ProfileError(ValueError):
    """An unknown profile name."""


class CacheError(OSError):
    """The course cache folder cannot be used; the message says which variable to set."""


@dataclass
class Config:
    """What a notebook needs to know about where it runs.

    `pick()` is how a notebook sizes its heavy knobs: one call per knob, with a
    value for each profile, so the whole budget of a notebook reads in one cell.
    """

    notebook: str
    profile: str
    device: str
    seed: int
    online: bool
    reason: str
    report_path: Path | None = None
    numbers: dict[str, Any] = field(default_factory=dict)

    def pick(self, smoke: T, laptop: T, colab: Any = _UNSET, cluster: Any = _UNSET) -> T:
        """The value of a knob in this profile (cluster falls back to colab, colab to laptop).

        Every value is taken as given, None included ("all of them", "torch's default"): only a
        profile left out falls back.
        """
        table = {"smoke": smoke, "laptop": laptop, "colab": colab, "cluster": cluster}
        order = {"smoke": ["smoke"], "laptop": ["laptop"], "colab": ["colab", "laptop"],
                 "cluster": ["cluster", "colab", "laptop"]}[self.profile]
        return next(table[name] for name in order if table[name] is not _UNSET)

    @property
    def smoke(self) -> bool:
        return self.profile == "smoke"

    @property
    def threads(self) -> int:
        """CPU threads for torch: 1 in smoke (tiny matrices), else this notebook's share of the cores.

        The share is OMP_NUM_THREADS when set (`llmcourse run --jobs N` and the tests set it, so
        parallel notebooks do not fight over cores: oversubscribed threads spin and run 5-20x
        slower), else every core.
        """
        if self.smoke:
            return 1
        share = os.environ.get("OMP_NUM_THREADS", "").strip()
        return max(1, int(share)) if share.isdigit() else (os.cpu_count() or 1)

    def say(self, text: str) -> None:
        """Show a sentence built from computed numbers: Markdown in a notebook, plain text elsewhere.

        This is how a notebook states a result: `cfg.say(f"ALiBi's loss grows by {d:.2f} nats")`
        after the measurement, never a sentence typed before the numbers exist.
        """
        try:
            from IPython import get_ipython
            from IPython.display import Markdown, display

            if get_ipython() is not None and "ipykernel" in sys.modules:
                display(Markdown(text))
                return
        except ImportError:
            pass
        print(text)

    def timing_is_reliable(self) -> tuple[bool, str]:
        """Can a speed measured now be trusted? (False when other work shares the cores.)

        The runner sets LLMCOURSE_PARALLEL when it runs several notebooks at once; otherwise
        the 1-minute load average is compared with the number of cores.
        """
        if os.environ.get("LLMCOURSE_PARALLEL", "1") not in ("", "0", "1"):
            return False, (f"{os.environ['LLMCOURSE_PARALLEL']} notebooks are running at once on this machine: "
                           "the timings below are not reliable; run this notebook alone to measure speed")
        try:
            load = os.getloadavg()[0]
        except OSError:  # not on this platform
            return True, ""
        cores = os.cpu_count() or 1
        if load > cores + 0.5:
            return False, (f"the machine is busy (load {load:.1f} on {cores} cores): the timings below are "
                           "not reliable; rerun when it is idle")
        return True, ""

    def scratch(self, prefix: str) -> Path:
        """A fresh temporary folder for this notebook's working files, deleted when the kernel exits.

        What should outlast the notebook is saved as an artifact; everything else (shards written
        to read back, checkpoints of a demonstration, an on-disk vector table) goes here, so
        re-running notebooks does not fill the disk.
        """
        folder = Path(tempfile.mkdtemp(prefix=f"llmcourse-{self.notebook}-{prefix}-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        return folder

    def report(self, **numbers: Any) -> None:
        """Record the key numbers of this notebook for the course report (build/course/report.md).

        Values should be plain numbers or short strings; they are also printed.
        """
        for key, value in numbers.items():
            if hasattr(value, "item"):
                value = value.item()
            if isinstance(value, float):
                value = round(value, 4)
            self.numbers[key] = value
            print(f"  [report] {key} = {value}")
        if self.report_path is not None:
            self.report_path.parent.mkdir(parents=True, exist_ok=True)
            self.report_path.write_text(json.dumps(self.numbers, indent=1, default=str))


def pick_profile() -> tuple[str, str]:
    """Profile and the reason for it: LLMCOURSE_PROFILE, else what the hardware allows."""
    env = os.environ.get("LLMCOURSE_PROFILE", "").strip().lower()
    if env:
        if env not in PROFILES:
            raise ProfileError(
                f"LLMCOURSE_PROFILE={env!r} is not a profile; use one of {', '.join(PROFILES)}"
            )
        return env, "set by LLMCOURSE_PROFILE"
    if "google.colab" in sys.modules or os.environ.get("COLAB_RELEASE_TAG"):
        return "colab", "running on Google Colab"
    try:
        import torch

        gpus = torch.cuda.device_count()
    except Exception:  # torch missing or broken CUDA: treat as a CPU machine
        gpus = 0
    if gpus > 1:
        return "cluster", f"{gpus} GPUs found"
    if gpus == 1:
        return "colab", "one GPU found"
    return "laptop", "no GPU found"


def pick_device() -> str:
    """cuda when there is a GPU, then Apple's mps, then cpu."""
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def seed_everything(seed: int = 1337) -> None:
    """Seed Python, NumPy and torch (CPU and all GPUs) so a rerun gives the same numbers."""
    random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    try:
        import numpy as np

        np.random.seed(seed)
    except ImportError:
        pass
    import torch

    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


HUB_URL = "https://huggingface.co/api/models?limit=1"


def hub_online(timeout: float = 2.0) -> bool:
    """Does the Hugging Face Hub answer? Decided once per process, in at most `timeout` s.

    The answer is kept in LLMCOURSE_ONLINE so child processes (notebook kernels,
    servers) do not ask again. When the Hub does not answer we set HF_HUB_OFFLINE=1
    so that no library spends half a minute retrying. Call this before importing
    transformers or huggingface_hub: they read HF_HUB_OFFLINE at import time.
    """
    cached = os.environ.get("LLMCOURSE_ONLINE")
    if cached in ("0", "1"):
        return cached == "1"
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        online = False
    else:
        result: list[bool] = []

        def probe() -> None:  # DNS can hang longer than any socket timeout, so use a thread
            try:  # a real HTTPS answer, not just a TCP connect (proxies accept those)
                with urllib.request.urlopen(HUB_URL, timeout=timeout) as response:
                    result.append(response.status < 500)
            except (OSError, ValueError):
                result.append(False)

        worker = threading.Thread(target=probe, daemon=True)
        worker.start()
        worker.join(timeout)
        online = bool(result and result[0])
    os.environ["LLMCOURSE_ONLINE"] = "1" if online else "0"
    if not online:
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        os.environ["HF_DATASETS_OFFLINE"] = "1"
    return online


def versions() -> dict[str, str]:
    """Versions of the libraries the course leans on (those that are installed)."""
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in ("torch", "transformers", "tokenizers", "peft", "trl", "llama-cpp-python", "llmcourse"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def cache_dir() -> Path:
    """Where assets and artifacts are kept: LLMCOURSE_CACHE, else ~/.cache/llmcourse."""
    env = os.environ.get("LLMCOURSE_CACHE", "").strip()  # empty counts as unset, never "the current folder"
    root = Path(env).expanduser() if env else Path.home() / ".cache" / "llmcourse"
    try:
        root.mkdir(parents=True, exist_ok=True)
        if not os.access(root, os.W_OK | os.X_OK):
            raise PermissionError("not writable")
    except (OSError, PermissionError) as err:
        where = f"LLMCOURSE_CACHE={env!r}" if env else f"the default cache {root}"
        raise CacheError(f"{where} is not a folder this user can write ({err.__class__.__name__}: "
                         f"{getattr(err, 'strerror', None) or err}); set LLMCOURSE_CACHE to a writable folder") from None
    return root


def setup(notebook: str, seed: int = 1337, quiet: bool = False) -> Config:
    """Start a notebook: profile, device, seeds, Hub check and a banner. Returns the Config.

    `notebook` is its id, like "1.1"; an unknown id is an error that lists the known ones.
    """
    from llmcourse.course import notebook_ids

    if not isinstance(notebook, str):
        raise TypeError(f"setup() takes the notebook id as a string, like setup(\"1.2\"); got {notebook!r} "
                        f"({type(notebook).__name__})")
    if notebook not in notebook_ids():
        raise ValueError(f"unknown notebook id {notebook!r}; known: {', '.join(notebook_ids())}")
    profile, reason = pick_profile()
    online = hub_online()
    device = pick_device()
    seed_everything(seed)
    from llmcourse.assets.tiktoken_files import ensure_tiktoken_files

    ensure_tiktoken_files()  # tiktoken's files live in the course cache; re-seed them if wiped
    report = os.environ.get("LLMCOURSE_REPORT")
    cfg = Config(notebook, profile, device, seed, online, reason, Path(report) if report else None)
    if not quiet:
        v = versions()
        libs = "  ".join(f"{k} {val}" for k, val in v.items())
        hub = "online (Hugging Face Hub answers)" if online else "offline (HF_HUB_OFFLINE=1, local assets)"
        print(f"llmcourse {notebook} | profile {profile} ({reason}) | device {device} | seed {seed}")
        print(f"  {hub}")
        print(f"  {libs}")
    if "ipykernel" in sys.modules:
        try:  # plots inline and crisp in notebooks
            import matplotlib

            matplotlib.rcParams["figure.dpi"] = 100
        except ImportError:
            pass
    return cfg
