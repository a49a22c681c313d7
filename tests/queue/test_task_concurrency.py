"""The workspace next to live workers: reads while another process claims tasks, and two
operators retrying the same failed task at the same moment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import psycopg
from _queue_helpers import spawn_helper

import dsa110_ws

Q = "dsa110-pipeline"
N_TASKS = 400
HALF = 150
LOCK_KEY = 220_220
DEADLINE_S = 90.0


def test_reads_while_another_process_claims_lose_nothing(con, queue_url, demo_dir, tmp_path):
    ids = {
        str(r[0])
        for r in con.execute(
            "SELECT absurd.spawn_task(%s, 'convert-group', jsonb_build_object('i', i)) "
            "FROM generate_series(1, %s) AS i",
            (Q, N_TASKS),
        ).fetchall()
    }
    con.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))  # the child pauses at HALF
    w = dsa110_ws.connect(demo_dir / "settings.toml", state_dir=tmp_path / "s", queue_url=queue_url)
    child = spawn_helper("claim", queue_url, Q, "lxd110h17-child", str(LOCK_KEY), str(HALF))
    seen: list[int] = []
    try:
        deadline, released = time.monotonic() + DEADLINE_S, False
        while child.poll() is None and time.monotonic() < deadline:
            stats = w.tasks.stats().set_index("queue_name").loc[Q]
            listed = w.tasks.list(queue=Q, limit=None)
            assert int(stats["total"]) == N_TASKS  # no row lost or doubled mid-claim
            assert set(listed["task_id"].astype(str)) == ids and len(listed) == N_TASKS
            assert int(stats["pending"] + stats["claimed"] + stats["completed"]) == N_TASKS
            w.tasks.summary(), w.tasks.workers(since="1h")
            seen.append(int(stats["completed"]))
            if not released and seen[-1] >= HALF:
                con.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
                released = True
        out, err = child.communicate(timeout=DEADLINE_S)
    finally:
        if child.poll() is None:
            child.kill()
        w.close()
    assert child.returncode == 0, err
    assert json.loads(out.strip().splitlines()[-1]) == {"claimed": N_TASKS}
    assert any(0 < s < N_TASKS for s in seen)  # we did read while it claimed
    final = con.execute("SELECT status, count(*) FROM absurd.tasks GROUP BY 1").fetchall()
    assert final == [("completed", N_TASKS)]


def _retry_process(url: str, demo_dir, state_dir, task_id: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DSA110_WS_SETTINGS": str(demo_dir / "settings.toml"),
        "DSA110_WS_STATE_DIR": str(state_dir),
        "DSA110_WS_QUEUE_URL": url,
        "DSA110_WS_ALLOW_WRITES": "1",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "dsa110_ws.cli", "tasks", "retry", task_id],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_two_operators_retry_the_same_task_one_is_told_why_not(con, queue_url, demo_dir, tmp_path):
    tid = str(con.execute("SELECT absurd.spawn_task(%s, 'imaging', '{}')", (Q,)).fetchone()[0])
    con.execute("SELECT absurd.claim_task(%s, 'lxd110h23-w1')", (Q,))
    con.execute("SELECT absurd.fail_task(%s, 'casacore: table is locked')", (tid,))
    procs = []
    with psycopg.connect(queue_url) as holder:  # hold the row until both are waiting for it
        holder.execute("SELECT 1 FROM absurd.tasks WHERE task_id = %s FOR UPDATE", (tid,))
        try:
            procs = [
                _retry_process(queue_url, demo_dir, tmp_path / f"op{i}", tid) for i in range(2)
            ]
            deadline = time.monotonic() + DEADLINE_S
            while (
                con.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = "
                    "'Lock' AND application_name = 'dsa110-ws'"
                ).fetchone()[0]
                < 2
            ):
                assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
                assert time.monotonic() < deadline
                time.sleep(0.05)
            holder.commit()
            results = [p.communicate(timeout=DEADLINE_S) + (p.returncode,) for p in procs]
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
    ok = [r for r in results if r[2] == 0]
    refused = [r for r in results if r[2] != 0]
    assert len(ok) == 1 and len(refused) == 1, results
    assert "failed -> pending" in ok[0][0]
    err = refused[0][1].strip()
    assert err == (
        f"error: Task {tid} (imaging) is pending: only failed or cancelled tasks can be retried."
    )
    assert con.execute(
        "SELECT status, attempt FROM absurd.tasks WHERE task_id = %s", (tid,)
    ).fetchone() == ("pending", 1)
