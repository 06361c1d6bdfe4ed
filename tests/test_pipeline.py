"""The whole path: replayed captures → Prefect flow on a real server → credited composites."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from newsmerge.config import load_config
from newsmerge.store import Store
from tests.conftest import CAPTURES, ROOT

CAPTURE = CAPTURES / "2026-08-13"
SEED = ROOT / "seeds" / "000_2447aca88c997dad.txt"
# "…, according to SCMP and AA." (a closing quote may follow the comma: '…soon," as reported by')
CREDIT = re.compile(r",[\"”’]? (according to|as reported by) [A-Z][\w ,]*\.$")


def assert_seed_form(text: str) -> None:
    """The composite has the seed's shape: a `Credited from:` line, then credited paragraphs."""
    lines = text.rstrip("\n").split("\n")
    assert re.fullmatch(r"Credited from: [A-Z][\w ]+", lines[0]), lines[0]
    assert len(lines) >= 2
    for paragraph in lines[1:]:
        assert CREDIT.search(paragraph), paragraph


def test_the_seed_itself_has_the_form_we_produce():
    assert_seed_form(SEED.read_text(encoding="utf-8").rstrip("\n"))


@pytest.fixture
def config_with_broken_outlet(tmp_path) -> Path:
    """The shipped config plus an outlet whose feed is not in the capture (404)."""
    text = (ROOT / "config" / "outlets.toml").read_text(encoding="utf-8")
    text += (
        '\n[[outlets]]\nname = "Nowhere News"\n'
        'feeds = ["https://feeds.nowhere-news.example/world.xml"]\n'
        'domains = ["nowhere-news.example"]\n'
    )
    path = tmp_path / "outlets.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_flow_end_to_end_stores_credited_composites_and_reruns_add_nothing(
    prefect_api, store_url, config_with_broken_outlet
):
    from flows.pipeline import news_pipeline

    summary = news_pipeline(
        replay=str(CAPTURE), store_url=store_url, config_path=str(config_with_broken_outlet)
    )
    by_outlet = {r.outlet: r for r in summary.outlets}
    assert set(by_outlet) == {"SCMP", "AA", "BBC", "Al Jazeera", "Nowhere News"}
    for name in ("SCMP", "AA", "BBC", "Al Jazeera"):
        assert by_outlet[name].new > 0, by_outlet[name]
    assert by_outlet["Nowhere News"].failed
    assert "404" in by_outlet["Nowhere News"].errors[0]

    with Store(store_url) as store:
        first = store.counts()
        comps = store.composites()
    assert first["articles"] == sum(r.new for r in summary.outlets)
    assert first["composites"] == first["stories"] > 0
    multi = [c for c in comps if len(c["outlets"]) >= 2]
    assert multi, "no story was credited to two or more outlets"
    for c in comps:
        assert_seed_form(c["text"])

    again = news_pipeline(
        replay=str(CAPTURE), store_url=store_url, config_path=str(config_with_broken_outlet)
    )
    with Store(store_url) as store:
        assert store.counts() == first
    feeds = {o.name: o.feeds for o in load_config(config_with_broken_outlet).outlets}
    for r in again.outlets:
        assert r.new == 0 and r.updated == 0
        # The replay server answers each remembered ETag with 304: nothing is re-parsed.
        first_run = by_outlet[r.outlet]
        assert r.failed_feeds == first_run.failed_feeds
        assert r.not_modified == len(feeds[r.outlet]) - first_run.failed_feeds
    assert again.composites_built == ()


def nowhere_only_config(tmp_path) -> Path:
    """A config whose only outlet's feed can't be had (its host does not exist)."""
    config = tmp_path / "outlets.toml"
    config.write_text(
        '[[outlets]]\nname = "Nowhere News"\n'
        'feeds = ["https://feeds.nowhere-news.example/world.xml"]\n'
        'domains = ["nowhere-news.example"]\n',
        encoding="utf-8",
    )
    return config


def test_run_fails_only_when_every_outlet_failed(prefect_api, tmp_path):
    from flows.pipeline import news_pipeline

    config = nowhere_only_config(tmp_path)
    with pytest.raises(RuntimeError, match="every outlet failed"):
        news_pipeline(
            replay=str(CAPTURE), store_url=f"sqlite:///{tmp_path / 'x.db'}", config_path=str(config)
        )


