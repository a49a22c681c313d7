"""`dsa110-ws qa image|cal`, `ms summary` and `thumbnail` as a user runs them (real subprocesses):
stable JSON, exit codes, one-line errors."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest
from PIL import Image


def run(*args, env):
    return subprocess.run(
        [sys.executable, "-m", "dsa110_ws.cli", *args],
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


def test_qa_image_json(env, truth):
    bad = next(im for im in truth["images"] if im["bad_reason"] == "high_noise")
    out = run("qa", "image", bad["path"], "--json", env=env)
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    for key in (
        "rms_jy",
        "peak_jy",
        "dynamic_range",
        "beam_major_arcsec",
        "beam_minor_arcsec",
        "beam_pa_deg",
        "n_islands",
        "grade",
        "checks",
    ):
        assert key in d, key
    assert d["rms_jy"] == pytest.approx(bad["noise_jy"], rel=0.05)
    assert d["peak_jy"] == pytest.approx(bad["brightest_peak_jy"], rel=0.05)
    assert (d["beam_major_arcsec"], d["beam_minor_arcsec"], d["beam_pa_deg"]) == pytest.approx(
        bad["beam"]
    )
    assert d["grade"] == "bad"
    failed = [c for c in d["checks"] if c["verdict"] == "fail"]
    assert [c["metric"] for c in failed] == ["rms_jy"] and failed[0]["threshold"] == 0.005
    assert set(failed[0]) == {"metric", "value", "threshold", "comparison", "verdict", "reason"}


def test_qa_image_text_and_fail_on(env, truth):
    bad = next(im for im in truth["images"] if im["bad_reason"] == "missing_beam")["path"]
    good = next(im for im in truth["images"] if im["bad_reason"] is None)["path"]
    out = run("qa", "image", bad, "--fail-on", "bad", env=env)
    assert out.returncode == 3 and "grade: bad" in out.stdout and "[FAIL] beam" in out.stdout
    assert run("qa", "image", good, "--fail-on", "warning", env=env).returncode == 0


def test_ms_summary_json(env, truth):
    ms = truth["measurement_sets"][3]
    out = run("ms", "summary", ms["path"], "--json", env=env)
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    for key in (
        "n_rows",
        "n_antennas",
        "n_antennas_with_data",
        "antenna_names",
        "time_start_mjd",
        "time_end_mjd",
        "integration_s",
        "scans",
        "correlations",
        "flag_fraction",
        "flag_fraction_cross",
        "flag_fraction_per_antenna",
    ):
        assert d[key] == ms[key], key
    assert [f["name"] for f in d["fields"]] == [f["name"] for f in ms["fields"]]
    assert [(s["n_channels"], s["freq_min_hz"], s["freq_max_hz"]) for s in d["spws"]] == [
        (s["n_channels"], s["freq_min_hz"], s["freq_max_hz"]) for s in ms["spws"]
    ]
    assert d["time_scale"] == "UTC"
    text = run("ms", "summary", ms["path"], env=env)
    assert text.returncode == 0 and "correlations ['XX', 'YY']" in text.stdout


def test_qa_cal_json(env, truth):
    t = next(t for t in truth["calibration"]["caltables"] if t["dead_antenna"])
    out = run("qa", "cal", t["path"], "--json", env=env)
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    for key in (
        "table_type",
        "n_solutions",
        "flag_fraction",
        "amp_median",
        "amp_std",
        "amp_mad",
        "phase_median_deg",
        "phase_scatter_deg",
        "snr_median",
        "dead_antennas",
        "grade",
        "checks",
    ):
        assert key in d, key
    assert d["table_type"] == "BP" and d["n_solutions"] == t["n_solutions"]
    assert d["flag_fraction"] == t["flag_fraction"] and d["dead_antennas"] == [t["dead_antenna"]]
    assert d["amp_median"] == pytest.approx(t["writer"]["amp_median"], rel=1e-6)
    assert d["grade"] == "warning"


def test_thumbnail_writes_a_png_of_the_requested_size(env, truth, tmp_path, demo_dir):
    path = truth["images"][0]["path"]
    out = run("thumbnail", path, "-o", str(tmp_path / "t.png"), "--size", "96", env=env)
    assert out.returncode == 0, out.stderr
    with Image.open(tmp_path / "t.png") as png:
        assert png.size == (96, 96)
    refused = run("thumbnail", path, "-o", str(demo_dir / "data" / "t.png"), env=env)
    assert refused.returncode == 1 and "never writes among the pipeline's files" in refused.stderr
    assert not (demo_dir / "data" / "t.png").exists()


@pytest.mark.parametrize("command", [["qa", "image"], ["qa", "cal"], ["ms", "summary"]])
def test_errors_are_one_line_and_non_zero(env, command, tmp_path, demo_dir):
    for target in (str(tmp_path / "elsewhere"), str(demo_dir / "data" / "missing.product")):
        out = run(*command, target, "--json", env=env)
        assert out.returncode == 1 and out.stdout == ""
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and target in lines[0]


def test_help_documents_the_json_keys(env):
    out = run("qa", "image", "--help", env=env)
    assert out.returncode == 0 and "rms_jy" in out.stdout and "checks" in out.stdout
    png = run("thumbnail", "--help", env=env)
    assert "row 0 at the bottom" in png.stdout
    assert (
        io.StringIO(run("ms", "summary", "--help", env=env).stdout).read().count("flag_fraction")
        >= 2
    )
