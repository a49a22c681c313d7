"""Second processes for the queue tests (run as a script by ``conftest.spawn_helper``).

    claim URL QUEUE WORKER LOCK_KEY HALF   claim+complete until the queue is empty, pausing on
                                           advisory lock LOCK_KEY after HALF claims
    retry URL TASK_ID                      retry_task once; print the outcome and the row
    start DATA_DIR                         wait for "go", start_cluster, print, wait for EOF
Each prints one JSON line on stdout.
"""

from __future__ import annotations

import json
import sys


def claim(url: str, queue: str, worker: str, lock_key: str, half: str) -> dict:
    import psycopg
    from psycopg.types.json import Jsonb

    n = 0
    with psycopg.connect(url, autocommit=True) as con:
        while True:
            if n == int(half):
                con.execute("SELECT pg_advisory_lock(%s)", (int(lock_key),))
                con.execute("SELECT pg_advisory_unlock(%s)", (int(lock_key),))
            row = con.execute(
                "SELECT task_id FROM absurd.claim_task(%s, %s)", (queue, worker)
            ).fetchone()
            if row is None:
                return {"claimed": n}
            done = con.execute(
                "SELECT absurd.complete_task(%s, %s)", (row[0], Jsonb({"by": worker}))
            ).fetchone()[0]
            if not done:
                return {"claimed": n, "error": f"complete_task refused {row[0]}"}
            n += 1


def retry(url: str, task_id: str) -> dict:
    import psycopg

    with psycopg.connect(url, autocommit=True) as con:
        ok = con.execute("SELECT absurd.retry_task(%s)", (task_id,)).fetchone()[0]
        status, attempt, worker, error = con.execute(
            "SELECT status, attempt, worker_id, error FROM absurd.tasks WHERE task_id = %s",
            (task_id,),
        ).fetchone()
    return {"ok": ok, "status": status, "attempt": attempt, "worker_id": worker, "error": error}


def start(data_dir: str) -> dict:
    from dsa110_ws.demo.queue.cluster import start_cluster

    if sys.stdin.readline().strip() != "go":
        return {"error": "no go"}
    cluster = start_cluster(data_dir)
    print(json.dumps({"pid": cluster.pid, "started": cluster.started}), flush=True)
    sys.stdin.read()  # the parent closes stdin when we may leave; atexit then stops
    return {"left": True}


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    out = {"claim": claim, "retry": retry, "start": start}[command](*args)
    print(json.dumps(out), flush=True)
