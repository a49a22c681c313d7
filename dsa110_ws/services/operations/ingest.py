"""``w.ingest``: the ingestion of UVH5 subband groups, and the UVH5 file index.

A deployment keeps its ingestion groups in the task queue's PostgreSQL
(``absurd.ingestion_groups`` / ``ingestion_subbands``); older ones kept them in the
pipeline's SQLite.  The queue's tables are read when the queue is configured and has them;
otherwise the SQLite tables, as before (``source`` says which).  An unreachable queue is an
error, never a silent fall-back to stale SQLite rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dsa110_ws.core.time import TimeLike, timestamps_to_unix, to_time, unix_to_datetime
from dsa110_ws.errors import DataUnavailableError
from dsa110_ws.repositories import DEFAULT_LIMIT

if TYPE_CHECKING:
    from dsa110_ws.core.time import Clock
    from dsa110_ws.repositories.ingest import (
        HDF5FileRepository,
        IngestionGroupRepository,
        IngestionSubbandRepository,
    )
    from dsa110_ws.repositories.queue import QueueIngestionRepository

__all__ = ["IngestionService", "INGESTION_STATES", "GROUP_COLUMNS"]

#: The ingestion state machine in order.
INGESTION_STATES = ("collecting", "pending", "normalizing", "converting", "completed", "failed")
#: Subbands per group unless a group says otherwise (DSA-110: 16, indices 0-15).
DEFAULT_SUBBANDS = 16
#: Columns of :meth:`IngestionService.groups` and :meth:`IngestionService.incomplete`.
GROUP_COLUMNS = [
    "group_id",
    "state",
    "subband_count",
    "expected_subbands",
    "n_received",
    "missing_subbands",
    "age_minutes",
    "minutes_since_last_file",
    "created_at",
    "updated_at",
    "completed_at",
    "ms_path",
    "error_message",
]
_TERMINAL = ("completed", "failed")


def _unix(values: Any) -> np.ndarray:
    """Unix seconds from Unix floats (SQLite) or timestamps (PostgreSQL); NaN for missing."""
    s = pd.Series(values)
    if pd.api.types.is_datetime64_any_dtype(s) or s.map(lambda v: hasattr(v, "timestamp")).any():
        return timestamps_to_unix(s)
    return pd.to_numeric(s, errors="coerce").to_numpy(float)


def _received(value: Any) -> list[int] | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, str):
        return sorted({int(x) for x in value.split(",") if x.strip()})
    return sorted({int(x) for x in value})


class IngestionService:
    """Subband groups and UVH5 files (``w.ingest``).

    Parameters
    ----------
    groups, subbands, hdf5_files
        The pipeline SQLite's ``ingestion_groups``, ``ingestion_subbands`` and ``hdf5_files``.
    queue
        The task queue's ingestion tables, or ``None`` when no queue is configured.
    clock
        The workspace clock (ages).
    """

    def __init__(
        self,
        groups: IngestionGroupRepository,
        subbands: IngestionSubbandRepository,
        hdf5_files: HDF5FileRepository,
        *,
        queue: QueueIngestionRepository | None,
        clock: Clock,
    ):
        self._groups = groups
        self._subbands = subbands
        self._hdf5 = hdf5_files
        self._queue = queue
        self._clock = clock

    def __repr__(self) -> str:
        return (
            f"<IngestionService from {self.source}: counts, groups, incomplete, failed, "
            "hdf5_per_night, summary>"
        )

    @property
    def source(self) -> str:
        """Where the groups are read: the task queue's tables or the pipeline's SQLite."""
        if self._queue is not None and self._queue.available:
            return "absurd.ingestion_groups"
        return "pipeline ingestion_groups"

    def _from_queue(self) -> bool:
        if self.source == "absurd.ingestion_groups":
            return True
        if not self._groups.available:
            where = (
                "the task queue has no absurd.ingestion_groups table either"
                if self._queue is not None
                else "set ABSURD_DATABASE_URL to read them from the task queue"
            )
            raise DataUnavailableError(
                "Ingestion groups are not available: the pipeline database has no "
                f"ingestion_groups table (current pipelines keep them in the task queue); {where}."
            )
        return False

    def counts(
        self, *, start: TimeLike | None = None, end: TimeLike | None = None
    ) -> dict[str, int]:
        """Groups per state (created in [start, end) when given; all groups otherwise)."""
        if self._from_queue():
            assert self._queue is not None
            now = self._clock.now()
            lo = None if start is None else unix_to_datetime(to_time(start, now=now).unix)
            hi = None if end is None else unix_to_datetime(to_time(end, now=now).unix)
            df = self._queue.counts_by_state(start=lo, end=hi)
        else:
            df = self._groups.counts_by_state(start=start, end=end)
        return {str(s): int(n) for s, n in zip(df["state"], df["n"], strict=True)}

    def groups(
        self,
        *,
        state: str | list[str] | None = None,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        limit: int | None = DEFAULT_LIMIT,
    ) -> pd.DataFrame:
        """Groups (newest first) with the subbands received and missing (indices 0 to
        expected - 1), their ages in minutes on the workspace clock, state and error."""
        now = self._clock.now()
        lo = None if start is None else unix_to_datetime(to_time(start, now=now).unix)
        hi = None if end is None else unix_to_datetime(to_time(end, now=now).unix)
        if self._from_queue():
            assert self._queue is not None
            raw = self._queue.groups(state=state, start=lo, end=hi, limit=limit)
        else:
            raw = self._sqlite_groups(state, lo, hi, limit)
        out = self._annotate(raw)
        out.attrs.update(raw.attrs, source=self.source)
        return out

    def _sqlite_groups(self, state: Any, lo: Any, hi: Any, limit: int | None) -> pd.DataFrame:
        df = self._groups.find(state=state, start=lo, end=hi, limit=limit, newest_first=True)
        if self._subbands.available and len(df):
            sb = self._subbands.find(group_id=list(df["group_id"]), limit=None)
            by = sb.groupby("group_id")
            df["received"] = df["group_id"].map(by["subband_idx"].apply(list))
            df["last_file_at"] = df["group_id"].map(by["recorded_at"].max())
        else:
            df["received"], df["last_file_at"] = None, np.nan
        return df

    def _annotate(self, df: pd.DataFrame) -> pd.DataFrame:
        now = self._clock.now_unix()
        received = [_received(v) for v in df.get("received", [None] * len(df))]
        expected = (
            pd.to_numeric(df.get("expected_subbands"), errors="coerce")
            .fillna(DEFAULT_SUBBANDS)
            .astype(int)
        )
        missing = [
            None if r is None else sorted(set(range(e)) - set(r))
            for r, e in zip(received, expected, strict=True)
        ]
        created, last = _unix(df.get("created_at")), _unix(df.get("last_file_at"))
        out = pd.DataFrame(
            {
                "group_id": df["group_id"].astype(str) if len(df) else pd.Series(dtype=str),
                "state": df.get("state"),
                "subband_count": df.get("subband_count"),
                "expected_subbands": expected,
                "n_received": [None if r is None else len(r) for r in received],
                "missing_subbands": missing,
                "age_minutes": (now - created) / 60.0,
                "minutes_since_last_file": (now - last) / 60.0,
                "created_at": created,
                "updated_at": _unix(df.get("updated_at")),
                "completed_at": _unix(df.get("completed_at")),
                "ms_path": df.get("ms_path"),
                "error_message": df.get("error_message"),
            },
            columns=GROUP_COLUMNS,
        )
        return out.reset_index(drop=True)

    def incomplete(self) -> pd.DataFrame:
        """Groups still waiting for subbands (not completed or failed, fewer than expected
        received), oldest first, with what is missing and how old they are."""
        # only the open states are read (an index on state; never the whole history)
        df = self.groups(state=[s for s in INGESTION_STATES if s not in _TERMINAL], limit=None)
        open_ = ~df["state"].isin(_TERMINAL)
        have = pd.to_numeric(df["n_received"], errors="coerce").fillna(
            pd.to_numeric(df["subband_count"], errors="coerce")
        )
        short = have.fillna(0) < df["expected_subbands"]
        out = df[open_ & short].sort_values("created_at", kind="stable").reset_index(drop=True)
        out.attrs.update(source=self.source)
        return out

    def failed(self, *, limit: int | None = DEFAULT_LIMIT) -> pd.DataFrame:
        """Failed groups with their ``error_message``."""
        return self.groups(state="failed", limit=limit)

    def hdf5_per_night(
        self, *, start: TimeLike | None = None, end: TimeLike | None = None
    ) -> pd.DataFrame:
        """UVH5 files, groups and bytes per observing night (``obs_date``, pipeline SQLite)."""
        return self._hdf5.per_night(start=start, end=end)

    def summary(self) -> dict[str, Any]:
        """Counts by state and the incomplete groups, for panels and the CLI."""
        inc = self.incomplete()
        return {
            "at": self._clock.now().isot,
            "source": self.source,
            "by_state": self.counts(),
            "n_incomplete": len(inc),
            "incomplete": inc.to_dict(orient="records"),
        }
