"""Survey-wide work on a real Dask LocalCluster (two workers): the same tables as in
this process and as SQLite."""

from __future__ import annotations

import os

import pytest
from pandas.testing import assert_frame_equal

import dsa110_ws
from dsa110_ws.errors import DataUnavailableError
from dsa110_ws.services.sources._cluster import WORKER_MALLOC

pytestmark = pytest.mark.slow

SECTIONS = {
    "sources": {
        "dataset_min_rows": 0,
        "dask_min_rows": 0,
        "dask_workers": 2,
        "dask_memory_limit_gb": 1.0,
        "dataset_full_check_hours": -1,
    }
}


def plain(df):
    df = df.copy()
    df.attrs.clear()
    return df


def _initial_environment() -> dict[str, str]:
    """The environment this process was started with (not its changes since)."""
    with open("/proc/self/environ", "rb") as fh:
        items = [x.decode().partition("=") for x in fh.read().split(b"\0") if x]
    return {k: v for k, _, v in items}


def test_dask_gives_the_same_tables_as_in_process_and_sqlite(writable_demo, tmp_path, monkeypatch):
    # what any local cluster started earlier in this process leaves in its environment
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    before = {k: os.environ.get(k) for k in WORKER_MALLOC}
    w = dsa110_ws.connect(
        writable_demo / "settings.toml", state_dir=tmp_path / "st", sections=SECTIONS
    )
    try:
        on_dask = w.sources.variability(preset=None, progress=False)  # auto: >= dask_min_rows
        assert on_dask.attrs["engine"] == "dask"
        assert "local cluster of 2 workers x 1.0 GB (running)" in w.survey.cluster.describe()
        assert len(w.survey.cluster.client().scheduler_info()["workers"]) == 2
        # glibc's malloc settings were in each worker's environment as it started (set
        # after the start they do nothing), and this process's environment is as it was
        started = w.survey.cluster.client().run(_initial_environment)
        assert len(started) == 2
        for env in started.values():
            assert {k: env.get(k) for k in WORKER_MALLOC} == WORKER_MALLOC
        assert {k: os.environ.get(k) for k in WORKER_MALLOC} == before
        here = w.sources.variability(preset=None, engine="dataset")
        sql = w.sources.variability(preset=None, engine="sqlite")
        for other in (here, sql):
            a, b = dict(on_dask.attrs), dict(other.attrs)
            a.pop("engine"), b.pop("engine")
            assert a == b
            assert_frame_equal(plain(on_dask), plain(other), check_exact=False, rtol=1e-9)
        ref = w.sources.variability(preset=None, flux="reference", engine="dask")
        assert_frame_equal(
            plain(ref),
            plain(w.sources.variability(preset=None, flux="reference", engine="sqlite")),
            check_exact=False,
            rtol=1e-9,
        )
        nd, ns = w.sources.normalisation(engine="dask"), w.sources.normalisation(engine="sqlite")
        assert_frame_equal(nd.corrections, ns.corrections, check_exact=False, rtol=1e-9)
        assert_frame_equal(nd.references, ns.references, check_exact=False, rtol=1e-9)
        assert_frame_equal(
            plain(w.sources.catalog(limit=None, engine="dask")),
            plain(w.sources.catalog(limit=None, engine="sqlite")),
            check_exact=False,
            rtol=1e-9,
        )
        ddf = w.sources.dataset(progress=False).to_dask()
        assert int(ddf["flux_jy"].count().compute()) == int(
            w.db.scalar("SELECT COUNT(flux_jy) FROM photometry")
        )
    finally:
        w.close()
    assert w.survey.cluster._client is None  # closed with the workspace


def test_an_unreachable_scheduler_is_one_clear_error(writable_demo, tmp_path):
    w = dsa110_ws.connect(
        writable_demo / "settings.toml",
        state_dir=tmp_path / "st",
        dask_scheduler="tcp://127.0.0.1:9",
        sections={"sources": {"dataset_min_rows": 0, "dask_timeout_s": 2}},
    )
    with pytest.raises(DataUnavailableError, match=r"tcp://127.0.0.1:9 within 2 s"):
        w.sources.variability(preset=None, progress=False)
    w.close()
