"""SourceExplorer over the demo's photometry and images, and the two dashboard panels."""

from __future__ import annotations

import pytest

from dsa110_ws.panels import OperationsDashboard, ScienceDashboard, SourceExplorer


def test_source_explorer_lists_the_injected_variables_and_opens_the_best(workspace, truth):
    p = SourceExplorer(workspace)
    variables = {v["source_id"] for v in truth["sources"]["variables"]}
    ese = {e["source_id"] for e in truth["sources"]["ese"]}
    cands = set(p.candidates["source_id"])
    assert ese <= cands and len(cands - variables) <= 2, cands - variables
    assert set(p.candidates.loc[p.candidates["ese_like"], "source_id"]) == ese
    assert p.source_id == p.candidates["source_id"].iloc[0]
    assert p.metrics["n_epochs"] == len(p.lightcurve.dropna(subset=["flux_jy"]))
    assert p.lightcurve["mjd"].is_monotonic_increasing
    assert bytes(p.stamp_plot.value).startswith(b"\x89PNG")
    assert len(p.eta_v.table) == p.variability[["eta", "v"]].notna().all(axis=1).sum()
    assert len(p.lc_view.lightcurve) == len(p.lightcurve) and p.lc_view.ax.has_data()
    assert f">{len(cands)}</b> candidates" in p.summary_html.value


def test_light_curve_click_opens_the_epochs_stamp_and_image(workspace, truth):
    """A click on a light-curve point (a real matplotlib button event at the point's
    screen position) opens that epoch's stamp and image; the y axis says mJy; the
    nights are told apart (one legend entry per UTC night)."""
    from matplotlib.backend_bases import MouseEvent

    ese = truth["sources"]["ese"][0]["source_id"]
    p = SourceExplorer(workspace, ese, stamps=False)
    v = p.lc_view
    assert "mJy" in v.ax.get_ylabel() and p.lightcurve.attrs["flux_column"] in v.ax.get_ylabel()
    nights = set(p.lightcurve["time_utc"].dt.strftime("%Y-%m-%d"))
    assert {t.get_text() for t in v.ax.get_legend().get_texts()} == nights
    k = 5
    x, y = v.ax.transData.transform(v._xy[k])
    v.canvas.callbacks.process(
        "button_press_event", MouseEvent("button_press_event", v.canvas, x + 3, y - 2, 1)
    )
    assert v.epoch == k
    assert v.viewer.path == p.lightcurve["image_path"].iloc[k]
    assert bytes(v.stamp.value).startswith(b"\x89PNG")
    when = p.lightcurve["time_utc"].iloc[k].strftime("%Y-%m-%d %H:%M:%S")
    assert when in v.epoch_html.value
    far = MouseEvent("button_press_event", v.canvas, x + 40, y + 40, 1)
    v.canvas.callbacks.process("button_press_event", far)
    assert v.epoch == k  # a click away from every point selects nothing new


def test_lightcurve_hover_names_the_image_or_says_there_is_none(workspace):
    """The hover line of an epoch names its image file; an epoch without an image path
    (NULL in the pipeline database) says so, not "nan"."""
    from dsa110_ws.panels.lightcurve import LightCurveView

    p = SourceExplorer(workspace, stamps=False)
    lc = p.lightcurve.copy()
    lc.loc[1, "image_path"] = None
    v = LightCurveView(workspace)
    v.show(p.source_id, lc)
    assert p.lightcurve["image_path"].iloc[0].rsplit("/", 1)[-1] in v._describe(0)
    assert v._describe(1).endswith("mJy (no image)") and "nan" not in v._describe(1)
    v.select_epoch(1)  # opened: the stamp's hover title says so too, and nothing is read
    assert "title='no image'" in v.epoch_html.value and "nan" not in v.epoch_html.value
    assert "has no image" in v.status.message


def test_eta_v_click_selects_that_source(workspace, truth):
    """A click on a point of the eta-V plot (a real button event at its screen position)
    opens that source; a hover names it."""
    from matplotlib.backend_bases import MouseEvent

    p = SourceExplorer(workspace, stamps=False)
    v = p.eta_v
    target = truth["sources"]["ese"][1]["source_id"]
    assert p.source_id != target
    k = v._ids.index(target)
    x, y = v.ax.transData.transform(v._xy[k])
    v.canvas.callbacks.process(
        "motion_notify_event", MouseEvent("motion_notify_event", v.canvas, x, y)
    )
    assert target in v.hover_html.value
    v.canvas.callbacks.process(
        "button_press_event", MouseEvent("button_press_event", v.canvas, x + 2, y + 2, 1)
    )
    assert v.selected == target and p.source_id == target
    assert p.lightcurve["source_id"].eq(target).all() and p.cand_table.selected == target


def test_source_explorer_candidate_pick_cone_search_and_errors(workspace, truth):
    p = SourceExplorer(workspace, stamps=False)
    other = p.candidates["source_id"].iloc[1]
    p.cand_table.select(other)
    assert p.source_id == other and p.metrics["score"] == pytest.approx(
        float(p.candidates["score"].iloc[1])
    )
    img = truth["images"][0]
    p.cone_ra.value, p.cone_dec.value = img["center_ra_deg"], img["center_dec_deg"]
    p.cone_radius.value = 30.0
    p.cone_button.click()
    assert len(p.cone_results) > 0 and (p.cone_results["sep_deg"] <= 0.5 + 1e-9).all()
    assert p.cone_results["sep_deg"].is_monotonic_increasing
    nearest = p.cone_results["id"].iloc[0]
    p.cone_table.select(nearest)
    assert p.source_id == nearest and len(p.lightcurve) > 0
    n_moderate = len(p.candidates)
    p.preset_select.value = "conservative"
    assert len(p.candidates) <= n_moderate
    p.source_box.value = "J000000.0+000000"
    assert p.status.level == "error" and "J000000.0+000000" in p.last_error


