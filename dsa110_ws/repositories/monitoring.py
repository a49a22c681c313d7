"""Calibrator flux monitoring and its alerts (read side)."""

from __future__ import annotations

import pandas as pd

from dsa110_ws._util.timeparse import TimeLike
from dsa110_ws.repositories._base import DEFAULT_LIMIT, Repository

__all__ = ["CalibrationMonitoringRepository", "FluxAlertRepository"]


class CalibrationMonitoringRepository(Repository):
    """The ``calibration_monitoring`` table: calibrator flux measurements over time (``mjd``)."""

    table = "calibration_monitoring"
    order = "calibrator_name, mjd"

    def find(self, *, calibrator_name: str | list[str] | None = None, start: TimeLike = None,
             end: TimeLike = None, limit: int | None = DEFAULT_LIMIT) -> pd.DataFrame:
        w = self.where().eq("calibrator_name", calibrator_name)
        w.mjd_range("mjd", start, end, now=self._now)
        return self._select(w, limit=limit)


class FluxAlertRepository(Repository):
    """The ``flux_monitoring_alerts`` table."""

    table = "flux_monitoring_alerts"
    order = "triggered_at DESC, id DESC"

    def find(self, *, calibrator_name: str | list[str] | None = None,
             severity: str | list[str] | None = None, acknowledged: bool | None = None,
             resolved: bool | None = None, start: TimeLike = None, end: TimeLike = None,
             limit: int | None = DEFAULT_LIMIT) -> pd.DataFrame:
        """Alerts; ``acknowledged``/``resolved`` False keeps the open ones."""
        w = self.where().eq("calibrator_name", calibrator_name).eq("severity", severity)
        w.is_null("acknowledged_at", None if acknowledged is None else not acknowledged)
        w.is_null("resolved_at", None if resolved is None else not resolved)
        w.unix_range("triggered_at", start, end, now=self._now)
        return self._select(w, limit=limit)
