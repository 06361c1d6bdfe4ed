"""The optional sentence encoder: what it knows that words do not, its cache, its choices.

These run the real all-MiniLM-L6-v2 from the `embeddings` extra (CI installs it); without the
extra the model tests skip, outside CI only, and the choice tests still run.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dedup import embeddings
from dedup.embeddings import (
    MINILM,
    MINILM_FACTS,
    MINILM_NEWS,
    MPNET,
    MPNET_FACTS,
    MPNET_NEWS,
    CachedEncoder,
    EncoderUnavailable,
    SentenceEncoder,
    UnknownEncoder,
    available,
    encoder_choice,
    load_encoder,
    load_sentence_encoder,
)

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

needs_model = pytest.mark.skipif(
    not available() and not IN_CI, reason="the embeddings extra is not installed"
)


class CountingEncoder:
    """A stand-in inner encoder that records what it was asked to encode."""

    name = "counting"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def encode(self, texts):
        self.calls.append(list(texts))
        out = np.zeros((len(texts), 4), dtype=np.float32)
        for i, t in enumerate(texts):
            out[i, len(t) % 4] = 1.0
        return out


def test_unknown_choice_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="auto, none, minilm-l6-v2"):
        load_encoder("bert")


def test_a_delta_path_must_exist(tmp_path):
    with pytest.raises(UnknownEncoder, match="no such file"):
        encoder_choice(str(tmp_path / "tuned.npz"))
    (tmp_path / "tuned.npz").write_bytes(b"x")
    assert encoder_choice(str(tmp_path / "tuned.npz")) == str(tmp_path / "tuned.npz")


def test_a_retrained_delta_does_not_reuse_the_old_vectors(tmp_path):
    """The vector cache is keyed by the delta's content, not only the encoder's name."""
    from dedup.delta import save

    save(tmp_path / "a" / "d.npz", {"w::full": np.ones(2)}, {"run": 1, "embedding_edge": 0.6})
    save(tmp_path / "b" / "d.npz", {"w::full": np.ones(2)}, {"run": 2})
    first = CachedEncoder(SentenceEncoder(delta=tmp_path / "a" / "d.npz", name="tuned"))
    second = CachedEncoder(SentenceEncoder(delta=tmp_path / "b" / "d.npz", name="tuned"))
    assert first.name == second.name == "tuned" and first.key != second.key
    assert CachedEncoder(SentenceEncoder()).key == MINILM
    # the cosine scale it was measured on travels with it
    assert first.embedding_edge == 0.6 and second.embedding_edge == embeddings.STOCK_EDGE


def test_none_means_no_encoder():
    assert load_encoder("none") is None


def test_auto_follows_the_install():
    assert (load_encoder("auto") is not None) == available()


def test_explicit_model_without_extra_names_the_extra(monkeypatch):
    monkeypatch.setattr(embeddings, "available", lambda: False)
    with pytest.raises(EncoderUnavailable, match=r"newsmerge\[embeddings\]"):
        load_encoder("minilm-l6-v2")
    assert load_encoder("auto") is None


def test_cache_encodes_each_text_once_across_instances(tmp_path):
    inner = CountingEncoder()
    first = CachedEncoder(inner, tmp_path / "e.sqlite")
    a = first.encode(["one", "three", "one"])
    assert inner.calls == [["one", "three"]]  # a repeated text is encoded once
    second = CachedEncoder(inner, tmp_path / "e.sqlite")  # a later run, same machine
    b = second.encode(["three", "one", "eleven"])
    assert inner.calls[1:] == [["eleven"]]
    assert np.array_equal(a[0], b[1]) and np.array_equal(a[1], b[0])
    with sqlite3.connect(tmp_path / "e.sqlite") as con:
        assert con.execute("select count(*) from vectors").fetchone()[0] == 3


def test_unusable_cache_costs_time_not_the_run(tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    inner = CountingEncoder()
    enc = CachedEncoder(inner, blocker / "sub" / "e.sqlite")
    out = enc.encode(["x", "yy"])
    assert out.shape == (2, 4)
    assert "unusable" in caplog.text


def test_empty_input_gives_empty_matrix(tmp_path):
    assert CachedEncoder(CountingEncoder(), tmp_path / "e.sqlite").encode([]).shape[0] == 0


@needs_model
def test_auto_detects_stories_with_the_news_model_and_aligns_sentences_with_the_facts_one():
    assert load_encoder("auto").name == MINILM_NEWS
    assert load_encoder(MPNET_NEWS).name == MPNET_NEWS  # MPNet's story model, by name
    assert load_encoder(MINILM).name == MINILM
    assert load_sentence_encoder("auto").name == MPNET_FACTS  # the merger's since merge-1.6
    assert load_sentence_encoder(MINILM_NEWS).name == MPNET_FACTS  # a story-side setting
    assert load_sentence_encoder(MINILM_FACTS).name == MINILM_FACTS  # merge-1.5's, by name
    assert load_sentence_encoder(MINILM).name == MINILM  # the stock models, by name
    assert load_sentence_encoder(MPNET).name == MPNET
    assert load_sentence_encoder("none") is None


@needs_model
def test_without_mpnet_installed_both_roles_keep_a_tuned_minilm(monkeypatch):
    """The part wheels are 407 MB: an install without them still finds stories and merges
    with tuned models, and says what is missing when MPNet's is asked for by name."""
    real = embeddings.available
    monkeypatch.setattr(embeddings, "available", lambda base=MINILM: base != MPNET and real())
    assert load_sentence_encoder("auto").name == MINILM_FACTS
    assert load_encoder("auto").name == MINILM_NEWS
    with pytest.raises(EncoderUnavailable, match="part wheels"):
        load_sentence_encoder(MPNET_FACTS)
    with pytest.raises(EncoderUnavailable, match="part wheels"):
        load_encoder(MPNET_NEWS)


