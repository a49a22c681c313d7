"""Jobs, batch jobs and batch job items.

Read side: ``find``/``get`` and GROUP BY aggregates for summaries.  Write side: methods
taking an open SQLAlchemy connection ``con`` (from :meth:`Database.transaction`, used by
operator actions through ``services._operator.perform``); they never commit themselves.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa

from dsa110_ws.core.time import TimeLike
from dsa110_ws.repositories._base import DEFAULT_LIMIT, Repository

__all__ = ["JobRepository", "BatchJobRepository", "BatchJobItemRepository"]


def _one(con: Any, sql: str, params: dict[str, Any]) -> dict[str, Any] | None:
    row = con.execute(sa.text(sql), params).mappings().first()
    return None if row is None else dict(row)


def _marks(prefix: str, values: Sequence[Any]) -> tuple[str, dict[str, Any]]:
    """``:p0, :p1, ...`` placeholders and their parameters (``NULL`` for an empty list)."""
    params = {f"{prefix}{i}": v for i, v in enumerate(values)}
    return (", ".join(f":{k}" for k in params) or "NULL"), params


class JobRepository(Repository):
    """The ``jobs`` table.  Status is the stored one (pending, running, done/completed, failed)."""

    table = "jobs"
    order = "created_at DESC, id DESC"

    def find(
        self,
        *,
        status: str | list[str] | None = None,
        type: str | list[str] | None = None,  # noqa: A002
        ms_path: str | list[str] | None = None,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        limit: int | None = DEFAULT_LIMIT,
    ) -> pd.DataFrame:
        """Jobs by status, type, MS, or creation time in [start, end)."""
        w = self.where().eq("status", status).eq("type", type).eq("ms_path", ms_path)
        w.unix_range("created_at", start, end, now=self._now)
        return self._select(w, limit=limit)

    def summary(
        self, *, start: TimeLike | None = None, end: TimeLike | None = None
    ) -> pd.DataFrame:
        """Jobs created in [start, end) grouped by ``type`` and stored ``status``.

        Columns: type, status, n, mean_duration_s, max_duration_s (finished - started,
        seconds; null when no job of the group has both times).
        """
        w = self.where().unix_range("created_at", start, end, now=self._now)
        return self.db.query(
            "SELECT type, status, COUNT(*) AS n, "
            "AVG(finished_at - started_at) AS mean_duration_s, "
            "MAX(finished_at - started_at) AS max_duration_s "
            f"FROM jobs{w.sql()} GROUP BY type, status ORDER BY type, status",
            w.params,
        )

    # -- write side (inside an operator transaction) ---------------------------------
    def get_in(self, con: Any, job_id: int) -> dict[str, Any] | None:
        """One job row read through the transaction's connection (``None`` if absent)."""
        return _one(con, "SELECT * FROM jobs WHERE id = :id", {"id": int(job_id)})

    def find_in(self, con: Any, *, type: str, status: str, ms_path: str | None) -> list[dict]:  # noqa: A002
        """Jobs of a type and status for an MS (``None`` matches a null MS), oldest first."""
        where = "ms_path IS NULL" if ms_path is None else "ms_path = :ms"
        rows = con.execute(
            sa.text(f"SELECT * FROM jobs WHERE type = :t AND status = :s AND {where} ORDER BY id"),
            {"t": type, "s": status, "ms": ms_path},
        )
        return [dict(r) for r in rows.mappings().all()]

    def insert(self, con: Any, row: dict[str, Any]) -> int:
        """Insert one job row (keys are column names); returns its id."""
        cols = [c for c in row if c in self.columns()]
        sql = (
            f"INSERT INTO jobs ({', '.join(cols)}) VALUES ({', '.join(':' + c for c in cols)}) "
            "RETURNING id"
        )
        return int(con.execute(sa.text(sql), {c: row[c] for c in cols}).scalar_one())

    def set_status(
        self,
        con: Any,
        job_id: int,
        status: str,
        *,
        logs: str | None = None,
        finished_at: float | None = None,
    ) -> int:
        """Set a job's status (and optionally its logs and finish time); rows changed."""
        sets, params = ["status = :status"], {"status": status, "id": int(job_id)}
        if logs is not None:
            sets.append("logs = :logs")
            params["logs"] = logs
        if finished_at is not None:
            sets.append("finished_at = :fin")
            params["fin"] = finished_at
        return con.execute(
            sa.text(f"UPDATE jobs SET {', '.join(sets)} WHERE id = :id"), params
        ).rowcount


