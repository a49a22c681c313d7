"""The stored functions' semantics, every refusal included (a refusal returns FALSE or no row,
changes nothing and never raises)."""

from __future__ import annotations

import psycopg
import pytest
from psycopg.types.json import Jsonb

Q = "dsa110-pipeline"


def spawn(con, name="imaging", *, priority=0, max_retries=3, queue=Q, params=None):
    return con.execute(
        "SELECT absurd.spawn_task(%s, %s, %s, %s, NULL, %s)",
        (queue, name, Jsonb(params or {}), priority, max_retries),
    ).fetchone()[0]


def claim(con, worker="w1", queue=Q):
    row = con.execute("SELECT task_id FROM absurd.claim_task(%s, %s)", (queue, worker)).fetchone()
    return None if row is None else row[0]


def call(con, fn, *args) -> bool:
    marks = ", ".join(["%s"] * len(args))
    return con.execute(f"SELECT absurd.{fn}({marks})", args).fetchone()[0]


def row(con, tid) -> dict:
    cur = con.execute("SELECT * FROM absurd.tasks WHERE task_id = %s", (tid,))
    return dict(zip([d.name for d in cur.description], cur.fetchone(), strict=True))


def fail_once(con, tid, worker="w1"):
    assert claim(con, worker) == tid
    assert call(con, "fail_task", tid, "boom")


def test_spawn_makes_a_pending_task_with_the_defaults(con):
    tid = con.execute(
        "SELECT absurd.spawn_task(%s, 'imaging', %s)", (Q, Jsonb({"inputs": {"ms_path": "/x.ms"}}))
    ).fetchone()[0]
    r = row(con, tid)
    assert (r["status"], r["attempt"], r["priority"], r["max_retries"], r["timeout_sec"]) == (
        "pending",
        0,
        0,
        3,
        None,
    )
    assert r["depends_on"] == [] and r["workflow_id"] is None and r["worker_id"] is None
    assert r["params"] == {"inputs": {"ms_path": "/x.ms"}}


def test_claim_takes_highest_priority_then_oldest(con):
    low_old = spawn(con, priority=0)
    high_new = spawn(con, priority=10)
    high_old = spawn(con, priority=10)
    con.execute(
        "UPDATE absurd.tasks SET created_at = now() - interval '1 hour' WHERE task_id IN (%s, %s)",
        (low_old, high_old),
    )
    assert [claim(con) for _ in range(4)] == [high_old, high_new, low_old, None]


def test_claim_sets_worker_time_and_attempt_and_returns_task_priority(con):
    tid = spawn(con, priority=7)
    cur = con.execute("SELECT * FROM absurd.claim_task(%s, 'lxd110h17-5c1e9a07')", (Q,))
    got = dict(zip([d.name for d in cur.description], cur.fetchone(), strict=True))
    assert got["task_id"] == tid and got["task_priority"] == 7 and "priority" not in got
    r = row(con, tid)
    assert (r["status"], r["worker_id"], r["attempt"]) == ("claimed", "lxd110h17-5c1e9a07", 1)
    assert r["claimed_at"] is not None


def test_claim_looks_only_at_its_queue(con):
    spawn(con, queue="other")
    assert claim(con) is None


def test_claim_skips_a_row_another_transaction_is_claiming(con, queue_url):
    first, second = spawn(con), spawn(con)
    con.execute(
        "UPDATE absurd.tasks SET created_at = now() - interval '1 minute' WHERE task_id = %s",
        (first,),
    )
    with psycopg.connect(queue_url) as other:  # claims `first`, not committed yet
        assert claim(other, "w2") == first
        assert claim(con, "w1") == second  # skipped, not blocked
        other.rollback()
    assert row(con, first)["status"] == "pending"


def test_complete_fills_times_from_claim_and_creation(con):
    tid = spawn(con)
    claim(con)
    con.execute(
        "UPDATE absurd.tasks SET created_at = now() - interval '100 s', "
        "claimed_at = now() - interval '40 s' WHERE task_id = %s",
        (tid,),
    )
    assert call(con, "complete_task", tid, Jsonb({"outputs": {"image": "/x.fits"}}))
    r = row(con, tid)
    assert r["status"] == "completed" and r["result"] == {"outputs": {"image": "/x.fits"}}
    assert r["wait_time_sec"] == pytest.approx(60.0, abs=1e-6)
    assert r["execution_time_sec"] == pytest.approx(
        (r["completed_at"] - r["claimed_at"]).total_seconds(), abs=1e-6
    )
    assert r["execution_time_sec"] >= 40.0


def test_fail_stores_the_error_and_times(con):
    tid = spawn(con)
    claim(con)
    assert call(con, "fail_task", tid, "casacore lock")
    r = row(con, tid)
    assert (r["status"], r["error"], r["worker_id"]) == ("failed", "casacore lock", "w1")
    assert r["completed_at"] is not None and r["wait_time_sec"] is not None


@pytest.mark.parametrize("fn,args", [("complete_task", (Jsonb({}),)), ("fail_task", ("x",))])
def test_complete_and_fail_refuse_tasks_that_are_not_claimed(con, fn, args):
    pending = spawn(con)
    assert call(con, fn, pending, *args) is False
    assert row(con, pending)["status"] == "pending" and row(con, pending)["completed_at"] is None
    claim(con)
    assert call(con, "complete_task", pending, Jsonb({}))
    assert call(con, fn, pending, *args) is False  # already completed
    assert row(con, pending)["status"] == "completed"
    missing = "00000000-0000-4000-8000-000000000000"
    assert call(con, fn, missing, *args) is False


