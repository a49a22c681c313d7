"""Calibrator flux monitoring and its alerts.

Write methods take the open connection of an operator transaction
(``services._operator.perform``) and never commit themselves.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import sqlalchemy as sa

from dsa110_ws.core.time import TimeLike
from dsa110_ws.repositories._base import DEFAULT_LIMIT, Repository

__all__ = ["CalibrationMonitoringRepository", "FluxAlertRepository"]


class CalibrationMonitoringRepository(Repository):
    """The ``calibration_monitoring`` table: calibrator flux measurements over time (``mjd``)."""

    table = "calibration_monitoring"
    order = "calibrator_name, mjd"

    def find(
        self,
        *,
        calibrator_name: str | list[str] | None = None,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        limit: int | None = DEFAULT_LIMIT,
    ) -> pd.DataFrame:
        w = self.where().eq("calibrator_name", calibrator_name)
        w.mjd_range("mjd", start, end, now=self._now)
        return self._select(w, limit=limit)

    def calibrators(self) -> list[str]:
        """Distinct calibrator names with measurements."""
        self.columns()
        df = self.db.query(
            "SELECT DISTINCT calibrator_name FROM calibration_monitoring "
            "WHERE calibrator_name IS NOT NULL ORDER BY calibrator_name"
        )
        return df["calibrator_name"].tolist()


class FluxAlertRepository(Repository):
    """The ``flux_monitoring_alerts`` table."""

    table = "flux_monitoring_alerts"
    order = "triggered_at DESC, id DESC"

    def find(
        self,
        *,
        calibrator_name: str | list[str] | None = None,
        severity: str | list[str] | None = None,
        acknowledged: bool | None = None,
        resolved: bool | None = None,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        limit: int | None = DEFAULT_LIMIT,
    ) -> pd.DataFrame:
        """Alerts; ``acknowledged``/``resolved`` False keeps the open ones.

        ``start``/``end`` bound ``triggered_at`` (Unix seconds); any time form is converted
        to Unix seconds first, so an MJD never meets a Unix column.
        """
        w = self.where().eq("calibrator_name", calibrator_name).eq("severity", severity)
        w.is_null("acknowledged_at", None if acknowledged is None else not acknowledged)
        w.is_null("resolved_at", None if resolved is None else not resolved)
        w.unix_range("triggered_at", start, end, now=self._now)
        return self._select(w, limit=limit)

    # -- write side ----------------------------------------------------------------------
    def get_in(self, con: Any, alert_id: int) -> dict[str, Any] | None:
        row = (
            con.execute(
                sa.text("SELECT * FROM flux_monitoring_alerts WHERE id = :id"),
                {"id": int(alert_id)},
            )
            .mappings()
            .first()
        )
        return None if row is None else dict(row)

    def acknowledge(self, con: Any, alert_id: int, *, by: str, at_unix: float) -> int:
        """Mark an alert acknowledged unless it already is; rows changed (0 or 1)."""
        return con.execute(
            sa.text(
                "UPDATE flux_monitoring_alerts SET acknowledged_at = :at, acknowledged_by = :by "
                "WHERE id = :id AND acknowledged_at IS NULL"
            ),
            {"at": float(at_unix), "by": by, "id": int(alert_id)},
        ).rowcount

    def resolve(self, con: Any, alert_id: int, *, note: str | None, by: str, at_unix: float) -> int:
        """Mark an alert resolved (and acknowledged, if it was not) unless it already is."""
        con.execute(
            sa.text(
                "UPDATE flux_monitoring_alerts SET acknowledged_at = :at, acknowledged_by = :by "
                "WHERE id = :id AND acknowledged_at IS NULL AND resolved_at IS NULL"
            ),
            {"at": float(at_unix), "by": by, "id": int(alert_id)},
        )
        return con.execute(
            sa.text(
                "UPDATE flux_monitoring_alerts SET resolved_at = :at, resolution_note = :note "
                "WHERE id = :id AND resolved_at IS NULL"
            ),
            {"at": float(at_unix), "note": note, "id": int(alert_id)},
        ).rowcount
