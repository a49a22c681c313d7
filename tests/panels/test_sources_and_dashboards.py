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
    for plot in (p.lc_plot, p.eta_v_plot, p.stamp_plot):
        assert bytes(plot.value).startswith(b"\x89PNG")
    assert f">{len(cands)}</b> candidates" in p.summary_html.value


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


@pytest.mark.parametrize("cls", [SourceExplorer, OperationsDashboard, ScienceDashboard])
def test_sources_and_dashboards_on_a_broken_database_path(cls, broken_workspace):
    d = cls(broken_workspace)
    parts = getattr(d, "parts", {}) or {"self": d}
    for part in parts.values():
        assert part.status.level == "error" and "missing.sqlite3" in part.last_error
