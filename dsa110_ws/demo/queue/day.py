"""A demo day of task-queue activity, written the way the workers write it.

:func:`fill_queue` replays :func:`queue_plan.plan_day` through the stored functions only
(``spawn_task``, ``claim_task`` by one of two workers, ``complete_task``, ``fail_task``,
``cancel_task``, ``retry_task``; exhausted tasks are copied to the dead-letter queue as the
pipeline's worker did), then adds the workflow, schedules and ingestion rows.

The functions stamp ``now()``, i.e. the wall clock of the fill.  Afterwards every task's
``created_at``, ``claimed_at``, ``completed_at``, ``wait_time_sec`` (claimed - created) and
``execution_time_sec`` (completed - claimed) are moved onto the demo's timeline, relative to its
frozen clock, with exactly the values the functions would have written had the day happened
then (e.g. a retried task keeps the completion time of its failed attempt, as in a
deployment).  Task ids are random (``uuid_generate_v4``); everything else is fixed by the seed.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from dsa110_ws.demo.queue.db import QUEUE, connect, ensure_database, to_conninfo
from dsa110_ws.demo.queue.plan import DayPlan, QueueDay, TaskPlan, plan_day
from dsa110_ws.errors import NotPermittedError, SchemaMismatchError

__all__ = ["fill_queue", "make_queue_state", "queue_url_for", "start_queue_server", "QUEUE_DIRNAME"]

#: The embedded server's directory inside a demo state.
QUEUE_DIRNAME = "queue-pg"


def _ts(unix: float | None) -> datetime | None:
    return None if unix is None else datetime.fromtimestamp(unix, UTC)


def _iso(unix: float | None) -> str | None:
    return None if unix is None else datetime.fromtimestamp(unix, UTC).isoformat()


def fill_queue(
    url: str, *, seed: int = 42, day: QueueDay | None = None, queue: str = QUEUE
) -> dict:
    """Fill an empty task-queue database with a realistic day; returns what was made.

    Parameters
    ----------
    url
        Database with schema ``absurd`` (see ``queue_db.ensure_database``) and no tasks,
        schedules or ingestion groups yet.
    seed
        Fixes every time, worker and outcome.
    day
        The SQLite demo's facts to agree with (night, frozen clock, MS paths, MS and ingestion
        states); default ``QueueDay.for_demo()``.  Use ``QueueDay.from_truth(truth)`` for a
        generated demo state.
    queue
        Queue name; the dead-letter queue is ``<queue>-dlq``.

    Returns
    -------
    dict
        The truth: counts per status per queue, the stuck, failed, dead-lettered and retried
        tasks, the workflow, schedules and ingestion groups (times as ISO 8601 UTC).
    """
    from psycopg.types.json import Jsonb

    t0 = time.perf_counter()
    with connect(url) as con:
        if con.execute(
            "SELECT EXISTS (SELECT 1 FROM absurd.tasks) OR EXISTS (SELECT 1 FROM "
            "absurd.scheduled_tasks) OR EXISTS (SELECT 1 FROM absurd.ingestion_groups)"
        ).fetchone()[0]:
            raise NotPermittedError(
                f"The task-queue database {url} already holds queue data; "
                "fill a fresh database (make_queue_state recreates one)."
            )
        plan = plan_day(day or QueueDay.for_demo(), seed=seed)
        run = _Replay(con, plan, queue, Jsonb)
        run.tasks()
        _move_onto_timeline(con, plan, run)
        _verify(con, plan, run)
        from dsa110_ws.demo.queue.rows import insert_ingestion, insert_schedules, update_workflow

        update_workflow(con, plan, run.workflow_id, _ts)
        insert_schedules(con, plan, queue, Jsonb, _ts)
        insert_ingestion(con, plan, _ts)
        con.commit()
        truth = _truth(con, plan, run, queue)
    truth["fill_seconds"] = round(time.perf_counter() - t0, 3)
    return truth


class _Replay:
    """Drives the stored functions through the plan, one task at a time, so that claim_task
    (highest priority, then oldest pending) always has exactly the intended task to give."""

    def __init__(self, con, plan: DayPlan, queue: str, jsonb):
        self.con, self.plan, self.queue, self.jsonb = con, plan, queue, jsonb
        self.ids: list[str | None] = [None] * len(plan.tasks)
        self.dead: dict[int, tuple[str, float]] = {}  # task index -> (dlq task id, created)
        self.workflow_id = self._one(
            "INSERT INTO absurd.workflows (name, description, metadata) "
            "VALUES (%s, %s, %s) RETURNING workflow_id",
            (plan.workflow["name"], plan.workflow["description"], jsonb(plan.workflow["metadata"])),
        )

    def _one(self, sql: str, args: tuple):
        return self.con.execute(sql, args).fetchone()[0]

    def _expect(self, ok: bool, what: str, task: TaskPlan) -> None:
        if not ok:
            raise SchemaMismatchError(
                f"absurd.{what} refused the {task.name} task of the demo "
                "plan; the database's absurd functions differ from "
                "absurd.sql: recreate the database.",
                table="tasks",
            )

    def spawn(self, i: int) -> str:
        t = self.plan.tasks[i]
        args = (self.queue, t.name, self.jsonb(t.params), t.priority, t.timeout_sec, t.max_retries)
        if t.in_workflow:
            deps = [self.ids[d] for d in t.deps]
            tid = self._one(
                "SELECT absurd.spawn_task_with_deps(%s, %s, %s, %s::uuid[], %s, %s, %s, %s)",
                (*args[:3], deps, self.workflow_id, *args[3:]),
            )
        else:
            tid = self._one("SELECT absurd.spawn_task(%s, %s, %s, %s, %s, %s)", args)
        self.ids[i] = str(tid)
        return str(tid)

    def tasks(self) -> None:
        """Phase 1: everything that was claimed or cancelled; phase 2: what is pending now."""
        later = []
        for i, t in enumerate(self.plan.tasks):
            if not t.attempts and t.cancelled_at is None:
                later.append(i)
                continue
            tid = self.spawn(i)
            if t.cancelled_at is not None:
                self._expect(self._one("SELECT absurd.cancel_task(%s)", (tid,)), "cancel_task", t)
            self._attempts(i, t, tid)
            if t.retried_at_end:
                later.append(i)
        for i in later:
            if self.ids[i] is None:
                self.spawn(i)
            else:
                self._expect(
                    self._one("SELECT absurd.retry_task(%s)", (self.ids[i],)),
                    "retry_task",
                    self.plan.tasks[i],
                )

    def _attempts(self, i: int, t: TaskPlan, tid: str) -> None:
        for k, a in enumerate(t.attempts):
            if k:
                self._expect(self._one("SELECT absurd.retry_task(%s)", (tid,)), "retry_task", t)
            row = self.con.execute(
                "SELECT task_id FROM absurd.claim_task(%s, %s)", (self.queue, a.worker)
            ).fetchone()
            self._expect(row is not None and str(row[0]) == tid, "claim_task", t)
            if a.finished is None:
                continue
            if a.error is None:
                result = {"status": "success", "outputs": t.params.get("inputs", {})}
                ok = self._one("SELECT absurd.complete_task(%s, %s)", (tid, self.jsonb(result)))
            else:
                ok = self._one("SELECT absurd.fail_task(%s, %s)", (tid, a.error))
            self._expect(ok, "complete_task" if a.error is None else "fail_task", t)
        if t.exhausted:
            refused = not self._one("SELECT absurd.retry_task(%s)", (tid,))
            self._expect(refused, "retry_task (past max_retries)", t)
            self._dead_letter(i, t, tid)

    def _dead_letter(self, i: int, t: TaskPlan, tid: str) -> None:
        """What the pipeline's worker did with an exhausted task: a copy in the DLQ."""
        last = t.attempts[-1]
        assert last.finished is not None  # an exhausted task's last attempt has finished
        when = last.finished + 0.4
        payload = {
            "original_task_id": tid,
            "original_task_name": t.name,
            "original_queue": self.queue,
            "params": t.params,
            "error": last.error,
            "retry_count": len(t.attempts),
            "dead_lettered_at": datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "worker_id": last.worker,
        }
        dlq_id = self._one(
            "SELECT absurd.spawn_task(%s, 'dead-letter', %s, 0)",
            (f"{self.queue}-dlq", self.jsonb(payload)),
        )
        self.dead[i] = (str(dlq_id), when)


