"""Real OCR engines on a page image: RapidOCR (Latin, models in its wheel) and tesseract (Indonesian, Thai).

RapidOCR runs PaddleOCR's detection and recognition networks with onnxruntime; its
wheel ships the Chinese/Latin models, so English works offline (its Thai and Tamil
models download at run time and fail offline). tesseract comes from Debian with the
`ind` and `tha` language data (deps/debian.txt). There is no `msa` data installed:
Malay uses the Indonesian model (the same Latin alphabet and much shared vocabulary).

Both return plain text in reading order, one printed line per line, a blank line
between paragraphs, and a form feed at the end of the page (tesseract's convention).
RapidOCR returns boxes: `boxes_to_text` puts them back in reading order, column by
column when the page has two.
"""

from __future__ import annotations

import statistics
from functools import lru_cache

__all__ = ["ENGINES", "boxes_to_text", "engine_for", "ocr_image"]

ENGINES = {"en": ("rapidocr", "eng"), "id": ("tesseract", "ind"), "ms": ("tesseract", "ind"),
           "th": ("tesseract", "tha")}


def engine_for(lang: str) -> tuple[str, str]:
    """(engine, model language) used for `lang`."""
    if lang not in ENGINES:
        raise ValueError(f"no OCR engine set up for {lang!r}; known: {', '.join(ENGINES)}")
    return ENGINES[lang]


@lru_cache(maxsize=1)
def _rapid():
    import logging

    from rapidocr import RapidOCR

    engine = RapidOCR()
    logging.getLogger("RapidOCR").setLevel(logging.WARNING)
    return engine


def boxes_to_text(boxes: list, texts: list[str], page_width: int) -> str:
    """Text boxes (4 corner points each) -> lines in reading order.

    Boxes are grouped into columns: a box that lies wholly left or right of the page's
    middle belongs to that column; one that crosses the middle spans the page (a header,
    a centred page number, one-column text). Spanning boxes above the columns come
    first, then the left column top to bottom, then the right one, then spanning boxes
    below. Boxes on the same line (overlapping vertically) are joined left to right; a
    gap 1.3 times the usual line spacing starts a new paragraph (a blank line).
    """
    items = []
    for box, text in zip(boxes, texts):
        xs = [p[0] for p in box]
        ys = [p[1] for p in box]
        items.append((min(xs), max(xs), min(ys), max(ys), text))
    if not items:
        return ""
    mid = page_width / 2
    left = [b for b in items if b[1] < mid]
    right = [b for b in items if b[0] > mid]
    span = [b for b in items if b[0] <= mid <= b[1]]
    two_columns = len(left) >= 3 and len(right) >= 3
    if not two_columns:
        groups = [items]
    else:
        body_top = min(b[2] for b in left + right)
        body_bottom = max(b[3] for b in left + right)
        above = [b for b in span if b[3] <= body_top + 1]
        below = [b for b in span if b[2] >= body_bottom - 1]
        inside = [b for b in span if b not in above and b not in below]
        groups = [above, left + [b for b in inside if (b[0] + b[1]) / 2 < mid],
                  right + [b for b in inside if (b[0] + b[1]) / 2 >= mid], below]
    out: list[str] = []
    for group in groups:
        if not group:
            continue
        group = sorted(group, key=lambda b: (b[2] + b[3]) / 2)
        heights = [b[3] - b[2] for b in group]
        line_h = statistics.median(heights) if heights else 1
        lines: list[list] = []
        for b in group:
            centre = (b[2] + b[3]) / 2
            if lines and abs(centre - lines[-1][0]) < 0.5 * line_h:
                lines[-1][1].append(b)
            else:
                lines.append([centre, [b]])
        centres = [c for c, _ in lines]
        spacing = statistics.median([b - a for a, b in zip(centres, centres[1:])] or [line_h])
        for j, (centre, boxes_on_line) in enumerate(lines):
            if j and centre - centres[j - 1] > 1.3 * spacing:
                out.append("")  # a wider gap than between lines: a new paragraph
            out.append(" ".join(b[4] for b in sorted(boxes_on_line, key=lambda b: b[0])))
        out.append("")
    return "\n".join(out).strip("\n") + "\n"


def ocr_image(image, lang: str, engine: str | None = None) -> str:
    """OCR a page image (PIL) written in `lang`; returns its text ending with a form feed."""
    engine_name, model = engine_for(lang)
    engine_name = engine or engine_name
    if engine_name == "rapidocr":
        import numpy as np

        result = _rapid()(np.array(image.convert("RGB")))
        if result.boxes is None or result.txts is None:
            return "\f"
        return boxes_to_text(result.boxes.tolist(), list(result.txts), image.width) + "\f"
    if engine_name == "tesseract":
        import shutil

        import pytesseract

        if shutil.which("tesseract") is None:
            raise RuntimeError("tesseract is not installed: apt-get install -y tesseract-ocr tesseract-ocr-ind "
                               "tesseract-ocr-tha (`make setup` installs deps/debian.txt)")
        model = model if engine is None else {"en": "eng"}.get(lang, model)
        if model not in pytesseract.get_languages(config=""):
            raise RuntimeError(f"tesseract has no {model!r} data: apt-get install -y tesseract-ocr-{model}")
        text = pytesseract.image_to_string(image, lang=model, config="--psm 3")
        return text.rstrip("\f").rstrip("\n") + "\n\f"
    raise ValueError(f"unknown OCR engine {engine_name!r}: rapidocr or tesseract")
