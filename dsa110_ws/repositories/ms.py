"""Measurement Set index and state machine tables, and observation-time aggregates."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from dsa110_ws.core.time import TimeLike
from dsa110_ws.errors import InvalidQueryError
from dsa110_ws.repositories._base import DEFAULT_LIMIT, Repository, check_limit, finish

__all__ = ["MSIndexRepository", "MSStateRepository"]

#: What ``binned_counts`` can count, keyed on the observation time of the MS (``mid_mjd``).
_BINNED_FROM = {
    "ms": ("ms_index AS m", ("ms_index",)),
    "images": ("ms_index AS m JOIN images AS i ON i.ms_path = m.path", ("ms_index", "images")),
    # photometry rows per image through the image_path index (no table rows are read)
    "photometry": (
        "ms_index AS m JOIN images AS i ON i.ms_path = m.path "
        "JOIN photometry AS p ON p.image_path = i.path",
        ("ms_index", "images", "photometry"),
    ),
}


def _in_list(prefix: str, values: Sequence[Any]) -> tuple[str, dict[str, Any]]:
    params = {f"{prefix}{i}": v for i, v in enumerate(values)}
    return (", ".join(f":{k}" for k in params) or "NULL"), params


class MSIndexRepository(Repository):
    """The ``ms_index`` table: one row per Measurement Set, keyed by path."""

    table = "ms_index"
    order = "mid_mjd, path"

    def find(
        self,
        *,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        stage: str | list[str] | None = None,
        status: str | list[str] | None = None,
        group_id: str | list[str] | None = None,
        field_name: str | list[str] | None = None,
        path: str | list[str] | None = None,
        limit: int | None = DEFAULT_LIMIT,
    ) -> pd.DataFrame:
        """MS rows by observation time (``mid_mjd`` in [start, end)), stage, status, group."""
        w = self.where().mjd_range("mid_mjd", start, end, now=self._now)
        w.eq("stage", stage).eq("status", status).eq("group_id", group_id)
        w.eq("field_name", field_name).eq("path", path)
        return self._select(w, limit=limit)

    def counts_by(
        self, column: str, *, start: TimeLike | None = None, end: TimeLike | None = None
    ) -> pd.DataFrame:
        """MS observed in [start, end) per ``stage`` or ``status``: columns <column>, n."""
        if column not in {"stage", "status"}:
            raise InvalidQueryError(f"Cannot count MS by {column!r}; use 'stage' or 'status'.")
        w = self.where().mjd_range("mid_mjd", start, end, now=self._now)
        w._col(column)
        return self.db.query(
            f"SELECT {column}, COUNT(*) AS n FROM ms_index{w.sql()} "
            f"GROUP BY {column} ORDER BY n DESC",
            w.params,
        )

    def with_state(
        self,
        *,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        path: str | list[str] | None = None,
        limit: int | None = DEFAULT_LIMIT,
    ) -> pd.DataFrame:
        """MS rows (observed in [start, end)) joined with their ``ms_state`` row.

        Adds current_state, previous_state, transition_time, retry_count and error_message
        (all null when the database has no ``ms_state`` table or no row for the MS).
        """
        limit = check_limit(limit)
        w = self.where(alias="m").mjd_range("mid_mjd", start, end, now=self._now)
        w.eq("path", path)
        if self.db.has_table("ms_state"):
            state = (
                "s.current_state, s.previous_state, s.transition_time, s.retry_count, "
                "s.error_message"
            )
            frm = "ms_index AS m LEFT JOIN ms_state AS s ON s.ms_path = m.path"
        else:
            state = (
                "NULL AS current_state, NULL AS previous_state, NULL AS transition_time, "
                "NULL AS retry_count, NULL AS error_message"
            )
            frm = "ms_index AS m"
        sql = (
            f"SELECT m.path, m.mid_mjd, m.stage, m.status, m.stage_updated_at, m.group_id, "
            f"m.created_at, {state} FROM {frm}{w.sql()} ORDER BY m.mid_mjd DESC, m.path"
        )
        params = dict(w.params)
        if limit is not None:
            sql += " LIMIT :_limit"
            params["_limit"] = limit + 1
        return finish(self.db.query(sql, params), table="ms_index + ms_state", limit=limit)

    def stalled(self, *, before_unix: float, exclude: Sequence[str]) -> pd.DataFrame:
        """MS whose stage (not in ``exclude``) last changed before ``before_unix``.

        Fallback for databases without ``ms_state``: uses ``stage`` and ``stage_updated_at``.
        """
        marks, params = _in_list("x", list(exclude))
        w = self.where().cmp("stage_updated_at", "<", float(before_unix))
        w.raw(f"(stage IS NULL OR stage NOT IN ({marks}))", **params)
        return self.db.query(
            "SELECT path AS ms_path, stage AS current_state, NULL AS previous_state, "
            "stage_updated_at AS transition_time, NULL AS retry_count, NULL AS error_message, "
            f"stage, status, mid_mjd FROM ms_index{w.sql()} ORDER BY stage_updated_at",
            w.params,
        )

    def binned_counts(
        self, what: str, *, lo_mjd: float, hi_mjd: float, width_days: float
    ) -> pd.DataFrame:
        """Counts per time bin keyed on the MS observation time (``mid_mjd``).

        ``what`` is ``"ms"``, ``"images"`` (images of those MS) or ``"photometry"`` (rows
        measured on those images).  Bins are [lo + k * width, lo + (k + 1) * width) in MJD;
        columns: bin (k), n.  Rows whose MS has no ``ms_index`` row are not counted.
        """
        if what not in _BINNED_FROM:
            raise InvalidQueryError(f"Cannot bin {what!r}; choose one of {sorted(_BINNED_FROM)}.")
        if not width_days > 0 or not hi_mjd > lo_mjd:
            raise InvalidQueryError("Bins need a positive width and end > start.")
        frm, tables = _BINNED_FROM[what]
        for t in tables:
            self.db.columns(t)
        return self.db.query(
            f"SELECT CAST((m.mid_mjd - :lo) / :w AS INTEGER) AS bin, COUNT(*) AS n FROM {frm} "
            "WHERE m.mid_mjd >= :lo AND m.mid_mjd < :hi GROUP BY bin ORDER BY bin",
            {"lo": float(lo_mjd), "hi": float(hi_mjd), "w": float(width_days)},
        )

    def get_in(self, con: Any, path: str) -> dict[str, Any] | None:
        """One MS row read through an operator transaction's connection (None if absent)."""
        import sqlalchemy as sa

        row = (
            con.execute(sa.text("SELECT * FROM ms_index WHERE path = :p"), {"p": str(path)})
            .mappings()
            .first()
        )
        return None if row is None else dict(row)

    def newest_created(self) -> dict[str, float | None]:
        """Unix time the newest ``ms_index`` and ``images`` rows were written (None if absent).

        Used for data-freshness checks; both columns are indexed or small in practice.
        """
        out: dict[str, float | None] = {}
        for key, table in (("ms", "ms_index"), ("image", "images")):
            if self.db.has_table(table) and "created_at" in self.db.columns(table):
                v = self.db.scalar(f"SELECT MAX(created_at) FROM {table}")
                out[key] = None if v is None else float(v)
            else:
                out[key] = None
        return out