def _times(t: TaskPlan) -> tuple:
    """(created, claimed, completed, wait, execution) as the functions leave them."""
    done = [a for a in t.attempts if a.finished is not None]
    last = done[-1] if done else None
    claimed = None if t.retried_at_end or not t.attempts else t.attempts[-1].claimed
    completed = t.cancelled_at if t.cancelled_at is not None else last.finished if last else None
    wait = last.claimed - t.created if last else None
    run = last.finished - last.claimed if last and last.finished is not None else None
    return t.created, claimed, completed, wait, run


def _move_onto_timeline(con, plan: DayPlan, run: _Replay) -> None:
    rows = []
    for i, t in enumerate(plan.tasks):
        created, claimed, completed, wait, execution = _times(t)
        rows.append((_ts(created), _ts(claimed), _ts(completed), wait, execution, run.ids[i]))
    rows += [(_ts(when), None, None, None, None, dlq_id) for dlq_id, when in run.dead.values()]
    with con.cursor() as cur:
        cur.executemany(
            "UPDATE absurd.tasks SET created_at = %s, claimed_at = %s, "
            "completed_at = %s, wait_time_sec = %s, execution_time_sec = %s "
            "WHERE task_id = %s",
            rows,
        )


def _verify(con, plan: DayPlan, run: _Replay) -> None:
    """The rows must say what the plan says (status, attempt, worker, error)."""
    got = {
        str(r[0]): r[1:]
        for r in con.execute(
            "SELECT task_id, status, attempt, worker_id, error FROM absurd.tasks "
            "WHERE task_id = ANY(%s::uuid[])",
            ([i for i in run.ids if i],),
        )
    }
    for i, t in enumerate(plan.tasks):
        last = t.attempts[-1] if t.attempts else None
        keep = last is not None and not t.retried_at_end
        want = (
            t.status,
            len(t.attempts),
            last.worker if keep and last else None,
            last.error if keep and last else None,
        )
        tid = run.ids[i] or ""
        if got.get(tid) != want:
            raise SchemaMismatchError(
                f"The {t.name} task reads {got.get(tid)}, expected "
                f"{want}; the absurd functions differ from absurd.sql: "
                "recreate the database.",
                table="tasks",
            )


