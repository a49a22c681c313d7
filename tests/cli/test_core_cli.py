"""`dsa110-ws demo` and `dsa110-ws info` as a user runs them (a real subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def run(*args, env=None, cwd=None):
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "dsa110_ws.cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=300,
    )


def test_info_json_on_a_pipeline_db(demo_dir, truth, tmp_path):
    out = run(
        "info",
        "--json",
        env={
            "PIPELINE_DB": str(demo_dir / "pipeline.sqlite3"),
            "DSA110_WS_STATE_DIR": str(tmp_path),
        },
    )
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["settings"]["pipeline_db"] == str(demo_dir / "pipeline.sqlite3")
    assert info["tables"]["images"] == len(truth["images"])
    assert info["tables"]["sources"] == 0
    assert info["origin"]["pipeline_db"] == "env:PIPELINE_DB"


def test_info_with_a_bad_pipeline_db_is_one_line(tmp_path):
    out = run("info", env={"PIPELINE_DB": str(tmp_path / "nope.sqlite3")})
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "PIPELINE_DB" in lines[0] and "nope.sqlite3" in lines[0]


def test_demo_command_writes_a_state(tmp_path):
    out = run("demo", str(tmp_path / "d"), "--nights", "4", "--seed", "3")
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "d" / "settings.toml").exists()
    # the task queue's cluster is there, its server stopped again (started by its readers)
    assert (tmp_path / "d" / "queue-pg" / "pgdata" / "PG_VERSION").is_file()
    assert not (tmp_path / "d" / "queue-pg" / "pgdata" / "postmaster.pid").exists()
    assert "queue tasks in queue-pg/" in out.stdout
    again = run("demo", str(tmp_path / "d"))
    assert again.returncode != 0 and "not empty" in again.stderr
