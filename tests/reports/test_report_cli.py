"""`dsa110-ws report run|list|schedule` as a user runs them (real subprocesses)."""

from __future__ import annotations

import json
import shlex

import pytest

from dsa110_ws.reporting.schedule import crontab_line, systemd_units


def run_cli(*args, env=None):
    import os
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "dsa110_ws.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=600,
    )


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--night", "2026-02-30"], "night='2026-02-30' is not a calendar date"),
        (["--night", "last night"], "is not YYYY-MM-DD"),
        (["--start", "2026-11-12", "--end", "2026-11-11"], "is not after start"),
        (["-p", "colour=blue"], "unknown parameter 'colour'"),
        (["-p", "worst_n=lots"], "worst_n"),
        (["--night", "2026-11-10", "--start", "2026-11-10", "--end", "2026-11-11"], "not both"),
    ],
)
def test_bad_parameters_exit_2_with_one_line_and_start_nothing(
    args, needle, tmp_path, settings_file
):
    out = tmp_path / "out"
    proc = run_cli("report", "run", "qa", "--settings", settings_file, "--out", str(out), *args)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0]
    assert not out.exists()


def test_json_of_an_invalid_run_says_nothing_was_started(tmp_path, settings_file):
    proc = run_cli(
        "report",
        "run",
        "stats",
        "--settings",
        settings_file,
        "--out",
        str(tmp_path / "o"),
        "--days",
        "0",
        "--json",
    )
    doc = json.loads(proc.stdout)
    assert proc.returncode == 2 and doc["status"] == "invalid"
    assert doc["papermill_invoked"] is False and doc["kernel_started"] is False
    assert doc["output_dir"] is None and "days" in doc["error"]


@pytest.mark.notebook
@pytest.mark.slow
def test_list_shows_both_reports(qa_run, stats_run, report_root):
    proc = run_cli("report", "list", "--out", str(report_root), "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    got = {(r["kind"], r["label"], r["status"]) for r in doc["reports"]}
    assert ("qa", "2026-11-10", "critical") in got
    assert ("stats", stats_run.label, stats_run.overall) in got
    qa = next(r for r in doc["reports"] if r["kind"] == "qa" and r["label"] == "2026-11-10")
    assert qa["attention"][0]["severity"] == "critical" and len(qa["attention"]) <= 5
    text = run_cli("report", "list", "--out", str(report_root))
    assert text.returncode == 0 and "2026-11-10" in text.stdout and "critical" in text.stdout
    row = next(ln for ln in text.stdout.splitlines() if "2026-11-10" in ln)
    assert "3 of 8 images graded bad (37.5%)" in row and "=" not in row


def test_schedule_print(tmp_path, settings_file):
    proc = run_cli(
        "report",
        "schedule",
        "--print",
        "--out",
        str(tmp_path / "r"),
        "--settings",
        settings_file,
        env={"TZ": "America/Los_Angeles"},  # a local zone 8 h from UTC
    )
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    cron = [
        ln
        for ln in text.splitlines()
        if ln
        and not ln.startswith("#")
        and "report run qa" in ln
        and not ln.startswith("ExecStart")
    ]
    assert len(cron) == 1
    # in UTC, the very time of the systemd timer, whatever this machine's zone
    lines = text.splitlines()
    assert lines[lines.index(cron[0]) - 1] == "CRON_TZ=UTC"
    fields = cron[0].split(None, 5)
    assert fields[:5] == ["30", "7", "*", "*", "*"]
    cmd = shlex.split(fields[5])
    assert cmd[0].endswith("dsa110-ws") and cmd[1:5] == ["report", "run", "qa", "--night"]
    assert (
        cmd[5] == "yesterday" and "--quiet" in cmd and cmd[cmd.index("--fail-on") + 1] == "critical"
    )
    assert cmd[cmd.index("--out") + 1] == str((tmp_path / "r").resolve())
    assert "OnCalendar=*-*-* 07:30:00 UTC" in text and "Type=oneshot" in text
    assert "WantedBy=timers.target" in text and "Persistent=true" in text
    exec_line = next(ln for ln in text.splitlines() if ln.startswith("ExecStart="))
    assert shlex.split(exec_line.removeprefix("ExecStart="))[1:4] == ["report", "run", "qa"]
    bad = run_cli("report", "schedule", "--print", "--at", "25:00", "--out", str(tmp_path))
    assert bad.returncode == 2 and "HH:MM" in bad.stderr


def test_schedule_functions_for_the_weekly_stats(tmp_path):
    units = systemd_units("stats", out_dir=tmp_path, at="06:15")
    assert set(units) == {"dsa110-ws-report-stats.service", "dsa110-ws-report-stats.timer"}
    assert "OnCalendar=Mon *-*-* 06:15:00 UTC" in units["dsa110-ws-report-stats.timer"]
    assert "report run stats" in units["dsa110-ws-report-stats.service"]
    tz, line = crontab_line("stats", out_dir=tmp_path, at="06:15").splitlines()
    assert tz == "CRON_TZ=UTC"
    assert "report run stats" in line and "--night" not in line
    assert line.split()[:5] == ["15", "6", "*", "*", "1"]  # Monday 06:15 UTC, as the timer
