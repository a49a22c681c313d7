"""The task queue's PostgreSQL database (schema ``absurd``): the only SQL that reads or writes it.

:class:`QueueDatabase` holds the connection (read-only, time-bounded reads; audited writes);
one repository per concern: :class:`TaskRepository` (``absurd.tasks``),
:class:`WorkflowRepository`, :class:`ScheduleRepository` and
:class:`QueueIngestionRepository` (``absurd.ingestion_groups`` / ``ingestion_subbands``).
"""

from __future__ import annotations

from dsa110_ws.repositories.queue._pg import SCHEMA, QueueDatabase
from dsa110_ws.repositories.queue.tasks import TASK_COLUMNS, TASK_STATUSES, TaskRepository
from dsa110_ws.repositories.queue.workflows import (
    QueueIngestionRepository,
    ScheduleRepository,
    WorkflowRepository,
)

__all__ = [
    "QueueDatabase",
    "QueueRepositories",
    "TaskRepository",
    "WorkflowRepository",
    "ScheduleRepository",
    "QueueIngestionRepository",
    "TASK_STATUSES",
    "TASK_COLUMNS",
    "SCHEMA",
]


class QueueRepositories:
    """The queue database's repositories, built once over one :class:`QueueDatabase`."""

    def __init__(self, db: QueueDatabase):
        self.db = db
        self.tasks = TaskRepository(db)
        self.workflows = WorkflowRepository(db)
        self.schedules = ScheduleRepository(db)
        self.ingestion = QueueIngestionRepository(db)

    def __repr__(self) -> str:
        return f"<QueueRepositories over {self.db.describe()}>"
