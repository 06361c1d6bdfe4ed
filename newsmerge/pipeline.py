"""The pipeline's stages as plain functions: fetch, store, detect stories, build composites.

Prefect tasks in `flows/` wrap these one to one, so the logic is testable without Prefect and
every stage takes and returns plain, serialisable values (URLs and names, not open handles).
Each stage reads its work list from the store, so a run that died half way is finished by the
next one and nothing is done twice.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors import FeedState, OutletResult, fetch_outlet
from dedup import CODE_VERSION, DedupSettings, Doc, KnownDoc, assign_stories
from dedup.embeddings import encoder_name, load_encoder
from dedup.merge import SourceArticle, compose, render_text, to_json
from newsmerge.config import Config, ConfigError, OutletConfig, PollingConfig
from newsmerge.replay import replay_transport
from newsmerge.store import Store, StoredFeedState

log = logging.getLogger("newsmerge.pipeline")


class AllOutletsFailed(RuntimeError):
    """No outlet delivered anything: the run fails (one failed outlet only warns)."""


@dataclass(frozen=True)
class OutletReport:
    """One outlet's poll, as the run summary and the Prefect artifact show it."""

    outlet: str
    seen: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    not_modified: int = 0  # feeds that answered 304
    failed_feeds: int = 0
    failed_items: int = 0
    errors: tuple[str, ...] = ()
    backing_off: int = 0  # failing feeds not tried this run (see `next_attempt`)
    before_since: int = 0  # items left out because they were published before `since`

    @property
    def failed(self) -> bool:
        return self.failed_feeds > 0 and self.seen == 0 and self.not_modified == 0

    @classmethod
    def combine(cls, reports: Sequence[OutletReport]) -> OutletReport:
        """One outlet's reports over several captures (a backfill) as one: counts add up."""
        counts = {
            f.name: sum(getattr(r, f.name) for r in reports)
            for f in fields(cls)
            if f.name not in ("outlet", "errors")
        }
        errors = tuple(e for r in reports for e in r.errors)
        return cls(reports[0].outlet, **counts, errors=errors)


@dataclass(frozen=True)
class FetchOutcome:
    """An outlet's fetch result plus the feeds it left alone because they are backing off."""

    result: OutletResult
    backing_off: tuple[str, ...] = ()  # "feed_url (backing off until 2026-08-13T05:00:00+00:00)"
    attempted_at: datetime | None = None
    before_since: int = 0

    @property
    def outlet(self) -> str:
        return self.result.outlet


@dataclass(frozen=True)
class StoriesReport:
    assigned: int = 0
    new_stories: int = 0
    changed_stories: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunSummary:
    outlets: tuple[OutletReport, ...]
    stories: StoriesReport
    composites_built: tuple[str, ...]
    totals: dict[str, int] = field(default_factory=dict)


def dedup_settings(config: Config) -> DedupSettings:
    try:
        return DedupSettings.from_mapping(config.dedup)
    except ValueError as exc:
        raise ConfigError(config.path, "dedup", str(exc)) from None


def next_attempt(state: StoredFeedState, polling: PollingConfig) -> datetime | None:
    """When a failing feed may be tried again: 1, 2, 4… poll intervals after its last attempt.

    A feed that keeps failing is neither hammered every run nor dropped: it is retried ever
    less often, up to `max_backoff_minutes`, and recovers by itself on its first success.
    """
    if state.consecutive_failures <= 0 or state.last_attempt is None:
        return None
    interval = max(polling.interval_minutes, 1)
    wait = min(interval * 2 ** min(state.consecutive_failures - 1, 30), polling.max_backoff_minutes)
    return state.last_attempt + timedelta(minutes=wait)


