"""SourceExplorer's forced-photometry light curve and its SAMP buttons, against a real hub."""

from __future__ import annotations

import pytest

from dsa110_ws.panels import SourceExplorer


def test_forced_light_curve_in_the_explorer(workspace, truth):
    ese = next(v["source_id"] for v in truth["sources"]["variables"] if v["kind"] == "ese")
    p = SourceExplorer(workspace, ese, stamps=False)
    assert p.lightcurve.attrs["flux_column"] != "forced"
    p.forced_box.value = True
    assert p.forced and p.lightcurve.attrs["flux_column"] == "forced"
    assert p.lightcurve["status"].isin(["detected", "upper_limit"]).all()
    assert len(p.lc_view.lightcurve) == len(p.lightcurve) and p.lc_view.ax.has_data()
    assert p.status.level == "ok"


def test_samp_buttons_send_tables_and_the_source(workspace, truth, samp_hub):
    got, events = samp_hub
    p = SourceExplorer(workspace, stamps=False)
    p.samp_cands_button.click()
    assert events["table.load.votable"].wait(10), p.last_error
    assert got["table.load.votable"]["name"] == "ESE candidates (moderate)"
    assert p.status.level == "ok" and "receiver" in p.status.message
    table = workspace.sources.load_votable(got["table.load.votable"]["url"].removeprefix("file://"))
    assert list(table["source_id"]) == list(p.candidates["source_id"])

    p.samp_point_button.click()
    assert events["coord.pointAt.sky"].wait(10), p.last_error
    rec = workspace.sources.get(p.source_id)
    assert float(got["coord.pointAt.sky"]["ra"]) == pytest.approx(rec.ra_deg, abs=1e-9)

    p.samp_cone_button.click()  # nothing searched yet: says so, sends nothing
    assert p.status.level == "warning" and "cone search" in p.status.message


def test_samp_without_a_hub_is_one_line_on_the_status(workspace, tmp_path, monkeypatch):
    monkeypatch.setenv("SAMP_HUB", f"std-lockurl:{(tmp_path / 'none').as_uri()}")
    p = SourceExplorer(workspace, stamps=False)
    p.samp_cands_button.click()
    assert p.status.level == "error"
    assert "No SAMP hub is running" in p.last_error and "\n" not in p.last_error