def test_operations_dashboard_headline_numbers_match_the_truth(workspace, truth):
    d = OperationsDashboard(workspace)
    k = d.kpis
    assert k["failed_jobs"] == len(truth["failed_jobs"])
    assert k["stuck_ms"] == len(truth["ms_states"]["stuck"])
    assert k["incomplete_groups"] == len(truth["incomplete_groups"])
    assert k["open_alerts"] == 1 and k["health"] in ("warning", "critical")
    assert not d.auto.enabled and d.auto.driver == "browser"
    for part in d.parts.values():
        assert part.last_error == "", (type(part).__name__, part.last_error)
    d.parts["qa"].night_text.value = "2026-11-10"
    assert d.parts["qa"].counts.get("bad") == 3
    d.auto.checkbox.value = True
    for part in d.parts.values():  # forget the constructor's load: only the tick may set it
        part.refreshed_at = 0.0
    d.auto.play.value += 1  # one tick from the page refreshes every part
    stale = [name for name, p in d.parts.items() if p.refreshed_at == 0.0]
    assert stale == [] and set(d.parts) == {
        *("health", "throughput", "ingest", "jobs", "qa"),
        *("tasks", "failures", "workers"),  # the demo has a task queue
    }
    d.close()


def test_science_dashboard_has_images_and_sources(workspace, truth):
    d = ScienceDashboard(
        workspace, night=truth["nights"][-1], source_id=truth["sources"]["ese"][1]["source_id"]
    )
    assert d.tabs.get_title(0) == "Images" and d.tabs.get_title(1) == "Sources"
    assert len(d.parts["images"].images) == sum(
        1 for i in truth["images"] if i["night"] == truth["nights"][-1]
    )
    assert d.parts["sources"].source_id == truth["sources"]["ese"][1]["source_id"]


def test_wall_tiles_match_the_truth_and_ignore_panel_windows(workspace, truth):
    from dsa110_ws.panels.wall import WallDashboard

    d = WallDashboard(workspace)
    tiles = {t.key: t for t in d.tiles}
    assert len(tiles) == 10 and d.last_error == ""
    failed = tiles["failed_jobs"]
    assert failed.value == str(len(truth["failed_jobs"])) and failed.severity == "critical"
    assert len(failed.series) == 24 and sum(failed.series) == len(truth["failed_jobs"])
    assert tiles["stuck_ms"].value == str(len(truth["ms_states"]["stuck"]))
    assert tiles["stuck_ms"].severity == "warning"
    assert tiles["incomplete_groups"].value == str(len(truth["incomplete_groups"]))
    now_mjd = truth["now_unix"] / 86400.0 + 40587.0
    n_24h = sum(1 for i in truth["images"] if now_mjd - 1 <= i["mid_mjd"] < now_mjd)
    assert tiles["images"].value == str(n_24h) and tiles["images"].severity == "info"
    assert sum(tiles["images"].series) == n_24h
    assert tiles["images"].link == ("science", (("night", "2026-11-13"), ("n_nights", "2")))
    html_before = d.tiles_html.value
    d.parts["throughput"].window = "last 30 nights"  # a panel's window: the tiles stay
    assert d.parts["throughput"].data["n_images"].sum() > n_24h
    assert d.tiles_html.value == html_before
    assert "data-severity='critical'" in html_before and "href='operations.ipynb?panel=jobs'" in (
        html_before
    )
    d.close()


def test_operations_headline_images_keep_their_24_h(workspace, truth):
    d = OperationsDashboard(workspace)
    now_mjd = truth["now_unix"] / 86400.0 + 40587.0
    n_24h = sum(1 for i in truth["images"] if now_mjd - 1 <= i["mid_mjd"] < now_mjd)
    assert d.kpis["images"] == n_24h
    d.parts["throughput"].window = "last 30 nights"
    assert d.parts["throughput"].data["n_images"].sum() == len(truth["images"]) > n_24h
    assert d.kpis["images"] == n_24h
    d.close()


def test_deep_link_parameters_from_the_query_string(workspace, truth):
    from dsa110_ws.errors import InvalidQueryError
    from dsa110_ws.panels import from_query

    sid = truth["sources"]["ese"][1]["source_id"]
    got = from_query(f"?source_id={sid}&job_id=12&token=abc", source_id="", job_id=0)
    assert got == {"source_id": sid, "job_id": 12}  # '+' kept, unknown names ignored
    assert from_query("", night="yesterday") == {"night": "yesterday"}
    with pytest.raises(InvalidQueryError, match="job_id"):
        from_query("job_id=twelve", job_id=0)
    job = truth["failed_jobs"][0]["id"]
    d = OperationsDashboard(workspace, job_id=job)
    assert d.parts["jobs"].job_table.selected == job
    assert d.children.index(d.parts["jobs"]) < d.children.index(d.kpi_html) + 2  # shown first
    assert f"Job {job}" in d.parts["jobs"].detail.value
    d.close()
    s = ScienceDashboard(workspace, source_id=sid)
    assert s.tabs.selected_index == 1 and s.parts["sources"].source_id == sid
    s.close()


@pytest.mark.parametrize("cls", [SourceExplorer, OperationsDashboard, ScienceDashboard])
def test_sources_and_dashboards_on_a_broken_database_path(cls, broken_workspace):
    d = cls(broken_workspace)
    parts = getattr(d, "parts", {}) or {"self": d}
    for part in parts.values():
        assert part.status.level == "error" and "missing.sqlite3" in part.last_error
