"""A full disk, made real with a tiny tmpfs in a private mount namespace (``unshare -m``, as
root): every write fails cleanly, in one line, and leaves no half-written file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _root_and_unshare():
    """These tests need root and ``unshare -m`` (the test machine has both); elsewhere they
    fail, naming why, rather than skip."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.fail("the full-disk tests need root and unshare -m (util-linux)")


SCRIPT = textwrap.dedent("""
    import json, os, sys, subprocess
    mnt = sys.argv[1]
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", mnt], check=True)
    with open(os.path.join(mnt, "filler"), "wb") as fh:   # fill it up, to the last byte
        try:
            fh.write(b"x" * (1 << 20))
        except OSError:
            pass
    from dsa110_ws.cli import main
    code = main(sys.argv[2:])
    left = sorted(os.listdir(mnt))
    print(json.dumps({"code": code, "left": left}))
""")


def _in_namespace(tmp_path: Path, env: dict, *args: str) -> tuple[dict, str]:
    mnt = tmp_path / "full"
    mnt.mkdir()
    out = subprocess.run(
        ["unshare", "-m", sys.executable, "-c", SCRIPT, str(mnt), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1]), out.stderr


def test_a_thumbnail_onto_a_full_disk(writable_demo, truth, tmp_path):
    env = {
        "DSA110_WS_SETTINGS": str(writable_demo / "settings.toml"),
        "DSA110_WS_STATE_DIR": str(tmp_path / "state"),
    }
    img = truth["images"][0]["path"]
    res, err = _in_namespace(
        tmp_path, env, "thumbnail", img, "-o", str(tmp_path / "full" / "t.png"), "--size", "512"
    )
    assert res["code"] == 1 and res["left"] == ["filler"]  # no half-written PNG, no temp
    line = err.strip().splitlines()[-1]
    assert "No space left on device" in line or "disk" in line.lower(), err[-500:]
    assert "Traceback" not in err


def test_a_state_dir_on_a_full_disk_stops_an_operator_action(writable_demo, tmp_path):
    import hashlib

    db = writable_demo / "pipeline.sqlite3"
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    env = {
        "DSA110_WS_SETTINGS": str(writable_demo / "settings.toml"),
        "DSA110_WS_STATE_DIR": str(tmp_path / "full" / "state"),
        "DSA110_WS_ALLOW_WRITES": "1",
    }
    res, err = _in_namespace(tmp_path, env, "jobs", "cancel", "1")
    assert res["code"] == 1 and "Traceback" not in err
    assert "DSA110_WS_STATE_DIR" in err.strip().splitlines()[-1], err[-500:]
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


def test_a_report_onto_a_full_disk_fails_in_one_line(writable_demo, tmp_path):
    env = {
        "DSA110_WS_SETTINGS": str(writable_demo / "settings.toml"),
        "DSA110_WS_STATE_DIR": str(tmp_path / "state"),
    }
    res, err = _in_namespace(
        tmp_path, env, "report", "run", "stats", "--out", str(tmp_path / "full" / "reports")
    )
    assert res["code"] in (1, 2) and "Traceback" not in err, err[-800:]
    assert len([ln for ln in err.strip().splitlines() if ln.startswith(("error", "report"))]) >= 1
