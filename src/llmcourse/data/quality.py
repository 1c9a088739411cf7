"""Quality filters for web-scale text: the heuristics of Gopher (MassiveText) and C4.

A crawl is mostly not prose: navigation menus, cookie banners, lists of links, keyword
spam, tables of numbers, the same footer on every page. Before any model sees it,
cheap rules throw most of that away. Two published recipes:

Gopher (Rae et al. 2021, appendix A): keep a document when
    50 <= words <= 100,000            and the mean word length is 3 to 10 characters
    symbols ("#", "...") / words <= 0.1
    <= 90% of lines start with a bullet, <= 30% end with an ellipsis
    >= 80% of words contain a letter  and at least 2 of the language's stop words appear
  and it is not repetitive:
    duplicate lines <= 30% of lines and <= 20% of characters (same for paragraphs)
    the most frequent 2/3/4-gram covers <= 20/18/16% of the characters
    characters inside duplicated 5..10-grams <= 15..10%

C4 (Raffel et al. 2020) works line by line: keep lines that end in terminal punctuation
and have at least 3 words, drop lines about javascript or cookies; drop the page if it
has "lorem ipsum" or a curly bracket (code), or fewer than 3 sentences left.

Thai has no spaces between words: words come from PyThaiNLP's segmenter, so the same
word-based rules apply.
"""

from __future__ import annotations

import re
from collections import Counter

__all__ = ["STOP_WORDS", "c4_filter", "duplicate_ngram_char_fraction", "gopher_filter", "gopher_quality",
           "gopher_repetition", "top_ngram_char_fraction", "words"]

STOP_WORDS = {  # Gopher's English list, and the commonest function words of the course's languages
    "en": {"the", "be", "to", "of", "and", "that", "have", "with"},
    "id": {"yang", "dan", "di", "ini", "itu", "dengan", "untuk", "dari", "tidak", "ada"},
    "ms": {"yang", "dan", "di", "ini", "itu", "dengan", "untuk", "dari", "tidak", "ada"},
    "th": {"ที่", "และ", "ใน", "ของ", "ได้", "เป็น", "ไม่", "มี", "การ", "ว่า"},
    "vi": {"và", "của", "là", "có", "không", "được", "cho", "những", "người", "một"},
    "tl": {"ang", "ng", "sa", "na", "at", "mga", "ay", "hindi", "ko", "siya"},
    "ta": {"ஒரு", "மற்றும்", "இந்த", "என்று", "அது", "உள்ள", "என", "இது", "அவர்", "ஆனால்", "நான்", "அந்த"},
}
MEAN_WORD_LENGTH = {"th": (2, 10), "ta": (3, 14)}  # Tamil words are long (agglutinative); default (3, 10)
_BULLETS = ("•", "●", "○", "▪", "■", "-", "*", "–", "·", "→")
_ELLIPSIS = ("...", "…")


def words(text: str, lang: str | None = None) -> list[str]:
    """The words of `text`: whitespace-split, or PyThaiNLP's segmentation for Thai; punctuation stripped."""
    if lang == "th":
        from pythainlp import word_tokenize

        raw = word_tokenize(text, engine="newmm", keep_whitespace=False)
    else:
        raw = text.split()
    out = [w.strip(".,;:!?\"'()[]«»“”‘’") for w in raw]
    return [w for w in out if w]


def top_ngram_char_fraction(ws: list[str], n: int) -> float:
    """Characters covered by the most frequent word n-gram (counted once per occurrence) / all characters."""
    total = sum(len(w) for w in ws)
    if total == 0 or len(ws) < n:
        return 0.0
    grams = Counter(tuple(ws[i:i + n]) for i in range(len(ws) - n + 1))
    gram, count = grams.most_common(1)[0]
    if count < 2:
        return 0.0
    return sum(len(w) for w in gram) * count / total


def duplicate_ngram_char_fraction(ws: list[str], n: int) -> float:
    """Characters of words that lie inside an n-gram seen earlier in the text / all characters.

    Overlapping duplicates count each word once (a mask over the words), as in Gopher.
    """
    total = sum(len(w) for w in ws)
    if total == 0 or len(ws) < n:
        return 0.0
    seen: set[tuple[str, ...]] = set()
    dup = [False] * len(ws)
    for i in range(len(ws) - n + 1):
        gram = tuple(ws[i:i + n])
        if gram in seen:
            for j in range(i, i + n):
                dup[j] = True
        else:
            seen.add(gram)
    return sum(len(w) for w, d in zip(ws, dup) if d) / total


def _dup_fractions(parts: list[str]) -> tuple[float, float]:
    """(duplicate elements / elements, characters in duplicates / characters): repeats after the first."""
    parts = [p for p in parts if p.strip()]
    if not parts:
        return 0.0, 0.0
    seen: set[str] = set()
    n_dup = chars_dup = 0
    for p in parts:
        if p in seen:
            n_dup += 1
            chars_dup += len(p)
        seen.add(p)
    return n_dup / len(parts), chars_dup / max(1, sum(len(p) for p in parts))


def gopher_repetition(text: str, lang: str | None = None) -> dict[str, float]:
    """The repetition signals of Gopher, each a fraction in [0, 1]."""
    lines, paras = text.split("\n"), re.split(r"\n\s*\n", text)
    ws = words(text, lang)
    sig = {}
    sig["dup_line_frac"], sig["dup_line_char_frac"] = _dup_fractions(lines)
    sig["dup_para_frac"], sig["dup_para_char_frac"] = _dup_fractions(paras)
    for n in (2, 3, 4):
        sig[f"top_{n}gram_char_frac"] = top_ngram_char_fraction(ws, n)
    for n in range(5, 11):
        sig[f"dup_{n}gram_char_frac"] = duplicate_ngram_char_fraction(ws, n)
    return sig


