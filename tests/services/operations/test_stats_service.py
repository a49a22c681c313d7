"""w.stats: windowed counts, throughput by observation time, success rates, QA, disk."""

from __future__ import annotations

import os

import numpy as np
import pytest
from _ops_helpers import connect, execute, rows

from dsa110_ws.errors import InvalidQueryError


def test_all_time_counts_match_the_truth(workspace, truth):
    c = workspace.stats.counts(all_time=True)
    assert c["ms_by_stage"] == truth["counts"]["ms_by_stage"]
    assert c["jobs_by_status"] == truth["counts"]["jobs_by_status"]
    assert c["ingestion_by_state"] == truth["counts"]["ingestion_by_state"]
    assert c["batches_by_status"] == truth["batch_status_counts"]
    assert sum(c["jobs_by_type"].values()) == sum(truth["counts"]["jobs_by_status"].values())


def test_default_window_is_the_24_hours_before_now(workspace, demo_dir, truth):
    c = workspace.stats.counts()
    now = truth["now_unix"]
    db = demo_dir / "pipeline.sqlite3"
    lo_mjd, hi_mjd = (now - 86400) / 86400 + 40587, now / 86400 + 40587
    expect = dict(
        rows(
            db,
            "SELECT stage, COUNT(*) FROM ms_index WHERE mid_mjd >= ? AND "
            "mid_mjd < ? GROUP BY stage",
            (lo_mjd, hi_mjd),
        )
    )
    assert c["ms_by_stage"] == expect
    jobs = dict(
        rows(
            db,
            "SELECT status, COUNT(*) FROM jobs WHERE created_at >= ? AND "
            "created_at < ? GROUP BY status",
            (now - 86400, now),
        )
    )
    assert c["jobs_by_status"] == jobs
    assert c["end"] == truth["now"]


def test_throughput_per_night_by_observation_time(workspace, truth):
    tp = workspace.stats.throughput(start=truth["nights"][0], end=workspace.now(), per="night")
    assert len(tp) == len(truth["nights"])
    assert [str(d.date()) for d in tp["bin_start"]] == truth["nights"]
    for night, n_img, n_phot in zip(
        truth["nights"], tp["n_images"], tp["n_photometry"], strict=True
    ):
        imgs = [t for t in truth["images"] if t["night"] == night]
        assert n_img == len(imgs)
        assert n_phot == sum(t["n_sources"] for t in imgs)
    extra = sum(len(v) for v in truth["ms_states"].values())
    assert tp["n_ms"].sum() == len(truth["images"]) + extra
    assert tp["n_photometry"].sum() == truth["sources"]["n_photometry_rows"]


def test_throughput_ignores_when_rows_were_written(writable_demo, state_dir, truth):
    """Keyed on observation time: moving created_at does not move the counts."""
    db = writable_demo / "pipeline.sqlite3"
    w = connect(writable_demo, state_dir)
    try:
        before = w.stats.throughput(start=truth["nights"][0], end=w.now(), per="hour")
        execute(
            db,
            ("UPDATE images SET created_at = created_at + 5 * 86400", ()),
            ("UPDATE ms_index SET created_at = created_at - 3 * 86400", ()),
            ("UPDATE photometry SET measured_at = measured_at + 86400", ()),
        )
        after = w.stats.throughput(start=truth["nights"][0], end=w.now(), per="hour")
    finally:
        w.close()
    assert before.equals(after)
    assert before["n_images"].sum() == len(truth["images"])


def test_hourly_bins_cover_the_window(workspace):
    tp = workspace.stats.throughput()
    assert len(tp) in (24, 25)  # whole UTC hours covering 24 h
    assert np.allclose(np.diff(tp["bin_start_mjd"]), 1 / 24)
    assert tp["bin_start_mjd"].iloc[0] <= workspace.now().mjd - 1 < tp["bin_start_mjd"].iloc[1]
    with pytest.raises(InvalidQueryError):
        workspace.stats.throughput(per="week")
    with pytest.raises(InvalidQueryError):
        workspace.stats.throughput(what=("sources",))


