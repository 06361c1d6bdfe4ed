"""LSH index backends: datasketch `MinHashLSH`, in-process or in Redis, chosen by a config dict.

In-process (`{"type": "dict"}`) the index is rebuilt each run from the signatures the store
persisted, so it holds exactly the active window. In Redis (datasketch's `storage_config`) it is
shared by several workers and persists between runs: `sync` inserts what is missing and removes
keys that left the window, so it does not grow without bound.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from datasketch import MinHashLSH

from dedup.signatures import to_minhash


class SignatureIndex:
    """One MinHash LSH over signature rows, keyed by article id (str)."""

    def __init__(
        self,
        name: str,
        num_perm: int,
        seed: int,
        *,
        threshold: float | None = None,
        params: tuple[int, int] | None = None,
        storage: Mapping[str, Any] | None = None,
    ) -> None:
        storage = dict(storage or {"type": "dict"})
        self.seed = seed
        self.shared = storage.get("type") == "redis"
        kwargs: dict[str, Any] = {"num_perm": num_perm}
        if params is not None:
            kwargs["params"] = tuple(params)
        else:
            kwargs["threshold"] = threshold if threshold is not None else 0.5
        if self.shared:
            # Indexes with other parameters must not share buckets: the basename says which.
            base = storage.get("basename", "newsmerge")
            base = base.decode() if isinstance(base, bytes) else str(base)
            tag = hashlib.sha1(
                json.dumps(
                    [name, num_perm, seed, kwargs.get("params"), kwargs.get("threshold")]
                ).encode()
            ).hexdigest()[:8]
            storage["basename"] = f"{base}_{name}_{tag}".encode()
        self.lsh = MinHashLSH(storage_config=storage, **kwargs)

    def __contains__(self, key: str) -> bool:
        return key in self.lsh

    def keys(self) -> list[str]:
        keys = self.lsh.keys.keys()
        if self.lsh.prepickle:
            import pickle

            return [pickle.loads(k) for k in keys]
        return [k.decode() if isinstance(k, bytes) else k for k in keys]

    def insert_many(self, items: Iterable[tuple[str, np.ndarray]]) -> None:
        """Insert (id, signature row) pairs, skipping ids already present."""
        with self.lsh.insertion_session() as session:
            for key, row in items:
                if key in self.lsh:
                    continue
                session.insert(key, to_minhash(row, self.seed), check_duplication=False)

    def remove_many(self, keys: Iterable[str]) -> None:
        for key in keys:
            if key in self.lsh:
                self.lsh.remove(key)

    def sync(self, live: Mapping[str, np.ndarray]) -> None:
        """Make the index hold exactly `live` (id → row): insert missing, drop the rest."""
        if self.shared:
            stale = [k for k in self.keys() if k not in live]
            self.remove_many(stale)
        self.insert_many(live.items())

    def query(self, row: np.ndarray) -> list[str]:
        found = self.lsh.query(to_minhash(row, self.seed))
        return [k.decode() if isinstance(k, bytes) else k for k in found]
