"""The `news-pipeline` Prefect flow: orchestration only; the stages live in `newsmerge.pipeline`.

fetch (one task per outlet, concurrently) → store → detect stories → build composites.

- Every live fetch to an outlet holds a slot of the Prefect global concurrency limit
  `newsmerge-fetch-<outlet>` (created with 1 slot when missing), so two runs at once never hit
  one outlet in parallel. A replay talks only to its own server on 127.0.0.1 and takes no slot
  (a run killed while holding one would block the next for the lease, a minute at least).
- An outlet that fails is logged, shown in the run's artifact, and ends the run Completed with
  a warning message; the run fails only when every outlet failed.
- `NEWSMERGE_TASK_RUNNER=dask` (read at import, e.g. from a deployment's job variables) runs the
  tasks on Dask through `prefect-dask`: on `NEWSMERGE_DASK_ADDRESS` when set, otherwise on a
  temporary local cluster. `with_dask(...)` does the same for one call.
"""

from __future__ import annotations

import logging
import os
import re
from contextlib import ExitStack, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NONE
from prefect.concurrency.sync import concurrency
from prefect.states import Completed

from newsmerge import pipeline
from newsmerge.config import ROOT, OutletConfig, load_config
from newsmerge.replay import serve_capture

TASK_RUNNER_ENV = "NEWSMERGE_TASK_RUNNER"  # "threads" (default) or "dask"
DASK_ADDRESS_ENV = "NEWSMERGE_DASK_ADDRESS"  # tcp://scheduler:8786; unset = temporary local cluster
FETCH_LIMIT_PREFIX = "newsmerge-fetch-"
FETCH_SLOTS_PER_OUTLET = 1  # when the limit does not exist yet; change it with `prefect gcl`
FETCH_SLOT_WAIT_S = 1200  # how long a fetch waits for its outlet's slot before failing
COMPOSITES_PER_TASK = 25  # enough work per task to dwarf Prefect's per-task overhead


class _ThreadTimeoutNotice(logging.Filter):
    """Drop Prefect's per-task notice that a timeout cannot interrupt a worker thread.

    Known and accepted here: our blocking I/O has its own httpx and database timeouts; the task
    timeout is the outer bound that fails a run that somehow hangs past them.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "running in a worker thread" not in record.getMessage()


logging.getLogger("prefect.task_runs").addFilter(_ThreadTimeoutNotice())


def _log() -> logging.Logger | logging.LoggerAdapter:
    """The run's logger inside a flow (shown in the UI); a module logger outside one."""
    try:
        return get_run_logger()
    except Exception:  # MissingContextError: called outside a run
        return logging.getLogger("newsmerge.flows")


def fetch_limit_name(outlet: str) -> str:
    """`Al Jazeera` → `newsmerge-fetch-al-jazeera` (limit names allow no special characters)."""
    return FETCH_LIMIT_PREFIX + (re.sub(r"[^a-z0-9]+", "-", outlet.lower()).strip("-") or "outlet")


@task(
    name="fetch-outlet",
    task_run_name="fetch-{outlet.name}",
    cache_policy=NONE,
    retries=1,
    retry_delay_seconds=5,
    timeout_seconds=FETCH_SLOT_WAIT_S + 600,
)
def fetch_outlet(
    outlet: OutletConfig,
    store_url: str,
    replay_base: str | None,
    limit: str | None = None,
    since: datetime | None = None,
):
    slot = (
        concurrency(limit, occupy=1, timeout_seconds=FETCH_SLOT_WAIT_S, strict=False)
        if limit
        else nullcontext()
    )
    with slot:
        return pipeline.fetch(outlet, store_url, replay_base, since=since)


@task(
    name="store-articles",
    task_run_name="store-{result.outlet}",
    cache_policy=NONE,
    retries=2,
    retry_delay_seconds=2,
    timeout_seconds=600,
)
def store_articles(result, store_url: str) -> pipeline.OutletReport:
    return pipeline.store_result(result, store_url)


@task(
    name="detect-stories", cache_policy=NONE, retries=2, retry_delay_seconds=2, timeout_seconds=1800
)
def detect_stories(store_url: str, settings) -> pipeline.StoriesReport:
    return pipeline.detect_stories(store_url, settings)


@task(name="restory", cache_policy=NONE, retries=2, retry_delay_seconds=2, timeout_seconds=1800)
def redecide_window(store_url: str, settings) -> pipeline.RedecideReport:
    return pipeline.redecide_window(store_url, settings)