@needs_model
@pytest.mark.parametrize(
    ("delta", "load", "tuned"),
    [
        ("NEWS_DELTA MPNET_NEWS_DELTA", load_encoder, MINILM_NEWS),  # story detection
        ("NEWS_DELTA MPNET_NEWS_DELTA", load_encoder, MPNET_NEWS),
        ("FACTS_DELTA MPNET_FACTS_DELTA", load_sentence_encoder, MINILM_FACTS),  # the merger
    ],
)
def test_without_a_shipped_delta_auto_uses_the_stock_model(
    delta, load, tuned, monkeypatch, tmp_path, caplog
):
    for name in delta.split():
        monkeypatch.setattr(embeddings, name, tmp_path / "missing.npz")
    assert load("auto").name == MINILM
    assert "missing.npz is missing" in caplog.text
    with pytest.raises(EncoderUnavailable, match="reinstall"):
        load(tuned)


@needs_model
def test_minilm_sees_a_rewording_that_shares_no_content_word():
    enc = load_encoder("minilm-l6-v2")
    v = enc.encode(
        [
            "The president signed the relief bill into law on Thursday.",
            "Biden enacted the stimulus package at the White House.",
            "A magnitude 6.1 earthquake struck central Colombia.",
        ]
    )
    assert v.shape == (3, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-3)
    same, other = float(v[0] @ v[1]), float(v[0] @ v[2])
    assert same > other + 0.2


@needs_model
@pytest.mark.parametrize("model", [MINILM, MINILM_NEWS, MPNET_NEWS])
def test_vectors_are_the_same_bytes_in_a_fresh_process(tmp_path, model):
    """Rounded vectors from a second process (cold model, own cache) equal this one's; for the
    tuned model that includes applying the shipped delta."""
    text = "Protesters took to the streets across France on Saturday."
    here = load_encoder(model).encode([text])[0]
    script = (
        "import sys, numpy as np\n"
        "from dedup.embeddings import load_encoder\n"
        f"v = load_encoder({model!r}).encode([sys.argv[1]])[0]\n"
        "sys.stdout.write(v.tobytes().hex())\n"
    )
    env = {**os.environ, "NEWSMERGE_CACHE_DIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", script, text],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parent.parent,
        timeout=300,
        check=True,
    ).stdout
    there = np.frombuffer(bytes.fromhex(out), dtype=np.float32)
    assert np.array_equal(here, there)


def test_long_work_is_encoded_in_chunks_and_shows_progress(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(embeddings, "_CHUNK", 3)
    inner = CountingEncoder()
    texts = [f"text {i}" * (i + 1) for i in range(7)]
    with caplog.at_level("INFO", logger="dedup.embeddings"):
        out = CachedEncoder(inner, tmp_path / "e.sqlite").encode(texts)
    assert [len(c) for c in inner.calls] == [3, 3, 1]
    assert np.array_equal(out, inner.encode(texts))
    assert "encoded 7 of 7 new texts" in caplog.text


@needs_model
def test_the_merger_takes_a_facts_delta_of_the_users_as_given_and_a_story_delta_as_auto(tmp_path):
    """`--encoder DELTA.npz` on merge/evaluate: a delta from `python -m dedup.merge.finetune`
    (its meta carries a merge calibration) is the model measured, not the shipped one; a story
    delta from `python -m dedup.finetune` compares whole articles, so the merger keeps its own."""
    own = tmp_path / "my-facts.npz"
    own.write_bytes(embeddings.FACTS_DELTA.read_bytes())
    enc = load_sentence_encoder(str(own))
    assert enc.name == f"{MINILM}+my-facts" and enc.merge_calibration
    story = tmp_path / "my-news.npz"
    story.write_bytes(embeddings.NEWS_DELTA.read_bytes())
    assert load_sentence_encoder(str(story)).name in (MPNET_FACTS, MINILM_FACTS)
