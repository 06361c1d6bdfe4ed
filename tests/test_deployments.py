"""Run newsmerge the way its users do: prefect.yaml deployments on a real Prefect server, a
process work pool and worker, `prefect deployment run … --watch`, and `newsmerge serve`; plus
two flow runs at once against one store.

Everything goes through the real `prefect` CLI in subprocesses, against the session's
`prefect server start` (conftest's `prefect_server`: a free loopback port, its own PREFECT_HOME).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pandas as pd
import pytest

import newsmerge
from newsmerge.store import Store
from tests.conftest import CAPTURES, ROOT, wait_until

pytestmark = pytest.mark.prefect

CAPTURE = "seeds/captures/2026-08-13"  # as a user types it: relative to the clone
POOL = "newsmerge"  # prefect.yaml's work pool
SINCE = "2026-08-13T00:00:00Z"


def prefect_env(api: str, home: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "PREFECT_API_URL": api,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_LOGGING_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    }
    # A scheduled poll may come due mid-test (every 15 minutes): it polls the live web (none
    # here, so it fails) into this store rather than the clone's default data/newsmerge.db.
    env["NEWSMERGE_STORE_URL"] = f"sqlite:///{home / 'scheduled-polls.db'}"
    return env


def prefect(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    """`prefect ARGS…` from the clone's root, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "prefect", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_backfill(env: dict[str, str], *params: str) -> subprocess.CompletedProcess:
    """`prefect deployment run 'news-pipeline/backfill' -p … --watch`, as a user types it."""
    args = [a for p in params for a in ("-p", p)]
    return prefect(
        "deployment",
        "run",
        "news-pipeline/backfill",
        *args,
        "--watch",
        "--watch-timeout",
        "600",
        env=env,
        timeout=660,
    )


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """A long-running process in its own session, so stopping it stops its flow runs too."""
    out = open(log, "wb")  # noqa: SIM115 - the process owns it until stop()
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )
    proc.log_file = out  # type: ignore[attr-defined]
    return proc


def stop(proc: subprocess.Popen, log: Path) -> None:
    """SIGTERM to the process group; a clean exit within 30 s, else fail (after a SIGKILL)."""
    try:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
                pytest.fail(f"{proc.args} ignored SIGTERM:\n{log.read_text()[-3000:]}")
    finally:
        proc.log_file.close()  # type: ignore[attr-defined]


def deployment(api: str, name: str) -> dict | None:
    r = httpx.get(f"{api}/deployments/name/{name}", timeout=10)
    return r.json() if r.status_code == 200 else None


def assert_stories(store_url: str) -> None:
    stories = newsmerge.load_stories(store=store_url)
    assert len(stories) > 0
    assert (stories["outlets"].map(len) >= 2).any(), "no story credited to two outlets"
    with Store(store_url) as store:
        counts = store.counts()
    assert counts["composites"] == counts["stories"] == len(stories)


def test_deploy_worker_and_ad_hoc_backfill_run(prefect_server, tmp_path):
    """prefect.yaml → `prefect deploy --all` → process worker → `prefect deployment run --watch`."""
    env = prefect_env(prefect_server, tmp_path / "home")
    store_url = f"sqlite:///{tmp_path / 'newsmerge.db'}"

    created = prefect("work-pool", "create", POOL, "--type", "process", env=env)
    assert created.returncode == 0, created.stdout + created.stderr
    deployed = prefect("--no-prompt", "deploy", "--all", env=env)
    assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr[-3000:]
    for name in ("news-pipeline/poll", "news-pipeline/backfill"):
        assert deployment(prefect_server, name)["work_pool_name"] == POOL

    inspected = prefect("deployment", "inspect", "news-pipeline/poll", "--output", "json", env=env)
    assert inspected.returncode == 0, inspected.stderr
    assert "*/15 * * * *" in inspected.stdout and '"active": true' in inspected.stdout
    poll, backfill = (
        deployment(prefect_server, f"news-pipeline/{n}") for n in ("poll", "backfill")
    )
    assert [s["schedule"]["cron"] for s in poll["schedules"]] == ["*/15 * * * *"]
    assert backfill["schedules"] == []
    props = backfill["parameter_openapi_schema"]["properties"]
    assert {"outlets", "replay", "since", "store_url"} <= set(props)
    assert {"format": "date-time", "type": "string"} in props["since"]["anyOf"]

    worker_log = tmp_path / "worker.log"
    worker = start(
        [
            sys.executable,
            "-m",
            "prefect",
            "worker",
            "start",
            "--pool",
            POOL,
            "--name",
            "test-worker",
        ],
        env,
        worker_log,
    )
    try:
        run = run_backfill(env, f"replay={CAPTURE}", f"store_url={store_url}")
        assert run.returncode == 0, (
            run.stdout[-3000:] + run.stderr[-2000:] + worker_log.read_text()[-4000:]
        )
        assert "Completed" in run.stdout
    finally:
        stop(worker, worker_log)  # the worker before the server (the fixture stops that)
    assert_stories(store_url)

    # The run published its artifacts: the per-outlet table and the composites…
    # (only this deployment's run: other tests' runs on the same server publish the same keys)
    runs = httpx.post(
        f"{prefect_server}/flow_runs/filter",
        json={"deployments": {"id": {"any_": [backfill["id"]]}}},
        timeout=10,
    ).json()
    assert len(runs) == 1
    found = httpx.post(
        f"{prefect_server}/artifacts/filter",
        json={"artifacts": {"flow_run_id": {"any_": [runs[0]["id"]]}}},
        timeout=10,
    ).json()
    by_key = {a["key"]: a for a in found}
    table = json.loads(by_key["outlet-fetch-results"]["data"])
    assert {row["outlet"] for row in table} == {"SCMP", "AA", "BBC", "Al Jazeera"}
    assert {"seen", "new", "updated", "304", "failed", "errors"} <= set(table[0])
    assert sum(row["new"] for row in table) == len(newsmerge.load_articles(store=store_url))
    assert "Credited from:" in by_key["new-and-updated-composites"]["data"]