def _truth(con, plan: DayPlan, run: _Replay, queue: str) -> dict:
    from dsa110_ws.demo.queue.rows import ingestion_truth, schedule_truth

    now = plan.day.now_unix
    counts: dict[str, dict[str, int]] = {queue: dict(Counter(t.status for t in plan.tasks))}
    counts[f"{queue}-dlq"] = {"pending": len(run.dead)} if run.dead else {}

    def entry(i: int, t: TaskPlan) -> dict:
        return {
            "task_id": run.ids[i],
            "task_name": t.name,
            "status": t.status,
            "attempt": len(t.attempts),
            "ms_path": t.params.get("inputs", {}).get("ms_path"),
            "error": t.attempts[-1].error if t.status == "failed" else None,
        }

    stuck = [
        {
            **entry(i, t),
            "claimed_at": _iso(t.attempts[-1].claimed),
            "timeout_sec": t.timeout_sec,
            "age_s": now - t.attempts[-1].claimed,
        }
        for i, t in enumerate(plan.tasks)
        if t.tag == "stuck"
    ]
    wf = [plan.tasks[i] for i in plan.workflow["task_indices"]]
    return {
        "queue": queue,
        "dlq_queue": f"{queue}-dlq",
        "now": _iso(now),
        "night": plan.day.night,
        "workers": sorted({a.worker for t in plan.tasks for a in t.attempts}),
        "n_tasks": len(plan.tasks) + len(run.dead),
        "counts": counts,
        "task_names": sorted({t.name for t in plan.tasks}),
        "stuck": stuck,
        "claimed": [entry(i, t) for i, t in enumerate(plan.tasks) if t.status == "claimed"],
        "failed": [
            {**entry(i, t), "exhausted": t.exhausted}
            for i, t in enumerate(plan.tasks)
            if t.status == "failed"
        ],
        "retried": [
            entry(i, t) for i, t in enumerate(plan.tasks) if len(t.attempts) > 1 or t.retried_at_end
        ],
        "cancelled": [entry(i, t) for i, t in enumerate(plan.tasks) if t.status == "cancelled"],
        "dead_letter": [
            {
                "task_id": d,
                "original_task_id": run.ids[i],
                "original_task_name": plan.tasks[i].name,
                "error": plan.tasks[i].attempts[-1].error,
            }
            for i, (d, _) in run.dead.items()
        ],
        "workflow": {
            "workflow_id": str(run.workflow_id),
            "name": plan.workflow["name"],
            "status": "running",
            "total_tasks": len(wf),
            "completed_tasks": sum(t.status == "completed" for t in wf),
            "task_ids": [run.ids[i] for i in plan.workflow["task_indices"]],
            "statuses": [t.status for t in wf],
        },
        "schedules": schedule_truth(plan, _iso),
        "ingestion": ingestion_truth(plan),
    }


