"""Each template runs once per test session (a kernel start costs seconds); the tests
assert many things on those outputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

#: The night the QA report is run on in the tests: the demo's bad-image night.
QA_NIGHT = "2026-11-10"


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``dsa110-ws`` as a user runs it (a real subprocess)."""
    return subprocess.run(
        [sys.executable, "-m", "dsa110_ws.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=600,
    )


@pytest.fixture(scope="session")
def report_root(tmp_path_factory) -> Path:
    """The output root both session reports are published into."""
    return tmp_path_factory.mktemp("reports") / "out"


@pytest.fixture(scope="session")
def settings_file(demo_dir) -> str:
    return str(demo_dir / "settings.toml")


@pytest.fixture(scope="session")
def qa_run(report_root, settings_file) -> dict:
    """``dsa110-ws report run qa --night 2026-11-10 --fail-on critical --json`` (the CLI)."""
    proc = run_cli(
        "report",
        "run",
        "qa",
        "--night",
        QA_NIGHT,
        "--settings",
        settings_file,
        "--out",
        str(report_root),
        "--fail-on",
        "critical",
        "--json",
    )
    assert proc.stdout, proc.stderr
    out = json.loads(proc.stdout)
    out["returncode"] = proc.returncode
    out["stderr"] = proc.stderr
    return out


@pytest.fixture(scope="session")
def stats_run(report_root, settings_file):
    """The stats report for the default period through the Python API."""
    from dsa110_ws.reporting import run_report

    return run_report("stats", {"settings": settings_file}, out_dir=report_root)


@pytest.fixture()
def ws_session(demo_dir, tmp_path):
    """A workspace in the test process over the same demo state (private state dir)."""
    import dsa110_ws

    w = dsa110_ws.connect(demo_dir / "settings.toml", state_dir=tmp_path / "state")
    yield w
    w.close()
