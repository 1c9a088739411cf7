"""An English→Indonesian phrase corpus built offline, and the NLLB model entry (online).

No parallel corpus ships on PyPI, but two packages hold translations that were written
by people and can be *generated* on demand:

* `num2words` spells numbers in many languages: 1234 → "one thousand, two hundred and
  thirty-four" / "seribu dua ratus tiga puluh empat" (cardinals and ordinals);
* `babel` carries CLDR, the Unicode locale data: country and language names, month and
  weekday names, date formats and unit patterns in every language ("March 5, 2021" /
  "5 Maret 2021", "21 days" / "21 hari", "French (Canada)" / "Prancis (Kanada)").

Together they give a few thousand en→id pairs with real structure to learn: word order
changes ("two hundred" → "dua ratus", but "March 5" → "5 Maret"), words that fuse
("one hundred" → "seratus"), and names that must be memorised ("Germany" → "Jerman").

The splits are deterministic: a pair goes to train / dev / test by a hash of its kind and
English side (80 / 10 / 10), so it never moves when the corpus grows, and every split
mixes all kinds in the same hash order. The content depends on the installed num2words
and babel versions (recorded in `corpus_versions()`); with the same versions it is the
same, byte for byte, on every machine.

Online, Meta's NLLB-200 (distilled, 600M parameters) from the Hub is the reference
translator for the same test split: its asset entry is here, loading and translating are in
`llmcourse.inference.translation`. The tokenizer the course trains on this corpus is
`llmcourse.tokenization.phrases.phrase_tokenizer`.
"""

from __future__ import annotations

import datetime
import hashlib
import random
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Sequence

from llmcourse.assets.registry import Asset, AssetError, asset_dir, build_verified, register, require
from llmcourse.config import hub_online

__all__ = ["KINDS", "NLLB_ID", "NLLB_SRC", "NLLB_TGT", "Pair", "SPLITS", "corpus_versions", "prepare_tsv",
           "split_of", "translation_pairs"]

SPLITS = ("train", "dev", "test")
KINDS = ("number", "ordinal", "quantity", "date", "country", "language", "locale")
SEED = 20240503
NLLB_ID = "facebook/nllb-200-distilled-600M"
NLLB_SRC, NLLB_TGT = "eng_Latn", "ind_Latn"


@dataclass(frozen=True)
class Pair:
    """One translation pair: English source, Indonesian target, and what kind of phrase it is."""

    source: str
    target: str
    kind: str


# ------------------------------------------------------------------ generating the pairs

UNITS = (
    "duration-second", "duration-minute", "duration-hour", "duration-day", "duration-week",
    "duration-month", "duration-year", "duration-century", "length-meter", "length-kilometer",
    "length-centimeter", "mass-gram", "mass-kilogram", "volume-liter", "temperature-celsius",
)


def _numbers(rng: random.Random) -> Iterable[Pair]:
    n2w = require("num2words").num2words
    values = sorted(set(range(200)) | {rng.randrange(200, 1_000_000) for _ in range(2500)})
    for n in values:
        yield Pair(n2w(n, lang="en"), n2w(n, lang="id"), "number")
    for n in range(1, 101):
        yield Pair(n2w(n, lang="en", to="ordinal"), n2w(n, lang="id", to="ordinal"), "ordinal")


def _quantities(rng: random.Random) -> Iterable[Pair]:
    """CLDR unit patterns ("21 days" / "21 hari") with the number spelled out by num2words."""
    n2w = require("num2words").num2words
    units = require("babel.units", "babel")
    for unit in UNITS:
        for n in sorted({1, 2, 3} | {rng.randrange(1, 1000) for _ in range(40)}):
            en = units.format_unit(n, unit, length="long", locale="en")
            id_ = units.format_unit(n, unit, length="long", locale="id")
            digits_en, digits_id = f"{n:,}", f"{n:,}".replace(",", ".")  # n < 1000: no separator
            yield Pair(en.replace(digits_en, n2w(n, lang="en"), 1),
                       id_.replace(digits_id, n2w(n, lang="id"), 1), "quantity")


def _dates(rng: random.Random) -> Iterable[Pair]:
    dates = require("babel.dates", "babel")
    start = datetime.date(1900, 1, 1)
    days = sorted({rng.randrange(0, 200 * 365) for _ in range(1400)})
    for i, offset in enumerate(days):
        day = start + datetime.timedelta(days=offset)
        style = "full" if i % 3 == 0 else "long"  # "Friday, March 5, 2021" or "March 5, 2021"
        yield Pair(dates.format_date(day, style, locale="en"), dates.format_date(day, style, locale="id"), "date")


