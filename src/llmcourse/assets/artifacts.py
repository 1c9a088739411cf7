"""The learner's artifacts: what one notebook makes and a later one loads.

The course is one thread: 1.2's tokenizer feeds the GPT of weeks 2-3, pre-trained in week
4, fine-tuned in week 5, quantised and served in week 6, evaluated in week 7, aligned and
given retrieval in week 8. Each notebook saves what it makes and loads the earlier one:

    save_artifact("course-tokenizer", tok, notebook="1.2")
    tok = load_artifact("course-tokenizer", fallback=train_course_tokenizer)

An artifact is a folder with a MANIFEST.json: the sha256 of every file plus who made it
and when (the same verified-build mechanism as the other assets). Saving writes a new
folder beside the old one and swaps it in only when complete, so a crash never leaves a
half-written artifact and the previous one survives until the new one is whole. Loading
verifies every hash first: flipped bytes or a truncated file are named, with the notebook
to re-run.

When an artifact is missing (the learner skipped a notebook) or damaged, `load_artifact`
calls `fallback()` to build a small reference one deterministically, keeps it as
"NAME@reference" so it is built once, and says which one the notebook is using.

Artifacts are kept per profile (`<root>/<profile>/<name>`): a smoke run never replaces the
model a laptop run trained. The root is LLMCOURSE_ARTIFACTS, else `<cache>/artifacts`.

What can be saved: a GPT (or any llmcourse object with `save(folder)` and a `load(folder)`
classmethod), a course tokenizer, tensors (a dict of them), a file (a Path, e.g. a GGUF),
JSON-able values, and a dict of any of those (saved part by part, loaded as a dict).
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from llmcourse.assets.registry import MANIFEST, clean_stale_builds, verify_folder, write_manifest
from llmcourse.config import cache_dir

__all__ = ["ArtifactError", "artifact_info", "artifacts_root", "last_source", "list_artifacts", "load_artifact",
           "remove_artifact", "save_artifact"]

REFERENCE = "@reference"
_SOURCES: dict[str, str] = {}  # name -> "yours" | "reference", what load_artifact last returned


class ArtifactError(RuntimeError):
    """An artifact cannot be saved or loaded; the message says what to do."""


def artifacts_root() -> Path:
    """LLMCOURSE_ARTIFACTS, else `<cache>/artifacts`."""
    env = os.environ.get("LLMCOURSE_ARTIFACTS", "").strip()
    return Path(env).expanduser() if env else cache_dir() / "artifacts"


def _profile(profile: str | None) -> str:
    if profile:
        return profile
    from llmcourse.config import pick_profile

    return pick_profile()[0]


def _folder(name: str, profile: str | None) -> Path:
    if not name or "/" in name or name.startswith("."):
        raise ArtifactError(f"artifact names are plain words like 'course-gpt', got {name!r}")
    return artifacts_root() / _profile(profile) / name


# ----------------------------------------------------------------------------- kinds of objects
def _is_jsonable(obj: Any) -> bool:
    try:
        json.dumps(obj)
        return True
    except (TypeError, ValueError):
        return False


def _kind_of(obj: Any) -> str:
    import torch

    from llmcourse.tokenization.base import Tokenizer
    from llmcourse.tokenization.char import CharTokenizer

    if isinstance(obj, Tokenizer):
        return "tokenizer"
    if isinstance(obj, CharTokenizer):
        return "char-tokenizer"
    if isinstance(obj, Path):
        return "file"
    if isinstance(obj, torch.Tensor) or (isinstance(obj, dict) and obj and
                                         all(isinstance(v, torch.Tensor) for v in obj.values())):
        return "tensors"
    if callable(getattr(obj, "save", None)) and callable(getattr(type(obj), "load", None)) \
            and type(obj).__module__.startswith("llmcourse."):
        return "object"
    if _is_jsonable(obj):
        return "json"
    raise ArtifactError(f"cannot save a {type(obj).__name__} as an artifact: give it save(folder) and a "
                        "load(folder) classmethod, or save its parts (tensors, JSON values, files)")


def _save_part(obj: Any, folder: Path) -> dict:
    """Write one object into `folder`; return how to load it back."""
    kind = _kind_of(obj)
    folder.mkdir(parents=True, exist_ok=True)
    cls = f"{type(obj).__module__}:{type(obj).__qualname__}"
    if kind == "tokenizer" or kind == "char-tokenizer":
        obj.save(folder / "tokenizer.json")
    elif kind == "file":
        if not obj.is_file():
            raise ArtifactError(f"{obj} is not a file")
        shutil.copy2(obj, folder / obj.name)
        cls = obj.name
    elif kind == "tensors":
        from safetensors.torch import save_file

        single = not isinstance(obj, dict)
        tensors = {"tensor": obj} if single else obj
        save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(folder / "tensors.safetensors"))
        cls = "tensor" if single else "dict"
    elif kind == "object":
        obj.save(folder)
    else:
        (folder / "value.json").write_text(json.dumps(obj, indent=1, ensure_ascii=False), encoding="utf-8")
    return {"kind": kind, "class": cls}


def _import(path: str) -> Any:
    module, _, attr = path.partition(":")
    if not module.startswith("llmcourse."):
        raise ArtifactError(f"refusing to import {module!r}: artifacts only hold llmcourse objects")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def _load_part(folder: Path, how: dict) -> Any:
    kind, cls = how["kind"], how["class"]
    if kind == "tokenizer":
        return _import(cls)().load(folder / "tokenizer.json")
    if kind == "char-tokenizer":
        return _import(cls).load(folder / "tokenizer.json")
    if kind == "file":
        return folder / cls
    if kind == "tensors":
        from safetensors.torch import load_file

        tensors = load_file(str(folder / "tensors.safetensors"))
        return tensors["tensor"] if cls == "tensor" else tensors
    if kind == "object":
        return _import(cls).load(folder)
    return json.loads((folder / "value.json").read_text(encoding="utf-8"))


def _is_bundle(obj: Any) -> bool:
    """A dict of named parts (saved one by one) rather than one JSON value or a dict of tensors."""
    if not isinstance(obj, dict) or not obj or not all(isinstance(k, str) for k in obj):
        return False
    try:
        kind = _kind_of(obj)
    except ArtifactError:
        return True
    return kind not in ("tensors", "json")


# ----------------------------------------------------------------------------- save / load
def save_artifact(name: str, obj: Any, notebook: str, about: str = "", profile: str | None = None,
                  **meta: Any) -> Path:
    """Save `obj` as artifact `name`, made by `notebook` ("1.2"); returns its folder.

    The new folder is written beside the old one and swapped in only when complete.
    `about` is one line for `llmcourse artifacts`; `meta` holds any JSON-able facts
    (validation loss, steps) that later notebooks may want to show.
    """
    folder = _folder(name, profile)
    folder.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_builds(folder)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-tmp-{os.getpid()}-", dir=folder.parent))
    try:
        if _is_bundle(obj):
            parts = {key: _save_part(value, tmp / key) for key, value in obj.items()}
        else:
            parts = {"": _save_part(obj, tmp)}
        info = {"name": name.removesuffix(REFERENCE), "notebook": notebook, "about": about,
                "profile": _profile(profile), "created": time.strftime("%Y-%m-%d %H:%M:%S"),
                "reference": name.endswith(REFERENCE), "parts": parts, "extra": meta}
        if not _is_jsonable(info):
            raise ArtifactError(f"the facts given with artifact {name!r} must be JSON-able: {meta!r}")
        write_manifest(tmp, info)
        old = folder.with_name(f".{folder.name}-old-{os.getpid()}")
        if folder.exists():
            folder.rename(old)
        tmp.rename(folder)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def artifact_info(name: str, profile: str | None = None) -> dict | None:
    """What the manifest of artifact `name` says (notebook, created, about, extra), or None."""
    manifest = _folder(name, profile) / MANIFEST
    if not manifest.is_file():
        return None
    try:
        return json.loads(manifest.read_text())["meta"]
    except (ValueError, KeyError):
        return None


def _load_folder(folder: Path) -> Any:
    problem = verify_folder(folder)
    if problem:
        raise ArtifactError(problem)
    info = json.loads((folder / MANIFEST).read_text())["meta"]
    parts = info["parts"]
    if list(parts) == [""]:
        return _load_part(folder, parts[""])
    return {key: _load_part(folder / key, how) for key, how in parts.items()}


def load_artifact(name: str, fallback: Callable[[], Any] | None = None, profile: str | None = None,
                  quiet: bool = False) -> Any:
    """Artifact `name` as saved; or, when it is missing or damaged, the reference `fallback()` builds.

    Says which one it returns (and `last_source(name)` remembers: "yours" or "reference").
    Without a fallback, a missing or damaged artifact raises ArtifactError naming the
    notebook to run.
    """
    say = (lambda msg: None) if quiet else (lambda msg: print(f"[artifacts] {msg}"))
    folder = _folder(name, profile)
    info = artifact_info(name, profile) or {}
    maker = f"notebook {info['notebook']}" if info.get("notebook") else "the notebook that makes it"
    problem = "not made yet" if not folder.exists() else None
    if problem is None:
        try:
            obj = _load_folder(folder)
            _SOURCES[name] = "yours"
            say(f"{name}: yours, from {maker} ({info.get('created', '?')}, {_profile(profile)} profile)")
            return obj
        except ArtifactError as err:
            problem = f"damaged ({err}); re-run {maker} to make it again"
        except Exception as err:  # an unreadable part: same advice
            problem = f"unreadable ({type(err).__name__}: {err}); re-run {maker} to make it again"
    if fallback is None:
        raise ArtifactError(f"artifact {name!r} ({_profile(profile)} profile) is {problem}")
    ref_folder = _folder(name + REFERENCE, profile)
    try:
        obj = _load_folder(ref_folder)
        say(f"{name}: {problem}; using the reference one built earlier ({ref_folder})")
    except (ArtifactError, FileNotFoundError, KeyError, ValueError):
        say(f"{name}: {problem}; building the reference one ({_describe(fallback)})")
        obj = fallback()
        try:
            save_artifact(name + REFERENCE, obj, notebook="reference", about=_describe(fallback), profile=profile)
        except ArtifactError as err:  # cannot cache it: fine, it was built
            say(f"(not cached: {err})")
    _SOURCES[name] = "reference"
    return obj


def _describe(fn: Callable) -> str:
    doc = (getattr(fn, "__doc__", None) or "").strip().splitlines()
    label = getattr(fn, "__qualname__", None) or repr(fn)
    return f"{label}: {doc[0]}" if doc else label


def last_source(name: str) -> str | None:
    """'yours' or 'reference': what the last load_artifact(name) in this process returned."""
    return _SOURCES.get(name)


def list_artifacts(profile: str | None = None) -> list[dict]:
    """Every artifact (of one profile, or all), with its manifest facts and whether it verifies."""
    root = artifacts_root()
    if not root.is_dir():
        return []
    rows = []
    for prof in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if profile and prof.name != profile:
            continue
        for folder in sorted(f for f in prof.iterdir() if f.is_dir() and not f.name.startswith(".")):
            info = artifact_info(folder.name, prof.name) or {}
            size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
            rows.append({"name": folder.name, "profile": prof.name, "notebook": info.get("notebook", "?"),
                         "created": info.get("created", "?"), "about": info.get("about", ""),
                         "bytes": size, "status": verify_folder(folder) or "ok"})
    return rows


def remove_artifact(name: str, profile: str | None = None) -> bool:
    """Delete artifact `name` (and its reference copy); True if something was removed."""
    removed = False
    for folder in (_folder(name, profile), _folder(name + REFERENCE, profile)):
        if folder.exists():
            shutil.rmtree(folder)
            removed = True
    return removed
