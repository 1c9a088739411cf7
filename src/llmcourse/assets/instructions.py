"""Instruction-tuning data built offline, in four languages, with answers computed.

No instruction data set ships on PyPI in SEA languages, so we build one from packages
that do ship real language data, and compute every answer rather than typing it:

    kind          source                                    example (answer)
    number        num2words (en, id, th, vi)                "Tulis 57 dengan kata-kata." -> "lima puluh tujuh"
    arithmetic    templates + names, answer computed         "Ana has 7 mangoes and buys 5 more..." -> "12"
    units         CLDR unit names (babel), computed          "How many minutes are in 3 hours?" -> "180"
    country       CLDR territory names (babel)              "What is Germany called in Thai?" -> "เยอรมนี"
    dialogue      chatterbot-corpus (BSD; en, id, th, ta)    multi-turn small talk
    definition    docstrings of Python's builtins (PSF)     "What does the Python function len do?" -> its first line

Number, arithmetic, units and country answers are *verifiable* (`verify()` checks an
answer), which is what 5.3's task metric, its preference pairs and week 8's rewards use.
Splits are by a hash of the question (80/10/10), so a question never moves between splits.
"""

from __future__ import annotations

import builtins
import hashlib
import random
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from llmcourse.assets.registry import Asset, AssetError, register, require

__all__ = ["Instruction", "KINDS", "LANGUAGES", "VERIFIABLE", "composition", "dialogues", "instruction_data",
           "to_messages", "verify"]

LANGUAGES = ("en", "id", "th", "vi")
KINDS = ("number", "arithmetic", "units", "country", "dialogue", "definition")
VERIFIABLE = ("number", "arithmetic", "units", "country")
LANGUAGE_NAMES = {"en": {"en": "English", "id": "Indonesian", "th": "Thai", "vi": "Vietnamese"},
                  "id": {"en": "Inggris", "id": "Indonesia", "th": "Thai", "vi": "Vietnam"},
                  "th": {"en": "อังกฤษ", "id": "อินโดนีเซีย", "th": "ไทย", "vi": "เวียดนาม"},
                  "vi": {"en": "tiếng Anh", "id": "tiếng Indonesia", "th": "tiếng Thái", "vi": "tiếng Việt"}}
NUMBER_Q = {"en": "Write {n} in words.", "id": "Tulis {n} dengan kata-kata.", "th": "เขียน {n} เป็นตัวหนังสือ",
            "vi": "Viết số {n} bằng chữ."}
COUNTRY_Q = {"en": "What is {country} called in {lang}?", "id": "Apa nama {country} dalam bahasa {lang}?",
             "th": "{country} ในภาษา{lang}เรียกว่าอะไร", "vi": "{country} trong {lang} gọi là gì?"}
# (template, operation): {a} {b} numbers, {name} a person, {thing} an object
ARITHMETIC_Q = {
    "en": [("{name} has {a} {thing} and buys {b} more. How many {thing} does {name} have now?", "+"),
           ("{name} had {a} {thing} and gave away {b}. How many {thing} are left?", "-"),
           ("{name} packs {a} boxes with {b} {thing} each. How many {thing} in total?", "*"),
           ("What is {a} plus {b}?", "+"), ("What is {a} minus {b}?", "-"), ("What is {a} times {b}?", "*")],
    "id": [("{name} punya {a} {thing} dan membeli {b} lagi. Berapa {thing} {name} sekarang?", "+"),
           ("{name} punya {a} {thing} lalu memberikan {b}. Berapa {thing} yang tersisa?", "-"),
           ("Berapa {a} ditambah {b}?", "+"), ("Berapa {a} dikurangi {b}?", "-"), ("Berapa {a} dikali {b}?", "*")],
    "th": [("{name} มี{thing} {a} ผล ซื้อเพิ่มอีก {b} ผล ตอนนี้มีกี่ผล", "+"), ("{a} บวก {b} เท่ากับเท่าไร", "+"),
           ("{a} ลบ {b} เท่ากับเท่าไร", "-"), ("{a} คูณ {b} เท่ากับเท่าไร", "*")],
    "vi": [("{name} có {a} quả {thing} và mua thêm {b} quả. Bây giờ {name} có bao nhiêu quả?", "+"),
           ("{a} cộng {b} bằng bao nhiêu?", "+"), ("{a} trừ {b} bằng bao nhiêu?", "-"),
           ("{a} nhân {b} bằng bao nhiêu?", "*")],
}
THINGS = {"en": ["mangoes", "books", "pencils", "eggs"], "id": ["mangga", "buku", "pensil", "telur"],
          "th": ["มะม่วง", "ส้ม"], "vi": ["xoài", "cam"]}
