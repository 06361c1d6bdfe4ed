"""South China Morning Post: RSS 2.0 with `?utm_source=rss_feed` links.

SCMP's feeds carry the same article in several sections, sometimes with an edited title and a
new slug but the same numeric id; canonical URLs dedupe the exact repeats within one poll.
Podcast and video items have no article body.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from connectors.outlets import Entry, Quirks


def has_page(url: str, entry: Entry) -> bool:
    path = urlsplit(url).path
    return "/video/" not in path and "/podcasts/" not in path


QUIRKS = Quirks(has_page=has_page, tracking_params=frozenset({"utm_source", "utm_medium"}))
