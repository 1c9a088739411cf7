"""Token shards: a corpus tokenised once, written as flat binary arrays, read by memory-mapping.

Pre-training reads the same tokens many times, so tokenise once and store the ids as
raw integers: uint16 when the vocabulary fits in 65,536 ids (GPT-2's 50,257 does), else
uint32. A shard is just the array's bytes; reading one is `np.memmap`, which maps the
file into memory without reading it: the operating system pages in the windows a batch
touches, so a 10-billion-token corpus "loads" instantly and costs no RAM.

    folder/
      manifest.json          format, dtype, vocab size, tokenizer fingerprint, every shard's sha256
      train_000000.bin       <|endoftext|> doc <|endoftext|> doc ...   (uint16 little-endian)
      val_000000.bin

Each document is preceded by the end-of-text token (as GPT-2 and nanoGPT do), so the
model learns where documents start. A document goes to the validation split when a hash
of its text says so (content-based, so the split does not depend on document order).
The folder is written beside its final place and renamed when complete. Reading checks
every shard against the manifest: a missing or truncated shard, or one whose bytes
changed, is refused with a message, never silently trained on.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import torch

__all__ = ["ShardError", "ShardSet", "TokenShardDataset", "read_manifest", "tokenizer_fingerprint", "write_shards"]

FORMAT = "llmcourse-token-shards-v1"
MANIFEST = "manifest.json"


class ShardError(RuntimeError):
    """A shard folder that cannot be trained on; the message says what is wrong and what to do."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def tokenizer_fingerprint(tokenizer) -> str:
    """A short id of a tokenizer: its class and the sha256 of its merges/specials (or a tiktoken name)."""
    if hasattr(tokenizer, "to_dict"):
        blob = json.dumps(tokenizer.to_dict(), sort_keys=True, ensure_ascii=False).encode()
        return f"{type(tokenizer).__name__}:{hashlib.sha256(blob).hexdigest()[:16]}"
    name = getattr(tokenizer, "name", None)
    if name:
        return f"tiktoken:{name}"
    raise TypeError(f"cannot fingerprint a {type(tokenizer).__name__}: give it to_dict() or use a tiktoken encoding")


def eot_id_of(tokenizer) -> int:
    """The end-of-text id: tiktoken's eot_token, or the course tokenizer's <|endoftext|>."""
    if hasattr(tokenizer, "eot_token"):
        return int(tokenizer.eot_token)
    special = getattr(tokenizer, "special_tokens", {}) or {}
    if "<|endoftext|>" in special:
        return int(special["<|endoftext|>"])
    raise ValueError("the tokenizer has no <|endoftext|> token: pass eot_id= explicitly")


def _encode(tokenizer, text: str) -> list[int]:
    return tokenizer.encode_ordinary(text)


def _is_val(text: str, val_fraction: float) -> bool:
    h = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
    return (h % 1_000_000) < val_fraction * 1_000_000


def write_shards(documents: Iterable[str], tokenizer, folder: str | os.PathLike, *, shard_tokens: int = 1 << 24,
                 val_fraction: float = 0.05, eot_id: int | None = None, overwrite: bool = True,
                 progress: bool = True, extra: dict | None = None) -> dict:
    """Tokenise `documents` into train/val shards of up to `shard_tokens` tokens; returns the manifest.

    Each document is written as [eot] + tokens. Empty documents are skipped. The folder is
    built in a temporary sibling and swapped in only when complete.
    """
    folder = Path(folder)
    if folder.exists() and not overwrite:
        raise ShardError(f"{folder} exists; pass overwrite=True or choose another folder")
    if shard_tokens < 2:
        raise ValueError(f"shard_tokens must be at least 2, got {shard_tokens}")
    eot = eot_id_of(tokenizer) if eot_id is None else int(eot_id)
    vocab = int(tokenizer.n_vocab if hasattr(tokenizer, "n_vocab") else tokenizer.vocab_size)
    dtype = np.uint16 if vocab <= 1 << 16 else np.uint32
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-tmp-{os.getpid()}-", dir=folder.parent))
    shards: list[dict] = []
    buffers = {"train": [], "val": []}
    sizes = {"train": 0, "val": 0}
    counts = {"train": 0, "val": 0}

    def flush(split: str, force: bool = False) -> None:
        while sizes[split] >= shard_tokens or (force and sizes[split]):
            flat = np.concatenate(buffers[split]).astype(dtype)
            chunk, rest = flat[:shard_tokens], flat[shard_tokens:]
            name = f"{split}_{sum(s['split'] == split for s in shards):06d}.bin"
            chunk.tofile(tmp / name)
            shards.append({"file": name, "split": split, "tokens": int(len(chunk)), "sha256": _sha256(tmp / name)})
            buffers[split] = [rest] if len(rest) else []
            sizes[split] = len(rest)

    try:
        from tqdm.auto import tqdm

        for text in tqdm(documents, desc="tokenising into shards", disable=not progress, mininterval=0.5):
            if not text or not text.strip():
                continue
            split = "val" if _is_val(text, val_fraction) else "train"
            ids = np.asarray([eot] + _encode(tokenizer, text), dtype=np.int64)
            if ids.max() >= vocab:
                raise ShardError(f"token id {int(ids.max())} >= vocab size {vocab}: tokenizer and vocab disagree")
            buffers[split].append(ids)
            sizes[split] += len(ids)
            counts[split] += 1
            flush(split)
        flush("train", force=True)
        flush("val", force=True)
        if not any(s["split"] == "train" for s in shards):
            raise ShardError("no training tokens: every document was empty (or went to validation)")
        manifest = {"format": FORMAT, "dtype": np.dtype(dtype).name, "vocab_size": vocab, "eot_id": eot,
                    "tokenizer": tokenizer_fingerprint(tokenizer), "documents": counts,
                    "tokens": {sp: sum(s["tokens"] for s in shards if s["split"] == sp) for sp in ("train", "val")},
                    "shards": shards, "extra": extra or {}}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))
        old = folder.with_name(f".{folder.name}-old-{os.getpid()}")
        if folder.exists():
            folder.rename(old)
        tmp.rename(folder)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return manifest