NAMES = {"en": ["Ana", "Budi", "Siti", "Tom", "Mai"], "id": ["Budi", "Siti", "Ayu", "Rudi"],
         "th": ["สมชาย", "มาลี", "สุดา"], "vi": ["Lan", "Minh", "Hùng"]}
# (from unit, to unit, factor): "How many {to} are in {n} {from}?"
UNIT_FACTORS = [("duration-hour", "duration-minute", 60), ("duration-minute", "duration-second", 60),
                ("duration-day", "duration-hour", 24), ("duration-week", "duration-day", 7),
                ("length-kilometer", "length-meter", 1000), ("length-meter", "length-centimeter", 100),
                ("mass-kilogram", "mass-gram", 1000)]
UNITS_Q = {"en": "How many {to} are in {amount}?", "id": "Berapa {to} dalam {amount}?",
           "th": "{amount} เท่ากับกี่{to}", "vi": "{amount} bằng bao nhiêu {to}?"}


@dataclass(frozen=True)
class Instruction:
    """One example: a conversation (user/assistant turns), its kind and language, and a verifiable answer."""

    kind: str
    lang: str
    turns: tuple[tuple[str, str], ...]  # ((role, content), ...)
    answer: str = ""  # the verifiable answer ("" for dialogues and definitions)

    @property
    def prompt(self) -> str:
        return self.turns[0][1]

    @property
    def response(self) -> str:
        return self.turns[1][1] if len(self.turns) > 1 else ""


def to_messages(item: Instruction, with_answer: bool = True) -> list[dict]:
    """The chat messages of an example; without the last assistant turn when `with_answer` is False."""
    turns = list(item.turns)
    if not with_answer and turns and turns[-1][0] == "assistant":
        turns = turns[:-1]
    return [{"role": r, "content": c} for r, c in turns]


def _qa(kind: str, lang: str, question: str, answer: str) -> Instruction:
    return Instruction(kind, lang, (("user", question), ("assistant", answer)), answer)


def _numbers(rng: random.Random, per_lang: int) -> list[Instruction]:
    n2w = require("num2words").num2words
    out = []
    for lang in LANGUAGES:
        for n in rng.sample(range(0, 1000), per_lang):
            out.append(_qa("number", lang, NUMBER_Q[lang].format(n=n), n2w(n, lang=lang)))
    return out


def _arithmetic(rng: random.Random, per_lang: int) -> list[Instruction]:
    out = []
    for lang in LANGUAGES:
        for _ in range(per_lang):
            template, op = rng.choice(ARITHMETIC_Q[lang])
            a, b = (rng.randint(2, 12), rng.randint(2, 9)) if op == "*" else (rng.randint(5, 60), rng.randint(1, 40))
            if op == "-" and b > a:
                a, b = b, a
            value = a + b if op == "+" else a - b if op == "-" else a * b
            q = template.format(a=a, b=b, name=rng.choice(NAMES[lang]), thing=rng.choice(THINGS[lang]))
            out.append(_qa("arithmetic", lang, q, str(value)))
    return out


def _units(rng: random.Random, per_lang: int) -> list[Instruction]:
    units = require("babel.units", "babel")
    out = []
    for lang in LANGUAGES:
        for _ in range(per_lang):
            src, dst, factor = rng.choice(UNIT_FACTORS)
            n = rng.randint(2, 12)
            amount = units.format_unit(n, src, length="long", locale=lang)
            to = units.get_unit_name(dst, length="long", locale=lang) or dst.split("-")[1]
            out.append(_qa("units", lang, UNITS_Q[lang].format(to=to, amount=amount), str(n * factor)))
    return out


def _countries(rng: random.Random, per_lang: int) -> list[Instruction]:
    babel = require("babel")
    locales = {lang: babel.Locale(lang) for lang in LANGUAGES}
    codes = sorted(c for c in locales["en"].territories if c.isalpha() and len(c) == 2
                   and all(c in locales[l].territories for l in LANGUAGES))
    out = []
    for lang in LANGUAGES:  # the question's language
        for code in rng.sample(codes, per_lang):
            target = rng.choice([l for l in LANGUAGES if l != lang])
            q = COUNTRY_Q[lang].format(country=locales[lang].territories[code], lang=LANGUAGE_NAMES[lang][target])
            out.append(_qa("country", lang, q, locales[target].territories[code]))
    return out


