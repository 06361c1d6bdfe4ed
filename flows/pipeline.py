"""The `news-pipeline` Prefect flow: orchestration only; the stages live in `newsmerge.pipeline`.

fetch (one task per outlet, concurrently) → store → detect stories → build composites.
An outlet that fails is logged, reported and shown in the run's artifact while the others
complete; the run fails only when every outlet failed.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NONE

from newsmerge import pipeline
from newsmerge.config import ROOT, OutletConfig, load_config
from newsmerge.replay import serve_capture


@task(name="fetch-outlet", task_run_name="fetch-{outlet.name}", cache_policy=NONE,
      retries=1, retry_delay_seconds=5, timeout_seconds=600)
def fetch_outlet(outlet: OutletConfig, store_url: str, replay_base: str | None):
    return pipeline.fetch(outlet, store_url, replay_base)


@task(name="store-articles", task_run_name="store-{result.outlet}", cache_policy=NONE,
      retries=2, retry_delay_seconds=2)
def store_articles(result, store_url: str) -> pipeline.OutletReport:
    return pipeline.store_result(result, store_url)


@task(name="detect-stories", cache_policy=NONE, retries=2, retry_delay_seconds=2)
def detect_stories(store_url: str, settings) -> pipeline.StoriesReport:
    return pipeline.detect_stories(store_url, settings)


@task(name="build-composites", cache_policy=NONE, retries=2, retry_delay_seconds=2)
def build_composites(store_url: str, story_ids: list[str]) -> list[str]:
    return [sid for sid in story_ids if pipeline.build_composite(store_url, sid)]


COMPOSITES_PER_TASK = 25  # enough work per task to dwarf Prefect's per-task overhead


def resolve_capture(replay: str) -> Path:
    """A capture path as given, or relative to the project root (for deployments)."""
    path = Path(replay).expanduser()
    if not path.exists() and not path.is_absolute() and (ROOT / path).exists():
        path = ROOT / path
    if not (path / "capture.json").is_file():
        raise FileNotFoundError(f"{replay}: not a replay capture (no capture.json there)")
    return path


def _publish(reports: list[pipeline.OutletReport], built: list[str], store_url: str) -> None:
    create_table_artifact(
        key="outlet-fetch-results",
        table=[
            {
                "outlet": r.outlet,
                "seen": r.seen,
                "new": r.new,
                "updated": r.updated,
                "unchanged": r.unchanged,
                "304": r.not_modified,
                "failed": r.failed_feeds + r.failed_items,
                "errors": "; ".join(r.errors)[:2000],
            }
            for r in reports
        ],
        description="Per-outlet fetch results of this run",
    )
    if built:
        from newsmerge.store import Store

        with Store(store_url) as store:
            rows = [c for c in store.composites() if c["story_id"] in set(built)]
        md = "\n\n---\n\n".join(f"## {c['headline']}\n\n{c['text']}" for c in rows[:50])
        create_markdown_artifact(
            key="new-and-updated-composites",
            markdown=md or "_no composites_",
            description=f"{len(built)} composites built or rebuilt",
        )


@flow(name="news-pipeline", log_prints=True)
def news_pipeline(
    outlets: list[str] | None = None,
    replay: str | None = None,
    store_url: str | None = None,
    config_path: str | None = None,
) -> pipeline.RunSummary:
    """Poll the configured outlets, store new articles, group them into stories, merge each."""
    log = get_run_logger()
    config = load_config(config_path, store_url=store_url)
    selected = config.select(outlets)
    settings = pipeline.dedup_settings(config)
    with ExitStack() as stack:
        replay_base = None
        if replay:
            server = stack.enter_context(serve_capture(resolve_capture(replay)))
            replay_base = server.base_url
            log.info("replaying %s from %s", replay, replay_base)
        fetches = [fetch_outlet.submit(o, config.store_url, replay_base) for o in selected]
        reports: list[pipeline.OutletReport] = []
        for outlet, fut in zip(selected, fetches, strict=True):
            result = fut.result(raise_on_failure=False)
            if isinstance(result, BaseException):
                log.error("outlet %s failed: %s", outlet.name, result)
                reports.append(pipeline.OutletReport(outlet.name, failed_feeds=len(outlet.feeds),
                                                     errors=(repr(result),)))
                continue
            reports.append(store_articles(result, config.store_url))
    for r in reports:
        if r.failed:
            log.warning("outlet %s failed: %s", r.outlet, "; ".join(r.errors[:3]))
        elif r.errors:
            log.warning("outlet %s: %d errors, first: %s", r.outlet, len(r.errors), r.errors[0])
    if reports and all(r.failed for r in reports):
        _publish(reports, [], config.store_url)
        raise RuntimeError("every outlet failed: " + "; ".join(e for r in reports for e in r.errors[:1]))
    stories = detect_stories(config.store_url, settings)
    dirty = pipeline.dirty_stories(config.store_url)
    chunks = [dirty[i : i + COMPOSITES_PER_TASK] for i in range(0, len(dirty), COMPOSITES_PER_TASK)]
    futures = [build_composites.submit(config.store_url, chunk) for chunk in chunks]
    built = [sid for f in futures for sid in f.result()]
    _publish(reports, built, config.store_url)
    return pipeline.RunSummary(
        outlets=tuple(reports),
        stories=stories,
        composites_built=tuple(built),
        totals=pipeline.totals(config.store_url),
    )
