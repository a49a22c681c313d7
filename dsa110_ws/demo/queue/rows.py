"""Rows of the demo day outside ``absurd.tasks``: the workflow, the schedules, the ingestion
groups and their subband files (written with plain SQL, as the pipeline writes them)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from dsa110_ws.demo.queue.plan import GROUP_ERROR, DayPlan, TaskPlan

__all__ = [
    "update_workflow",
    "insert_schedules",
    "insert_ingestion",
    "schedule_truth",
    "ingestion_truth",
    "group_state",
]


def update_workflow(con, plan: DayPlan, workflow_id, ts: Callable) -> None:
    """Progress of the workflow as its tasks stand (spawning bumps total_tasks, each completion
    completed_tasks)."""
    tasks = [plan.tasks[i] for i in plan.workflow["task_indices"]]
    con.execute(
        "UPDATE absurd.workflows SET status = 'running', created_at = %s, started_at = %s, "
        "total_tasks = %s, completed_tasks = %s, failed_tasks = %s WHERE workflow_id = %s",
        (
            ts(plan.workflow["created"]),
            ts(plan.workflow["started"]),
            len(tasks),
            sum(t.status == "completed" for t in tasks),
            sum(t.status == "failed" for t in tasks),
            workflow_id,
        ),
    )


def insert_schedules(con, plan: DayPlan, queue: str, jsonb, ts: Callable) -> None:
    rows = [
        (
            s["name"],
            s["description"],
            queue,
            s["task_name"],
            jsonb(s["params"]),
            s["cron_expression"],
            s["state"],
            ts(s["last_run_at"]),
            ts(s["next_run_at"]),
            ts(s["created_at"]),
            ts(s["updated_at"]),
        )
        for s in plan.schedules
    ]
    with con.cursor() as cur:
        cur.executemany(
            "INSERT INTO absurd.scheduled_tasks (name, description, queue_name, "
            "task_name, params, cron_expression, state, last_run_at, next_run_at, "
            "created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
            "%s)",
            rows,
        )


def group_state(group: dict) -> tuple[str, float | None, float, str | None]:
    """(state, completed_at, updated_at, error_message) of an ingestion group."""
    last_file = max(group["recorded"].values())
    normalize: TaskPlan | None = group.get("normalize")
    convert: TaskPlan | None = group.get("convert")
    if normalize is None:
        return "collecting", None, last_file, None
    if normalize.status == "pending":
        return "pending", None, last_file, None
    if normalize.status == "failed":
        return "failed", normalize.end, normalize.end, GROUP_ERROR
    if convert is not None and convert.status == "claimed":
        return "converting", None, convert.attempts[-1].claimed, None
    assert convert is not None  # a normalised group that is not converting was converted
    return "completed", convert.end, convert.end, None


def insert_ingestion(con, plan: DayPlan, ts: Callable) -> None:
    groups, files = [], []
    for g in plan.groups:
        state, completed, updated, error = group_state(g)
        ms_path = g["ms_path"] if state == "completed" else None
        groups.append(
            (
                g["group_id"],
                state,
                len(g["files"]),
                plan.day.dec_deg,
                ts(min(g["recorded"].values())),
                ts(updated),
                ts(completed),
                ms_path,
                error,
            )
        )
        files += [
            (g["group_id"], sb, path, ts(g["recorded"][sb])) for sb, path in g["files"].items()
        ]
    with con.cursor() as cur:
        cur.executemany(
            "INSERT INTO absurd.ingestion_groups (group_id, state, subband_count, "
            "dec_deg, created_at, updated_at, completed_at, ms_path, error_message) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            groups,
        )
        cur.executemany(
            "INSERT INTO absurd.ingestion_subbands (group_id, subband_idx, file_path, "
            "recorded_at) VALUES (%s, %s, %s, %s)",
            files,
        )


def schedule_truth(plan: DayPlan, iso: Callable) -> dict:
    now = plan.day.now_unix
    by_state: dict[str, list[str]] = {}
    for s in plan.schedules:
        by_state.setdefault(s["state"], []).append(s["name"])
    return {
        "names": [s["name"] for s in plan.schedules],
        "by_state": by_state,
        "overdue": [
            {
                "name": s["name"],
                "next_run_at": iso(s["next_run_at"]),
                "overdue_s": now - s["next_run_at"],
            }
            for s in plan.schedules
            if s["state"] == "active" and s["next_run_at"] and s["next_run_at"] < now
        ],
    }


def ingestion_truth(plan: DayPlan) -> dict:
    states = {g["group_id"]: group_state(g) for g in plan.groups}
    return {
        "groups_by_state": dict(Counter(s[0] for s in states.values())),
        "n_subband_files": sum(len(g["files"]) for g in plan.groups),
        "missing_subbands": {
            g["group_id"]: sorted(set(range(16)) - set(g["files"]))
            for g in plan.groups
            if len(g["files"]) < 16
        },
        "failed": {gid: s[3] for gid, s in states.items() if s[0] == "failed"},
    }
