"""w.jobs against the demo truth and independent SQLite reads."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
from _ops_helpers import connect, rows

from dsa110_ws.errors import InvalidQueryError, NotFoundError

ALL = "2026-01-01"  # a start before every demo row


def test_failed_jobs_and_reasons_match_the_truth(workspace, truth):
    df = workspace.jobs.failed()  # default window: the 24 h before w.now()
    got = {
        (int(i), t, r) for i, t, r in zip(df["id"], df["type"], df["failure_reason"], strict=True)
    }
    assert got == {(f["id"], f["type"], f["reason"]) for f in truth["failed_jobs"]}
    assert set(df["status"]) == {"failed"}


def test_statuses_are_the_stored_ones(workspace, truth, demo_dir):
    stored = dict(rows(demo_dir / "pipeline.sqlite3", "SELECT id, status FROM jobs"))
    df = workspace.jobs.find(start=ALL, limit=None)
    assert dict(zip(df["id"].astype(int), df["status"], strict=True)) == stored
    for status, n in truth["counts"]["jobs_by_status"].items():
        assert len(workspace.jobs.find(status=status, limit=None)) == n
    for status in truth["counts"]["jobs_by_status"]:  # one job of every stored status
        jid = next(j for j, s in stored.items() if s == status)
        assert workspace.jobs.get(jid).status == status


def test_job_lookup_is_by_id_never_by_date_substring(workspace, truth):
    failed = truth["failed_jobs"][1]
    info = workspace.jobs.get(str(failed["id"]))
    assert info.id == failed["id"] and info.type == failed["type"]
    assert info.failure_reason == failed["reason"]
    assert info.duration_s == pytest.approx(failed["duration_s"])
    durations = {workspace.jobs.get(f["id"]).duration_s for f in truth["failed_jobs"]}
    assert len(durations) == len(truth["failed_jobs"])  # not one made-up duration for all
    with pytest.raises(InvalidQueryError, match="not an integer id"):
        workspace.jobs.get("2026-11-14")
    with pytest.raises(InvalidQueryError):
        workspace.jobs.get("26 OR 1=1")
    with pytest.raises(NotFoundError):
        workspace.jobs.get(999_999)


def test_durations_artifacts_and_params(workspace, demo_dir):
    raw = rows(
        demo_dir / "pipeline.sqlite3", "SELECT id, started_at, finished_at, artifacts FROM jobs"
    )
    df = workspace.jobs.find(start=ALL, limit=None).set_index("id")
    for jid, started, finished, artifacts in raw:
        expected = None if started is None or finished is None else finished - started
        got = df.loc[jid, "duration_s"]
        assert np.isnan(got) if expected is None else got == pytest.approx(expected)
        assert df.loc[jid, "artifact_paths"] == json.loads(artifacts)
    image_job = df[(df["type"] == "image") & (df["status"] == "done")].index[0]
    info = workspace.jobs.get(int(image_job))
    assert len(info.artifact_paths) == 1 and info.artifact_paths[0].endswith(".fits")
    assert info.params_dict == {"stage": "image"}
    assert info.failure_reason is None


def test_summary_counts_done_and_completed_as_success(workspace, truth):
    s = workspace.jobs.summary(start=ALL)
    by = truth["counts"]["jobs_by_status"]
    assert s.by_status == by
    assert s.n_success == by["done"] + by["completed"]  # the old stats counted only 'completed'
    assert s.n_failed == by["failed"] and s.n_running == by["running"]
    assert s.success_rate == pytest.approx(s.n_success / (s.n_success + s.n_failed))
    assert s.by_type["n_total"].sum() == sum(by.values())
    assert s.by_type.loc["photometry", "n_failed"] == 1


def test_summary_default_window_is_the_last_24_hours(workspace, demo_dir, truth):
    now = truth["now_unix"]
    expected = rows(
        demo_dir / "pipeline.sqlite3",
        "SELECT COUNT(*) FROM jobs WHERE created_at >= ? AND created_at < ?",
        (now - 86400.0, now),
    )[0][0]
    s = workspace.jobs.summary()
    assert s.n_total == expected and 0 < expected < sum(truth["counts"]["jobs_by_status"].values())
    assert s.end.unix == pytest.approx(now, abs=1e-3)
    assert s.end.unix - s.start.unix == pytest.approx(86400.0, abs=1e-3)


def test_batches_progress_from_items(workspace, truth, demo_dir):
    df = workspace.jobs.batches().set_index("id")
    assert df["status"].value_counts().to_dict() == truth["batch_status_counts"]
    items = rows(demo_dir / "pipeline.sqlite3", "SELECT batch_id, status FROM batch_job_items")
    for bid in df.index:
        st = [s for b, s in items if b == bid]
        finished = sum(s in {"done", "failed", "cancelled"} for s in st)
        assert df.loc[bid, "n_items"] == len(st)
        assert df.loc[bid, "n_done"] == st.count("done")
        assert df.loc[bid, "progress"] == pytest.approx(finished / len(st))
    running = df.index[df["status"] == "running"][0]
    assert 0 < df.loc[running, "progress"] < 1
    info = workspace.jobs.batch(int(running))
    assert info.counts == {"done": 2, "running": 1, "pending": 3}
    assert len(info.items) == 6 and info.progress == pytest.approx(2 / 6)
    with pytest.raises(NotFoundError):
        workspace.jobs.batch(999)


def test_stuck_ms_is_exactly_the_truth(workspace, truth):
    stuck = workspace.jobs.stuck()
    assert list(stuck["path"]) == [truth["ms_states"]["stuck"][0]["path"]]
    assert stuck["minutes_since_change"].iloc[0] == pytest.approx(400.0, abs=1e-3)
    assert workspace.jobs.stuck(older_than=dt.timedelta(minutes=401)).empty
    from astropy import units as u

    # 30 min: the stuck one and the two in-progress MS older than 30 min; never failed/error
    got = set(workspace.jobs.stuck(older_than=30 * u.min)["path"])
    expect = {
        m["path"] for m in truth["ms_states"]["in_progress"] if m["minutes_since_change"] > 30
    }
    assert got == expect | {truth["ms_states"]["stuck"][0]["path"]}
    with pytest.raises(InvalidQueryError, match="no unit"):
        workspace.jobs.stuck(older_than=30)


def test_stuck_threshold_from_settings(demo_dir, state_dir, truth):
    w = connect(demo_dir, state_dir, sections={"operations": {"stuck_after_minutes": 45}})
    try:
        got = set(w.jobs.stuck()["path"])
    finally:
        w.close()
    expect = {
        m["path"] for m in truth["ms_states"]["in_progress"] if m["minutes_since_change"] > 45
    }
    assert got == expect | {truth["ms_states"]["stuck"][0]["path"]}


def test_pipeline_progress_per_ms(workspace, truth):
    df = workspace.jobs.pipeline_progress().set_index("path")
    stuck = truth["ms_states"]["stuck"][0]["path"]
    assert df["stuck"].sum() == 1 and bool(df.loc[stuck, "stuck"])
    for m in truth["ms_states"]["failed"] + truth["ms_states"]["in_progress"]:
        assert df.loc[m["path"], "state"] == m["state"]
        assert df.loc[m["path"], "minutes_since_change"] == pytest.approx(
            m["minutes_since_change"], abs=1e-3
        )
    done = df[df["stage"] == "done"]
    assert len(done) > 0 and (done["progress"] == 1.0).all()
    assert df.loc[stuck, "progress"] == pytest.approx(6 / 7)  # imaging
    active = workspace.jobs.pipeline_progress(active_only=True)
    assert stuck in set(active["path"]) and not (active["state"] == "done").any()
