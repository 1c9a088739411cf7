"""Printed and scanned pages, made offline: typeset text with Pillow, then damage it like a scanner.

To teach OCR cleaning we need OCR output *and* the text that was printed. No scanned
corpus with its source ships on PyPI, so we print one: `layout_pages` typesets a text
the way a book does (justified-width lines, words hyphenated at the line end, a blank
gap between paragraphs, one or two columns, a running header and a page number), and
`render_page` draws it with a real font and adds what a scanner adds: blur, a slight
skew and speckle. A real OCR engine then reads the image (`llmcourse.data.ocr`).

Because we typeset the text ourselves, every page knows its *truth*: the exact span of
the source it shows. The character error rate against it measures both the OCR engine
and every cleaning step that follows.

    pages = layout_pages(paragraphs, font, PageStyle(columns=2), n_pages=2, header="HAMLET")
    image = render_page(pages[0], seed=0)
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["FONTS", "LaidPage", "PageStyle", "font_for", "layout_pages", "render_page"]

# Fonts from Debian packages (deps/debian.txt): DejaVu for Latin, TLWG Loma for Thai.
FONTS = {
    "latin": ["/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
              "/usr/share/fonts/truetype/liberation/LiberationSerif-Regular.ttf"],
    "th": ["/usr/share/fonts/truetype/tlwg/Loma.ttf", "/usr/share/fonts/truetype/tlwg/Garuda.ttf",
           "/usr/share/fonts/truetype/noto/NotoSansThai-Regular.ttf"],
}
_VOWELS = set("aeiouyAEIOUY")


@dataclass
class PageStyle:
    """Geometry and damage of one page (pixels at about 150 dpi)."""

    width: int = 900
    height: int = 1100
    margin: int = 60
    columns: int = 1
    gutter: int = 40
    font_size: int = 20
    line_gap: float = 1.45  # line height / font size
    blur: float = 0.6  # Gaussian blur radius
    skew: float = 0.5  # degrees
    speckle: float = 0.002  # fraction of pixels flipped to black

    @property
    def column_width(self) -> int:
        return (self.width - 2 * self.margin - (self.columns - 1) * self.gutter) // self.columns

    def lines_per_column(self) -> int:
        body = self.height - 2 * self.margin - 3 * self.font_size  # room for header and page number
        return max(3, int(body // (self.font_size * self.line_gap)))


@dataclass
class LaidPage:
    """One typeset page: its lines per column and the span of the source it shows."""

    style: PageStyle
    columns: list[list[str]]
    header: str
    number: int
    lang: str
    start: int  # offsets into the source ("\n".join(paragraphs))
    end: int
    truth: str = ""
    font_path: str = ""
    meta: dict = field(default_factory=dict)


def font_for(lang: str) -> str:
    """The path of an installed font that has the script of `lang`; a clear error if none is."""
    for path in FONTS["th" if lang == "th" else "latin"]:
        if Path(path).is_file():
            return path
    pkg = "fonts-tlwg-loma-ttf" if lang == "th" else "fonts-dejavu-core"
    raise FileNotFoundError(f"no font for {lang!r} text: install the Debian package {pkg} "
                            "(apt-get install -y {pkg}; `make setup` installs deps/debian.txt)".replace("{pkg}", pkg))


def _tokens(paragraph: str, lang: str) -> list[str]:
    """Words to place on lines. Thai: PyThaiNLP's words (a line may break between any two)."""
    if lang == "th":
        from pythainlp import word_tokenize

        return [t for t in word_tokenize(paragraph, engine="newmm", keep_whitespace=True) if t]
    return paragraph.split(" ")


def _hyphenation_point(word: str, fits) -> int:
    """Where to break `word` at a line end (0: nowhere), so that word[:k] + '-' fits.

    A word that has a hyphen breaks there ("anak-anak" -> "anak-" + "anak"). Otherwise a
    word of 6+ letters breaks after a vowel and before a consonant, leaving 3+ letters
    on each side (trailing punctuation stays with the second half).
    """
    if "-" in word[1:-1]:
        k = word.index("-", 1) + 1
        return k if fits(word[:k]) and word[k:k + 1].isalpha() else 0
    core = word.rstrip(".,;:!?'\")")
    if not core.isalpha() or len(core) < 6:
        return 0
    for k in range(len(core) - 3, 2, -1):
        if core[k - 1] in _VOWELS and core[k] not in _VOWELS and fits(word[:k] + "-"):
            return k
    return 0


