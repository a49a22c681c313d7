"""Ingestion: UVH5 files and subband groups (read side)."""

from __future__ import annotations

import pandas as pd

from dsa110_ws._util.timeparse import TimeLike
from dsa110_ws.repositories._base import DEFAULT_LIMIT, Repository

__all__ = ["HDF5FileRepository", "IngestionGroupRepository", "IngestionSubbandRepository"]


class HDF5FileRepository(Repository):
    """The ``hdf5_files`` index of incoming UVH5 subband files."""

    table = "hdf5_files"
    order = "timestamp_mjd, path"

    def find(self, *, group_id: str | list[str] | None = None, obs_date: str | None = None,
             start: TimeLike = None, end: TimeLike = None, stored: bool | None = None,
             limit: int | None = DEFAULT_LIMIT) -> pd.DataFrame:
        w = self.where().eq("group_id", group_id).eq("obs_date", obs_date)
        w.eq("stored", None if stored is None else int(stored))
        w.mjd_range("timestamp_mjd", start, end, now=self._now)
        return self._select(w, limit=limit)

    def per_night(self) -> pd.DataFrame:
        """Files, groups and bytes per ``obs_date``."""
        self.columns()
        return self.db.query(
            "SELECT obs_date, COUNT(*) AS n_files, COUNT(DISTINCT group_id) AS n_groups, "
            "SUM(file_size_bytes) AS total_bytes, MAX(indexed_at) AS last_indexed_at "
            "FROM hdf5_files GROUP BY obs_date ORDER BY obs_date")


class IngestionGroupRepository(Repository):
    """The ``ingestion_groups`` table (state: collecting, pending, normalizing, converting,
    completed, failed)."""

    table = "ingestion_groups"
    order = "created_at, group_id"

    def find(self, *, state: str | list[str] | None = None,
             group_id: str | list[str] | None = None, start: TimeLike = None,
             end: TimeLike = None, limit: int | None = DEFAULT_LIMIT) -> pd.DataFrame:
        w = self.where().eq("state", state).eq("group_id", group_id)
        w.unix_range("created_at", start, end, now=self._now)
        return self._select(w, limit=limit)

    def counts_by_state(self) -> pd.DataFrame:
        self.columns()
        return self.db.query(
            "SELECT state, COUNT(*) AS n FROM ingestion_groups GROUP BY state ORDER BY state")


class IngestionSubbandRepository(Repository):
    """The ``ingestion_subbands`` table: which subband files each group has received."""

    table = "ingestion_subbands"
    order = "group_id, subband_idx"

    def find(self, *, group_id: str | list[str] | None = None,
             limit: int | None = DEFAULT_LIMIT) -> pd.DataFrame:
        return self._select(self.where().eq("group_id", group_id), limit=limit)
