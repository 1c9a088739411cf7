"""Reading raw documents: bytes of unknown encoding -> str, or a clear error.

Crawled and scanned text arrives in every encoding: UTF-8 mostly, but Thai pages are
often TIS-620 (Windows code page 874), old European pages Windows-1252, exports from
Windows tools UTF-16 with a byte-order mark. Decoding Thai bytes as UTF-8 fails; decoding
them as Latin-1 "works" and gives mojibake ("à¸ªà¸§à¸±à¸ªà¸”à¸µ"), which then pollutes a corpus
silently. `read_document` tries, in order: a BOM, strict UTF-8, then the encoding
`charset_normalizer` finds most plausible, and says which it used. Empty files and
binary files (images, archives) are refused with a sentence that says so.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DocumentError", "decode_bytes", "read_document"]

_BOMS = ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))


class DocumentError(ValueError):
    """A document that cannot be read as text; the message says why and what to do."""


def _looks_binary(data: bytes) -> bool:
    """NUL bytes or many control characters in the first 4 KB: an image, an archive, a model..."""
    head = data[:4096]
    if b"\x00" in head:
        return True
    controls = sum(b < 32 and b not in (9, 10, 12, 13) for b in head)
    return controls > 0.05 * len(head)


def decode_bytes(data: bytes, name: str = "document") -> tuple[str, str]:
    """(text, encoding) of raw bytes: BOM, else strict UTF-8, else charset_normalizer's best guess."""
    if not data.strip():
        raise DocumentError(f"{name} is empty: there is no text to read")
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding), encoding
    if _looks_binary(data):
        raise DocumentError(f"{name} looks like a binary file (NUL or control bytes), not text: "
                            "give the pipeline text files (OCR it first if it is a scan)")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise DocumentError(f"{name} is not UTF-8 and no other encoding fits it; convert it to UTF-8 "
                            "(iconv -f ENCODING -t UTF-8) if you know its encoding")
    return str(best), best.encoding


def read_document(path: str | os.PathLike, verbose: bool = False) -> str:
    """The text of a file in whatever encoding it was written; raises DocumentError if it has none."""
    path = Path(path)
    if not path.is_file():
        raise DocumentError(f"{path} is not a file")
    text, encoding = decode_bytes(path.read_bytes(), str(path))
    if verbose and encoding != "utf-8":
        print(f"[read_document] {path.name}: decoded as {encoding}")
    return text
