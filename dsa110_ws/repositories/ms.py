"""Measurement Set index and state machine tables."""

from __future__ import annotations

import pandas as pd

from dsa110_ws._util.timeparse import TimeLike
from dsa110_ws.repositories._base import DEFAULT_LIMIT, Repository

__all__ = ["MSIndexRepository", "MSStateRepository"]


class MSIndexRepository(Repository):
    """The ``ms_index`` table: one row per Measurement Set, keyed by path."""

    table = "ms_index"
    order = "mid_mjd, path"

    def find(self, *, start: TimeLike = None, end: TimeLike = None,
             stage: str | list[str] | None = None, status: str | list[str] | None = None,
             group_id: str | list[str] | None = None, field_name: str | list[str] | None = None,
             path: str | list[str] | None = None,
             limit: int | None = DEFAULT_LIMIT) -> pd.DataFrame:
        """MS rows by observation time (``mid_mjd`` in [start, end)), stage, status, group."""
        w = self.where().mjd_range("mid_mjd", start, end, now=self._now)
        w.eq("stage", stage).eq("status", status).eq("group_id", group_id)
        w.eq("field_name", field_name).eq("path", path)
        return self._select(w, limit=limit)


class MSStateRepository(Repository):
    """The ``ms_state`` table: each MS's position in the processing state machine."""

    table = "ms_state"
    order = "transition_time DESC"

    def find(self, *, current_state: str | list[str] | None = None,
             ms_path: str | list[str] | None = None, changed_before: TimeLike = None,
             limit: int | None = DEFAULT_LIMIT) -> pd.DataFrame:
        """State rows; ``changed_before`` keeps those whose last transition is older."""
        w = self.where().eq("current_state", current_state).eq("ms_path", ms_path)
        w.unix_range("transition_time", None, changed_before, now=self._now)
        return self._select(w, limit=limit)
