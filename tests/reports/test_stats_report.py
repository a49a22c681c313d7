"""The stats template on the demo state: published folder, metrics, HTML, provenance."""

from __future__ import annotations

import json
import re
import sqlite3

import nbformat
import pytest
from astropy.time import Time

from dsa110_ws.reporting._metric import overall_status
from dsa110_ws.reporting.metrics import stats_metrics
from dsa110_ws.reporting.params import validate_params
from dsa110_ws.reporting.period import STATS_SECTIONS, period_summary

pytestmark = [pytest.mark.notebook, pytest.mark.slow]
LABEL = "2026-11-07_2026-11-14"


@pytest.fixture(scope="module")
def folder(stats_run):
    assert stats_run.status == "ok", stats_run.error
    return stats_run.output_dir


def test_published_folder_holds_the_four_files(stats_run, folder, report_root):
    assert stats_run.exit_code == 0 and stats_run.kernel_started and stats_run.papermill_invoked
    assert stats_run.label == LABEL and folder == report_root / "stats" / LABEL
    assert sorted(p.name for p in folder.iterdir()) == [
        "metrics.json",
        "provenance.json",
        "report.html",
        "report.ipynb",
    ]
    # no temporary or aside folders are left behind
    assert [p.name for p in (report_root / "stats").iterdir()] == [LABEL]


def test_metrics_json_equals_the_package_function(folder, ws_session, settings_file):
    doc = json.loads((folder / "metrics.json").read_text())
    params = validate_params("stats", {"settings": settings_file})
    expected = json.loads(json.dumps([m.to_dict() for m in stats_metrics(ws_session, params)]))
    # disk usage is measured now, and other processes write to this disk meanwhile
    got_disk, exp_disk = doc["metrics"][-1], expected[-1]
    assert got_disk["name"] == exp_disk["name"] == "max_disk_used_fraction"
    assert got_disk["value"] == pytest.approx(exp_disk["value"], abs=0.01)
    assert doc["metrics"][:-1] == expected[:-1]
    assert doc["status"] == overall_status(expected)
    assert doc["label"] == LABEL and doc["window"]["start_mjd"] == 61351.0


def test_metrics_agree_with_an_independent_count(folder, demo_dir, truth):
    """Counts straight from the database file, not through the workspace."""
    doc = {m["name"]: m for m in json.loads((folder / "metrics.json").read_text())["metrics"]}
    nights = [n for n in truth["nights"] if "2026-11-07" <= n < "2026-11-14"]
    assert doc["n_images"]["value"] == sum(i["night"] in nights for i in truth["images"]) == 56
    # the window's bounds from astropy, not from the package's own time helpers
    lo, hi = (Time(f"{d}T00:00:00", scale="utc").unix for d in ("2026-11-07", "2026-11-14"))
    assert (lo, hi) == (1794009600.0, 1794614400.0)
    day = 86400.0
    con = sqlite3.connect(f"file:{demo_dir / 'pipeline.sqlite3'}?mode=ro", uri=True)

    def jobs(a: float, b: float) -> tuple[int, int]:
        return con.execute(
            "SELECT SUM(status IN ('done','completed')), SUM(status IN ('failed','error')) "
            "FROM jobs WHERE created_at >= ? AND created_at < ?",
            (a, b),
        ).fetchone()

    ok, bad = jobs(lo, hi)
    # the oracle can tell a window shifted by a day: the failed jobs of the truth file all
    # start on 2026-11-14, so the window one day later holds them and this one none
    later_ok, later_bad = jobs(lo + day, hi + day)
    con.close()
    assert bad == 0 and later_bad == len(truth["failed_jobs"]) == 4
    assert doc["job_success_rate"]["value"] == pytest.approx(ok / (ok + bad))
    assert doc["n_failed_jobs"]["value"] == bad
    # the previous period holds data on 2 of its 7 nights: no ratio is claimed from it
    prev_nights = {i["night"] for i in truth["images"] if "2026-10-31" <= i["night"] < "2026-11-07"}
    assert len(prev_nights) == 2
    assert doc["throughput_ratio"]["value"] is None
    assert doc["throughput_ratio"]["status"] == "info"
    assert "data on 2 of 7 nights" in doc["throughput_ratio"]["detail"]
    # the three bad images of 2026-11-10 are in the stored QA
    assert doc["bad_image_fraction"]["value"] == pytest.approx(3 / 56)


def test_trends_compare_equal_length_periods(ws_session, settings_file):
    params = validate_params("stats", {"settings": settings_file})
    cur = period_summary(ws_session, *params.window)
    prev = period_summary(ws_session, *params.previous_window)
    assert cur["days"] == prev["days"] == 7.0
    assert cur["n_images"] == 56 and prev["n_images"] == 16  # nights 11-05 and 11-06


def test_html_has_every_section_and_no_code(folder):
    html = (folder / "report.html").read_text()
    for heading in STATS_SECTIONS:
        assert f">{heading}<" in html, heading
    assert "open_report" not in html and "report.headline" not in html
    assert "hl-ipython3" not in html and 'class="jp-InputPrompt' not in html  # no code input
    assert "Traceback" not in html
    assert 'data-mime-type="application/vnd.jupyter.stderr"' not in html  # errors, warnings
    assert len(re.findall(r'<img [^>]*src="data:image/png;base64,', html)) >= 2  # the figures


def test_executed_notebook_has_the_injected_window_and_no_errors(folder):
    nb = nbformat.read(folder / "report.ipynb", as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1
    assert 'start = "2026-11-07T00:00:00+00:00"' in injected[0].source
    assert "metrics_path = " in injected[0].source
    assert not any(
        o.get("output_type") == "error"
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
    )


def test_provenance(folder, settings_file, demo_dir):
    prov = json.loads((folder / "provenance.json").read_text())
    assert prov["status"] == "ok" and prov["report"] == "stats" and prov["label"] == LABEL
    assert prov["parameters"]["start"] == "2026-11-07T00:00:00+00:00"
    assert prov["requested_parameters"] == {"settings": settings_file}
    assert prov["data_time_range"]["end_utc"] == "2026-11-14T00:00:00+00:00"
    assert prov["data_source"]["database"] == str((demo_dir / "pipeline.sqlite3").resolve())
    assert prov["data_source"]["is_demo"] is True
    assert prov["data_source"]["workspace_clock"].startswith("2026-11-14T17:53")
    import dsa110_ws

    assert prov["package_version"] == dsa110_ws.__version__
    assert prov["versions"]["papermill"] and prov["versions"]["nbconvert"]
    assert prov["git"] is None or re.fullmatch(r"[0-9a-f]{40}", prov["git"]["commit"])
    assert prov["template"]["path"].endswith("reports/stats.ipynb")
    assert len(prov["template"]["sha256"]) == 64
    t = prov["timings_s"]
    assert t["total_s"] >= t["kernel_start_s"] + t["data_s"] > 0
