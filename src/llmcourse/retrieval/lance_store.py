"""LanceDB, embedded and on disk: the persistent vector store a user keeps.

Our indexes live in memory and vanish with the process. LanceDB stores the table in a
folder (the Lance columnar format), reopens it in milliseconds, adds rows as new versions
(a crashed write never damages what was committed), and searches data larger than memory,
brute force or through an index (IVF-Flat, IVF-PQ, HNSW inside IVF partitions).

`LanceStore` wraps one table with the same `add` / `search` as our indexes, plus what a
real store needs: the schema is checked when a table is reopened (a table made by another
embedding model, with another dimension, is a clear error and is left untouched), and every
row keeps its id and text.

Distances as LanceDB reports them: "l2" is the squared Euclidean distance (lower is
closer), "dot" is 1 - q.x; `search` turns the latter back into inner products so the
scores compare with FlatIndex's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from llmcourse.assets.registry import require
from llmcourse.retrieval.flat import as_matrix, check_k, check_metric

__all__ = ["LanceStore", "SchemaMismatchError"]


class SchemaMismatchError(ValueError):
    """A LanceDB table exists with another schema than the one asked for."""


def _schema(pa, dim: int):
    return pa.schema([pa.field("id", pa.int64()), pa.field("text", pa.string()),
                      pa.field("vector", pa.list_(pa.float32(), dim))])


class LanceStore:
    """One LanceDB table of (id, text, vector) at `path`, created or reopened (schema checked)."""

    def __init__(self, path: str | Path, dim: int, table: str = "chunks", metric: str = "l2"):
        self.lancedb = require("lancedb", "lancedb")
        self.pa = require("pyarrow", "pyarrow")
        self.path, self.dim, self.name, self.metric = Path(path), int(dim), table, check_metric(metric)
        self.db = self.lancedb.connect(str(self.path))
        want = _schema(self.pa, self.dim)
        if table in self.db.list_tables().tables:
            self.table = self.db.open_table(table)
            have = self.table.schema
            if not have.equals(want):
                found_dim = None
                if "vector" in have.names:
                    vt = have.field("vector").type
                    found_dim = getattr(vt, "list_size", None)
                raise SchemaMismatchError(
                    f"table {table!r} in {self.path} has schema ({', '.join(f'{f.name}: {f.type}' for f in have)}) "
                    f"but this store wants ({', '.join(f'{f.name}: {f.type}' for f in want)})"
                    + (f": its vectors are {found_dim}-d, not {self.dim}-d (another embedding model?)"
                       if found_dim and found_dim != self.dim else "")
                    + ". The table was left as it is; open it with its own dimension, or use another table name")
        else:
            self.table = self.db.create_table(table, schema=want)

    @property
    def ntotal(self) -> int:
        return self.table.count_rows()

    def __len__(self) -> int:
        return self.ntotal

    def add(self, vectors, texts: Sequence[str] | None = None, ids: Sequence[int] | None = None) -> None:
        """Append rows; ids default to the next integers. Checked whole before anything is written."""
        x = as_matrix(vectors, self.dim)
        n = len(x)
        if texts is None:
            texts = [""] * n
        if len(texts) != n:
            raise ValueError(f"{n} vectors but {len(texts)} texts")
        start = self.ntotal
        ids = np.arange(start, start + n) if ids is None else np.asarray(ids, dtype=np.int64)
        if len(ids) != n:
            raise ValueError(f"{n} vectors but {len(ids)} ids")
        vec = self.pa.FixedSizeListArray.from_arrays(self.pa.array(x.ravel(), type=self.pa.float32()), self.dim)
        self.table.add(self.pa.table({"id": self.pa.array(ids, self.pa.int64()),
                                      "text": self.pa.array(list(texts), self.pa.string()), "vector": vec}))

    def create_index(self, kind: str = "ivf_flat", num_partitions: int | None = None, m: int = 16,
                     ef_construction: int = 200) -> None:
        """Build a vector index: "ivf_flat" (like IVFIndex) or "ivf_hnsw" (HNSW graphs inside IVF partitions)."""
        li = require("lancedb.index", "lancedb")
        dist = "dot" if self.metric == "ip" else "l2"
        if kind == "ivf_flat":
            config = li.IvfFlat(distance_type=dist, num_partitions=num_partitions)
        elif kind == "ivf_hnsw":
            config = li.IvfHnswFlat(distance_type=dist, num_partitions=num_partitions or 1, m=m,
                                    ef_construction=ef_construction)
        else:
            raise ValueError(f"unknown index kind {kind!r}; use 'ivf_flat' or 'ivf_hnsw'")
        self.table.create_index("vector", config=config, replace=True)

    def search(self, queries, k: int, nprobes: int | None = None, ef: int | None = None,
               exact: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids), each (Q, k), best first (squared L2 ascending, or inner product descending)."""
        q = as_matrix(queries, self.dim, "queries")
        k = check_k(k, self.ntotal)
        builder = self.table.search(q if len(q) > 1 else q[0]).distance_type("dot" if self.metric == "ip" else "l2")
        builder = builder.limit(k).select(["id", "_distance"])
        if nprobes is not None:
            builder = builder.nprobes(int(nprobes))
        if ef is not None:
            builder = builder.ef(int(ef))
        if exact:
            builder = builder.bypass_vector_index()
        res = builder.to_arrow()
        qi = res["query_index"].to_numpy() if "query_index" in res.column_names else np.zeros(res.num_rows, int)
        dist, ids = res["_distance"].to_numpy(), res["id"].to_numpy()
        scores = np.full((len(q), k), np.inf, dtype=np.float32)
        out = np.full((len(q), k), -1, dtype=np.int64)
        fill = np.zeros(len(q), dtype=np.int64)
        for row in np.argsort(qi, kind="stable"):  # rows arrive grouped by query, best first
            i = qi[row]
            if fill[i] < k:
                scores[i, fill[i]], out[i, fill[i]] = dist[row], ids[row]
                fill[i] += 1
        if self.metric == "ip":
            scores = np.where(out >= 0, 1.0 - scores, -np.inf).astype(np.float32)
        return scores, out

    def texts(self, ids: Sequence[int]) -> list[str]:
        """The stored text of each id."""
        tbl = self.table.to_arrow().select(["id", "text"])
        lookup = dict(zip(tbl["id"].to_pylist(), tbl["text"].to_pylist()))
        return [lookup.get(int(i), "") for i in ids]

    def disk_bytes(self) -> int:
        """Bytes the table occupies on disk (data, versions, index)."""
        return sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())

    def __repr__(self) -> str:
        return f"LanceStore({str(self.path)!r}, table={self.name!r}, dim={self.dim}, rows={self.ntotal})"
