"""``absurd.workflows``, ``absurd.scheduled_tasks`` and ``absurd.ingestion_*``.

Each table is optional in a real deployment (the workflow migration, the scheduler and the
ingestion code create theirs when they first run): a missing one makes only its own view
unavailable, with a message naming the table.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from dsa110_ws.repositories._base import DEFAULT_LIMIT, check_limit, finish
from dsa110_ws.repositories.queue._pg import QueueDatabase

__all__ = ["WorkflowRepository", "ScheduleRepository", "QueueIngestionRepository"]


def _limited(
    db: QueueDatabase, sql: str, params: dict[str, Any], *, table: str, limit: int | None, what: str
) -> pd.DataFrame:
    limit = check_limit(limit)
    if limit is not None:
        sql += " LIMIT :_limit"
        params = {**params, "_limit": limit + 1}
    return finish(db.read(sql, params, what=what), table=table, limit=limit)


class WorkflowRepository:
    """``absurd.workflows`` and the dependency graph of their tasks."""

    def __init__(self, db: QueueDatabase):
        self.db = db

    def find(self, *, status: str | None = None, limit: int | None = DEFAULT_LIMIT) -> pd.DataFrame:
        """Workflows newest first, with their tasks counted by status (n_tasks, n_completed,
        n_failed, n_claimed, n_pending) next to the stored counters."""
        self.db.require("workflows", view="the workflow view")
        self.db.require("tasks", view="the workflow view")
        where = "WHERE w.status = :status" if status else ""
        sql = (
            "SELECT w.*, count(t.task_id) AS n_tasks, "
            "count(t.task_id) FILTER (WHERE t.status = 'completed') AS n_completed, "
            "count(t.task_id) FILTER (WHERE t.status = 'failed') AS n_failed, "
            "count(t.task_id) FILTER (WHERE t.status = 'claimed') AS n_claimed, "
            "count(t.task_id) FILTER (WHERE t.status = 'pending') AS n_pending "
            "FROM absurd.workflows AS w LEFT JOIN absurd.tasks AS t "
            f"ON t.workflow_id = w.workflow_id {where} GROUP BY w.workflow_id "
            "ORDER BY w.created_at DESC"
        )
        return _limited(
            self.db,
            sql,
            {"status": status},
            table="absurd.workflows",
            limit=limit,
            what="listing workflows",
        )

    def tasks(self, workflow_id: str) -> pd.DataFrame:
        """The tasks of one workflow with their ``depends_on`` lists, in creation order."""
        self.db.require("tasks", view="the workflow graph")
        return self.db.read(
            "SELECT task_id, task_name, status, worker_id, attempt, created_at, claimed_at, "
            "completed_at, depends_on FROM absurd.tasks "
            "WHERE workflow_id = CAST(:id AS uuid) ORDER BY created_at, task_id",
            {"id": workflow_id},
            what="reading a workflow's tasks",
        )


class ScheduleRepository:
    """``absurd.scheduled_tasks``."""

    def __init__(self, db: QueueDatabase):
        self.db = db

    def find(self, *, now: dt.datetime) -> pd.DataFrame:
        """Every schedule, with ``overdue`` (active and its next run is before ``now``) and
        ``overdue_s``."""
        self.db.require("scheduled_tasks", view="the schedules view")
        return self.db.read(
            "SELECT schedule_id, name, description, queue_name, task_name, cron_expression, "
            "timezone, state, last_run_at, next_run_at, "
            "(state = 'active' AND next_run_at < :now) AS overdue, "
            "CASE WHEN state = 'active' AND next_run_at < :now "
            "THEN EXTRACT(EPOCH FROM (:now - next_run_at))::float8 END AS overdue_s "
            "FROM absurd.scheduled_tasks ORDER BY next_run_at NULLS LAST, name",
            {"now": now},
            what="listing schedules",
        )


class QueueIngestionRepository:
    """``absurd.ingestion_groups`` / ``ingestion_subbands``: UVH5 subband groups."""

    def __init__(self, db: QueueDatabase):
        self.db = db

    @property
    def available(self) -> bool:
        """Whether this deployment has the ingestion tables (the ingestion code creates them
        when it first runs)."""
        return self.db.has_table("ingestion_groups")

    def groups(
        self,
        *,
        state: str | list[str] | None = None,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
        limit: int | None = DEFAULT_LIMIT,
    ) -> pd.DataFrame:
        """Groups newest first with the subband indices received (``received``, a sorted
        list) and the time of the last file (``last_file_at``)."""
        self.db.require("ingestion_groups", view="the ingestion view")
        have_sb = self.db.has_table("ingestion_subbands")
        clauses: list[str] = ["TRUE"]
        params: dict[str, Any] = {}
        if state is not None:
            states = [state] if isinstance(state, str) else list(state)
            clauses.append("g.state = ANY(:states)")
            params["states"] = states
        if start is not None:
            clauses.append("g.created_at >= :start")
            params["start"] = start
        if end is not None:
            clauses.append("g.created_at < :end")
            params["end"] = end
        sub = (
            "(SELECT array_agg(s.subband_idx ORDER BY s.subband_idx) FROM "
            "absurd.ingestion_subbands AS s WHERE s.group_id = g.group_id) AS received, "
            "(SELECT max(s.recorded_at) FROM absurd.ingestion_subbands AS s "
            "WHERE s.group_id = g.group_id) AS last_file_at"
            if have_sb
            else "NULL AS received, NULL AS last_file_at"
        )
        sql = (
            f"SELECT g.*, {sub} FROM absurd.ingestion_groups AS g "
            f"WHERE {' AND '.join(clauses)} ORDER BY g.created_at DESC"
        )
        return _limited(
            self.db,
            sql,
            params,
            table="absurd.ingestion_groups",
            limit=limit,
            what="listing ingestion groups",
        )

    def counts_by_state(
        self, *, start: dt.datetime | None = None, end: dt.datetime | None = None
    ) -> pd.DataFrame:
        """Groups per state (created in [start, end) when given): columns state, n."""
        self.db.require("ingestion_groups", view="the ingestion view")
        clauses, params = ["TRUE"], {}
        if start is not None:
            clauses.append("created_at >= :start")
            params["start"] = start
        if end is not None:
            clauses.append("created_at < :end")
            params["end"] = end
        return self.db.read(
            f"SELECT state, count(*) AS n FROM absurd.ingestion_groups WHERE "
            f"{' AND '.join(clauses)} GROUP BY state ORDER BY state",
            params,
            what="counting ingestion groups",
        )
