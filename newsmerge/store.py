"""The store: articles, feed state, stories with their evidence, and composites.

One SQLAlchemy Core schema serves SQLite (the default, a file created on first run) and
PostgreSQL (by URL). Every write is idempotent, so a rerun, a crash-and-rerun or the same
article arriving through two feeds never makes a second row:

- articles are keyed by `Article.id` (outlet + canonical URL) and upserted;
- an article is assigned to a story once (memberships are keyed by article id), and the
  work list for dedup is "stored articles without a membership", not "what this run fetched";
- a story is marked dirty when its membership or a member's text changes, and its composite
  is rebuilt until it is clean.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from newsmerge.models import Article, Membership

SCHEMA_VERSION = 1


class UTCDateTime(sa.types.TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone of its own)."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: newsmerge stores UTC-aware times only")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


metadata = sa.MetaData()

articles = sa.Table(
    "articles",
    metadata,
    sa.Column("id", sa.String(16), primary_key=True),
    sa.Column("outlet", sa.String(100), nullable=False, index=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("guid", sa.Text, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("text_source", sa.String(10), nullable=False),
    sa.Column("published", UTCDateTime, index=True),
    sa.Column("published_clamped", sa.Boolean, nullable=False, default=False),
    sa.Column("fetched", UTCDateTime, nullable=False),
    sa.Column("first_seen", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("feed_url", sa.Text, nullable=False, default=""),
    sa.Column("signature", sa.LargeBinary),
)

feed_state = sa.Table(
    "feed_state",
    metadata,
    sa.Column("feed_url", sa.Text, primary_key=True),
    sa.Column("outlet", sa.String(100), nullable=False),
    sa.Column("etag", sa.Text),
    sa.Column("last_modified", sa.Text),
    sa.Column("last_status", sa.String(20)),
    sa.Column("last_error", sa.Text),
    sa.Column("last_success", UTCDateTime),
    sa.Column("last_attempt", UTCDateTime),
    sa.Column("consecutive_failures", sa.Integer, nullable=False, default=0),
)

stories = sa.Table(
    "stories",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("dirty", sa.Boolean, nullable=False, default=True, index=True),
)

memberships = sa.Table(
    "memberships",
    metadata,
    sa.Column("article_id", sa.String(16), sa.ForeignKey("articles.id"), primary_key=True),
    sa.Column("story_id", sa.String(64), sa.ForeignKey("stories.id"), nullable=False, index=True),
    sa.Column("matched_article_id", sa.String(16)),
    sa.Column("jaccard", sa.Float),
    sa.Column("score", sa.Float),
    sa.Column("duplicate_of", sa.String(16)),
    sa.Column("evidence", sa.Text, nullable=False, default="{}"),
    sa.Column("assigned_at", UTCDateTime, nullable=False),
)

composites = sa.Table(
    "composites",
    metadata,
    sa.Column("story_id", sa.String(64), sa.ForeignKey("stories.id"), primary_key=True),
    sa.Column("headline", sa.Text, nullable=False),
    sa.Column("primary_outlet", sa.String(100), nullable=False),
    sa.Column("outlets", sa.Text, nullable=False),  # JSON list, credit order
    sa.Column("n_articles", sa.Integer, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("data", sa.Text, nullable=False),  # dedup.merge.to_json, credits with offsets
    sa.Column("version", sa.String(40), nullable=False),
    sa.Column("built_at", UTCDateTime, nullable=False),
)

meta = sa.Table(
    "newsmerge_meta",
    metadata,
    sa.Column("key", sa.String(40), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)


@dataclass(frozen=True)
class UpsertCounts:
    """What storing one batch of fetched articles changed."""

    new: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()


@dataclass(frozen=True)
class StoredFeedState:
    feed_url: str
    outlet: str
    etag: str | None
    last_modified: str | None
    last_status: str | None
    last_error: str | None
    last_success: datetime | None
    last_attempt: datetime | None
    consecutive_failures: int


def _now() -> datetime:
    return datetime.now(UTC)


def _membership_row(m: Membership, now: datetime) -> dict[str, Any]:
    return {
        "article_id": m.article_id,
        "story_id": m.story_id,
        "matched_article_id": m.matched_article_id,
        "jaccard": m.jaccard,
        "score": m.score,
        "duplicate_of": m.duplicate_of,
        "evidence": json.dumps(m.evidence, sort_keys=True, default=str),
        "assigned_at": now,
    }


_SQLITE_BUSY_MS = 30_000  # how long a writer waits for another run's transaction


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets readers (analysts, `newsmerge status`) work while a run writes; the busy
    # timeout (sqlite3's `timeout`, set at connect in `_engine`) makes two runs at once wait
    # for each other instead of failing.
    dbapi_conn.isolation_level = None  # we emit BEGIN ourselves, see _sqlite_begin
    cur = dbapi_conn.cursor()
    _sqlite_wal(cur)
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _sqlite_wal(cur: Any) -> None:
    """Switch a new database file to WAL (a setting kept in the file), waiting out other
    connections: while several connect to a fresh file at once, SQLite can refuse the switch
    with "database is locked" at once, without its busy wait (seen with 13 writers)."""
    deadline = time.monotonic() + _SQLITE_BUSY_MS / 1000
    pause = 0.005
    while True:
        try:
            mode = cur.execute("PRAGMA journal_mode=WAL").fetchone()[0].lower()
            if mode in ("wal", "memory"):  # an in-memory database has no WAL to switch to
                return
            refused: Exception = sqlite3.OperationalError("journal_mode=WAL was not applied")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise
            refused = exc
        if time.monotonic() > deadline:
            raise refused
        time.sleep(pause)
        pause = min(pause * 2, 0.25)


def _sqlite_begin(conn: Connection) -> None:
    # A writer takes the lock at BEGIN: two runs that both read and then try to upgrade to a
    # write lock would otherwise fail at once with "database is locked" (no busy wait applies).
    immediate = conn.get_execution_options().get("newsmerge_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _engine(url: str) -> Engine:
    sa_url = sa.engine.make_url(url)
    if sa_url.get_backend_name() == "sqlite":
        db = sa_url.database
        if db and db != ":memory:":
            Path(db).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(sa_url, connect_args={"timeout": _SQLITE_BUSY_MS / 1000})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        sa.event.listen(engine, "begin", _sqlite_begin)
        return engine
    return sa.create_engine(sa_url, pool_pre_ping=True)


class Store:
    """All persistence behind one small interface; `Store(url)` creates the schema if needed."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = _engine(url)
        self._create_schema()

    def _create_schema(self) -> None:
        # Several tasks or runs may open a new store at once: create tables under a lock, or
        # two of them race to CREATE TABLE and one fails.
        with self._tx() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7470727565)")
            metadata.create_all(conn, checkfirst=True)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        """A write transaction (on SQLite it takes the write lock up front, see `_sqlite_begin`)."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(newsmerge_write=True)
            with conn.begin():
                yield conn

    def _insert(self, conn: Connection, table: sa.Table) -> Any:
        """An INSERT that can say ON CONFLICT DO NOTHING / DO UPDATE on this backend."""
        if conn.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        return insert(table)

    # -- articles ---------------------------------------------------------------------------

    def upsert_articles(self, batch: Iterable[Article]) -> UpsertCounts:
        """Store fetched articles; the same article again is one row, an edit updates it.

        Text is never downgraded: a re-poll that skipped the page (summary as text) keeps the
        page text stored earlier.
        """
        new: list[str] = []
        updated: list[str] = []
        unchanged: list[str] = []
        now = _now()
        with self._tx() as conn:
            for art in {a.id: a for a in batch}.values():
                row = self._article_row(art, now)
                ins = (
                    self._insert(conn, articles)
                    .values(**row)
                    .on_conflict_do_nothing(index_elements=["id"])
                    .returning(articles.c.id)
                )
                if conn.execute(ins).first() is not None:
                    new.append(art.id)
                    continue
                old = conn.execute(
                    sa.select(
                        articles.c.title,
                        articles.c.summary,
                        articles.c.text,
                        articles.c.text_source,
                        articles.c.published,
                    ).where(articles.c.id == art.id)
                ).one()
                changes: dict[str, Any] = {}
                if art.title != old.title:
                    changes["title"] = art.title
                if art.summary != old.summary:
                    changes["summary"] = art.summary
                keeps_page = old.text_source == "page" and art.text_source == "summary"
                if not keeps_page and art.text != old.text:
                    changes["text"] = art.text
                    changes["text_source"] = art.text_source
                if art.published and art.published != old.published:
                    changes["published"] = art.published
                if not changes:
                    unchanged.append(art.id)
                    continue
                changes.update(updated_at=now, fetched=art.fetched)
                conn.execute(articles.update().where(articles.c.id == art.id).values(**changes))
                self._mark_dirty_by_article(conn, art.id, now)
                updated.append(art.id)
        return UpsertCounts(tuple(new), tuple(updated), tuple(unchanged))

    @staticmethod
    def _article_row(art: Article, now: datetime) -> dict[str, Any]:
        return {
            "id": art.id,
            "outlet": art.outlet,
            "url": art.url,
            "guid": art.guid,
            "title": art.title,
            "summary": art.summary,
            "text": art.text,
            "text_source": art.text_source,
            "published": art.published,
            "published_clamped": art.published_clamped,
            "fetched": art.fetched,
            "first_seen": now,
            "updated_at": now,
            "feed_url": art.feed_url,
        }

    def page_urls(self, outlet: str) -> set[str]:
        """Canonical URLs of the outlet's articles whose page text is already stored."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(articles.c.url).where(
                    articles.c.outlet == outlet, articles.c.text_source == "page"
                )
            )
            return {r.url for r in rows}

    def articles_by_id(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        if not ids:
            return []
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(articles).where(articles.c.id.in_(list(ids))))
            by_id = {r.id: dict(r._mapping) for r in rows}
        return [by_id[i] for i in ids if i in by_id]

    def unassigned_articles(self) -> list[dict[str, Any]]:
        """Articles not yet in any story: dedup's work list (survives crashes by construction)."""
        with self.engine.connect() as conn:
            q = (
                sa.select(articles)
                .outerjoin(memberships, memberships.c.article_id == articles.c.id)
                .where(memberships.c.article_id.is_(None))
                .order_by(articles.c.published, articles.c.id)
            )
            return [dict(r._mapping) for r in conn.execute(q)]

    def active_articles(self, since: datetime) -> list[dict[str, Any]]:
        """Assigned articles published (or first seen) since `since`, with story and signature."""
        when = sa.func.coalesce(articles.c.published, articles.c.first_seen, type_=UTCDateTime)
        with self.engine.connect() as conn:
            q = (
                sa.select(articles, memberships.c.story_id, memberships.c.evidence)
                .join(memberships, memberships.c.article_id == articles.c.id)
                .where(when >= sa.bindparam("since", since, type_=UTCDateTime))
                .order_by(articles.c.id)
            )
            return [dict(r._mapping) for r in conn.execute(q)]

    def newest_assigned(self) -> datetime | None:
        """When the newest assigned article was published (or first seen): where the open
        window of story detection ends."""
        when = sa.func.coalesce(articles.c.published, articles.c.first_seen, type_=UTCDateTime)
        with self.engine.connect() as conn:
            q = sa.select(sa.func.max(when)).select_from(
                articles.join(memberships, memberships.c.article_id == articles.c.id)
            )
            return conn.execute(q).scalar_one_or_none()

    def story_members(self, story_ids: Iterable[str]) -> list[dict[str, Any]]:
        """Every article of these stories, with its story and signature."""
        ids = sorted(set(story_ids))
        rows: list[dict[str, Any]] = []
        with self.engine.connect() as conn:
            for start in range(0, len(ids), 500):
                q = (
                    sa.select(articles, memberships.c.story_id)
                    .join(memberships, memberships.c.article_id == articles.c.id)
                    .where(memberships.c.story_id.in_(ids[start : start + 500]))
                    .order_by(articles.c.id)
                )
                rows.extend(dict(r._mapping) for r in conn.execute(q))
        return rows

    # -- feed state -------------------------------------------------------------------------

    def feed_states(self, outlet: str | None = None) -> dict[str, StoredFeedState]:
        with self.engine.connect() as conn:
            q = sa.select(feed_state)
            if outlet is not None:
                q = q.where(feed_state.c.outlet == outlet)
            return {r.feed_url: StoredFeedState(**r._mapping) for r in conn.execute(q)}

    def record_feed(
        self,
        outlet: str,
        feed_url: str,
        status: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        error: str | None = None,
        at: datetime | None = None,
    ) -> None:
        """Remember a poll made `at`: validators for the next conditional GET, and health."""
        now = at or _now()
        ok = status in ("ok", "not_modified")
        with self._tx() as conn:
            old = conn.execute(
                sa.select(feed_state).where(feed_state.c.feed_url == feed_url)
            ).one_or_none()
            failures = 0 if ok else (old.consecutive_failures if old else 0) + 1
            row: dict[str, Any] = {
                "outlet": outlet,
                "last_status": status,
                "last_error": None if ok else error,
                "last_attempt": now,
                "consecutive_failures": failures,
            }
            if ok:
                row["last_success"] = now
            if status == "ok":
                row.update(etag=etag, last_modified=last_modified)
            if old is None:
                conn.execute(feed_state.insert().values(feed_url=feed_url, **row))
            else:
                conn.execute(
                    feed_state.update().where(feed_state.c.feed_url == feed_url).values(**row)
                )

    # -- stories ----------------------------------------------------------------------------

    def save_assignment(
        self,
        members: Sequence[Membership],
        signatures: Mapping[str, bytes],
        relabel: Mapping[str, str] | None = None,
    ) -> None:
        """Record new memberships with their evidence, and mark their stories dirty."""
        now = _now()
        with self._tx() as conn:
            for old_id, new_id in (relabel or {}).items():
                self._ensure_story(conn, new_id, now)
                conn.execute(
                    memberships.update()
                    .where(memberships.c.story_id == old_id)
                    .values(story_id=new_id)
                )
                conn.execute(composites.delete().where(composites.c.story_id == old_id))
                conn.execute(stories.delete().where(stories.c.id == old_id))
            for m in members:
                self._ensure_story(conn, m.story_id, now)
                ins = (
                    self._insert(conn, memberships)
                    .values(**_membership_row(m, now))
                    .on_conflict_do_nothing(index_elements=["article_id"])
                )
                conn.execute(ins)
            for article_id, sig in signatures.items():
                conn.execute(
                    articles.update().where(articles.c.id == article_id).values(signature=sig)
                )

    def replace_memberships(
        self, members: Sequence[Membership], signatures: Mapping[str, bytes]
    ) -> tuple[int, list[str], list[str]]:
        """Re-decided memberships replace these articles' old ones, in one transaction.

        A story whose members changed is marked dirty (its composite is rebuilt); one left
        without members is deleted with its composite. Returns how many articles moved to
        another story, and the changed and the removed story ids.
        """
        now = _now()
        ids = [m.article_id for m in members]
        with self._tx() as conn:
            old: dict[str, str] = {}
            for start in range(0, len(ids), 500):
                q = sa.select(memberships.c.article_id, memberships.c.story_id).where(
                    memberships.c.article_id.in_(ids[start : start + 500])
                )
                old.update((r.article_id, r.story_id) for r in conn.execute(q))
            moved = {m.article_id for m in members if old.get(m.article_id) != m.story_id}
            touched = {old[a] for a in moved if a in old} | {
                m.story_id for m in members if m.article_id in moved
            }
            for start in range(0, len(ids), 500):
                conn.execute(
                    memberships.delete().where(
                        memberships.c.article_id.in_(ids[start : start + 500])
                    )
                )
            for m in members:
                if m.article_id in moved:  # only a moved article can found a new story
                    conn.execute(
                        self._insert(conn, stories)
                        .values(id=m.story_id, created_at=now, updated_at=now, dirty=True)
                        .on_conflict_do_nothing(index_elements=["id"])
                    )
                conn.execute(memberships.insert().values(**_membership_row(m, now)))
            for article_id, sig in signatures.items():
                conn.execute(
                    articles.update().where(articles.c.id == article_id).values(signature=sig)
                )
            removed = []
            for story_id in sorted(touched):
                left = conn.execute(
                    sa.select(sa.func.count())
                    .select_from(memberships)
                    .where(memberships.c.story_id == story_id)
                ).scalar_one()
                if left:
                    conn.execute(
                        stories.update()
                        .where(stories.c.id == story_id)
                        .values(dirty=True, updated_at=now)
                    )
                else:
                    conn.execute(composites.delete().where(composites.c.story_id == story_id))
                    conn.execute(stories.delete().where(stories.c.id == story_id))
                    removed.append(story_id)
        return len(moved), sorted(touched - set(removed)), removed

    def _ensure_story(self, conn: Connection, story_id: str, now: datetime) -> None:
        ins = self._insert(conn, stories).values(
            id=story_id, created_at=now, updated_at=now, dirty=True
        )
        ins = ins.on_conflict_do_update(
            index_elements=["id"], set_={"updated_at": now, "dirty": True}
        )
        conn.execute(ins)

    def _mark_dirty_by_article(self, conn: Connection, article_id: str, now: datetime) -> None:
        sid = sa.select(memberships.c.story_id).where(memberships.c.article_id == article_id)
        conn.execute(
            stories.update().where(stories.c.id.in_(sid)).values(dirty=True, updated_at=now)
        )

    def dirty_stories(self) -> list[str]:
        with self.engine.connect() as conn:
            q = sa.select(stories.c.id).where(stories.c.dirty.is_(True)).order_by(stories.c.id)
            return [r.id for r in conn.execute(q)]

    def story_articles(self, story_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            q = (
                sa.select(articles, memberships.c.duplicate_of)
                .join(memberships, memberships.c.article_id == articles.c.id)
                .where(memberships.c.story_id == story_id)
                .order_by(articles.c.published, articles.c.id)
            )
            return [dict(r._mapping) for r in conn.execute(q)]

    def save_composite(
        self,
        story_id: str,
        *,
        headline: str,
        primary_outlet: str,
        outlets: Sequence[str],
        n_articles: int,
        text: str,
        data: Mapping[str, Any],
        version: str,
        built_from: datetime,
    ) -> None:
        """Store a story's composite; the story is clean unless it changed after `built_from`."""
        now = _now()
        row = {
            "story_id": story_id,
            "headline": headline,
            "primary_outlet": primary_outlet,
            "outlets": json.dumps(list(outlets)),
            "n_articles": n_articles,
            "text": text,
            "data": json.dumps(data, sort_keys=True, default=str),
            "version": version,
            "built_at": now,
        }
        with self._tx() as conn:
            ins = self._insert(conn, composites).values(**row)
            ins = ins.on_conflict_do_update(
                index_elements=["story_id"], set_={k: v for k, v in row.items() if k != "story_id"}
            )
            conn.execute(ins)
            conn.execute(
                stories.update()
                .where(stories.c.id == story_id, stories.c.updated_at <= built_from)
                .values(dirty=False)
            )

    def story_updated_at(self, story_id: str) -> datetime | None:
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(stories.c.updated_at).where(stories.c.id == story_id)
            ).scalar_one_or_none()

    def composites(self) -> list[dict[str, Any]]:
        """Every stored composite, most outlets and articles first."""
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(sa.select(composites))]
        for r in rows:
            r["outlets"] = json.loads(r["outlets"])
        rows.sort(key=lambda r: (-len(r["outlets"]), -r["n_articles"], r["story_id"]))
        return rows

    def counts(self) -> dict[str, int]:
        """Row counts per table: what a rerun must leave unchanged."""
        with self.engine.connect() as conn:
            return {
                t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                for t in (articles, feed_state, stories, memberships, composites)
            }
