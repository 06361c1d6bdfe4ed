"""Hostile feeds and flaky outlets, served for real by a fault-injecting server on 127.0.0.1.

Every case states its expected outcome, and every case runs next to a healthy feed (or healthy
items) of the same outlet that must come through untouched: one bad feed, page or item costs
itself, never the run. Requests go through newsmerge.replay's transport (the connector code
sees the outlets' real URLs); a fake resolver stands in for DNS, so no test needs the internet.

docs/reliability.md lists each case with the guard it exercises.
"""

from __future__ import annotations

import gzip
import logging
import socket
import tracemalloc
from dataclasses import replace
from datetime import UTC, datetime
from html import escape
from pathlib import Path

import httpx
import pytest
from httpserver import FaultServer, Reply

from connectors import fetch_outlet
from connectors.fetch import Fetcher, FetchError
from connectors.netguard import GuardedTransport, ip_problem, is_ip_literal, url_address_problem
from connectors.sanitize import has_markup
from newsmerge.config import OutletConfig, PollingConfig
from newsmerge.replay import replay_transport

FAULTS = Path(__file__).parent / "fixtures" / "faults"
FEEDS = Path(__file__).parent / "fixtures" / "feeds"
RSS = {"Content-Type": "application/rss+xml; charset=utf-8"}
HTML = {"Content-Type": "text/html; charset=utf-8"}
FAST = PollingConfig(
    connect_timeout_s=2,
    read_timeout_s=2,
    max_retries=1,
    backoff_s=0.0,
    max_retry_after_s=1.0,
    max_body_bytes=1_000_000,
    page_concurrency=4,
)
BAD_FEED = "https://www.scmp.com/rss/4/feed"
GOOD_FEED = "https://www.scmp.com/rss/91/feed"
PUBLIC_IP = "93.184.216.34"
FAKE_DNS = {
    "evil.scmp.com": ["127.0.0.1"],
    "metadata.scmp.com": ["169.254.169.254"],
    "mixed.scmp.com": [PUBLIC_IP, "10.1.2.3"],  # one private record among public ones
}
PAGE = (
    "<html><body><nav>Home News</nav><article><h1>Good story</h1>"
    + "".join(
        f"<p>Paragraph {i} of the good story reports a specific fact about the harbour.</p>"
        for i in range(8)
    )
    + "</article></body></html>"
).encode()


def fake_resolver(host: str, port: int) -> list[str]:
    """DNS for tests: the hostile names above, everything else a public address."""
    return FAKE_DNS.get(host, [PUBLIC_IP])


def path_of(url: str) -> str:
    u = httpx.URL(url)
    return f"/{u.netloc.decode()}{u.raw_path.decode()}"


def item(
    title: str,
    link: str,
    *,
    guid: str | None = None,
    date: str | None = "default",
    summary: str | None = None,
) -> str:
    date = "Thu, 13 Aug 2026 08:00:00 GMT" if date == "default" else date
    return (
        "<item>"
        f"<title>{escape(title)}</title><link>{escape(link)}</link>"
        + (f"<guid>{escape(guid)}</guid>" if guid else "")
        + f"<description>{escape(summary if summary is not None else 'About ' + title)}"
        "</description>" + (f"<pubDate>{date}</pubDate>" if date else "") + "</item>"
    )


def rss(*items: str) -> bytes:
    return (
        '<rss version="2.0"><channel><title>t</title>' + "".join(items) + "</channel></rss>"
    ).encode()


GOOD_BODY = rss(item("Good story", "https://www.scmp.com/news/good"))


def scmp(polling: PollingConfig = FAST, feeds: tuple[str, ...] = (BAD_FEED, GOOD_FEED)):
    return OutletConfig("SCMP", feeds, ("scmp.com",), "scmp", polling)


@pytest.fixture
def server():
    with FaultServer() as s:
        yield s


