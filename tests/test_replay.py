"""The replay server and transport: the 2026-08-13 capture end to end, offline."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from connectors import FeedState, fetch_outlet
from newsmerge.config import load_config
from newsmerge.replay import (
    CaptureError,
    load_capture,
    replay_path,
    replay_transport,
    serve_capture,
    transport_for,
)

ROOT = Path(__file__).resolve().parent.parent
CAPTURE = ROOT / "seeds" / "captures" / "2026-08-13"
CONFIG = ROOT / "config" / "outlets.toml"


def write_capture(tmp_path: Path, responses: list[dict], files: dict[str, bytes]) -> Path:
    for name, body in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(body)
    (tmp_path / "capture.json").write_text(json.dumps({"description": "t", "responses": responses}))
    return tmp_path


def test_capture_is_small_and_marks_what_is_written() -> None:
    capture = load_capture(CAPTURE)
    assert sum(f.stat().st_size for f in CAPTURE.rglob("*") if f.is_file()) < 1_500_000
    for r in capture.responses:
        assert r.provenance.startswith(("captured", "written"))
        if r.provenance.startswith("written") and r.body:
            assert b"written" in r.body[:600]  # the file itself says so too


@pytest.mark.parametrize(
    ("manifest", "files", "message"),
    [
        (None, {}, "no such capture file"),
        ("{not json", {}, "not valid JSON"),
        ({"responses": [{"url": "https://a.com/x", "file": "x.xml"}]}, {}, "listed but absent"),
        ({"responses": [{"url": "ftp://a.com/x"}]}, {}, "http"),
        ({"responses": [{"url": "https://a.com/x", "file": "../../etc/passwd"}]}, {}, "outside"),
        ({"nothing": []}, {}, "'responses' list"),
    ],
)
def test_load_capture_errors_are_clear(tmp_path: Path, manifest, files, message: str) -> None:
    if manifest is not None:
        text = manifest if isinstance(manifest, str) else json.dumps(manifest)
        (tmp_path / "capture.json").write_text(text)
    with pytest.raises(CaptureError, match=message):
        load_capture(tmp_path)


def test_replay_path_keeps_host_path_and_query() -> None:
    assert replay_path("https://www.aa.com.tr/en/rss/default?cat=world") == (
        "/www.aa.com.tr/en/rss/default?cat=world"
    )
    assert replay_path("https://Feeds.BBCI.co.uk/news/world/rss.xml") == (
        "/feeds.bbci.co.uk/news/world/rss.xml"
    )


def test_server_does_conditional_get_gzip_and_404(tmp_path: Path) -> None:
    path = write_capture(
        tmp_path,
        [
            {
                "url": "https://example.com/feed?a=1",
                "file": "f.xml",
                "status": 200,
                "headers": {"Content-Type": "application/rss+xml"},
            }
        ],
        {"f.xml": b"<rss>hello</rss>" * 50},
    )
    with serve_capture(path) as srv, httpx.Client(transport=replay_transport(srv.base_url)) as c:
        r = c.get("https://example.com/feed?a=1", headers={"Accept-Encoding": "gzip"})
        assert r.status_code == 200 and r.content == b"<rss>hello</rss>" * 50
        assert r.headers["content-encoding"] == "gzip"
        assert r.request.url == "https://example.com/feed?a=1"  # the caller sees the real URL
        etag, lm = r.headers["etag"], r.headers["last-modified"]
        assert etag.startswith('"') and not etag.startswith("W/")
        assert (
            c.get("https://example.com/feed?a=1", headers={"If-None-Match": etag}).status_code
            == 304
        )
        assert (
            c.get("https://example.com/feed?a=1", headers={"If-Modified-Since": lm}).status_code
            == 304
        )
        assert c.get("https://example.com/feed?a=2").status_code == 404
        assert c.get("https://other.example/feed?a=1").status_code == 404
    with pytest.raises(httpx.ConnectError):  # shut down on exit
        httpx.get(srv.base_url + "/example.com/feed?a=1", timeout=1)


def test_transport_for_plain_strings() -> None:
    assert transport_for(None) is None and transport_for("") is None
    assert isinstance(transport_for("http://127.0.0.1:1"), httpx.BaseTransport)


def test_capture_end_to_end_through_fetch_outlet() -> None:
    config = load_config(CONFIG, store_url="sqlite://")
    with serve_capture(CAPTURE) as srv:
        results = {
            o.name: fetch_outlet(o, transport=replay_transport(srv.base_url))
            for o in config.outlets
        }
        bbc_state = {f.feed_url: FeedState(f.etag, f.last_modified) for f in results["BBC"].feeds}
        again = fetch_outlet(
            config.outlet("BBC"), bbc_state, transport=replay_transport(srv.base_url)
        )
    assert not any(r.failed for r in results.values())
    assert [f.status for f in again.feeds] == ["not_modified"] and again.articles == ()

    scmp, aa, bbc, aj = (results[n] for n in ("SCMP", "AA", "BBC", "Al Jazeera"))
    # SCMP's China feed is not in the capture: a failed feed with the reason, not a crash.
    assert [(f.status, f.http_status) for f in scmp.feeds] == [("ok", 200), ("failed", 404)]
    assert "HTTP 404" in scmp.feeds[1].error
    # AA's americas items are also in its world feed: each article once.
    assert len(aa.articles) == len({a.url for a in aa.articles}) == 8
    assert len(bbc.articles) == 32 and len(aj.articles) == 25

    for r in results.values():
        for a in r.articles:
            assert (
                "utm_" not in a.url and "at_medium" not in a.url and "traffic_source" not in a.url
            )
            assert "127.0.0.1" not in a.url and a.published is not None
    # Written pages give full text; the rest fall back to their summary, with the reason.
    assert all(a.text_source == "page" for a in scmp.articles + aa.articles)
    pages = {a.url: a for r in results.values() for a in r.articles if a.text_source == "page"}
    leavitt = pages["https://www.bbc.co.uk/news/articles/cvglzrvyrz3o"]  # via bbc.co.uk → bbc.com
    assert leavitt.text.startswith("Karoline Leavitt is to leave her job as White House press")
    aj_quake = next(a for a in aj.articles if "final-phase" in a.url)
    assert aj_quake.text_source == "page" and "265" in aj_quake.text
    assert "SOURCE:" not in aj_quake.text
    assert any("HTTP 404" in e.error for e in bbc.item_errors)
    # Boilerplate stays out of the extracted text.
    for a in pages.values():
        for chrome in ("Subscribe", "All rights reserved", "Share on", "Related news", "More on"):
            assert chrome not in a.text
    # Wire copy: SCMP republished AA's sentences, as the merger should find.
    aa_quake = next(a for a in aa.articles if a.url.endswith("/3661234"))
    scmp_quake = next(a for a in scmp.articles if "/3322514/" in a.url)
    shared = "Most of the victims were recorded in Cali, the country's third-most populous city"
    assert shared in aa_quake.text and shared in scmp_quake.text