def fetch(
    outlet: OutletConfig,
    store_url: str,
    replay_base: str | None = None,
    *,
    now: datetime | None = None,
    backoff: bool | None = None,
    since: datetime | None = None,
) -> FetchOutcome:
    """Poll one outlet's due feeds (conditional GET from remembered validators) and new pages.

    Failing feeds back off (`backoff`), except by default in a replay: a recording is fixed,
    so every feed in it is always due. Items published before `since` are left out (a
    backfill's lower bound); undated items are kept.
    """
    now = now or datetime.now(UTC)
    backoff = replay_base is None if backoff is None else backoff
    with Store(store_url) as store:
        states = store.feed_states(outlet.name)
        skip = store.page_urls(outlet.name)
    waiting: dict[str, datetime] = {}
    if backoff:
        for url in outlet.feeds:
            due = next_attempt(states[url], outlet.polling) if url in states else None
            if due is not None and due > now:
                waiting[url] = due
                log.info("%s feed %s backing off until %s", outlet.name, url, due)
    validators = {
        u: FeedState(etag=s.etag, last_modified=s.last_modified) for u, s in states.items()
    }
    transport = replay_transport(replay_base) if replay_base else None
    due_outlet = replace(outlet, feeds=tuple(f for f in outlet.feeds if f not in waiting))
    if due_outlet.feeds:
        result = fetch_outlet(due_outlet, validators, transport=transport, skip_pages=skip)
    else:
        result = OutletResult(outlet.name, (), (), ())
    backing_off = tuple(
        f"{url} (backing off until {due.isoformat(timespec='seconds')})"
        for url, due in waiting.items()
    )
    before = 0
    if since is not None:
        kept = tuple(a for a in result.articles if a.published is None or a.published >= since)
        before = len(result.articles) - len(kept)
        result = replace(result, articles=kept)
    return FetchOutcome(result, backing_off, attempted_at=now, before_since=before)


def store_result(outcome: FetchOutcome, store_url: str) -> OutletReport:
    """Store one outlet's articles idempotently and remember each feed's validators and health."""
    result = outcome.result
    with Store(store_url) as store:
        counts = store.upsert_articles(result.articles)
        for feed in result.feeds:
            store.record_feed(
                result.outlet,
                feed.feed_url,
                feed.status,
                etag=feed.etag,
                last_modified=feed.last_modified,
                error=feed.error,
                at=outcome.attempted_at,
            )
    errors = [f"{f.feed_url}: {f.error}" for f in result.feeds if f.status == "failed"]
    errors += [f"{e.url}: {e.error}" for e in result.item_errors]
    return OutletReport(
        outlet=result.outlet,
        seen=sum(f.items_seen for f in result.feeds),
        new=len(counts.new),
        updated=len(counts.updated),
        unchanged=len(counts.unchanged),
        not_modified=sum(f.status == "not_modified" for f in result.feeds),
        failed_feeds=sum(f.status == "failed" for f in result.feeds),
        failed_items=len(result.item_errors),
        errors=tuple(errors),
        backing_off=len(outcome.backing_off),
        before_since=outcome.before_since,
    )


def _doc(row: dict[str, Any]) -> Doc:
    return Doc(
        id=row["id"],
        outlet=row["outlet"],
        title=row["title"],
        text=row["text"],
        published=row["published"],
    )


def detect_stories(store_url: str, settings: DedupSettings) -> StoriesReport:
    """Put every article not yet in a story into one, new or from the active window."""
    with Store(store_url) as store:
        pending = store.unassigned_articles()
        if not pending:
            return StoriesReport()
        # The window is measured from the newest pending article rather than the wall clock,
        # so replaying an old capture behaves as the live run did on that day.
        newest = max(r["published"] or r["first_seen"] for r in pending)
        since = newest - timedelta(days=settings.window_days)
        active = store.active_articles(since)
        known = [
            KnownDoc(**vars(_doc(r)), story_id=r["story_id"], signature=r["signature"])
            for r in active
            if r["signature"] is not None
        ]
        before = {r["story_id"] for r in active}
        stale = stale_window(active, settings)
        if stale:
            log.warning("%s", stale)
        result = assign_stories([_doc(r) for r in pending], known, settings, now=newest)
        store.save_assignment(result.memberships, result.signatures, result.relabel)
    created = {m.story_id for m in result.memberships} - before
    log.info("assigned %d articles: %d new stories", len(result.memberships), len(created))
    return StoriesReport(
        assigned=len(result.memberships),
        new_stories=len(created),
        changed_stories=tuple(sorted(result.changed_story_ids)),
    )


@dataclass(frozen=True)
class RedecideReport:
    """What `redecide_window` did: articles decided again, stories changed and removed."""

    since: datetime | None = None
    redecided: int = 0
    moved: int = 0
    changed_stories: tuple[str, ...] = ()
    removed_stories: tuple[str, ...] = ()


def decided_by(evidence: str | None) -> tuple[str, str]:
    """(code version, encoder) a stored membership was decided by."""
    try:
        record = json.loads(evidence or "{}")
    except ValueError:
        record = {}
    return str(record.get("code_version", "?")), str(record.get("encoder", "?"))