@task(
    name="build-composites",
    cache_policy=NONE,
    retries=2,
    retry_delay_seconds=2,
    timeout_seconds=1800,
)
def build_composites(store_url: str, story_ids: list[str], encoder: str = "auto") -> list[str]:
    return pipeline.build_composites(store_url, story_ids, encoder)


def resolve_capture(replay: str) -> Path:
    """A capture path as given, or relative to the project root (for deployments)."""
    path = Path(replay).expanduser()
    if not path.exists() and not path.is_absolute() and (ROOT / path).exists():
        path = ROOT / path
    if not (path / "capture.json").is_file():
        raise FileNotFoundError(f"{replay}: not a replay capture (no capture.json there)")
    return path


def _captures(replay: str | list[str] | None) -> list[str | None]:
    """`None` polls the live feeds once; one capture or several (a backfill) replay each in turn."""
    if replay is None or replay == [] or replay == "":
        return [None]
    return [replay] if isinstance(replay, str) else list(replay)


def _utc(when: datetime | None) -> datetime | None:
    if when is None:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def ensure_fetch_limits(outlets: list[str]) -> dict[str, str | None]:
    """The concurrency limit of each outlet, created with one slot if missing.

    Returns outlet → limit name, or None when the API cannot hold limits (the run goes on
    unlimited and says so).
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    log = _log()
    names: dict[str, str | None] = {}
    try:
        with get_client(sync_client=True) as client:
            for outlet in outlets:
                name = fetch_limit_name(outlet)
                try:
                    client.read_global_concurrency_limit_by_name(name)
                except ObjectNotFound:
                    try:
                        client.create_global_concurrency_limit(
                            GlobalConcurrencyLimitCreate(name=name, limit=FETCH_SLOTS_PER_OUTLET)
                        )
                        log.info(
                            "created concurrency limit %s (%d slot)", name, FETCH_SLOTS_PER_OUTLET
                        )
                    except ObjectAlreadyExists:  # another run created it first
                        pass
                names[outlet] = name
    except Exception as exc:  # politeness must not stop the poll
        log.warning("fetches are not rate limited: cannot set up concurrency limits: %s", exc)
        return dict.fromkeys(outlets)
    return names


def _publish(rows: list[dict[str, Any]], built: list[str], store_url: str) -> None:
    create_table_artifact(
        key="outlet-fetch-results",
        table=rows,
        description="Per-outlet fetch results of this run",
    )
    if built:
        from newsmerge.store import Store

        wanted = set(built)
        with Store(store_url) as store:
            comps = [c for c in store.composites() if c["story_id"] in wanted]
        md = "\n\n---\n\n".join(
            f"## {c['headline']}\n\n_{', '.join(c['outlets'])} · {c['n_articles']} articles · "
            f"story `{c['story_id']}`_\n\n{c['text']}"
            for c in comps[:50]
        )
        if len(comps) > 50:
            md += f"\n\n_… and {len(comps) - 50} more_"
        create_markdown_artifact(
            key="new-and-updated-composites",
            markdown=md or "_no composites_",
            description=f"{len(built)} composites built or rebuilt",
        )


def _row(report: pipeline.OutletReport, capture: str | None) -> dict[str, Any]:
    return {
        "outlet": report.outlet,
        "capture": capture or "live",
        "seen": report.seen,
        "new": report.new,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "304": report.not_modified,
        "failed": report.failed_feeds + report.failed_items,
        "before since": report.before_since,
        "backing off": report.backing_off,
        "errors": "; ".join(report.errors)[:2000],
    }


@flow(name="news-pipeline", log_prints=True)
def news_pipeline(
    outlets: list[str] | None = None,
    replay: str | list[str] | None = None,
    store_url: str | None = None,
    config_path: str | None = None,
    since: datetime | None = None,
    restory: bool = False,
) -> pipeline.RunSummary:
    """Poll the configured outlets, store new articles, group them into stories, merge each.

    Args:
        outlets: credit names to poll (default: every outlet in the config).
        replay: a recorded capture folder (e.g. `seeds/captures/2026-08-13`), or a list of
            them for a backfill, replayed offline instead of polling the web.
        store_url: SQLAlchemy URL of the store (default: the config's, or NEWSMERGE_STORE_URL).
        config_path: the outlets config (default: config/outlets.toml).
        since: keep only articles published at or after this time (UTC when no zone is given);
            articles without a publication time are kept.
        restory: after this run's articles join their stories, decide the open window's
            stories again with today's code and encoder (`newsmerge restory`), for the first
            run after an upgrade; the stories that change get their composites rebuilt.
    """
    log = get_run_logger()
    config = load_config(config_path, store_url=store_url)
    selected = config.select(outlets)
    settings = pipeline.dedup_settings(config)
    since = _utc(since)
    captures = _captures(replay)
    live = None in captures
    limits = ensure_fetch_limits([o.name for o in selected]) if live else {}
    rows: list[dict[str, Any]] = []
    per_outlet: dict[str, list[pipeline.OutletReport]] = {o.name: [] for o in selected}
    for capture in captures:
        with ExitStack() as stack:
            replay_base = None
            if capture:
                server = stack.enter_context(serve_capture(resolve_capture(capture)))
                replay_base = server.base_url
                log.info("replaying %s from %s", capture, replay_base)
            fetches = [
                fetch_outlet.submit(o, config.store_url, replay_base, limits.get(o.name), since)
                for o in selected
            ]
            for outlet, fut in zip(selected, fetches, strict=True):
                result = fut.result(raise_on_failure=False)
                if isinstance(result, BaseException):
                    log.error("outlet %s failed: %s", outlet.name, result)
                    report = pipeline.OutletReport(
                        outlet.name, failed_feeds=len(outlet.feeds), errors=(repr(result),)
                    )
                else:
                    report = store_articles(result, config.store_url)
                per_outlet[outlet.name].append(report)
                rows.append(_row(report, capture))
    reports = [pipeline.OutletReport.combine(rs) for rs in per_outlet.values()]
    for r in reports:
        if r.failed:
            log.warning("outlet %s failed: %s", r.outlet, "; ".join(r.errors[:3]))
        elif r.errors:
            log.warning("outlet %s: %d errors, first: %s", r.outlet, len(r.errors), r.errors[0])
    if reports and all(r.failed for r in reports):
        _publish(rows, [], config.store_url)
        first_errors = "; ".join(e for r in reports for e in r.errors[:1])
        raise pipeline.AllOutletsFailed("every outlet failed: " + first_errors)
    stories = detect_stories(config.store_url, settings)
    if restory:
        redecided = redecide_window(config.store_url, settings)
        log.info(
            "restory: %d articles decided again, %d moved; %d stories changed, %d removed",
            redecided.redecided,
            redecided.moved,
            len(redecided.changed_stories),
            len(redecided.removed_stories),
        )
    dirty = pipeline.dirty_stories(config.store_url)
    chunks = [dirty[i : i + COMPOSITES_PER_TASK] for i in range(0, len(dirty), COMPOSITES_PER_TASK)]
    futures = [
        build_composites.submit(config.store_url, chunk, settings.encoder) for chunk in chunks
    ]
    built = [sid for f in futures for sid in f.result()]
    _publish(rows, built, config.store_url)
    summary = pipeline.RunSummary(
        outlets=tuple(reports),
        stories=stories,
        composites_built=tuple(built),
        totals=pipeline.totals(config.store_url),
    )
    failed = [r.outlet for r in reports if r.failed]
    if failed:
        # Completed, but the run's state says so in the UI and `prefect flow-run inspect`.
        return Completed(
            data=summary,
            message=f"Completed with warnings: {len(failed)} of "
            f"{len(reports)} outlets failed ({', '.join(failed)})",
        )
    return summary


def _task_runner_from_env():
    kind = os.environ.get(TASK_RUNNER_ENV, "threads").strip().lower()
    if kind in ("", "threads", "default"):
        return None
    if kind != "dask":
        raise ValueError(f"{TASK_RUNNER_ENV}={kind!r}: expected 'threads' or 'dask'")
    return dask_task_runner(os.environ.get(DASK_ADDRESS_ENV) or None)


def dask_task_runner(address: str | None = None, **cluster_kwargs: Any):
    """A `prefect_dask.DaskTaskRunner` on `address`, or on a temporary local cluster.

    Needs the `dask` extra (`pip install 'newsmerge[dask]'`).
    """
    from prefect_dask import DaskTaskRunner

    if address:
        return DaskTaskRunner(address=address)
    kwargs = cluster_kwargs or {"n_workers": 2, "threads_per_worker": 2}
    return DaskTaskRunner(cluster_kwargs=kwargs)


def with_dask(address: str | None = None, **cluster_kwargs: Any):
    """`news_pipeline` whose tasks run on Dask: `with_dask(processes=False)(replay=...)`."""
    return news_pipeline.with_options(task_runner=dask_task_runner(address, **cluster_kwargs))


if (_runner := _task_runner_from_env()) is not None:
    news_pipeline = news_pipeline.with_options(task_runner=_runner)
