"""Names data for makemore (notebook 2.3): English and Southeast Asian first names, offline.

Everything comes from what PyPI packages ship, checked by hand against the installed
versions (Faker 40.x, PyThaiNLP 5.x):

| lang | script | source (offline)                                                      | names  |
| ---- | ------ | --------------------------------------------------------------------- | ------ |
| en   | Latin  | Faker person providers `en`, `en_US`, `en_GB`: `first_names*` tuples  | ~6,800 |
| id   | Latin  | Faker `id_ID`: `first_names_male` + `first_names_female`              | ~700   |
| ta   | Tamil  | Faker `ta_IN`: `first_names_male` + `first_names_female`              | ~1,000 |
| th   | Thai   | PyThaiNLP `thai_female_names()` + `thai_male_names()` (files shipped in
|      |        | `pythainlp/corpus/person_names_*_th.txt`) + Faker `th_TH` first names | ~11,800|

Faker's `en` provider holds the big US first-name list (census style); `en_US`/`en_GB`
add a few hundred. Indonesian and Tamil are small, so their n-gram tables are sparse:
that is part of the lesson (smoothing matters more with less data). Tamil and Thai
are not ASCII: a "character" here is a Unicode code point, so a Tamil vowel sign or a
Thai tone mark is a token of its own.

Cleaning, the same for every language (`clean_names`):
1. NFC-normalise (Faker's Tamil list mixes composed and decomposed vowel signs);
2. split on `,` and `;` (Faker's Tamil list has entries like "ஆதர்ஷ்,ஆதேஷ்") and strip;
3. lowercase Latin names;
4. keep a name only if every character belongs to its language's alphabet (a-z for
   en/id, the Tamil block U+0B80-U+0BFF, the Thai block U+0E00-U+0E7F). This drops
   "mary-kate", "o'brien", a stray Latin "H" inside a Tamil name and the Thai
   "ป.เสฎฐวุฒิ" (the dot is our start/end token);
5. deduplicate and sort.

Splits are fixed by a hash of the name, not by a shuffle: sha256(name) % 10 gives
0-7 train, 8 dev, 9 test. A name therefore stays in its split even if a new
package version adds or removes other names, and the order inside a split (by hash)
is a deterministic shuffle. `names_path(lang, split)` writes the splits as text
files (one name per line, UTF-8) into the course cache; `load_names(lang, split)`
reads them back.
"""

from __future__ import annotations

import hashlib
import importlib
import unicodedata
from importlib import metadata
from pathlib import Path

from llmcourse.assets.registry import Asset, AssetError, asset_dir, build_verified, register, require, verify_folder
from llmcourse.languages import language, language_names, script_block

# the languages with names, from the course's language table (llmcourse.languages)
LANGUAGES: dict[str, str] = language_names(("en", "id", "ta", "th"))
SPLITS = ("train", "dev", "test")


def _alphabet(lang: str) -> list[tuple[int, int]]:
    """Code point ranges a clean name may use: a-z for Latin-script names, else the script's block."""
    block = script_block(lang)
    return [block] if block else [(ord("a"), ord("z"))]


# which alphabet a clean name of each language may use (inclusive code point ranges)
ALPHABETS: dict[str, list[tuple[int, int]]] = {lang: _alphabet(lang) for lang in LANGUAGES}
FAKER_LOCALES: dict[str, list[str]] = {lang: list(language(lang).faker) for lang in LANGUAGES}
FAKER_FIELDS = ("first_names", "first_names_male", "first_names_female", "first_names_nonbinary")


def _faker_first_names(locale: str) -> list[str]:
    require("faker", "Faker")
    try:
        provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
    except ModuleNotFoundError:
        raise AssetError(f"this Faker has no person provider for {locale!r}; pip install -U Faker") from None
    names: list[str] = []
    for field in FAKER_FIELDS:
        names += list(getattr(provider, field, ()))  # tuples, or OrderedDicts of name -> weight
    if not names:
        raise AssetError(f"Faker's {locale} provider ships no first names; pip install -U Faker")
    return names


def _pythainlp_names() -> list[str]:
    require("pythainlp", "pythainlp")
    from pythainlp.corpus import thai_female_names, thai_male_names

    return sorted(set(thai_female_names()) | set(thai_male_names()))


def raw_names(lang: str) -> list[str]:
    """The names a language's packages ship, before cleaning (may hold duplicates and junk)."""
    if lang not in LANGUAGES:
        raise AssetError(f"no names for language {lang!r}; choose one of {', '.join(LANGUAGES)}")
    names: list[str] = []
    for locale in FAKER_LOCALES[lang]:
        names += _faker_first_names(locale)
    if lang == "th":
        names += _pythainlp_names()
    return names


