"""Cleaning OCR-ed text: from scanned pages back to the text that was printed.

An OCR engine gives back what it saw on each page, in reading order:

    12                         THE TRAGEDY OF HAMLET          <- running header, page number
    Whether 'tis nobler in the mind to suf-                    <- a word hyphenated at the line end
    fer The slings and arrows of outrageous                    <- every printed line ends in "\n"
    ...
    \f                                                         <- form feed: the next page

and the pre-training corpus wants the running text: "Whether 'tis nobler in the mind to
suffer The slings and arrows of outrageous ...". Each step below undoes one thing that
printing and scanning did, in this order (page furniture must go before lines are joined,
or headers end up in the middle of sentences):

    strip_page_furniture  running headers/footers and page numbers (repeated across pages)
    dehyphenate           "suf-\\nfer" -> "suffer" (Latin scripts; Indonesian "anak-\\nanak" keeps its hyphen)
    unwrap_lines          lines of a paragraph joined with a space (Thai: with nothing), blank line = new paragraph
    normalize_unicode     ftfy (mojibake, ligatures "ﬁ" -> "fi", curly quotes) then NFKC; NFC for Thai,
                          because NFKC splits Thai SARA AM "ำ" into two characters
    fix_whitespace        runs of spaces, spaces before punctuation, Thai rules

`clean_ocr(text, lang)` runs all of them; `CLEANING_STEPS` lists them so a notebook can
measure the character error rate (CER) against the source after each one.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from typing import Callable

__all__ = ["CLEANING_STEPS", "clean_ocr", "dehyphenate", "fix_whitespace", "guess_script", "is_page_number",
           "normalize_unicode", "strip_page_furniture", "unwrap_lines"]

PAGE_BREAK = "\f"  # form feed: tesseract ends every page with it, and so do our OCR pages
THAI = re.compile(r"[\u0e00-\u0e7f]")
UNSPACED = {"th"}  # scripts written without spaces between words
REDUPLICATING = {"id", "ms", "tl"}  # "anak-anak", "orang-orang": a hyphen that belongs to the word

# a line that is only a page number: "12", "- 12 -", "Page 12", "Halaman 12", "หน้า 12", "xiv"
_PAGE_NUMBER = re.compile(r"^[\W_]*(?:page|p\.|hal(?:aman)?\.?|hlm\.?|muka surat|หน้า)?\s*"
                          r"(?:\d{1,4}|[๐-๙]{1,4}|[ivxlc]{1,7})[\W_]*$", re.IGNORECASE)


def guess_script(text: str) -> str | None:
    """'th' when Thai letters dominate the text, else None (Latin-script rules apply)."""
    letters = [c for c in text if c.isalpha()]
    if letters and sum(bool(THAI.match(c)) for c in letters) > 0.3 * len(letters):
        return "th"
    return None


def is_page_number(line: str) -> bool:
    """Is this line nothing but a page number (with its decoration)?"""
    return bool(_PAGE_NUMBER.match(line.strip())) and bool(line.strip())


def _furniture_key(line: str) -> str:
    """What a running header looks like on every page: letters only, digits dropped, lowercased."""
    return re.sub(r"[\W\d_]+", " ", line.lower()).strip()


def strip_page_furniture(text: str, lang: str | None = None, edge_lines: int = 2) -> str:
    """Remove page numbers and running headers/footers; join the pages with a newline.

    Pages are separated by form feeds. On each page the first and last `edge_lines`
    non-empty lines are candidates: a candidate goes when it is a page number, or when
    the same words (digits ignored, so "12 HAMLET" and "HAMLET 13" match) stand at the
    edge of at least two pages. Text without form feeds is one page: only page numbers go.
    """
    pages = text.split(PAGE_BREAK)
    split = [page.split("\n") for page in pages]

    def edges(lines: list[str]) -> list[int]:
        filled = [i for i, line in enumerate(lines) if line.strip()]
        return sorted(set(filled[:edge_lines] + filled[-edge_lines:]))

    counts = Counter()
    for lines in split:
        counts.update({_furniture_key(lines[i]) for i in edges(lines)} - {""})
    repeated = {key for key, n in counts.items() if n >= 2}
    out = []
    for lines in split:
        drop = {i for i in edges(lines)
                if is_page_number(lines[i]) or _furniture_key(lines[i]) in repeated}
        kept = [line for i, line in enumerate(lines) if i not in drop]
        out.append("\n".join(kept).strip("\n"))
    return "\n".join(page for page in out if page.strip())


def dehyphenate(text: str, lang: str | None = None) -> str:
    """Join words split by a hyphen at the end of a line: "suf-\\nfer" -> "suffer".

    Only a hyphen right after a letter, at the end of a line, followed by a lowercase
    letter on the next line. In Indonesian, Malay and Tagalog a reduplicated word split
    at its own hyphen ("anak-\\nanak") keeps the hyphen: "anak-anak". Thai is never
    hyphenated, so Thai text is returned as it is.
    """
    lang = lang or guess_script(text)
    if lang in UNSPACED:
        return text

    def join(m: re.Match) -> str:
        left, right = m.group(1), m.group(2)
        if lang in REDUPLICATING and right.lower().startswith(left.lower()):
            return f"{left}-{right}"
        return left + right

    return re.sub(r"(\w+)-[ \t]*\n[ \t]*([^\W\d_A-Z][\w]*)", join, text)


def unwrap_lines(text: str, lang: str | None = None) -> str:
    """Join the printed lines of each paragraph into one line; paragraphs end at blank lines.

    Latin scripts join with a space. Thai joins with nothing: a Thai line break falls
    between words, and Thai puts no space between words.
    """
    lang = lang or guess_script(text)
    glue = "" if lang in UNSPACED else " "
    paragraphs = re.split(r"\n[ \t]*\n+", text)
    joined = [glue.join(line.strip() for line in p.split("\n") if line.strip()) for p in paragraphs]
    return "\n".join(p for p in joined if p)


def normalize_unicode(text: str, lang: str | None = None) -> str:
    """Repair mojibake and ligatures with ftfy, uncurl quotes, then Unicode-normalise.

    NFKC folds compatibility characters ("ﬁ" -> "fi", full-width "Ａ" -> "A", "²" -> "2"),
    which is what a tokenizer wants for Latin text. Thai gets NFC instead: NFKC splits
    SARA AM "ำ" (U+0E33) into NIKHAHIT + SARA AA, which is not how Thai is typed. Thai OCR
    sometimes emits that split pair; it is composed back.
    """
    import ftfy

    lang = lang or guess_script(text)
    form = "NFC" if lang in UNSPACED else "NFKC"
    fixed = ftfy.fix_text(text, normalization=None)
    fixed = unicodedata.normalize(form, fixed)
    if lang in UNSPACED:  # NIKHAHIT (+ tone mark) + SARA AA -> (tone mark +) SARA AM
        fixed = re.sub("\u0e4d([\u0e48-\u0e4b]?)\u0e32", "\\1\u0e33", fixed)
    return fixed


def fix_whitespace(text: str, lang: str | None = None) -> str:
    """Collapse runs of spaces, drop spaces before punctuation and around line ends.

    Thai: OCR engines put spaces between Thai words that the printed text did not have;
    a single space between two Thai letters is dropped unless it follows sentence-final
    material (Thai separates sentences, not words, with a space).
    """
    lang = lang or guess_script(text)
    text = re.sub(r"[ \t\u00a0]+", " ", text)
    text = re.sub(r" *\n *", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    if lang in UNSPACED:
        text = re.sub(r"(?<=[\u0e01-\u0e2e\u0e30-\u0e39\u0e47-\u0e4e]) (?=[\u0e01-\u0e4e])", "", text)
    else:
        text = re.sub(r" +([,.;:!?])", r"\1", text)
    return text.strip()


CLEANING_STEPS: list[tuple[str, Callable[[str, str | None], str]]] = [
    ("page furniture", strip_page_furniture),
    ("de-hyphenation", dehyphenate),
    ("line unwrapping", unwrap_lines),
    ("unicode", normalize_unicode),
    ("whitespace", fix_whitespace),
]


def clean_ocr(text: str, lang: str | None = None) -> str:
    """OCR output (pages separated by form feeds) -> running text, one paragraph per line.

    `lang` ("en", "id", "ms", "th"...) switches the language rules; None guesses the
    script (Thai or not) from the text.
    """
    if not isinstance(text, str):
        raise TypeError(f"clean_ocr takes a str, got {type(text).__name__}; decode bytes first "
                        "(llmcourse.data.read_document reads a file in whatever encoding it is in)")
    lang = lang or guess_script(text)
    for _, step in CLEANING_STEPS:
        text = step(text, lang)
    return text
