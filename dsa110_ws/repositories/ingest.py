"""Ingestion: UVH5 files and subband groups (read side, with GROUP BY aggregates)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from dsa110_ws.core.time import TimeLike
from dsa110_ws.repositories._base import DEFAULT_LIMIT, Repository

__all__ = ["HDF5FileRepository", "IngestionGroupRepository", "IngestionSubbandRepository"]


class HDF5FileRepository(Repository):
    """The ``hdf5_files`` index of incoming UVH5 subband files."""

    table = "hdf5_files"
    order = "timestamp_mjd, path"

    def find(
        self,
        *,
        group_id: str | list[str] | None = None,
        obs_date: str | None = None,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        stored: bool | None = None,
        limit: int | None = DEFAULT_LIMIT,
    ) -> pd.DataFrame:
        w = self.where().eq("group_id", group_id).eq("obs_date", obs_date)
        w.eq("stored", None if stored is None else int(stored))
        w.mjd_range("timestamp_mjd", start, end, now=self._now)
        return self._select(w, limit=limit)

    def per_night(
        self, *, start: TimeLike | None = None, end: TimeLike | None = None
    ) -> pd.DataFrame:
        """Files, groups and bytes per ``obs_date`` (optionally ``timestamp_mjd`` in [start, end))."""
        w = self.where().mjd_range("timestamp_mjd", start, end, now=self._now)
        return self.db.query(
            "SELECT obs_date, COUNT(*) AS n_files, COUNT(DISTINCT group_id) AS n_groups, "
            "SUM(file_size_bytes) AS total_bytes, MIN(timestamp_mjd) AS first_mjd, "
            "MAX(timestamp_mjd) AS last_mjd, MAX(indexed_at) AS last_indexed_at "
            f"FROM hdf5_files{w.sql()} GROUP BY obs_date ORDER BY obs_date",
            w.params,
        )

    def newest(self) -> dict[str, float | None]:
        """Newest file: ``indexed_at`` (Unix s) and ``timestamp_mjd`` (None when empty)."""
        self.columns()
        df = self.db.query(
            "SELECT MAX(indexed_at) AS indexed_at, "
            "MAX(timestamp_mjd) AS timestamp_mjd FROM hdf5_files"
        )
        row = df.iloc[0]
        return {k: (None if pd.isna(row[k]) else float(row[k])) for k in df.columns}


class IngestionGroupRepository(Repository):
    """The ``ingestion_groups`` table (state: collecting, pending, normalizing, converting,
    completed, failed)."""

    table = "ingestion_groups"
    order = "created_at, group_id"

    def find(
        self,
        *,
        state: str | list[str] | None = None,
        group_id: str | list[str] | None = None,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        limit: int | None = DEFAULT_LIMIT,
        newest_first: bool = False,
    ) -> pd.DataFrame:
        """Groups by state, id and creation time, oldest first (or ``newest_first``)."""
        w = self.where().eq("state", state).eq("group_id", group_id)
        w.unix_range("created_at", start, end, now=self._now)
        order = "created_at DESC, group_id DESC" if newest_first else None
        return self._select(w, limit=limit, order=order)

    def counts_by_state(
        self, *, start: TimeLike | None = None, end: TimeLike | None = None
    ) -> pd.DataFrame:
        """Groups per state (optionally created in [start, end)): columns state, n."""
        w = self.where().unix_range("created_at", start, end, now=self._now)
        return self.db.query(
            f"SELECT state, COUNT(*) AS n FROM ingestion_groups{w.sql()} GROUP BY state "
            "ORDER BY state",
            w.params,
        )

    def incomplete(
        self, *, exclude_states: Sequence[str] = ("completed", "failed"), default_expected: int = 16
    ) -> pd.DataFrame:
        """Groups not in ``exclude_states`` that have fewer distinct subbands than expected.

        Columns: group_id, state, expected_subbands, subband_count (as stored), n_received
        (distinct subband indices in ``ingestion_subbands``), received (comma-separated
        indices, unordered), first_recorded_at, last_recorded_at, created_at, updated_at.
        Without an ``ingestion_subbands`` table, ``subband_count`` decides and ``received``
        is null.
        """
        marks = ", ".join(f":x{i}" for i in range(len(exclude_states))) or "NULL"
        params: dict[str, Any] = {f"x{i}": s for i, s in enumerate(exclude_states)}
        params["exp"] = int(default_expected)
        self.columns()
        if self.db.has_table("ingestion_subbands"):
            sql = (
                "SELECT g.group_id, g.state, COALESCE(g.expected_subbands, :exp) AS "
                "expected_subbands, g.subband_count, COUNT(DISTINCT s.subband_idx) AS n_received, "
                "GROUP_CONCAT(DISTINCT s.subband_idx) AS received, "
                "MIN(s.recorded_at) AS first_recorded_at, MAX(s.recorded_at) AS last_recorded_at, "
                "g.created_at, g.updated_at FROM ingestion_groups AS g "
                "LEFT JOIN ingestion_subbands AS s ON s.group_id = g.group_id "
                f"WHERE g.state IS NULL OR g.state NOT IN ({marks}) GROUP BY g.group_id "
                "HAVING COUNT(DISTINCT s.subband_idx) < COALESCE(g.expected_subbands, :exp) "
                "ORDER BY g.created_at"
            )
        else:
            sql = (
                "SELECT group_id, state, COALESCE(expected_subbands, :exp) AS expected_subbands, "
                "subband_count, subband_count AS n_received, NULL AS received, "
                "NULL AS first_recorded_at, NULL AS last_recorded_at, created_at, updated_at "
                f"FROM ingestion_groups WHERE (state IS NULL OR state NOT IN ({marks})) AND "
                "COALESCE(subband_count, 0) < COALESCE(expected_subbands, :exp) "
                "ORDER BY created_at"
            )
        return self.db.query(sql, params)


class IngestionSubbandRepository(Repository):
    """The ``ingestion_subbands`` table: which subband files each group has received."""

    table = "ingestion_subbands"
    order = "group_id, subband_idx"

    def find(
        self, *, group_id: str | list[str] | None = None, limit: int | None = DEFAULT_LIMIT
    ) -> pd.DataFrame:
        return self._select(self.where().eq("group_id", group_id), limit=limit)
