"""QA rows the pipeline stored (image_qa, calibration_qa)."""

from __future__ import annotations

import pandas as pd

from dsa110_ws._util.timeparse import TimeLike
from dsa110_ws.repositories._base import DEFAULT_LIMIT, Repository

__all__ = ["ImageQARepository", "CalibrationQARepository"]


class ImageQARepository(Repository):
    """The ``image_qa`` table (the pipeline's own image QA results)."""

    table = "image_qa"
    order = "timestamp, id"

    def find(self, *, image_path: str | list[str] | None = None,
             ms_path: str | list[str] | None = None,
             overall_quality: str | list[str] | None = None, start: TimeLike = None,
             end: TimeLike = None, limit: int | None = DEFAULT_LIMIT) -> pd.DataFrame:
        w = self.where().eq("image_path", image_path).eq("ms_path", ms_path)
        w.eq("overall_quality", overall_quality)
        w.unix_range("timestamp", start, end, now=self._now)
        return self._select(w, limit=limit)


class CalibrationQARepository(Repository):
    """The ``calibration_qa`` table (metrics stored as JSON text, returned as stored)."""

    table = "calibration_qa"
    order = "timestamp, id"

    def find(self, *, ms_path: str | list[str] | None = None,
             overall_quality: str | list[str] | None = None, start: TimeLike = None,
             end: TimeLike = None, limit: int | None = DEFAULT_LIMIT) -> pd.DataFrame:
        w = self.where().eq("ms_path", ms_path).eq("overall_quality", overall_quality)
        w.unix_range("timestamp", start, end, now=self._now)
        return self._select(w, limit=limit)
