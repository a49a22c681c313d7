"""One task of the queue as a frozen record, and the words for a refused action."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from typing import Any

import pandas as pd

__all__ = ["TaskInfo", "refusal"]

_TIMES = ("created_at", "claimed_at", "completed_at")


def _time(value: Any) -> dt.datetime | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return None
    return pd.Timestamp(value).to_pydatetime()


def _num(value: Any) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


@dataclasses.dataclass(frozen=True)
class TaskInfo:
    """One ``absurd.tasks`` row with the deployment's column names, and ``age_s`` (how long
    a claimed task has been held, on the workspace clock), ``ms_path`` (from params) and,
    where the pipeline has a job on that MS, ``job_id`` and ``log_excerpt``."""

    task_id: str
    queue_name: str
    task_name: str
    status: str
    params: dict[str, Any]
    priority: int | None
    timeout_sec: int | None
    worker_id: str | None
    attempt: int
    max_retries: int
    result: Any
    error: str | None
    created_at: dt.datetime | None
    claimed_at: dt.datetime | None
    completed_at: dt.datetime | None
    wait_time_sec: float | None
    execution_time_sec: float | None
    depends_on: tuple[str, ...]
    workflow_id: str | None
    age_s: float | None
    #: The newest pipeline job on the task's MS (``jobs.id``) and the end of its log.
    job_id: int | None = None
    log_excerpt: str | None = None

    @property
    def ms_path(self) -> str | None:
        """The Measurement Set the task works on, when its params name one."""
        inputs = self.params.get("inputs") if isinstance(self.params, dict) else None
        for source in (inputs or {}, self.params or {}):
            for key in ("ms_path", "input_path"):
                value = source.get(key) if isinstance(source, dict) else None
                if isinstance(value, str) and value.endswith(".ms"):
                    return value
        return None

    @classmethod
    def from_row(cls, row: dict[str, Any], *, now: dt.datetime) -> TaskInfo:
        times = {k: _time(row.get(k)) for k in _TIMES}
        claimed = times["claimed_at"]
        age = (
            (now - claimed).total_seconds() if row.get("status") == "claimed" and claimed else None
        )
        wf = row.get("workflow_id")
        return cls(
            task_id=str(row["task_id"]),
            queue_name=str(row["queue_name"]),
            task_name=str(row["task_name"]),
            status=str(row["status"]),
            params=dict(row.get("params") or {}),
            priority=None if row.get("priority") is None else int(row["priority"]),
            timeout_sec=None if _num(row.get("timeout_sec")) is None else int(row["timeout_sec"]),
            worker_id=row.get("worker_id") or None,
            attempt=int(row.get("attempt") or 0),
            max_retries=int(row.get("max_retries") or 0),
            result=row.get("result"),
            error=row.get("error") or None,
            created_at=times["created_at"],
            claimed_at=claimed,
            completed_at=times["completed_at"],
            wait_time_sec=_num(row.get("wait_time_sec")),
            execution_time_sec=_num(row.get("execution_time_sec")),
            depends_on=tuple(str(d) for d in (row.get("depends_on") or [])),
            workflow_id=None
            if wf is None or (isinstance(wf, float) and math.isnan(wf))
            else str(wf),
            age_s=age,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly (times as ISO UTC), the deployment's column names."""
        d = dataclasses.asdict(self)
        for k in _TIMES:
            d[k] = None if d[k] is None else d[k].isoformat()
        d["depends_on"] = list(self.depends_on)
        d["ms_path"] = self.ms_path
        return d


def refusal(verb: str, task_id: str, state: dict[str, Any]) -> str:
    """Why the deployment's function refused ``verb`` (retry or cancel), from the task's
    state read in the same transaction."""
    status, name = state.get("status"), state.get("task_name")
    attempt, most = state.get("attempt"), state.get("max_retries")
    what = f"Task {task_id} ({name}) is {status}"
    if verb == "retry":
        if status in ("failed", "cancelled"):
            return (
                f"{what} and has used {attempt} of its {most} attempts: absurd.retry_task "
                "refuses a retry past max_retries; spawn a new task instead."
            )
        return f"{what}: only failed or cancelled tasks can be retried."
    held = f" (held by {state.get('worker_id')})" if status == "claimed" else ""
    return (
        f"{what}{held}: only pending or retrying tasks can be cancelled; a claimed task "
        "finishes or fails on its worker."
    )
