"""What a person reads at breakfast: needs attention, neutral counts, honest trends,
percentages, positions, dashboard links, the index page and offline HTML."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord

from dsa110_ws.core.coordtext import deg_text, position_text, sexagesimal
from dsa110_ws.core.severity import COLOURS, NEUTRAL_COLOUR, Severity
from dsa110_ws.reporting import _display as D
from dsa110_ws.reporting._metric import Metric, overall_status
from dsa110_ws.reporting.attention import MAX_LINES, needs_attention
from dsa110_ws.reporting.links import dashboard_link
from dsa110_ws.reporting.metrics import comparison_note, nights_with_data, stats_metrics
from dsa110_ws.reporting.nightly_metrics import nightly_qa_metrics
from dsa110_ws.reporting.params import validate_params
from dsa110_ws.reporting.period import trends

QA_NIGHT = "2026-11-10"  # the demo's bad-image night


@pytest.fixture(scope="module")
def night_metrics(demo_dir, tmp_path_factory):
    import dsa110_ws

    state = tmp_path_factory.mktemp("breakfast-state")
    w = dsa110_ws.connect(demo_dir / "settings.toml", state_dir=state)
    try:
        params = validate_params(
            "qa", {"settings": str(demo_dir / "settings.toml"), "night": QA_NIGHT}
        )
        yield {m.name: m for m in nightly_qa_metrics(w, params)}
    finally:
        w.close()


def test_fully_flagged_antenna_and_bad_images_are_named(night_metrics, truth):
    ms = [m for m in truth["measurement_sets"] if Path(m["path"]).parent.name == QA_NIGHT]
    dead = {a for m in ms for a in m["antennas_fully_flagged"]}
    assert len(ms) == 8 and dead == {"8"}  # the oracle: every MS of the night loses antenna 8
    flagged = sorted(m["flag_fraction_cross"] for m in ms)
    ant = night_metrics["n_antennas_fully_flagged"]
    assert ant.value == 1 and ant.status == "warning"
    assert ant.detail == "antenna 8 fully flagged in 8 of 8 MS"
    med = night_metrics["median_ms_flag_fraction_cross"]
    assert med.value == pytest.approx((flagged[3] + flagged[4]) / 2, abs=1e-9)
    assert med.status == "info"  # context: the night is judged MS by MS with [qa.ms]
    # 35.6% of the cross-correlations flagged is within [qa.ms] flag_fraction_warn (40%)
    assert night_metrics["max_ms_flag_fraction_cross"].status == "ok"
    bad = [i for i in truth["images"] if i["night"] == QA_NIGHT and i["bad_reason"]]
    lines = needs_attention(night_metrics.values())
    assert overall_status(night_metrics.values()) == "critical"
    assert 1 <= len(lines) <= MAX_LINES
    assert lines[0].severity == Severity.CRITICAL
    text = "\n".join(ln.text for ln in lines)
    assert f"{len(bad)} of 8 images graded bad (37.5%) (critical at ≥ 25.0%)" in text
    assert "Antenna 8 fully flagged in 8 of 8 MS (warning at ≥ 1)" in text
    ranks = [ln.severity.rank for ln in lines]
    assert ranks == sorted(ranks, reverse=True)  # worst first


def test_no_metric_without_thresholds_is_green(night_metrics):
    for m in night_metrics.values():
        if m.warning is None and m.critical is None and m.value is not None:
            assert m.status == "info", m.name
    assert night_metrics["n_images_bad"].status == "info"
    html = D.metrics_table(list(night_metrics.values())).html
    rows = re.findall(r"<tr>(.*?)</tr>", html)
    for row in rows:
        if ">n_images_bad<" in row or ">n_ms<" in row or ">median_dynamic_range<" in row:
            assert COLOURS[Severity.OK] not in row
            assert NEUTRAL_COLOUR in row and "no threshold" in row
    assert "37.5%" in html and "0.375" not in html  # fractions in percent


def test_info_metrics_do_not_change_the_overall_status():
    info = Metric.graded("n_images_bad", 3)
    ok = Metric.graded("bad_image_fraction", 0.0, warning=0.1, critical=0.25)
    assert info.status == "info" and ok.status == "ok"
    assert overall_status([info, ok]) == "ok"
    assert overall_status([info]) == "ok"
    assert needs_attention([info, ok]) == []


def test_needs_attention_keeps_to_five_lines():
    ms = [Metric.graded(f"m{i}", 10, warning=1, detail=f"thing {i}") for i in range(7)]
    ms.append(Metric.graded("worst", 10, critical=1, detail="the worst"))
    lines = needs_attention(ms)
    assert len(lines) == MAX_LINES
    assert lines[0].text.startswith("The worst") and lines[0].severity == Severity.CRITICAL
    assert lines[-1].text == "... and 4 more: see the headline metrics."


def test_trends_do_not_claim_a_change_from_an_incomplete_period(demo_dir, ws_session):
    params = validate_params("stats", {"settings": str(demo_dir / "settings.toml")})
    cur, prev = (
        nights_with_data(ws_session, *params.window),
        nights_with_data(ws_session, *params.previous_window),
    )
    assert cur == (7, 7) and prev == (2, 7)  # truth: nights 11-05 and 11-06 only
    note = comparison_note(cur, prev)
    assert "data on 2 of 7 nights" in note
    current = ws_session.stats.period_summary(*params.window).to_dict()
    previous = ws_session.stats.period_summary(*params.previous_window).to_dict()
    df = trends(current, previous, note=note)
    assert set(df["change"]) == {""} and not (df["verdict"] == "better").any()
    assert not any("%" in str(c) and "+" in str(c) for c in df["change"])
    m = {x.name: x for x in stats_metrics(ws_session, params)}
    assert m["throughput_ratio"].value is None and m["throughput_ratio"].status == "info"
    assert "%" in m["job_success_rate"].detail  # a rate in percent


def test_trends_of_a_complete_period_give_points_and_verdicts():
    cur = {"bad_image_fraction": 0.054, "job_success_rate": 0.9, "images_per_day": 12.0}
    prev = {"bad_image_fraction": 0.0, "job_success_rate": 0.95, "images_per_day": 8.0}
    df = trends(cur, prev).set_index("metric")
    assert df.loc["bad image fraction", "change"] == "+5.4 pp"
    assert df.loc["bad image fraction", "verdict"] == "worse"
    assert df.loc["bad image fraction", "this period"] == "5.4%"
    assert df.loc["job success rate", "change"] == "-5.0 pp"
    assert df.loc["job success rate", "this period"] == "90.0%"
    assert df.loc["images per day", "change"] == "+50.0%"
    assert df.loc["images per day", "verdict"] == "better"


@pytest.mark.parametrize(
    ("ra", "dec"), [(150.00000000000003, 2.2), (0.0001, -89.99), (359.9999, 36.519968)]
)
def test_positions_at_full_precision_and_sexagesimal(ra, dec):
    c = SkyCoord(ra * u.deg, dec * u.deg)
    text = sexagesimal(ra, dec)
    back = SkyCoord(*text.split(), unit=(u.hourangle, u.deg))
    assert c.separation(back).to(u.mas).value < 15  # 1 ms of RA, 10 mas of Dec
    assert float(deg_text(ra)) == pytest.approx(ra, abs=5e-7)
    assert "00000000003" not in position_text(ra, dec)
    assert deg_text(None) == "" and sexagesimal(float("nan"), 1.0) == ""


def test_dashboard_links_carry_the_night():
    base = "http://ops:8866/voila/render/operations.ipynb?token=abc"
    assert dashboard_link(base, QA_NIGHT) == f"{base}&night={QA_NIGHT}"
    assert dashboard_link(base + "&night=2020-01-01", QA_NIGHT).count("night=") == 1
    assert dashboard_link(None, QA_NIGHT) is None
    assert dashboard_link(base, None) is None


@pytest.mark.notebook
@pytest.mark.slow
def test_published_html_references_no_external_url(qa_run, stats_run):
    for folder in (Path(qa_run["output_dir"]), stats_run.output_dir):
        html = (folder / "report.html").read_text()
        assert not re.findall(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", html)
        assert not re.findall(r"@import|url\(\s*['\"]?(?:https?:)?//", html)
        for word in ("require.js", "require.min.js", "MathJax", "mermaid", "cdnjs", "unpkg"):
            assert word not in html, word
        assert "<script" not in html


@pytest.mark.notebook
@pytest.mark.slow
def test_metrics_json_carries_details_and_the_qa_report_its_block(qa_run):
    folder = Path(qa_run["output_dir"])
    doc = json.loads((folder / "metrics.json").read_text())
    assert all("detail" in m for m in doc["metrics"])
    html = (folder / "report.html").read_text()
    block = html[html.index('class="dsa-attention"') :]
    block = block[: block.index("</section>")]
    assert "Needs attention" in block and "Antenna 8 fully flagged in 8 of 8 MS" in block
    # the block is at the top: before the headline metrics table
    assert html.index('class="dsa-attention"') < html.index(">Headline metrics<")


def test_a_coverage_gap_says_whether_it_cost_data(night_metrics, truth):
    """A calibration gap before the night's observations is critical by coverage, but the
    reader must see that no MS was taken in it (oracle: the truth file's gap and MS times)."""
    gap_lo, gap_hi = truth["calibration"]["coverage_gap_mjd"]
    ms = [m for m in truth["measurement_sets"] if Path(m["path"]).parent.name == QA_NIGHT]
    mids = [(m["time_start_mjd"] + m["time_end_mjd"]) / 2 for m in ms]
    assert len(ms) == 8 and sum(gap_lo <= t < gap_hi for t in mids) == 0
    cov = night_metrics["cal_coverage_fraction"]
    assert cov.status == "critical"
    assert cov.detail.endswith("; none of the window's 8 MS observed in a gap")


def test_a_missing_value_is_a_dash_in_a_report_table():
    """None, NaN, NaT and pd.NA print as a dash in the HTML and the text versions (an
    open alert's acknowledged time printed "NaT" in the nightly report)."""
    import numpy as np
    import pandas as pd

    df = pd.DataFrame(
        {
            "flux": [1.5, np.nan],
            "acknowledged_at_utc": pd.to_datetime(["2026-11-14 14:18:20.145", None]),
            "name": ["3C48", None],
            "n": pd.array([3, None], dtype="Int64"),
            "types": [["K", "BP"], ["GA"]],
        }
    )
    block = D.table(df)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", block.html)
    assert cells == ["1.5", "2026-11-14 14:18:20", "3C48", "3", "K, BP", "–", "–", "–", "–", "GA"]
    assert block.text.splitlines()[2].split() == ["–", "–", "–", "–", "[GA]"]
    for word in ("NaT", "nan", "None", "<NA>"):
        assert word not in block.html and word not in block.text
