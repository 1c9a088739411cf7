"""The whole pipeline: raw documents -> filtered, deduplicated, language-tagged documents -> shards.

    docs, report = filter_documents(rows)                 # quality, language, exact and near dedup
    mixture = sample_by_language(by_lang, total_tokens, alpha=0.3)
    write_shards((text for _, text in mixture), tokenizer, folder)

`report` counts what each stage removed and why (a table in notebook 4.1). The rules are
those of `llmcourse.data.quality` (C4 page and line rules without the terminal-punctuation
rule, as FineWeb; then Gopher's quality and repetition rules), language ID by langid with a
minimum confidence, exact duplicates by normalised hash, near duplicates by MinHash LSH.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

__all__ = ["PipelineReport", "filter_documents"]


@dataclass
class PipelineReport:
    stages: dict[str, int] = field(default_factory=dict)  # documents left after each stage
    reasons: Counter = field(default_factory=Counter)  # why documents were removed
    by_language: Counter = field(default_factory=Counter)  # documents kept per language

    def table(self) -> list[tuple[str, int]]:
        return list(self.stages.items())


def filter_documents(rows, languages: tuple[str, ...] = ("en", "id", "ms", "th", "vi", "tl", "ta"),
                     min_language_score: float = 0.5, dedup_threshold: float = 0.8, num_perm: int = 128,
                     progress: bool = True) -> tuple[list[dict], PipelineReport]:
    """Rows (dicts with "text", or plain strings) -> kept [{"text", "lang", "score", ...}] and a report."""
    from tqdm.auto import tqdm

    from llmcourse.data.dedup import exact_duplicates, near_duplicates
    from llmcourse.data.langid import detect_language
    from llmcourse.data.quality import c4_filter, gopher_filter

    rows = [r if isinstance(r, dict) else {"text": r} for r in rows]
    report = PipelineReport()
    report.stages["input"] = len(rows)
    kept = []
    for row in tqdm(rows, desc="quality + language", disable=not progress, mininterval=0.5):
        text = row["text"] or ""
        lang, score = detect_language(text[:2000], "langid", languages) if text.strip() else ("?", 0.0)
        body, why = c4_filter(text, lang, terminal_punct=False)
        if body is None:
            report.reasons[f"C4: {why[-1].split(' (')[0].lstrip('0123456789 ')}"] += 1
            continue
        ok, reasons = gopher_filter(body, lang)
        if not ok:
            report.reasons[f"Gopher: {reasons[0].split(':')[0]}"] += 1
            continue
        if score < min_language_score:
            report.reasons["language score too low"] += 1
            continue
        kept.append({**row, "text": body, "lang": lang, "score": score})
    report.stages["quality filters"] = len(kept) + report.reasons["language score too low"]
    report.stages["language ID"] = len(kept)
    drop = {i for cluster in exact_duplicates([d["text"] for d in kept]) for i in sorted(cluster)[1:]}
    report.reasons["exact duplicate"] += len(drop)
    kept = [d for i, d in enumerate(kept) if i not in drop]
    report.stages["exact dedup"] = len(kept)
    clusters = near_duplicates([d["text"] for d in kept], dedup_threshold, num_perm)
    drop = {i for cluster in clusters for i in sorted(cluster)[1:]}
    report.reasons["near duplicate"] += len(drop)
    kept = [d for i, d in enumerate(kept) if i not in drop]
    report.stages["near dedup"] = len(kept)
    report.by_language.update(d["lang"] for d in kept)
    return kept, report
