"""Grading math answers automatically: find the answer in a model's text, then compare numbers.

Two steps, as in GSM8K and MATH graders (and Hugging Face's `math-verify`, our oracle):

1. `extract_answer(text)`: where is the answer? In order of trust: the last LaTeX
   `\\boxed{...}`; GSM8K's `#### 42`; a cue such as "the answer is", Indonesian
   "jawabannya adalah", Thai "คำตอบคือ" followed by a number; else the last number.
2. `is_equivalent(pred, gold)`: the same *value*, whatever the writing: `1,234` = `1234`
   = `1234.00` = `$1,234` = `1 234 apples`; `\\frac{1}{2}` = `1/2` = `0.5`; `50%` = `0.5`
   = `50` (percent is read both ways, as math-verify does); Thai digits ๔๒ = 42; `−3`
   (a Unicode minus) = `-3`. Decimals are compared to 6 places (0.333333 = 1/3).

Separators depend on the language: in English "1,234" is a thousand and "1.5" a half; in
Indonesian and Vietnamese it is the other way round ("Rp15.000", "1,5"). Without `lang`
we follow English (and math-verify); pass `lang="id"` for Indonesian answers.
"""

from __future__ import annotations

import re
from fractions import Fraction

__all__ = ["extract_answer", "is_equivalent", "parse_number", "MAX_CHARS"]

MAX_CHARS = 20_000  # of an enormous output only the end is searched: that is where answers are
DOT_THOUSANDS = {"id", "vi", "ms", "de", "es", "it", "pt", "nl", "tr"}  # "." groups thousands, "," is the decimal
_THAI_DIGITS = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")
_SPACES = str.maketrans({"\u00a0": " ", "\u202f": " ", "\u2009": " ", "\u2212": "-", "\u2013": "-"})

# a number as people write it: optional sign, digits with , . or space groups, optional decimals
_NUM = r"[-+]?(?:\d{1,3}(?:[ ,.]\d{3})+(?!\d)(?:[.,]\d+)?|\d+(?:[.,]\d+)?|[.,]\d+)"
_FRAC = r"\\[dt]?frac\s*\{\s*(" + _NUM + r")\s*\}\s*\{\s*(" + _NUM + r")\s*\}"
_PERCENT = r"\s*(?:\\?%|percent\b|persen\b|per cent\b|เปอร์เซ็นต์)"
_ANSWER = re.compile(
    rf"(?P<frac>[-+]?{_FRAC})|(?P<mixed>(?<![\d.,])\d+\s+\d+\s*/\s*\d+(?![\d/]))"
    rf"|(?P<slash>(?<![\d.,]){_NUM}\s*/\s*{_NUM}(?![\d/]))|(?P<num>(?<![\d]){_NUM}(?:{_PERCENT})?)", re.IGNORECASE)
_CUES = re.compile(r"(?:the\s+(?:final\s+)?answer\s+is|answer\s*[:=]|jawaban(?:nya)?\s*(?:adalah|:)?|"
                   r"คำตอบ(?:คือ|:)?|đáp\s+án\s*(?:là|:)?)", re.IGNORECASE)


