"""Al Jazeera: WordPress RSS with `?traffic_source=rss` links and entity-escaped CDATA.

Video and gallery items carry a clip or photos, not article text; their summary stands in.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from connectors.outlets import Entry, Quirks


def has_page(url: str, entry: Entry) -> bool:
    first = urlsplit(url).path.strip("/").split("/", 1)[0]
    return first not in ("video", "gallery", "program", "podcasts")


def clean_text(text: str) -> str:
    # Pages end with "SOURCE: Al Jazeera and news agencies": a credit line, not reporting.
    lines = text.splitlines()
    while lines and lines[-1].strip().upper().startswith("SOURCE:"):
        lines.pop()
    return "\n".join(lines)


QUIRKS = Quirks(
    has_page=has_page, clean_text=clean_text, tracking_params=frozenset({"traffic_source"})
)