def layout_pages(paragraphs: list[str], font_path: str, style_for, n_pages: int, header: str,
                 lang: str = "en", first_number: int = 1) -> list[LaidPage]:
    """Typeset `paragraphs` onto `n_pages` pages; `style_for(i)` gives page i's PageStyle.

    Greedy line filling by the font's real advance widths; a Latin word that does not fit
    is hyphenated when it is long enough (never on a page's last line, so the span of
    each page ends at a word boundary); a blank line separates paragraphs.
    """
    from PIL import ImageFont

    source = "\n".join(paragraphs)
    pages: list[LaidPage] = []
    # a queue of (token, offset) over the source; "\n" marks a paragraph end
    queue: list[tuple[str, int]] = []
    pos = 0
    for p_idx, para in enumerate(paragraphs):
        for tok in _tokens(para, lang):
            queue.append((tok, pos))
            pos += len(tok) + (0 if lang == "th" else 1)
        if lang == "th":
            pos += 1  # the "\n"
        queue.append(("\n", pos - 1))
    qi = 0
    for i in range(n_pages):
        style = style_for(i)
        font = ImageFont.truetype(font_path, style.font_size)
        width = style.column_width

        def fits(text: str) -> bool:
            return font.getlength(text) <= width

        start = queue[qi][1] if qi < len(queue) else len(source)
        columns: list[list[str]] = []
        for _ in range(style.columns):
            lines: list[str] = []
            line = ""
            n_lines = style.lines_per_column()
            while qi < len(queue) and len(lines) < n_lines:
                tok, _ = queue[qi]
                last_line = len(lines) == n_lines - 1 and len(columns) == style.columns - 1
                if tok == "\n":
                    lines.append(line)
                    if len(lines) < n_lines:
                        lines.append("")  # paragraph gap
                    line = ""
                    qi += 1
                    continue
                sep = "" if (lang == "th" or not line) else " "
                if tok.isspace() and lang == "th" and not line:
                    qi += 1  # a Thai line never starts with the space that ended a sentence
                    continue
                if fits(line + sep + tok):
                    line += sep + tok
                    qi += 1
                    continue
                k = 0 if (lang == "th" or last_line) else _hyphenation_point(tok, lambda s: fits(line + sep + s))
                if k:
                    head = tok[:k] if tok[k - 1] == "-" else tok[:k] + "-"
                    lines.append(line + sep + head)
                    queue[qi] = (tok[k:], queue[qi][1] + k)
                    line = ""
                elif line:
                    lines.append(line)
                    line = ""
                else:  # a single token wider than the column: put it alone on the line
                    lines.append(tok)
                    qi += 1
            if line and len(lines) < n_lines:
                lines.append(line)
            while lines and not lines[-1]:
                lines.pop()
            columns.append(lines)
        end = queue[qi][1] if qi < len(queue) else len(source)
        truth = source[start:end].strip()
        pages.append(LaidPage(style, columns, header, first_number + i, lang, start, end, truth, font_path))
    return pages


def render_page(page: LaidPage, seed: int = 0):
    """Draw a laid-out page as a grey-scale PIL image and damage it: blur, skew, speckle."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    s = page.style
    font = ImageFont.truetype(page.font_path, s.font_size)
    small = ImageFont.truetype(page.font_path, int(s.font_size * 0.85))
    img = Image.new("L", (s.width, s.height), 255)
    draw = ImageDraw.Draw(img)
    # running header, centred; page number at the foot, centred
    hw = draw.textlength(page.header, font=small)
    draw.text(((s.width - hw) / 2, s.margin - s.font_size), page.header, font=small, fill=20)
    number = f"— {page.number} —"
    nw = draw.textlength(number, font=small)
    draw.text(((s.width - nw) / 2, s.height - s.margin), number, font=small, fill=20)
    top = s.margin + 2 * s.font_size
    step = s.font_size * s.line_gap
    for c, lines in enumerate(page.columns):
        x = s.margin + c * (s.column_width + s.gutter)
        y = top
        for line in lines:
            if line:
                draw.text((x, y), line, font=font, fill=15)
                y += step
            else:
                y += step * 0.6  # paragraph gap
    rng = np.random.default_rng(seed)
    if s.speckle:
        arr = np.array(img)
        dots = rng.random(arr.shape) < s.speckle
        arr[dots] = rng.integers(0, 90, int(dots.sum()))
        img = Image.fromarray(arr)
    if s.skew:
        angle = float(rng.uniform(-s.skew, s.skew))
        img = img.rotate(angle, resample=Image.BICUBIC, fillcolor=255, expand=False)
    if s.blur:
        img = img.filter(ImageFilter.GaussianBlur(s.blur))
    return img


def book_paragraphs(text: str, min_chars: int = 60) -> list[str]:
    """Blocks of a plain-text book (blank-line separated) as one-line paragraphs of at least `min_chars`."""
    blocks = [re.sub(r"\s*\n\s*", " ", b).strip() for b in re.split(r"\n\s*\n", text)]
    return [b for b in blocks if len(b) >= min_chars]


def page_seed(lang: str, index: int) -> int:
    """A stable seed per (language, page)."""
    return random.Random(f"scan:{lang}:{index}").randrange(2**31)
