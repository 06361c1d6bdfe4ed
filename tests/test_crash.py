"""Crash safety: SIGKILL the pipeline at random points, run again: nothing lost, nothing doubled.

Each round starts `newsmerge run --replay …` against the test's Prefect server and kills the
whole process group at a random moment (seeded, so a failure can be replayed), before, during
or after fetching, storing, clustering or merging. After every kill the store must be
consistent; after a final uninterrupted run it must hold exactly the articles of a run that was
never interrupted, every one in a story, every story with a fresh composite.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa

from newsmerge.store import Store, articles, composites, memberships, metadata, stories
from tests.conftest import ROOT

CAPTURE = "seeds/captures/2026-08-13"
KILLS = {"sqlite": int(os.environ.get("NEWSMERGE_KILLS", "50")), "postgres": 12}
GROUP = 4  # kills per fresh store


def fresh_store(store_url: str, tmp_path, group: int) -> str:
    """An empty store for one group of kills: a new SQLite file, or PostgreSQL emptied."""
    if store_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / f'crash-{group}.db'}"
    engine = sa.create_engine(store_url)
    metadata.drop_all(engine)
    engine.dispose()
    return store_url


def run_cmd(store_url: str, api: str, home: str) -> tuple[list[str], dict[str, str]]:
    env = {
        **os.environ,
        "PREFECT_API_URL": api,
        "PREFECT_HOME": home,
        "NEWSMERGE_STORE_URL": store_url,
    }
    cmd = [sys.executable, "-m", "newsmerge.cli", "run", "--replay", CAPTURE]
    return cmd, env


def consistency_problems(store_url: str) -> list[str]:
    """What a crash must never leave behind, whatever point it hit."""
    problems = []
    with Store(store_url) as store, store.engine.connect() as conn:
        dup_urls = conn.execute(
            sa.select(articles.c.outlet, articles.c.url)
            .group_by(articles.c.outlet, articles.c.url)
            .having(sa.func.count() > 1)
        ).all()
        if dup_urls:
            problems.append(f"articles stored twice: {dup_urls[:3]}")
        orphans = conn.execute(
            sa.select(memberships.c.article_id)
            .outerjoin(stories, stories.c.id == memberships.c.story_id)
            .where(stories.c.id.is_(None))
        ).all()
        if orphans:
            problems.append(f"memberships of missing stories: {orphans[:3]}")
        empty = conn.execute(
            sa.select(composites.c.story_id)
            .outerjoin(memberships, memberships.c.story_id == composites.c.story_id)
            .where(memberships.c.story_id.is_(None))
        ).all()
        if empty:
            problems.append(f"composites of stories without members: {empty[:3]}")
        if conn.dialect.name == "sqlite":
            check = conn.exec_driver_sql("PRAGMA integrity_check").scalar()
            if check != "ok":
                problems.append(f"sqlite integrity_check: {check}")
    return problems


def article_keys(store_url: str) -> set[tuple[str, str, str]]:
    with Store(store_url) as store, store.engine.connect() as conn:
        rows = conn.execute(sa.select(articles.c.id, articles.c.outlet, articles.c.title))
        return {tuple(r) for r in rows}


@pytest.mark.prefect
def test_sigkill_at_random_points_loses_and_duplicates_nothing(
    request, prefect_server, store_url, tmp_path
):
    backend = "postgres" if store_url.startswith("postgresql") else "sqlite"
    kills = KILLS[backend]
    home = str(tmp_path / "prefect")

    # The reference: one uninterrupted run into its own store.
    reference_url = f"sqlite:///{tmp_path / 'reference.db'}"
    cmd, env = run_cmd(reference_url, prefect_server, home)
    started = time.monotonic()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    full_run = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-2000:]
    expected = article_keys(reference_url)

    rng = random.Random(20260813)
    killed_after: list[float] = []
    stderr = tmp_path / "run.err"
    group = 0
    while len(killed_after) < kills:
        assert group < kills, "runs keep finishing before their kill time"
        # Each group starts from an empty store and kills runs until the work is done, so kill
        # points land in every stage (start-up, fetch, store, cluster, merge), not only in
        # no-op reruns; then one run to completion must give the reference result.
        url = fresh_store(store_url, tmp_path, group)
        cmd, env = run_cmd(url, prefect_server, home)
        for _ in range(min(GROUP, kills - len(killed_after))):
            delay = rng.uniform(0.1, 0.95) * full_run
            with stderr.open("wb") as err:
                proc = subprocess.Popen(
                    cmd,
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                    start_new_session=True,
                )
                try:
                    proc.wait(timeout=delay)
                    # It finished before its kill time: then it must have succeeded.
                    assert proc.returncode == 0, stderr.read_text()[-2000:]
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                    killed_after.append(delay)
            assert consistency_problems(url) == [], f"after a kill at {delay:.2f}s"

        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        assert consistency_problems(url) == []
        assert article_keys(url) == expected  # nothing lost, nothing extra
        with Store(url) as store:
            assert store.unassigned_articles() == []
            assert store.dirty_stories() == []
            counts = store.counts()
        assert counts["composites"] == counts["stories"] > 0
        assert counts["memberships"] == counts["articles"] == len(expected)
        group += 1
    request.node.user_properties.append(("kills", len(killed_after)))
    request.node.user_properties.append(("groups", group))
