"""The nightly QA template on the demo's bad-image night, run once through the CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
from astropy.time import Time

from dsa110_ws.reporting.nightly import NIGHTLY_QA_SECTIONS

pytestmark = [pytest.mark.notebook, pytest.mark.slow]
QA_NIGHT = "2026-11-10"  # the night conftest.qa_run reports on: the demo's bad-image night


@pytest.fixture(scope="module")
def folder(qa_run) -> Path:
    assert qa_run["status"] == "ok", qa_run["error"] or qa_run["stderr"]
    return Path(qa_run["output_dir"])


@pytest.fixture(scope="module")
def metrics(folder) -> dict:
    return {m["name"]: m for m in json.loads((folder / "metrics.json").read_text())["metrics"]}


def test_cli_result_and_fail_on(qa_run, folder, report_root):
    # the night has 3 bad images of 8 (critical at 0.25) and a calibration gap:
    # --fail-on critical makes the published report exit 3, so cron can mail someone
    assert qa_run["overall"] == "critical"
    assert qa_run["exit_code"] == qa_run["returncode"] == 3
    assert qa_run["kernel_started"] is True and qa_run["papermill_invoked"] is True
    assert folder == report_root / "qa" / QA_NIGHT
    assert sorted(p.name for p in folder.iterdir()) == [
        "metrics.json",
        "provenance.json",
        "report.html",
        "report.ipynb",
    ]
    t = qa_run["timings"]
    assert t["kernel_start_s"] > 0 and t["data_s"] > 0 and t["render_s"] > 0


def _judged(m: dict) -> str:
    """A metric's status from its value and its own stated thresholds (the test's rule,
    written here: higher-is-worse reaches a threshold at >=, lower-is-worse at <=; a
    ``strict`` metric, graded like the [qa.*] settings, only beyond it: > or <)."""
    warn, crit, v = m["warning"], m["critical"], m["value"]
    if warn is None and crit is None:
        return "info"
    if m.get("strict"):
        worse = (lambda t: v > t) if m["higher_is_worse"] else (lambda t: v < t)
    else:
        worse = (lambda t: v >= t) if m["higher_is_worse"] else (lambda t: v <= t)
    if crit is not None and worse(crit):
        return "critical"
    return "warning" if warn is not None and worse(warn) else "ok"


def test_metrics_json_statuses_follow_their_thresholds(folder):
    doc = json.loads((folder / "metrics.json").read_text())
    ranks = ["info", "ok", "warning", "critical"]
    for m in doc["metrics"]:
        assert m["status"] == _judged(m), m
    assert doc["status"] == max((m["status"] for m in doc["metrics"]), key=ranks.index)
    assert doc["status"] == "critical"
    night = Time(QA_NIGHT, scale="utc")
    assert doc["label"] == QA_NIGHT
    assert doc["window"]["start_mjd"] == night.mjd and doc["window"]["end_mjd"] == night.mjd + 1


def test_metrics_match_the_demo_truth(metrics, truth):
    images = [i for i in truth["images"] if i["night"] == QA_NIGHT]
    bad = [i for i in images if i["bad_reason"]]
    assert metrics["n_images"]["value"] == len(images) == 8
    assert metrics["n_images_bad"]["value"] == len(bad) == 3
    assert metrics["bad_image_fraction"]["value"] == 3 / 8
    assert metrics["bad_image_fraction"]["status"] == "critical"
    good_noise = sorted(i["noise_jy"] for i in images)
    assert metrics["median_noise_mjy"]["value"] == pytest.approx(
        1e3 * (good_noise[3] + good_noise[4]) / 2, rel=0.1
    )
    assert metrics["n_ms"]["value"] == 8
    # the coverage gap of the truth file ends 0.357 d into this night
    gap_lo, gap_hi = truth["calibration"]["coverage_gap_mjd"]
    overlap = max(0.0, min(gap_hi, 61355.0) - max(gap_lo, 61354.0))
    assert metrics["cal_coverage_fraction"]["value"] == pytest.approx(1.0 - overlap, abs=1e-9)
    assert metrics["cal_coverage_fraction"]["status"] == "critical"
    assert metrics["n_cal_gaps"]["value"] == 1
    assert metrics["n_failed_jobs"]["value"] == 0  # the demo's failures are on 2026-11-14
    assert metrics["max_cal_flag_fraction"]["status"] == "ok"


def test_html_sections_thumbnails_and_reasons(folder, truth):
    html = (folder / "report.html").read_text()
    for heading in NIGHTLY_QA_SECTIONS:
        assert f">{heading}<" in html, heading
    assert "open_report" not in html and "report.worst_images" not in html
    assert "hl-ipython3" not in html and 'class="jp-InputPrompt' not in html
    assert "Traceback" not in html
    assert 'data-mime-type="application/vnd.jupyter.stderr"' not in html
    worst = html[html.index(">Worst images<") : html.index(">Noise and dynamic range")]
    assert len(re.findall(r'<img [^>]*src="data:image/png;base64,', worst)) == 6  # worst_n
    # every bad image is among the worst, with the reason of its grade next to it
    reason_words = {
        "high_noise": "robust rms",
        "nan_region": "blanked fraction",
        "missing_beam": "No restoring beam",
    }
    for img in truth["images"]:
        if img["night"] == QA_NIGHT and img["bad_reason"]:
            name = Path(img["path"]).name
            at = worst.index(name)
            caption = worst[at : worst.index("</figcaption>", at)]
            assert "bad" in caption and reason_words[img["bad_reason"]] in caption, caption


def test_executed_notebook_is_clean(folder):
    nb = nbformat.read(folder / "report.ipynb", as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and f'night = "{QA_NIGHT}"' in injected[0].source
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            assert out.get("output_type") != "error"


def test_index_lists_the_report(folder, report_root, qa_run):
    html = (report_root / "index.html").read_text()
    assert f'href="qa/{QA_NIGHT}/report.html"' in html
    row = html[html.index(f"qa/{QA_NIGHT}/report.html") :]
    row = row[: row.index("</tr>")]
    assert ">critical<" in row and "3 of 8 images graded bad (37.5%)" in row
    assert "bad_image_fraction=" not in row  # sentences, not snake_case=value
