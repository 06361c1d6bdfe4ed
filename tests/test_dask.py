"""Scale out: the flow's tasks on a local Dask cluster (prefect-dask) give the same stories."""

from __future__ import annotations

import pytest

from newsmerge.analysis import STORY_COLUMNS
from tests.conftest import CAPTURES

pytest.importorskip("prefect_dask", reason="needs the dask extra: pip install 'newsmerge[dask]'")

CAPTURE = str(CAPTURES / "2026-08-13")
SAME = STORY_COLUMNS


def test_dask_task_runner_gives_the_same_stories_as_the_default_runner(prefect_api, tmp_path):
    import newsmerge
    from flows.pipeline import news_pipeline, with_dask
    from newsmerge.store import Store

    default_url = f"sqlite:///{tmp_path / 'default.db'}"
    dask_url = f"sqlite:///{tmp_path / 'dask.db'}"
    news_pipeline(replay=CAPTURE, store_url=default_url)

    # A backfill over a list of captures (the same one twice: the second answers 304s), on an
    # in-process cluster so the test stays small on two cores.
    on_dask = with_dask(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None)
    assert type(on_dask.task_runner).__name__ == "DaskTaskRunner"
    summary = on_dask(replay=[CAPTURE, CAPTURE], store_url=dask_url)
    assert summary.composites_built
    by_outlet = {r.outlet: r for r in summary.outlets}
    for name in ("SCMP", "AA", "BBC", "Al Jazeera"):
        assert by_outlet[name].new > 0
        assert by_outlet[name].not_modified > 0  # the second pass of the capture

    expected = newsmerge.load_stories(store=default_url)[SAME]
    got = newsmerge.load_stories(store=dask_url)[SAME]
    assert len(expected) > 0
    assert got.to_dict("records") == expected.to_dict("records")
    with Store(default_url) as a, Store(dask_url) as b:
        assert a.counts() == b.counts()