def queue_url_for(demo_dir: str | Path, *, dbname: str | None = None) -> str:
    """The URL (libpq form) of a demo state's queue database once its server runs
    (``start_queue_server(demo_dir)``)."""
    from dsa110_ws.demo.queue.cluster import DEFAULT_DBNAME, PORT, socket_dir_for

    sockets = socket_dir_for(Path(demo_dir).expanduser().resolve() / QUEUE_DIRNAME)
    return f"postgresql://postgres@/{dbname or DEFAULT_DBNAME}?host={sockets}&port={PORT}"


def start_queue_server(demo_dir: str | Path, **kwargs):
    """Start (or attach to) the embedded server of a demo state; returns a ``PgCluster``."""
    from dsa110_ws.demo.queue.cluster import start_cluster

    return start_cluster(Path(demo_dir).expanduser() / QUEUE_DIRNAME, **kwargs)


def make_queue_state(
    demo_dir: str | Path, *, seed: int = 42, day: QueueDay | None = None, keep_running: bool = False
) -> dict:
    """Create ``<demo_dir>/queue-pg`` (server, database, schema), fill it, stop the server.

    The day agrees with the demo state's ``truth.json`` when there is one, else with
    ``QueueDay.for_demo(<demo_dir>/data)``.  The database is recreated, so the result always
    matches the returned truth (which adds ``url``, ``data_dir`` and ``server_start_seconds``).
    """
    demo_dir = Path(demo_dir).expanduser().resolve()
    if day is None:
        truth_file = demo_dir / "truth.json"
        day = (
            QueueDay.from_truth(json.loads(truth_file.read_text()))
            if truth_file.exists()
            else QueueDay.for_demo(demo_dir / "data")
        )
    cluster = start_queue_server(demo_dir)
    try:
        with connect(
            cluster.conninfo.replace(f"/{cluster.dbname}?", "/postgres?"), autocommit=True
        ) as con:
            con.execute(f'DROP DATABASE IF EXISTS "{cluster.dbname}" WITH (FORCE)')
        ensure_database(cluster.url)
        truth = fill_queue(cluster.url, seed=seed, day=day)
    finally:
        if not keep_running:
            cluster.stop()
    return {
        **truth,
        "url": to_conninfo(cluster.url),
        "data_dir": str(cluster.data_dir),
        "server_start_seconds": round(cluster.start_seconds, 3),
    }
