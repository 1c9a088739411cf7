"""FineWeb-format documents: streamed from the Hub online, or a local corpus in the same schema offline.

FineWeb (Penedo et al. 2024) is 15 trillion tokens of cleaned Common Crawl; FineWeb-Edu
its educational subset. Each row:

    text, id, dump, url, date, file_path, language, language_score, token_count

Online, `stream_fineweb()` streams rows with `datasets.load_dataset(..., streaming=True)`
(nothing is downloaded up front). Offline, `offline_web_rows()` writes documents of the
course's own text in exactly that schema, mixed the way a crawl is: prose (Shakespeare
scenes), text in six Southeast Asian languages, and the junk a crawl is full of —
navigation and cookie boilerplate, keyword spam, tables of numbers, code, "lorem ipsum",
exact copies and near-copies of other pages. So the same pipeline code (quality filters,
language ID, dedup, shards) runs on both, and offline it has something real to remove.
`language` and `language_score` come from langid, `token_count` from GPT-2's tokenizer,
as in FineWeb (which uses fastText for the language).
"""

from __future__ import annotations

import random
import uuid
from typing import Iterator

__all__ = ["FINEWEB_COLUMNS", "offline_web_rows", "read_parquet_rows", "stream_fineweb", "write_parquet_rows"]

FINEWEB_COLUMNS = ("text", "id", "dump", "url", "date", "file_path", "language", "language_score", "token_count")
SEA = ("id", "ms", "th", "vi", "tl", "ta")
_DOMAINS = {"prose": "shakespeare-online.example", "id": "berita.example.id", "ms": "akhbar.example.my",
            "th": "khao.example.co.th", "vi": "tintuc.example.vn", "tl": "balita.example.ph", "ta": "seithi.example.in"}


def _boilerplate(rng: random.Random, lang: str) -> str:
    menu = " | ".join(rng.sample(["Home", "About", "Contact", "Blog", "Shop", "Login", "Register", "FAQ", "Careers",
                                  "Press", "Sitemap", "Help"], 7))
    lines = [menu, "This website uses cookies to improve your experience. Accept all cookies",
             "Privacy Policy | Terms of Use | Cookie Policy", "Please enable JavaScript to view this page",
             f"Copyright © {rng.randint(2005, 2024)} All rights reserved", "Share on Facebook  Share on Twitter"]
    rng.shuffle(lines)
    return "\n".join(lines)


def _spam(rng: random.Random, words: list[str]) -> str:
    kw = rng.sample(words[:200], 4)
    line = " ".join(kw) + " best " + kw[0] + " cheap " + kw[1]
    return "\n".join([line] * rng.randint(8, 20))


def _table(rng: random.Random) -> str:
    rows = [" | ".join(f"{rng.uniform(0, 999):.2f}" for _ in range(6)) for _ in range(rng.randint(15, 40))]
    return "# Quarterly figures\n" + "\n".join(rows)


def _code(rng: random.Random) -> str:
    name = rng.choice(["render", "update", "fetchData", "init"])
    return (f"function {name}(el) {{\n  var x = document.getElementById(el);\n  if (x) {{ x.style.display = 'none'; }}\n"
            f"  return x;\n}}\n// call {name} on load\nwindow.onload = function() {{ {name}('main'); }};")


def _lorem(rng: random.Random) -> str:
    base = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore "
            "et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris.")
    return "\n".join([base] * rng.randint(2, 5))


