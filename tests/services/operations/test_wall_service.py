"""The operations wall's tiles: every trend against the demo's truth or plain sqlite3 counts,
"n/a" without a trend for a source that is unavailable, and the ``[wall]`` thresholds."""

from __future__ import annotations

import math
import sqlite3

import numpy as np
import pytest

import dsa110_ws
from dsa110_ws.errors import ConfigurationError

HOUR, DAY = 3600.0, 86400.0


def _hourly(times, lo):
    out = [0.0] * 24
    for t in times:
        k = math.floor((t - lo) / HOUR)
        if 0 <= k < 24:
            out[k] += 1
    return out


def _nightly(times, now_unix):
    first = math.floor(now_unix / DAY) * DAY - 13 * DAY
    out = [0.0] * 14
    for t in times:
        k = math.floor((t - first) / DAY)
        if 0 <= k < 14:
            out[k] += 1
    return out


def _db(workspace):
    return sqlite3.connect(f"file:{workspace.settings.pipeline_db}?mode=ro", uri=True)


def test_every_trend_counts_what_the_database_and_the_truth_say(workspace, truth):
    tiles = {t.key: t for t in workspace.wall.tiles()}
    assert len(tiles) == 10
    now = truth["now_unix"]
    lo = now - DAY
    assert workspace.wall.window() == pytest.approx((lo, now))
    for t in tiles.values():  # every tile of the demo has its source: each has a trend
        tr = t.trend
        n = 24 if "per hour" in tr and "24 h" in tr else 14 if "per night" in tr else 0
        assert n == 24 or "14 nights" in tr, tr
        assert n and len(t.series) == n, (t.key, t.trend, len(t.series))
    # images per hour of observation time: from the truth
    img = [(i["mid_mjd"] - 40587.0) * DAY for i in truth["images"]]
    assert list(tiles["images"].series) == _hourly(img, lo)
    assert sum(tiles["images"].series) == int(tiles["images"].value.replace(",", ""))
    # failed jobs per hour of creation: sqlite3, and the truth's total
    con = _db(workspace)
    rows = con.execute(
        "SELECT created_at, status FROM jobs WHERE created_at >= ? AND created_at < ?", (lo, now)
    ).fetchall()
    failed = [t for t, s in rows if s in ("failed", "error")]
    assert list(tiles["failed_jobs"].series) == _hourly(failed, lo)
    assert sum(tiles["failed_jobs"].series) == len(truth["failed_jobs"]) > 0
    ok = _hourly([t for t, s in rows if s in ("done", "completed")], lo)
    bad = _hourly(failed, lo)
    want = [o / (o + b) if o + b else math.nan for o, b in zip(ok, bad, strict=True)]
    got = tiles["success_rate"].series
    assert np.allclose(got, want, equal_nan=True) and any(math.isnan(x) for x in got)
    # MS registered per hour (the health tile's trend)
    ms = [r[0] for r in con.execute("SELECT created_at FROM ms_index WHERE created_at IS NOT NULL")]
    assert list(tiles["health"].series) == _hourly(ms, lo) and sum(tiles["health"].series) > 0
    # bad images per hour: QA graded 'bad', by its MS's observation time
    q = con.execute(
        "SELECT m.mid_mjd FROM image_qa q JOIN ms_index m ON m.path = q.ms_path "
        "WHERE q.overall_quality = 'bad'"
    ).fetchall()
    assert list(tiles["bad_images"].series) == _hourly([(r[0] - 40587.0) * DAY for r in q], lo)
    # open flux alerts by night raised
    alerts = [
        r[0]
        for r in con.execute(
            "SELECT triggered_at FROM flux_monitoring_alerts WHERE resolved_at IS NULL"
        )
    ]
    assert list(tiles["open_alerts"].series) == _nightly(alerts, now)
    assert sum(tiles["open_alerts"].series) == int(tiles["open_alerts"].value) > 0
    con.close()
    # stuck MS by night of their last change: from the truth's minutes since the change
    stuck = [now - 60.0 * s["minutes_since_change"] for s in truth["ms_states"]["stuck"]]
    assert list(tiles["stuck_ms"].series) == _nightly(stuck, now)
    # incomplete groups by the night they were created (group ids are their start times)
    assert sum(tiles["incomplete_groups"].series) == len(truth["incomplete_groups"]) > 0
    # the calibration trend: hours from each hour's end to the nearest active set
    from astropy.time import Time

    cal = [
        workspace.calhealth.nearest(Time(lo + HOUR * (k + 1), format="unix")).distance_h
        for k in range(24)
    ]
    assert np.allclose(tiles["calibration"].series, cal)
    # failed queue tasks per hour of their finish: psycopg on the queue's PostgreSQL
    import psycopg

    with psycopg.connect(workspace.queue_db.url) as pg:
        done = pg.execute(
            "SELECT EXTRACT(EPOCH FROM completed_at) FROM absurd.tasks WHERE status = "
            "'failed' AND queue_name = %s",
            (workspace.tasks.queue,),
        ).fetchall()
    assert list(tiles["queue"].series) == _hourly([float(r[0]) for r in done], lo)
    assert sum(tiles["queue"].series) > 0


