"""Calibration table registry and application records."""

from __future__ import annotations

import pandas as pd

from dsa110_ws.core.time import TimeLike, to_mjd
from dsa110_ws.models import Record
from dsa110_ws.repositories._base import DEFAULT_LIMIT, Repository

__all__ = ["CaltableRepository", "CalibrationAppliedRepository"]


class CaltableRepository(Repository):
    """The ``caltables`` registry: sets of K/BA/BP/GA/GP/2G/FLUX tables with validity windows."""

    table = "caltables"
    order = "valid_start_mjd, set_name, order_index"

    def find(
        self,
        *,
        set_name: str | list[str] | None = None,
        table_type: str | list[str] | None = None,
        status: str | list[str] | None = None,
        valid_at: TimeLike | None = None,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        source_ms_path: str | None = None,
        path: str | list[str] | None = None,
        limit: int | None = DEFAULT_LIMIT,
    ) -> pd.DataFrame:
        """Caltables by set, type, status, validity at a time, or validity overlapping a range.

        ``valid_at`` keeps tables whose window [valid_start_mjd, valid_end_mjd] contains that
        time (whatever their status: combine with ``status="active"`` for "usable now").
        """
        w = self.where().eq("set_name", set_name).eq("table_type", table_type)
        w.eq("status", status).eq("source_ms_path", source_ms_path).eq("path", path)
        if valid_at is not None:
            t = to_mjd(valid_at, now=self._now, what="valid_at")
            w.cmp("valid_start_mjd", "<=", t).cmp("valid_end_mjd", ">=", t)
        if start is not None:
            w.cmp("valid_end_mjd", ">=", to_mjd(start, now=self._now, what="start"))
        if end is not None:
            w.cmp("valid_start_mjd", "<", to_mjd(end, now=self._now, what="end"))
        return self._select(w, limit=limit)

    def get_by_path(self, path: str) -> Record:
        """The registry row of one caltable path."""
        return self._get_one("path", str(path))

    def sets(self) -> pd.DataFrame:
        """One row per set: types (in order), status, validity window, table count."""
        self.columns()
        return self.db.query(
            "SELECT set_name, GROUP_CONCAT(table_type, ',') AS table_types, "
            "MIN(valid_start_mjd) AS valid_start_mjd, MAX(valid_end_mjd) AS valid_end_mjd, "
            "MAX(status) AS status, COUNT(*) AS n_tables, MIN(created_at) AS created_at "
            "FROM (SELECT * FROM caltables ORDER BY set_name, order_index) "
            "GROUP BY set_name ORDER BY valid_start_mjd"
        )

    def set_windows(
        self,
        *,
        status: str | list[str] | None = "active",
        start: TimeLike | None = None,
        end: TimeLike | None = None,
    ) -> pd.DataFrame:
        """One row per set (of tables with ``status``) whose validity overlaps [start, end).

        Columns: set_name, valid_start_mjd (earliest), valid_end_mjd (latest), table_types
        (comma-separated, in ``order_index`` order), n_tables, created_at, cal_field.
        Tables without a ``set_name`` belong to no set (the pipeline applies a set by
        ``WHERE set_name = ?``, which never matches NULL) and are left out.
        """
        w = self.where().eq("status", status).is_null("set_name", False)
        if start is not None:
            w.cmp("valid_end_mjd", ">=", to_mjd(start, now=self._now, what="start"))
        if end is not None:
            w.cmp("valid_start_mjd", "<", to_mjd(end, now=self._now, what="end"))
        return self.db.query(
            "SELECT set_name, MIN(valid_start_mjd) AS valid_start_mjd, "
            "MAX(valid_end_mjd) AS valid_end_mjd, GROUP_CONCAT(table_type, ',') AS table_types, "
            "COUNT(*) AS n_tables, MIN(created_at) AS created_at, MAX(cal_field) AS cal_field "
            f"FROM (SELECT * FROM caltables{w.sql()} ORDER BY set_name, order_index) "
            "GROUP BY set_name ORDER BY valid_start_mjd, set_name",
            w.params,
        )


class CalibrationAppliedRepository(Repository):
    """The ``calibration_applied`` table: which caltables were applied to which MS."""

    table = "calibration_applied"
    order = "applied_at, id"

    def find(
        self,
        *,
        ms_path: str | list[str] | None = None,
        caltable_path: str | list[str] | None = None,
        success: bool | None = None,
        limit: int | None = DEFAULT_LIMIT,
    ) -> pd.DataFrame:
        w = self.where().eq("ms_path", ms_path).eq("caltable_path", caltable_path)
        w.eq("success", None if success is None else int(success))
        return self._select(w, limit=limit)