class MSStateRepository(Repository):
    """The ``ms_state`` table: each MS's position in the processing state machine."""

    table = "ms_state"
    order = "transition_time DESC"

    def find(
        self,
        *,
        current_state: str | list[str] | None = None,
        ms_path: str | list[str] | None = None,
        changed_before: TimeLike | None = None,
        limit: int | None = DEFAULT_LIMIT,
    ) -> pd.DataFrame:
        """State rows; ``changed_before`` keeps those whose last transition is older."""
        w = self.where().eq("current_state", current_state).eq("ms_path", ms_path)
        w.unix_range("transition_time", None, changed_before, now=self._now)
        return self._select(w, limit=limit)

    def stalled(self, *, before_unix: float, exclude: Sequence[str]) -> pd.DataFrame:
        """State rows not in ``exclude`` whose last transition is before ``before_unix``,
        with the MS's ``ms_index`` stage, status and mid_mjd when it has a row there."""
        marks, params = _in_list("x", list(exclude))
        w = self.where(alias="s").cmp("transition_time", "<", float(before_unix))
        w.raw(f"(s.current_state IS NULL OR s.current_state NOT IN ({marks}))", **params)
        if self.db.has_table("ms_index"):
            sel, frm = (
                "m.stage, m.status, m.mid_mjd",
                " LEFT JOIN ms_index AS m ON m.path = s.ms_path",
            )
        else:
            sel, frm = "NULL AS stage, NULL AS status, NULL AS mid_mjd", ""
        return self.db.query(
            "SELECT s.ms_path, s.current_state, s.previous_state, s.transition_time, "
            f"s.retry_count, s.error_message, {sel} FROM ms_state AS s{frm}{w.sql()} "
            "ORDER BY s.transition_time",
            w.params,
        )

    def counts_by_state(self) -> pd.DataFrame:
        """Rows per ``current_state``: columns current_state, n."""
        self.columns()
        return self.db.query(
            "SELECT current_state, COUNT(*) AS n FROM ms_state "
            "GROUP BY current_state ORDER BY n DESC"
        )
