"""Signature throughput and near-duplicate quality on a seeded synthetic corpus.

    python -m bench.signatures --n 10000 [--json]

Corpus: ~500-word articles drawn from a Zipf vocabulary; a fifth of them get near-duplicate
copies of known kind (exact republish, edited headline and a few word edits, or a heavy
rewrite that is *not* a duplicate). Methods timed in the same run on the same texts, each
including its own shingling: ours (`dedup.signatures.shingle_signatures`) on all n documents;
datasketch per-token `update`, `update_batch` and `MinHash.bulk` (default SHA-1 hash, word
3-gram bytes from the reference shingler) on a sample, since per-token update would take
minutes at 100k. Reported as docs/s and as ratios to datasketch. Near-duplicates: LSH at the
production threshold, estimated Jaccard >= threshold, scored against exact Jaccard of the
shingle sets.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable

import numpy as np
from datasketch import MinHash, MinHashLSH

from dedup.settings import DedupSettings
from dedup.shingles import batch_shingle_hashes, shingle_bytes
from dedup.signatures import shingle_signatures, to_minhash

VOCAB = 20_000


def make_corpus(n: int, seed: int = 0, words: int = 500) -> tuple[list[str], list[tuple[int, int]]]:
    """n texts and the (original, copy) pairs planted among them."""
    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i}" for i in range(VOCAB)])
    p = 1.0 / np.arange(1, VOCAB + 1) ** 1.05
    p /= p.sum()
    texts: list[str] = []
    planted: list[tuple[int, int]] = []
    while len(texts) < n:
        base = rng.choice(VOCAB, size=words + int(rng.integers(-50, 50)), p=p)
        texts.append(" ".join(vocab[base]))
        src = len(texts) - 1
        if rng.random() < 0.2:
            for _ in range(int(rng.integers(1, 3))):
                if len(texts) >= n:
                    break
                kind = rng.random()
                copy = base.copy()
                if kind < 0.3:  # republished verbatim
                    pass
                elif kind < 0.8:  # headline edited, a few words changed
                    k = int(rng.integers(0, max(1, len(copy) // 60)))
                    idx = rng.choice(len(copy), size=k + 8, replace=False)
                    copy[idx[:k]] = rng.choice(VOCAB, size=k, p=p)
                    copy[:8] = rng.choice(VOCAB, size=8, p=p)
                else:  # heavy rewrite: a third of the words replaced, not a duplicate
                    idx = rng.choice(len(copy), size=len(copy) // 3, replace=False)
                    copy[idx] = rng.choice(VOCAB, size=len(idx), p=p)
                texts.append(" ".join(vocab[copy]))
                planted.append((src, len(texts) - 1))
    return texts, planted


def _rate(fn: Callable[[], object], n_docs: int) -> float:
    t = time.perf_counter()
    fn()
    return n_docs / (time.perf_counter() - t)


def _ds_update(texts: list[str], num_perm: int) -> None:
    for t in texts:
        m = MinHash(num_perm=num_perm)
        for s in shingle_bytes(t, 3):
            m.update(s)


def _ds_update_batch(texts: list[str], num_perm: int) -> None:
    for t in texts:
        m = MinHash(num_perm=num_perm)
        m.update_batch(shingle_bytes(t, 3))


def _ds_bulk(texts: list[str], num_perm: int) -> None:
    MinHash.bulk([shingle_bytes(t, 3) for t in texts], num_perm=num_perm)


def near_duplicates(
    texts: list[str],
    planted: list[tuple[int, int]],
    sigs: np.ndarray,
    threshold: float,
    num_perm: int,
    seed: int,
) -> dict[str, float]:
    """Precision and recall of LSH + estimated Jaccard against exact Jaccard >= threshold."""
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    with lsh.insertion_session() as s:
        for i, row in enumerate(sigs):
            s.insert(i, to_minhash(row, seed), check_duplication=False)
    found: set[tuple[int, int]] = set()
    candidates: set[tuple[int, int]] = set()
    for i, row in enumerate(sigs):
        for j in lsh.query(to_minhash(row, seed)):
            if j != i:
                pair = (min(i, j), max(i, j))
                candidates.add(pair)
                if np.count_nonzero(sigs[i] == sigs[j]) / num_perm >= threshold:
                    found.add(pair)
    # Exact Jaccard for every planted pair (and copies of one original), and every candidate.
    families: dict[int, list[int]] = {}
    for a, b in planted:
        families.setdefault(a, [a]).append(b)
    check = set(candidates)
    for members in families.values():
        check |= {(x, y) for x in members for y in members if x < y}
    h, off = batch_shingle_hashes(texts, 3)
    sets = {}

    def shingles(i: int) -> set[int]:
        if i not in sets:
            sets[i] = set(h[off[i] : off[i + 1]].tolist())
        return sets[i]

    truth = set()
    for x, y in check:
        a, b = shingles(x), shingles(y)
        if len(a & b) / max(1, len(a | b)) >= threshold:
            truth.add((x, y))
    tp = len(found & truth)
    return {
        "threshold": threshold,
        "true_pairs": len(truth),
        "found_pairs": len(found),
        "precision": tp / len(found) if found else 1.0,
        "recall": tp / len(truth) if truth else 1.0,
    }


def run(n: int, sample: int = 1000, seed: int = 0) -> dict[str, object]:
    settings = DedupSettings()
    num_perm = settings.num_perm
    texts, planted = make_corpus(n, seed)
    shingle_signatures(texts[:200], 3, num_perm, settings.seed)  # warm caches
    t = time.perf_counter()
    sigs = shingle_signatures(texts, 3, num_perm, settings.seed)
    ours = n / (time.perf_counter() - t)
    sub = texts[: min(sample, n)]
    rates = {
        "ours": ours,
        "datasketch_update": _rate(
            lambda: _ds_update(sub[: max(1, len(sub) // 4)], num_perm), max(1, len(sub) // 4)
        ),
        "datasketch_update_batch": _rate(lambda: _ds_update_batch(sub, num_perm), len(sub)),
        "datasketch_bulk": _rate(lambda: _ds_bulk(sub, num_perm), len(sub)),
    }
    return {
        "n": n,
        "num_perm": num_perm,
        "words_per_doc": 500,
        "docs_per_s": {k: round(v, 1) for k, v in rates.items()},
        "speedup": {k: round(ours / v, 1) for k, v in rates.items() if k != "ours"},
        "datasketch_sample": len(sub),
        "near_duplicates": near_duplicates(
            texts, planted, sigs, settings.dup_threshold, num_perm, settings.seed
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.signatures", description=__doc__)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument(
        "--sample", type=int, default=1000, help="documents timed for each datasketch method"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run(args.n, args.sample)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for k, v in result["docs_per_s"].items():
            print(f"{k:<26}{v:>12,.0f} docs/s")
        for k, v in result["speedup"].items():
            print(f"ours / {k:<19}{v:>12.1f}x")
        print("near-duplicates:", result["near_duplicates"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