def test_cancel_only_from_pending_or_retrying(con):
    pending, retrying, claimed = spawn(con), spawn(con), spawn(con)
    con.execute("UPDATE absurd.tasks SET status = 'retrying' WHERE task_id = %s", (retrying,))
    con.execute(
        "UPDATE absurd.tasks SET created_at = now() - interval '1 day' WHERE task_id = %s",
        (claimed,),
    )
    assert claim(con) == claimed
    assert call(con, "cancel_task", claimed) is False
    assert row(con, claimed)["status"] == "claimed"
    assert call(con, "cancel_task", pending) and call(con, "cancel_task", retrying)
    assert row(con, pending)["status"] == "cancelled" and row(con, pending)["completed_at"]
    assert call(con, "cancel_task", pending) is False  # already cancelled


def test_cancel_refuses_completed_and_failed(con):
    done, failed = spawn(con), spawn(con)
    claim(con)
    call(con, "complete_task", done, Jsonb({}))
    fail_once(con, failed)
    assert call(con, "cancel_task", done) is False and call(con, "cancel_task", failed) is False


def test_retry_puts_a_failed_task_back_to_pending(con):
    tid = spawn(con)
    fail_once(con, tid)
    before = row(con, tid)
    assert call(con, "retry_task", tid)
    r = row(con, tid)
    assert (r["status"], r["worker_id"], r["error"], r["claimed_at"]) == (
        "pending",
        None,
        None,
        None,
    )
    assert r["attempt"] == 1  # attempts are not reset
    assert r["completed_at"] == before["completed_at"]  # kept, as in a deployment
    assert claim(con, "w2") == tid and row(con, tid)["attempt"] == 2


def test_retry_of_a_cancelled_task(con):
    tid = spawn(con)
    call(con, "cancel_task", tid)
    assert call(con, "retry_task", tid) and row(con, tid)["status"] == "pending"


@pytest.mark.parametrize("state", ["pending", "claimed", "completed"])
def test_retry_refuses_tasks_that_did_not_fail(con, state):
    tid = spawn(con)
    if state != "pending":
        claim(con)
    if state == "completed":
        call(con, "complete_task", tid, Jsonb({}))
    assert call(con, "retry_task", tid) is False
    assert row(con, tid)["status"] == state


def test_retry_refuses_past_max_retries(con):
    tid = spawn(con, max_retries=3)
    for k in range(3):
        if k:
            assert call(con, "retry_task", tid)
        fail_once(con, tid)
    assert row(con, tid)["attempt"] == 3
    assert call(con, "retry_task", tid) is False
    assert row(con, tid)["status"] == "failed" and row(con, tid)["error"] == "boom"


def test_max_retries_one_means_no_retry(con):
    tid = spawn(con, max_retries=1)
    fail_once(con, tid)
    assert call(con, "retry_task", tid) is False


def test_heartbeat_is_true_only_while_claimed(con):
    tid = spawn(con)
    assert call(con, "heartbeat_task", tid) is False
    claim(con)
    assert call(con, "heartbeat_task", tid) is True


def test_spawn_with_unknown_dependency_is_refused(con):
    with pytest.raises(psycopg.errors.ForeignKeyViolation, match="do not exist"):
        con.execute(
            "SELECT absurd.spawn_task_with_deps(%s, 'imaging', '{}', "
            "ARRAY['00000000-0000-4000-8000-000000000000']::uuid[])",
            (Q,),
        )


def test_spawn_with_dependencies_records_them(con):
    first = spawn(con)
    wf = con.execute(
        "INSERT INTO absurd.workflows (name) VALUES ('w') RETURNING workflow_id"
    ).fetchone()[0]
    tid = con.execute(
        "SELECT absurd.spawn_task_with_deps(%s, 'imaging', '{}', %s::uuid[], %s)", (Q, [first], wf)
    ).fetchone()[0]
    r = row(con, tid)
    assert r["depends_on"] == [first] and r["workflow_id"] == wf and r["status"] == "pending"


def test_queue_stats_count_each_status_and_the_total(con):
    ids = [spawn(con) for _ in range(6)]
    con.execute(
        "UPDATE absurd.tasks SET created_at = now() - interval '1 min' + interval '1 s' "
        "* array_position(%s::uuid[], task_id)",
        (ids,),
    )  # oldest first
    assert [claim(con) for _ in range(3)] == ids[:3]
    call(con, "complete_task", ids[0], Jsonb({}))
    call(con, "fail_task", ids[1], "x")
    con.execute("UPDATE absurd.tasks SET status = 'retrying' WHERE task_id = %s", (ids[3],))
    assert call(con, "cancel_task", ids[5])
    spawn(con, queue="other")
    stats = con.execute("SELECT * FROM absurd.get_queue_stats(%s)", (Q,)).fetchone()
    assert stats == (1, 1, 1, 1, 1, 1, 6)
    assert con.execute("SELECT * FROM absurd.get_queue_stats('nobody')").fetchone() == (0,) * 7
