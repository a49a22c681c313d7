"""ImageBrowser, QAPanel, MSInspector and CalInspector over the demo's real files,
checked against the generator's truth."""

from __future__ import annotations

import pytest

from dsa110_ws.panels import CalInspector, ImageBrowser, MSInspector, QAPanel

BAD_NIGHT = "2026-11-10"


def _png(value) -> bool:
    return bytes(value).startswith(b"\x89PNG")


def _bad(truth):
    return {i["path"]: i["bad_reason"] for i in truth["images"] if i["bad_reason"]}


def test_image_browser_filters_by_night_grade_and_declination(workspace, truth):
    p = ImageBrowser(workspace, night=truth["nights"][0], page_size=5)
    first = {i["path"] for i in truth["images"] if i["night"] == truth["nights"][0]}
    assert set(p.images["path"]) == first and p.status.level == "ok", p.last_error
    assert p.table.n_pages == 2 and p.table.html.value.count("<tr") == 6
    assert len(p.thumbs.children) == 5  # thumbnails of the current page only
    p.table.next.click()
    assert len(p.thumbs.children) == len(first) - 5
    p.night_text.value = truth["nights"][3]
    p.nights_int.value = 4
    p.grade_select.value = "bad"
    assert set(p.images["path"]) == set(_bad(truth))
    dec = truth["images"][0]["center_dec_deg"]
    p.dec_slider.value = (dec + 1.0, 90.0)
    assert p.images.empty and "No images" in p.table.html.value


def test_image_browser_selection_shows_header_qa_cutout_and_products(workspace, truth):
    p = ImageBrowser(workspace, night=BAD_NIGHT)
    noisy = next(i for i in truth["images"] if i["bad_reason"] == "high_noise")
    iid = int(p.images.loc[p.images["path"] == noisy["path"], "id"].iloc[0])
    p.thumbs.children[list(p.table.page_frame()["id"]).index(iid)].children[1].click()
    assert p.selected_path == noisy["path"] and p.qa.grade == "bad"
    assert p.header.bmaj_arcsec == noisy["beam"][0] and _png(p.preview.value)
    assert noisy["ms_path"] in p.detail.value and "caltable" in p.detail.value
    assert p.cut_ra.value == pytest.approx(noisy["center_ra_deg"], abs=1e-3)
    p.cut_button.click()
    assert _png(p.cut_image.value) and p.status.level == "ok"
    p.open_ms_button.click()
    (inspector,) = p.linked.children
    assert inspector.ms_path == noisy["ms_path"] and inspector.summary is not None
    p.open_cal_button.click()
    (cal,) = p.linked.children
    assert cal.caltable == p.applied["caltable_path"].iloc[0] and cal.qa is not None
    p.cut_ra.value = noisy["center_ra_deg"] + 90.0
    p.cut_button.click()
    assert p.status.level == "error" and "outside" in p.last_error


def test_image_browser_reports_a_bad_night_string(workspace):
    p = ImageBrowser(workspace)
    p.night_text.value = "the night before christmas"
    assert p.status.level == "error" and "Cannot read night" in p.last_error


def test_qa_panel_grades_the_bad_night_from_the_pixels(workspace, truth):
    p = QAPanel(workspace, night=BAD_NIGHT)
    n_night = sum(1 for i in truth["images"] if i["night"] == BAD_NIGHT)
    bad = _bad(truth)
    assert p.counts == {"good": n_night - len(bad), "bad": len(bad)}
    worst = p.results.head(len(bad))
    assert set(worst["path"]) == set(bad) and (worst["grade"] == "bad").all()
    reasons = dict(zip(worst["path"], worst["reasons"], strict=True))
    by_reason = {r: path for path, r in bad.items()}
    assert "rms" in reasons[by_reason["high_noise"]].lower()
    assert "beam" in reasons[by_reason["missing_beam"]].lower()
    assert "blank" in reasons[by_reason["nan_region"]].lower()
    assert _png(p.plot.value) and ">bad: <b>3</b>" in p.counts_html.value
    p.source_select.value = "stored"
    assert set(p.results.loc[p.results["grade"] == "bad", "path"]) == set(bad)