def _names() -> Iterable[Pair]:
    babel = require("babel")
    en, id_ = babel.Locale("en"), babel.Locale("id")
    for code, name in en.territories.items():
        if code in id_.territories:
            yield Pair(name, id_.territories[code], "country")
    for code, name in en.languages.items():
        if code in id_.languages:
            yield Pair(name, id_.languages[code], "language")
    for ident in babel.localedata.locale_identifiers():  # "French (Canada)" / "Prancis (Kanada)"
        loc = babel.Locale.parse(ident)
        if loc.territory or loc.script:
            en_name, id_name = loc.get_display_name("en"), loc.get_display_name("id")
            if en_name and id_name:
                yield Pair(en_name, id_name, "locale")


def _bucket(pair: Pair) -> int:
    """A stable number in [0, 10_000) from the pair's kind and English side."""
    digest = hashlib.sha1(f"{pair.kind}\t{pair.source}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 10_000


def split_of(pair: Pair) -> str:
    """Which split a pair belongs to: 80% train, 10% dev, 10% test, by hash."""
    b = _bucket(pair)
    return "train" if b < 8000 else "dev" if b < 9000 else "test"


@lru_cache(maxsize=1)
def _all_pairs() -> dict[str, tuple[Pair, ...]]:
    rng = random.Random(SEED)
    seen: set[str] = set()
    pairs: list[Pair] = []
    for pair in [*_numbers(rng), *_quantities(rng), *_dates(rng), *_names()]:
        src, tgt = pair.source.strip(), pair.target.strip()
        if not src or not tgt or src in seen:  # one target per English phrase
            continue
        seen.add(src)
        pairs.append(Pair(src, tgt, pair.kind))
    pairs.sort(key=lambda p: (_bucket(p), p.kind, p.source))  # mixed kinds, stable order
    out: dict[str, list[Pair]] = {s: [] for s in SPLITS}
    for pair in pairs:
        out[split_of(pair)].append(pair)
    return {s: tuple(v) for s, v in out.items()}


def translation_pairs(split: str = "train", kinds: Sequence[str] | None = None,
                      limit: int | None = None) -> list[Pair]:
    """The en→id pairs of one split (train | dev | test), optionally only some kinds.

    `limit` keeps the first pairs in the split's fixed hash order, so a small profile
    sees the same mix of kinds as a large one, and the first 100 are always the same 100.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    if kinds is not None:
        bad = sorted(set(kinds) - set(KINDS))
        if bad:
            raise ValueError(f"unknown kinds {bad}; known: {', '.join(KINDS)}")
    pairs = [p for p in _all_pairs()[split] if kinds is None or p.kind in kinds]
    return pairs[:limit] if limit is not None else pairs


def corpus_versions() -> dict[str, str]:
    """The package versions the corpus was generated with (it depends on them)."""
    from importlib import metadata

    return {name: metadata.version(name) for name in ("num2words", "babel")}


def _write_tsv(out) -> None:
    for split in SPLITS:
        lines = [f"{p.source}\t{p.target}\t{p.kind}" for p in translation_pairs(split)]
        (out / f"{split}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _corpus_dir():
    return asset_dir("data", "en-id-phrases")


def prepare_tsv():
    """Write train/dev/test.tsv (source, target, kind) into the cache for other tools to read."""
    return build_verified(_corpus_dir(), _write_tsv, meta=corpus_versions())


register(Asset(
    "en-id-phrases", "text", online="-", offline="num2words + babel (CLDR)",
    prepare=prepare_tsv, cached=lambda: (_corpus_dir() / "test.tsv").is_file(),
    note="generated en→id numbers, dates, units, country/language names; 80/10/10 by hash",
))


# ------------------------------------------------------------------ NLLB, the online reference model
# (loading and translating: llmcourse.inference.translation)


def _nllb_prepare():
    hub = require("huggingface_hub", "huggingface-hub")
    if not hub_online():
        raise AssetError(f"{NLLB_ID} needs the Hugging Face Hub; there is no offline copy")
    return hub.snapshot_download(NLLB_ID)


def _nllb_cached() -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(NLLB_ID, "config.json"), str)
    except Exception:
        return False


register(Asset(
    "nllb-200-distilled-600m", "model", online=NLLB_ID, offline="-",
    prepare=_nllb_prepare, cached=_nllb_cached,
    note="reference en→id translator for notebook 3.3; online only",
))