class BatchJobRepository(Repository):
    """The ``batch_jobs`` table (status: pending, running, done, failed, partial, cancelled)."""

    table = "batch_jobs"
    order = "created_at DESC, id DESC"

    def find(
        self,
        *,
        status: str | list[str] | None = None,
        type: str | list[str] | None = None,  # noqa: A002
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        limit: int | None = DEFAULT_LIMIT,
    ) -> pd.DataFrame:
        w = self.where().eq("status", status).eq("type", type)
        w.unix_range("created_at", start, end, now=self._now)
        return self._select(w, limit=limit)

    def items(
        self,
        batch_id: int,
        *,
        status: str | list[str] | None = None,
        limit: int | None = DEFAULT_LIMIT,
    ) -> pd.DataFrame:
        """The items of one batch."""
        return BatchJobItemRepository(self.db, clock=self._clock).find(
            batch_id=batch_id, status=status, limit=limit
        )

    def counts_by_status(
        self, *, start: TimeLike | None = None, end: TimeLike | None = None
    ) -> pd.DataFrame:
        """Batches created in [start, end) per stored status: columns status, n."""
        w = self.where().unix_range("created_at", start, end, now=self._now)
        return self.db.query(
            f"SELECT status, COUNT(*) AS n FROM batch_jobs{w.sql()} GROUP BY status "
            "ORDER BY status",
            w.params,
        )

    # -- write side ----------------------------------------------------------------------
    def get_in(self, con: Any, batch_id: int) -> dict[str, Any] | None:
        return _one(con, "SELECT * FROM batch_jobs WHERE id = :id", {"id": int(batch_id)})

    def insert(
        self,
        con: Any,
        *,
        type: str,
        created_at: float,
        params: str,  # noqa: A002
        total_items: int,
        status: str = "pending",
    ) -> int:
        """A new batch row with zero completed/failed items; returns its id."""
        return int(
            con.execute(
                sa.text(
                    "INSERT INTO batch_jobs (type, created_at, status, total_items, completed_items, "
                    "failed_items, params) VALUES (:type, :created_at, :status, :total, 0, 0, :params) "
                    "RETURNING id"
                ),
                {
                    "type": type,
                    "created_at": created_at,
                    "status": status,
                    "total": int(total_items),
                    "params": params,
                },
            ).scalar_one()
        )

    def set_status(self, con: Any, batch_id: int, status: str) -> int:
        return con.execute(
            sa.text("UPDATE batch_jobs SET status = :s WHERE id = :id"),
            {"s": status, "id": int(batch_id)},
        ).rowcount

    def refresh_counts(
        self,
        con: Any,
        batch_id: int,
        *,
        done: Iterable[str] = ("done", "completed"),
        failed: Iterable[str] = ("failed",),
    ) -> int:
        """Recompute ``total_items``/``completed_items``/``failed_items`` from the items."""
        dm, dp = _marks("d", list(done))
        fm, fp = _marks("f", list(failed))
        sql = (
            "UPDATE batch_jobs SET "
            "total_items = (SELECT COUNT(*) FROM batch_job_items WHERE batch_id = :id), "
            "completed_items = (SELECT COUNT(*) FROM batch_job_items WHERE batch_id = :id "
            f"AND status IN ({dm})), "
            "failed_items = (SELECT COUNT(*) FROM batch_job_items WHERE batch_id = :id "
            f"AND status IN ({fm})) WHERE id = :id"
        )
        return con.execute(sa.text(sql), {"id": int(batch_id), **dp, **fp}).rowcount


