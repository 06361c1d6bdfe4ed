"""Training only the top layers from cached lower states (dedup.upper_layers): exact, and the
recipe's delta touches nothing below the trained layers."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from dedup.embeddings import MINILM, MPNET, SentenceEncoder, available

TEXTS = [
    "Japan protests Putin's visit to the disputed Kuril Islands.",
    "Short.",
    "The number of Americans filing for first-time unemployment benefits unexpectedly rose "
    "last week, the Labor Department said on Thursday, as the pandemic dragged on. " * 4,
]


@pytest.mark.parametrize(
    "base",
    [
        pytest.param(MINILM, marks=pytest.mark.skipif(not available(), reason="no embeddings")),
        pytest.param(MPNET, marks=pytest.mark.skipif(not available(MPNET), reason="no MPNet")),
    ],
)
def test_top_layers_over_cached_states_equal_the_whole_model(base):
    """BERT (MiniLM) and MPNet (relative positions) alike: texts of different lengths, one
    truncated, give the vectors the whole model gives, so a held-out score from the cache is
    the score of the model the pipeline loads."""
    from dedup.upper_layers import UpperLayers

    model = SentenceEncoder(base=base)._load()
    model.max_seq_length = 64
    upper = UpperLayers(model, top=2)
    upper.cache(TEXTS)
    whole = model.encode(TEXTS, normalize_embeddings=True)
    assert np.abs(upper.encode(np.arange(len(TEXTS))) - whole).max() < 1e-5
    # the lower layers are frozen: only the top two layers train
    trainable = upper.trainable()
    names = {n for n, p in upper.body.named_parameters() if p.requires_grad}
    assert len(trainable) == len(names) and names
    last = len(upper.body.encoder.layer) - 1
    top_two = (f"encoder.layer.{last - 1}.", f"encoder.layer.{last}.")
    assert all(n.startswith(top_two) for n in names)
    with pytest.raises(ValueError, match="top must be"):
        UpperLayers(model, top=0)


@pytest.mark.skipif(not available(MPNET), reason="MPNet's part wheels not installed")
def test_the_mpnet_recipe_writes_a_delta_of_its_top_layers_only(tmp_path):
    """`python -m dedup.finetune --base mpnet-base-v2 --top-layers 1` on a few stories: its delta
    names MPNet, reads 128 word pieces, changes only the last layer, and is what
    `--encoder DIR/mpnet-base-v2-news.npz` loads."""
    from dedup.delta import load, load_meta
    from dedup.embeddings import load_encoder
    from dedup.finetune import finetune

    sample = Path(__file__).parent / "fixtures" / "stories" / "neus_sample.jsonl"
    report = finetune(
        sample, tmp_path / "model", half="even", max_steps=1, base=MPNET, top_layers=1
    )
    delta = tmp_path / "model" / "mpnet-base-v2-news.npz"
    assert report["delta"] == str(delta) and report["steps"] == 1 and report["top_layers"] == 1
    assert 0.0 <= report["held_out_after_delta"] <= 1.0
    meta = load_meta(delta)
    assert meta["base"] == MPNET and meta["max_seq_length"] == 128
    assert meta["recipe"]["top_layers"] == 1
    arrays, _ = load(delta)
    assert arrays and all(".layer.11." in k for k in arrays)  # nothing below the top layer
    encoder = load_encoder(str(delta))
    assert encoder.name == "mpnet-base-v2+mpnet-base-v2-news"
    assert encoder.encode(TEXTS[:1]).shape == (1, 768)


@pytest.mark.skipif(not available(MPNET), reason="MPNet's part wheels not installed")
def test_the_mpnet_recipe_leaves_the_held_out_vectors_in_the_cache(tmp_path):
    """The held-out half's vectors, computed from the cached lower layers to score the tuned
    model, are the ones `dedup.evaluate --encoder DELTA` reads next: they are stored under
    the delta's cache key and equal what the pipeline's encoder computes."""
    import json

    from dedup.embeddings import CachedEncoder
    from dedup.evaluate import split_stories
    from dedup.finetune import finetune
    from dedup.stories import embed_text

    sample = Path(__file__).parent / "fixtures" / "stories" / "neus_sample.jsonl"
    rows = [json.loads(line) for line in sample.read_text().splitlines() if line.strip()]
    held = np.flatnonzero(~split_stories([r["cluster_id"] for r in rows], "even"))
    texts = [embed_text(rows[i]["title"], rows[i]["text"]) for i in held]
    report = finetune(
        sample, tmp_path / "model", half="even", max_steps=1, base=MPNET, top_layers=1
    )
    delta = report["delta"]
    cached = CachedEncoder(SentenceEncoder(delta=delta))
    con = sqlite3.connect(cached.path)
    stored = {sha for (sha,) in con.execute("SELECT sha FROM vectors WHERE model=?", [cached.key])}
    con.close()
    assert {hashlib.sha1(t.encode("utf-8")).hexdigest() for t in texts} <= stored
    fresh = SentenceEncoder(delta=delta).encode(texts)  # no cache: the model itself
    assert np.abs(cached.encode(texts) - fresh).max() <= 2e-4  # rounding to 1e-4 aside
