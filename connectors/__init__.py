"""Connectors: poll each outlet's feeds politely and turn their items into `Article`s.

`fetch_outlet` never raises for a bad feed, page or item: a broken outlet must not stop the
others, so every failure is logged to "newsmerge.connectors" and recorded in the result.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal

import httpx

from connectors.extract import MIN_TEXT_CHARS, extract_text
from connectors.feeds import FeedError, feed_articles
from connectors.fetch import Fetcher, FetchError
from connectors.netguard import Resolver
from connectors.outlets import Quirks, quirks_for
from connectors.sanitize import clean_page_text
from connectors.urls import canonical_url, feed_url_problem, page_url_problem
from newsmerge.config import OutletConfig
from newsmerge.models import Article

__all__ = [
    "FeedResult",
    "FeedState",
    "ItemError",
    "OutletResult",
    "canonical_url",
    "fetch_outlet",
]

log = logging.getLogger("newsmerge.connectors")

FEED_ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9"
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9"


@dataclass(frozen=True)
class FeedState:
    """Validators remembered per feed URL by the store, for conditional GET."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class FeedResult:
    """How polling one feed went. On failure etag/last_modified echo the remembered state."""

    feed_url: str
    status: Literal["ok", "not_modified", "failed"]
    items_seen: int = 0
    error: str | None = None
    http_status: int | None = None
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class ItemError:
    url: str
    error: str


@dataclass(frozen=True)
class OutletResult:
    outlet: str
    feeds: tuple[FeedResult, ...]
    articles: tuple[Article, ...]
    item_errors: tuple[ItemError, ...]

    @property
    def failed(self) -> bool:
        """Every feed failed: the outlet is down or misconfigured, not just quiet."""
        return bool(self.feeds) and all(f.status == "failed" for f in self.feeds)


def _poll_feed(
    fetcher: Fetcher,
    outlet: OutletConfig,
    feed_url: str,
    state: FeedState,
    quirks: Quirks,
    fetched: datetime,
) -> tuple[FeedResult, list[Article]]:
    def failed(error: str, status: int | None) -> tuple[FeedResult, list[Article]]:
        log.warning("%s feed %s failed: %s", outlet.name, feed_url, error)
        return FeedResult(feed_url, "failed", 0, error, status, state.etag, state.last_modified), []

    try:
        resp = fetcher.get(
            feed_url,
            etag=state.etag,
            last_modified=state.last_modified,
            accept=FEED_ACCEPT,
            check_url=lambda u: feed_url_problem(u, outlet, feed_url),
        )
    except FetchError as exc:
        return failed(str(exc), exc.status)
    etag = resp.etag or state.etag
    last_modified = resp.last_modified or state.last_modified
    if resp.not_modified:
        log.info("%s feed %s not modified", outlet.name, feed_url)
        return FeedResult(feed_url, "not_modified", 0, None, resp.status, etag, last_modified), []
    try:
        articles, seen = feed_articles(
            resp.content,
            outlet=outlet.name,
            feed_url=feed_url,
            fetched=fetched,
            quirks=quirks,
            max_items=outlet.polling.max_articles_per_feed,
        )
    except FeedError as exc:
        return failed(str(exc), resp.status)
    except Exception as exc:  # a parser bug must cost one feed, not the run
        return failed(f"could not parse feed: {type(exc).__name__}: {exc}", resp.status)
    log.info("%s feed %s: %d items", outlet.name, feed_url, seen)
    return FeedResult(feed_url, "ok", seen, None, resp.status, resp.etag, resp.last_modified), (
        articles
    )


def _without_headline(text: str, title: str) -> str:
    """Drop a first line that only repeats the headline (trafilatura keeps some pages' <h1>)."""
    first, _, rest = text.partition("\n")
    same = " ".join(first.split()).casefold() == " ".join(title.split()).casefold()
    return rest if same and rest.strip() else text


def _with_page(
    fetcher: Fetcher, outlet: OutletConfig, article: Article, quirks: Quirks
) -> tuple[Article, ItemError | None]:
    """The article with its page text, or unchanged (summary text) and why not."""

    def fallback(error: str) -> tuple[Article, ItemError]:
        log.warning("%s page %s: %s; using the feed summary", outlet.name, article.url, error)
        return article, ItemError(article.url, error)

    if problem := page_url_problem(article.url, outlet):
        return fallback(f"page not fetched: {problem}")
    try:
        resp = fetcher.get(
            article.url, accept=PAGE_ACCEPT, check_url=lambda u: page_url_problem(u, outlet)
        )
    except FetchError as exc:
        return fallback(f"page fetch failed: {exc}")
    if resp.not_modified or not resp.content:
        return fallback("page fetch returned no body")
    text = extract_text(resp.content, article.url)
    if text:
        text = clean_page_text(quirks.clean_text(_without_headline(text, article.title)))
    if not text or len(text) < MIN_TEXT_CHARS:
        return fallback("page text extraction found too little text")
    return replace(article, text=text, text_source="page"), None


def fetch_outlet(
    outlet: OutletConfig,
    feed_state: Mapping[str, FeedState] | None = None,
    *,
    transport: httpx.BaseTransport | None = None,
    skip_pages: Collection[str] = (),
    resolver: Resolver | None = None,
) -> OutletResult:
    """Poll every feed of `outlet` and, where allowed, fetch and extract each article's page.

    `feed_state` gives the remembered ETag/Last-Modified per feed URL; `skip_pages` holds
    canonical URLs whose page text is already stored (their articles carry the summary).
    An article found in several of the outlet's feeds is returned once.

    Without `transport` every connection is vetted and pinned to a public address (resolved
    with `resolver`, default DNS); with one (replay, tests), `resolver`, when given, pre-checks
    the original host of every request and redirect hop (see connectors.netguard).
    """
    quirks = quirks_for(outlet.module)
    feed_state = feed_state or {}
    skip = set(skip_pages)
    fetched = datetime.now(UTC)
    feeds: list[FeedResult] = []
    articles: dict[str, Article] = {}
    errors: list[ItemError] = []
    with Fetcher(outlet.polling, transport=transport, resolver=resolver) as fetcher:
        for feed_url in outlet.feeds:
            state = feed_state.get(feed_url) or FeedState()
            result, found = _poll_feed(fetcher, outlet, feed_url, state, quirks, fetched)
            feeds.append(result)
            for a in found:
                articles.setdefault(a.url, a)

        wanted = [
            a
            for a in articles.values()
            if outlet.polling.fetch_pages
            and a.url not in skip
            and quirks.has_page(a.url, {"title": a.title, "link": a.url})
        ]
        if wanted:
            workers = max(1, min(outlet.polling.page_concurrency, len(wanted)))
            with ThreadPoolExecutor(workers, thread_name_prefix="newsmerge-page") as pool:
                done = list(pool.map(lambda a: _with_page(fetcher, outlet, a, quirks), wanted))
            for article, error in done:
                articles[article.url] = article
                if error:
                    errors.append(error)
    return OutletResult(outlet.name, tuple(feeds), tuple(articles.values()), tuple(errors))