def _last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} (or \\fbox{...}), braces balanced."""
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    i = text.find("{", start)
    if i < 0:
        return None
    depth = 0
    for j in range(i, min(len(text), i + 1000)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i + 1:j].strip()
    return None


def _clean(text: str) -> str:
    """Undo LaTeX dressing and exotic characters so that one regex finds the numbers."""
    t = text.translate(_THAI_DIGITS).translate(_SPACES)
    t = re.sub(r"\\(?:text|mathrm|mathbf|textbf|operatorname)\s*\{([^{}]*)\}", r"\1", t)
    t = re.sub(r"\\[,!;: ]|\\left|\\right|~", "", t)
    t = t.replace("\\$", "").replace("$", "").replace("\\%", "%").replace("{,}", ",")
    return t


def extract_answer(text: str) -> str | None:
    """The answer a model's text gives, as written (e.g. "1,234", "50%", "\\frac{1}{2}"), or None.

    >>> extract_answer("3 boxes of 4 is 12, so the answer is 12 apples.")
    '12'
    """
    if not isinstance(text, str):
        raise TypeError(f"extract_answer takes the model's text (a str), got {type(text).__name__}")
    if len(text) > MAX_CHARS:
        text = text[-MAX_CHARS:]
    boxed = _last_boxed(text)
    if boxed:
        return boxed
    hashes = text.rfind("####")
    if hashes >= 0:
        found = _first_number(text[hashes + 4:hashes + 200])
        if found:
            return found
    cues = list(_CUES.finditer(text))
    if cues:
        found = _first_number(text[cues[-1].end():cues[-1].end() + 200])
        if found:
            return found
    numbers = list(_ANSWER.finditer(_clean(text)))
    return numbers[-1].group(0).strip() if numbers else None


def _first_number(text: str) -> str | None:
    m = _ANSWER.search(_clean(text))
    return m.group(0).strip() if m else None


def _to_fraction(s: str, lang: str | None) -> Fraction:
    """One written number (no sign handling beyond a leading -/+) to an exact Fraction."""
    s = s.replace(" ", "")
    sign = -1 if s.startswith("-") else 1
    s = s.lstrip("+-")
    dot_thousands = lang in DOT_THOUSANDS
    group, decimal = (".", ",") if dot_thousands else (",", ".")
    if re.fullmatch(rf"\d{{1,3}}(?:\{group}\d{{3}})+(?:\{decimal}\d+)?", s):
        s = s.replace(group, "")  # 1,234,567(.5) in English, 1.234.567(,5) in Indonesian
    elif not dot_thousands and re.fullmatch(r"\d{1,3}(?:\.\d{3}){2,}", s):
        s = s.replace(".", "")  # 1.234.567 cannot be a decimal in any language
    s = s.replace(decimal, ".").replace(",", ".")  # a lone other separator is a decimal mark (1,5)
    if s.count(".") > 1:
        raise ValueError(f"cannot read {s!r} as a number")
    return sign * Fraction(s)


def parse_number(text: str | None, lang: str | None = None) -> list[Fraction]:
    """The value(s) a written answer stands for: [] when it holds no number.

    Percentages give two readings ([x/100, x]), as math-verify allows both.
    """
    if text is None:
        return []
    if not isinstance(text, str):
        text = str(text)
    boxed = _last_boxed(text)
    t = _clean(boxed if boxed is not None else text)
    found = list(_ANSWER.finditer(t))
    if not found:
        return []
    m = found[-1]
    try:
        if m.group("frac"):
            inner = re.search(_FRAC, m.group("frac"))
            value = _to_fraction(inner.group(1), lang) / _to_fraction(inner.group(2), lang)
            return [-value if m.group("frac").lstrip().startswith("-") else value]
        if m.group("mixed"):
            whole, rest = m.group("mixed").split(None, 1)
            num, den = (int(x) for x in rest.replace(" ", "").split("/"))
            return [Fraction(int(whole)) + Fraction(num, den)]
        if m.group("slash"):
            num, den = (x.strip() for x in m.group("slash").split("/"))
            return [_to_fraction(num, lang) / _to_fraction(den, lang)]
        raw = m.group("num")
        value_text = re.sub(_PERCENT + r"$", "", raw, flags=re.IGNORECASE).strip()
        value = _to_fraction(value_text, lang)
        return [value / 100, value] if value_text != raw.strip() else [value]
    except (ValueError, ZeroDivisionError):
        return []


def _close(a: Fraction, b: Fraction) -> bool:
    """Equal, or equal once both are rounded to 6 decimal places (math-verify's float_rounding=6)."""
    return a == b or round(a * 10**6) == round(b * 10**6)


def is_equivalent(pred: str | None, gold: str | int | float, lang: str | None = None) -> bool:
    """Does the predicted answer have the gold answer's value? (None or no number: False.)

    >>> is_equivalent("\\\\boxed{\\\\frac{3}{2}}", "1.5"), is_equivalent("Rp15.000", "15000", lang="id")
    (True, True)
    """
    golds = parse_number(str(gold), lang)
    if not golds:
        raise ValueError(f"the gold answer {gold!r} holds no number: check the benchmark item")
    preds = parse_number(pred, lang)
    return any(_close(p, g) for p in preds for g in golds)
