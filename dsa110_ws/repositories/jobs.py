"""Jobs, batch jobs and batch job items (read side)."""

from __future__ import annotations

import pandas as pd

from dsa110_ws._util.timeparse import TimeLike
from dsa110_ws.repositories._base import DEFAULT_LIMIT, Repository

__all__ = ["JobRepository", "BatchJobRepository", "BatchJobItemRepository"]


class JobRepository(Repository):
    """The ``jobs`` table.  Status is the stored one (pending, running, done/completed, failed)."""

    table = "jobs"
    order = "created_at DESC, id DESC"

    def find(self, *, status: str | list[str] | None = None, type: str | list[str] | None = None,  # noqa: A002
             ms_path: str | list[str] | None = None, start: TimeLike = None,
             end: TimeLike = None, limit: int | None = DEFAULT_LIMIT) -> pd.DataFrame:
        """Jobs by status, type, MS, or creation time in [start, end)."""
        w = self.where().eq("status", status).eq("type", type).eq("ms_path", ms_path)
        w.unix_range("created_at", start, end, now=self._now)
        return self._select(w, limit=limit)


class BatchJobRepository(Repository):
    """The ``batch_jobs`` table (status: pending, running, done, failed, partial, cancelled)."""

    table = "batch_jobs"
    order = "created_at DESC, id DESC"

    def find(self, *, status: str | list[str] | None = None, type: str | list[str] | None = None,  # noqa: A002
             start: TimeLike = None, end: TimeLike = None,
             limit: int | None = DEFAULT_LIMIT) -> pd.DataFrame:
        w = self.where().eq("status", status).eq("type", type)
        w.unix_range("created_at", start, end, now=self._now)
        return self._select(w, limit=limit)

    def items(self, batch_id: int, *, status: str | list[str] | None = None,
              limit: int | None = DEFAULT_LIMIT) -> pd.DataFrame:
        """The items of one batch."""
        return BatchJobItemRepository(self.db, now=self._now).find(
            batch_id=batch_id, status=status, limit=limit)


class BatchJobItemRepository(Repository):
    """The ``batch_job_items`` table; ``ms_path`` is the item key (an MS, image or caltable)."""

    table = "batch_job_items"
    order = "batch_id, id"

    def find(self, *, batch_id: int | list[int] | None = None,
             status: str | list[str] | None = None, ms_path: str | list[str] | None = None,
             limit: int | None = DEFAULT_LIMIT) -> pd.DataFrame:
        w = self.where().eq("batch_id", batch_id).eq("status", status).eq("ms_path", ms_path)
        return self._select(w, limit=limit)