def _near_copy(rng: random.Random, text: str) -> str:
    """A syndicated copy: a few words changed, a new header and footer line."""
    words = text.split(" ")
    for _ in range(max(1, len(words) // 60)):
        i = rng.randrange(len(words))
        words[i] = rng.choice(["the", "yang", "and", "dan", "a"])
    return "Reposted from our partner site.\n" + " ".join(words) + "\nRead more articles like this."


def offline_web_rows(n_docs: int = 400, seed: int = 0) -> list[dict]:
    """`n_docs` FineWeb-schema rows of the course's own text, with a crawl's junk and duplicates.

    Roughly: 30% Shakespeare prose, 40% Southeast Asian text (six languages), 15% junk
    (boilerplate, spam, tables, code, lorem ipsum), 15% exact and near copies.
    """
    from llmcourse.assets.multilingual import multilingual_sample, word_frequencies
    from llmcourse.assets.shakespeare import load_shakespeare, shakespeare_works
    from llmcourse.data.langid import detect_language

    if n_docs < 1:
        raise ValueError(f"n_docs must be positive, got {n_docs}")
    rng = random.Random(f"web:{seed}")
    works = shakespeare_works()
    en_words = list(word_frequencies("en")[0])
    texts: list[tuple[str, str]] = []  # (kind, text)
    originals: list[str] = []
    for i in range(n_docs):
        r = rng.random()
        if r < 0.30:
            play = load_shakespeare(works=[works[i % len(works)]])
            n = rng.randint(1500, 4000)
            start = rng.randrange(max(1, len(play) - n))
            start = play.find("\n\n", start) + 2
            kind, text = "prose", play[start:start + n].rsplit("\n", 1)[0]
        elif r < 0.70:
            lang = SEA[i % len(SEA)]
            kind, text = lang, multilingual_sample(lang, rng.randint(1200, 3500), seed=1000 + i)
        elif r < 0.85:
            junk = rng.choice(["boilerplate", "spam", "table", "code", "lorem"])
            kind = junk
            text = {"boilerplate": lambda: _boilerplate(rng, "en"), "spam": lambda: _spam(rng, en_words),
                    "table": lambda: _table(rng), "code": lambda: _code(rng), "lorem": lambda: _lorem(rng)}[junk]()
        elif originals:
            source = rng.choice(originals)
            if rng.random() < 0.4:
                kind, text = "exact-copy", source.replace("  ", " ") + ("\n" if rng.random() < 0.5 else "")
            else:
                kind, text = "near-copy", _near_copy(rng, source)
        else:
            kind, text = "prose", load_shakespeare(works=[works[0]])[:2000]
        text = text.strip()
        if kind == "prose" or kind in SEA:
            originals.append(text)
        texts.append((kind, text))
    enc = _gpt2()
    rows = []
    for i, (kind, text) in enumerate(texts):
        lang, score = detect_language(text[:2000], "langid")
        domain = _DOMAINS.get(kind, f"{kind.replace('-', '')}.example.com")
        rows.append({"text": text, "id": f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{seed}:{i}:{text[:200]}')}>",
                     "dump": "llmcourse-offline", "url": f"https://{domain}/{kind}/{i:05d}",
                     "date": f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:00:00Z",
                     "file_path": f"offline/{kind}", "language": lang, "language_score": round(score, 4),
                     "token_count": len(enc.encode_ordinary(text))})
    return rows


def _gpt2():
    from llmcourse.assets.tiktoken_files import get_encoding

    return get_encoding("gpt2")


def write_parquet_rows(rows: list[dict], path) -> None:
    """Rows in FineWeb's schema to a parquet file (pyarrow), columns in FineWeb's order."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    missing = [c for c in FINEWEB_COLUMNS if rows and c not in rows[0]]
    if missing:
        raise ValueError(f"rows lack FineWeb columns {missing}")
    table = pa.table({c: [r[c] for r in rows] for c in FINEWEB_COLUMNS})
    pq.write_table(table, path)


def read_parquet_rows(path, limit: int | None = None) -> Iterator[dict]:
    """Rows of a FineWeb-schema parquet file, one dict each, in batches (never the whole file at once)."""
    import pyarrow.parquet as pq

    n = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=256):
        for row in batch.to_pylist():
            if limit is not None and n >= limit:
                return
            yield row
            n += 1


def stream_fineweb(n_docs: int, name: str = "HuggingFaceFW/fineweb-edu", config: str = "sample-10BT",
                   split: str = "train") -> Iterator[dict]:
    """The first `n_docs` rows of a FineWeb data set, streamed from the Hub (needs network)."""
    from datasets import load_dataset

    ds = load_dataset(name, name=config, split=split, streaming=True)
    for i, row in enumerate(ds):
        if i >= n_docs:
            return
        yield {c: row.get(c) for c in FINEWEB_COLUMNS}
