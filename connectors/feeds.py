"""Feed bytes → Articles (text = summary until a page is extracted).

feedparser is given bytes we fetched ourselves, never a URL: all network access goes through
the polite fetcher, and a test or replay run cannot accidentally reach the internet.
"""

from __future__ import annotations

import calendar
import logging
import re
import xml.sax
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlsplit

import feedparser

from connectors.outlets import GENERIC, Quirks
from connectors.sanitize import html_to_text, strip_controls
from connectors.urls import canonical_url
from newsmerge.models import Article

__all__ = ["FeedError", "feed_articles", "html_to_text", "parse_feed"]

log = logging.getLogger("newsmerge.connectors")

MIN_PUBLISHED = datetime(1990, 1, 1, tzinfo=UTC)
MAX_FUTURE = timedelta(days=1)
# An entity declaration in a DOCTYPE's internal subset: what billion-laughs, quadratic blowup
# and external-entity (XXE) payloads need. Real outlet feeds never declare entities.
_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
_ENTITY_DECL = re.compile(rb"<!ENTITY", re.IGNORECASE)
_PROBLEM_URL_CHARS = re.compile(r"[\x00-\x20\x7f]")
# Bytes XML 1.0 forbids (C0 controls but tab, LF, CR): one stray \x0b pasted into one title
# would otherwise make the whole feed malformed. Same bytes in every ASCII-compatible encoding.
_XML_FORBIDDEN_BYTES = bytes(b for b in range(32) if b not in (9, 10, 13))
_WIDE_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")


class FeedError(Exception):
    """The bytes are not a usable feed (an HTML error page, malformed XML, nothing inside)."""


def _utc(entry: dict) -> datetime | None:
    """The item's date in UTC; None when it has none; `datetime.max` (clamped later) when the
    date cannot even be represented."""
    for key in ("published_parsed", "updated_parsed"):
        t = entry.get(key)
        if t:
            # feedparser normalises to a UTC struct_time; timegm reads it as UTC.
            try:
                return datetime.fromtimestamp(calendar.timegm(t), UTC)
            except (OverflowError, OSError, ValueError, TypeError):
                return datetime.max.replace(tzinfo=UTC)
    return None


def sane_published(published: datetime | None, fetched: datetime) -> tuple[datetime | None, bool]:
    """(the date to store, whether it was clamped): dates before 1990 or more than a day after
    the fetch are an outlet's bug (epoch zero, 2099 placeholders) and become the fetch time."""
    if published is None:
        return None, False
    if published < MIN_PUBLISHED or published > fetched + MAX_FUTURE:
        return fetched, True
    return published, False


def safe_link(link: str) -> str | None:
    """The item link if it is an http(s) URL with a host (controls dropped, spaces encoded),
    else None: a `javascript:`, `file:` or `data:` link is nothing we can credit or fetch."""
    link = strip_controls(link).strip()
    link = _PROBLEM_URL_CHARS.sub(lambda m: quote(m.group(0)), link)
    try:
        parts = urlsplit(link)
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    return link


def parse_feed(content: bytes) -> feedparser.FeedParserDict:
    """Parse feed bytes, raising FeedError for anything that is not a well-formed feed."""
    if not content.strip():
        raise FeedError("empty response where a feed was expected")
    probe = content.replace(b"\0", b"")  # UTF-16/32 feeds: compare as if single-byte
    if _DOCTYPE.search(probe) and _ENTITY_DECL.search(probe):
        raise FeedError(
            "refused: the feed declares XML entities in a DOCTYPE (billion-laughs / external "
            "entity payloads need them; real feeds never do)"
        )
    if not content.startswith(_WIDE_BOMS) and b"\0" not in content[:4]:  # not UTF-16/32
        content = content.translate(None, _XML_FORBIDDEN_BYTES)
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
    seen_guids: set[str] = set()
    seen_urls: set[str] = set()
    for raw in parsed.entries:
        if quirks.skip(raw):
            continue
        entry = quirks.clean_item(raw)
        raw_link = (entry.get("link") or "").strip()
        if not raw_link:
            continue  # an item without a link is not an article we can credit
        link = safe_link(raw_link)
        if link is None:
            log.warning(
                "%s feed %s: item link %r is not http(s); item skipped",
                outlet,
                feed_url,
                raw_link[:200],
            )
            continue
        url = canonical_url(link, quirks.tracking_params)
        guid = strip_controls((entry.get("id") or "").strip()) or link
        if guid in seen_guids or url in seen_urls:
            log.info("%s feed %s: duplicate item %s skipped", outlet, feed_url, guid[:200])
            continue  # the first copy in feed order wins
        seen_guids.add(guid)
        seen_urls.add(url)
        title = html_to_text(entry.get("title"))
        summary = html_to_text(entry.get("summary"))
        published, clamped = sane_published(_utc(entry), fetched)
        article = Article(
            outlet=outlet,
            url=url,
            guid=guid,
            title=title,
            summary=summary,
            text=summary,
            text_source="summary",
            published=published,
            fetched=fetched,
            feed_url=feed_url,
        )
        if clamped:
            log.warning(
                "%s feed %s: item %s has an implausible date %r; using the fetch time",
                outlet,
                feed_url,
                url,
                entry.get("published") or entry.get("updated"),
            )
            article = replace(article, published_clamped=True)
        articles.append(article)
    oldest = datetime.min.replace(tzinfo=UTC)
    articles.sort(key=lambda a: a.published or oldest, reverse=True)  # stable for ties
    return articles[:max_items], len(parsed.entries)
