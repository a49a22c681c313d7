"""w.batch: a local process pool by default, a real dask.distributed cluster when configured;
one bad product is a failed row with its reason and never stops the batch."""

from __future__ import annotations

import os

import pytest

import dsa110_ws
from dsa110_ws.errors import InvalidQueryError


def _night(truth, night="2026-11-10"):
    return [im["path"] for im in truth["images"] if im["night"] == night]


def test_image_qa_over_a_night_with_bad_products(scratch_ws, scratch_root, truth, tmp_path):
    (scratch_root / "broken.fits").write_text("not fits")
    (tmp_path / "outside.fits").write_text("x")
    paths = _night(truth) + [
        str(scratch_root / "broken.fits"),
        str(scratch_root / "gone.fits"),
        str(tmp_path / "outside.fits"),
    ]
    df = scratch_ws.batch.image_qa(paths, progress=False)
    assert df["item"].tolist() == paths  # input order, whatever the completion order
    assert df["status"].tolist() == ["ok"] * 8 + ["failed"] * 3
    errors = df["error"].tolist()[8:]
    assert (
        "as FITS" in errors[0]
        and "does not exist" in errors[1]
        and "outside the data roots" in errors[2]
    )
    bad = {im["path"]: im["bad_reason"] for im in truth["images"]}
    for row in df.iloc[:8].itertuples():
        assert row.grade == ("bad" if bad[row.item] else "good")
        assert row.rms_jy == row.result.rms_jy and row.reasons == "; ".join(row.result.reasons)
    serial = scratch_ws.batch.image_qa(paths[:8], mode="serial", progress=False)
    assert serial["result"].tolist() == df["result"].iloc[:8].tolist()


def test_a_repository_frame_is_a_selection(workspace, truth):
    night = workspace.images.find(start="2026-11-10", end="2026-11-11")
    df = workspace.batch.image_qa(night, progress=False, mode="serial")
    assert df["item"].tolist() == night["path"].tolist() == _night(truth)
    assert (df["grade"] == "bad").sum() == 3


def test_default_mode_uses_worker_processes(workspace):
    df = workspace.batch.run(os.readlink, ["/proc/self"] * 3, progress=False)
    assert (df["status"] == "ok").all()
    assert str(os.getpid()) not in set(df["result"])
    threads = workspace.batch.run(os.readlink, ["/proc/self"] * 2, mode="threads", progress=False)
    assert set(threads["result"]) == {str(os.getpid())}


def test_failures_are_rows_not_exceptions(workspace):
    df = workspace.batch.run(
        os.readlink, ["/proc/self", "/no/such/link", "/proc/self"], progress=False, workers=2
    )
    assert df["status"].tolist() == ["ok", "failed", "ok"]
    assert df["error"][1].startswith("FileNotFoundError:") and "/no/such/link" in df["error"][1]


def test_a_dying_worker_fails_items_but_returns(workspace):
    df = workspace.batch.run(os._exit, [3], mode="processes", progress=False)
    assert df["status"].tolist() == ["failed"] and "worker failed" in df["error"][0]


def test_callables_must_be_picklable_for_processes(workspace):
    with pytest.raises(InvalidQueryError, match="cannot be sent to worker processes"):
        workspace.batch.run(lambda p: p, ["a", "b"], mode="processes", progress=False)
    df = workspace.batch.run(lambda p: p.upper(), ["a", "b"], mode="threads", progress=False)
    assert df["result"].tolist() == ["A", "B"]


def test_bad_arguments(workspace):
    with pytest.raises(InvalidQueryError, match="Unknown batch task"):
        workspace.batch.run("no_such_task", [])
    with pytest.raises(InvalidQueryError, match="Unknown batch mode"):
        workspace.batch.run("image_qa", [], mode="cluster")
    with pytest.raises(InvalidQueryError, match="DSA110_WS_DASK_SCHEDULER"):
        workspace.batch.run("image_qa", ["x"], mode="dask")
    with pytest.raises(InvalidQueryError, match="workers"):
        workspace.batch.run("image_qa", ["x"], workers=0)
    assert workspace.batch.run("image_qa", [], progress=False).empty


@pytest.mark.slow
def test_dask_cluster_from_settings(demo_dir, truth, tmp_path):
    import distributed  # a missing dask.distributed must fail, not skip

    cal = [t["path"] for t in truth["calibration"]["caltables"][:8]]
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        w = dsa110_ws.connect(
            demo_dir / "settings.toml",
            state_dir=tmp_path / "state",
            dask_scheduler=cluster.scheduler_address,
        )
        try:
            assert cluster.scheduler_address in repr(w.batch)
            df = w.batch.cal_qa(cal + [str(demo_dir / "data" / "ms")], progress=False)
            pids = w.batch.run(os.readlink, ["/proc/self"], progress=False)["result"].tolist()
        finally:
            w.close()
    assert df["status"].tolist() == ["ok"] * 8 + ["failed"]
    assert "not a casacore calibration table" in df["error"].iloc[-1]
    assert df["table_type"].tolist()[:8] == [
        t["table_type"] for t in truth["calibration"]["caltables"][:8]
    ]
    assert pids != [str(os.getpid())]  # ran in the cluster's worker process
    local = dsa110_ws.connect(demo_dir / "settings.toml", state_dir=tmp_path / "state2")
    try:
        for row in df.iloc[:8].itertuples():
            assert row.result.flag_fraction == local.qa.cal(row.item).flag_fraction
    finally:
        local.close()


def test_unreachable_scheduler_is_a_clear_error(demo_dir, tmp_path, monkeypatch):
    from dsa110_ws.errors import DataUnavailableError
    from dsa110_ws.services.products import batch

    monkeypatch.setattr(batch, "DASK_CONNECT_TIMEOUT_S", 2.0)
    w = dsa110_ws.connect(
        demo_dir / "settings.toml", state_dir=tmp_path / "s", dask_scheduler="tcp://127.0.0.1:9"
    )
    try:
        with pytest.raises(DataUnavailableError, match="Cannot (reach|use) the dask scheduler"):
            w.batch.run("image_qa", ["a", "b"], progress=False)
    finally:
        w.close()
