"""`dsa110-ws sources variability | lightcurve | cone | dataset` as a user runs them."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pandas as pd
import pytest


def run(*args, env):
    return subprocess.run(
        [sys.executable, "-m", "dsa110_ws.cli", "sources", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=300,
    )


@pytest.fixture()
def env(demo_dir, tmp_path):
    return {
        "DSA110_WS_SETTINGS": str(demo_dir / "settings.toml"),
        "DSA110_WS_STATE_DIR": str(tmp_path / "state"),
    }


def test_variability_json_has_one_record_per_source(env, truth):
    out = run("variability", "--json", env=env)
    assert out.returncode == 0, out.stderr
    records = json.loads(out.stdout)
    assert len(records) == truth["sources"]["n_sources"]
    need = {
        "source_id",
        "n_epochs",
        "mean_flux_jy",
        "v",
        "eta",
        "chi2_nu",
        "sigma_deviation",
        "vs_max",
        "m_max",
        "is_candidate",
    }
    assert need <= set(records[0])
    assert {"n_bins_night", "vs_max_night", "m_mjd_b_week"} <= set(records[0])
    flagged = {r["source_id"] for r in records if r["is_candidate"]}
    assert flagged == {v["source_id"] for v in truth["sources"]["variables"]}
    sens = json.loads(
        run("variability", "--json", "--candidates", "--preset", "sensitive", env=env).stdout
    )
    assert len(sens) > len(flagged) and all(r["is_candidate"] for r in sens)


def test_variability_text_and_csv(env):
    text = run("variability", env=env)
    assert text.returncode == 0 and "6 candidates at moderate (2 ESE-like)" in text.stdout
    assert "two-epoch route: vs_max_night / m_max_night (timescale 'night')" in text.stdout
    header = text.stdout.splitlines()[1].split()
    assert header.index("m_mjd_b") < header.index("vs_max_night") < header.index("dip_start_mjd")
    csv = run("variability", "--csv", "--candidates", env=env)
    df = pd.read_csv(io.StringIO(csv.stdout))
    assert len(df) == 6 and df["is_candidate"].all()


def test_lightcurve_and_cone(env, truth):
    sid = truth["sources"]["ese"][1]["source_id"]
    out = run("lightcurve", sid, "--json", env=env)
    points = json.loads(out.stdout)
    assert {"mjd", "flux_jy", "flux_err_jy", "image_path"} <= set(points[0])
    mjd = [p["mjd"] for p in points]
    assert mjd == sorted(mjd) and len(points) == 2 * len(truth["nights"])
    raw = pd.read_csv(io.StringIO(run("lightcurve", sid, "--csv", "--raw", env=env).stdout))
    assert (raw["flux_column"] == "flux_jy").all()
    assert raw["mjd"].to_numpy() == pytest.approx(mjd, abs=1e-9)
    missing = run("lightcurve", "J000000.0+000000", env=env)
    assert missing.returncode == 1 and "J000000.0+000000" in missing.stderr
    cone = json.loads(
        run("cone", "153.0", "37.0", "--radius-arcmin", "18", "--json", env=env).stdout
    )
    seps = [c["sep_arcsec"] for c in cone]
    assert seps == sorted(seps) and max(seps) <= 0.3 * 3600 and len(cone) > 3


def test_dataset_builds_refreshes_then_reports(writable_demo, tmp_path):
    import sqlite3
    import time

    db = writable_demo / "pipeline.sqlite3"
    old = time.time() - 3600  # settled
    os.utime(db, (old, old))
    env = {
        "DSA110_WS_SETTINGS": str(writable_demo / "settings.toml"),
        "DSA110_WS_STATE_DIR": str(tmp_path / "state"),
    }
    before = json.loads(run("dataset", "--json", env=env).stdout)
    assert before["built"] is False and before["path"].startswith(str(tmp_path / "state"))
    built = run("dataset", "--refresh", "--json", env=env)
    assert built.returncode == 0, built.stderr
    out = json.loads(built.stdout)
    n = sqlite3.connect(db).execute("SELECT COUNT(*) FROM photometry").fetchone()[0]
    assert out["rows"] == n and out["last_refresh"]["mode"] == "build"
    assert out["state"] == "current" and out["files"] > 1 and out["bytes"] > 0
    text = run("dataset", "--status", env=env)
    assert text.returncode == 0, text.stderr
    assert f"dataset: {n:,} rows in 64 partitions" in text.stdout
    assert "last refresh: build, 80 images added" in text.stdout
    again = json.loads(run("dataset", "--refresh", "--json", env=env).stdout)
    assert again["version"] == out["version"] and again["path"] == out["path"]
    full = json.loads(run("dataset", "--refresh", "--full", "--json", env=env).stdout)
    assert full["last_refresh"]["mode"] == "full" and full["last_refresh"]["rows_checked"] == n
    assert full["last_refresh"]["rows_read"] == 0
