"""Anadolu Agency (English): RSS 2.0 whose <description> often just repeats the headline.

A summary equal to the title says nothing; drop it so the page text (or the title alone)
carries the item rather than a duplicated line that would skew similarity.
"""

from __future__ import annotations

from connectors.outlets import Entry, Quirks


def _norm(s: str) -> str:
    return " ".join(s.split()).casefold()


def clean_item(entry: Entry) -> Entry:
    title = entry.get("title") or ""
    summary = entry.get("summary") or ""
    if summary and _norm(summary) == _norm(title):
        entry["summary"] = ""
    return entry


def skip(entry: Entry) -> bool:
    # AA pushes photo galleries and infographics into the same feed; they have no story text.
    link = entry.get("link") or ""
    return "/photo/" in link or "/info/infographic/" in link


QUIRKS = Quirks(clean_item=clean_item, skip=skip)
