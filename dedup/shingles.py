"""Batch tokenisation and shingle hashing, vectorised over a whole batch of documents.

Python-level shingling (split, join, hash each shingle) caps throughput at a few thousand
documents a second, far below what the MinHash kernel can take. So the batch is joined into one
byte array and tokens, word n-grams and their hashes are computed with numpy in one pass.

The hash of a shingle is a function of its *bytes*, defined by `shingle_hash32` (a polynomial
hash mod 2^64 finished with the MurmurHash3 64-bit finaliser). The batch code computes exactly
the same values, so datasketch's `MinHash(hashfunc=shingle_hash32)` fed with
`shingle_bytes(...)` reproduces our signatures bit for bit.

Tokens: the text is lower-cased (`str.lower`), UTF-8 encoded, and split into maximal runs of
bytes that are ASCII letters, digits, or non-ASCII (>= 0x80). A word n-gram is its tokens joined
by one space.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

_M64 = (1 << 64) - 1
POLY_BASE = 0x100000001B3  # the FNV-1 64-bit prime: odd, so invertible mod 2^64
_FMIX64 = (33, 0xFF51AFD7ED558CCD, 33, 0xC4CEB9FE1A85EC53, 33)
_TOKEN_RE = re.compile(rb"[a-z0-9\x80-\xff]+")
_SEP = "\x00"

_IS_WORD = np.zeros(256, dtype=bool)
_IS_WORD[ord("a") : ord("z") + 1] = True
_IS_WORD[ord("0") : ord("9") + 1] = True
_IS_WORD[0x80:] = True


def _fmix64_int(h: int) -> int:
    s1, m1, s2, m2, s3 = _FMIX64
    h ^= h >> s1
    h = (h * m1) & _M64
    h ^= h >> s2
    h = (h * m2) & _M64
    return h ^ (h >> s3)


def shingle_hash32(data: bytes) -> int:
    """The 32-bit hash of one shingle's bytes; pass it to datasketch as `hashfunc`.

    poly = sum(byte_j * POLY_BASE**j) mod 2^64; hash = fmix64(poly ^ len) & 0xFFFFFFFF.
    """
    h = 0
    p = 1
    for b in data:
        h = (h + b * p) & _M64
        p = (p * POLY_BASE) & _M64
    return _fmix64_int(h ^ len(data)) & 0xFFFFFFFF


def tokens(text: str) -> list[bytes]:
    """The reference tokeniser (pure Python); the batch code matches it exactly."""
    return _TOKEN_RE.findall(text.lower().encode("utf-8"))


def shingle_bytes(text: str, n: int) -> list[bytes]:
    """Reference word n-grams of `text` as bytes (all tokens if fewer than n: one shingle)."""
    toks = tokens(text)
    if not toks:
        return []
    if len(toks) < n:
        return [b" ".join(toks)]
    return [b" ".join(toks[i : i + n]) for i in range(len(toks) - n + 1)]


def _fmix64(h: np.ndarray) -> np.ndarray:
    s1, m1, s2, m2, s3 = (np.uint64(x) for x in _FMIX64)
    h = h ^ (h >> s1)
    h *= m1
    h ^= h >> s2
    h *= m2
    return h ^ (h >> s3)


class _Powers:
    """Cached tables of POLY_BASE**k and its inverse mod 2^64, grown on demand."""

    def __init__(self) -> None:
        self.fwd = np.ones(1, dtype=np.uint64)
        self.inv = np.ones(1, dtype=np.uint64)

    def need(self, size: int) -> None:
        if size <= len(self.fwd):
            return
        size = max(size, 2 * len(self.fwd))
        with np.errstate(over="ignore"):
            fwd = np.full(size, POLY_BASE, dtype=np.uint64)
            fwd[0] = 1
            self.fwd = np.cumprod(fwd, dtype=np.uint64)
            inv = np.full(size, pow(POLY_BASE, -1, 1 << 64), dtype=np.uint64)
            inv[0] = 1
            self.inv = np.cumprod(inv, dtype=np.uint64)


_POW = _Powers()


def _join(texts: Sequence[str]) -> np.ndarray:
    joined = _SEP.join(t.replace(_SEP, " ") if _SEP in t else t for t in texts)
    return np.frombuffer((_SEP + joined.lower() + _SEP).encode("utf-8"), dtype=np.uint8)


def batch_token_hashes(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Polynomial hash (before finalisation) and byte length of every token of every text.

    Returns (poly uint64[T], length int64[T], doc_offsets int64[n+1]): tokens of text i are
    rows doc_offsets[i]:doc_offsets[i+1]. poly of a token is the windowed sum of
    byte_j * BASE**j over the batch's bytes, shifted back by BASE**-start.
    """
    buf = _join(texts)  # starts and ends with the separator
    n = len(buf)
    _POW.need(n + 1)
    word = _IS_WORD[buf]
    flips = np.flatnonzero(word[1:] != word[:-1]) + 1  # alternate token start, token end
    starts, ends = flips[0::2], flips[1::2]
    seps = np.flatnonzero(buf == 0)[1:]  # the separator after each text
    with np.errstate(over="ignore"):
        csum = np.multiply(buf, _POW.fwd[:n], dtype=np.uint64)
        np.cumsum(csum, out=csum)
        # csum[k] includes byte k; a token [s, e) sums csum[e-1] - csum[s-1] (s >= 1 always).
        poly = (csum[ends - 1] - csum[starts - 1]) * _POW.inv[starts]
    doc_offsets = np.empty(len(texts) + 1, dtype=np.int64)
    doc_offsets[0] = 0
    doc_offsets[1:] = np.searchsorted(starts, seps)
    return poly, (ends - starts).astype(np.int64), doc_offsets


