"""Feed parsing, canonical URLs and page extraction, on real and written outlet fixtures."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.extract import extract_text
from connectors.feeds import FeedError, feed_articles, html_to_text
from connectors.outlets import GENERIC, quirks_for
from connectors.urls import canonical_url, page_url_problem
from newsmerge.config import OutletConfig

FIX = Path(__file__).parent / "fixtures"
FETCHED = datetime(2026, 8, 13, 9, 30, tzinfo=UTC)


def parse(name: str, module: str, **kw):
    content = (FIX / "feeds" / name).read_bytes()
    return feed_articles(
        content,
        outlet=module.upper(),
        feed_url="f",
        fetched=FETCHED,
        quirks=quirks_for(module),
        **kw,
    )


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        (
            "https://www.bbc.co.uk/news/articles/cj4kppdk2qwo?at_medium=RSS&at_campaign=rss",
            "https://www.bbc.co.uk/news/articles/cj4kppdk2qwo",
        ),
        (
            "HTTPS://WWW.SCMP.COM:443/news/world/article/3322514/x?utm_source=rss_feed#comments",
            "https://www.scmp.com/news/world/article/3322514/x",
        ),
        (
            "https://www.aljazeera.com/news/2026/8/13/a?traffic_source=rss",
            "https://www.aljazeera.com/news/2026/8/13/a",
        ),
        ("http://example.com:80", "http://example.com/"),
        ("http://example.com:8080/a", "http://example.com:8080/a"),
        (
            "https://x.com/p?b=2&fbclid=z&a=1&gclid=q&ocid=1&ref=rss&a=0",
            "https://x.com/p?a=1&a=0&b=2",
        ),
    ],
)
def test_canonical_url_drops_tracking_and_sorts(raw: str, canonical: str) -> None:
    assert canonical_url(raw) == canonical


def test_canonical_url_is_idempotent() -> None:
    once = canonical_url("https://Example.com/a?z=1&utm_x=2&b=%20c#f")
    assert canonical_url(once) == once


def test_html_to_text_strips_tags_scripts_and_entities() -> None:
    html = "<p>Hello&nbsp;<b>world</b></p><script>alert(1)</script><p>Two &amp; three&#039;s</p>"
    assert html_to_text(html) == "Hello world Two & three's"


def test_bbc_feed_becomes_articles() -> None:
    articles, seen = parse("bbc_world_20260813T092633Z.xml", "bbc")
    assert seen == 32 and len(articles) == 32
    by_url = {a.url: a for a in articles}
    a = by_url["https://www.bbc.co.uk/news/articles/cj4kppdk2qwo"]
    assert a.title == "More troops to be sent to West Bank village besieged by Israeli settlers"
    assert a.summary.startswith("Two Palestinian families in the village of Qusra")
    assert a.published == datetime(2026, 8, 13, 8, 12, 53, tzinfo=UTC)
    assert a.text == a.summary and a.text_source == "summary"
    assert a.guid == "https://www.bbc.co.uk/news/articles/cj4kppdk2qwo#0"
    assert all("at_medium" not in x.url and "?" not in x.url for x in articles)
    # newest first
    dates = [x.published for x in articles]
    assert dates == sorted(dates, reverse=True)


def test_headlines_change_between_captures() -> None:
    early = {a.url: a.title for a in parse("bbc_world_20260813T042337Z.xml", "bbc")[0]}
    late = {a.url: a.title for a in parse("bbc_world_20260813T092633Z.xml", "bbc")[0]}
    url = "https://www.bbc.co.uk/news/articles/cp30pz8d09jo"
    assert early[url] != late[url]  # same article (same id), edited headline


def test_aljazeera_feed_becomes_articles() -> None:
    articles, _ = parse("aljazeera_20260813T085116Z.xml", "aljazeera")
    assert len(articles) == 25
    assert all("traffic_source" not in a.url for a in articles)
    texts = " ".join(a.summary for a in articles)
    assert "&#039;" not in texts and "children's hospital" in texts
    a = next(a for a in articles if "three-us-states" in a.url)
    assert a.published == datetime(2026, 8, 13, 8, 13, 8, tzinfo=UTC)
    assert a.title == "Three US states to hold executions on same day for first time since 2010"


def test_aljazeera_early_capture_parses() -> None:
    articles, _ = parse("aljazeera_20260813T040422Z.xml", "aljazeera")
    assert any("Qusra" in a.title for a in articles)


def test_scmp_written_feed() -> None:
    articles, _ = parse("scmp_written.xml", "scmp")
    urls = [a.url for a in articles]
    assert urls[0] == (
        "https://www.scmp.com/news/world/americas/article/3322514/colombia-earthquake-death-toll-rises-265"
    )
    assert all("utm_" not in u and "#" not in u and ":443" not in u for u in urls)
    assert (
        articles[0].summary
        == "Most victims were in Cali, where part of a children’s hospital collapsed."
    )
    zhu = next(a for a in articles if "3322390" in a.url)
    assert zhu.published == datetime(2026, 8, 12, 12, 31, 9, tzinfo=UTC)  # +0800 → UTC
    undated = next(a for a in articles if "3322488" in a.url)
    assert undated.published is None and articles[-1] is undated  # undated items sort last


def test_aa_written_feed_quirks() -> None:
    articles, seen = parse("aa_written.xml", "aa")
    assert seen == 3 and len(articles) == 2  # the photo gallery is skipped
    quake, leavitt = articles
    assert quake.published == datetime(2026, 8, 13, 7, 48, tzinfo=UTC)  # +0300 → UTC
    assert (
        quake.summary == "Most victims recorded in Cali, where part of children's hospital caved in"
    )
    assert leavitt.summary == ""  # AA repeated the headline as the description


def test_max_articles_keeps_the_newest() -> None:
    articles, _ = parse("bbc_world_20260813T092633Z.xml", "bbc", max_items=3)
    assert [a.published.hour for a in articles] == [8, 8, 7]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"<!DOCTYPE html><html><body><h1>503 Service Unavailable</h1></body></html>", "HTML page"),
        (
            b'<?xml version="1.0"?><rss version="2.0"><channel><item><title>a</title>'
            b"<link>https://x.com/a</link></item><item><title>b</ti",
            "malformed feed XML",
        ),
        (b"", "empty response"),
        (b'{"items": []}', "not an RSS or Atom feed"),
    ],
)
def test_not_a_feed_is_a_clear_error(content: bytes, message: str) -> None:
    with pytest.raises(FeedError, match=message):
        feed_articles(content, outlet="X", feed_url="f", fetched=FETCHED, quirks=GENERIC)


def test_bbc_videos_have_no_page_to_fetch() -> None:
    q = quirks_for("bbc")
    assert not q.has_page("https://www.bbc.co.uk/news/videos/cjej4y3gvzlo", {"title": "x"})
    assert not q.has_page("https://www.bbc.co.uk/news/articles/x", {"title": "Watch: a clip"})
    assert q.has_page("https://www.bbc.co.uk/news/articles/x", {"title": "A story"})
    assert not quirks_for("aljazeera").has_page("https://www.aljazeera.com/video/newsfeed/x", {})


def test_unknown_module_falls_back_to_generic() -> None:
    assert quirks_for("no_such_outlet") is GENERIC


def test_page_url_problem() -> None:
    bbc = OutletConfig(
        "BBC", ("https://feeds.bbci.co.uk/news/world/rss.xml",), ("bbc.co.uk", "bbc.com")
    )
    assert page_url_problem("https://www.bbc.com/news/articles/x", bbc) is None
    assert "not one of BBC's domains" in page_url_problem("https://evil.example/x", bbc)
    assert "not one of" in page_url_problem("https://notbbc.com/x", bbc)
    assert "not http(s)" in page_url_problem("ftp://www.bbc.com/x", bbc)
    for ip in ("127.0.0.1", "10.0.0.5", "169.254.169.254", "[::1]", "192.168.1.1"):
        assert "loopback/private/link-local" in page_url_problem(f"http://{ip}/x", bbc)


def test_extracts_the_real_bbc_page() -> None:
    text = extract_text((FIX / "pages" / "bbc.com.52241221.html").read_bytes())
    assert text is not None
    assert "Workers in hazmat outfits were seen stacking wooden coffins in deep trenches" in text
    assert "Normally, about 25 bodies a week are interred on the island" in text
    for chrome in ("Skip to content", "Share this with", "Copyright 20", "external sites"):
        assert chrome not in text


def test_extracts_the_real_aljazeera_page_close_to_gold() -> None:
    gold = json.loads((FIX / "pages" / "aljazeera.7916ecca.gold.json").read_text())["articleBody"]
    text = extract_text((FIX / "pages" / "aljazeera.7916ecca.html").read_bytes())
    assert text is not None
    gold_lines = [line for line in gold.splitlines() if len(line) > 40]
    found = sum(line in text for line in gold_lines)
    assert found >= len(gold_lines) - 1  # every real paragraph, allowing one miss
    assert len(text) < 1.2 * len(gold)  # and not much else
    assert "Al Jazeera Media Network" not in text


def test_extraction_of_too_little_text_is_none() -> None:
    assert extract_text(b"<html><body><nav>Home</nav><p>Watch the video.</p></body></html>") is None
    assert extract_text(b"") is None
