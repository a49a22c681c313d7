"""Two processes on one queue: claims while another process reads (and claims), and two
retries of the same failed task at once."""

from __future__ import annotations

import json
import time

import psycopg
from _queue_helpers import spawn_helper
from psycopg.types.json import Jsonb

Q = "dsa110-pipeline"
N_TASKS = 300
HALF = 100
LOCK_KEY = 110_110
DEADLINE_S = 60.0


def _counts(con) -> tuple[int, int, int]:
    """(claimed or completed by the child, by us, still pending)."""
    return con.execute(
        "SELECT count(*) FILTER (WHERE worker_id = 'child'), "
        "count(*) FILTER (WHERE worker_id = 'parent'), "
        "count(*) FILTER (WHERE status = 'pending') FROM absurd.tasks"
    ).fetchone()


def _claim_one(con) -> bool:
    row = con.execute("SELECT task_id FROM absurd.claim_task(%s, 'parent')", (Q,)).fetchone()
    if row is not None:
        assert con.execute(
            "SELECT absurd.complete_task(%s, %s)", (row[0], Jsonb({"by": "parent"}))
        ).fetchone()[0]
    return row is not None


def test_another_process_claims_while_we_read_and_claim(con, queue_url):
    con.execute(
        "SELECT absurd.spawn_task(%s, 'ingest-subband', jsonb_build_object('i', i), 5) "
        "FROM generate_series(1, %s) AS i",
        (Q, N_TASKS),
    )
    con.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))  # the child pauses on it at HALF
    child = spawn_helper("claim", queue_url, Q, "child", str(LOCK_KEY), str(HALF))
    seen, released, deadline = [], False, time.monotonic() + DEADLINE_S
    try:
        while child.poll() is None and time.monotonic() < deadline:
            by_child, _, _ = _counts(con)
            seen.append(by_child)
            if not released and by_child >= HALF:
                con.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
                released = True
            if released:
                _claim_one(con)
        out, err = child.communicate(timeout=DEADLINE_S)
    finally:
        if child.poll() is None:
            child.kill()
    while _claim_one(con):  # whatever the child left
        pass
    assert child.returncode == 0, err
    report = json.loads(out.strip().splitlines()[-1])
    assert "error" not in report
    # we watched the other process make progress: 0 < seen < N while it ran
    assert any(0 < s < N_TASKS for s in seen) and len(set(seen)) >= 2
    by_child, by_parent, pending = _counts(con)
    assert by_child == report["claimed"] >= HALF and pending == 0
    assert by_child + by_parent == N_TASKS  # nothing lost
    rows = con.execute(
        "SELECT status, attempt, worker_id = result->>'by' FROM absurd.tasks"
    ).fetchall()
    assert set(rows) == {("completed", 1, True)}  # each claimed once, finished by its claimer


def test_two_processes_retry_the_same_failed_task(con, queue_url):
    tid = con.execute("SELECT absurd.spawn_task(%s, 'imaging', '{}')", (Q,)).fetchone()[0]
    con.execute("SELECT absurd.claim_task(%s, 'w1')", (Q,))
    con.execute("SELECT absurd.fail_task(%s, 'casacore lock')", (tid,))
    with psycopg.connect(queue_url) as mine:  # our retry holds the row until we commit
        assert mine.execute("SELECT absurd.retry_task(%s)", (tid,)).fetchone()[0] is True
        other = spawn_helper("retry", queue_url, str(tid))
        try:
            deadline = time.monotonic() + DEADLINE_S
            while not con.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type ="
                " 'Lock' AND query LIKE '%%retry_task%%'"
            ).fetchone()[0]:
                assert other.poll() is None and time.monotonic() < deadline, other.stderr.read()
                time.sleep(0.02)
            mine.commit()  # now both have asked; the other's retry can finish
            out, err = other.communicate(timeout=DEADLINE_S)
        finally:
            if other.poll() is None:
                other.kill()
    assert other.returncode == 0, err
    theirs = json.loads(out.strip().splitlines()[-1])
    # exactly one retry succeeded; the other was refused and sees why: already pending again
    assert theirs == {
        "ok": False,
        "status": "pending",
        "attempt": 1,
        "worker_id": None,
        "error": None,
    }
    assert con.execute("SELECT status, attempt FROM absurd.tasks").fetchall() == [("pending", 1)]
