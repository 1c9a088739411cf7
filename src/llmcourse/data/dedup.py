"""Deduplication: exact (a hash of normalised text) and near-duplicate (MinHash + LSH), from scratch.

The web repeats itself: mirrors, boilerplate, the same article syndicated with a new
header. Training on duplicates wastes compute and teaches memorisation, so pipelines
remove them (FineWeb: MinHash over word 5-grams, 14 bands of 8, per crawl).

**Jaccard similarity** of two documents is |A ∩ B| / |A ∪ B| over their sets of shingles
(here, character or word n-grams). Comparing every pair is quadratic; MinHash makes it
linear. Hash every shingle with a random permutation h_k and keep the minimum:

    sig_k(A) = min_{s in A} h_k(s)          P[sig_k(A) == sig_k(B)] = J(A, B)

so the fraction of equal entries over num_perm permutations estimates J, with standard
error sqrt(J (1 - J) / num_perm). Our permutations are those of datasketch's "affine32"
scheme: h_k(s) = a_k * fmix32(x(s)) + b_k mod 2^32 with a_k odd (a bijection), where x(s)
is a 32-bit hash of the shingle and fmix32 MurmurHash3's finaliser; with the same seed
we draw the same (a, b) as datasketch, so feeding it our shingle hashes gives the same
signature bit for bit. Speed comes from doing it all with numpy: the shingle hashes of
a text in one vectorised pass (a polynomial rolling hash over code points), then the
(n_shingles, num_perm) table and its column minimum, with no Python loop per shingle.

**LSH** finds candidate pairs without comparing all pairs: cut each signature into b
bands of r rows; two documents become candidates when some band is identical. A pair
with similarity s collides with probability 1 - (1 - s^r)^b, an S-curve whose threshold
sits near (1/b)^(1/r); `lsh_params` chooses (b, r) to minimise the area of false
positives below the threshold plus false negatives above it, as datasketch does.
Candidates are then verified with the signature estimate and joined into clusters.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from functools import lru_cache

import numpy as np

__all__ = ["MinHash", "exact_duplicates", "fmix32", "jaccard", "jaccard_estimate", "lsh_buckets", "lsh_params",
           "minhash_of_mixed", "near_duplicates", "permutations", "shingle_hashes", "shingles"]

_U32 = np.uint32
_U64 = np.uint64
_PRIME = _U64(1_000_003)  # multiplier of the rolling hash (mod 2^64 by wrap-around)


def shingles(text: str, ngram: int = 5, unit: str = "char") -> set[str]:
    """The set of n-grams of characters (or of words, joined by a space). A shorter text is one shingle."""
    if unit == "word":
        toks = text.split()
        if len(toks) < ngram:
            return {" ".join(toks)} if toks else set()
        return {" ".join(toks[i:i + ngram]) for i in range(len(toks) - ngram + 1)}
    if unit != "char":
        raise ValueError(f"unit must be 'char' or 'word', got {unit!r}")
    if len(text) < ngram:
        return {text} if text else set()
    return {text[i:i + ngram] for i in range(len(text) - ngram + 1)}


def jaccard(a: set, b: set) -> float:
    """Exact Jaccard similarity |a ∩ b| / |a ∪ b| (1.0 for two empty sets)."""
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def _fmix64(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> _U64(33))
    h = h * _U64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> _U64(33))
    h = h * _U64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> _U64(33))


def _fmix32(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> _U32(16))
    h = h * _U32(0x85EBCA6B)
    h = h ^ (h >> _U32(13))
    h = h * _U32(0xC2B2AE35)
    return h ^ (h >> _U32(16))


def fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finaliser: the pre-mix datasketch's affine32 scheme applies to every input hash."""
    with np.errstate(over="ignore"):
        return _fmix32(np.asarray(h, dtype=_U32))


def _rolling(codes: np.ndarray, n: int) -> np.ndarray:
    """Polynomial hash of every window of n codes: sum_j codes[i + j] * P^(n-1-j) mod 2^64."""
    L = len(codes) - n + 1
    h = np.zeros(L, dtype=_U64)
    for j in range(n):  # n vectorised passes, not one Python step per shingle
        h = h * _PRIME + codes[j:j + L]
    return h


def _word_codes(toks: list[str]) -> np.ndarray:
    return np.array([int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8).digest(), "little") for t in toks],
                    dtype=_U64)


def shingle_hashes(text: str, ngram: int = 5, unit: str = "char") -> np.ndarray:
    """A 32-bit hash of every shingle of `text` (uint32, one per position; repeats included)."""
    if unit == "word":
        toks = text.split()
        if not toks:
            return np.zeros(0, dtype=_U32)
        codes = _word_codes(toks)
    elif unit == "char":
        if not text:
            return np.zeros(0, dtype=_U32)
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(_U64)
    else:
        raise ValueError(f"unit must be 'char' or 'word', got {unit!r}")
    n = min(ngram, len(codes))  # a text shorter than one shingle is one shingle
    with np.errstate(over="ignore"):
        return (_fmix64(_rolling(codes, n)) >> _U64(32)).astype(_U32)


