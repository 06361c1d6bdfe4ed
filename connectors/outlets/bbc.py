"""BBC News: CDATA titles, `?at_medium=RSS&at_campaign=rss` links, and video items.

Items under /news/videos/ or titled "Watch: ..." are clips: their pages hold a player and a
caption, not article text, so the feed summary is all the text there is.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from connectors.outlets import Entry, Quirks


def clean_item(entry: Entry) -> Entry:
    # The guid is the article URL plus a "#0" revision marker; the link is what identifies it.
    title = (entry.get("title") or "").strip()
    entry["title"] = title
    return entry


def has_page(url: str, entry: Entry) -> bool:
    path = urlsplit(url).path
    title = (entry.get("title") or "").lstrip()
    return "/videos/" not in path and "/av/" not in path and not title.startswith("Watch:")


QUIRKS = Quirks(
    clean_item=clean_item,
    has_page=has_page,
    tracking_params=frozenset({"at_medium", "at_campaign"}),
)
