"""Batch signatures must equal datasketch's MinHash bit for bit, so its LSH and storage work."""

from __future__ import annotations

import numpy as np
from datasketch import LeanMinHash, MinHash, MinHashLSH
from hypothesis import given, settings
from hypothesis import strategies as st

from dedup.shingles import batch_shingle_hashes, shingle_bytes, shingle_hash32
from dedup.signatures import (
    minhash_hashes,
    pack,
    reference_minhash,
    shingle_signatures,
    to_minhash,
    unpack,
)

words = st.text(alphabet="abcdeéz019’ ,.-!", min_size=0, max_size=40)


@settings(max_examples=60, deadline=None)
@given(
    texts=st.lists(words, min_size=1, max_size=6),
    n=st.integers(1, 4),
    num_perm=st.integers(2, 96),
    seed=st.integers(0, 2**31 - 1),
)
def test_batch_signatures_equal_datasketch(texts, n, num_perm, seed):
    sigs = shingle_signatures(texts, n, num_perm, seed)
    for text, row in zip(texts, sigs, strict=True):
        ref = MinHash(num_perm=num_perm, seed=seed, hashfunc=shingle_hash32)
        ref.update_batch(shingle_bytes(text, n))
        assert ref.hashvalues.dtype == row.dtype
        assert np.array_equal(ref.hashvalues, row)


@settings(max_examples=40, deadline=None)
@given(
    sets=st.lists(
        st.lists(st.binary(min_size=1, max_size=12), max_size=30), min_size=1, max_size=5
    ),
    num_perm=st.integers(2, 64),
    seed=st.integers(0, 2**31 - 1),
)
def test_kernel_on_random_token_sets(sets, num_perm, seed):
    hashes = np.array([shingle_hash32(t) for s in sets for t in s], dtype=np.uint32)
    offsets = np.cumsum([0] + [len(s) for s in sets])
    got = minhash_hashes(hashes, offsets, num_perm, seed)
    for tokens, row in zip(sets, got, strict=True):
        assert np.array_equal(reference_minhash(tokens, num_perm, seed).hashvalues, row)


def test_batch_shingles_equal_reference_including_short_and_unicode_texts():
    texts = ["", "one", "two words", "Ünïcode “quotes” and   spaces\n3,000 km!", "a b c d e f"]
    for n in (1, 2, 3):
        hashes, off = batch_shingle_hashes(texts, n)
        for i, text in enumerate(texts):
            assert hashes[off[i] : off[i + 1]].tolist() == [
                shingle_hash32(s) for s in shingle_bytes(text, n)
            ]


def test_leanminhash_and_lsh_accept_batch_signatures():
    texts = [
        "the quick brown fox jumps over the lazy dog near the river bank today",
        "the quick brown fox jumps over the lazy dog near the river bank",
        "stock markets fell sharply in asia after the central bank raised rates",
    ]
    sigs = shingle_signatures(texts, 1, 128, 7)
    lean = [to_minhash(r, 7) for r in sigs]
    ref = [LeanMinHash(reference_minhash(shingle_bytes(t, 1), 128, 7)) for t in texts]
    assert lean[0] == ref[0]
    buf = bytearray(lean[0].bytesize())
    lean[0].serialize(buf)
    assert LeanMinHash.deserialize(buf) == ref[0]
    lsh = MinHashLSH(threshold=0.6, num_perm=128)
    for i, m in enumerate(lean):
        lsh.insert(str(i), m)
    assert set(lsh.query(ref[0])) == {"0", "1"}


def test_pack_round_trip_and_mismatch():
    rows = (
        shingle_signatures(["some text here"], 3, 16, 3)[0],
        shingle_signatures(["x"], 1, 16, 3)[0],
    )
    blob = pack(rows[0], rows[1], 3, "f1")
    got = unpack(blob, 16, 3, "f1")
    assert got is not None and np.array_equal(got[0], rows[0]) and np.array_equal(got[1], rows[1])
    assert unpack(blob, 32, 3, "f1") is None  # other num_perm: recompute
    assert unpack(blob, 16, 4, "f1") is None
    assert unpack(blob, 16, 3, "f2") is None
    assert unpack(b"garbage", 16, 3, "f1") is None
