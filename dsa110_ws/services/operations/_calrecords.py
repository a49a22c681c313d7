"""Frozen result records of the calibration-health service."""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd

from dsa110_ws.core.severity import Severity
from dsa110_ws.core.time import mjd_to_iso

__all__ = ["NearestSet", "CalTimeline", "CalHealthReport"]


def _mjd_iso(mjd: float | None) -> str | None:
    return mjd_to_iso(mjd, timespec="milliseconds")


@dataclasses.dataclass(frozen=True)
class NearestSet:
    """The active caltable set nearest to ``at_mjd``.

    ``valid``: its window [valid_start_mjd, valid_end_mjd] contains the time;
    ``distance_h``: hours between the time and the set's calibration time ``ref_mjd``
    (window midpoint); ``staleness``: fresh / aging / stale / critical, or unknown when
    the only active sets have no validity window;
    ``apply_list``: its caltable paths in ``order_index`` order (empty when not valid).
    """

    at_mjd: float
    set_name: str | None
    valid: bool
    ref_mjd: float | None
    distance_h: float | None
    staleness: str
    valid_start_mjd: float | None
    valid_end_mjd: float | None
    types: tuple
    missing_types: tuple
    apply_list: tuple

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.update(
            at_utc=_mjd_iso(self.at_mjd),
            types=list(self.types),
            missing_types=list(self.missing_types),
            apply_list=list(self.apply_list),
        )
        return d


@dataclasses.dataclass(frozen=True)
class CalTimeline:
    """Coverage of [start_mjd, end_mjd) by active sets: windows, merged cover, gaps."""

    start_mjd: float
    end_mjd: float
    sets: pd.DataFrame
    covered: pd.DataFrame
    gaps: pd.DataFrame
    coverage_fraction: float
    #: Active sets with a NULL validity bound: not in the cover, not in the gaps' count.
    n_unknown_windows: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "start_mjd": self.start_mjd,
            "end_mjd": self.end_mjd,
            "coverage_fraction": self.coverage_fraction,
            "n_unknown_windows": self.n_unknown_windows,
            "sets": self.sets.to_dict(orient="records"),
            "gaps": self.gaps.to_dict(orient="records"),
        }


@dataclasses.dataclass(frozen=True)
class CalHealthReport:
    """Calibration health at ``at_mjd``: status ok | warning | critical | unknown, the
    reasons, and what could not be judged (``unavailable``: e.g. no flux-monitor tables)."""

    status: str
    at_mjd: float
    nearest: NearestSet
    n_active_sets: int
    open_alerts: pd.DataFrame
    flux: pd.DataFrame
    reasons: tuple
    unavailable: tuple = ()
    n_unknown_windows: int = 0

    @property
    def exit_code(self) -> int:
        """0 ok, 1 warning, 2 critical, 3 unknown (the severity ladder's exit codes)."""
        return Severity.parse(self.status).exit_code

    def to_dict(self) -> dict[str, Any]:
        alerts = self.open_alerts
        keep = [
            c
            for c in (
                "id",
                "alert_type",
                "severity",
                "calibrator_name",
                "flux_drift_percent",
                "message",
                "triggered_at",
                "acknowledged_at",
            )
            if c in alerts.columns
        ]
        return {
            "status": self.status,
            "at_mjd": self.at_mjd,
            "at_utc": _mjd_iso(self.at_mjd),
            "reasons": list(self.reasons),
            "unavailable": list(self.unavailable),
            "flux_available": not any("flux" in u for u in self.unavailable),
            "n_active_sets": self.n_active_sets,
            "n_unknown_windows": self.n_unknown_windows,
            "nearest": self.nearest.to_dict(),
            "open_alerts": alerts[keep].to_dict(orient="records"),
            "flux": self.flux.to_dict(orient="records"),
        }
