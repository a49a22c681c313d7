"""Audit before act: an operator action records its intent first; when it cannot, nothing of
the pipeline's changes. Validation errors are found before anything is written."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from dsa110_ws.cli import main


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _broken_state(tmp_path: Path, how: str) -> Path:
    state = tmp_path / f"state-{how}"
    if how == "file":
        state.write_text("a file where the state directory should be")
    elif how == "corrupt":
        state.mkdir()
        (state / "workspace.sqlite3").write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    elif how == "dir-as-db":
        (state / "workspace.sqlite3").mkdir(parents=True)
    return state


def _batch(db: Path, status: str) -> int:
    con = sqlite3.connect(db)
    try:
        return int(
            con.execute(
                "SELECT id FROM batch_jobs WHERE status = ? ORDER BY id LIMIT 1", (status,)
            ).fetchone()[0]
        )
    finally:
        con.close()


@pytest.mark.parametrize("how", ["file", "corrupt", "dir-as-db"])
@pytest.mark.parametrize("action", ["cancel", "retry", "rerun"])
def test_no_audit_record_no_action(writable_demo, tmp_path, monkeypatch, capsys, how, action):
    db = writable_demo / "pipeline.sqlite3"
    monkeypatch.setenv("DSA110_WS_SETTINGS", str(writable_demo / "settings.toml"))
    monkeypatch.setenv("DSA110_WS_STATE_DIR", str(_broken_state(tmp_path, how)))
    monkeypatch.setenv("DSA110_WS_ALLOW_WRITES", "1")
    args = {
        "cancel": ["jobs", "cancel", str(_batch(db, "pending"))],
        "retry": ["jobs", "retry", str(_batch(db, "partial"))],
        "rerun": ["jobs", "rerun", "--ms", "/nonexistent.ms", "--no-command"],
    }[action]
    before = _digest(db)
    code = main(args)
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert "state" in err.lower() and "DSA110_WS_STATE_DIR" in err
    assert _digest(db) == before  # nothing written to the pipeline's database


def test_a_malformed_rerun_command_is_refused_before_anything_is_written(
    writable_demo, tmp_path, monkeypatch, capsys, truth
):
    settings = writable_demo / "settings.toml"
    settings.write_text(
        settings.read_text() + "\n[operations]\nrerun_command = "
        '"dsa110-rerun --ms {ms_path} --job {job_id"\n'
    )
    db = writable_demo / "pipeline.sqlite3"
    monkeypatch.setenv("DSA110_WS_SETTINGS", str(settings))
    monkeypatch.setenv("DSA110_WS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("DSA110_WS_ALLOW_WRITES", "1")
    before = _digest(db)
    job = truth["failed_jobs"][0]["id"]
    code = main(["jobs", "rerun", str(job)])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1 and "rerun_command" in err, err
    assert _digest(db) == before


def test_a_task_retry_without_its_audit_record_does_not_happen(
    tmp_path, monkeypatch, capsys, demo_dir
):
    """The task queue's retry: the state database cannot take the intent, the queue is not
    touched (checked on the demo's own queue: the task stays failed)."""
    import dsa110_ws

    w = dsa110_ws.connect(demo_dir / "settings.toml", state_dir=tmp_path / "ok-state")
    try:
        failed = w.tasks.list(status="failed", limit=None)
        retryable = failed[failed["attempt"] < failed["max_retries"]]
        tid = str(retryable["task_id"].iloc[0])
    finally:
        w.close()
    monkeypatch.setenv("DSA110_WS_SETTINGS", str(demo_dir / "settings.toml"))
    monkeypatch.setenv("DSA110_WS_STATE_DIR", str(_broken_state(tmp_path, "file")))
    monkeypatch.setenv("DSA110_WS_ALLOW_WRITES", "1")
    code = main(["tasks", "retry", tid])
    err = capsys.readouterr().err.strip()
    assert code == 1 and "DSA110_WS_STATE_DIR" in err and len(err.splitlines()) == 1
    w = dsa110_ws.connect(demo_dir / "settings.toml", state_dir=tmp_path / "ok-state2")
    try:
        assert w.tasks.show(tid).status == "failed"
    finally:
        w.close()
