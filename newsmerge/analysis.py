"""Merged stories as pandas DataFrames, for analysts.

Typed columns so a frame is ready to use: timezone-aware UTC datetimes, pandas `string` dtype,
outlets as lists in credit order (primary first). Long-form companions (`load_articles`,
`load_credits`) join on `story_id`.

Every loader takes the same filters:

- `since` / `until`: a datetime, a pandas Timestamp or an ISO string (a time without a zone is
  UTC). For stories they bound `last_updated` (the newest member's publication time); for
  articles and credits they keep the rows of those same stories (articles without a story yet
  are bounded by their own publication time).
- `outlets`: outlet names (any case). Stories credited to any of them; their articles; credit
  rows of those outlets.
- `store`: a `Store`, a SQLAlchemy URL, or None for the config's store.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from newsmerge.config import load_config
from newsmerge.store import Store, UTCDateTime, articles, composites, memberships

STORY_COLUMNS = [
    "story_id",
    "headline",
    "primary_outlet",
    "outlets",
    "n_articles",
    "first_published",
    "last_updated",
    "composite",
]
ARTICLE_COLUMNS = [
    "article_id",
    "story_id",
    "outlet",
    "title",
    "url",
    "published",
    "fetched",
    "text_source",
    "duplicate_of",
    "text",
]
CREDIT_COLUMNS = [
    "story_id",
    "paragraph",
    "sentence",
    "text",
    "outlet",
    "article_ids",
    "offsets",
]
_LIST_COLUMNS = ("outlets", "article_ids", "offsets")

When = datetime | pd.Timestamp | str | None


def _open(store: Store | str | None) -> tuple[Store, bool]:
    if isinstance(store, Store):
        return store, False
    return Store(store or load_config().store_url), True


def _timestamp(value: When) -> pd.Timestamp | None:
    """Any accepted `since`/`until` as a UTC Timestamp (naive means UTC)."""
    if value is None:
        return None
    ts = pd.Timestamp(value)
    if pd.isna(ts):
        raise ValueError(f"not a date or time: {value!r}")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _utc(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series, utc=True).astype("datetime64[us, UTC]")


def _typed(frame: pd.DataFrame, strings: Iterable[str], times: Iterable[str]) -> pd.DataFrame:
    for col in strings:
        frame[col] = frame[col].astype("string")
    for col in times:
        frame[col] = _utc(frame[col])
    return frame


def _wanted(outlets: Iterable[str] | None) -> set[str] | None:
    if outlets is None:
        return None
    if isinstance(outlets, str):
        outlets = [outlets]
    return {o.strip().lower() for o in outlets}


def _story_frame(st: Store, since: When, until: When) -> pd.DataFrame:
    when = sa.func.coalesce(articles.c.published, articles.c.first_seen, type_=UTCDateTime)
    first = sa.func.min(when, type_=UTCDateTime)
    last = sa.func.max(when, type_=UTCDateTime)
    spans = (
        sa.select(
            memberships.c.story_id,
            first.label("first_published"),
            last.label("last_updated"),
        )
        .join(articles, articles.c.id == memberships.c.article_id)
        .group_by(memberships.c.story_id)
    )
    lo, hi = _timestamp(since), _timestamp(until)
    if lo is not None:
        spans = spans.having(last >= sa.bindparam("lo", lo.to_pydatetime(), type_=UTCDateTime))
    if hi is not None:
        spans = spans.having(last <= sa.bindparam("hi", hi.to_pydatetime(), type_=UTCDateTime))
    spans = spans.subquery()
    q = sa.select(
        composites.c.story_id,
        composites.c.headline,
        composites.c.primary_outlet,
        composites.c.outlets,
        composites.c.n_articles,
        spans.c.first_published,
        spans.c.last_updated,
        composites.c.text.label("composite"),
    ).join(spans, spans.c.story_id == composites.c.story_id)
    with st.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(q)]
    return pd.DataFrame(rows, columns=STORY_COLUMNS)


def load_stories(
    since: When = None,
    until: When = None,
    outlets: Iterable[str] | None = None,
    store: Store | str | None = None,
) -> pd.DataFrame:
    """One row per merged story, most recently updated first.

    Columns: story_id, headline, primary_outlet (string), outlets (list of names, credit
    order), n_articles (int64), first_published, last_updated (datetime64[us, UTC]),
    composite (string: the credited text, as `newsmerge run` prints it).
    """
    st, owned = _open(store)
    try:
        frame = _story_frame(st, since, until)
    finally:
        if owned:
            st.close()
    frame["outlets"] = frame["outlets"].map(json.loads).astype(object)
    frame["n_articles"] = frame["n_articles"].astype("int64")
    frame = _typed(
        frame,
        ["story_id", "headline", "primary_outlet", "composite"],
        ["first_published", "last_updated"],
    )
    wanted = _wanted(outlets)
    if wanted is not None:
        frame = frame[frame["outlets"].map(lambda os: any(o.lower() in wanted for o in os))]
    frame = frame.sort_values(["last_updated", "story_id"], ascending=[False, True])
    return frame.reset_index(drop=True)


def load_articles(
    since: When = None,
    until: When = None,
    outlets: Iterable[str] | None = None,
    store: Store | str | None = None,
) -> pd.DataFrame:
    """One row per stored article, with its story (NA until it has one), oldest first.

    Columns: article_id, story_id, outlet, title, url, text_source ("page" or "summary"),
    duplicate_of (the article it near-duplicates, or NA), text (string); published, fetched
    (datetime64[us, UTC]; published is NaT when the feed gave no date).
    """
    st, owned = _open(store)
    try:
        q = sa.select(
            articles.c.id.label("article_id"),
            memberships.c.story_id,
            articles.c.outlet,
            articles.c.title,
            articles.c.url,
            articles.c.published,
            articles.c.fetched,
            articles.c.text_source,
            memberships.c.duplicate_of,
            articles.c.text,
        ).outerjoin(memberships, memberships.c.article_id == articles.c.id)
        wanted = _wanted(outlets)
        if wanted is not None:
            q = q.where(sa.func.lower(articles.c.outlet).in_(sorted(wanted)))
        with st.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(q)]
        stories = (
            None
            if since is None and until is None
            else set(_story_frame(st, since, until)["story_id"])
        )
    finally:
        if owned:
            st.close()
    frame = pd.DataFrame(rows, columns=ARTICLE_COLUMNS)
    frame = _typed(
        frame,
        ["article_id", "story_id", "outlet", "title", "url", "text_source", "duplicate_of", "text"],
        ["published", "fetched"],
    )
    if stories is not None:
        stamp = frame["published"].fillna(frame["fetched"])
        lo, hi = _timestamp(since), _timestamp(until)
        alone = frame["story_id"].isna()
        if lo is not None:
            alone &= stamp >= lo
        if hi is not None:
            alone &= stamp <= hi
        frame = frame[frame["story_id"].isin(stories).fillna(False).astype(bool) | alone]
    frame = frame.sort_values(["published", "article_id"], na_position="last")
    return frame.reset_index(drop=True)


def load_credits(
    since: When = None,
    until: When = None,
    outlets: Iterable[str] | None = None,
    store: Store | str | None = None,
) -> pd.DataFrame:
    """One row per composite sentence and credited outlet, with the evidence behind the credit.

    Columns: story_id, paragraph, sentence (int64 positions in the composite), text (the
    sentence, string), outlet (string), article_ids (list: that outlet's articles that say it),
    offsets (list of [start, end] character offsets into each of those articles' text).
    """
    from dedup.merge import from_json

    st, owned = _open(store)
    try:
        story_ids = set(_story_frame(st, since, until)["story_id"])
        with st.engine.connect() as conn:
            data = {
                r.story_id: r.data
                for r in conn.execute(sa.select(composites.c.story_id, composites.c.data))
                if r.story_id in story_ids
            }
    finally:
        if owned:
            st.close()
    rows: list[dict[str, Any]] = []
    for story_id in sorted(data):
        comp = from_json(json.loads(data[story_id]))
        for p_index, paragraph in enumerate(comp.paragraphs):
            for s_index, sentence in enumerate(paragraph.sentences):
                by_outlet: dict[str, list] = {}
                for credit in sentence.credits:
                    by_outlet.setdefault(credit.outlet, []).append(credit)
                for outlet, creds in by_outlet.items():
                    rows.append(
                        {
                            "story_id": story_id,
                            "paragraph": p_index,
                            "sentence": s_index,
                            "text": sentence.text,
                            "outlet": outlet,
                            "article_ids": [c.article_id for c in creds],
                            "offsets": [[c.start, c.end] for c in creds],
                        }
                    )
    frame = pd.DataFrame(rows, columns=CREDIT_COLUMNS)
    frame[["paragraph", "sentence"]] = frame[["paragraph", "sentence"]].astype("int64")
    frame = _typed(frame, ["story_id", "text", "outlet"], [])
    wanted = _wanted(outlets)
    if wanted is not None:
        frame = frame[frame["outlet"].str.lower().isin(wanted)]
    return frame.reset_index(drop=True)


def export(
    directory: str | Path,
    fmt: str = "parquet",
    store: Store | str | None = None,
    since: When = None,
    until: When = None,
    outlets: Iterable[str] | None = None,
) -> list[Path]:
    """Write stories, articles and credits to DIR as parquet or csv; returns the files.

    Parquet keeps every dtype (lists as list columns); CSV holds the list columns as JSON and
    the times as ISO 8601 with their zone. `read_export` reads either back into typed frames.
    """
    if fmt not in ("parquet", "csv"):
        raise ValueError(f"format must be parquet or csv, not {fmt!r}")
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    st, owned = _open(store)
    try:
        frames = {
            "stories": load_stories(since, until, outlets, store=st),
            "articles": load_articles(since, until, outlets, store=st),
            "credits": load_credits(since, until, outlets, store=st),
        }
    finally:
        if owned:
            st.close()
    written = []
    for name, frame in frames.items():
        path = out / f"{name}.{fmt}"
        if fmt == "parquet":
            frame.to_parquet(path, index=False)
        else:
            flat = frame.copy()
            for col in _LIST_COLUMNS:
                if col in flat:
                    flat[col] = flat[col].map(json.dumps)
            flat.to_csv(path, index=False)
        written.append(path)
    return written


_SCHEMAS = {
    "stories": (
        ["story_id", "headline", "primary_outlet", "composite"],
        ["first_published", "last_updated"],
        {"n_articles": "int64"},
    ),
    "articles": (
        ["article_id", "story_id", "outlet", "title", "url", "text_source", "duplicate_of", "text"],
        ["published", "fetched"],
        {},
    ),
    "credits": (["story_id", "text", "outlet"], [], {"paragraph": "int64", "sentence": "int64"}),
}


def read_export(directory: str | Path, fmt: str = "parquet") -> dict[str, pd.DataFrame]:
    """The frames `export` wrote, with the dtypes `load_*` give (lists as Python lists)."""
    frames = {}
    for name, (strings, times, ints) in _SCHEMAS.items():
        path = Path(directory) / f"{name}.{fmt}"
        if fmt == "parquet":
            frame = pd.read_parquet(path)
            for col in _LIST_COLUMNS:
                if col in frame:
                    frame[col] = frame[col].map(_as_list).astype(object)
        else:
            frame = pd.read_csv(
                path,
                dtype=dict.fromkeys(strings, "string"),
                keep_default_na=False,
                na_values={c: [""] for c in strings + times},
            )
            for col in _LIST_COLUMNS:
                if col in frame:
                    frame[col] = frame[col].map(json.loads).astype(object)
        frame = _typed(frame, strings, times)
        for col, dtype in ints.items():
            frame[col] = frame[col].astype(dtype)
        frames[name] = frame
    return frames


def _as_list(value: Any) -> Any:
    """Parquet gives list columns back as numpy arrays (of arrays): make them plain lists."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, list):
        return [_as_list(v) for v in value]
    return value
