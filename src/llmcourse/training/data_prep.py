"""From a corpus to pre-training shards, in one call (the `llmcourse pretrain-data` command).

    course        the course text (Shakespeare + the seven languages), no filtering needed
    fineweb       FineWeb rows (streamed online, the offline FineWeb-format corpus otherwise)
                  through the 4.1 pipeline: quality filters, language ID, exact and near dedup
    fineweb-edu   FineWeb-Edu sample-10BT streamed from the Hub (the cluster run's 10B tokens:
                  already filtered and deduplicated by its makers, so it is only tokenised)
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["prepare_pretraining_data"]


def _tokenizer(name: str):
    if name == "gpt2":
        from llmcourse.assets.tiktoken_files import get_encoding

        return get_encoding("gpt2")
    from llmcourse.assets.artifacts import load_artifact
    from llmcourse.models.course import reference_course_tokenizer

    return load_artifact("course-tokenizer", fallback=reference_course_tokenizer)


def prepare_pretraining_data(source: str, tokenizer: str, out: str | Path, max_docs: int | None = None,
                             shard_tokens: int = 100_000_000) -> dict:
    """Write token shards of `source` with `tokenizer` into `out`; returns the manifest."""
    from llmcourse.data.shards import write_shards

    tok = _tokenizer(tokenizer)
    if source == "course":
        from llmcourse.models.course import course_text

        docs = [t[i:i + 2000] for t in course_text(200_000 if max_docs is None else max_docs * 2000).values()
                for i in range(0, len(t), 2000)]
    elif source == "fineweb":
        from llmcourse.assets.fineweb import fineweb_sample
        from llmcourse.data.pipeline import filter_documents

        rows, where = fineweb_sample(max_docs or 600)
        kept, report = filter_documents(rows)
        print(f"[pretrain-data] {where}: {report.stages}")
        docs = [d["text"] for d in kept]
    elif source == "fineweb-edu":
        from llmcourse.data.fineweb import stream_fineweb

        docs = (row["text"] for row in stream_fineweb(max_docs or 10**12, "HuggingFaceFW/fineweb-edu", "sample-10BT"))
    else:
        raise ValueError(f"unknown source {source!r}: course, fineweb or fineweb-edu")
    return write_shards(docs, tok, out, shard_tokens=shard_tokens, val_fraction=0.01 if source == "fineweb-edu"
                        else 0.05, extra={"source": source})
