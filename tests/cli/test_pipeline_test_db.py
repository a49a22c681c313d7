"""Every command and both reports over a database built like the pipeline's own tests build
theirs (its real schema.sql; NULL validity windows, long caltable type names, no jobs, no
flux-monitor tables, few rows): each answers, or says in one line why it cannot."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import pytest

from dsa110_ws.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _pipeline_db import CAL_TYPES, LAZY_TABLES, make_pipeline_test_db  # noqa: E402


@pytest.fixture(scope="module")
def pipeline_db(tmp_path_factory) -> Path:
    return make_pipeline_test_db(tmp_path_factory.mktemp("pipeline-test-db"))


@pytest.fixture()
def env(pipeline_db, tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("DSA110_WS_SETTINGS", str(pipeline_db))
    monkeypatch.setenv("DSA110_WS_STATE_DIR", str(tmp_path / "state"))
    return pipeline_db


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_fixture_has_the_traits_it_claims(pipeline_db):
    con = sqlite3.connect(pipeline_db.parent / "pipeline.sqlite3")
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert not tables & set(LAZY_TABLES) and "caltables" in tables
    assert {r[0] for r in con.execute("SELECT DISTINCT table_type FROM caltables")} == set(
        CAL_TYPES
    )
    assert (
        con.execute(
            "SELECT count(*) FROM caltables WHERE valid_start_mjd IS NOT NULL OR "
            "valid_end_mjd IS NOT NULL"
        ).fetchone()[0]
        == 0
    )
    assert con.execute("SELECT count(*) FROM jobs").fetchone()[0] == 0
    con.close()


def test_cal_health_json_answers_and_says_flux_monitoring_is_not_available(env, capsys):
    code, out, err = _run(capsys, "cal", "health", "--json")
    assert code == 0, err
    rep = json.loads(out)
    assert rep["status"] == "unknown"  # nothing to judge the windows by: never "ok"
    assert rep["flux_available"] is False
    assert any("flux monitoring not available" in u for u in rep["unavailable"])
    assert rep["n_unknown_windows"] == 3 and rep["nearest"]["staleness"] == "unknown"
    assert rep["nearest"]["set_name"] is None and rep["flux"] == [] and rep["open_alerts"] == []
    code, out, err = _run(capsys, "cal", "health", "--exit-status")
    assert code == 3 and "no validity window" in out


def test_long_type_names_satisfy_the_required_short_types(env):
    import dsa110_ws

    w = dsa110_ws.connect()
    try:
        sets = w.calhealth.sets().set_index("set_name")
    finally:
        w.close()
    # calset_0 = bandpass + gain: BP, GA and GP all provided; calset_1 = delay + flux: none
    assert sets.loc["calset_0", "missing_types"] == []
    assert sets.loc["calset_1", "missing_types"] == ["BP", "GA", "GP"]
    assert not sets["window_known"].any()


def test_the_timeline_does_not_pretend_to_know_the_coverage(env, capsys):
    code, out, err = _run(capsys, "cal", "timeline", "--json")
    assert code == 0, err
    assert json.loads(out)["n_unknown_windows"] == 3
    code, out, _ = _run(capsys, "cal", "timeline")
    assert "3 active set(s) have no validity window and are not counted" in out


def test_batches_without_items_use_their_stored_counters(env, capsys):
    code, out, err = _run(capsys, "jobs", "batches", "--json")
    assert code == 0, err
    rows = {r["status"]: r for r in json.loads(out)}
    assert rows["completed"]["progress"] == 1.0 and rows["running"]["progress"] == 0.5
    assert rows["pending"]["n_pending"] == 10
    assert {r["counts_from"] for r in rows.values()} == {"stored counters"}


def test_a_row_dated_after_now_is_unknown_not_fresh(env, capsys):
    # ms_index.created_at defaults to the real time of insertion, after the fixture's clock
    code, out, _ = _run(capsys, "health", "--check", "freshness:ms", "--json")
    check = json.loads(out)["checks"][0]
    assert check["status"] == "unknown" and "after the workspace clock" in check["detail"]
    assert code == 3


COMMANDS = [
    (["info", "--json"], 0, None),
    (["jobs"], 0, None),
    (["jobs", "--json"], 0, None),
    (["jobs", "batches"], 0, None),
    (["jobs", "show", "1"], 1, "No job with id 1"),
    (["health", "--json"], None, None),
    (["logs"], 0, None),
    (["cal", "health"], 0, None),
    (["cal", "timeline"], 0, None),
    (["stats", "--json"], 0, None),
    (["stats", "--per", "night"], 0, None),
    (["sources", "variability", "--json"], 0, None),
    (["sources", "lightcurve", "src_00000", "--json"], 0, None),
    (["sources", "cone", "180", "37", "--radius-arcmin", "6"], 0, None),
    (["qa", "image", "/stage/dsa110-contimg/images/obs_0000.fits"], 1, "outside the data roots"),
    (["qa", "cal", "/stage/dsa110-contimg/cal/obs_0000.bcal"], 1, "outside the data roots"),
    (["ms", "summary", "/stage/dsa110-contimg/ms/obs_0000.ms"], 1, "outside the data roots"),
    (["tasks", "stats"], 1, "task queue not configured: set ABSURD_DATABASE_URL"),
    (["ingest"], 1, "set ABSURD_DATABASE_URL to read them from the task queue"),
]


@pytest.mark.parametrize("args, code, words", COMMANDS, ids=[" ".join(c[0]) for c in COMMANDS])
def test_every_command_answers_without_a_traceback(env, capsys, args, code, words):
    got, out, err = _run(capsys, *args)
    assert "Traceback" not in out + err
    if code is not None:
        assert got == code, err
    if got == 0 or code is None:  # health: exit status is the verdict, output as usual
        assert out.strip()
        if "--json" in args:
            json.loads(out)
    else:
        assert len(err.strip().splitlines()) == 1 and words in err, err


@pytest.mark.parametrize("kind", ["qa", "stats"])
def test_both_reports_run_to_the_end(env, capsys, tmp_path, kind):
    out_dir = tmp_path / "reports"
    code, out, err = _run(capsys, "report", "run", kind, "--out", str(out_dir))
    assert code == 0, err
    folder = next(p for p in (out_dir / kind).iterdir() if p.is_dir())
    metrics = json.loads((folder / "metrics.json").read_text())
    assert "section_errors" not in metrics, metrics.get("section_errors")
    html = (folder / "report.html").read_text()
    assert "Traceback" not in html and "unexpected error" not in html
    if kind == "qa":
        cov = next(m for m in metrics["metrics"] if m["name"] == "cal_coverage_fraction")
        assert cov["status"] == "unknown" and "no validity window" in cov["description"]
        assert "calibration_monitoring" in html  # the flux part says which table is missing
