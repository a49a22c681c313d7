"""``absurd.tasks``: the queue's tasks, by the deployment's own columns and functions.

Read side: per-queue counts (``absurd.get_queue_stats``), filtered listings, one task,
stuck and dead-lettered tasks, workers, failures and timing percentiles.  Write side: the
deployment's ``absurd.retry_task`` and ``absurd.cancel_task`` inside an operator's
transaction.  "Now" is always the workspace clock, passed in (never the server's
``now()``), so a frozen demo clock and a live site read the same way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa

from dsa110_ws.repositories._base import DEFAULT_LIMIT, check_limit, finish
from dsa110_ws.repositories.queue._pg import QueueDatabase

__all__ = ["TaskRepository", "TASK_STATUSES", "TASK_COLUMNS"]

#: Statuses ``absurd.get_queue_stats`` counts, in its order.
TASK_STATUSES = ("pending", "claimed", "completed", "failed", "cancelled", "retrying")
#: Columns of a listing (the big ``params``/``result`` JSON are left to :meth:`get`).
TASK_COLUMNS = (
    "task_id",
    "queue_name",
    "task_name",
    "status",
    "priority",
    "timeout_sec",
    "worker_id",
    "attempt",
    "max_retries",
    "error",
    "created_at",
    "claimed_at",
    "completed_at",
    "wait_time_sec",
    "execution_time_sec",
    "workflow_id",
)
_VIEW = "the task-queue view"


def _in(prefix: str, values: Sequence[Any]) -> tuple[str, dict[str, Any]]:
    params = {f"{prefix}{i}": v for i, v in enumerate(values)}
    return ", ".join(f":{k}" for k in params) or "NULL", params


def _list(value: str | Sequence[str] | None) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else [str(v) for v in value]


class TaskRepository:
    """The ``absurd.tasks`` table."""

    def __init__(self, db: QueueDatabase):
        self.db = db

    def __repr__(self) -> str:
        return f"<TaskRepository over {self.db.describe()}>"

    def _cols(self) -> str:
        have = self.db.require("tasks", view=_VIEW)
        return ", ".join(c if c in have else f"NULL AS {c}" for c in TASK_COLUMNS)

    # -- counts --------------------------------------------------------------------------
    def queue_stats(self, queues: Sequence[str] = ()) -> pd.DataFrame:
        """One row per queue present (and per name in ``queues``, even if empty): queue_name,
        pending, claimed, completed, failed, cancelled, retrying, total.

        The counts are ``absurd.get_queue_stats``'s (a count per status; total = every row
        of the queue), for every queue from one pass over the table instead of one call
        per queue (the tests compare the two)."""
        self.db.require("tasks", view=_VIEW)
        df = self.db.read(
            "SELECT queue_name, status, count(*) AS n FROM absurd.tasks "
            "GROUP BY queue_name, status",
            what="counting tasks per queue",
        )
        names = sorted({*map(str, df["queue_name"]), *queues})
        counts = {(str(q), str(st)): int(n) for q, st, n in df.itertuples(index=False)}
        rows = []
        for q in names:
            row: dict[str, Any] = {"queue_name": q}
            row.update({st: counts.get((q, st), 0) for st in TASK_STATUSES})
            row["total"] = sum(n for (qq, _), n in counts.items() if qq == q)
            rows.append(row)
        return pd.DataFrame(rows, columns=["queue_name", *TASK_STATUSES, "total"])

    # -- listings ------------------------------------------------------------------------
    def find(
        self,
        *,
        queue: str | Sequence[str] | None = None,
        status: str | Sequence[str] | None = None,
        task_name: str | Sequence[str] | None = None,
        worker: str | Sequence[str] | None = None,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
        limit: int | None = DEFAULT_LIMIT,
    ) -> pd.DataFrame:
        """Tasks newest first (``created_at`` in [start, end)), filtered by queue, status,
        task name and worker (a list means any of)."""
        limit = check_limit(limit)
        clauses: list[str] = []
        params: dict[str, Any] = {}
        for col, value, prefix in (
            ("queue_name", queue, "q"),
            ("status", status, "s"),
            ("task_name", task_name, "n"),
            ("worker_id", worker, "w"),
        ):
            values = _list(value)
            if values is not None:
                marks, p = _in(prefix, values)
                clauses.append(f"{col} IN ({marks})")
                params.update(p)
        if start is not None:
            clauses.append("created_at >= :start")
            params["start"] = start
        if end is not None:
            clauses.append("created_at < :end")
            params["end"] = end
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        sql = f"SELECT {self._cols()} FROM absurd.tasks{where} ORDER BY created_at DESC"
        if limit is not None:
            sql += " LIMIT :_limit"
            params["_limit"] = limit + 1
        return finish(
            self.db.read(sql, params, what="listing tasks"), table="absurd.tasks", limit=limit
        )

    def get(self, task_id: str) -> dict[str, Any] | None:
        """Every column of one task (``None`` when there is none)."""
        self.db.require("tasks", view=_VIEW)
        df = self.db.read(
            "SELECT * FROM absurd.tasks WHERE task_id = CAST(:id AS uuid)",
            {"id": task_id},
            what="reading a task",
        )
        return None if df.empty else df.iloc[0].to_dict()

    def stuck(
        self, *, now: dt.datetime, default_timeout_s: float, limit: int | None = DEFAULT_LIMIT
    ) -> pd.DataFrame:
        """Claimed tasks older than their own ``timeout_sec`` (else ``default_timeout_s``),
        oldest first, with ``age_s`` and the ``limit_s`` applied."""
        limit = check_limit(limit)
        sql = (
            f"SELECT {self._cols()}, EXTRACT(EPOCH FROM (:now - claimed_at))::float8 AS age_s, "
            "COALESCE(timeout_sec, :dflt)::float8 AS limit_s FROM absurd.tasks "
            "WHERE status = 'claimed' AND claimed_at IS NOT NULL "
            "AND claimed_at < :now - make_interval(secs => COALESCE(timeout_sec, :dflt)) "
            "ORDER BY claimed_at"
        )
        params: dict[str, Any] = {"now": now, "dflt": float(default_timeout_s)}
        if limit is not None:
            sql += " LIMIT :_limit"
            params["_limit"] = limit + 1
        return finish(
            self.db.read(sql, params, what="finding stuck tasks"),
            table="absurd.tasks (stuck)",
            limit=limit,
        )

    def dead_letter(self, *, dlq: str, limit: int | None = DEFAULT_LIMIT) -> pd.DataFrame:
        """Tasks in the dead-letter queue and failed tasks that used every retry
        (``attempt >= max_retries``), newest first; ``why`` says which."""
        limit = check_limit(limit)
        sql = (
            f"SELECT {self._cols()}, CASE WHEN queue_name = :dlq THEN 'dead-letter queue' "
            "ELSE 'retries exhausted' END AS why FROM absurd.tasks "
            "WHERE queue_name = :dlq OR (status = 'failed' AND attempt >= max_retries) "
            "ORDER BY created_at DESC"
        )
        params: dict[str, Any] = {"dlq": dlq}
        if limit is not None:
            sql += " LIMIT :_limit"
            params["_limit"] = limit + 1
        return finish(
            self.db.read(sql, params, what="reading dead-lettered tasks"),
            table="absurd.tasks (dead letters)",
            limit=limit,
        )

    def workers(self, *, start: dt.datetime, now: dt.datetime) -> pd.DataFrame:
        """Every worker seen since ``start`` (a claim in the window, or a task it still
        holds): running, last_claim, done, failed."""
        self.db.require("tasks", view=_VIEW)
        return self.db.read(
            "SELECT worker_id, count(*) FILTER (WHERE status = 'claimed') AS running, "
            "max(claimed_at) AS last_claim, "
            "count(*) FILTER (WHERE status = 'completed') AS done, "
            "count(*) FILTER (WHERE status = 'failed') AS failed FROM absurd.tasks "
            "WHERE worker_id IS NOT NULL AND ((claimed_at >= :start AND claimed_at < :now) "
            "OR status = 'claimed') GROUP BY worker_id ORDER BY worker_id",
            {"start": start, "now": now},
            what="summarising workers",
        )

    def failed(
        self, *, start: dt.datetime, end: dt.datetime, limit: int | None = 10_000
    ) -> pd.DataFrame:
        """Failed tasks that finished in [start, end): task_id, queue_name, task_name,
        worker_id, attempt, max_retries, error, completed_at (for grouping by cause)."""
        limit = check_limit(limit)
        self.db.require("tasks", view=_VIEW)
        sql = (
            "SELECT task_id, queue_name, task_name, worker_id, attempt, max_retries, error, "
            "completed_at FROM absurd.tasks WHERE status = 'failed' AND "
            "completed_at >= :start AND completed_at < :end ORDER BY completed_at DESC"
        )
        params: dict[str, Any] = {"start": start, "end": end}
        if limit is not None:
            sql += " LIMIT :_limit"
            params["_limit"] = limit + 1
        return finish(
            self.db.read(sql, params, what="reading failed tasks"),
            table="absurd.tasks (failed)",
            limit=limit,
        )

    def durations(self, *, start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
        """Per task name, of tasks finished in [start, end): n, wait and execution time
        percentiles p50/p90/p99 (seconds)."""
        self.db.require("tasks", view=_VIEW)
        q = "percentile_cont(ARRAY[0.5, 0.9, 0.99]) WITHIN GROUP (ORDER BY {c})"
        df = self.db.read(
            f"SELECT task_name, count(*) AS n, {q.format(c='wait_time_sec')} AS wait_p, "
            f"{q.format(c='execution_time_sec')} AS exec_p FROM absurd.tasks "
            "WHERE completed_at >= :start AND completed_at < :end "
            "AND status IN ('completed', 'failed') GROUP BY task_name ORDER BY task_name",
            {"start": start, "end": end},
            what="computing task timings",
        )
        out = df[["task_name", "n"]].copy()
        for col, name in (("wait_p", "wait"), ("exec_p", "exec")):
            for k, p in enumerate(("p50", "p90", "p99")):
                out[f"{name}_{p}_s"] = [v[k] if v is not None else None for v in df[col]]
        return out

    def oldest_pending(self, queue: str | None = None) -> pd.Timestamp | None:
        """``created_at`` of the oldest pending task never claimed (of ``queue`` when given;
        ``None`` when none waits).  A retried task is left out: the deployment does not
        record when ``absurd.retry_task`` put it back, so its wait is unknown."""
        self.db.require("tasks", view=_VIEW)
        where = "status = 'pending' AND attempt = 0" + (
            " AND queue_name = :q" if queue is not None else ""
        )
        df = self.db.read(
            f"SELECT min(created_at) AS t FROM absurd.tasks WHERE {where}",
            {} if queue is None else {"q": queue},
            what="finding the oldest pending task",
        )
        value = df["t"].iloc[0]
        return None if pd.isna(value) else pd.Timestamp(value)

    def count(
        self,
        *,
        queue: str | None = None,
        status: str | None = None,
        finished_since: dt.datetime | None = None,
        finished_before: dt.datetime | None = None,
    ) -> int:
        """Tasks of a queue and status, optionally finished in [since, before)."""
        self.db.require("tasks", view=_VIEW)
        clauses: list[str] = ["TRUE"]
        params: dict[str, Any] = {}
        if queue is not None:
            clauses.append("queue_name = :q")
            params["q"] = queue
        if status is not None:
            clauses.append("status = :s")
            params["s"] = status
        if finished_since is not None:
            clauses.append("completed_at >= :since")
            params["since"] = finished_since
        if finished_before is not None:
            clauses.append("completed_at < :before")
            params["before"] = finished_before
        df = self.db.read(
            f"SELECT count(*) AS n FROM absurd.tasks WHERE {' AND '.join(clauses)}",
            params,
            what="counting tasks",
        )
        return int(df["n"].iloc[0])

    # -- write side (inside QueueDatabase.transaction) -------------------------------------
    @staticmethod
    def state_in(con: sa.Connection, task_id: str) -> dict[str, Any] | None:
        """status, attempt, max_retries, worker_id of one task, read in a write transaction."""
        row = (
            con.execute(
                sa.text(
                    "SELECT task_id, task_name, queue_name, status, attempt, max_retries, worker_id "
                    "FROM absurd.tasks WHERE task_id = CAST(:id AS uuid) FOR UPDATE"
                ),
                {"id": task_id},
            )
            .mappings()
            .first()
        )
        return None if row is None else dict(row)

    @staticmethod
    def retry_in(con: sa.Connection, task_id: str) -> bool:
        """``absurd.retry_task``: the deployment's rule decides (TRUE when it retried)."""
        return bool(
            con.execute(
                sa.text("SELECT absurd.retry_task(CAST(:id AS uuid))"), {"id": task_id}
            ).scalar()
        )

    @staticmethod
    def cancel_in(con: sa.Connection, task_id: str) -> bool:
        """``absurd.cancel_task``: the deployment's rule decides (TRUE when it cancelled)."""
        return bool(
            con.execute(
                sa.text("SELECT absurd.cancel_task(CAST(:id AS uuid))"), {"id": task_id}
            ).scalar()
        )