_VERIFIED: dict[str, tuple[int, int]] = {}  # shard path -> (size, mtime_ns) verified in this process


def read_manifest(folder: str | os.PathLike, verify: bool = True) -> dict:
    """The manifest of a shard folder, every shard checked (exists, full size, sha256 when verify)."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.is_file():
        raise ShardError(f"{folder} has no {MANIFEST}: not a shard folder (write one with "
                         "llmcourse.data.write_shards or `llmcourse pretrain-data`)")
    try:
        manifest = json.loads(path.read_text())
    except ValueError as err:
        raise ShardError(f"{path} is not valid JSON ({err}): re-create the shards") from None
    if manifest.get("format") != FORMAT:
        raise ShardError(f"{folder}: unknown shard format {manifest.get('format')!r} (expected {FORMAT})")
    itemsize = np.dtype(manifest["dtype"]).itemsize
    for shard in manifest["shards"]:
        f = folder / shard["file"]
        if not f.is_file():
            raise ShardError(f"shard {shard['file']} listed in {path} is missing: re-create the shards; "
                             "training on the rest would silently skip its tokens")
        size = f.stat().st_size
        if size != shard["tokens"] * itemsize:
            raise ShardError(f"shard {shard['file']} has {size} bytes, the manifest says "
                             f"{shard['tokens'] * itemsize} (truncated or overwritten): re-create the shards")
        stamp = (size, f.stat().st_mtime_ns)
        if verify and _VERIFIED.get(str(f)) != stamp:
            if _sha256(f) != shard["sha256"]:
                raise ShardError(f"shard {shard['file']} does not match its sha256 in {path} "
                                 "(its bytes changed): re-create the shards")
            _VERIFIED[str(f)] = stamp
    return manifest


@dataclass
class _Shard:
    path: Path
    tokens: int


class TokenShardDataset(torch.utils.data.Dataset):
    """Windows of `block_size + 1` tokens from the memory-mapped shards of one split.

    Item i is (x, y): x = block_size tokens, y = the same shifted by one (int64 tensors).
    Windows do not overlap and do not cross shard boundaries. Shards are verified
    against the manifest when the dataset is made.
    """

    def __init__(self, folder: str | os.PathLike, block_size: int, split: str = "train", verify: bool = True):
        if split not in ("train", "val"):
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")
        if block_size < 1:
            raise ValueError(f"block_size must be positive, got {block_size}")
        self.folder = Path(folder)
        self.manifest = read_manifest(self.folder, verify=verify)
        self.block_size = block_size
        self.split = split
        self.dtype = np.dtype(self.manifest["dtype"])
        self.shards = [_Shard(self.folder / s["file"], s["tokens"]) for s in self.manifest["shards"]
                       if s["split"] == split]
        per = [max(0, (s.tokens - 1) // block_size) for s in self.shards]
        self._starts = np.cumsum([0] + per)  # first window index of each shard
        if self._starts[-1] == 0:
            total = sum(s.tokens for s in self.shards)
            raise ShardError(f"the {split} split of {self.folder} has {total} tokens: not one window of "
                             f"{block_size + 1}. Use a smaller block_size or more text")
        self._maps: list[np.memmap] | None = None

    @property
    def vocab_size(self) -> int:
        return int(self.manifest["vocab_size"])

    @property
    def tokenizer(self) -> str:
        return str(self.manifest["tokenizer"])

    def __len__(self) -> int:
        return int(self._starts[-1])

    def _memmaps(self) -> list[np.memmap]:
        if self._maps is None:  # opened lazily, so each DataLoader worker maps the files itself
            self._maps = [np.memmap(s.path, dtype=self.dtype, mode="r") for s in self.shards]
        return self._maps

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_maps"] = None
        return state

    def window(self, i: int) -> np.ndarray:
        """The (block_size + 1,) tokens of window i."""
        if not 0 <= i < len(self):
            raise IndexError(f"window {i} out of range [0, {len(self)})")
        s = int(np.searchsorted(self._starts, i, side="right") - 1)
        off = (i - int(self._starts[s])) * self.block_size
        return self._memmaps()[s][off:off + self.block_size + 1]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        w = torch.from_numpy(self.window(int(i)).astype(np.int64))
        return w[:-1], w[1:]


class ShardSet:
    """A shard folder as an artifact: `save_artifact("pretrain-shards", ShardSet(folder), notebook="4.1")`.

    `save(folder)` copies the manifest and shards; `load(folder)` opens them where the artifact
    door keeps them (it has verified every byte). `dataset(block_size, split)` reads them.
    """

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.manifest = read_manifest(self.folder, verify=False)

    def save(self, folder: str | os.PathLike) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for shard in self.manifest["shards"]:
            shutil.copy2(self.folder / shard["file"], folder / shard["file"])
        shutil.copy2(self.folder / MANIFEST, folder / MANIFEST)
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike) -> "ShardSet":
        return cls(folder)

    def dataset(self, block_size: int, split: str = "train") -> TokenShardDataset:
        return TokenShardDataset(self.folder, block_size, split)

    def __repr__(self) -> str:
        t = self.manifest["tokens"]
        return f"ShardSet({self.folder}, train {t['train']:,} / val {t['val']:,} tokens, {self.manifest['tokenizer']})"
