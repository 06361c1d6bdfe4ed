"""Analysts' frames: `load_stories`, `load_articles`, `load_credits` and `export`, on SQLite and
PostgreSQL stores filled by the pipeline's own stages from the replayed capture."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pandas as pd
import pytest

import newsmerge
from newsmerge import pipeline
from newsmerge.analysis import ARTICLE_COLUMNS, CREDIT_COLUMNS, STORY_COLUMNS, read_export
from newsmerge.config import load_config
from newsmerge.replay import serve_capture
from newsmerge.store import Store
from tests.conftest import CAPTURES, ROOT

CAPTURE = CAPTURES / "2026-08-13"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def filled(request, tmp_path_factory) -> Iterator[str]:
    """A store after one poll of the capture: fetch → store → stories → composites.

    Like conftest's `store_url` (SQLite and a real PostgreSQL), but filled once per module:
    the frames are only read here.
    """
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('analysis') / 'newsmerge.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    config = load_config(store_url=url)
    with serve_capture(CAPTURE) as server:
        for outlet in config.outlets:
            pipeline.store_result(pipeline.fetch(outlet, url, server.base_url), url)
    pipeline.detect_stories(url, pipeline.dedup_settings(config))
    pipeline.build_composites(url, pipeline.dirty_stories(url))
    yield url
    if request.param == "postgres":
        import sqlalchemy as sa

        from newsmerge.store import metadata

        engine = sa.create_engine(url)
        metadata.drop_all(engine)
        engine.dispose()


def assert_utc(series: pd.Series) -> None:
    assert isinstance(series.dtype, pd.DatetimeTZDtype), series.dtype
    assert str(series.dtype.tz) == "UTC"


def test_frames_are_typed_and_consistent_with_the_store(filled):
    stories = newsmerge.load_stories(store=filled)
    articles = newsmerge.load_articles(store=filled)
    credits = newsmerge.load_credits(store=filled)
    with Store(filled) as store:
        counts = store.counts()
        composites = {c["story_id"]: c for c in store.composites()}

    assert list(stories.columns) == STORY_COLUMNS
    assert list(articles.columns) == ARTICLE_COLUMNS
    assert list(credits.columns) == CREDIT_COLUMNS
    assert len(stories) == counts["composites"] > 0
    assert len(articles) == counts["articles"]
    for col in ("story_id", "headline", "primary_outlet", "composite"):
        assert stories[col].dtype == "string", col
    for col in ("article_id", "story_id", "outlet", "title", "url", "text_source", "text"):
        assert articles[col].dtype == "string", col
    for col in ("story_id", "text", "outlet"):
        assert credits[col].dtype == "string", col
    assert stories["n_articles"].dtype == "int64"
    assert credits["paragraph"].dtype == credits["sentence"].dtype == "int64"
    for col in ("first_published", "last_updated"):
        assert_utc(stories[col])
    for col in ("published", "fetched"):
        assert_utc(articles[col])

    # One row per story, newest first; outlets a list in credit order, primary first.
    assert stories["story_id"].is_unique
    assert stories["last_updated"].is_monotonic_decreasing
    assert (stories["first_published"] <= stories["last_updated"]).all()
    for row in stories.itertuples():
        assert isinstance(row.outlets, list) and row.outlets[0] == row.primary_outlet
        assert row.composite == composites[row.story_id]["text"]
        assert row.outlets == composites[row.story_id]["outlets"]
    assert (stories["outlets"].map(len) >= 2).any(), "no story credited to two outlets"

    # Articles join their stories; every article has one.
    assert articles["article_id"].is_unique
    assert articles["story_id"].notna().all()
    members: dict[str, set[str]] = {}
    for story_id, outlet in zip(articles["story_id"], articles["outlet"], strict=True):
        members.setdefault(story_id, set()).add(outlet)
    for row in stories.itertuples():
        assert set(row.outlets) <= members[row.story_id]
    assert set(articles["text_source"]) <= {"page", "summary"}

    # Credits: each composite sentence, once per credited outlet, with that outlet's articles
    # and offsets into each article's text.
    assert set(credits["story_id"]) == set(stories["story_id"])
    assert not credits.duplicated(["story_id", "paragraph", "sentence", "outlet"]).any()
    text = dict(zip(articles["article_id"], articles["text"], strict=True))
    outlet_of = dict(zip(articles["article_id"], articles["outlet"], strict=True))
    for row in credits.itertuples():
        # The composite renders the sentence with its credit ("…, according to BBC.").
        assert row.text.rstrip(".!?\"'” ")[:60] in composites[row.story_id]["text"]
        assert len(row.article_ids) == len(row.offsets) >= 1
        for article_id, (start, end) in zip(row.article_ids, row.offsets, strict=True):
            assert outlet_of[article_id] == row.outlet
            # Where that outlet's article says it (its own wording: credits are evidence).
            assert 0 <= start < end <= len(text[article_id])


def test_filters_since_until_and_outlets(filled):
    everything = newsmerge.load_stories(store=filled)
    middle = everything["last_updated"].sort_values().iloc[len(everything) // 2]

    since = newsmerge.load_stories(since=middle, store=filled)
    until = newsmerge.load_stories(until=middle.to_pydatetime(), store=filled)
    assert (since["last_updated"] >= middle).all() and (until["last_updated"] <= middle).all()
    assert set(since["story_id"]) | set(until["story_id"]) == set(everything["story_id"])
    assert 0 < len(since) < len(everything)
    # An ISO string without a zone is UTC; with one it is converted.
    naive = middle.tz_convert(None).isoformat()
    assert newsmerge.load_stories(since=naive, store=filled).equals(since)
    hk = middle.tz_convert("Asia/Hong_Kong").isoformat()
    assert newsmerge.load_stories(since=hk, store=filled).equals(since)
    assert newsmerge.load_stories(since="2100-01-01", store=filled).empty

    bbc = newsmerge.load_stories(outlets=["bbc"], store=filled)  # any case
    assert len(bbc) > 0 and bbc["outlets"].map(lambda os: "BBC" in os).all()
    assert len(bbc) == int(everything["outlets"].map(lambda os: "BBC" in os).sum())

    articles = newsmerge.load_articles(since=middle, outlets=["BBC", "AA"], store=filled)
    assert set(articles["outlet"]) <= {"BBC", "AA"} and len(articles) > 0
    assert set(articles["story_id"]) <= set(since["story_id"])
    credits = newsmerge.load_credits(since=middle, outlets=["Al Jazeera"], store=filled)
    assert set(credits["outlet"]) <= {"Al Jazeera"}
    assert set(credits["story_id"]) <= set(since["story_id"])


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_export_round_trips(filled, tmp_path, fmt):
    written = newsmerge.export(tmp_path / fmt, fmt, store=filled)
    assert sorted(p.name for p in written) == sorted(
        f"{n}.{fmt}" for n in ("stories", "articles", "credits")
    )
    back = read_export(tmp_path / fmt, fmt)
    pd.testing.assert_frame_equal(back["stories"], newsmerge.load_stories(store=filled))
    pd.testing.assert_frame_equal(back["articles"], newsmerge.load_articles(store=filled))
    pd.testing.assert_frame_equal(back["credits"], newsmerge.load_credits(store=filled))
    if fmt == "csv":  # readable without newsmerge: lists as JSON, times with their zone
        raw = pd.read_csv(tmp_path / fmt / "stories.csv")
        assert isinstance(json.loads(raw["outlets"][0]), list)
        assert raw["last_updated"][0].endswith("+00:00")


def test_export_command_writes_the_frames(filled, tmp_path):
    """`newsmerge export` as a user runs it."""
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "newsmerge.cli",
            "export",
            "--format",
            "csv",
            "--store",
            filled,
            str(out),
        ],
        cwd=ROOT,
        env={**os.environ},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == ["articles.csv", "credits.csv", "stories.csv"]
    assert len(read_export(out, "csv")["stories"]) == len(newsmerge.load_stories(store=filled))