class MinHash:
    """MinHash signatures of texts: `MinHash(num_perm=128, ngram=5, seed=0).signature(text)`."""

    def __init__(self, num_perm: int = 128, ngram: int = 5, seed: int = 0, unit: str = "char"):
        if num_perm < 1 or ngram < 1:
            raise ValueError(f"num_perm and ngram must be positive, got {num_perm}, {ngram}")
        self.num_perm, self.ngram, self.seed, self.unit = num_perm, ngram, seed, unit
        self.a, self.b = permutations(num_perm, seed)

    def signature_of_hashes(self, hashes: np.ndarray) -> np.ndarray:
        """min over shingles of a_k * fmix32(h) + b_k (mod 2^32): (num_perm,) uint32."""
        if len(hashes) == 0:
            return np.full(self.num_perm, np.iinfo(np.uint32).max, dtype=_U32)
        with np.errstate(over="ignore"):
            mixed = _fmix32(np.asarray(hashes, dtype=_U32))
        return minhash_of_mixed(mixed, self.a, self.b)

    def signature(self, text: str) -> np.ndarray:
        """The (num_perm,) uint32 signature of `text`."""
        return self.signature_of_hashes(shingle_hashes(text, self.ngram, self.unit))

    def signatures(self, texts: list[str]) -> np.ndarray:
        """(len(texts), num_perm) uint32: one signature per row."""
        out = np.empty((len(texts), self.num_perm), dtype=_U32)
        for i, text in enumerate(texts):
            out[i] = self.signature(text)
        return out


def minhash_of_mixed(mixed: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The signature of (pre-mixed) shingle hashes: min over shingles of a_k * h + b_k mod 2^32."""
    with np.errstate(over="ignore"):
        table = mixed[:, None] * a[None, :] + b[None, :]  # (n_shingles, num_perm), uint32 wraps mod 2^32
    return table.min(axis=0)


@lru_cache(maxsize=16)
def _perms(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    gen = np.random.RandomState(seed)  # the draws of datasketch's affine32 scheme
    a = gen.randint(0, 1 << 31, num_perm, dtype=_U32) * _U32(2) + _U32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=_U32)
    return a, b


def permutations(num_perm: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(a, b), uint32 each: odd multipliers and offsets of the num_perm affine permutations."""
    a, b = _perms(num_perm, seed)
    return a.copy(), b.copy()


def jaccard_estimate(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    """The fraction of equal entries: an unbiased estimate of the Jaccard similarity."""
    sig_a, sig_b = np.asarray(sig_a), np.asarray(sig_b)
    if sig_a.shape != sig_b.shape:
        raise ValueError(f"signatures of different lengths {sig_a.shape} and {sig_b.shape}: "
                         "use the same num_perm for both")
    return float(np.mean(sig_a == sig_b))


# ----------------------------------------------------------------------------- LSH
@lru_cache(maxsize=64)
def lsh_params(threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5) -> tuple[int, int]:
    """(bands b, rows r), b * r <= num_perm, minimising the weighted false-positive and false-negative areas."""
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    from scipy.integrate import quad

    best, best_err = (1, 1), float("inf")
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            fp = quad(lambda s: 1 - (1 - s ** float(r)) ** float(b), 0.0, threshold)[0]
            fn = quad(lambda s: 1 - (1 - (1 - s ** float(r)) ** float(b)), threshold, 1.0)[0]
            err = fp_weight * fp + fn_weight * fn
            if err < best_err:
                best, best_err = (b, r), err
    return best


def lsh_buckets(signatures: np.ndarray, bands: int, rows: int) -> list[list[int]]:
    """Groups of rows (documents) whose signatures agree on some band (groups of 2 or more)."""
    groups = []
    sig = np.ascontiguousarray(signatures)
    for i in range(bands):
        band = np.ascontiguousarray(sig[:, i * rows:(i + 1) * rows])
        keys = band.view(np.dtype((np.void, band.dtype.itemsize * rows))).ravel()
        _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
        for bucket in np.flatnonzero(counts >= 2):
            groups.append(np.flatnonzero(inverse == bucket).tolist())
    return groups


class _UnionFind:
    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _clusters(uf: _UnionFind, n: int) -> list[set[int]]:
    groups: dict[int, set[int]] = {}
    for i in range(n):
        groups.setdefault(uf.find(i), set()).add(i)
    return sorted((g for g in groups.values() if len(g) > 1), key=min)


def near_duplicates(texts: list[str], threshold: float = 0.8, num_perm: int = 128, ngram: int = 5,
                    seed: int = 0, unit: str = "char", verify: bool = True) -> list[set[int]]:
    """Clusters (sets of indices, 2+ members, ordered by first index) of near-duplicate texts.

    MinHash signatures, LSH banding with `lsh_params(threshold, num_perm)`, then each
    candidate pair is kept when its estimated Jaccard is at least `threshold` (verify=False
    keeps every candidate, as a plain LSH query does); clusters are connected components.
    """
    sigs = MinHash(num_perm, ngram, seed, unit).signatures(texts)
    b, r = lsh_params(threshold, num_perm)
    uf = _UnionFind(len(texts))
    for group in lsh_buckets(sigs, b, r):
        for j, doc in enumerate(group[1:], start=1):
            for other in group[:j]:
                if uf.find(other) == uf.find(doc):
                    break
                if not verify or np.mean(sigs[doc] == sigs[other]) >= threshold:
                    uf.union(doc, other)
                    break
    return _clusters(uf, len(texts))


def normalise_for_hash(text: str) -> str:
    """NFKC, lowercase, whitespace collapsed: two copies that differ only in those hash alike."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text).lower()).strip()


def exact_duplicates(texts: list[str]) -> list[set[int]]:
    """Clusters of texts that are identical after `normalise_for_hash` (sha1 of the normal form)."""
    seen: dict[bytes, int] = {}
    uf = _UnionFind(len(texts))
    for i, text in enumerate(texts):
        key = hashlib.sha1(normalise_for_hash(text).encode()).digest()
        if key in seen:
            uf.union(seen[key], i)
        else:
            seen[key] = i
    return _clusters(uf, len(texts))