def test_ms_inspector_summary_and_flags_match_the_truth(workspace, truth):
    ms = truth["measurement_sets"][0]
    p = MSInspector(workspace, ms["path"])
    assert p.status.level in ("ok", "busy"), p.last_error
    assert p.summary.n_rows == ms["n_rows"]
    assert p.flags.flag_fraction == pytest.approx(ms["flag_fraction"], abs=1e-12)
    assert list(p.flags.fully_flagged_antennas) == ms["antennas_fully_flagged"]
    assert list(p.spw_table.data["flag_fraction"]) == pytest.approx(ms["flag_fraction_per_spw"])
    assert f"{100 * ms['flag_fraction']:.2f}%" in p.summary_html.value
    before = p.quicklook_plot.value
    p.x_select.value = "frequency"
    assert _png(p.quicklook_plot.value) and bytes(p.quicklook_plot.value) != bytes(before)


def test_ms_inspector_lists_a_night_and_refuses_paths_outside_the_roots(workspace, truth):
    p = MSInspector(workspace, night=truth["nights"][2])
    night = [m["path"] for m in truth["measurement_sets"] if truth["nights"][2] in m["path"]]
    assert list(p.path_box.options) == night and p.ms_path == night[0]
    p.path_box.value = "/etc"
    assert p.status.level == "error" and "/etc" in p.last_error


def test_cal_inspector_finds_the_dead_antenna_and_the_coverage_gap(workspace, truth):
    cal = truth["calibration"]
    dead = next(c for c in cal["caltables"] if c["dead_antenna"] is not None)
    p = CalInspector(workspace, dead["path"])
    assert p.set_name == dead["set_name"] and p.caltable == dead["path"]
    assert list(p.qa.dead_antennas) == [dead["dead_antenna"]]
    assert p.qa.flag_fraction == pytest.approx(dead["flag_fraction"], abs=1e-12)
    flagged = p.antenna_table.data.set_index("name")["dead"]
    assert flagged[dead["dead_antenna"]] and flagged.sum() == 1
    p.y_select.value = "phase"
    p.antenna_select.value = p.antenna_select.options[1]
    assert _png(p.plot.value) and p.status.level == "ok", p.last_error
    gap = cal["coverage_gap_mjd"]
    gaps = p.timeline.gaps
    assert ((gaps["start_mjd"] - gap[0]).abs() < 1e-6).any()
    assert ((gaps["end_mjd"] - gap[1]).abs() < 1e-6).any()
    p.set_select.value = cal["active_sets"][-1]
    assert set(p.tables["set_name"]) == {cal["active_sets"][-1]}
    assert p.registry.set_name == cal["active_sets"][-1]


def test_cal_inspector_shows_a_delay_table_as_delays(workspace, truth):
    kcal = next(c for c in truth["calibration"]["caltables"] if c["path"].endswith("_kcal"))
    p = CalInspector(workspace, kcal["path"])
    assert p.qa.table_type == "K" and p.status.level == "ok", p.last_error
    for table in (p.antenna_table, p.spw_table):
        assert "delay_median_ns" in table.columns and "amp_median" not in table.columns
        assert "delay_median_ns" in table.html.value and "amp" not in table.html.value
    assert "amplitude" not in p.info_html.value.lower()
    bp = next(c for c in truth["calibration"]["caltables"] if c["path"].endswith("_bpcal"))
    p.caltable = bp["path"]  # back to a complex table: amplitudes and phases again
    assert "amp_median" in p.antenna_table.columns and "delay_median_ns" not in p.spw_table.columns