def test_a_source_that_is_unavailable_shows_na_and_no_trend(writable_demo, tmp_path):
    db = writable_demo / "pipeline.sqlite3"
    w = dsa110_ws.connect(writable_demo / "settings.toml", state_dir=tmp_path / "s0")
    try:  # the images tiles of the intact database
        intact = {t.key: t for t in w.wall.tiles() if t.key in ("images", "bad_images")}
    finally:
        w.close()
    con = sqlite3.connect(db)
    con.execute("DROP TABLE flux_monitoring_alerts")
    con.execute("DROP TABLE jobs")
    con.commit()
    con.close()
    w = dsa110_ws.connect(writable_demo / "settings.toml", state_dir=tmp_path / "s")
    try:
        tiles = {t.key: t for t in w.wall.tiles()}
    finally:
        w.close()
    assert len(tiles) == 10
    for key in ("open_alerts", "failed_jobs", "success_rate"):
        t = tiles[key]
        assert (t.value, t.severity, t.series, t.trend) == ("n/a", "unknown", (), ""), t
        assert t.detail  # says why
    for key in ("failed_jobs", "success_rate"):  # the gist first (a tile shows two lines)
        assert tiles[key].detail.startswith("no jobs table in the pipeline database: "), tiles[
            key
        ].detail
    # images need no jobs table: the images tiles are those of the intact database
    for key, t in intact.items():
        assert t.value not in ("n/a", "0") and t.series, t
        assert tiles[key] == t
    assert tiles["queue"].value == "n/a" and tiles["queue"].series == ()  # no queue here
    # the others keep their numbers and trends
    assert tiles["stuck_ms"].series and tiles["health"].series and tiles["calibration"].series
    assert tiles["stuck_ms"].value != "n/a" and tiles["health"].value != "n/a"


def _with_wall(writable_demo, body: str):
    path = writable_demo / "settings.toml"
    path.write_text(path.read_text() + f"\n[wall]\n{body}\n")
    return path


@pytest.mark.parametrize(
    "body,key,default,changed",
    [
        ("job_success_rate = [0.80, 0.50]", "success_rate", "warning", "ok"),
        ("job_success_rate = [0.99, 0.90]", "success_rate", "warning", "critical"),
        ("failed_jobs = [5, 10]", "failed_jobs", "critical", "ok"),
        ("failed_jobs = [1, 5]", "failed_jobs", "critical", "warning"),
        ("stuck_ms = [1, 1]", "stuck_ms", "warning", "critical"),
        ("bad_image_fraction = [0.0, 0.5]", "bad_images", "ok", "warning"),
    ],
)
def test_wall_thresholds_from_the_settings_change_a_tiles_colour(
    writable_demo, tmp_path, body, key, default, changed
):
    w = dsa110_ws.connect(writable_demo / "settings.toml", state_dir=tmp_path / "a")
    before = {t.key: t for t in w.wall.tiles()}[key]
    w.close()
    w = dsa110_ws.connect(_with_wall(writable_demo, body), state_dir=tmp_path / "b")
    after = {t.key: t for t in w.wall.tiles()}[key]
    w.close()
    assert before.severity == default and after.severity == changed
    assert (before.value, before.series) == (after.value, after.series)  # same data


@pytest.mark.parametrize(
    "body,expected",
    [
        ("bad_image_fraction = [0.20, 0.05]", "critical (0.05) must be at or above warning"),
        ("job_success_rate = [0.80, 0.95]", "critical (0.95) must be at or below warning"),
        ("bad_image_fraction = [0.05, 1.5]", "must lie between 0 and 1"),
        ("job_success_rate = [-0.1, -0.2]", "must lie between 0 and 1"),
        ("stuck_ms = [10, 2]", "critical (2) must be at or above warning"),
        ("failed_jobs = [1.5, 3]", "failed_jobs"),
        ("failed_job = [1, 3]", "unknown key 'failed_job'"),
    ],
)
def test_bad_wall_thresholds_give_one_line_naming_the_key(writable_demo, body, expected):
    path = _with_wall(writable_demo, body)
    with pytest.raises(ConfigurationError) as err:
        dsa110_ws.connect(path).settings  # noqa: B018
    msg = str(err.value)
    assert "[wall]" in msg and str(path) in msg and expected in msg, msg
    assert "\n" not in msg


def test_a_trend_that_cannot_be_read_leaves_its_tiles_value(writable_demo, tmp_path):
    con = sqlite3.connect(writable_demo / "pipeline.sqlite3")
    con.execute("ALTER TABLE ms_index DROP COLUMN created_at")  # the health tile's trend
    con.commit()
    con.close()
    w = dsa110_ws.connect(writable_demo / "settings.toml", state_dir=tmp_path / "s")
    try:
        health = {t.key: t for t in w.wall.tiles()}["health"]
        status = w.health.check().status
    finally:
        w.close()
    assert health.value == status and health.value != "n/a"
    assert health.series == () and health.trend == ""
