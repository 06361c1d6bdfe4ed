"""The merger: one faithful composite per story, every sentence credited to the outlets that
reported it.

    compose(story_id, articles, encoder="auto") -> Composite   # newsmerge.models.Composite
    render_text(c) / render_markdown(c, urls) / to_json(c) / from_json(d)
    run_merge_cli(path, fmt, encoder)   # `newsmerge merge PATH --format ... --encoder ...`

Modules: `sentences` (split with offsets, drop boilerplate), `align` (which sentences state the
same fact), `compose` (facts → credited paragraphs), `render` (text, Markdown, JSON),
`evaluate` (quality on story clusters and paraphrase pairs).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path

from .compose import VERSION, SourceArticle, compose
from .render import from_json, join_names, render_markdown, render_text, to_json

__all__ = [
    "VERSION",
    "SourceArticle",
    "compose",
    "from_json",
    "join_names",
    "load_articles",
    "render_markdown",
    "render_text",
    "run_merge_cli",
    "story_id_for",
    "to_json",
]

FORMATS = ("text", "markdown", "json")


def _parse_time(value) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def article_from_dict(d: dict) -> SourceArticle:
    return SourceArticle(
        id=str(d["id"]),
        outlet=str(d.get("outlet") or d["id"]),  # no outlet: the article is its own source
        title=str(d.get("title") or ""),
        text=str(d.get("text") or ""),
        published=_parse_time(d.get("published")),
        url=str(d.get("url") or ""),
    )


def load_articles(path: str | Path) -> list[SourceArticle]:
    """SourceArticles from a JSON Lines file of `{id, outlet, title, text, published, url}`."""
    out = []
    with open(path, encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                out.append(article_from_dict(json.loads(line)))
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{line_no}: not a story article: {exc}") from None
    return out


def story_id_for(articles) -> str:
    ids = "\n".join(sorted(a.id for a in articles))
    return "story-" + hashlib.sha1(ids.encode()).hexdigest()[:12]


def run_merge_cli(path: str, fmt: str = "text", encoder: str = "auto") -> str:
    """Read one story's articles (JSON Lines) and return its composite in `fmt`, aligned with
    `encoder` ("auto", "none", a model name such as "mpnet-base-v2-facts"; see dedup.embeddings)."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    articles = load_articles(path)
    c = compose(story_id_for(articles), articles, encoder=encoder)
    if fmt == "text":
        return render_text(c)
    if fmt == "markdown":
        return render_markdown(c, {a.id: a.url for a in articles if a.url})
    return json.dumps(to_json(c), ensure_ascii=False, indent=2) + "\n"