@pytest.mark.parametrize("cls", [ImageBrowser, QAPanel, MSInspector, CalInspector])
def test_product_panels_on_a_broken_database_path_show_a_status_line(cls, broken_workspace):
    p = cls(broken_workspace)
    assert p.status.level == "error" and "missing.sqlite3" in p.last_error


def test_image_browser_says_when_the_rows_were_cut(workspace, truth, monkeypatch):
    import dsa110_ws.panels.images as images_panel

    monkeypatch.setattr(images_panel, "MAX_ROWS", 3)  # under -W error an escaped warning fails
    p = ImageBrowser(workspace, night=truth["nights"][0])
    assert len(p.images) == 3 and p.status.level == "warning" and "truncated" in p.status.message


def test_provenance_strip_complete_image_and_the_gap(workspace, truth):
    from dsa110_ws.panels import ProvenanceStrip

    prov = truth["provenance"]
    p = ProvenanceStrip(workspace, prov["complete_image"])
    assert p.provenance.complete and p.status.level == "ok", p.last_error
    for title in ("Image", "Job", "MS", "Stages", "Caltables", "Pointing", "QA", "Run log"):
        assert f"<b>{title}</b>" in p.strip.value
    assert "missing from" not in p.table.value
    options = dict(p.link_select.options)
    p.link_select.value = next(v for k, v in options.items() if k.startswith("MS:"))
    p.open_button.click()
    (ms,) = p.opened.children
    assert ms.ms_path == prov["complete_image"].replace("images", "ms").replace(
        ".img-image.fits", ".ms"
    )
    p.link_select.value = next(v for k, v in options.items() if k.startswith("Run log"))
    p.open_button.click()
    (job,) = p.opened.children
    assert "Job" in job.value and "finished OK" in job.value  # the job's stored logs
    p.image = prov["gap_image"]
    assert not p.provenance.complete and p.status.level == "warning"
    assert "missing from <code>caltables</code>" in p.table.value
    assert prov["missing_caltable"] in p.table.value and "1 missing" in p.strip.value
    assert not any(prov["missing_caltable"] in k for k in dict(p.link_select.options))


def test_image_browser_shows_the_selected_images_provenance(workspace, truth):
    night = truth["nights"][-2]
    p = ImageBrowser(workspace, night=night)
    gap = truth["provenance"]["gap_image"]
    p.table.select(int(p.images.loc[p.images["path"] == gap, "id"].iloc[0]))
    assert p.provenance.image == gap and not p.provenance.provenance.complete
    assert "caltables" in p.provenance.table.value


def test_ms_inspector_waterfall_shows_the_injected_rfi(workspace, truth):
    ms = truth["measurement_sets"][0]
    p = MSInspector(workspace, ms["path"])
    wf = p.waterfall
    assert wf.quantity == "flag" and _png(p.waterfall_plot.value)
    assert "all" in p.wf_baseline_box.options and "1&2" in p.wf_baseline_box.options
    band = [c for b in ms["rfi"] if len(b["integrations"]) == 12 for c in b["channels"]]
    assert sorted(set(wf.flagged_channels["channel"])) == sorted(set(band))
    before = bytes(p.waterfall_plot.value)
    p.wf_baseline_box.value = "1&2"
    assert p.waterfall.selection == "baseline 1&2" and bytes(p.waterfall_plot.value) != before
    p.wf_quantity_select.value = "amp"
    assert p.waterfall.quantity == "amp" and p.status.level in ("ok", "busy")
    p.wf_baseline_box.value = "1&nope"
    assert p.status.level == "error" and "No antenna named 'nope'" in p.last_error


def test_cal_inspector_shows_the_gain_qa(workspace, truth):
    bp = next(c for c in truth["calibration"]["caltables"] if c["table_type"] == "BP")
    p = CalInspector(workspace, bp["path"])
    assert p.gains is not None and p.gains.axis == "channel", p.last_error
    assert "noisy antennas: <b>none</b>" in p.gains_html.value
    assert "successive solutions along channel" in p.gains_html.value