REPETITION_LIMITS = {"dup_line_frac": 0.3, "dup_para_frac": 0.3, "dup_line_char_frac": 0.2,
                     "dup_para_char_frac": 0.2, "top_2gram_char_frac": 0.2, "top_3gram_char_frac": 0.18,
                     "top_4gram_char_frac": 0.16, "dup_5gram_char_frac": 0.15, "dup_6gram_char_frac": 0.14,
                     "dup_7gram_char_frac": 0.13, "dup_8gram_char_frac": 0.12, "dup_9gram_char_frac": 0.11,
                     "dup_10gram_char_frac": 0.10}


def gopher_quality(text: str, lang: str | None = None) -> dict[str, float]:
    """Gopher's quality signals: word count, mean word length, symbol ratio, bullets, ellipses, alpha, stop words."""
    ws = words(text, lang)
    lines = [line for line in text.split("\n") if line.strip()]
    n = len(ws)
    stops = STOP_WORDS.get(lang or "en", STOP_WORDS["en"])
    return {
        "n_words": float(n),
        "mean_word_len": sum(len(w) for w in ws) / n if n else 0.0,
        "symbol_word_ratio": (text.count("#") + sum(text.count(e) for e in _ELLIPSIS)) / n if n else 1.0,
        "bullet_line_frac": sum(line.lstrip().startswith(_BULLETS) for line in lines) / len(lines) if lines else 0.0,
        "ellipsis_line_frac": sum(line.rstrip().endswith(_ELLIPSIS) for line in lines) / len(lines) if lines else 0.0,
        "alpha_word_frac": sum(any(c.isalpha() for c in w) for w in ws) / n if n else 0.0,
        "stop_words": float(len({w.lower() for w in ws} & stops)),
    }


def gopher_filter(text: str, lang: str | None = None, min_words: int = 50,
                  max_words: int = 100_000) -> tuple[bool, list[str]]:
    """(keep?, reasons it fails): Gopher's quality rules and repetition limits."""
    q = gopher_quality(text, lang)
    reasons = []  # each "rule: detail"
    if not min_words <= q["n_words"] <= max_words:
        reasons.append(f"n_words: {int(q['n_words'])} words (keep {min_words}..{max_words})")
    mean_lo, mean_hi = MEAN_WORD_LENGTH.get(lang or "en", (3, 10))
    if q["n_words"] and not mean_lo <= q["mean_word_len"] <= mean_hi:
        reasons.append(f"mean_word_len: {q['mean_word_len']:.1f} (keep {mean_lo}..{mean_hi})")
    if q["symbol_word_ratio"] > 0.1:
        reasons.append(f"symbol_word_ratio: {q['symbol_word_ratio']:.2f} > 0.1")
    if q["bullet_line_frac"] > 0.9:
        reasons.append(f"bullet_line_frac: {q['bullet_line_frac']:.0%} of lines are bullets")
    if q["ellipsis_line_frac"] > 0.3:
        reasons.append(f"ellipsis_line_frac: {q['ellipsis_line_frac']:.0%} of lines end in an ellipsis")
    if q["alpha_word_frac"] < 0.8:
        reasons.append(f"alpha_word_frac: only {q['alpha_word_frac']:.0%} of words have a letter")
    if q["stop_words"] < 2:
        reasons.append(f"stop_words: {int(q['stop_words'])} (need 2)")
    for key, value in gopher_repetition(text, lang).items():
        if value > REPETITION_LIMITS[key]:
            reasons.append(f"{key}: {value:.2f} > {REPETITION_LIMITS[key]}")
    return not reasons, reasons


_TERMINAL = (".", "!", "?", '"', "'", "”", "’", "。", "ฯ")
_POLICY = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")


def c4_filter(text: str, lang: str | None = None, min_words_per_line: int = 3, min_sentences: int = 3,
              terminal_punct: bool = True) -> tuple[str | None, list[str]]:
    """C4's rules: (the kept text or None when the page goes, what was removed and why).

    terminal_punct=False skips the rule that drops lines not ending in punctuation
    (FineWeb does: it removes verse, lists and headings wholesale).
    """
    low = text.lower()
    if "lorem ipsum" in low:
        return None, ["lorem ipsum"]
    if "{" in text:
        return None, ["curly bracket (code)"]
    kept, removed = [], []
    for line in text.split("\n"):
        s = line.strip()
        if not s:
            continue
        l_low = s.lower()
        if "javascript" in l_low:
            removed.append("javascript line")
        elif any(p in l_low for p in _POLICY):
            removed.append("policy/cookie line")
        elif terminal_punct and lang != "th" and not s.endswith(_TERMINAL):
            removed.append("no terminal punctuation")
        elif len(words(s, lang)) < min_words_per_line:
            removed.append(f"fewer than {min_words_per_line} words")
        else:
            kept.append(s)
    body = "\n".join(kept)
    sentences = len(re.findall(r"[.!?。](?:\s|$)", body)) if lang != "th" else body.count(" ") + len(kept)
    if sentences < min_sentences:
        return None, removed + [f"{sentences} sentences left (need {min_sentences})"]
    return body, removed
