"""`dsa110-ws image provenance`, `qa gains`, `qa peers` and `ms waterfall` as a user runs them
(real subprocesses): JSON against the demo's truth, readable text, one-line errors."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

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


def test_image_provenance_json_and_text(env, truth):
    prov = truth["provenance"]
    r = run("image", "provenance", prov["gap_image"], "--json", env=env)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["complete"] is False and len(doc["gaps"]) == 1
    (missing,) = [x for x in doc["links"] if x["missing"]]
    assert missing["missing"] == "caltables" and prov["missing_caltable"] in missing["detail"]
    assert {"step", "label", "status", "detail", "view", "key", "cli", "data"} <= set(missing)
    r = run("image", "provenance", prov["complete_image"], "--no-file-qa", env=env)
    assert r.returncode == 0, r.stderr
    assert "complete, worst link ok" in r.stdout.splitlines()[0]
    assert "-> dsa110-ws jobs show" in r.stdout and "log excerpt:" in r.stdout
    r = run("image", "provenance", "999999", env=env)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "999999" in r.stderr


def test_qa_gains_names_the_noisy_antenna(env, truth):
    sc = truth["selfcal"]
    r = run("qa", "gains", sc["path"], "--json", "--fail-on", "warning", env=env)
    assert r.returncode == 3, r.stderr  # graded warning
    doc = json.loads(r.stdout)
    assert doc["noisy_antennas"] == [sc["noisy_antenna"]] and doc["axis"] == "time"
    r = run("qa", "gains", sc["path"], env=env)
    assert (
        f"noisy antennas: {sc['noisy_antenna']}" in r.stdout
        and "[WARN] phase_jitter_deg" in r.stdout
    )


def test_qa_peers_lists_the_outlier(env, truth):
    (outlier,) = truth["peer_outliers"]
    night = next(i["night"] for i in truth["images"] if i["path"] == outlier)
    r = run("qa", "peers", "--night", night, env=env)
    assert r.returncode == 0, r.stderr
    assert "8 images of" in r.stdout and "1 flagged" in r.stdout
    assert f"{Path(outlier).name}: good / peers bad" in r.stdout
    r = run("qa", "peers", "--night", night, "--json", "--all", env=env)
    rows = json.loads(r.stdout)
    assert len(rows) == 8 and sum(x["peer_grade"] == "bad" for x in rows) == 1
    assert all(len(x["peer_checks"]) == 4 for x in rows)


def test_ms_waterfall_writes_a_png(env, truth, tmp_path):
    ms = truth["measurement_sets"][0]["path"]
    out = tmp_path / "wf.png"
    r = run(
        "ms", "waterfall", ms, "-o", str(out), "--quantity", "flag", "--baseline", "1&2", env=env
    )
    assert r.returncode == 0, r.stderr
    assert "12 integrations x 32 channels, 24 rows read" in r.stdout
    with Image.open(io.BytesIO(out.read_bytes())) as im:
        assert im.format == "PNG" and im.size[0] > 400
    r = run("ms", "waterfall", ms, "-o", str(out), "--baseline", "1&zz", "--force", env=env)
    assert r.returncode == 1 and "No antenna named 'zz'" in r.stderr