def test_readme_first_command_prints_a_multi_outlet_composite_and_reruns_add_nothing(tmp_path):
    """`newsmerge run --replay …` as a user types it: embedded Prefect server, fresh store."""
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "NEWSMERGE_STORE_URL": f"sqlite:///{tmp_path / 'newsmerge.db'}",
    }
    env.pop("PREFECT_API_URL", None)
    cmd = [sys.executable, "-m", "newsmerge.cli", "run", "--replay", "seeds/captures/2026-08-13"]
    first = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    out = first.stdout
    for name in ("SCMP", "AA", "BBC", "Al Jazeera"):
        assert re.search(rf"^{name}\s+\d+\s+\d+", out, re.M), out
    top = out.split("\n=== ", 1)[1].split("\n", 1)[1]
    assert_seed_form(top.strip())
    credited = top.split("\n", 1)[0]
    assert credited.startswith("Credited from: ")
    assert re.search(r"according to \S.* and |as reported by \S.* and ", top), top

    with Store(env["NEWSMERGE_STORE_URL"]) as store:
        counts = store.counts()
    second = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    with Store(env["NEWSMERGE_STORE_URL"]) as store:
        assert store.counts() == counts


def test_the_seed_story_replayed_comes_out_in_the_seeds_structure(prefect_api, tmp_path):
    """Four outlets' articles on the seed's event → one story, credited like the seed."""
    from flows.pipeline import news_pipeline

    store_url = f"sqlite:///{tmp_path / 'davos.db'}"
    news_pipeline(replay=str(CAPTURES / "2026-01-22-davos"), store_url=store_url)
    with Store(store_url) as store:
        comps = store.composites()
    davos = [c for c in comps if {"SCMP", "AA", "BBC", "Al Jazeera"} <= set(c["outlets"])]
    assert len(davos) == 1, [(c["headline"], c["outlets"]) for c in comps]
    text = davos[0]["text"].rstrip("\n")
    assert_seed_form(text)
    lines = text.split("\n")
    assert lines[0] == "Credited from: SCMP"
    credits = [CREDIT.search(p).group(0) for p in lines[1:]]
    assert [c.split(" by ")[-1].split(" to ")[-1] for c in credits] == [
        "SCMP and AA.",
        "BBC and Al Jazeera.",
        "SCMP and AA.",
        "BBC and Al Jazeera.",
    ]


def test_a_live_fetch_waits_for_its_outlets_concurrency_slot(prefect_api, tmp_path):
    """Politeness: a fetch cannot start while another holds the outlet's only slot."""
    import threading

    from prefect.concurrency.sync import concurrency

    from flows.pipeline import ensure_fetch_limits, fetch_outlet
    from newsmerge.replay import serve_capture

    config = load_config(store_url=f"sqlite:///{tmp_path / 'limit.db'}")
    bbc = config.outlet("BBC")
    name = ensure_fetch_limits(["BBC"])["BBC"]
    assert name == "newsmerge-fetch-bbc"
    finished = threading.Event()
    with serve_capture(CAPTURE) as server:

        def fetch() -> None:
            fetch_outlet.fn(bbc, config.store_url, server.base_url, name)
            finished.set()

        with concurrency(name, occupy=1, timeout_seconds=30):
            worker = threading.Thread(target=fetch)
            worker.start()
            # Holding the slot, the fetch must still be waiting after it could have finished.
            assert not finished.wait(timeout=5)
        worker.join(timeout=120)
    assert finished.is_set()


def test_cli_says_clearly_when_no_outlet_delivered(prefect_api, tmp_path, capsys):
    from newsmerge.cli import main

    config = nowhere_only_config(tmp_path)
    store = f"sqlite:///{tmp_path / 'x.db'}"
    argv = ["run", "--replay", str(CAPTURE), "--config", str(config), "--store", store]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "newsmerge: every outlet failed: https://feeds.nowhere-news.example/world.xml" in err
    assert "Traceback" not in err
