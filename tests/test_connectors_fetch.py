"""The fetcher and fetch_outlet against a real HTTP server on 127.0.0.1, with faults on demand.

Requests go through newsmerge.replay's transport, which maps https://host/path to
{server}/host/path: the connector code sees the outlets' real URLs and hosts throughout.
"""

from __future__ import annotations

import gzip
import logging
from dataclasses import replace
from html import escape
from pathlib import Path

import pytest
from httpserver import FaultServer, Reply

from connectors import FeedState, fetch_outlet
from connectors.fetch import USER_AGENT, Fetcher, FetchError, parse_retry_after
from newsmerge.config import OutletConfig, PollingConfig
from newsmerge.replay import replay_transport

FIX = Path(__file__).parent / "fixtures"
BBC_FEED = "https://feeds.bbci.co.uk/news/world/rss.xml"
BBC_PATH = "/feeds.bbci.co.uk/news/world/rss.xml"
RSS = {"Content-Type": "application/rss+xml; charset=utf-8"}
FAST = PollingConfig(
    connect_timeout_s=2, read_timeout_s=2, max_retries=2, backoff_s=0.0, page_concurrency=2
)
PAGE = (
    "<html><body><nav>Home News Sport</nav><article><h1>Headline</h1>"
    + "".join(
        f"<p>Paragraph {i} of the story says something specific about the event in Qusra.</p>"
        for i in range(8)
    )
    + "</article><footer>Copyright 2026 BBC</footer></body></html>"
).encode()


def bbc(polling: PollingConfig = FAST, feeds: tuple[str, ...] = (BBC_FEED,)) -> OutletConfig:
    return OutletConfig("BBC", feeds, ("bbc.co.uk", "bbc.com"), "bbc", polling)


def feed_xml(*items: tuple[str, str]) -> bytes:
    body = "".join(
        f"<item><title>{t}</title><link>{escape(link)}</link><description>About {t}</description>"
        f"<pubDate>Thu, 13 Aug 2026 08:00:0{i} GMT</pubDate></item>"
        for i, (t, link) in enumerate(items)
    )
    return f'<rss version="2.0"><channel><title>t</title>{body}</channel></rss>'.encode()


@pytest.fixture
def server():
    with FaultServer() as s:
        yield s


@pytest.fixture
def sleeps() -> list[float]:
    return []


def fetcher(server: FaultServer, sleeps: list[float], polling: PollingConfig = FAST) -> Fetcher:
    return Fetcher(polling, transport=replay_transport(server.base_url), sleep=sleeps.append)


def test_real_feed_fetched_and_parsed(server: FaultServer) -> None:
    server.route(
        BBC_PATH, Reply(200, (FIX / "feeds/bbc_world_20260813T092633Z.xml").read_bytes(), RSS)
    )
    result = fetch_outlet(
        replace(bbc(), polling=replace(FAST, fetch_pages=False)),
        transport=replay_transport(server.base_url),
    )
    assert [f.status for f in result.feeds] == ["ok"] and not result.failed
    assert result.feeds[0].items_seen == 32 and len(result.articles) == 32
    assert all(a.url.startswith("https://www.bbc.co.uk/news/") for a in result.articles)
    assert all(a.feed_url == BBC_FEED and a.outlet == "BBC" for a in result.articles)
    seen = server.hits(BBC_PATH)[0].headers
    assert seen["User-Agent"] == USER_AGENT and "newsmerge" in USER_AGENT and "http" in USER_AGENT


@pytest.mark.parametrize("validator", ["etag", "last_modified"])
def test_conditional_get_second_poll_is_not_modified(server: FaultServer, validator: str) -> None:
    body = feed_xml(("One", "https://www.bbc.co.uk/news/articles/a1"))
    if validator == "etag":
        server.route(BBC_PATH, Reply(200, body, RSS, etag='"v1"'))
    else:
        server.route(BBC_PATH, Reply(200, body, RSS, last_modified="Thu, 13 Aug 2026 09:26:33 GMT"))
    outlet = replace(bbc(), polling=replace(FAST, fetch_pages=False))
    first = fetch_outlet(outlet, transport=replay_transport(server.base_url))
    feed = first.feeds[0]
    assert feed.status == "ok" and len(first.articles) == 1
    state = {BBC_FEED: FeedState(etag=feed.etag, last_modified=feed.last_modified)}
    second = fetch_outlet(outlet, state, transport=replay_transport(server.base_url))
    assert second.feeds[0].status == "not_modified"
    assert second.feeds[0].http_status == 304 and second.articles == () and not second.failed
    assert (second.feeds[0].etag, second.feeds[0].last_modified) == (feed.etag, feed.last_modified)
    sent = server.hits(BBC_PATH)[1].headers
    assert sent.get("If-None-Match" if validator == "etag" else "If-Modified-Since")