def in_alphabet(name: str, lang: str) -> bool:
    """Is every character of `name` in the alphabet of `lang`?"""
    ranges = ALPHABETS[lang]
    return bool(name) and all(any(lo <= ord(ch) <= hi for lo, hi in ranges) for ch in name)


def clean_names(names: list[str], lang: str) -> list[str]:
    """Normalise, split, lowercase, filter by alphabet, deduplicate and sort (see module doc)."""
    out: set[str] = set()
    for entry in names:
        entry = unicodedata.normalize("NFC", entry)
        for part in entry.replace(";", ",").split(","):
            part = part.strip()
            if ALPHABETS[lang][0][0] == ord("a"):
                part = part.lower()
            if in_alphabet(part, lang):
                out.add(part)
    return sorted(out)


def split_of(name: str) -> str:
    """The fixed split of a name: sha256(name) % 10 -> 0-7 train, 8 dev, 9 test."""
    bucket = int(hashlib.sha256(name.encode("utf-8")).hexdigest(), 16) % 10
    return "train" if bucket < 8 else ("dev" if bucket == 8 else "test")


def name_splits(lang: str) -> dict[str, list[str]]:
    """{"train": [...], "dev": [...], "test": [...]}, each ordered by the hash of the name."""
    splits: dict[str, list[str]] = {s: [] for s in SPLITS}
    names = clean_names(raw_names(lang), lang)
    for name in sorted(names, key=lambda n: hashlib.sha256(n.encode("utf-8")).hexdigest()):
        splits[split_of(name)].append(name)
    return splits


def _versions() -> str:
    out = []
    for dist in ("Faker", "pythainlp"):
        try:
            out.append(f"{dist.lower()}{metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            out.append(f"{dist.lower()}-missing")
    return "-".join(out)


def names_dir() -> Path:
    """The cache folder with `<lang>-<split>.txt` for every language, built once and verified.

    The folder name carries the Faker and PyThaiNLP versions, so an upgrade builds a
    new folder instead of silently mixing lists.
    """
    folder = asset_dir("data", f"names-{_versions()}")

    def build(tmp: Path) -> None:
        for lang in LANGUAGES:
            for split, names in name_splits(lang).items():
                (tmp / f"{lang}-{split}.txt").write_text("\n".join(names) + "\n", encoding="utf-8")

    return build_verified(folder, build, meta={"sources": FAKER_LOCALES, "versions": _versions()})


def names_path(lang: str, split: str = "train") -> Path:
    """Path of the text file (one name per line) of `lang`'s `split`."""
    if lang not in LANGUAGES:
        raise AssetError(f"no names for language {lang!r}; choose one of {', '.join(LANGUAGES)}")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, not {split!r}")
    return names_dir() / f"{lang}-{split}.txt"


def read_names(path: str | Path) -> list[str]:
    """Read a names file: one name per line, UTF-8, NFC-normalised.

    Surrounding whitespace is stripped and blank lines are skipped (a trailing newline
    or an empty line in a hand-edited file is not a name). A file with no names at
    all is an error, since every model downstream needs at least one.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no names file at {path}; use llmcourse.assets.names.names_path(lang, split)")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path} is not UTF-8 text ({err}); save it as UTF-8, one name per line") from None
    names = [unicodedata.normalize("NFC", line.strip()) for line in text.splitlines()]
    names = [n for n in names if n]
    if not names:
        raise ValueError(f"{path} holds no names (only empty lines); write one name per line")
    return names


def load_names(lang: str, split: str = "train") -> list[str]:
    """The names of `lang` ("en", "id", "ta", "th") in `split` ("train", "dev", "test")."""
    return read_names(names_path(lang, split))


def _is_cached() -> bool:
    folder = asset_dir("data", f"names-{_versions()}")
    return folder.is_dir() and verify_folder(folder) is None


for _lang, _title in LANGUAGES.items():
    _src = " + ".join(f"Faker {loc}" for loc in FAKER_LOCALES[_lang]) + (" + pythainlp" if _lang == "th" else "")
    register(Asset(
        name=f"names-{_lang}", kind="text", online="-", offline=_src,
        prepare=(lambda lang=_lang: names_path(lang, "train")),
        cached=_is_cached,
        note=f"{_title} first names, fixed train/dev/test splits by hash",
    ))