def current_decider(settings: DedupSettings) -> tuple[str, str]:
    """(code version, encoder) story detection decides with now."""
    return CODE_VERSION, encoder_name(load_encoder(settings.encoder))


def stale_window(active: Sequence[dict[str, Any]], settings: DedupSettings) -> str:
    """A sentence when the open window (`active` rows with their evidence) was decided by
    another code version or encoder than today's: new articles are then scored with today's
    model against stories another one formed. Empty when it was not."""
    now = current_decider(settings)
    other = Counter(decided_by(r.get("evidence")) for r in active)
    other.pop(now, None)
    if not other:
        return ""
    seen = ", ".join(f"{n} by {v} / {e}" for (v, e), n in sorted(other.items()))
    return (
        f"open window: {len(active)} articles, {sum(other.values())} decided by another "
        f"version ({seen}; now {now[0]} / {now[1]}): `newsmerge restory` (or a flow run with "
        "-p restory=true) decides them again"
    )


def open_window(store: Store, settings: DedupSettings) -> tuple[datetime | None, list[dict]]:
    """Where the open window starts (`window_days` before the newest assigned article; None
    in a store with no stories) and its assigned articles, with story and evidence."""
    newest = store.newest_assigned()
    if newest is None:
        return None, []
    since = newest - timedelta(days=settings.window_days)
    return since, store.active_articles(since)


def redecide_window(store_url: str, settings: DedupSettings) -> RedecideReport:
    """Decide the open window's stories again with today's code, encoder and settings.

    Why: memberships are decided once, when an article arrives. After an upgrade (dedup-1.4's
    tuned encoder, say) the window's stories are another model's decisions until they age out,
    and new articles are scored against them. This runs the window's articles as one batch;
    older members of their stories stay where they are and may take them back (as when they
    were joined). Story ids are kept where a story's founder still founds it; stories left
    empty are deleted with their composites; changed ones are marked dirty for a rebuild.
    """
    with Store(store_url) as store:
        since, active = open_window(store, settings)
        if since is None:
            return RedecideReport()
        in_window = {r["id"] for r in active}
        older = [
            r
            for r in store.story_members({r["story_id"] for r in active})
            if r["id"] not in in_window and r["signature"] is not None
        ]
        known = [
            KnownDoc(**vars(_doc(r)), story_id=r["story_id"], signature=r["signature"])
            for r in older
        ]
        # now=None: the older members stay open to the window's articles, as they were when
        # those articles joined them.
        result = assign_stories([_doc(r) for r in active], known, settings, now=None)
        members = [
            replace(m, evidence={**m.evidence, "redecided": True}) for m in result.memberships
        ]
        moved, changed, removed = store.replace_memberships(members, result.signatures)
    log.info(
        "re-decided %d articles since %s: %d moved, %d stories changed, %d removed",
        len(members),
        since.isoformat(),
        moved,
        len(changed),
        len(removed),
    )
    return RedecideReport(since, len(members), moved, tuple(changed), tuple(removed))


def source_articles(rows: Sequence[dict[str, Any]]) -> list[SourceArticle]:
    return [
        SourceArticle(
            id=r["id"],
            outlet=r["outlet"],
            title=r["title"],
            text=r["text"],
            published=r["published"],
            url=r["url"],
        )
        for r in rows
    ]


def build_composites(store_url: str, story_ids: Sequence[str], encoder: str = "auto") -> list[str]:
    """Rebuild these stories' composites from their current members, over one store connection.

    `encoder` is the `[dedup] encoder` setting: stories and alignment use the same one.
    Returns the ids built; a story with no members left is skipped.
    """
    built = []
    with Store(store_url) as store:
        for story_id in story_ids:
            built_from = store.story_updated_at(story_id)
            rows = store.story_articles(story_id)
            if not rows or built_from is None:
                continue
            comp = compose(story_id, source_articles(rows), encoder=encoder)
            store.save_composite(
                story_id,
                headline=comp.headline,
                primary_outlet=comp.primary_outlet,
                outlets=comp.outlets,
                n_articles=len(rows),
                text=render_text(comp),
                data=to_json(comp),
                version=comp.version,
                built_from=built_from,
            )
            built.append(story_id)
    return built


def dirty_stories(store_url: str) -> list[str]:
    with Store(store_url) as store:
        return store.dirty_stories()


def totals(store_url: str) -> dict[str, int]:
    with Store(store_url) as store:
        return store.counts()