def test_newsmerge_serve_runs_the_same_deployments(prefect_server, tmp_path):
    """`newsmerge serve` (flows.deployments.serve_deployments): no pool, no worker."""
    env = prefect_env(prefect_server, tmp_path / "home")
    config = tmp_path / "outlets.toml"  # the shipped outlets plus one whose feed is missing
    config.write_text(
        (ROOT / "config" / "outlets.toml").read_text(encoding="utf-8")
        + (
            '\n[[outlets]]\nname = "Nowhere News"\n'
            'feeds = ["https://feeds.nowhere-news.example/world.xml"]\n'
            'domains = ["nowhere-news.example"]\n'
        ),
        encoding="utf-8",
    )
    store_url = f"sqlite:///{tmp_path / 'served.db'}"
    log = tmp_path / "serve.log"
    names = ("news-pipeline/poll", "news-pipeline/backfill")
    before = {n: (deployment(prefect_server, n) or {}).get("updated") for n in names}
    server = start([sys.executable, "-m", "flows.deployments"], env, log)
    try:

        def served() -> bool:
            if server.poll() is not None:
                raise RuntimeError(f"serve exited: {log.read_text()[-3000:]}")
            found = {n: deployment(prefect_server, n) for n in names}
            return all(d and d["updated"] != before[n] for n, d in found.items())

        wait_until(served, 120, "served deployments")
        poll = deployment(prefect_server, "news-pipeline/poll")
        assert [s["schedule"]["cron"] for s in poll["schedules"]] == ["*/15 * * * *"]
        run = run_backfill(
            env,
            f"replay={CAPTURE}",
            f"store_url={store_url}",
            f"config_path={config}",
            'outlets=["BBC", "Al Jazeera", "Nowhere News"]',
            f"since={SINCE}",
        )
        assert run.returncode == 0, run.stdout[-3000:] + log.read_text()[-4000:]
    finally:
        stop(server, log)
    # A failed outlet is a warning on a Completed run, not a crash.
    flow_run_id = re.search(r"UUID: ([0-9a-f-]{36})", run.stdout).group(1)
    state = httpx.get(f"{prefect_server}/flow_runs/{flow_run_id}", timeout=10).json()["state"]
    assert state["type"] == "COMPLETED"
    assert "1 of 3 outlets failed (Nowhere News)" in state["message"]
    # `since` (a typed datetime, given as text on the command line) dropped older articles.
    articles = newsmerge.load_articles(store=store_url)
    assert len(articles) > 0 and set(articles["outlet"]) <= {"BBC", "Al Jazeera"}
    assert (articles["published"].dropna() >= pd.Timestamp(SINCE)).all()
    stories = newsmerge.load_stories(store=store_url)
    assert len(stories) > 0
    assert set(stories["outlets"].explode()) <= {"BBC", "Al Jazeera"}


RUN_FLOW = """
import sys
from flows.pipeline import news_pipeline
news_pipeline(replay=sys.argv[1], store_url=sys.argv[2])
"""


def test_two_runs_at_once_never_duplicate_or_lose_an_article(prefect_server, store_url, tmp_path):
    """Two flow runs (two processes, as two workers would) poll one capture into one store."""
    from newsmerge import pipeline
    from newsmerge.config import load_config
    from newsmerge.replay import serve_capture

    # What one run alone stores: the reference, by the pipeline's own stages.
    alone = f"sqlite:///{tmp_path / 'alone.db'}"
    with serve_capture(CAPTURES / "2026-08-13") as replay:
        for outlet in load_config(store_url=alone).outlets:
            pipeline.store_result(pipeline.fetch(outlet, alone, replay.base_url), alone)
    with Store(alone) as store:
        expected = {a["id"] for a in store.unassigned_articles()}

    env = prefect_env(prefect_server, tmp_path / "home")
    logs = [tmp_path / f"run{i}.log" for i in (1, 2)]
    runs = [start([sys.executable, "-c", RUN_FLOW, CAPTURE, store_url], env, log) for log in logs]
    for proc, log in zip(runs, logs, strict=True):
        try:
            proc.wait(timeout=600)
        finally:
            stop(proc, log)
        assert proc.returncode == 0, log.read_text()[-4000:]

    articles = newsmerge.load_articles(store=store_url)
    assert articles["article_id"].is_unique
    assert set(articles["article_id"]) == expected  # none lost, none extra
    assert articles["story_id"].notna().all()  # each in exactly one story (keyed by article)
    with Store(store_url) as store:
        counts = store.counts()
        assert store.unassigned_articles() == []
    assert counts["articles"] == counts["memberships"] == len(expected)
    stories = newsmerge.load_stories(store=store_url)
    assert set(stories["story_id"]) == set(articles["story_id"])  # every story has a composite