CHATTERBOT = {"en": "english", "id": "indonesian", "th": "thai", "ta": "tamil"}


def dialogues(langs: tuple[str, ...] = ("en", "id", "th", "ta"), max_turns: int = 6) -> list[Instruction]:
    """Multi-turn small talk from chatterbot-corpus (BSD licence), alternating user/assistant."""
    yaml = require("yaml", "PyYAML")
    pkg = require("chatterbot_corpus", "chatterbot-corpus")
    root = Path(pkg.__file__).parent / "data"
    out = []
    for lang in langs:
        folder = root / CHATTERBOT[lang]
        if not folder.is_dir():
            raise AssetError(f"chatterbot-corpus has no {CHATTERBOT[lang]} folder here; pip install chatterbot-corpus==1.3.3")
        for path in sorted(folder.glob("*.yml")):
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            for conv in data.get("conversations") or []:
                lines = [str(x).strip() for x in conv if isinstance(x, (str, int, float)) and str(x).strip()]
                lines = lines[: max_turns - max_turns % 2]
                if len(lines) >= 2:
                    n = len(lines) - len(lines) % 2
                    turns = tuple(("user" if i % 2 == 0 else "assistant", t) for i, t in enumerate(lines[:n]))
                    out.append(Instruction("dialogue", lang, turns))
    return out


def _definitions() -> list[Instruction]:
    out = []
    for name in sorted(dir(builtins)):
        obj = getattr(builtins, name)
        doc = (getattr(obj, "__doc__", None) or "").strip()
        if name.startswith("_") or not callable(obj) or isinstance(obj, type) and issubclass(obj, BaseException):
            continue
        first = doc.split("\n\n")[0].replace("\n", " ").strip()
        if 10 < len(first) < 160 and not first.startswith(name + "("):
            out.append(_qa("definition", "en", f"What does the Python built-in {name} do?", first))
    return out


def split_of(item: Instruction) -> str:
    bucket = int.from_bytes(hashlib.sha1(f"{item.kind}\t{item.prompt}".encode()).digest()[:4], "big") % 10
    return "test" if bucket == 0 else "val" if bucket == 1 else "train"


@lru_cache(maxsize=8)
def _all(per_kind: int, seed: int) -> tuple[Instruction, ...]:
    rng = random.Random(seed)
    items = (_numbers(rng, per_kind) + _arithmetic(rng, per_kind) + _units(rng, per_kind)
             + _countries(rng, per_kind) + dialogues() + _definitions())
    seen, unique = set(), []
    for it in items:  # one answer per question: the first wins
        key = (it.kind, it.prompt)
        if key not in seen:
            seen.add(key)
            unique.append(it)
    return tuple(unique)


def instruction_data(split: str = "train", per_kind: int = 100, seed: int = 0,
                     kinds: tuple[str, ...] | None = None) -> list[Instruction]:
    """Examples of one split. `per_kind`: generated examples per language for the computed kinds."""
    if split not in ("train", "val", "test"):
        raise ValueError(f"split must be train, val or test, got {split!r}")
    unknown = set(kinds or ()) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown kinds {sorted(unknown)}; known: {KINDS}")
    return [it for it in _all(per_kind, seed) if split_of(it) == split and (kinds is None or it.kind in kinds)]


_NUMBER = re.compile(r"-?\d+")


def verify(item: Instruction, response: str) -> bool:
    """Is `response` a correct answer? Numbers: the first number in it; words: the answer, whole, case-insensitive."""
    if item.kind not in VERIFIABLE:
        raise ValueError(f"{item.kind} examples have no verifiable answer")
    text = response.strip()
    if item.kind in ("arithmetic", "units"):
        m = _NUMBER.search(text.replace(",", ""))
        return bool(m) and m.group(0) == item.answer
    first_line = text.splitlines()[0].strip().rstrip(".").lower() if text else ""
    return first_line == item.answer.lower()


def composition(items: list[Instruction]) -> dict[tuple[str, str], int]:
    """Counts per (kind, language): what the data set is made of."""
    counts: dict[tuple[str, str], int] = {}
    for it in items:
        counts[(it.kind, it.lang)] = counts.get((it.kind, it.lang), 0) + 1
    return dict(sorted(counts.items()))


register(Asset("instruction-data", "text", "-", "num2words, babel (CLDR), chatterbot-corpus, Python builtins",
               cached=lambda: True, note="week 5 SFT data in en/id/th/vi (+ ta dialogues), answers computed"))
