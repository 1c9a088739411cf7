"""Outputs of known quality for meta-evaluation: translations, right and subtly wrong.

To learn which metric to trust we need outputs whose correctness we *know*. For each
English→Indonesian phrase we write candidate translations:

    reference       the gold translation                                   correct
    reworded        the same meaning, other words ("tanggal 4 Februari")   correct
    capitalised     the reference with a capital first letter              correct
    number changed  one number word or digit changed (a critical error)    wrong
    month changed   another month                                          wrong
    word dropped    one word missing                                       wrong
    order swapped   two neighbouring words swapped                         wrong
    untranslated    the English source, unchanged                          wrong

A good metric scores the correct ones above the wrong ones; n-gram overlap happily gives a
critical error ("lima" for "tujuh") almost full marks, and a correct rewording less.
"""

from __future__ import annotations

import random
import re
from typing import Sequence

__all__ = ["translation_candidates", "CORRECT_KINDS"]

CORRECT_KINDS = ("reference", "reworded", "capitalised")
_NUMBERS = ["satu", "dua", "tiga", "empat", "lima", "enam", "tujuh", "delapan", "sembilan"]
_MONTHS = ["Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September", "Oktober",
           "November", "Desember"]


def _change_number(text: str, rng: random.Random) -> str | None:
    words = text.split()
    spots = [i for i, w in enumerate(words) if w in _NUMBERS or re.fullmatch(r"\d+,?", w)]
    if not spots:
        return None
    i = rng.choice(spots)
    w = words[i]
    if w in _NUMBERS:
        words[i] = rng.choice([n for n in _NUMBERS if n != w])
    else:
        digits = re.sub(r"\D", "", w)
        words[i] = w.replace(digits, str(int(digits) + rng.choice([1, 2, 10])))
    return " ".join(words)


def _change_month(text: str, rng: random.Random) -> str | None:
    for m in _MONTHS:
        if m in text.split() or f"{m}," in text:
            return text.replace(m, rng.choice([x for x in _MONTHS if x != m]), 1)
    return None


def _reworded(text: str, kind: str) -> str | None:
    if kind == "date":
        parts = text.split(", ")
        return f"hari {parts[0]}, tanggal {parts[1]}" if len(parts) == 2 else f"tanggal {text}"
    if kind in ("number", "quantity") and text.startswith(("seratus", "seribu")):
        return "satu " + text[2:] if text.startswith("se") else None
    return None


def translation_candidates(pairs: Sequence, seed: int = 0) -> list[dict]:
    """Candidate translations of each pair (source, target, kind): {source, reference, text, kind, correct}."""
    rng = random.Random(seed)
    out = []
    for p in pairs:
        words = p.target.split()
        cands = {"reference": p.target, "reworded": _reworded(p.target, p.kind),
                 "capitalised": p.target[:1].upper() + p.target[1:],
                 "number changed": _change_number(p.target, rng), "month changed": _change_month(p.target, rng),
                 "untranslated": p.source if p.source != p.target else None}
        if len(words) >= 3:
            i = rng.randrange(len(words))
            cands["word dropped"] = " ".join(words[:i] + words[i + 1:])
            j = rng.randrange(len(words) - 1)
            swapped = words[:j] + [words[j + 1], words[j]] + words[j + 2:]
            cands["order swapped"] = " ".join(swapped) if swapped != words else None
        for kind, text in cands.items():
            if text and (kind == "reference" or text != p.target):
                out.append({"source": p.source, "reference": p.target, "text": text, "kind": kind,
                            "correct": int(kind in CORRECT_KINDS), "pair_kind": p.kind})
    return out
