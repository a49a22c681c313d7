"""Jobs, batch jobs and per-MS pipeline progress, as the pipeline stored them.

Statuses are reported exactly as stored (the old backend reported every job as
"completed"); 'done' and 'completed' both count as success in summaries; jobs are looked
up by their integer id only (never by a date substring).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dsa110_ws.core.settings import OperationsSettings
from dsa110_ws.core.time import TimeLike, duration_s, parse_duration
from dsa110_ws.errors import InvalidQueryError, NotFoundError
from dsa110_ws.repositories import DEFAULT_LIMIT
from dsa110_ws.services.operations._common import (
    MS_STAGES,
    MS_TERMINAL,
    failure_reason,
    json_dict,
    json_list,
    status_class,
)
from dsa110_ws.services.operations._records import BatchInfo, JobInfo, JobSummary

if TYPE_CHECKING:
    from dsa110_ws.core.time import Clock
    from dsa110_ws.repositories.jobs import (
        BatchJobItemRepository,
        BatchJobRepository,
        JobRepository,
    )
    from dsa110_ws.repositories.ms import MSIndexRepository, MSStateRepository

__all__ = ["JobService", "JobInfo", "JobSummary", "BatchInfo", "parse_job_id"]

#: Ids are SQLite INTEGERs: at most 2**63 - 1.
_MAX_ID = 2**63 - 1


def parse_job_id(job_id: Any, *, what: str = "job id") -> int:
    """An integer id from an int or a string of digits; anything else is refused."""
    if isinstance(job_id, (bool, np.bool_)):
        raise InvalidQueryError(f"{what} must be an integer, not {job_id!r}.")
    value: int | None = None
    if isinstance(job_id, (int, np.integer)):
        value = int(job_id)
    else:
        text = str(job_id).strip()
        if text.isdigit():
            value = int(text)
    if value is not None and 0 <= value <= _MAX_ID:
        return value
    if value is not None:
        raise InvalidQueryError(f"{what} {job_id!r} is out of range (0 to {_MAX_ID}).")
    raise InvalidQueryError(
        f"{what} {job_id!r} is not an integer id; look jobs up by id (see `dsa110-ws jobs` or "
        "w.jobs.find(start=..., end=...) to search by time)."
    )


class JobService:
    """``w.jobs``: jobs and batches with durations, failure reasons, progress and stuck MS."""

    def __init__(
        self,
        jobs: JobRepository,
        batch_jobs: BatchJobRepository,
        batch_job_items: BatchJobItemRepository,
        ms_index: MSIndexRepository,
        ms_state: MSStateRepository,
        *,
        clock: Clock,
        settings: OperationsSettings | None = None,
    ):
        self._jobs = jobs
        self._batches = batch_jobs
        self._items = batch_job_items
        self._ms_index = ms_index
        self._ms_state = ms_state
        self._clock = clock
        self._settings = settings or OperationsSettings()

    def __repr__(self) -> str:
        return "<JobService: find, get, failed, summary, batches, batch, pipeline_progress, stuck>"

    # -- jobs ----------------------------------------------------------------------------
    def find(
        self,
        *,
        status: str | list[str] | None = None,
        type: str | list[str] | None = None,  # noqa: A002 - the pipeline's column name
        ms_path: str | list[str] | None = None,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        limit: int | None = DEFAULT_LIMIT,
    ) -> pd.DataFrame:
        """Jobs (newest first) with ``duration_s``, ``failure_reason``, ``artifact_paths``.

        Parameters
        ----------
        status, type, ms_path
            Equality filters on the stored values (a list means any of).
        start, end
            Creation time range [start, end); unbounded when not given.
        limit
            Row cap (``None`` for all).
        """
        df = self._jobs.find(
            status=status, type=type, ms_path=ms_path, start=start, end=end, limit=limit
        )
        return _decorate_jobs(df)

    def get(self, job_id: int | str) -> JobInfo:
        """One job by its integer id; :class:`NotFoundError` when there is none."""
        jid = parse_job_id(job_id)
        try:
            rec = self._jobs.get(jid)
        except NotFoundError:
            raise NotFoundError(f"No job with id {jid} in {self._jobs.db.describe()}.") from None
        return _job_info(rec.to_dict())

    def failed(
        self,
        *,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        limit: int | None = DEFAULT_LIMIT,
    ) -> pd.DataFrame:
        """Failed jobs created in [start, end) (default: the last 24 h) with their reasons."""
        lo, hi = self._clock.window(start, end)
        return self.find(status=["failed", "error"], start=lo, end=hi, limit=limit)

    def summary(self, *, start: TimeLike | None = None, end: TimeLike | None = None) -> JobSummary:
        """Counts of jobs created in [start, end) (default: the last 24 h) by status and type.

        Aggregated in SQL (GROUP BY type, status).  'done' and 'completed' both count as
        success.
        """
        lo, hi = self._clock.window(start, end)
        df = self._jobs.summary(start=lo, end=hi)
        return _summarise(df, lo, hi)

    # -- batches -------------------------------------------------------------------------
    def batches(
        self,
        *,
        status: str | list[str] | None = None,
        type: str | list[str] | None = None,  # noqa: A002
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        limit: int | None = DEFAULT_LIMIT,
    ) -> pd.DataFrame:
        """Batch jobs (newest first) with item counts by status and ``progress`` (0-1).

        Item columns: n_items, n_done (done or completed), n_failed, n_running, n_pending,
        n_cancelled; ``progress`` = finished items / total.  A batch without item rows is
        counted from its stored ``total_items``/``completed_items``/``failed_items``
        (``counts_from`` says which; its unfinished items are all in ``n_pending``).
        """
        df = self._batches.find(status=status, type=type, start=start, end=end, limit=limit)
        counts = self._items.counts_by_batch(df["id"].tolist())
        return _with_progress(df, counts)

    def batch(self, batch_id: int | str) -> BatchInfo:
        """One batch job with its items."""
        bid = parse_job_id(batch_id, what="batch id")
        try:
            rec = self._batches.get(bid).to_dict()
        except NotFoundError:
            raise NotFoundError(
                f"No batch job with id {bid} in {self._batches.db.describe()}."
            ) from None
        items = self._items.find(batch_id=bid, limit=None)
        counts = {str(k): int(v) for k, v in items["status"].value_counts().items()}
        total = max(int(rec.get("total_items") or 0), len(items))
        if items.empty and total:  # only the stored counters (see batches())
            done, failed = int(rec.get("completed_items") or 0), int(rec.get("failed_items") or 0)
            counts = {"completed": done, "failed": failed, "pending": max(total - done - failed, 0)}
        return BatchInfo(
            id=bid,
            type=rec.get("type"),
            status=rec.get("status"),
            created_at=rec.get("created_at"),
            total_items=rec.get("total_items"),
            completed_items=rec.get("completed_items"),
            failed_items=rec.get("failed_items"),
            params=rec.get("params"),
            counts=counts,
            progress=_progress(counts, total),
            items=items,
        )

    # -- MS pipeline progress ------------------------------------------------------------
    def pipeline_progress(
        self,
        *,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        active_only: bool = False,
        limit: int | None = DEFAULT_LIMIT,
    ) -> pd.DataFrame:
        """Per-MS position in the state machine (MS observed in [start, end), default 24 h).

        Columns: the ``ms_index`` path, mid_mjd, stage, status plus the ``ms_state``
        current_state, previous_state, transition_time, retry_count, error_message, and
        ``stage_index`` (0-7 along pending ... done), ``progress`` (stage_index / 7),
        ``minutes_since_change`` (relative to ``w.now()``) and ``stuck``.
        """
        lo, hi = self._clock.window(start, end)
        df = self._ms_index.with_state(start=lo, end=hi, limit=limit)
        df = self._annotate_ms(df)
        if active_only:
            df = df[~df["state"].isin(MS_TERMINAL)].reset_index(drop=True)
        return df

    def stuck(self, *, older_than: Any = None) -> pd.DataFrame:
        """MS in a non-terminal state whose last state change is older than ``older_than``.

        ``older_than`` is a ``timedelta`` or an astropy time ``Quantity``; default
        ``[operations] stuck_after_minutes`` (120).  Ages are relative to ``w.now()``.
        Terminal states (done, completed, failed, error) are never stuck; failed MS are
        reported by :meth:`pipeline_progress`.
        """
        if older_than is None:
            limit_s = self._settings.stuck_after_minutes * 60.0
        else:
            limit_s = parse_duration(older_than, what="older_than").total_seconds()
        now = self._clock.now_unix()
        cutoff = now - limit_s
        repo = self._ms_state if self._ms_state.available else self._ms_index
        df = repo.stalled(before_unix=cutoff, exclude=MS_TERMINAL)
        df = df.rename(columns={"ms_path": "path"})
        df["minutes_since_change"] = (now - df["transition_time"]) / 60.0
        df["stuck_after_minutes"] = limit_s / 60.0
        return df.reset_index(drop=True)

    def _annotate_ms(self, df: pd.DataFrame) -> pd.DataFrame:
        now = self._clock.now_unix()
        state = df["current_state"].where(df["current_state"].notna(), df["stage"])
        changed = df["transition_time"].where(df["transition_time"].notna(), df["stage_updated_at"])
        order = {s: i for i, s in enumerate(MS_STAGES)}
        idx = df["stage"].map(order)
        limit_min = self._settings.stuck_after_minutes
        minutes = (now - pd.to_numeric(changed, errors="coerce")) / 60.0
        return df.assign(
            state=state,
            stage_index=idx,
            progress=idx / (len(MS_STAGES) - 1),
            minutes_since_change=minutes,
            stuck=(~state.isin(MS_TERMINAL)) & (minutes > limit_min),
        )


def _decorate_jobs(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    out["duration_s"] = pd.to_numeric(out["finished_at"], errors="coerce") - pd.to_numeric(
        out["started_at"], errors="coerce"
    )
    out["failure_reason"] = [
        failure_reason(x) if status_class(s) == "failed" else None
        for x, s in zip(out["logs"], out["status"], strict=True)
    ]
    out["artifact_paths"] = [json_list(x) for x in out["artifacts"]]
    out["status_class"] = [status_class(s) for s in out["status"]]
    return out


def _job_info(row: dict[str, Any]) -> JobInfo:
    return JobInfo(
        id=int(row["id"]),
        type=row.get("type"),
        status=row.get("status"),
        ms_path=row.get("ms_path"),
        params=row.get("params"),
        logs=row.get("logs"),
        artifacts=row.get("artifacts"),
        created_at=row.get("created_at"),
        started_at=row.get("started_at"),
        finished_at=row.get("finished_at"),
        duration_s=duration_s(row.get("started_at"), row.get("finished_at")),
        failure_reason=(
            failure_reason(row.get("logs")) if status_class(row.get("status")) == "failed" else None
        ),
        params_dict=json_dict(row.get("params")),
        artifact_paths=tuple(json_list(row.get("artifacts"))),
        status_class=status_class(row.get("status")),
    )


def _summarise(df: pd.DataFrame, lo: Any, hi: Any) -> JobSummary:
    df = df.assign(cls=[status_class(s) for s in df["status"]])
    by_status = {str(s): int(n) for s, n in df.groupby("status", dropna=False)["n"].sum().items()}
    classes = ("success", "failed", "running", "pending", "cancelled", "other")
    if df.empty:
        by_type = pd.DataFrame(
            columns=["n_total", *[f"n_{c}" for c in classes], "success_rate", "mean_duration_s"]
        )
    else:
        piv = df.pivot_table(
            index="type", columns="cls", values="n", aggfunc="sum", fill_value=0, dropna=False
        )
        by_type = pd.DataFrame({f"n_{c}": piv.get(c, 0) for c in classes}, index=piv.index).astype(
            int
        )
        by_type.insert(0, "n_total", by_type.sum(axis=1))
        fin = by_type["n_success"] + by_type["n_failed"]
        by_type["success_rate"] = (by_type["n_success"] / fin).where(fin > 0)
        weights = df.dropna(subset=["mean_duration_s"])
        dur = (weights["mean_duration_s"] * weights["n"]).groupby(
            weights["type"]
        ).sum() / weights.groupby("type")["n"].sum()
        by_type["mean_duration_s"] = dur.reindex(by_type.index)
    tot = {c: int(df.loc[df["cls"] == c, "n"].sum()) for c in classes}
    fin = tot["success"] + tot["failed"]
    return JobSummary(
        start=lo,
        end=hi,
        by_status=by_status,
        by_type=by_type,
        n_total=int(df["n"].sum()),
        n_success=tot["success"],
        n_failed=tot["failed"],
        n_running=tot["running"],
        n_pending=tot["pending"],
        success_rate=(tot["success"] / fin) if fin else None,
    )


def _progress(counts: dict[str, int], total: int) -> float:
    finished = sum(
        n for s, n in counts.items() if status_class(s) in {"success", "failed", "cancelled"}
    )
    return float(finished / total) if total else 0.0


def _with_progress(df: pd.DataFrame, counts: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    cls = counts.assign(cls=[status_class(s) for s in counts["status"]])
    names = {
        "success": "n_done",
        "failed": "n_failed",
        "running": "n_running",
        "pending": "n_pending",
        "cancelled": "n_cancelled",
    }
    ids = out["id"].astype(int)
    for c, col in names.items():
        per = cls[cls["cls"] == c].groupby("batch_id")["n"].sum()
        out[col] = ids.map(per).fillna(0).astype(int)
    out["n_items"] = ids.map(cls.groupby("batch_id")["n"].sum()).fillna(0).astype(int)
    stored_total = pd.to_numeric(out.get("total_items"), errors="coerce").fillna(0).astype(int)
    # a batch without item rows (the pipeline's tests write only the counters): its
    # stored completed/failed counters; what is neither is unfinished (pending or running)
    stored = (out["n_items"] == 0) & (stored_total > 0)
    if stored.any():
        done = pd.to_numeric(out.get("completed_items"), errors="coerce").fillna(0).astype(int)
        failed = pd.to_numeric(out.get("failed_items"), errors="coerce").fillna(0).astype(int)
        out.loc[stored, "n_done"] = done[stored]
        out.loc[stored, "n_failed"] = failed[stored]
        out.loc[stored, "n_pending"] = (stored_total - done - failed).clip(lower=0)[stored]
        out.loc[stored, "n_items"] = stored_total[stored]
    out["counts_from"] = np.where(stored, "stored counters", "items")
    total = np.maximum(stored_total, out["n_items"])
    finished = out["n_done"] + out["n_failed"] + out["n_cancelled"]
    out["progress"] = np.where(total > 0, finished / total.where(total > 0, 1), 0.0)
    return out
