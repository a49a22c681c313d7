"""HealthPanel and ThroughputPanel on their own (not only inside the dashboard), against
the truth file and astropy time arithmetic."""

from __future__ import annotations

import re

import astropy.units as u
from astropy.time import Time

from dsa110_ws.panels import HealthPanel, ThroughputPanel


def _totals(html: str) -> dict[str, int]:
    return {
        k: int(v.replace(",", ""))
        for v, k in re.findall(r"<b data-what='\w+'>([\d,]+)</b> (\w+)", html)
    }


def test_throughput_panel_counts_the_truths_images_per_window(workspace, truth):
    p = ThroughputPanel(workspace, background=False)
    now = Time(truth["now"], scale="utc")
    assert p.last_error == "" and p.window == "last 24 h"
    day_ago = (now - 1 * u.day).mjd
    in_day = sum(day_ago <= i["mid_mjd"] < now.mjd for i in truth["images"])
    assert _totals(p.totals_html.value)["images"] == in_day == 8
    assert p.plot.value[:8] == b"\x89PNG\r\n\x1a\n"
    # nightly bins: seven whole UTC nights, tonight the last; the totals are the bars
    p.window_select.value = "last 7 nights"
    first_night = (now - 6 * u.day).to_value("iso", subfmt="date")
    nights = sum(i["night"] >= first_night for i in truth["images"])
    assert p.window == "last 7 nights" and _totals(p.totals_html.value)["images"] == nights
    assert len(p.data) == 7 and int(p.data["n_images"].sum()) == nights
    assert f"since {first_night} 00:00 UTC" in p.totals_html.value
    p.window_select.value = "last 30 nights"
    got = _totals(p.totals_html.value)
    assert got["images"] == len(truth["images"])
    assert got["photometry"] == truth["sources"]["n_photometry_rows"]
    p.close()


def test_health_panel_shows_the_stuck_ms_checks_and_calibration(workspace, truth):
    p = HealthPanel(workspace, background=False)
    assert p.last_error == ""
    assert list(p.stuck["path"]) == [s["path"] for s in truth["ms_states"]["stuck"]]
    names = set(p.report.to_frame()["name"])
    assert {"database", "freshness:ms", "stuck-ms"} <= names
    statuses = [c.status for c in p.report.checks]
    order = ["ok", "unknown", "warning", "critical"]  # the documented ladder
    assert p.report.status == max(statuses, key=order.index)
    assert f">{p.report.status.upper()}<" in p.overall_html.value
    stuck = next(c for c in p.report.checks if c.name == "stuck-ms")
    assert stuck.status == "warning"  # one MS stuck for 400 minutes in the truth file
    drifting = truth["calibration"]["drifting_calibrator"]
    assert drifting in p.cal_html.value or drifting in str(p.cal.to_dict())
    p.close()
