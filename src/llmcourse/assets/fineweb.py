"""A FineWeb sample: streamed from the Hub when online, the course's own FineWeb-format corpus offline.

    rows, source = fineweb_sample(300)       # list of FineWeb rows, and where they came from

Online (`cfg.online`), rows of FineWeb-Edu's `sample-10BT` are streamed with `datasets`.
Offline, the rows of `llmcourse.data.fineweb.offline_web_rows` are written once to a
parquet file in the cache (`<cache>/data/fineweb-offline/v1/`, verified by sha256) and
read back with pyarrow, exactly as a downloaded FineWeb parquet file would be.
"""

from __future__ import annotations

from pathlib import Path

from llmcourse.assets.registry import Asset, asset_dir, build_verified, register, verify_folder

__all__ = ["fineweb_offline_path", "fineweb_sample"]

VERSION = "v1"
OFFLINE_DOCS = 600  # rows in the offline parquet file (a notebook reads the first n)
ONLINE = "HuggingFaceFW/fineweb-edu"


def _dir() -> Path:
    return asset_dir("data", "fineweb-offline", VERSION)


def fineweb_offline_path() -> Path:
    """The offline FineWeb-format parquet file, written into the cache on first use."""
    from llmcourse.data.fineweb import offline_web_rows, write_parquet_rows

    def build(tmp: Path) -> None:
        write_parquet_rows(offline_web_rows(OFFLINE_DOCS, seed=0), tmp / "part-00000.parquet")

    folder = build_verified(_dir(), build, meta={"rows": OFFLINE_DOCS, "schema": "fineweb"})
    return folder / "part-00000.parquet"


def fineweb_sample(n_docs: int, online: bool | None = None) -> tuple[list[dict], str]:
    """(rows, source): `n_docs` FineWeb rows, streamed from FineWeb-Edu online, else the offline corpus."""
    from llmcourse.data.fineweb import read_parquet_rows, stream_fineweb

    if online is None:
        from llmcourse.config import hub_online

        online = hub_online()
    if online:
        try:
            return list(stream_fineweb(n_docs, ONLINE)), f"{ONLINE} (sample-10BT, streamed)"
        except Exception as err:  # the Hub answered the probe but not the data set: fall back, say why
            print(f"[assets] fineweb: streaming {ONLINE} failed ({type(err).__name__}: {err}); using the offline corpus")
    if n_docs > OFFLINE_DOCS:
        print(f"[assets] fineweb: the offline corpus has {OFFLINE_DOCS} rows; returning all of them")
    return list(read_parquet_rows(fineweb_offline_path(), limit=n_docs)), \
        "offline corpus in FineWeb's schema (Shakespeare, SEA text, crawl-style junk and copies)"


def _cached() -> bool:
    return _dir().exists() and verify_folder(_dir()) is None


register(Asset("fineweb-sample", "text", f"{ONLINE} (sample-10BT, streamed)",
               "course text in FineWeb's parquet schema (shakespeare, wordfreq, Faker, Babel)",
               prepare=fineweb_offline_path, cached=_cached, note=f"{OFFLINE_DOCS} rows offline"))
