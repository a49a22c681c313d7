"""QA rows the pipeline stored (image_qa, calibration_qa)."""

from __future__ import annotations

import pandas as pd

from dsa110_ws.core.time import TimeLike
from dsa110_ws.repositories._base import DEFAULT_LIMIT, Repository

__all__ = ["ImageQARepository", "CalibrationQARepository"]


class ImageQARepository(Repository):
    """The ``image_qa`` table (the pipeline's own image QA results)."""

    table = "image_qa"
    order = "timestamp, id"

    def find(
        self,
        *,
        image_path: str | list[str] | None = None,
        ms_path: str | list[str] | None = None,
        overall_quality: str | list[str] | None = None,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        limit: int | None = DEFAULT_LIMIT,
    ) -> pd.DataFrame:
        w = self.where().eq("image_path", image_path).eq("ms_path", ms_path)
        w.eq("overall_quality", overall_quality)
        w.unix_range("timestamp", start, end, now=self._now)
        return self._select(w, limit=limit)

    def metrics_by_observation(
        self, *, lo_mjd: float, hi_mjd: float, limit: int | None = 500_000
    ) -> pd.DataFrame:
        """Stored metrics of images observed in [lo_mjd, hi_mjd) (for distributions).

        Observation time is the MS's ``ms_index.mid_mjd`` (rows without an ``ms_path`` fall
        back to the QA ``timestamp``).  Columns: obs_mjd, rms_noise (Jy/beam),
        dynamic_range, overall_quality; only the window's rows are read.
        """
        self.columns()
        params = {"lo": float(lo_mjd), "hi": float(hi_mjd)}
        fallback = (
            "SELECT timestamp / 86400.0 + 40587.0 AS obs_mjd, rms_noise, dynamic_range, "
            "overall_quality FROM image_qa WHERE ms_path IS NULL AND "
            "timestamp >= (:lo - 40587.0) * 86400.0 AND timestamp < (:hi - 40587.0) * 86400.0"
        )
        if self.db.has_table("ms_index"):
            sql = (
                "SELECT m.mid_mjd AS obs_mjd, q.rms_noise, q.dynamic_range, q.overall_quality "
                "FROM image_qa AS q JOIN (SELECT path, mid_mjd FROM ms_index WHERE "
                "mid_mjd >= :lo AND mid_mjd < :hi) AS m ON m.path = q.ms_path "
                f"UNION ALL {fallback}"
            )
        else:
            sql = fallback.replace("ms_path IS NULL AND ", "")
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return self.db.query(sql, params)


class CalibrationQARepository(Repository):
    """The ``calibration_qa`` table (metrics stored as JSON text, returned as stored)."""

    table = "calibration_qa"
    order = "timestamp, id"

    def find(
        self,
        *,
        ms_path: str | list[str] | None = None,
        overall_quality: str | list[str] | None = None,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        limit: int | None = DEFAULT_LIMIT,
    ) -> pd.DataFrame:
        w = self.where().eq("ms_path", ms_path).eq("overall_quality", overall_quality)
        w.unix_range("timestamp", start, end, now=self._now)
        return self._select(w, limit=limit)
