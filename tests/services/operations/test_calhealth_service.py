"""w.calhealth: validity coverage, staleness, missing types, apply list, flux drift, alerts."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from _ops_helpers import connect, execute, rows

from dsa110_ws.services.operations.calhealth import staleness_class


def test_the_coverage_gap_is_found_exactly(workspace, demo_dir, truth):
    db = demo_dir / "pipeline.sqlite3"
    lo, hi = rows(
        db, "SELECT MIN(valid_start_mjd), MAX(valid_end_mjd) FROM caltables WHERE status = 'active'"
    )[0]
    tl = workspace.calhealth.timeline(start=lo, end=hi)
    gap = truth["calibration"]["coverage_gap_mjd"]
    assert len(tl.gaps) == 1
    assert tl.gaps.iloc[0]["start_mjd"] == pytest.approx(gap[0], abs=1e-6)
    assert tl.gaps.iloc[0]["end_mjd"] == pytest.approx(gap[1], abs=1e-6)
    assert tl.gaps.iloc[0]["duration_h"] == pytest.approx((gap[1] - gap[0]) * 24, abs=1e-4)
    assert tl.coverage_fraction == pytest.approx(1 - (gap[1] - gap[0]) / (hi - lo), abs=1e-6)
    assert set(tl.sets["set_name"]) == set(truth["calibration"]["active_sets"])
    inside = workspace.calhealth.timeline(start=gap[1] + 0.01, end=gap[1] + 0.5)
    assert inside.gaps.empty and inside.coverage_fraction == pytest.approx(1.0)


def test_nearest_set_and_staleness(workspace, truth):
    img = truth["images"][0]
    near = workspace.calhealth.nearest(img["mid_mjd"])
    assert near.valid and near.set_name == f"{img['night']}_3C286"
    expected_h = abs((near.valid_start_mjd + near.valid_end_mjd) / 2 - img["mid_mjd"]) * 24
    assert near.distance_h == pytest.approx(expected_h, abs=1e-6)
    # the documented ladder (DESIGN.md: fresh <= 6 h, aging <= 12 h, stale <= 24 h)
    ladder = [(6.0, "fresh"), (12.0, "aging"), (24.0, "stale"), (float("inf"), "critical")]
    assert near.staleness == next(cls for limit, cls in ladder if expected_h <= limit)
    gap = truth["calibration"]["coverage_gap_mjd"]
    in_gap = workspace.calhealth.nearest((gap[0] + gap[1]) / 2)
    assert not in_gap.valid and in_gap.apply_list == ()
    assert workspace.calhealth.health((gap[0] + gap[1]) / 2).status == "critical"
    retired = truth["calibration"]["retired_sets"][0]
    assert near.set_name != retired


@pytest.mark.parametrize(
    "hours,cls",
    [
        (0, "fresh"),
        (6, "fresh"),
        (6.01, "aging"),
        (12, "aging"),
        (12.5, "stale"),
        (24, "stale"),
        (24.01, "critical"),
        (100, "critical"),
    ],
)
def test_staleness_classes(hours, cls):
    assert staleness_class(hours) == cls


def test_apply_list_in_order(workspace, truth):
    img = truth["images"][-1]
    set_name = f"{img['night']}_3C286"
    by_type = {
        t["table_type"]: t["path"]
        for t in truth["calibration"]["caltables"]
        if t["set_name"] == set_name
    }
    assert workspace.calhealth.apply_list(img["mid_mjd"]) == [
        by_type[k] for k in ("K", "BP", "GA", "GP")
    ]
    now = workspace.calhealth.nearest()
    assert now.valid and now.missing_types == ()


def test_missing_type_degrades_health(writable_demo, state_dir, truth):
    db = writable_demo / "pipeline.sqlite3"
    last = truth["calibration"]["active_sets"][-1]
    # isolate: no open alerts, drift tolerated, then drop the GP table of the current set
    execute(db, ("UPDATE flux_monitoring_alerts SET resolved_at = 1 WHERE resolved_at IS NULL", ()))
    cfg = {"calibration": {"drift_percent_per_day": 50.0, "ratio_std_max": 1.0}}
    w = connect(writable_demo, state_dir, sections=cfg)
    try:
        baseline = w.calhealth.health()
        execute(db, ("DELETE FROM caltables WHERE set_name = ? AND table_type = 'GP'", (last,)))
        degraded = w.calhealth.health()
    finally:
        w.close()
    assert baseline.status == "ok" and baseline.nearest.staleness == "fresh"
    assert degraded.nearest.missing_types == ("GP",) and degraded.status == "warning"
    assert any("GP" in r for r in degraded.reasons)


def test_flux_drift_of_the_drifting_calibrator(workspace, demo_dir, truth):
    name = truth["calibration"]["drifting_calibrator"]
    df = workspace.calhealth.flux(start=truth["nights"][0], end=workspace.now()).set_index(
        "calibrator_name"
    )
    mjd, ratio = np.array(
        rows(
            demo_dir / "pipeline.sqlite3",
            "SELECT mjd, flux_ratio FROM calibration_monitoring WHERE calibrator_name = ?",
            (name,),
        )
    ).T
    slope = np.polyfit(mjd, ratio, 1)[0]
    assert df.loc[name, "drift_per_day"] == pytest.approx(slope, rel=1e-9)
    assert df.loc[name, "ratio_std"] == pytest.approx(np.std(ratio, ddof=1))
    assert -2.5 < df.loc[name, "drift_percent_per_day"] < -1.5  # generated at -2 % a night
    assert df.loc[name, "drift_percent"] == pytest.approx(100 * slope * np.ptp(mjd), rel=1e-9)
    # generated: -2 % a night over the nights (measurement noise 0.8 % a point)
    assert df.loc[name, "drift_percent"] == pytest.approx(
        truth["calibration"]["drift_percent"], abs=5.0
    )
    assert df.loc[name, "stability"] == "drifting" and df.loc[name, "open_alerts"] == 1
    others = df.drop(index=name)
    assert (others["stability"] == "stable").all() and (others["open_alerts"] == 0).all()


def test_alert_cutoff_compares_unix_with_unix(workspace, demo_dir, truth):
    from astropy import units as u

    db = demo_dir / "pipeline.sqlite3"
    trig = dict(rows(db, "SELECT calibrator_name, triggered_at FROM flux_monitoring_alerts"))
    now = truth["now_unix"]
    name = truth["calibration"]["drifting_calibrator"]
    # one alert is recent (hours), the other days old
    assert now - trig[name] < 86400 < now - trig["3C286"] < 7 * 86400
    assert list(workspace.calhealth.alerts(within=dt.timedelta(days=1))["calibrator_name"]) == [
        name
    ]
    assert list(workspace.calhealth.alerts(within=1 * u.day)["calibrator_name"]) == [name]
    assert len(workspace.calhealth.alerts(within=7 * u.day)) == 2
    assert workspace.calhealth.alerts(within=1 * u.min).empty
    # the old fault: an MJD cutoff against Unix seconds lets every alert through
    mjd_cutoff = workspace.now().mjd - 1
    assert all(t > mjd_cutoff for t in trig.values())
    opened = workspace.calhealth.alerts(open_only=True)
    assert list(opened["calibrator_name"]) == [name]


def test_health_now_reports_the_drift_and_alert(workspace, truth):
    rep = workspace.calhealth.health()
    name = truth["calibration"]["drifting_calibrator"]
    assert rep.status == "warning" and rep.exit_code == 1
    assert rep.nearest.valid and rep.nearest.staleness == "fresh"
    assert any(name in r and "alert" in r for r in rep.reasons)
    assert any(name in r and "drifting" in r for r in rep.reasons)
    assert rep.n_active_sets == len(truth["calibration"]["active_sets"])
    d = rep.to_dict()
    assert d["nearest"]["set_name"] == truth["calibration"]["active_sets"][-1]
    assert [a["calibrator_name"] for a in d["open_alerts"]] == [name]


def test_tables_without_a_set_name_belong_to_no_set(writable_demo, state_dir, truth):
    """The pipeline applies a set by ``WHERE set_name = ?``, which never matches NULL: a
    table without a set name is in no set, so the nearest set is the same named set with
    its whole apply list (it was "nan", with an empty apply list)."""
    db = writable_demo / "pipeline.sqlite3"
    img = truth["images"][-1]
    w = connect(writable_demo, state_dir)
    try:
        before = w.calhealth.nearest(img["mid_mjd"])
        # a copy of the current set's tables, unnamed, valid over the image's time exactly
        execute(
            db,
            (
                "INSERT INTO caltables (set_name, path, table_type, order_index, created_at, "
                "valid_start_mjd, valid_end_mjd, status) SELECT NULL, path || '.unnamed', "
                "table_type, order_index, created_at, ?, ?, 'active' FROM caltables "
                "WHERE set_name = ?",
                (img["mid_mjd"] - 1e-4, img["mid_mjd"] + 1e-4, before.set_name),
            ),
        )
        after = w.calhealth.nearest(img["mid_mjd"])
        sets = w.calhealth.sets()
    finally:
        w.close()
    assert before.valid and before.apply_list
    assert after == before
    assert sets["set_name"].notna().all()