def test_gzip_body_is_decoded(server: FaultServer, sleeps: list[float]) -> None:
    body = (FIX / "feeds/aljazeera_20260813T085116Z.xml").read_bytes()
    server.route("/www.aljazeera.com/xml/rss/all.xml", Reply(200, body, RSS, gzip=True))
    with fetcher(server, sleeps) as f:
        resp = f.get("https://www.aljazeera.com/xml/rss/all.xml")
    assert resp.content == body and resp.headers["content-encoding"] == "gzip"
    assert "gzip" in server.requests[0].headers["Accept-Encoding"]


def test_redirects_are_followed_and_bounded(server: FaultServer, sleeps: list[float]) -> None:
    server.route("/www.bbc.co.uk/old", Reply(301, headers={"Location": "https://www.bbc.com/new"}))
    server.route("/www.bbc.com/new", Reply(302, headers={"Location": "/final"}))
    server.route("/www.bbc.com/final", Reply(200, b"here"))
    server.route("/www.bbc.com/loop", Reply(302, headers={"Location": "/loop"}))
    with fetcher(server, sleeps) as f:
        resp = f.get("https://www.bbc.co.uk/old")
        assert resp.content == b"here" and resp.url == "https://www.bbc.com/final"
        with pytest.raises(FetchError, match="more than 5 redirects"):
            f.get("https://www.bbc.com/loop")


def test_500_then_200_is_retried(server: FaultServer, sleeps: list[float]) -> None:
    server.route("/www.bbc.com/x", Reply(500), Reply(502), Reply(200, b"ok"))
    with fetcher(server, sleeps, replace(FAST, backoff_s=1.0)) as f:
        assert f.get("https://www.bbc.com/x").content == b"ok"
    assert sleeps == [1.0, 2.0]  # exponential backoff, never really slept


@pytest.mark.parametrize("retry_after", ["7", "Thu, 01 Jan 2099 00:00:00 GMT"])
def test_429_retry_after_is_honoured_or_refused(
    server: FaultServer, sleeps: list[float], retry_after: str
) -> None:
    server.route(
        "/www.bbc.com/x", Reply(429, headers={"Retry-After": retry_after}), Reply(200, b"ok")
    )
    with fetcher(server, sleeps) as f:
        if retry_after == "7":
            assert f.get("https://www.bbc.com/x").content == b"ok"
            assert sleeps == [7.0]
        else:  # decades away: beyond max_retry_after_s, give up instead of stalling the run
            with pytest.raises(FetchError, match=r"Retry-After .* exceeds") as err:
                f.get("https://www.bbc.com/x")
            assert err.value.status == 429 and sleeps == []


def test_parse_retry_after_http_date() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 8, 13, 9, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Thu, 13 Aug 2026 09:00:30 GMT", now) == 30.0
    assert parse_retry_after("12", now) == 12.0
    assert parse_retry_after("soon", now) is None


def test_503_forever_fails_the_feed(server: FaultServer, caplog) -> None:
    server.route(BBC_PATH, Reply(503, b"down"))
    with caplog.at_level(logging.WARNING, logger="newsmerge.connectors"):
        result = fetch_outlet(bbc(), transport=replay_transport(server.base_url))
    feed = result.feeds[0]
    assert feed.status == "failed" and result.failed and result.articles == ()
    assert feed.http_status == 503 and "HTTP 503" in feed.error and "3 attempts" in feed.error
    assert len(server.hits(BBC_PATH)) == 3  # max_retries=2 → three tries
    assert "HTTP 503" in caplog.text


def test_read_timeout_fails_the_feed(server: FaultServer) -> None:
    server.route(BBC_PATH, Reply(200, b"late", delay=1.0))
    polling = replace(FAST, read_timeout_s=0.1, max_retries=0)
    result = fetch_outlet(bbc(polling), transport=replay_transport(server.base_url))
    assert result.failed and "timed out" in result.feeds[0].error


def test_html_where_rss_expected_is_a_failed_feed(server: FaultServer) -> None:
    server.route(BBC_PATH, Reply(200, b"<!DOCTYPE html><html><body>Sorry</body></html>"))
    result = fetch_outlet(bbc(), transport=replay_transport(server.base_url))
    assert result.failed and "HTML page where a feed was expected" in result.feeds[0].error
    assert result.feeds[0].http_status == 200


