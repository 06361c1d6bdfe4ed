"""Feed bytes → Articles (text = summary until a page is extracted).

feedparser is given bytes we fetched ourselves, never a URL: all network access goes through
the polite fetcher, and a test or replay run cannot accidentally reach the internet.
"""

from __future__ import annotations

import calendar
import xml.sax
from datetime import UTC, datetime
from html.parser import HTMLParser

import feedparser

from connectors.outlets import GENERIC, Quirks
from connectors.urls import canonical_url
from newsmerge.models import Article

_BLOCK_TAGS = frozenset(
    {
        "address",
        "article",
        "aside",
        "blockquote",
        "br",
        "dd",
        "div",
        "dl",
        "dt",
        "figcaption",
        "figure",
        "footer",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "td",
        "th",
        "tr",
        "ul",
    }
)
_SKIP_TAGS = frozenset({"script", "style", "noscript", "template"})


class FeedError(Exception):
    """The bytes are not a usable feed (an HTML error page, malformed XML, nothing inside)."""


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in _SKIP_TAGS:
            self._skipping += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_to_text(fragment: str | None) -> str:
    """Visible text of an HTML fragment: tags gone, entities decoded, whitespace collapsed."""
    if not fragment:
        return ""
    parser = _TextExtractor()
    parser.feed(fragment)
    parser.close()
    return " ".join("".join(parser.parts).split())


def _utc(entry: dict) -> datetime | None:
    for key in ("published_parsed", "updated_parsed"):
        t = entry.get(key)
        if t:
            # feedparser normalises to a UTC struct_time; timegm reads it as UTC.
            return datetime.fromtimestamp(calendar.timegm(t), UTC)
    return None


def parse_feed(content: bytes) -> feedparser.FeedParserDict:
    """Parse feed bytes, raising FeedError for anything that is not a well-formed feed."""
    if not content.strip():
        raise FeedError("empty response where a feed was expected")
    parsed = feedparser.parse(content)
    exc = parsed.get("bozo_exception")
    head = content.lstrip()[:512].lower()
    if not parsed.get("version") and (b"<html" in head or b"<!doctype html" in head):
        raise FeedError("got an HTML page where a feed was expected")
    if not parsed.get("version"):
        detail = f": {exc}" if exc else ""
        raise FeedError(f"not an RSS or Atom feed{detail}")
    if parsed.get("bozo") and isinstance(exc, xml.sax.SAXException):
        raise FeedError(f"malformed feed XML: {exc}")
    return parsed


def feed_articles(
    content: bytes,
    *,
    outlet: str,
    feed_url: str,
    fetched: datetime,
    quirks: Quirks = GENERIC,
    max_items: int = 50,
) -> tuple[list[Article], int]:
    """Articles of a feed, newest first and at most `max_items`; also how many items it held."""
    parsed = parse_feed(content)
    articles: list[Article] = []
    for raw in parsed.entries:
        if quirks.skip(raw):
            continue
        entry = quirks.clean_item(raw)
        link = (entry.get("link") or "").strip()
        if not link:
            continue  # an item without a link is not an article we can credit
        url = canonical_url(link, quirks.tracking_params)
        title = html_to_text(entry.get("title"))
        summary = html_to_text(entry.get("summary"))
        articles.append(
            Article(
                outlet=outlet,
                url=url,
                guid=(entry.get("id") or "").strip() or link,
                title=title,
                summary=summary,
                text=summary,
                text_source="summary",
                published=_utc(entry),
                fetched=fetched,
                feed_url=feed_url,
            )
        )
    oldest = datetime.min.replace(tzinfo=UTC)
    articles.sort(key=lambda a: a.published or oldest, reverse=True)  # stable for ties
    return articles[:max_items], len(parsed.entries)
