"""Article page HTML → body text, with trafilatura tuned for precision.

A composite built from navigation links, cookie banners and "related stories" would credit
outlets for sentences they never reported, so we prefer losing a paragraph to keeping chrome:
precision mode, no comments, no tables. Too little text means extraction failed.
"""

from __future__ import annotations

import trafilatura

MIN_TEXT_CHARS = 200  # below this the "article" is a caption, a paywall stub or a player page


def extract_text(html: bytes | str, url: str | None = None) -> str | None:
    """The article body as plain text (paragraphs separated by newlines), or None."""
    if not html:
        return None
    try:
        text = trafilatura.extract(
            html,
            url=url,
            favor_precision=True,
            include_comments=False,
            include_tables=False,
            include_images=False,
            include_links=False,
            deduplicate=False,
            with_metadata=False,
        )
    except Exception:  # trafilatura/lxml raise assorted errors on hostile markup
        return None
    if not text:
        return None
    text = "\n".join(line.strip() for line in text.splitlines() if line.strip())
    return text if len(text) >= MIN_TEXT_CHARS else None