def test_success_rates(workspace, truth):
    sr = workspace.stats.success_rates(start="2026-01-01")
    by = truth["counts"]["jobs_by_status"]
    ok = by["done"] + by["completed"]
    assert sr.loc["all", "success_rate"] == pytest.approx(ok / (ok + by["failed"]))
    assert sr.loc["all", "n_total"] == sum(by.values())
    failed_types = {f["type"] for f in truth["failed_jobs"]}
    for t in sr.index.drop("all"):
        assert (sr.loc[t, "success_rate"] < 1.0) == (t in failed_types)


def test_qa_distributions_per_night(workspace, demo_dir, truth):
    qa = workspace.stats.qa(start=truth["nights"][0], end=workspace.now()).set_index("bin_start")
    db = demo_dir / "pipeline.sqlite3"
    stored = rows(
        db,
        "SELECT m.mid_mjd, q.rms_noise, q.dynamic_range, q.overall_quality "
        "FROM image_qa q JOIN ms_index m ON m.path = q.ms_path",
    )
    bad_nights = {t["night"] for t in truth["images"] if t["bad_reason"]}
    for ts, row in qa.iterrows():
        night = str(ts.date())
        mine = [s for s in stored if night == _night(s[0])]
        assert row["n"] == len(mine)
        assert row["noise_median_jy"] == pytest.approx(np.median([s[1] for s in mine]))
        assert row["dr_p84"] == pytest.approx(np.percentile([s[2] for s in mine], 84))
        assert (row.get("n_bad", 0) > 0) == (night in bad_nights)
    assert qa["n"].sum() == len(stored)


def _night(mjd: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp((mjd - 40587) * 86400, dt.UTC).strftime("%Y-%m-%d")


def test_disk_usage_of_the_data_roots(workspace, demo_dir):
    df = workspace.stats.disk_usage()
    assert list(df["path"]) == [str(demo_dir / "data")]
    st = os.statvfs(demo_dir / "data")
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    assert df["used_percent"].iloc[0] == pytest.approx(
        100 * used / (used + st.f_bavail * st.f_frsize), abs=0.5
    )


def test_summary_is_plain_data(workspace, truth):
    s = workspace.stats.summary(start=truth["nights"][0])
    import json

    json.dumps(s)  # serialisable as is
    assert s["throughput"]["n_images"] == len(truth["images"])
    assert s["jobs"]["n_failed"] == len(truth["failed_jobs"])


def test_null_stage_status_and_type_are_counted_under_one_key(writable_demo, state_dir, truth):
    """A NULL stage, status or type is counted as "(none)": never a "nan" key (pandas 3
    keeps a missing text as NaN) and never dropped (groupby drops NaN keys by default)."""
    db = writable_demo / "pipeline.sqlite3"
    execute(
        db,
        ("UPDATE ms_index SET stage = NULL WHERE rowid IN (SELECT rowid FROM ms_index LIMIT 3)", ()),
        ("UPDATE ms_index SET status = NULL WHERE rowid = (SELECT MIN(rowid) FROM ms_index)", ()),
        ("UPDATE jobs SET type = NULL, status = NULL WHERE id IN (SELECT id FROM jobs LIMIT 2)", ()),
    )
    w = connect(writable_demo, state_dir)
    try:
        c = w.stats.counts(all_time=True)
    finally:
        w.close()
    n_ms = rows(db, "SELECT COUNT(*) FROM ms_index")[0][0]
    n_jobs = rows(db, "SELECT COUNT(*) FROM jobs")[0][0]
    assert c["ms_by_stage"]["(none)"] == 3 and c["ms_by_status"]["(none)"] == 1
    assert c["jobs_by_type"]["(none)"] == c["jobs_by_status"]["(none)"] == 2
    for key, total in (("ms_by_stage", n_ms), ("ms_by_status", n_ms), ("jobs_by_type", n_jobs)):
        assert sum(c[key].values()) == total, key
        assert "nan" not in c[key] and "None" not in c[key], c[key]
