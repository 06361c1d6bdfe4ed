"""Property-based tests (hypothesis): hostile or random input never crashes a stage, and what
comes out keeps its promises.

* feed parsing: any bytes → Articles or FeedError, never another exception; what it returns is
  plain, control-free text with http(s) links and sane dates;
* canonical_url: never raises, idempotent, never keeps a tracking parameter;
* sentence splitting: every sentence is the exact slice of the text at its offsets;
* the merger: every composite sentence occurs in each credited source at the recorded offsets
  (modulo whitespace/quote normalisation); Markdown rendering never emits live markup.

Examples are bounded so the file runs in seconds; the database is off so runs are reproducible
(derandomized) and nothing is written to the tree.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from connectors.feeds import MIN_PUBLISHED, FeedError, feed_articles
from connectors.outlets import quirks_for
from connectors.sanitize import has_markup, html_to_text
from connectors.urls import canonical_url, is_tracking_param

FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
FETCHED = datetime(2026, 8, 13, 9, 30, tzinfo=UTC)

# --- feed parsing ----------------------------------------------------------------------------

SNIPPETS = [
    b"<script>alert(1)</script>",
    b"&lt;script&gt;alert(2)&lt;/script&gt;",
    b"<![CDATA[<img src=x onerror=alert(3)>]]>",
    b'<a href="javascript:alert(4)">x</a>',
    b"\x00",
    b"\x0b",
    b"\xff\xfe",
    b"\xe9\x93",
    b"\xc3(",
    b"&#0;",
    b"&#x1b;",
    b"&nbsp;",
    b"&undefined;",
    b"<!DOCTYPE rss [<!ENTITY x 'y'>]>",
    b"<!ENTITY",
    b"]]>",
    b"</item>",
    b"<item>",
    b"<link>file:///etc/passwd</link>",
    b"<link>http://169.254.169.254/</link>",
    b"<link>http://[::1</link>",
    b"<link>https://www.scmp.com/a b\tc</link>",
    b"<pubDate>Thu, 01 Jan 2099 00:00:00 GMT</pubDate>",
    b"<pubDate>Mon, 01 Jan 0001 00:00:00 GMT</pubDate>",
    b"<pubDate>Fri, 31 Dec 9999 23:59:59 +1400</pubDate>",
    b"<pubDate>yesterday</pubDate>",
    b"<guid>same</guid>",
    b'<?xml version="1.0" encoding="UTF-16"?>',
    b'<?xml version="1.0" encoding="bogus-charset"?>',
]

SEED_FEED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel><title>t</title>'
    b"<item><title>First &amp; <b>bold</b></title><link>https://www.scmp.com/news/a?utm_source=x"
    b"</link><guid>a</guid><description><![CDATA[<p>Para <script>x()</script>one.</p>]]>"
    b"</description><pubDate>Thu, 13 Aug 2026 08:00:00 GMT</pubDate></item>"
    b"<item><title>Second</title><link>https://www.scmp.com/news/b</link><guid>b</guid>"
    b"<description>Plain summary.</description></item>"
    b'</channel></rss><feed xmlns="http://www.w3.org/2005/Atom"></feed>'
)


@st.composite
def mutated_feeds(draw) -> bytes:
    data = bytearray(SEED_FEED)
    for _ in range(draw(st.integers(0, 6))):
        op = draw(st.sampled_from(["insert", "flip", "delete", "truncate", "snippet"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == "flip" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 20))]
        elif op == "truncate":
            del data[pos:]
        else:
            data[pos:pos] = draw(st.sampled_from(SNIPPETS))
    return bytes(data)


def _check_articles(content: bytes) -> None:
    try:
        articles, seen = feed_articles(
            content, outlet="SCMP", feed_url="f", fetched=FETCHED, quirks=quirks_for("scmp")
        )
    except FeedError:
        return
    assert len(articles) <= seen
    assert len({a.url for a in articles}) == len(articles)
    assert len({a.guid for a in articles}) == len(articles)
    for a in articles:
        assert urlsplit(a.url).scheme in ("http", "https") and urlsplit(a.url).hostname
        for text in (a.title, a.summary, a.text, a.guid):
            assert not has_markup(text) or text is a.guid
            assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f]", text), text
        assert "alert(" not in a.title + a.summary
        if a.published is not None:
            assert MIN_PUBLISHED <= a.published <= FETCHED + timedelta(days=1)


@FUZZ
@given(mutated_feeds())
def test_fuzz_mutated_feed_parses_or_fails_cleanly(content: bytes) -> None:
    _check_articles(content)


@FUZZ
@given(st.binary(max_size=400))
def test_fuzz_random_bytes_parse_or_fail_cleanly(content: bytes) -> None:
    _check_articles(content)


@FUZZ
@given(
    st.lists(
        st.tuples(
            st.text(max_size=40),
            st.sampled_from(
                [
                    "https://www.scmp.com/a",
                    "javascript:x",
                    "file:///x",
                    "http://10.0.0.1/",
                    "https://www.scmp.com/a?utm_source=1",
                    "",
                    "//no-scheme",
                    "https://[::1]/",
                ]
            ),
            st.sampled_from(["g1", "g2", "", "g1 "]),
            st.sampled_from(
                [
                    "Thu, 13 Aug 2026 08:00:00 GMT",
                    "",
                    "2099-01-01T00:00:00Z",
                    "1969-12-31T23:59:59Z",
                    "junk",
                ]
            ),
        ),
        max_size=6,
    )
)
def test_fuzz_structured_items(items) -> None:
    from html import escape

    body = "".join(
        f"<item><title>{escape(t)}</title><link>{escape(link)}</link>"
        + (f"<guid>{escape(g)}</guid>" if g else "")
        + (f"<pubDate>{d}</pubDate>" if d else "")
        + f"<description>{escape(t)}</description></item>"
        for t, link, g, d in items
    )
    _check_articles(f'<rss version="2.0"><channel><title>t</title>{body}</channel></rss>'.encode())


@FUZZ
@given(st.text(max_size=200))
def test_fuzz_html_to_text_never_leaves_markup(fragment: str) -> None:
    text = html_to_text(fragment)
    assert not has_markup(text)
    assert text == " ".join(text.split())
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f]", text)


@FUZZ
@given(
    st.lists(
        st.sampled_from(
            [
                "<",
                ">",
                "&lt;",
                "&amp;",
                "script",
                "/",
                "!",
                "a",
                " ",
                "&gt;",
                "img",
                "=",
                '"',
                "on",
                "\x00",
            ]
        ),
        max_size=40,
    )
)
def test_fuzz_html_to_text_tag_soup(parts: list[str]) -> None:
    assert not has_markup(html_to_text("".join(parts)))


# --- canonical URLs --------------------------------------------------------------------------

PARAM_NAMES = [
    "utm_source",
    "UTM_Medium",
    "at_campaign",
    "fbclid",
    "gclid",
    "id",
    "page",
    "a",
    "ref",
    "q",
    "rss",
    "traffic_source",
    "x y",
    "%75tm_source",
    "",
]


@st.composite
def urls(draw) -> str:
    scheme = draw(st.sampled_from(["http", "https", "HTTPS", "ftp", "", "javascript"]))
    host = draw(
        st.sampled_from(
            [
                "www.scmp.com",
                "WWW.BBC.CO.UK.",
                "[::1]",
                "127.0.0.1",
                "",
                "xn--bcher-kva.example",
                "bücher.example",
                "a@b.com",
            ]
        )
    )
    port = draw(st.sampled_from(["", ":80", ":443", ":8080", ":0", ":99999", ":x"]))
    path = draw(st.sampled_from(["", "/", "/news/a", "/a b", "/%7Euser", "/a/../b", "/ü"]))
    query = "&".join(
        f"{k}={v}"
        for k, v in draw(
            st.lists(
                st.tuples(
                    st.sampled_from(PARAM_NAMES),
                    st.sampled_from(["1", "", "a+b", "%20", "x=y", "é"]),
                ),
                max_size=5,
            )
        )
    )
    frag = draw(st.sampled_from(["", "#top", "#"]))
    return f"{scheme}://{host}{port}{path}" + (f"?{query}" if query else "") + frag


@FUZZ
@given(st.one_of(urls(), st.text(max_size=80)))
@example("http://[::1")  # found by this test: urlsplit raised ValueError
@example("http://a:99999/x?utm_source=1&b=2#f")
@example("https://www.scmp.com/a?%75tm_source=1")
@example("\x00 https://WWW.SCMP.COM./a?b=2&a=1&fbclid=x ")
def test_fuzz_canonical_url(url: str) -> None:
    once = canonical_url(url)  # never raises
    assert canonical_url(once) == once  # idempotent
    try:
        query = urlsplit(once).query
    except ValueError:  # unparseable ("http://[::1"): returned as given, stripped
        assert once == url.strip()
        return
    assert "#" not in once
    for key, _ in parse_qsl(query, keep_blank_values=True):
        assert not is_tracking_param(key), (url, once)


# --- sentence splitting and the merger -------------------------------------------------------

merge = pytest.importorskip("dedup.merge")
sentences_mod = pytest.importorskip("dedup.merge.sentences")

WORDS = [
    "the",
    "dam",
    "broke",
    "on",
    "Tuesday",
    "near",
    "Wuhan",
    "officials",
    "said",
    "12",
    "people",
    "were",
    "rescued",
    "U.S.",
    "Mr.",
    "Dr.",
    "floods",
    "hit",
    "3.5",
    "km",
    "“quoted”",
    "‘single’",
    "(aside)",
    "—",
    "e.g.",
    "Jan.",
    "No.",
    "1,200",
    "<script>",
]
SPACES = [" ", "  ", "\t", " \n", "\u00a0", "\n\n"]


@st.composite
def sentence_text(draw) -> str:
    words = draw(st.lists(st.sampled_from(WORDS), min_size=3, max_size=14))
    end = draw(st.sampled_from([".", "!", "?", '."', ".”", ""]))
    return " ".join(words).capitalize() + end


@st.composite
def article_text(draw) -> str:
    out = []
    for s in draw(st.lists(sentence_text(), min_size=1, max_size=8)):
        out.append(s)
        out.append(draw(st.sampled_from(SPACES)))
    return "".join(out)


@FUZZ
@given(st.one_of(article_text(), st.text(max_size=300)))
def test_fuzz_sentence_offsets_index_the_original_text(text: str) -> None:
    previous_end = 0
    for s in sentences_mod.split_sentences(text):
        assert text[s.start : s.end] == s.text
        assert s.start >= previous_end and s.end > s.start
        previous_end = s.end


@st.composite
def stories(draw):
    pool = draw(st.lists(sentence_text(), min_size=2, max_size=10, unique=True))
    outlets = ["SCMP", "AA", "BBC", "Al Jazeera"][: draw(st.integers(1, 4))]
    articles = []
    for i, outlet in enumerate(outlets):
        picked = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=6))
        text = ""
        for s in picked:
            if draw(st.booleans()):  # the same sentence, typographically different
                s = s.replace("“", '"').replace("”", '"')
            text += s + draw(st.sampled_from(SPACES))
        articles.append(merge.SourceArticle(f"a{i}", outlet, f"Headline {i}", text))
    return articles


def _norm(text: str) -> str:
    return sentences_mod.normalize(text)


@FUZZ
@given(stories())
def test_fuzz_every_composite_sentence_is_in_its_credited_sources(articles) -> None:
    by_id = {a.id: a for a in articles}
    composite = merge.compose("story-fuzz", articles)
    for paragraph in composite.paragraphs:
        assert paragraph.sentences
        for sentence in paragraph.sentences:
            assert sentence.credits
            for credit in sentence.credits:
                source = by_id[credit.article_id]
                assert credit.outlet == source.outlet
                assert 0 <= credit.start < credit.end <= len(source.text)
            # The sentence is verbatim at the offsets of (at least) one credited source, its
            # own; the other credits point at the sentences aligned with it ...
            quotes = [by_id[c.article_id].text[c.start : c.end] for c in sentence.credits]
            assert _norm(sentence.text) in {_norm(q) for q in quotes}, (sentence, quotes)
            # ... and every credited source holds a sentence at its offsets.
            for credit in sentence.credits:
                assert _norm(by_id[credit.article_id].text[credit.start : credit.end])
    assert set(composite.article_ids) <= set(by_id)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _html_tags(markdown_text: str) -> list[tuple[str, dict]]:
    import markdown as pymarkdown  # Python-Markdown passes raw HTML through: the worst case

    parser = _Tags()
    parser.feed(pymarkdown.markdown(markdown_text))
    return parser.tags


HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(2)>",
    "[click](javascript:alert(3))",
    "![x](javascript:alert(4))",
    "<a href='javascript:alert(5)'>x</a>",
    "<javascript:alert(6)>",
    "&lt;script&gt;alert(7)&lt;/script&gt;",
    "`code`",
    "*emph* _u_",
    "# not a heading",
    "<iframe src=//evil>",
]


@FUZZ
@given(st.lists(st.sampled_from(HOSTILE), min_size=1, max_size=3), st.integers(1, 3))
def test_fuzz_markdown_render_of_hostile_text_has_no_live_markup(payloads, n_outlets) -> None:
    text = " ".join(
        f"Officials said {p} the dam broke on Tuesday near the city number {i}."
        for i, p in enumerate(payloads)
    )
    articles = [
        merge.SourceArticle(f"a{i}", o, f"Dam {payloads[0]} breaks", text)
        for i, o in enumerate(["SCMP", "AA", "BBC"][:n_outlets])
    ]
    composite = merge.compose("story-md", articles)
    md = merge.render_markdown(
        composite, {a.id: f"https://www.example.com/{a.id}" for a in articles}
    )
    for tag, attrs in _html_tags(md):
        assert tag in ("h1", "p", "a", "em", "strong", "code"), (tag, md)
        for name, value in attrs.items():
            assert not name.startswith("on"), md
            assert not (value or "").strip().lower().startswith(("javascript:", "data:")), md


def test_markdown_credit_links_are_safe_urls() -> None:
    """Credit links are http(s) only and cannot be broken out of (dedup/merge/render.py)."""
    text = "Officials said the dam broke on Tuesday near the city of Wuhan."
    articles = [
        merge.SourceArticle("a1", "SCMP", "Dam", text),
        merge.SourceArticle("a2", "BBC", "Dam", text),
    ]
    composite = merge.compose("story-links", articles)
    md = merge.render_markdown(
        composite, {"a1": "javascript:alert(1)", "a2": "https://www.bbc.com/news/a)b c"}
    )
    hrefs = [attrs.get("href", "") for tag, attrs in _html_tags(md) if tag == "a"]
    assert not any(h.lower().startswith("javascript:") for h in hrefs), md
    assert "https://www.bbc.com/news/a%29b%20c" in hrefs, md
