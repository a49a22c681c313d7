"""The demo's cron schedules (``absurd.scheduled_tasks``) and the tasks they spawned that day.

The first seven are the pipeline's default maintenance schedules; the others drive ingestion
scans, housekeeping, the nightly mosaic and file organisation.  A deployment puts the
maintenance ones on a queue named ``maintenance``; the demo keeps every task on the pipeline
queue.  One active schedule is overdue (the scheduler missed its last run), one is paused and
one disabled.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dsa110_ws.demo.queue.plan import _Planner

__all__ = ["SCHEDULES", "OVERDUE", "cron_times", "plan_schedules"]

#: name, task name, cron expression (UTC), params, state, description
SCHEDULES = [
    (
        "hourly_database_backup",
        "backup-database",
        "0 * * * *",
        {"inputs": {"backup_type": "hourly"}},
        "active",
        "Hourly SQLite backup, 7-day retention",
    ),
    (
        "daily_database_backup",
        "backup-database",
        "0 3 * * *",
        {"inputs": {"backup_type": "daily"}},
        "active",
        "Daily SQLite backup, 30-day retention",
    ),
    (
        "daily_caltables_backup",
        "backup-caltables",
        "0 3 * * *",
        {},
        "active",
        "Daily calibration tables backup",
    ),
    (
        "daily_storage_reconciliation",
        "storage-reconciliation",
        "0 2 * * *",
        {"inputs": {"do_reconcile": False, "sync_threshold": 95.0}},
        "active",
        "Daily storage validation and sync check",
    ),
    (
        "hourly_health_check",
        "health-check",
        "15 * * * *",
        {},
        "active",
        "Hourly system health check",
    ),
    (
        "hourly_session_cleanup",
        "session-cleanup",
        "30 * * * *",
        {"inputs": {"max_age_hours": 24}},
        "active",
        "Hourly expired session cleanup",
    ),
    (
        "daily_data_retention_cleanup",
        "data-retention-cleanup",
        "0 4 * * *",
        {"inputs": {"ms_retention_days": 30, "image_retention_days": 90}},
        "active",
        "Daily old data cleanup according to retention policy",
    ),
    (
        "ingestion_directory_scan",
        "scan-ingestion-directory",
        "*/15 * * * *",
        {},
        "active",
        "Find new subband files in the incoming directory",
    ),
    (
        "housekeeping",
        "housekeeping",
        "0 */6 * * *",
        {},
        "active",
        "Remove stale temporary files and orphaned work directories",
    ),
    (
        "nightly_mosaic",
        "mosaic-nightly",
        "0 16 * * *",
        {"inputs": {"tier": "quicklook"}},
        "active",
        "Mosaic of the night's snapshots",
    ),
    (
        "daily_organize_files",
        "organize-files",
        "0 5 * * *",
        {},
        "active",
        "Move finished products into the dated archive layout",
    ),
    (
        "weekly_deep_mosaic",
        "mosaic-pipeline",
        "0 6 * * 0",
        {"inputs": {"tier": "deep"}},
        "paused",
        "Weekly deep mosaic (paused while the disk is nearly full)",
    ),
    (
        "legacy_nightly_pipeline_run",
        "pipeline-run",
        "0 12 * * *",
        {},
        "disabled",
        "Old batch trigger, replaced by streaming ingestion",
    ),
]

#: The active schedule whose last run was missed (next_run_at lies before "now").
OVERDUE = "hourly_health_check"
_CREATED = datetime(2026, 10, 1, 18, 0, tzinfo=UTC).timestamp()


def _field(spec: str, value: int) -> bool:
    for part in spec.split(","):
        if part == "*" or (part.startswith("*/") and value % int(part[2:]) == 0):
            return True
        if part.isdigit() and int(part) == value:
            return True
    return False


def cron_times(expr: str, start: float, end: float) -> list[float]:
    """Times in ``(start, end]`` (Unix s, UTC) matching a 5-field cron expression
    (``*``, ``*/n``, ``n`` and lists; weekday 0 = Sunday)."""
    minute, hour, dom, month, dow = expr.split()
    t = (int(start) // 60 + 1) * 60
    out = []
    while t <= end:
        d = datetime.fromtimestamp(t, UTC)
        if (
            _field(minute, d.minute)
            and _field(hour, d.hour)
            and _field(dom, d.day)
            and _field(month, d.month)
            and _field(dow, (d.weekday() + 1) % 7)
        ):
            out.append(float(t))
        t += 60
    return out


def _outcomes(task_name: str, night: str) -> tuple:
    from dsa110_ws.demo.queue.plan import DISK_ERROR

    if task_name == "backup-caltables":
        return (DISK_ERROR.format(night=night),)
    if task_name == "organize-files":
        return ("sqlite3.OperationalError: database is locked", None)
    return (None,)


def plan_schedules(p: _Planner) -> list[dict]:
    """Spawn the day's scheduled tasks into the plan; return the scheduled_tasks rows."""
    now = p.day.now_unix
    rows = []
    for name, task_name, cron, params, state, description in SCHEDULES:
        assert isinstance(params, dict)
        fires = cron_times(cron, now - 86400.0, now) if state == "active" else []
        if name == OVERDUE:
            fires = fires[:-1]
        for k, t in enumerate(fires):
            last = k == len(fires) - 1
            pending = last and task_name == "scan-ingestion-directory"
            outcomes = () if pending else _outcomes(task_name, p.day.night)
            task = p.add(task_name, params, t + p.rng.uniform(0.05, 1.5), outcomes=outcomes)
            if task_name == "mosaic-nightly":
                _nightly_mosaic(p, task)
        before = cron_times(cron, now - 8 * 86400.0, now - 86400.0)
        last_run = fires[-1] if fires else (before[-1] if before and state == "paused" else None)
        following = cron_times(cron, last_run, last_run + 8 * 86400.0) if last_run else []
        rows.append(
            {
                "name": name,
                "description": description,
                "task_name": task_name,
                "params": params,
                "cron_expression": cron,
                "state": state,
                "last_run_at": last_run,
                "next_run_at": following[0] if following else None,
                "created_at": _CREATED,
                "updated_at": last_run or _CREATED,
            }
        )
    return rows


def _nightly_mosaic(p: _Planner, nightly) -> None:
    """The nightly mosaic spawns create-mosaic, which ran into its timeout."""
    from dsa110_ws.demo.queue.plan import TIMEOUT_ERROR

    params = {
        "inputs": {
            "name": f"nightly_{p.day.night}",
            "tier": "quicklook",
            "images": len(p.day.ms_paths),
        }
    }
    p.add(
        "create-mosaic",
        params,
        nightly.end + 1.0,
        timeout=3600,
        outcomes=(TIMEOUT_ERROR.format(name="create-mosaic", timeout=3600),),
    )
