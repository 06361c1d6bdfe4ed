"""The vocabulary every stage shares: articles in, stories and credited composites out.

Plain frozen dataclasses with no I/O, so connectors, dedup, the merger, the store and the
flow can pass them around (and Prefect can serialise them) without depending on each other.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

TextSource = Literal["page", "summary"]


def article_id_for(outlet: str, url: str) -> str:
    """Stable id of an article: the same canonical URL at the same outlet is the same article."""
    return hashlib.sha1(f"{outlet}\n{url}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Article:
    """One news item as an outlet published it.

    `text` is the extracted page body, or the feed summary when the page could not be had;
    `text_source` records which, so later stages (and analysts) can tell.
    """

    outlet: str  # the credit name from config, e.g. "SCMP", "Al Jazeera"
    url: str  # canonical: tracking parameters and fragments removed
    guid: str
    title: str
    summary: str  # HTML stripped
    text: str
    text_source: TextSource
    published: datetime | None  # timezone-aware UTC, None when the feed gave none
    fetched: datetime  # timezone-aware UTC
    feed_url: str = ""
    # The feed's date was impossible (before 1990 or in the future): `published` is the fetch time.
    published_clamped: bool = False

    @property
    def id(self) -> str:
        return article_id_for(self.outlet, self.url)


@dataclass(frozen=True)
class Credit:
    """Evidence behind one credit: where in which article the credited outlet said it."""

    outlet: str
    article_id: str
    start: int  # character offsets into that article's `text`
    end: int


@dataclass(frozen=True)
class CompositeSentence:
    """A sentence of the composite: a source sentence, verbatim, and everyone who reported it."""

    text: str
    credits: tuple[Credit, ...]

    @property
    def outlets(self) -> tuple[str, ...]:
        return tuple(sorted({c.outlet for c in self.credits}))


@dataclass(frozen=True)
class Paragraph:
    """Consecutive composite sentences that share one set of credited outlets."""

    sentences: tuple[CompositeSentence, ...]
    outlets: tuple[str, ...]  # in credit order (primary source first)


@dataclass(frozen=True)
class Composite:
    """One story told once, every sentence credited."""

    story_id: str
    headline: str
    primary_outlet: str
    paragraphs: tuple[Paragraph, ...]
    article_ids: tuple[str, ...] = ()
    version: str = ""  # merger code version that built it

    @property
    def outlets(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for p in self.paragraphs:
            for o in p.outlets:
                seen.setdefault(o, None)
        return tuple(seen)


@dataclass(frozen=True)
class Membership:
    """Why an article belongs to a story: what it matched, how well, under which settings."""

    article_id: str
    story_id: str
    matched_article_id: str | None  # None for the article that founded the story
    jaccard: float | None  # MinHash-estimated Jaccard with the matched article
    score: float | None  # the confirming score (e.g. weighted cosine)
    duplicate_of: str | None = None  # set when the article is a copy of another
    evidence: dict = field(default_factory=dict)  # thresholds, code version, anything else
