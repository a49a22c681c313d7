"""`report run --quiet`, the README's cron line: nothing printed on success (so cron sends
no mail), the breaching metrics printed when --fail-on is reached (exit 3)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.notebook, pytest.mark.slow]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dsa110_ws.cli", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=600,
    )


def test_quiet_prints_nothing_on_success_and_the_breach_otherwise(tmp_path, settings_file, truth):
    out = tmp_path / "reports"
    good = "2026-11-13"  # no bad image that night in the truth file
    assert not any(i["bad_reason"] for i in truth["images"] if i["night"] == good)
    args = ["report", "run", "qa", "--settings", settings_file, "--out", str(out)]
    proc = run_cli(*args, "--night", good, "--fail-on", "critical", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and proc.stderr == ""  # cron mails nothing
    metrics = json.loads((out / "qa" / good / "metrics.json").read_text())
    n_images = {m["name"]: m["value"] for m in metrics["metrics"]}["n_images"]
    assert n_images == sum(i["night"] == good for i in truth["images"]) == 8
    bad = "2026-11-10"  # three bad images in the truth file
    proc = run_cli(*args, "--night", bad, "--fail-on", "critical", "--quiet")
    assert proc.returncode == 3, proc.stderr
    said = proc.stdout + proc.stderr
    assert said.strip() and "Traceback" not in said  # cron mails this
    assert "critical" in said.lower()
    assert (out / "qa" / bad / "report.html").exists()  # published all the same