def run(server: FaultServer, outlet: OutletConfig, **kw):
    return fetch_outlet(
        outlet, transport=replay_transport(server.base_url), resolver=fake_resolver, **kw
    )


def assert_good_feed_survived(server: FaultServer, result) -> None:
    good = result.feeds[-1]
    assert good.feed_url == GOOD_FEED and good.status == "ok", good
    assert "Good story" in {a.title for a in result.articles}
    assert not result.failed


# --- feed-level faults -----------------------------------------------------------------------
# (name, replies for the bad feed, expected status, expected error fragment or None, polling)
_TRUNCATED = (FEEDS / "bbc_world_20260813T092633Z.xml").read_bytes()
FEED_FAULTS = [
    ("500 then 200", [Reply(500), Reply(200, GOOD_BODY, RSS)], "ok", None),
    (
        "429 Retry-After 0 then 200",
        [Reply(429, headers={"Retry-After": "0"}), Reply(200, GOOD_BODY, RSS)],
        "ok",
        None,
    ),
    (
        "429 Retry-After 120 (too long to wait)",
        [Reply(429, headers={"Retry-After": "120"})],
        "failed",
        "exceeds",
    ),
    ("503 forever", [Reply(503, b"down")], "failed", "HTTP 503"),
    ("stall before the headers", [Reply(200, GOOD_BODY, RSS, delay=1.0)], "failed", "timed out"),
    (
        "stall in the middle of the body",
        [Reply(200, GOOD_BODY, RSS, body_delay=1.0)],
        "failed",
        "timed out",
    ),
    (
        "connection dropped mid-XML",
        [Reply(200, _TRUNCATED, RSS, truncate=len(_TRUNCATED) // 2)],
        "failed",
        "transport error",
    ),
    (
        "complete response, XML cut off",
        [Reply(200, _TRUNCATED[: len(_TRUNCATED) // 2], RSS)],
        "failed",
        "malformed feed XML",
    ),
    (
        "malformed XML",
        [Reply(200, b'<rss version="2.0"><channel><item><title>a</item></channel></rss>', RSS)],
        "failed",
        "malformed feed XML",
    ),
    (
        "HTML error page served as RSS",
        [Reply(200, b"<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>", RSS)],
        "failed",
        "HTML page where a feed was expected",
    ),
    ("empty 200", [Reply(200, b"", RSS)], "failed", "empty response"),
    ("JSON instead of XML", [Reply(200, b'{"items": []}', RSS)], "failed", "not an RSS or Atom"),
    (
        "50 MB body, streamed without Content-Length",
        [Reply(200, b"<rss>", RSS, stream=50_000_000)],
        "failed",
        "max_body_bytes",
    ),
    (
        "gzip bomb (100 MB inflated)",
        [Reply(200, headers=RSS, raw_gzip=(FAULTS / "gzip_bomb_100mb.gz").read_bytes())],
        "failed",
        "after decompression",
    ),
    (
        "corrupt gzip",
        [Reply(200, headers=RSS, raw_gzip=b"\x1f\x8b\x08\x00garbage")],
        "failed",
        "corrupt compressed body",
    ),
    ("redirect loop", [Reply(302, headers={"Location": "/rss/4/feed"})], "failed", "redirect"),
    (
        "redirect to another host",
        [Reply(302, headers={"Location": "https://evil.example.com/feed.xml"})],
        "failed",
        "feed redirected to another host evil.example.com",
    ),
    (
        "redirect to the metadata service",
        [Reply(302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})],
        "failed",
        "loopback/private/link-local",
    ),
    (
        "redirect to a file: URL",
        [Reply(302, headers={"Location": "file:///etc/passwd"})],
        "failed",
        "not http(s)",
    ),
    (
        "redirect to an outlet host that resolves to 127.0.0.1",
        [Reply(302, headers={"Location": "https://evil.scmp.com/feed.xml"})],
        "failed",
        "resolves to 127.0.0.1",
    ),
    (
        "billion laughs",
        [Reply(200, (FAULTS / "billion_laughs.xml").read_bytes(), RSS)],
        "failed",
        "declares XML entities",
    ),
    (
        "quadratic entity blowup",
        [Reply(200, (FAULTS / "quadratic_blowup.xml").read_bytes(), RSS)],
        "failed",
        "declares XML entities",
    ),
]


@pytest.mark.parametrize(
    ("replies", "status", "error"),
    [pytest.param(r, s, e, id=name) for name, r, s, e in FEED_FAULTS],
)
def test_feed_fault_costs_only_that_feed(server: FaultServer, replies, status, error) -> None:
    server.route(path_of(BAD_FEED), *replies)
    server.route(path_of(GOOD_FEED), Reply(200, GOOD_BODY, RSS))
    server.route("/www.scmp.com/news/good", Reply(200, PAGE, HTML))
    polling = replace(FAST, read_timeout_s=0.3) if error == "timed out" else FAST
    result = run(server, scmp(polling))
    bad = result.feeds[0]
    assert bad.status == status, bad
    if error:
        assert error in bad.error
    assert_good_feed_survived(server, result)
    # Hosts we refused to contact were never contacted.
    assert server.hits("/evil.example.com/feed.xml") == []
    assert server.hits("/evil.scmp.com/feed.xml") == []
    assert not [r for r in server.requests if r.path.startswith(("/169.254", "/etc"))]


def test_retry_counts_are_bounded(server: FaultServer) -> None:
    server.route(path_of(BAD_FEED), Reply(503))
    server.route(path_of(GOOD_FEED), Reply(200, GOOD_BODY, RSS))
    result = run(server, scmp(replace(FAST, max_retries=2, fetch_pages=False)))
    assert "3 attempts" in result.feeds[0].error
    assert len(server.hits(path_of(BAD_FEED))) == 3
    # Refusals are not retried: a redirect to file: is asked once.
    server.route(path_of(BAD_FEED), Reply(302, headers={"Location": "file:///etc/passwd"}))
    before = len(server.hits(path_of(BAD_FEED)))
    run(server, scmp(replace(FAST, max_retries=2, fetch_pages=False)))
    assert len(server.hits(path_of(BAD_FEED))) == before + 1


def test_feed_redirect_within_the_outlet_is_followed(server: FaultServer) -> None:
    server.route(path_of(BAD_FEED), Reply(301, headers={"Location": "https://cdn.scmp.com/r.xml"}))
    server.route(
        "/cdn.scmp.com/r.xml", Reply(200, rss(item("Moved", "https://www.scmp.com/m")), RSS)
    )
    server.route(path_of(GOOD_FEED), Reply(200, GOOD_BODY, RSS))
    result = run(server, scmp(replace(FAST, fetch_pages=False)))
    assert [f.status for f in result.feeds] == ["ok", "ok"]
    assert {a.title for a in result.articles} == {"Moved", "Good story"}


@pytest.mark.parametrize(
    "payload", ["billion_laughs.xml", "quadratic_blowup.xml"], ids=["billion", "quadratic"]
)
def test_entity_expansion_is_refused_cheaply(server: FaultServer, payload: str) -> None:
    body = (FAULTS / payload).read_bytes()
    server.route(path_of(BAD_FEED), Reply(200, body, RSS))
    server.route(path_of(GOOD_FEED), Reply(200, GOOD_BODY, RSS))
    tracemalloc.start()
    try:
        result = run(server, scmp(replace(FAST, fetch_pages=False)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "declares XML entities" in result.feeds[0].error
    assert peak < 20_000_000  # the payloads expand to ~1 GB
    assert all("lol" not in a.title and "AAAA" not in a.title for a in result.articles)


def test_external_entities_are_never_resolved(server: FaultServer, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET-XXE-MARKER")
    body = (FAULTS / "xxe.xml.tmpl").read_text().replace("/{SECRET}", str(secret)).encode()
    server.route(path_of(BAD_FEED), Reply(200, body, RSS))
    server.route(path_of(GOOD_FEED), Reply(200, GOOD_BODY, RSS))
    result = run(server, scmp(replace(FAST, fetch_pages=False)))
    assert result.feeds[0].status == "failed" and "declares XML entities" in result.feeds[0].error
    assert "TOPSECRET" not in repr(result)
    assert len(server.requests) == 2  # the parameter entity's URL was never requested


def test_feedparser_alone_does_not_expand_entities(tmp_path: Path) -> None:
    """Below our guard: feedparser 6 + expat neither expands nor fetches entities (proof for
    docs/reliability.md; our DOCTYPE refusal comes first so this is defence in depth)."""
    import feedparser

    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET-XXE-MARKER")
    xxe = (FAULTS / "xxe.xml.tmpl").read_text().replace("/{SECRET}", str(secret)).encode()
    for body in (
        xxe,
        (FAULTS / "billion_laughs.xml").read_bytes(),
        (FAULTS / "quadratic_blowup.xml").read_bytes(),
    ):
        parsed = feedparser.parse(body)
        text = repr(parsed.entries)
        assert "TOPSECRET" not in text and "lollol" not in text and "A" * 1000 not in text


@pytest.mark.parametrize(
    ("fixture", "title", "summary"),
    [
        (
            "cp1252_declared_utf8.xml",
            "Café owners “fear” a €5 levy — and more",
            "Naïve ‘quotes’ from São Paulo",
        ),
        (
            "latin1_declared_utf8.xml",
            'Café owners "fear" a EUR 5 levy - and more',
            "Naïve 'quotes' from São Paulo",
        ),
    ],
)
def test_mis_declared_encoding_gives_readable_text(
    server: FaultServer, fixture: str, title: str, summary: str
) -> None:
    server.route(path_of(BAD_FEED), Reply(200, (FAULTS / fixture).read_bytes(), RSS))
    server.route(path_of(GOOD_FEED), Reply(200, GOOD_BODY, RSS))
    result = run(server, scmp(replace(FAST, fetch_pages=False)))
    assert [f.status for f in result.feeds] == ["ok", "ok"]
    a = next(a for a in result.articles if a.url == "https://www.scmp.com/news/cafe")
    assert (a.title, a.summary) == (title, summary)
    assert "\ufffd" not in a.title + a.summary and "Ã" not in a.title + a.summary


def test_big_bodies_are_refused_while_streaming(server: FaultServer) -> None:
    bomb = (FAULTS / "gzip_bomb_100mb.gz").read_bytes()
    server.route(path_of(BAD_FEED), Reply(200, b"<rss>", RSS, stream=50_000_000))
    server.route(path_of(GOOD_FEED), Reply(200, headers=RSS, raw_gzip=bomb))
    tracemalloc.start()
    try:
        result = run(server, scmp(replace(FAST, fetch_pages=False)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [f.status for f in result.feeds] == ["failed", "failed"]
    assert "max_body_bytes" in result.feeds[0].error
    assert "after decompression" in result.feeds[1].error
    assert peak < 10 * FAST.max_body_bytes  # neither 50 MB nor 100 MB was ever held


# --- item- and page-level faults -------------------------------------------------------------

HOSTILE_ITEMS = [
    item("Good story", "https://www.scmp.com/news/good"),
    item("Page with markup in its text", "https://www.scmp.com/news/markup-page"),
    item("Loopback link", "http://127.0.0.1:8080/admin"),
    item("Metadata link", "http://169.254.169.254/latest/meta-data/iam/"),
    item("IPv6 loopback link", "http://[::1]/x"),
    item("File link", "file:///etc/passwd"),
    item("Javascript link", "javascript:alert(document.cookie)"),
    item("Data link", "data:text/html,<script>alert(1)</script>"),
    item("Resolves to loopback", "https://evil.scmp.com/news/1"),
    item("Resolves to mixed", "https://mixed.scmp.com/news/1"),
    item("Redirects to metadata", "https://www.scmp.com/news/to-metadata"),
    item("Redirects to rebinding host", "https://www.scmp.com/news/to-evil"),
    item("Redirects off site", "https://www.scmp.com/news/to-offsite"),
    item("Redirects to file", "https://www.scmp.com/news/to-file"),
    item("Redirect loop", "https://www.scmp.com/news/loop"),
    item("Huge page", "https://www.scmp.com/news/huge"),
    item("Bomb page", "https://www.scmp.com/news/bomb"),
    item("Stalling page", "https://www.scmp.com/news/stall"),
    item("Off-site link", "https://evil.example.com/news/x"),
    item(
        "<script>alert('t')</script>Scripted <b>title</b>",
        "https://www.scmp.com/news/scripted",
        summary=(
            '<p onclick="steal()">Read <a href="javascript:alert(1)">this</a>'
            '<img src=x onerror="alert(2)"><script>evil()</script><style>p{}</style>'
            "&lt;script&gt;alert(3)&lt;/script&gt; now.</p>"
        ),
    ),
    item("Control\x00chars\x07in\x1btitle", "https://www.scmp.com/news/controls"),
    item("C1\u009b31mcontrol\u0085", "https://www.scmp.com/news/c1"),
    item("Duplicate guid first", "https://www.scmp.com/news/dup-a", guid="scmp-42"),
    item("Duplicate guid second", "https://www.scmp.com/news/dup-b", guid="scmp-42"),
    item("Same link again", "https://www.scmp.com/news/good?utm_source=rss", guid="other"),
    item("No date", "https://www.scmp.com/news/undated", date=None),
    item("From 2099", "https://www.scmp.com/news/future", date="Thu, 01 Jan 2099 00:00:00 GMT"),
    item("From 1970", "https://www.scmp.com/news/epoch", date="Thu, 01 Jan 1970 00:00:00 GMT"),
    item("Garbage date", "https://www.scmp.com/news/garbage-date", date="not a date at all"),
]


def _route_pages(server: FaultServer) -> None:
    server.route("/www.scmp.com/news/good", Reply(200, PAGE, HTML))
    for name in ("1", "x", "admin"):
        for host in ("evil.scmp.com/news", "mixed.scmp.com/news", "evil.example.com/news"):
            server.route(f"/{host}/{name}", Reply(200, PAGE, HTML))
    loc = {
        "to-metadata": "http://169.254.169.254/latest/meta-data/",
        "to-evil": "https://evil.scmp.com/news/1",
        "to-offsite": "https://evil.example.com/news/x",
        "to-file": "file:///etc/passwd",
        "loop": "/news/loop",
    }
    for path, target in loc.items():
        server.route(f"/www.scmp.com/news/{path}", Reply(302, headers={"Location": target}))
    server.route("/www.scmp.com/news/huge", Reply(200, b"<p>", HTML, stream=50_000_000))
    server.route(
        "/www.scmp.com/news/bomb",
        Reply(200, headers=HTML, raw_gzip=(FAULTS / "gzip_bomb_100mb.gz").read_bytes()),
    )
    markup_page = PAGE.replace(
        b"</article>",
        b"<p>The court heard that &lt;script&gt;alert(9)&lt;/script&gt; was posted\x0b on "
        b"the forum &lt;img src=x onerror=alert(10)&gt; by the accused last year.</p></article>",
    )
    server.route("/www.scmp.com/news/markup-page", Reply(200, markup_page, HTML))
    server.route("/www.scmp.com/news/stall", Reply(200, PAGE, HTML, delay=1.0))
    for path in (
        "scripted",
        "controls",
        "c1",
        "dup-a",
        "undated",
        "future",
        "epoch",
        "garbage-date",
    ):
        server.route(f"/www.scmp.com/news/{path}", Reply(404))


def test_hostile_items_cost_only_themselves(server: FaultServer, caplog) -> None:
    server.route(path_of(BAD_FEED), Reply(200, rss(*HOSTILE_ITEMS), RSS))
    server.route(path_of(GOOD_FEED), Reply(200, rss(item("Other", "https://www.scmp.com/o")), RSS))
    server.route("/www.scmp.com/o", Reply(200, PAGE, HTML))
    _route_pages(server)
    polling = replace(FAST, read_timeout_s=0.3, max_retries=0)
    with caplog.at_level(logging.INFO, logger="newsmerge.connectors"):
        result = run(server, scmp(polling))
    assert [f.status for f in result.feeds] == ["ok", "ok"]
    by_title = {a.title: a for a in result.articles}
    errors = {e.url: e.error for e in result.item_errors}

    # The healthy items come through with their page text.
    for title in ("Good story", "Other", "Page with markup in its text"):
        assert by_title[title].text_source == "page"
        assert "Paragraph 7 of the good story" in by_title[title].text

    # Links that are not http(s) are not articles at all.
    for title in ("File link", "Javascript link", "Data link"):
        assert title not in by_title
    assert "not http(s); item skipped" in caplog.text

    # Links at our own network: kept as summary-only articles, pages never requested.
    refused = {
        "Loopback link": "loopback/private/link-local",
        "Metadata link": "loopback/private/link-local",
        "IPv6 loopback link": "loopback/private/link-local",
        "Resolves to loopback": "resolves to 127.0.0.1",
        "Resolves to mixed": "resolves to 10.1.2.3",
        "Redirects to metadata": "169.254.169.254",
        "Redirects to rebinding host": "resolves to 127.0.0.1",
        "Redirects off site": "not one of SCMP's domains",
        "Redirects to file": "not http(s)",
        "Redirect loop": "more than 5 redirects",
        "Huge page": "max_body_bytes",
        "Bomb page": "after decompression",
        "Stalling page": "timed out",
        "Off-site link": "not one of SCMP's domains",
    }
    for title, why in refused.items():
        a = by_title[title]
        assert a.text_source == "summary" and a.text == f"About {title}", title
        assert why in errors[a.url], (title, errors[a.url])
    for never in ("/evil.scmp.com/news/1", "/mixed.scmp.com/news/1", "/evil.example.com/news/x"):
        assert server.hits(never) == [], never
    assert not [r for r in server.requests if "169.254" in r.path or "127.0.0.1" in r.path]

    # Markup is gone from what is stored; script and style content with it.
    s = by_title["Scripted title"]
    assert s.summary == "Read this now."
    page = by_title["Page with markup in its text"].text
    assert "The court heard that was posted on the forum by the accused last year." in page
    for a in result.articles:
        for text in (a.title, a.summary, a.text):
            assert not has_markup(text)
            assert "alert" not in text and "evil()" not in text and "javascript:" not in text
            assert not any(
                (ord(c) < 32 and c not in "\n\t") or 0x7F <= ord(c) <= 0x9F for c in text
            )
    by_url = {a.url: a for a in result.articles}
    assert by_url["https://www.scmp.com/news/controls"].title == "Controlcharsintitle"
    assert by_url["https://www.scmp.com/news/c1"].title.startswith("C1")  # kept, C1 gone

    # Duplicate guids and repeated links: one article each, the first in feed order.
    assert "Duplicate guid first" in by_title and "Duplicate guid second" not in by_title
    assert "Same link again" not in by_title
    urls = [a.url for a in result.articles]
    assert len(urls) == len(set(urls))

    # Dates: none stays none; out of range is clamped to the fetch time, flagged, logged.
    assert by_title["No date"].published is None
    assert by_title["Garbage date"].published is None
    for title in ("From 2099", "From 1970"):
        a = by_title[title]
        assert a.published == a.fetched
        assert a.published_clamped is True
    assert by_title["Good story"].published == datetime(2026, 8, 13, 8, tzinfo=UTC)
    assert by_title["Good story"].published_clamped is False
    assert "implausible date" in caplog.text


def test_four_outlets_one_run_faults_stay_contained(server: FaultServer) -> None:
    """A whole poll: BBC down, AA serving HTML, SCMP hostile, Al Jazeera healthy."""
    bbc = OutletConfig(
        "BBC",
        ("https://feeds.bbci.co.uk/news/world/rss.xml",),
        ("bbc.co.uk", "bbc.com"),
        "bbc",
        replace(FAST, fetch_pages=False),
    )
    aa = OutletConfig(
        "AA",
        ("https://www.aa.com.tr/en/rss/default?cat=world",),
        ("aa.com.tr",),
        "aa",
        replace(FAST, fetch_pages=False),
    )
    aj = OutletConfig(
        "Al Jazeera",
        ("https://www.aljazeera.com/xml/rss/all.xml",),
        ("aljazeera.com",),
        "aljazeera",
        replace(FAST, fetch_pages=False),
    )
    server.route("/feeds.bbci.co.uk/news/world/rss.xml", Reply(503))
    server.route(
        "/www.aa.com.tr/en/rss/default?cat=world",
        Reply(200, b"<html><body>Error</body></html>", HTML),
    )
    server.route(
        "/www.aljazeera.com/xml/rss/all.xml",
        Reply(200, (FEEDS / "aljazeera_20260813T085116Z.xml").read_bytes(), RSS, gzip=True),
    )
    server.route(path_of(BAD_FEED), Reply(200, rss(*HOSTILE_ITEMS), RSS))
    server.route(path_of(GOOD_FEED), Reply(200, GOOD_BODY, RSS))
    results = {
        o.name: run(server, o) for o in (bbc, aa, scmp(replace(FAST, fetch_pages=False)), aj)
    }
    assert results["BBC"].failed and results["AA"].failed
    assert not results["SCMP"].failed and not results["Al Jazeera"].failed
    assert len(results["Al Jazeera"].articles) == results["Al Jazeera"].feeds[0].items_seen > 0
    assert "Good story" in {a.title for a in results["SCMP"].articles}


# --- the address guard itself ----------------------------------------------------------------


def test_ip_policy() -> None:
    for bad in (
        "127.0.0.1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "0.0.0.0",
        "100.64.0.1",
        "224.0.0.1",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "2002:7f00:1::1",
        "240.0.0.1",
    ):
        assert ip_problem(bad), bad
    for good in (PUBLIC_IP, "151.101.0.81", "2a04:4e42::81"):
        assert ip_problem(good) is None, good


def test_url_address_problem_uses_the_injected_resolver() -> None:
    calls: list[tuple[str, int]] = []

    def resolver(host: str, port: int) -> list[str]:
        calls.append((host, port))
        return fake_resolver(host, port)

    assert url_address_problem("https://www.scmp.com/a", resolver) is None
    assert "127.0.0.1" in url_address_problem("https://evil.scmp.com/a", resolver)
    assert "10.1.2.3" in url_address_problem("http://mixed.scmp.com:81/a", resolver)
    assert calls == [("www.scmp.com", 443), ("evil.scmp.com", 443), ("mixed.scmp.com", 81)]

    def broken(host: str, port: int) -> list[str]:
        raise socket.gaierror("Name or service not known")

    assert "cannot resolve" in url_address_problem("https://www.scmp.com/a", broken)


@pytest.fixture
def no_real_dns(monkeypatch) -> list[str]:
    """socket.getaddrinfo that only answers for IP literals and records every name asked."""
    asked: list[str] = []
    real = socket.getaddrinfo

    def guarded(host, *args, **kwargs):
        asked.append(host if isinstance(host, str) else host.decode())
        if not is_ip_literal(str(host)):
            raise socket.gaierror(f"test: real DNS lookup of {host!r} attempted")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)
    return asked


def test_default_transport_refuses_names_resolving_to_private_addresses(
    server: FaultServer, no_real_dns: list[str]
) -> None:
    port = httpx.URL(server.base_url).port
    server.route("/x", Reply(200, b"secret admin page"))
    with Fetcher(FAST, resolver=fake_resolver) as f:  # no transport: the real network path
        for url in (f"http://evil.scmp.com:{port}/x", f"http://127.0.0.1:{port}/x"):
            with pytest.raises(FetchError, match="loopback/private/link-local"):
                f.get(url)
    with Fetcher(FAST) as f, pytest.raises(FetchError, match="loopback"):  # literal: no DNS
        f.get(f"http://127.0.0.1:{port}/x")
    assert server.requests == [] and no_real_dns == []


def test_guarded_transport_connects_to_the_vetted_address(
    server: FaultServer, no_real_dns: list[str]
) -> None:
    """Resolve once, connect to that address: the hostname is never looked up again (no DNS
    rebinding window), and the server still sees the real Host header."""
    port = httpx.URL(server.base_url).port
    server.route("/a", Reply(302, headers={"Location": f"http://two.scmp.com:{port}/b"}))
    server.route("/b", Reply(200, b"pinned"))
    resolved: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        resolved.append(host)
        return ["127.0.0.1"]

    def allow_loopback_only(address: str) -> str | None:
        return None if address == "127.0.0.1" else "not the test server"

    transport = GuardedTransport(resolver, ip_check=allow_loopback_only)
    with Fetcher(FAST, transport=transport) as f:
        resp = f.get(f"http://one.scmp.com:{port}/a")
    assert resp.content == b"pinned" and resp.url == f"http://two.scmp.com:{port}/b"
    assert resolved == ["one.scmp.com", "two.scmp.com"]  # once per hop, every hop
    assert [r.headers["Host"] for r in server.requests] == [
        f"one.scmp.com:{port}",
        f"two.scmp.com:{port}",
    ]
    assert "one.scmp.com" not in no_real_dns and "two.scmp.com" not in no_real_dns


def test_fetcher_refuses_non_http_redirects_without_retrying(server: FaultServer) -> None:
    """Even with no URL check from the caller, a hop to file:/ftp:/gopher: is refused once."""
    for i, target in enumerate(("file:///etc/passwd", "gopher://www.scmp.com/", "ftp://x/")):
        server.route(f"/www.scmp.com/r{i}", Reply(302, headers={"Location": target}))
        with (
            Fetcher(FAST, transport=replay_transport(server.base_url)) as f,
            pytest.raises(FetchError, match="is not http\\(s\\)"),
        ):
            f.get(f"https://www.scmp.com/r{i}")
        assert len(server.hits(f"/www.scmp.com/r{i}")) == 1


def test_compressed_bytes_count_against_the_cap(server: FaultServer) -> None:
    """Incompressible data: the wire bytes pass the cap before the inflated ones do."""
    import os

    cap = FAST.max_body_bytes
    body = gzip.compress(os.urandom(cap - 10))  # inflates to just under the cap
    assert len(body) > cap
    # Streamed (no Content-Length), so only the running count of wire bytes can stop it.
    server.route("/www.scmp.com/noise", Reply(200, headers=HTML, raw_gzip=body, stream=len(body)))
    with (
        Fetcher(FAST, transport=replay_transport(server.base_url)) as f,
        pytest.raises(FetchError, match="max_body_bytes") as err,
    ):
        f.get("https://www.scmp.com/noise")
    assert "decompression" not in str(err.value)


def test_gzip_page_is_still_decoded_under_the_guard(server: FaultServer) -> None:
    body = gzip.compress(PAGE)
    server.route("/www.scmp.com/news/good", Reply(200, headers=HTML, raw_gzip=body))
    with Fetcher(FAST, transport=replay_transport(server.base_url), resolver=fake_resolver) as f:
        assert f.get("https://www.scmp.com/news/good").content == PAGE
