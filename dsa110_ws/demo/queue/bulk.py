"""Many tasks at once, for speed benchmarks of code that reads the task queue.

:func:`bulk_load_tasks` writes ``n`` rows into ``absurd.tasks`` with one server-side
``INSERT ... SELECT FROM generate_series`` (no per-row round trips): years of a deployment's
history at the demo's rate, with the day's mix of task names and a realistic status mix (old
tasks finished, only the newest pending or claimed).  It bypasses the stored functions; the
rows are filled the way the functions would leave them.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from dsa110_ws.demo.queue.db import QUEUE, connect
from dsa110_ws.demo.queue.plan import WORKERS
from dsa110_ws.errors import InvalidQueryError

__all__ = ["bulk_load_tasks", "NAME_WEIGHTS"]

#: Share (per 100 tasks) of each task name, as in the demo day.
NAME_WEIGHTS = {
    "ingest-subband": 50,
    "scan-ingestion-directory": 17,
    "health-check": 4,
    "session-cleanup": 4,
    "backup-database": 4,
    "normalize-group": 3,
    "convert-group": 3,
    "calibration-apply": 3,
    "imaging": 2,
    "validation": 2,
    "crossmatch": 2,
    "photometry": 2,
    "pipeline-job": 1,
    "housekeeping": 1,
    "calibration-solve": 1,
    "catalog-setup": 1,
}

_SQL = """
INSERT INTO absurd.tasks (task_id, queue_name, task_name, params, priority, timeout_sec, status, worker_id,
                          attempt, max_retries, result, error, created_at, claimed_at,
                          completed_at, wait_time_sec, execution_time_sec)
SELECT gen_random_uuid(), %(queue)s, name,
       jsonb_build_object('inputs', jsonb_build_object('ms_path', ms)),
       CASE WHEN name IN ('normalize-group', 'convert-group') THEN 10
            WHEN name = 'ingest-subband' THEN 5 ELSE 0 END,
       CASE WHEN name IN ('imaging', 'convert-group') THEN 3600 END,
       status,
       CASE WHEN status IN ('claimed', 'completed', 'failed') THEN (%(workers)s::text[])[1 + (i %% 2)] END,
       CASE WHEN status IN ('pending', 'cancelled') THEN 0 WHEN r3 < 0.03 THEN 2 ELSE 1 END,
       3,
       CASE WHEN status = 'completed' THEN '{"status": "success"}'::jsonb END,
       CASE WHEN status <> 'failed' THEN NULL
            WHEN r3 < 0.5 THEN 'RuntimeError: Error (Resource temporarily unavailable) when '
                               || 'acquiring lock on ' || ms || '/table.lock'
            ELSE (%(errors)s::text[])[1 + floor(r2 * %(n_errors)s)::int] END,
       created,
       CASE WHEN status IN ('claimed', 'completed', 'failed') THEN created + wait END,
       CASE WHEN status IN ('completed', 'failed') THEN created + wait + run
            WHEN status = 'cancelled' THEN created + wait END,
       CASE WHEN status IN ('completed', 'failed') THEN extract(epoch FROM wait) END,
       CASE WHEN status IN ('completed', 'failed') THEN extract(epoch FROM run) END
FROM (SELECT *, %(root)s || to_char(created, 'YYYY-MM-DD') || '/'
                || to_char(created, 'YYYY-MM-DD"T"HH24:MI:SS') || '.ms' AS ms FROM (
    SELECT i, r2, r3,
           (%(names)s::text[])[1 + floor(r2 * %(n_names)s)::int] AS name,
           CASE WHEN i > %(n)s - %(recent)s THEN
                    CASE WHEN r < 0.6 THEN 'pending' WHEN r < 0.8 THEN 'claimed' ELSE 'completed' END
                WHEN r < 0.945 THEN 'completed' WHEN r < 0.99 THEN 'failed' ELSE 'cancelled' END
               AS status,
           %(now)s::timestamptz - make_interval(secs => (%(n)s - i + r) * %(step)s) AS created,
           make_interval(secs => 0.3 + 30 * r3 * r3) AS wait,
           make_interval(secs => 0.4 + 1800 * r2 * r2 * r2) AS run
      FROM (SELECT i, random() AS r, random() AS r2, random() AS r3
              FROM generate_series(1, %(n)s) AS i) AS draws
 OFFSET 0) AS planned OFFSET 0) AS rows
"""

_ERRORS = [  # besides table locks on the task's own MS (half of the failures)
    "TimeoutError: imaging exceeded timeout_sec=3600 and was killed after 3600 s",
    "tclean failed: Measurement Set has no unflagged data in spw 1",
    "bandpass: insufficient unflagged solutions for antenna 8 (SNR < 3)",
    "OSError: [Errno 28] No space left on device",
    "sqlite3.OperationalError: database is locked",
]


def bulk_load_tasks(
    url: str,
    n: int,
    *,
    seed: int = 42,
    queue: str = QUEUE,
    now: datetime | None = None,
    per_day: int = 540,
    root: str = "/stage/dsa110-contimg/ms/",
) -> dict:
    """Append ``n`` tasks to ``queue``, ending at ``now``; returns counts and the time taken.

    Parameters
    ----------
    url
        Database with schema ``absurd``.
    n
        Rows to write (1,000,000 is about five years at ``per_day``).
    seed
        Seeds PostgreSQL's ``random()`` (``setseed``), so a load is repeatable (ids aside).
    now
        Time of the newest task; default the demo's frozen clock, 2026-11-14T17:53:20 UTC.
    per_day
        Tasks per day, which spaces ``created_at``.

    Returns
    -------
    dict
        ``{"n": n, "by_status": {...}, "seconds": load time}``.
    """
    if n < 1:
        raise InvalidQueryError(f"bulk_load_tasks needs n >= 1 (got {n}).")
    names = [name for name, w in NAME_WEIGHTS.items() for _ in range(w)]
    args = {
        "queue": queue,
        "n": n,
        "recent": min(n, 50),
        "step": 86400.0 / per_day,
        "now": now or datetime(2026, 11, 14, 17, 53, 20, tzinfo=UTC),
        "names": names,
        "n_names": len(names),
        "workers": list(WORKERS),
        "errors": _ERRORS,
        "n_errors": len(_ERRORS),
        "root": root,
    }
    t0 = time.perf_counter()
    with connect(url) as con:
        con.execute("SET LOCAL synchronous_commit = off")
        con.execute("SET LOCAL TimeZone = 'UTC'")
        con.execute("SET LOCAL maintenance_work_mem = '256MB'")
        con.execute("SELECT setseed(%s)", (((seed % 2000) - 1000) / 1000.0,))
        # Building the indexes once afterwards is much faster than updating them per row; all
        # in one transaction, so readers never see the table without them.
        indexes = con.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = "
            "'absurd' AND tablename = 'tasks' AND indexname <> 'tasks_pkey'"
        ).fetchall()
        for name, _ in indexes:
            con.execute(f'DROP INDEX absurd."{name}"')
        con.execute("ALTER TABLE absurd.tasks DROP CONSTRAINT tasks_pkey")
        con.execute(_SQL, args)
        con.execute("ALTER TABLE absurd.tasks ADD CONSTRAINT tasks_pkey PRIMARY KEY (task_id)")
        for _, definition in indexes:
            con.execute(definition)
        by_status = dict(
            con.execute(
                "SELECT status, count(*) FROM absurd.tasks WHERE queue_name = %s GROUP BY status",
                (queue,),
            ).fetchall()
        )
        con.commit()
    return {"n": n, "by_status": by_status, "seconds": round(time.perf_counter() - t0, 3)}
