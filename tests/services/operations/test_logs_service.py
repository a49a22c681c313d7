"""w.logs: per-run log files, filters, incremental follow and confinement to the log roots."""

from __future__ import annotations

import os
import shutil

import pytest
from _ops_helpers import connect

from dsa110_ws.errors import DataUnavailableError, InvalidQueryError, NotPermittedError


@pytest.fixture()
def own_logs(writable_demo, demo_dir, tmp_path, state_dir):
    """A workspace whose log root is a private copy of the demo logs (appendable)."""
    logs = tmp_path / "logs"
    shutil.copytree(demo_dir / "logs", logs)
    settings = writable_demo / "settings.toml"
    text = settings.read_text()
    settings.write_text(text.replace(str(demo_dir / "logs"), str(logs)))
    w = connect(writable_demo, state_dir)
    yield w, logs
    w.close()


def test_every_demo_log_read_with_its_counts(workspace, truth, demo_dir):
    assert set(workspace.logs.runs()["run_id"]) == set(truth["logs"])
    for run_id, t in truth["logs"].items():
        df = workspace.logs.read(run_id)
        raw = (demo_dir / "logs" / f"{run_id}.log").read_text().splitlines()
        assert len(df) == t["n_lines"] and list(df["raw"]) == raw
        assert len(workspace.logs.read(run_id, level="ERROR")) == t["n_error"]
        assert (df["logger"] == f"dsa110.pipeline[{run_id}]").all()


def test_error_line_of_a_failed_run_is_the_job_failure_reason(workspace, truth):
    for f in truth["failed_jobs"]:
        run_id = f"{f['type']}-{f['id']:06d}"
        err = workspace.logs.read(run_id, level="ERROR")
        assert list(err["message"]) == [f["reason"]]
        assert workspace.jobs.get(f["id"]).failure_reason == f["reason"]


def test_tail_level_regex_and_time_filters(workspace, truth, demo_dir):
    run_id = next(r for r, t in truth["logs"].items() if t["n_error"])
    raw = (demo_dir / "logs" / f"{run_id}.log").read_text().splitlines()
    assert list(workspace.logs.tail(run_id, 2)["raw"]) == raw[-2:]
    assert workspace.logs.tail(run_id, 0).empty
    warn = workspace.logs.read(run_id, level="warning")
    assert list(warn["level"]) == ["WARNING", "ERROR"]
    assert list(workspace.logs.read(run_id, pattern=r"antennas? have")["line_no"]) == [3]
    with pytest.raises(InvalidQueryError, match="regular expression"):
        workspace.logs.read(run_id, pattern="(unclosed")
    with pytest.raises(InvalidQueryError, match="level"):
        workspace.logs.read(run_id, level="LOUD")
    t3 = raw[2].split()[0]  # lines are 7 s apart
    later = workspace.logs.read(run_id, start=t3)
    assert list(later["line_no"]) == list(range(3, len(raw) + 1))
    assert list(workspace.logs.read(run_id, end=t3)["line_no"]) == [1, 2]


def test_follow_returns_only_new_complete_lines(own_logs):
    w, logs = own_logs
    run_id = "follow-test"
    path = logs / f"{run_id}.log"
    path.write_text("2026-11-14T10:00:00.000 INFO    x.y[r]: one\n2026-11-14T10:00:01.000 INFO")
    first, offset = w.logs.follow(run_id, 0)
    assert (
        list(first["message"]) == ["one"] and offset == len(path.read_bytes().split(b"\n")[0]) + 1
    )
    again, same = w.logs.follow(run_id, offset)
    assert again.empty and same == offset  # the partial line waits for its newline
    with open(path, "a") as fh:
        fh.write("    x.y[r]: two\nTraceback (most recent call last):\n")
        fh.write("2026-11-14T10:00:02.000 ERROR   x.y[r]: three\n")
    new, offset2 = w.logs.follow(run_id, offset)
    assert list(new["message"]) == ["two", "Traceback (most recent call last):", "three"]
    assert list(new["continuation"]) == [False, True, False]
    assert list(new["level"]) == ["INFO", "INFO", "ERROR"]  # a traceback inherits its level
    assert offset2 == path.stat().st_size
    assert list(w.logs.follow(run_id, offset, level="ERROR")[0]["message"]) == ["three"]
    path.write_text("2026-11-14T11:00:00.000 INFO    x.y[r]: rotated\n")  # truncated: restart
    rotated, _ = w.logs.follow(run_id, offset2)
    assert list(rotated["message"]) == ["rotated"]
    with pytest.raises(InvalidQueryError):
        w.logs.follow(run_id, -1)


@pytest.mark.parametrize(
    "bad", ["../logs/x", "..", "/etc/passwd", "a/b", "", ".hidden", "x" * 200, "run id", "a\x00b"]
)
def test_malformed_run_ids_are_refused(workspace, bad):
    with pytest.raises(InvalidQueryError, match="Invalid run id"):
        workspace.logs.read(bad)


def test_symlink_pointing_outside_the_log_roots_is_refused(own_logs, tmp_path):
    w, logs = own_logs
    secret = tmp_path / "outside" / "secret.log"
    secret.parent.mkdir()
    secret.write_text("2026-11-14T10:00:00.000 INFO    x.y[r]: secret\n")
    os.symlink(secret, logs / "escape.log")
    with pytest.raises(NotPermittedError, match="outside"):
        w.logs.read("escape")
    with pytest.raises(NotPermittedError):
        w.logs.follow("escape", 0)
    assert "escape" not in set(w.logs.runs()["run_id"])
    os.symlink(
        logs / "calibrate-000026.log"
        if (logs / "calibrate-000026.log").exists()
        else next(logs.glob("*.log")),
        logs / "inside.log",
    )
    assert len(w.logs.read("inside")) > 0  # a link inside the roots is fine
    with pytest.raises(DataUnavailableError, match="No log file"):
        w.logs.read("no-such-run")
