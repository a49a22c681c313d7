"""Frozen result records of the operations services (a job, a batch, summaries)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd

__all__ = ["JobInfo", "JobSummary", "BatchInfo", "PeriodSummary"]


def _plain(obj: Any) -> Any:
    if isinstance(obj, pd.DataFrame):
        return obj.to_dict(orient="records")
    if hasattr(obj, "isot"):
        return obj.isot
    return obj


@dataclasses.dataclass(frozen=True)
class JobInfo:
    """One ``jobs`` row with derived fields.

    ``status`` is exactly the stored status.  ``params``/``artifacts``/``logs`` are the stored
    text; ``params_dict`` and ``artifact_paths`` are parsed from the JSON; ``duration_s`` is
    finished_at - started_at (s); ``failure_reason`` is the last ERROR line of ``logs``.
    """

    id: int
    type: str | None
    status: str | None
    ms_path: str | None
    params: str | None
    logs: str | None
    artifacts: str | None
    created_at: float | None
    started_at: float | None
    finished_at: float | None
    duration_s: float | None
    failure_reason: str | None
    params_dict: dict = dataclasses.field(default_factory=dict)
    artifact_paths: tuple = ()
    status_class: str = "other"

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["artifact_paths"] = list(self.artifact_paths)
        return d


@dataclasses.dataclass(frozen=True)
class JobSummary:
    """Jobs created in [start, end) by stored status and by type.

    ``success`` counts 'done' and 'completed' alike; ``success_rate`` is
    success / (success + failed), None when nothing finished.
    """

    start: Any
    end: Any
    by_status: dict
    by_type: pd.DataFrame
    n_total: int
    n_success: int
    n_failed: int
    n_running: int
    n_pending: int
    success_rate: float | None

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}
        d["by_type"] = self.by_type.reset_index().to_dict(orient="records")
        return d


@dataclasses.dataclass(frozen=True)
class BatchInfo:
    """One batch job with its items and progress.

    ``counts`` are item counts by stored status; ``progress`` is the finished fraction
    (done + failed + cancelled items over total items, 0-1).
    """

    id: int
    type: str | None
    status: str | None
    created_at: float | None
    total_items: int | None
    completed_items: int | None
    failed_items: int | None
    params: str | None
    counts: dict
    progress: float
    items: pd.DataFrame = dataclasses.field(repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}


@dataclasses.dataclass(frozen=True)
class PeriodSummary:
    """The headline numbers of one period [start, end) (``w.stats.period_summary``).

    Throughput is keyed on observation time; ``job_success_rate`` is success / (success +
    failed), a fraction (``None`` when no job finished); ``bad_image_fraction`` is the
    share of stored image-QA grades the severity ladder calls critical; noise in mJy/beam.
    """

    start: str
    end: str
    days: float
    n_ms: int
    n_images: int
    n_photometry: int
    n_jobs: int
    n_success: int
    n_failed_jobs: int
    n_running: int
    n_pending: int
    job_success_rate: float | None
    n_qa: int
    n_bad_images: int
    qa_grades: dict[str, int]
    noise_median_mjy: float | None
    dr_median: float | None

    def _per_day(self, n: int) -> float | None:
        return n / self.days if self.days > 0 else None

    @property
    def ms_per_day(self) -> float | None:
        return self._per_day(self.n_ms)

    @property
    def images_per_day(self) -> float | None:
        return self._per_day(self.n_images)

    @property
    def photometry_per_day(self) -> float | None:
        return self._per_day(self.n_photometry)

    @property
    def bad_image_fraction(self) -> float | None:
        return self.n_bad_images / self.n_qa if self.n_qa else None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe values, the derived rates included."""
        d = dataclasses.asdict(self)
        d.update(
            ms_per_day=self.ms_per_day,
            images_per_day=self.images_per_day,
            photometry_per_day=self.photometry_per_day,
            bad_image_fraction=self.bad_image_fraction,
        )
        return d
