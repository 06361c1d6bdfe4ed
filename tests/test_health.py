"""Outlet health: failing feeds back off instead of being hammered or dropped, and recover."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from newsmerge import pipeline
from newsmerge.cli import main
from newsmerge.config import OutletConfig, PollingConfig
from newsmerge.store import Store
from tests.httpserver import FaultServer, Reply

FEEDS = Path(__file__).parent / "fixtures" / "feeds"
T0 = datetime(2026, 8, 13, 4, 0, tzinfo=UTC)


def outlet() -> OutletConfig:
    polling = PollingConfig(
        interval_minutes=15, max_backoff_minutes=60, max_retries=0, fetch_pages=False
    )
    return OutletConfig(
        name="BBC",
        feeds=("https://feeds.bbci.co.uk/flaky.xml", "https://feeds.bbci.co.uk/steady.xml"),
        domains=("bbc.co.uk", "bbc.com"),
        module="bbc",
        polling=polling,
    )


def poll(o: OutletConfig, store_url: str, base: str, now: datetime) -> pipeline.OutletReport:
    """One live-style poll (backoff on) whose traffic goes to the local fault server."""
    outcome = pipeline.fetch(o, store_url, base, now=now, backoff=True)
    return pipeline.store_result(outcome, store_url)


def test_failing_feed_backs_off_exponentially_then_recovers(tmp_path, capsys):
    rss = next(FEEDS.glob("bbc*.xml")).read_bytes()
    store_url = f"sqlite:///{tmp_path / 'nm.db'}"
    with FaultServer() as server:
        server.route("/feeds.bbci.co.uk/flaky.xml", Reply(503, b"down"))
        server.route(
            "/feeds.bbci.co.uk/steady.xml", Reply(200, rss, {"Content-Type": "application/rss+xml"})
        )
        o = outlet()
        flaky = o.feeds[0]

        first = poll(o, store_url, server.base_url, T0)
        assert first.failed_feeds == 1 and first.new > 0
        # 1 failure → wait one interval (15 min); 2 → 30; 3 → 60 (the cap); 4 → still 60.
        schedule = [
            (T0 + timedelta(minutes=5), False),
            (T0 + timedelta(minutes=16), True),
            (T0 + timedelta(minutes=40), False),
            (T0 + timedelta(minutes=47), True),
            (T0 + timedelta(minutes=100), False),
            (T0 + timedelta(minutes=108), True),
            (T0 + timedelta(minutes=160), False),
            (T0 + timedelta(minutes=169), True),
        ]
        for now, tried in schedule:
            before = len(server.hits("/feeds.bbci.co.uk/flaky.xml"))
            report = poll(o, store_url, server.base_url, now)
            assert (len(server.hits("/feeds.bbci.co.uk/flaky.xml")) > before) == tried, now
            assert report.backing_off == (0 if tried else 1)
            assert report.failed_feeds == (1 if tried else 0)
        with Store(store_url) as store:
            state = store.feed_states()[flaky]
        assert state.consecutive_failures == 5
        assert state.last_error and "503" in state.last_error

        # The outlet comes back: the next due poll succeeds and the backoff is forgotten.
        server.route(
            "/feeds.bbci.co.uk/flaky.xml", Reply(200, rss, {"Content-Type": "application/rss+xml"})
        )
        report = poll(o, store_url, server.base_url, T0 + timedelta(minutes=300))
        assert report.failed_feeds == 0 and report.backing_off == 0
        with Store(store_url) as store:
            state = store.feed_states()[flaky]
        assert state.consecutive_failures == 0 and state.last_error is None
        assert state.last_success is not None
        # The other feed of the outlet was polled every time, failing neighbour or not.
        assert len(server.hits("/feeds.bbci.co.uk/steady.xml")) == 1 + len(schedule) + 1


def test_status_shows_each_feeds_health(tmp_path, capsys):
    store_url = f"sqlite:///{tmp_path / 'nm.db'}"
    with Store(store_url) as store:
        store.record_feed(
            "BBC",
            "https://feeds.bbci.co.uk/news/world/rss.xml",
            "failed",
            error="HTTP 503 Service Unavailable",
        )
        store.record_feed("SCMP", "https://www.scmp.com/rss/4/feed", "ok", etag='"x"')
    assert main(["status", "--store", store_url]) == 0
    out = capsys.readouterr().out
    bbc = next(line for line in out.splitlines() if "feeds.bbci.co.uk" in line)
    assert "failed" in bbc and "HTTP 503" in bbc and " 1 " in bbc
    scmp = next(line for line in out.splitlines() if "scmp.com/rss/4" in line)
    assert " ok " in scmp and "next run" in scmp
    assert "never polled" in out  # AA and Al Jazeera feeds in this store were never polled
    assert main(["status", "--store", store_url, "--check"]) == 1