def test_truncated_xml_is_a_failed_feed(server: FaultServer) -> None:
    whole = (FIX / "feeds/bbc_world_20260813T092633Z.xml").read_bytes()
    server.route(BBC_PATH, Reply(200, whole[: len(whole) // 2], RSS))
    result = fetch_outlet(bbc(), transport=replay_transport(server.base_url))
    assert result.failed and "malformed feed XML" in result.feeds[0].error


def test_oversize_body_refused(server: FaultServer, sleeps: list[float]) -> None:
    small = replace(FAST, max_body_bytes=1000)
    server.route("/www.bbc.com/big", Reply(200, b"x" * 5000))
    with fetcher(server, sleeps, small) as f, pytest.raises(FetchError, match="max_body_bytes"):
        f.get("https://www.bbc.com/big")


def test_gzip_bomb_refused_without_inflating(server: FaultServer, sleeps: list[float]) -> None:
    bomb = gzip.compress(b"\0" * 20_000_000)  # ~20 kB on the wire, 20 MB inflated
    server.route("/www.bbc.com/bomb", Reply(200, raw_gzip=bomb))
    small = replace(FAST, max_body_bytes=1_000_000)
    with fetcher(server, sleeps, small) as f, pytest.raises(FetchError, match="decompression"):
        f.get("https://www.bbc.com/bomb")


def test_pages_extracted_and_offsite_pages_not_fetched(server: FaultServer, caplog) -> None:
    server.route(
        BBC_PATH,
        Reply(
            200,
            feed_xml(
                ("On site", "https://www.bbc.co.uk/news/articles/a1?at_medium=RSS"),
                ("Off site", "https://evil.example.com/news/a2"),
                ("Private IP", "http://10.0.0.7/news/a3"),
                ("Missing", "https://www.bbc.co.uk/news/articles/gone"),
            ),
            RSS,
        ),
    )
    server.route("/www.bbc.co.uk/news/articles/a1", Reply(200, PAGE, {"Content-Type": "text/html"}))
    server.route("/evil.example.com/news/a2", Reply(200, PAGE))
    with caplog.at_level(logging.WARNING, logger="newsmerge.connectors"):
        result = fetch_outlet(bbc(), transport=replay_transport(server.base_url))
    by_title = {a.title: a for a in result.articles}
    on = by_title["On site"]
    assert on.text_source == "page" and "Paragraph 7 of the story" in on.text
    assert "Copyright" not in on.text and "Home News Sport" not in on.text
    for title in ("Off site", "Private IP", "Missing"):
        a = by_title[title]
        assert a.text_source == "summary" and a.text == f"About {title}"
    errors = {e.url: e.error for e in result.item_errors}
    assert "not one of BBC's domains" in errors["https://evil.example.com/news/a2"]
    assert "loopback/private/link-local" in errors["http://10.0.0.7/news/a3"]
    assert "HTTP 404" in errors["https://www.bbc.co.uk/news/articles/gone"]
    assert server.hits("/evil.example.com/news/a2") == []  # never requested
    assert "evil.example.com" in caplog.text


def test_redirect_off_the_outlets_domains_is_refused(server: FaultServer) -> None:
    server.route(BBC_PATH, Reply(200, feed_xml(("Hop", "https://www.bbc.com/news/hop")), RSS))
    server.route("/www.bbc.com/news/hop", Reply(302, headers={"Location": "http://127.0.0.1/x"}))
    result = fetch_outlet(bbc(), transport=replay_transport(server.base_url))
    assert result.articles[0].text_source == "summary"
    assert "loopback" in result.item_errors[0].error


def test_skip_pages_and_video_items_are_not_fetched(server: FaultServer) -> None:
    server.route(
        BBC_PATH,
        Reply(
            200,
            feed_xml(
                ("Stored", "https://www.bbc.co.uk/news/articles/a1"),
                ("Watch: a clip", "https://www.bbc.co.uk/news/videos/v1"),
            ),
            RSS,
        ),
    )
    result = fetch_outlet(
        bbc(),
        transport=replay_transport(server.base_url),
        skip_pages={"https://www.bbc.co.uk/news/articles/a1"},
    )
    assert {a.text_source for a in result.articles} == {"summary"}
    assert result.item_errors == ()
    assert [r.path for r in server.requests] == [BBC_PATH]


def test_article_in_two_feeds_returned_once_and_one_bad_feed_is_not_fatal(
    server: FaultServer,
) -> None:
    second = "https://feeds.bbci.co.uk/news/uk/rss.xml"
    shared = ("Shared", "https://www.bbc.co.uk/news/articles/s1?at_medium=RSS&at_campaign=rss")
    server.route(BBC_PATH, Reply(200, feed_xml(shared), RSS))
    server.route("/feeds.bbci.co.uk/news/uk/rss.xml", Reply(200, feed_xml(shared), RSS))
    third = "https://feeds.bbci.co.uk/news/gone.xml"  # 404
    outlet = bbc(replace(FAST, fetch_pages=False), feeds=(BBC_FEED, second, third))
    result = fetch_outlet(outlet, transport=replay_transport(server.base_url))
    assert [f.status for f in result.feeds] == ["ok", "ok", "failed"] and not result.failed
    assert "HTTP 404" in result.feeds[2].error
    assert [a.url for a in result.articles] == ["https://www.bbc.co.uk/news/articles/s1"]


def test_unreachable_host_is_a_failed_feed() -> None:
    # Nothing listens on port 9 of localhost: connection refused, retried, then failed.
    result = fetch_outlet(
        bbc(replace(FAST, max_retries=1)), transport=replay_transport("http://127.0.0.1:9")
    )
    assert result.failed and "transport error" in result.feeds[0].error
