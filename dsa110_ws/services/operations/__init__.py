"""Operations: jobs, operator actions, the queues, logs, health, calibration health, stats.

The public surface of the operations domain; everything else in this package is private
to it.  Services: :class:`JobService` (``w.jobs``), :class:`OperatorActions`
(``w.actions``), :class:`TaskQueueService` (``w.tasks``), :class:`IngestionService`
(``w.ingest``), :class:`LogService` (``w.logs``),
:class:`HealthService` (``w.health``), :class:`CalibrationHealthService`
(``w.calhealth``), :class:`StatsService` (``w.stats``), :class:`WallService` (``w.wall``)
and :class:`DashboardKernels` (``w.kernels``: the dashboards' kernels and their memory).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dsa110_ws.services.operations._calrecords import (
        CalHealthReport,
        CalTimeline,
        NearestSet,
    )
    from dsa110_ws.services.operations._command import CommandResult
    from dsa110_ws.services.operations._common import MS_STAGES, parse_log_line, status_class
    from dsa110_ws.services.operations._records import (
        BatchInfo,
        JobInfo,
        JobSummary,
        PeriodSummary,
    )
    from dsa110_ws.services.operations.actions import RERUN_JOB_TYPE, OperatorActions
    from dsa110_ws.services.operations.calhealth import (
        FLUX_SUMMARY_COLUMNS,
        CalibrationHealthService,
        staleness_class,
    )
    from dsa110_ws.services.operations.health import (
        DSA110_SERVICE_CHECKS,
        CheckResult,
        HealthReport,
        HealthService,
    )
    from dsa110_ws.services.operations.ingest import INGESTION_STATES, IngestionService
    from dsa110_ws.services.operations.jobs import JobService, parse_job_id
    from dsa110_ws.services.operations.kernels import DashboardKernels, KernelInfo
    from dsa110_ws.services.operations.logs import LOG_COLUMNS, RUN_ID_PATTERN, LogService
    from dsa110_ws.services.operations.stats import StatsService
    from dsa110_ws.services.operations.tasks import (
        NOT_CONFIGURED,
        QueueNotConfigured,
        TaskInfo,
        TaskQueueService,
    )
    from dsa110_ws.services.operations.wall import WallService, WallTile

__all__ = [
    "DashboardKernels",
    "KernelInfo",
    "JobService",
    "OperatorActions",
    "IngestionService",
    "TaskQueueService",
    "TaskInfo",
    "QueueNotConfigured",
    "NOT_CONFIGURED",
    "LogService",
    "HealthService",
    "CalibrationHealthService",
    "StatsService",
    "WallService",
    "WallTile",
    "JobInfo",
    "JobSummary",
    "BatchInfo",
    "PeriodSummary",
    "CheckResult",
    "HealthReport",
    "CalHealthReport",
    "CalTimeline",
    "NearestSet",
    "CommandResult",
    "FLUX_SUMMARY_COLUMNS",
    "DSA110_SERVICE_CHECKS",
    "INGESTION_STATES",
    "LOG_COLUMNS",
    "MS_STAGES",
    "RERUN_JOB_TYPE",
    "RUN_ID_PATTERN",
    "parse_job_id",
    "parse_log_line",
    "staleness_class",
    "status_class",
]

#: Public name -> the module of this package defining it (imported on first use).
_DEFINED_IN: dict[str, str] = {
    "DashboardKernels": "kernels",
    "KernelInfo": "kernels",
    "JobService": "jobs",
    "parse_job_id": "jobs",
    "OperatorActions": "actions",
    "RERUN_JOB_TYPE": "actions",
    "IngestionService": "ingest",
    "INGESTION_STATES": "ingest",
    "TaskQueueService": "tasks",
    "TaskInfo": "tasks",
    "QueueNotConfigured": "tasks",
    "NOT_CONFIGURED": "tasks",
    "LogService": "logs",
    "LOG_COLUMNS": "logs",
    "RUN_ID_PATTERN": "logs",
    "HealthService": "health",
    "CheckResult": "health",
    "HealthReport": "health",
    "DSA110_SERVICE_CHECKS": "health",
    "CalibrationHealthService": "calhealth",
    "FLUX_SUMMARY_COLUMNS": "calhealth",
    "staleness_class": "calhealth",
    "StatsService": "stats",
    "WallService": "wall",
    "WallTile": "wall",
    "JobInfo": "_records",
    "JobSummary": "_records",
    "BatchInfo": "_records",
    "PeriodSummary": "_records",
    "CalHealthReport": "_calrecords",
    "CalTimeline": "_calrecords",
    "NearestSet": "_calrecords",
    "CommandResult": "_command",
    "MS_STAGES": "_common",
    "parse_log_line": "_common",
    "status_class": "_common",
}


def __getattr__(name: str) -> Any:
    module = _DEFINED_IN.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
