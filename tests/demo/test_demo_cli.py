"""`dsa110-ws demo --scale/--end-night/--overwrite`, and the first use with nothing
configured (the path `make run` takes: `dsa110-ws info` generates the demo once).
Counts are read back with sqlite3 and the truth file, and the nights from astropy."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from astropy.time import Time, TimeDelta


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DSA110_WS_", "PIPELINE_DB"))}
    return subprocess.run(
        [sys.executable, "-m", "dsa110_ws.cli", *args],
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        timeout=900,
    )


def _count(db: Path, sql: str) -> int:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return int(con.execute(sql).fetchone()[0])
    finally:
        con.close()


def test_demo_scale_writes_the_asked_rows(tmp_path):
    out = tmp_path / "scale"
    proc = _cli("demo", str(out), "--scale", "--images", "300", "--photometry", "12000")
    assert proc.returncode == 0, proc.stderr
    db = out / "pipeline.sqlite3"
    assert _count(db, "SELECT COUNT(*) FROM images") == 300
    assert _count(db, "SELECT COUNT(*) FROM photometry") == 12000
    assert not (out / "data").exists()  # rows only: no files


def test_demo_end_night_and_overwrite(tmp_path):
    out = tmp_path / "demo"
    args = ("demo", str(out), "--nights", "4", "--end-night", "2026-12-01", "--no-queue")
    proc = _cli(*args)
    assert proc.returncode == 0, proc.stderr
    truth = json.loads((out / "truth.json").read_text())
    last = Time("2026-12-01T00:00:00", scale="utc")
    expected = [(last - TimeDelta(k, format="jd")).isot[:10] for k in (3, 2, 1, 0)]
    assert truth["nights"] == expected == ["2026-11-28", "2026-11-29", "2026-11-30", "2026-12-01"]
    assert {i["night"] for i in truth["images"]} == set(expected)
    assert _count(out / "pipeline.sqlite3", "SELECT COUNT(*) FROM images") == len(truth["images"])
    first = (out / "truth.json").read_bytes()
    # a non-empty directory is refused without --overwrite, in one line, untouched
    proc = _cli(*args, "--seed", "7")
    assert proc.returncode == 1 and "--overwrite" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert (out / "truth.json").read_bytes() == first
    proc = _cli(*args, "--seed", "7", "--overwrite")
    assert proc.returncode == 0, proc.stderr
    again = json.loads((out / "truth.json").read_text())
    assert again["seed"] == 7 and truth["seed"] == 42 and again["nights"] == expected
    assert (out / "truth.json").read_bytes() != first
    with pytest.raises(ValueError):
        Time("2026-13-01")  # the oracle's own parser refuses what the CLI must refuse too
    kept = (out / "truth.json").read_bytes()
    proc = _cli("demo", str(out), "--end-night", "2026-13-01", "--overwrite", "--no-queue")
    assert proc.returncode == 1 and "2026-13-01" in proc.stderr and "calendar date" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "unexpected" not in proc.stderr
    assert (out / "truth.json").read_bytes() == kept  # refused before the old state went


@pytest.fixture()
def home() -> Path:
    """A home of our own in /tmp, not pytest's private (0700) directory: the demo's
    PostgreSQL server runs as its own user and must reach its data directory."""
    base = Path(tempfile.mkdtemp(prefix="dsa110-home-", dir="/tmp"))
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.mark.slow
def test_first_use_generates_the_demo_once(home, truth):
    """`make run` runs `dsa110-ws info` with nothing configured: the demo state is generated
    into the per-user data directory on the first call, and reused on the next."""
    tmp_path = home
    env = {
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "HOME": str(tmp_path),
    }
    proc = _cli("info", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "generating the demo state" in proc.stderr
    demo = tmp_path / "data" / "dsa110-ws" / "demo"
    made = json.loads((demo / "truth.json").read_text())
    # the same seed and generator as the session's demo: the same counts
    assert made["counts"] == truth["counts"] and made["seed"] == truth["seed"] == 42
    assert _count(demo / "pipeline.sqlite3", "SELECT COUNT(*) FROM images") == len(truth["images"])
    info = json.loads(proc.stdout)
    assert str(demo) in json.dumps(info)
    stamp = (demo / "truth.json").stat().st_mtime_ns
    proc = _cli("info", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "generating" not in proc.stderr  # generated once
    assert (demo / "truth.json").stat().st_mtime_ns == stamp
