"""MinHash signatures for a whole batch at once, bit-identical to datasketch's `MinHash`.

datasketch 2.0's default scheme ("affine32") maps each input hash h to
fmix32(h) * a_k + b_k mod 2^32 for k permutations drawn from `np.random.RandomState(seed)`,
and keeps the per-permutation minimum. We do the same arithmetic on a (shingles x perms)
uint32 matrix per chunk of documents and reduce per document with `np.minimum.reduceat`,
so a signature row here equals `MinHash(num_perm, seed, hashfunc=shingle_hash32)` fed the
same shingles, and `LeanMinHash`, `MinHashLSH` and its Redis storage take it unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from datasketch import LeanMinHash, MinHash

from dedup.shingles import batch_shingle_hashes, shingle_hash32

SCHEME = "affine32"
EMPTY = np.uint32(0xFFFFFFFF)  # datasketch's value for a permutation that saw nothing
_FMIX32 = tuple(np.uint32(x) for x in (16, 0x85EBCA6B, 13, 0xC2B2AE35, 16))
_ROWS_PER_BLOCK = 8192  # shingles per block: 128 x 8192 x 4 B = 4 MB, about cache-sized


@lru_cache(maxsize=16)
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The (a, b) parameters datasketch draws for (num_perm, seed) under "affine32"."""
    a, b = MinHash(num_perm=num_perm, seed=seed, scheme=SCHEME).permutations
    a.setflags(write=False)
    b.setflags(write=False)
    return a, b


def fmix32(h: np.ndarray) -> np.ndarray:
    s1, m1, s2, m2, s3 = _FMIX32
    h = h ^ (h >> s1)
    h = h * m1
    h ^= h >> s2
    h *= m2
    return h ^ (h >> s3)


def minhash_hashes(
    hashes: np.ndarray, offsets: np.ndarray, num_perm: int = 128, seed: int = 1
) -> np.ndarray:
    """Signatures uint32[n_docs, num_perm] from 32-bit shingle hashes grouped by `offsets`.

    Row i is the min over hashes[offsets[i]:offsets[i+1]] of fmix32(h) * a + b mod 2^32;
    a document without shingles gets all 0xFFFFFFFF, as an empty datasketch MinHash.
    """
    a, b = permutations(num_perm, seed)
    n_docs = len(offsets) - 1
    out = np.full((n_docs, num_perm), EMPTY, dtype=np.uint32)
    if n_docs == 0 or offsets[-1] == 0:
        return out
    mixed = fmix32(np.asarray(hashes, dtype=np.uint32))
    counts = np.diff(offsets)
    a_col, b_col = a[:, None], b[:, None]
    # Permutation-major blocks (num_perm x rows): the inner loops run along contiguous
    # shingles, which numpy vectorises far better than a (rows x num_perm) layout.
    block = np.empty((num_perm, _ROWS_PER_BLOCK), dtype=np.uint32)
    doc = 0
    while doc < n_docs:
        # Whole documents per block, at most _ROWS_PER_BLOCK shingles (a larger document
        # gets a block of its own).
        start = int(offsets[doc])
        end_doc = int(np.searchsorted(offsets, start + _ROWS_PER_BLOCK, side="right")) - 1
        end_doc = min(max(end_doc, doc + 1), n_docs)
        stop = int(offsets[end_doc])
        rows = stop - start
        if rows:
            fits = rows <= _ROWS_PER_BLOCK
            buf = block[:, :rows] if fits else np.empty((num_perm, rows), np.uint32)
            np.multiply(a_col, mixed[None, start:stop], out=buf)
            buf += b_col
            nz = np.flatnonzero(counts[doc:end_doc])
            local = (offsets[doc:end_doc][nz] - start).astype(np.intp)
            out[doc + nz] = np.minimum.reduceat(buf, local, axis=1).T
        doc = end_doc
    return out


def shingle_signatures(
    texts: Sequence[str], n: int = 3, num_perm: int = 128, seed: int = 1, chunk: int = 256
) -> np.ndarray:
    """Word-n-gram MinHash signatures of many texts, computed chunk by chunk."""
    parts = []
    for i in range(0, len(texts), chunk):
        h, off = batch_shingle_hashes(texts[i : i + chunk], n)
        parts.append(minhash_hashes(h, off, num_perm, seed))
    if not parts:
        return np.empty((0, num_perm), dtype=np.uint32)
    return np.concatenate(parts)


def to_minhash(row: np.ndarray, seed: int) -> LeanMinHash:
    """Wrap a signature row as a datasketch `LeanMinHash` (for LSH, Jaccard, storage)."""
    return LeanMinHash(seed=seed, hashvalues=row, scheme=SCHEME)


def reference_minhash(shingles: Sequence[bytes], num_perm: int = 128, seed: int = 1) -> MinHash:
    """What datasketch computes for the same shingles: the oracle our kernel must equal."""
    m = MinHash(num_perm=num_perm, seed=seed, hashfunc=shingle_hash32, scheme=SCHEME)
    m.update_batch(shingles)
    return m


def estimated_jaccard(x: np.ndarray, y: np.ndarray) -> float:
    """Fraction of equal positions in two signature rows (datasketch's estimator)."""
    return float(np.count_nonzero(x == y)) / len(x)


_MAGIC = b"NMS1"


def pack(dup_row: np.ndarray, story_row: np.ndarray, seed: int, features_version: str) -> bytes:
    """Persisted form of a document's two signatures: magic, num_perm, seed, feature version
    tag (so a change of features invalidates old signatures), then both uint32 rows."""
    tag = features_version.encode()[:255]
    head = _MAGIC + np.array([len(dup_row), seed], dtype="<u4").tobytes() + bytes([len(tag)]) + tag
    return head + dup_row.astype("<u4").tobytes() + story_row.astype("<u4").tobytes()


def unpack(
    blob: bytes, num_perm: int, seed: int, features_version: str
) -> tuple[np.ndarray, np.ndarray] | None:
    """The (dup_row, story_row) of a persisted signature, or None when it was made with other
    parameters (the caller then recomputes it from the text)."""
    if not blob or blob[:4] != _MAGIC or len(blob) < 13:
        return None
    n, s = np.frombuffer(blob[4:12], dtype="<u4").tolist()
    tag_len = blob[12]
    tag = blob[13 : 13 + tag_len].decode(errors="replace")
    body = blob[13 + tag_len :]
    if n != num_perm or s != seed or tag != features_version or len(body) != 8 * n:
        return None
    rows = np.frombuffer(body, dtype="<u4").astype(np.uint32)
    return rows[:n], rows[n:]
