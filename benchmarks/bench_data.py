"""Data pipeline: MinHash ours vs datasketch (speed and near-duplicate recall/precision), and the
memory-mapped shard DataLoader vs a Hugging Face `datasets` Arrow pipeline (tokens/s).

Goal of the issue: MinHash at least 3x datasketch's signatures/s at equal accuracy.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from llmcourse.bench import Bench, benchmark


def _corpus(n_docs: int, n_copies: int, seed: int = 0):
    """n_docs distinct texts plus n_copies lightly edited copies; returns (texts, planted pairs)."""
    from llmcourse.assets.multilingual import LANGUAGES, multilingual_sample

    rng = np.random.default_rng(seed)
    texts = [multilingual_sample(LANGUAGES[i % len(LANGUAGES)], 1500, seed=500 + i) for i in range(n_docs)]
    pairs = set()
    for k in range(n_copies):
        src = int(rng.integers(n_docs))
        words = texts[src].split(" ")
        for j in rng.choice(len(words), 3, replace=False):
            words[j] = "zz" + words[j]
        pairs.add((src, len(texts)))
        texts.append(" ".join(words))
    return texts, pairs


def _pairs_of(clusters) -> set[tuple[int, int]]:
    return {(a, b) for c in clusters for a in c for b in c if a < b}


@benchmark("data")
def run(b: Bench) -> None:
    from datasketch import MinHash as DSMinHash
    from datasketch import MinHashLSH

    from llmcourse.data import MinHash, near_duplicates, shingles

    texts, planted = _corpus(400, 80)
    mh = MinHash(128, 5, seed=0)
    n = len(texts)
    b.measure("ours: MinHash signatures (128 perms, char 5-grams)", lambda: mh.signatures(texts), repeats=3,
              work=n, unit="docs/s", group="minhash")

    def datasketch_sigs():
        out = []
        for t in texts:
            m = DSMinHash(num_perm=128, seed=0)
            m.update_batch([s.encode() for s in shingles(t, 5)])
            out.append(m)
        return out

    b.measure("datasketch: MinHash signatures (sha1, update_batch)", datasketch_sigs, repeats=3, work=n,
              unit="docs/s", group="minhash")
    b.ratio("MinHash signatures/s ours / datasketch", "ours: MinHash signatures (128 perms, char 5-grams)",
            "datasketch: MinHash signatures (sha1, update_batch)")

    # accuracy: pairs found vs planted, at threshold 0.8
    ours = _pairs_of(near_duplicates(texts, 0.8, 128))
    lsh = MinHashLSH(threshold=0.8, num_perm=128)
    sigs = datasketch_sigs()
    for i, m in enumerate(sigs):
        lsh.insert(i, m)
    theirs = {(min(i, j), max(i, j)) for i, m in enumerate(sigs) for j in lsh.query(m) if i != j}
    for name, found in (("ours", ours), ("datasketch", theirs)):
        tp = len(found & planted) + len({p for p in found if p not in planted and _is_copy_pair(p, planted)})
        b.record(f"{name}: near-duplicate recall", len(found & planted) / len(planted), "fraction", "accuracy", True)
        b.record(f"{name}: near-duplicate precision", tp / max(1, len(found)), "fraction", "accuracy", True)

    # DataLoader: memory-mapped shards vs datasets (Arrow), same windows
    from llmcourse.data import TokenShardDataset, datasets_loader, loader_throughput, make_loader, write_shards
    from llmcourse.models.course import course_text
    from llmcourse.assets.tiktoken_files import get_encoding

    enc = get_encoding("gpt2")
    docs = [t[i:i + 2000] for t in course_text(150_000).values() for i in range(0, len(t), 2000)]
    with tempfile.TemporaryDirectory() as tmp:
        write_shards(docs, enc, Path(tmp) / "s", progress=False)
        ds = TokenShardDataset(Path(tmp) / "s", 256, "train")
        batches = min(200, len(ds) // 16 - 3)
        loaders = {"ours: memmap DataLoader, 0 workers": lambda: make_loader(ds, 16, seed=0),
                   "ours: memmap DataLoader, 2 workers": lambda: make_loader(ds, 16, seed=0, num_workers=2),
                   "datasets: Arrow table, torch format": lambda: datasets_loader(ds, 16, seed=0)}
        for label, make in loaders.items():  # tokens/s after two warm-up batches (worker start-up excluded)
            b.record(f"{label} (B=16, T=256)", [loader_throughput(make(), batches) for _ in range(3)], "tok/s",
                     "loader", True)
        b.ratio("DataLoader tokens/s ours (0 workers) / datasets",
                "ours: memmap DataLoader, 0 workers (B=16, T=256)", "datasets: Arrow table, torch format (B=16, T=256)")
    b.note("precision counts a found pair as right when both texts descend from the same original")


def _is_copy_pair(pair, planted) -> bool:
    """Two copies of the same original are near duplicates too."""
    src = {c: s for s, c in planted}
    a, b = pair
    return src.get(a, a) == src.get(b, b)
