"""Triage of ESE candidates through the operator-write path, on private database copies."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest

import dsa110_ws
from dsa110_ws.errors import InvalidQueryError, NotFoundError, NotPermittedError


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _rows(db, sql, params=()):
    con = sqlite3.connect(db)
    try:
        con.row_factory = sqlite3.Row
        return [dict(r) for r in con.execute(sql, params)]
    finally:
        con.close()


@pytest.fixture()
def stored(writable_demo):
    return _rows(writable_demo / "pipeline.sqlite3", "SELECT * FROM ese_candidates")


def test_triage_refused_when_writes_are_off(writable_demo, state_dir, stored):
    db = writable_demo / "pipeline.sqlite3"
    before = _sha(db)
    w = dsa110_ws.connect(writable_demo / "settings.toml", state_dir=state_dir)
    try:
        with pytest.raises(NotPermittedError, match="writes to the pipeline database are off"):
            w.sources.triage(int(stored[0]["id"]), "dismissed", note="noise")
        with pytest.raises(NotPermittedError):
            w.sources.triage(stored[0]["source_id"], "investigated")
        log = w.state.audit_log()
    finally:
        w.close()
    assert _sha(db) == before
    assert len(log) == 2 and (log["ok"] == 0).all()
    assert set(log["action"]) == {"triage_candidate:dismissed", "triage_candidate:investigated"}


def test_triage_by_id_updates_one_row_and_is_audited(writable_demo, state_dir, stored):
    db = writable_demo / "pipeline.sqlite3"
    cand = stored[0]
    w = dsa110_ws.connect(
        writable_demo / "settings.toml", state_dir=state_dir, allow_writes=True, operator="tester"
    )
    try:
        res = w.sources.triage(int(cand["id"]), "investigated", note="scintillation? follow up")
        now = w.now().unix
        log = w.state.audit_log(action="triage_candidate:investigated")
    finally:
        w.close()
    after = _rows(db, "SELECT * FROM ese_candidates WHERE id = ?", (cand["id"],))[0]
    assert res.changed and res.before["status"] == "active" and res.after == after
    assert after["status"] == "investigated"
    assert after["investigated_at"] == pytest.approx(now)
    assert "tester" in after["notes"] and after["notes"].endswith("follow up")
    others = _rows(db, "SELECT * FROM ese_candidates WHERE id != ?", (cand["id"],))
    assert others == [r for r in stored if r["id"] != cand["id"]]
    assert len(log) == 1 and log["ok"].iloc[0] == 1 and log["who"].iloc[0] == "tester"
    assert '"investigated"' in log["after"].iloc[0] and res.audit_id == log["id"].iloc[0]


def test_triage_by_source_without_a_stored_flag_adds_one(writable_demo, state_dir, truth):
    db = writable_demo / "pipeline.sqlite3"
    sid = truth["sources"]["ese"][0]["source_id"]
    assert not _rows(db, "SELECT * FROM ese_candidates WHERE source_id = ?", (sid,))
    w = dsa110_ws.connect(writable_demo / "settings.toml", state_dir=state_dir, allow_writes=True)
    try:
        res = w.sources.triage(sid, "dismissed", note="known calibrator artefact")
        again = w.sources.triage(sid, "investigated")
        with pytest.raises(NotFoundError):
            w.sources.triage(987654, "dismissed")
        with pytest.raises(NotFoundError):
            w.sources.triage("J000000.0+000000", "dismissed")
        with pytest.raises(InvalidQueryError, match="status"):
            w.sources.triage(sid, "maybe")
        cands = w.sources.ese_candidates().set_index("source_id")
    finally:
        w.close()
    rows = _rows(db, "SELECT * FROM ese_candidates WHERE source_id = ?", (sid,))
    assert len(rows) == 1 and res.before is None and again.before["status"] == "dismissed"
    assert rows[0]["status"] == "investigated" and rows[0]["flag_type"] == "workspace"
    assert rows[0]["dismissed_at"] is not None and rows[0]["investigated_at"] is not None
    assert rows[0]["notes"].count("\n") == 1
    assert cands.loc[sid, "stored_status"] == "investigated"