def batch_shingle_hashes(texts: Sequence[str], n: int) -> tuple[np.ndarray, np.ndarray]:
    """32-bit hashes of the word n-grams of every text, equal to `shingle_hash32` of
    `shingle_bytes(text, n)`. Returns (hashes uint32[S], offsets int64[len(texts)+1]).

    The bytes of "t0 t1 t2" hash to e0 + q0 * (e1 + q1 * h2), where h is a token's poly,
    q = BASE**(len+1) and e = h + 32 * BASE**len (the token followed by a space), so every
    n-gram of the batch is a few vector operations over shifted slices of the token arrays.
    """
    poly, length, doc_off = batch_token_hashes(texts)
    counts = np.diff(doc_off)
    if n == 1 or len(poly) == 0:
        acc, acc_len, off = poly, length, doc_off
    else:
        t = len(poly)
        with np.errstate(over="ignore"):
            q = _POW.fwd[length + 1]
            e = poly + np.uint64(32) * _POW.fwd[length]
            m = max(t - n + 1, 0)
            acc = poly[n - 1 : n - 1 + m].copy()
            acc_len = length[n - 1 : n - 1 + m].copy()
            for k in range(n - 2, -1, -1):
                acc *= q[k : k + m]
                acc += e[k : k + m]
                acc_len += length[k : k + m] + 1
        # Keep windows that start at token i of a text with i + n <= its end.
        n_sh = np.where(counts >= n, counts - n + 1, np.minimum(counts, 1))
        off = np.empty(len(counts) + 1, dtype=np.int64)
        off[0] = 0
        np.cumsum(n_sh, out=off[1:])
        full = counts >= n
        n_full = n_sh[full]
        full_off = np.cumsum(n_full) - n_full
        rank = np.arange(int(n_full.sum())) - np.repeat(full_off, n_full)
        src = np.repeat(doc_off[:-1][full], n_full) + rank
        if len(src) == off[-1]:  # the common case: every text has >= n tokens
            acc, acc_len = acc[src], acc_len[src]
        else:
            take_pos = np.repeat(off[:-1][full], n_full) + rank
            new_acc = np.empty(int(off[-1]), dtype=np.uint64)
            new_len = np.empty(int(off[-1]), dtype=np.int64)
            new_acc[take_pos] = acc[src]
            new_len[take_pos] = acc_len[src]
            for i in np.flatnonzero((counts > 0) & ~full):
                # Short text: one shingle, all its tokens.
                a0, a1 = int(doc_off[i]), int(doc_off[i + 1])
                h, ln = _concat(poly[a0:a1], length[a0:a1])
                new_acc[off[i]], new_len[off[i]] = h, ln
            acc, acc_len = new_acc, new_len
    with np.errstate(over="ignore"):
        h = _fmix64(acc ^ acc_len.astype(np.uint64))
    return (h & np.uint64(0xFFFFFFFF)).astype(np.uint32), off


def _concat(poly: np.ndarray, length: np.ndarray) -> tuple[int, int]:
    """Poly hash and length of tokens joined by single spaces (Python ints, few tokens)."""
    h, total = 0, 0
    for p, ln in zip(poly.tolist(), length.tolist(), strict=True):
        if total:
            h = (h + 32 * pow(POLY_BASE, total, 1 << 64)) & _M64
            total += 1
        h = (h + p * pow(POLY_BASE, total, 1 << 64)) & _M64
        total += ln
    return h, total