class BatchJobItemRepository(Repository):
    """The ``batch_job_items`` table; ``ms_path`` is the item key (an MS, image or caltable)."""

    table = "batch_job_items"
    order = "batch_id, id"

    def find(
        self,
        *,
        batch_id: int | list[int] | None = None,
        status: str | list[str] | None = None,
        ms_path: str | list[str] | None = None,
        limit: int | None = DEFAULT_LIMIT,
    ) -> pd.DataFrame:
        w = self.where().eq("batch_id", batch_id).eq("status", status).eq("ms_path", ms_path)
        return self._select(w, limit=limit)

    def counts_by_batch(self, batch_ids: Sequence[int]) -> pd.DataFrame:
        """Items per (batch_id, status) for the given batches: columns batch_id, status, n."""
        if not len(batch_ids):
            return pd.DataFrame({"batch_id": [], "status": [], "n": []})
        marks, params = _marks("b", [int(b) for b in batch_ids])
        self.columns()
        return self.db.query(
            f"SELECT batch_id, status, COUNT(*) AS n FROM batch_job_items WHERE batch_id IN "
            f"({marks}) GROUP BY batch_id, status ORDER BY batch_id, status",
            params,
        )

    # -- write side ----------------------------------------------------------------------
    def get_in(self, con: Any, item_id: int) -> dict[str, Any] | None:
        return _one(con, "SELECT * FROM batch_job_items WHERE id = :id", {"id": int(item_id)})

    def list_in(self, con: Any, batch_id: int) -> list[dict[str, Any]]:
        """Every item of a batch (id order), read through the transaction's connection."""
        rows = (
            con.execute(
                sa.text("SELECT * FROM batch_job_items WHERE batch_id = :b ORDER BY id"),
                {"b": int(batch_id)},
            )
            .mappings()
            .all()
        )
        return [dict(r) for r in rows]

    def insert_many(self, con: Any, batch_id: int, items: Sequence[dict[str, Any]]) -> int:
        """Insert items (keys: ms_path, data_id, status, job_id) for a batch; returns count."""
        rows = [
            {
                "b": int(batch_id),
                "ms_path": it.get("ms_path"),
                "data_id": it.get("data_id"),
                "status": it.get("status", "pending"),
                "job_id": it.get("job_id"),
            }
            for it in items
        ]
        if rows:
            con.execute(
                sa.text(
                    "INSERT INTO batch_job_items (batch_id, ms_path, data_id, status, job_id) "
                    "VALUES (:b, :ms_path, :data_id, :status, :job_id)"
                ),
                rows,
            )
        return len(rows)

    def transition(
        self,
        con: Any,
        batch_id: int,
        *,
        from_status: Sequence[str],
        to_status: str,
        reset: bool = False,
    ) -> int:
        """Move a batch's items in ``from_status`` to ``to_status``; rows changed.

        ``reset`` also clears error, start and completion times (for a retry).
        """
        marks, params = _marks("s", list(from_status))
        extra = ", error = NULL, started_at = NULL, completed_at = NULL" if reset else ""
        return con.execute(
            sa.text(
                f"UPDATE batch_job_items SET status = :to{extra} WHERE batch_id = :b "
                f"AND status IN ({marks})"
            ),
            {"to": to_status, "b": int(batch_id), **params},
        ).rowcount

    def claim(self, con: Any, batch_id: int, item_ids: Sequence[int], *, at: float) -> list[int]:
        """Mark the still-pending items among ``item_ids`` running (``started_at`` = at);
        returns the ids this call claimed (others were taken or cancelled meanwhile)."""
        marks, params = _marks("i", [int(i) for i in item_ids])
        params["b"] = int(batch_id)
        rows = (
            con.execute(
                sa.text(
                    f"SELECT id FROM batch_job_items WHERE batch_id = :b AND status = 'pending' "
                    f"AND id IN ({marks}) ORDER BY id"
                ),
                params,
            )
            .scalars()
            .all()
        )
        got = [int(r) for r in rows]
        if got:
            m2, p2 = _marks("c", got)
            con.execute(
                sa.text(
                    f"UPDATE batch_job_items SET status = 'running', "
                    f"started_at = :at WHERE id IN ({m2})"
                ),
                {"at": float(at), **p2},
            )
        return got

    def update(
        self,
        con: Any,
        item_id: int,
        *,
        status: str,
        error: str | None = None,
        started_at: float | None = None,
        completed_at: float | None = None,
    ) -> int:
        """Record one item's progress (times left unchanged when not given)."""
        return con.execute(
            sa.text(
                "UPDATE batch_job_items SET status = :s, error = :e, "
                "started_at = COALESCE(:st, started_at), completed_at = COALESCE(:ct, completed_at) "
                "WHERE id = :id"
            ),
            {"s": status, "e": error, "st": started_at, "ct": completed_at, "id": int(item_id)},
        ).rowcount
