"""The ingestion queue: subband groups by state, incomplete groups, UVH5 files per night."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from dsa110_ws.core.time import TimeLike
from dsa110_ws.repositories import DEFAULT_LIMIT

if TYPE_CHECKING:
    from dsa110_ws.core.time import Clock
    from dsa110_ws.repositories.ingest import (
        HDF5FileRepository,
        IngestionGroupRepository,
        IngestionSubbandRepository,
    )

__all__ = ["QueueService", "INGESTION_STATES"]

#: The ingestion state machine in order.
INGESTION_STATES = ("collecting", "pending", "normalizing", "converting", "completed", "failed")
#: Subbands per group unless a group says otherwise (DSA-110: 16, indices 0-15).
DEFAULT_SUBBANDS = 16


class QueueService:
    """``w.queue``: the ingestion groups (``ingestion_groups`` / ``ingestion_subbands``) and
    the UVH5 file index (``hdf5_files``)."""

    def __init__(
        self,
        groups: IngestionGroupRepository,
        subbands: IngestionSubbandRepository,
        hdf5_files: HDF5FileRepository,
        *,
        clock: Clock,
    ):
        self._groups = groups
        self._subbands = subbands
        self._hdf5 = hdf5_files
        self._clock = clock

    def __repr__(self) -> str:
        return "<QueueService: counts, groups, incomplete, failed, hdf5_per_night, summary>"

    def counts(
        self, *, start: TimeLike | None = None, end: TimeLike | None = None
    ) -> dict[str, int]:
        """Groups per state (created in [start, end) when given; all groups otherwise)."""
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
        """Group rows (oldest first), filtered by state and creation time."""
        return self._groups.find(state=state, start=start, end=end, limit=limit)

    def incomplete(self) -> pd.DataFrame:
        """Groups still waiting for subbands, with what is missing and how old they are.

        Columns: group_id, state, expected_subbands, n_received, missing_subbands (sorted
        list of indices 0 .. expected-1 not yet received; None when the database has no
        ``ingestion_subbands`` table), age_minutes (since the group was created, relative to
        ``w.now()``), minutes_since_last_file, created_at, updated_at.  Completed and failed
        groups are never incomplete.
        """
        df = self._groups.incomplete(default_expected=DEFAULT_SUBBANDS)
        now = self._clock.now_unix()
        missing = []
        for have, expected in zip(df["received"], df["expected_subbands"], strict=True):
            if have is None or (isinstance(have, float) and pd.isna(have)):
                missing.append(list(range(int(expected))) if self._subbands.available else None)
                continue
            got = {int(x) for x in str(have).split(",") if x.strip() != ""}
            missing.append(sorted(set(range(int(expected))) - got))
        out = df.drop(columns=["received"]).assign(missing_subbands=missing)
        out["age_minutes"] = (now - pd.to_numeric(out["created_at"], errors="coerce")) / 60.0
        last = pd.to_numeric(out["last_recorded_at"], errors="coerce")
        out["minutes_since_last_file"] = (now - last) / 60.0
        cols = [
            "group_id",
            "state",
            "expected_subbands",
            "n_received",
            "missing_subbands",
            "age_minutes",
            "minutes_since_last_file",
            "subband_count",
            "created_at",
            "updated_at",
        ]
        return out[cols].reset_index(drop=True)

    def failed(self, *, limit: int | None = DEFAULT_LIMIT) -> pd.DataFrame:
        """Failed groups with their ``error_message``."""
        return self.groups(state="failed", limit=limit)

    def hdf5_per_night(
        self, *, start: TimeLike | None = None, end: TimeLike | None = None
    ) -> pd.DataFrame:
        """UVH5 files, groups and bytes per observing night (``obs_date``)."""
        return self._hdf5.per_night(start=start, end=end)

    def summary(self) -> dict[str, Any]:
        """Counts by state and the incomplete groups, for panels and the CLI."""
        inc = self.incomplete()
        return {
            "at": self._clock.now().isot,
            "by_state": self.counts(),
            "n_incomplete": len(inc),
            "incomplete": inc.to_dict(orient="records"),
        }
