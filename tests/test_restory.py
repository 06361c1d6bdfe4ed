"""`newsmerge restory`: a store whose open window another version decided is decided again.

The scenario a user meets after an upgrade: the replayed capture was put into stories by the
lexical path (encoder "none", as a store built before the embeddings extra); today's settings
run the news-tuned encoder. Real stores (SQLite and PostgreSQL), the pipeline's own stages.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import sqlalchemy as sa

from dedup.embeddings import available
from newsmerge import pipeline
from newsmerge.cli import main
from newsmerge.config import load_config
from newsmerge.replay import serve_capture
from newsmerge.store import Store, memberships
from tests.conftest import CAPTURES

pytestmark = pytest.mark.skipif(not available(), reason="embeddings extra not installed")
CAPTURE = CAPTURES / "2026-08-13"


def _fill(url: str, settings) -> None:
    config = load_config(store_url=url)
    with serve_capture(CAPTURE) as server:
        for outlet in config.outlets:
            pipeline.store_result(pipeline.fetch(outlet, url, server.base_url), url)
    pipeline.detect_stories(url, settings)
    pipeline.build_composites(url, pipeline.dirty_stories(url), settings.encoder)


def _partition(url: str) -> set[frozenset[str]]:
    with Store(url) as store, store.engine.connect() as conn:
        rows = conn.execute(sa.select(memberships.c.article_id, memberships.c.story_id)).all()
    stories: dict[str, set[str]] = {}
    for article_id, story_id in rows:
        stories.setdefault(story_id, set()).add(article_id)
    return {frozenset(s) for s in stories.values()}


def _evidence(url: str) -> list[dict]:
    with Store(url) as store, store.engine.connect() as conn:
        return [json.loads(e) for (e,) in conn.execute(sa.select(memberships.c.evidence))]


def test_restory_makes_an_old_window_what_todays_settings_make(store_url, tmp_path, capsys):
    today = pipeline.dedup_settings(load_config(store_url=store_url))
    _fill(store_url, replace(today, encoder="none"))
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    _fill(fresh, today)
    assert _partition(store_url) != _partition(fresh)  # the two versions disagree somewhere

    # status says the window is stale, and how to fix it
    assert main(["status", "--store", store_url]) == 0
    out = capsys.readouterr().out
    assert "71 decided by another version (71 by dedup-1.6 / none" in out
    assert "`newsmerge restory`" in out

    assert main(["restory", "--store", store_url]) == 0
    out = capsys.readouterr().out
    assert "restory: 71 articles since 2026-08-10" in out

    # the same stories a fresh run with today's settings makes, decided by today's encoder
    assert _partition(store_url) == _partition(fresh)
    evidence = _evidence(store_url)
    assert len(evidence) == 71
    assert {e["encoder"] for e in evidence} == {"minilm-l6-v2-news"}
    assert all(e["redecided"] for e in evidence)
    with Store(store_url) as store:
        counts = store.counts()
        assert counts["articles"] == counts["memberships"] == 71
        # no story left empty, every story's composite rebuilt from its new members
        assert counts["stories"] == counts["composites"] == len(_partition(fresh))
        assert not store.dirty_stories()
        for c in store.composites():
            assert c["n_articles"] == len(store.story_articles(c["story_id"]))
    assert main(["status", "--store", store_url]) == 0
    assert "another version" not in capsys.readouterr().out

    # a second restory changes nothing
    report = pipeline.redecide_window(store_url, today)
    assert (report.redecided, report.moved, report.changed_stories) == (71, 0, ())
    assert report.removed_stories == ()
    assert _partition(store_url) == _partition(fresh)


def test_restory_of_an_empty_store_says_so(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    assert main(["restory", "--store", url]) == 0
    assert "no assigned articles" in capsys.readouterr().out


def test_a_flow_run_with_restory_true_decides_the_window_again(prefect_api, tmp_path):
    """The Prefect way: `prefect deployment run 'news-pipeline/poll' -p restory=true` after an
    upgrade. The replay polled again adds nothing; the window is decided by today's encoder and
    every changed story's composite is rebuilt in the same run."""
    from flows.pipeline import news_pipeline

    url = f"sqlite:///{tmp_path / 'old.db'}"
    today = pipeline.dedup_settings(load_config(store_url=url))
    _fill(url, replace(today, encoder="none"))
    fresh = f"sqlite:///{tmp_path / 'fresh.db'}"
    _fill(fresh, today)

    summary = news_pipeline(replay=str(CAPTURE), store_url=url, restory=True)
    assert sum(r.new for r in summary.outlets) == 0
    assert _partition(url) == _partition(fresh)
    assert {e["encoder"] for e in _evidence(url)} == {"minilm-l6-v2-news"}
    assert summary.composites_built  # the changed stories, rebuilt by this run
    with Store(url) as store:
        counts = store.counts()
        assert counts["stories"] == counts["composites"] == len(_partition(fresh))
        assert not store.dirty_stories()
