"""Calibration health: active sets and their validity windows, coverage and gaps, the
nearest valid set to a time with its staleness, missing types, the apply list, and
calibrator flux monitoring (ratio statistics, drift, alerts).

Time arithmetic happens in one unit per quantity: validity windows and flux measurements
in MJD (days), distances in hours, alert times in Unix seconds - every cutoff is
converted from an astropy ``Time`` to the unit of the column it is compared with (the
old backend compared an MJD cutoff with Unix ``triggered_at`` values).

Settings table ``[calibration]``: ``required_types`` (default ["BP", "GA", "GP"]),
``staleness_hours`` ([6, 12, 24]: fresh / aging / stale limits), ``drift_percent_per_day``
(1.0) and ``ratio_std_max`` (0.05) for flux stability.

Real databases differ (see docs/pipeline-data.md): ``table_type`` comes in two vocabularies
(:mod:`dsa110_ws.core.caltypes`); a set whose validity window is NULL on either side has an
unknown window (the pipeline itself treats NULL as open-ended, so such a set is applied at
any time): it is never "nearest", it is counted and graded ``unknown``; the flux tables
(``calibration_monitoring``, ``flux_monitoring_alerts``) exist only once the pipeline's
flux monitor has run, and without them only the flux part of the health is unavailable.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dsa110_ws.core import caltypes
from dsa110_ws.core.settings import CalibrationSettings
from dsa110_ws.core.severity import Severity, from_staleness, worst
from dsa110_ws.core.time import TimeLike, parse_duration, to_mjd
from dsa110_ws.services.operations._calrecords import CalHealthReport, CalTimeline, NearestSet

if TYPE_CHECKING:
    from dsa110_ws.core.time import Clock
    from dsa110_ws.repositories.caltables import CaltableRepository
    from dsa110_ws.repositories.monitoring import (
        CalibrationMonitoringRepository,
        FluxAlertRepository,
    )

__all__ = [
    "CalibrationHealthService",
    "NearestSet",
    "CalTimeline",
    "CalHealthReport",
    "FLUX_SUMMARY_COLUMNS",
    "staleness_class",
]

#: The columns of ``flux_summary()`` a text or report view shows.
FLUX_SUMMARY_COLUMNS = [
    "calibrator_name",
    "n",
    "ratio_mean",
    "ratio_std",
    "drift_percent_per_day",
    "stability",
    "open_alerts",
]

#: What a view says when the flux monitor's tables are absent.
FLUX_UNAVAILABLE = (
    "flux monitoring not available: no calibration_monitoring / flux_monitoring_alerts "
    "table (the pipeline creates them when its flux monitor first runs)"
)


def staleness_class(hours: float, limits: tuple[float, float, float] = (6.0, 12.0, 24.0)) -> str:
    """fresh (<= 6 h), aging (<= 12 h), stale (<= 24 h) or critical."""
    fresh, aging, stale = limits
    if hours <= fresh:
        return "fresh"
    if hours <= aging:
        return "aging"
    return "stale" if hours <= stale else "critical"


class CalibrationHealthService:
    """``w.calhealth``: is the pipeline's calibration usable, and how stable are the
    calibrators?"""

    def __init__(
        self,
        caltables: CaltableRepository,
        monitoring: CalibrationMonitoringRepository,
        alerts: FluxAlertRepository,
        *,
        clock: Clock,
        settings: CalibrationSettings | None = None,
    ):
        self._caltables = caltables
        self._monitoring = monitoring
        self._alerts = alerts
        self._clock = clock
        self._cfg = settings or CalibrationSettings()

    def __repr__(self) -> str:
        return (
            "<CalibrationHealthService: sets, valid_at, nearest, apply_list, timeline, flux, "
            "alerts, health>"
        )

    @property
    def required_types(self) -> tuple[str, ...]:
        """Caltable types a usable set must have (``[calibration] required_types``)."""
        return tuple(str(t).upper() for t in self._cfg.required_types)

    def _limits(self) -> tuple[float, float, float]:
        return self._cfg.staleness_hours

    def _mjd(self, at: TimeLike | None) -> float:
        now = self._clock.now()
        return float(now.mjd) if at is None else to_mjd(at, now=now, what="time")

    # -- sets and windows ----------------------------------------------------------------
    def sets(
        self,
        *,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        status: str | list[str] | None = "active",
    ) -> pd.DataFrame:
        """One row per caltable set whose validity overlaps [start, end) (all when not given).

        Adds ``types`` (list, in apply order), ``missing_types`` (of the required ones),
        ``ref_mjd`` (the window midpoint: the set's calibration time, as the pipeline uses)
        and ``window_known`` (False when a bound is NULL; such sets only appear without
        ``start``/``end``).
        """
        df = self._caltables.set_windows(status=status, start=start, end=end)
        types = [
            [t for t in str(x).split(",") if t] if isinstance(x, str) else []
            for x in df["table_types"]
        ]
        lo = pd.to_numeric(df["valid_start_mjd"], errors="coerce")
        hi = pd.to_numeric(df["valid_end_mjd"], errors="coerce")
        return df.assign(
            valid_start_mjd=lo,
            valid_end_mjd=hi,
            types=types,
            missing_types=[caltypes.missing(self.required_types, t) for t in types],
            ref_mjd=(lo + hi) / 2.0,
            window_known=np.isfinite(lo.to_numpy(float)) & np.isfinite(hi.to_numpy(float)),
        )

    def unknown_windows(self) -> pd.DataFrame:
        """Active sets whose validity window is NULL on either side (set_name, types)."""
        sets = self.sets()
        return sets.loc[~sets["window_known"], ["set_name", "types", "n_tables"]].reset_index(
            drop=True
        )

    def valid_at(self, at: TimeLike | None = None) -> pd.DataFrame:
        """Active caltables whose window contains ``at`` (default now), in apply order."""
        t = self._mjd(at)
        df = self._caltables.find(valid_at=t, status="active", limit=None)
        return df.sort_values(["set_name", "order_index"], kind="stable", ignore_index=True)

    def nearest(self, at: TimeLike | None = None) -> NearestSet:
        """The active set nearest to ``at`` (default now) and its staleness.

        A set whose window contains ``at`` wins over one that does not; among equals the
        smallest distance from ``at`` to the set's calibration time (window midpoint) wins.
        ``staleness`` classifies that distance in hours.  Sets with an unknown window are
        never chosen; when they are all there is, ``staleness`` is ``"unknown"``.
        """
        t = self._mjd(at)
        sets = self.sets(start=t - 2.0, end=t + 2.0)
        if sets.empty:
            every = self.sets()
            sets = every[every["window_known"]]
            unknown = not len(sets) and len(every) > 0
        if sets.empty:
            return NearestSet(
                at_mjd=t,
                set_name=None,
                valid=False,
                ref_mjd=None,
                distance_h=None,
                staleness="unknown" if unknown else "critical",
                valid_start_mjd=None,
                valid_end_mjd=None,
                types=(),
                missing_types=self.required_types,
                apply_list=(),
            )
        inside = (sets["valid_start_mjd"] <= t) & (sets["valid_end_mjd"] >= t)
        dist_h = (sets["ref_mjd"] - t).abs() * 24.0
        order = pd.DataFrame({"out": ~inside, "d": dist_h}).sort_values(["out", "d"], kind="stable")
        best = sets.loc[order.index[0]]
        valid = bool(inside.loc[order.index[0]])
        paths = ()
        if valid:
            tabs = self._caltables.find(
                set_name=best["set_name"], status="active", limit=None
            ).sort_values("order_index")
            paths = tuple(tabs["path"])
        d = float(dist_h.loc[order.index[0]])
        return NearestSet(
            at_mjd=t,
            set_name=str(best["set_name"]),
            valid=valid,
            ref_mjd=float(best["ref_mjd"]),
            distance_h=d,
            staleness=staleness_class(d, self._limits()),
            valid_start_mjd=float(best["valid_start_mjd"]),
            valid_end_mjd=float(best["valid_end_mjd"]),
            types=tuple(best["types"]),
            missing_types=tuple(best["missing_types"]),
            apply_list=paths,
        )

    def apply_list(self, at: TimeLike | None = None) -> list[str]:
        """Caltable paths to apply at ``at`` (the nearest valid set, in ``order_index``
        order); empty when no active set is valid then."""
        return list(self.nearest(at).apply_list)

    def timeline(
        self, *, start: TimeLike | None = None, end: TimeLike | None = None
    ) -> CalTimeline:
        """Validity coverage of active sets over [start, end) (default: the last 7 days).

        Returns the set windows, the merged covered intervals, the gaps (start_mjd, end_mjd,
        duration_h) and the covered fraction of the window.
        """
        lo_t, hi_t = self._clock.window(start, end, default=dt.timedelta(days=7))
        lo, hi = float(lo_t.mjd), float(hi_t.mjd)
        sets = self.sets(start=lo_t, end=hi_t)
        n_unknown = int(len(self.unknown_windows()))
        spans = sorted(
            (max(a, lo), min(b, hi))
            for a, b in zip(sets["valid_start_mjd"], sets["valid_end_mjd"], strict=True)
            if np.isfinite(a) and np.isfinite(b) and min(b, hi) > max(a, lo)
        )
        merged: list[list[float]] = []
        for a, b in spans:
            if merged and a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        gaps, cursor = [], lo
        for a, b in merged:
            if a > cursor:
                gaps.append((cursor, a))
            cursor = max(cursor, b)
        if cursor < hi:
            gaps.append((cursor, hi))
        covered = sum(b - a for a, b in merged)
        gap_df = pd.DataFrame(gaps, columns=["start_mjd", "end_mjd"])
        gap_df["duration_h"] = (gap_df["end_mjd"] - gap_df["start_mjd"]) * 24.0
        return CalTimeline(
            start_mjd=lo,
            end_mjd=hi,
            sets=sets[["set_name", "valid_start_mjd", "valid_end_mjd", "types"]],
            covered=pd.DataFrame(merged, columns=["start_mjd", "end_mjd"]),
            gaps=gap_df,
            coverage_fraction=covered / (hi - lo) if hi > lo else 0.0,
            n_unknown_windows=n_unknown,
        )

    # -- flux monitoring -----------------------------------------------------------------
    def flux(
        self,
        *,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        calibrator: str | list[str] | None = None,
    ) -> pd.DataFrame:
        """Per-calibrator flux-ratio statistics over [start, end) (default: the last 14 days).

        Columns: calibrator_name, n, first_mjd, last_mjd, ratio_mean, ratio_std (ddof=1),
        ratio_min, ratio_max, drift_per_day (least-squares slope of flux_ratio against mjd,
        ratio units per day), drift_percent_per_day (100 x slope), drift_percent (over the
        span), stability ('stable', 'drifting', 'unstable', 'too few'), open_alerts.
        """
        lo, hi = self._clock.window(start, end, default=dt.timedelta(days=14))
        df = self._monitoring.find(calibrator_name=calibrator, start=lo, end=hi, limit=None)
        open_alerts = (
            self.alerts(open_only=True)["calibrator_name"].value_counts()
            if self._alerts.available
            else pd.Series(dtype=int)
        )
        rows = [self._flux_row(name, g, open_alerts) for name, g in df.groupby("calibrator_name")]
        cols = [
            "calibrator_name",
            "n",
            "first_mjd",
            "last_mjd",
            "ratio_mean",
            "ratio_std",
            "ratio_min",
            "ratio_max",
            "drift_per_day",
            "drift_percent_per_day",
            "drift_percent",
            "stability",
            "open_alerts",
        ]
        return pd.DataFrame(rows, columns=cols)

    def _flux_row(self, name: str, g: pd.DataFrame, open_alerts: pd.Series) -> dict[str, Any]:
        g = g.dropna(subset=["flux_ratio", "mjd"])
        x, y = g["mjd"].to_numpy(float), g["flux_ratio"].to_numpy(float)
        n = len(y)
        slope = float(np.polyfit(x - x.mean(), y, 1)[0]) if n >= 2 and np.ptp(x) > 0 else np.nan
        std = float(np.std(y, ddof=1)) if n >= 2 else np.nan
        span = float(np.ptp(x)) if n else np.nan
        cfg = self._cfg
        if n < 3:
            stab = "too few"
        elif abs(100 * slope) >= cfg.drift_percent_per_day:
            stab = "drifting"
        elif std >= cfg.ratio_std_max:
            stab = "unstable"
        else:
            stab = "stable"
        return {
            "calibrator_name": name,
            "n": n,
            "first_mjd": x.min() if n else np.nan,
            "last_mjd": x.max() if n else np.nan,
            "ratio_mean": y.mean() if n else np.nan,
            "ratio_std": std,
            "ratio_min": y.min() if n else np.nan,
            "ratio_max": y.max() if n else np.nan,
            "drift_per_day": slope,
            "drift_percent_per_day": 100 * slope,
            "drift_percent": 100 * slope * span,
            "stability": stab,
            "open_alerts": int(open_alerts.get(name, 0)),
        }

    def alerts(
        self,
        *,
        within: Any = None,
        open_only: bool = False,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        calibrator: str | None = None,
    ) -> pd.DataFrame:
        """Flux-monitoring alerts, newest first.

        ``within`` (a ``timedelta`` or time ``Quantity``) keeps alerts triggered in that
        long before ``w.now()``; the cutoff is Unix seconds, like ``triggered_at``.
        ``open_only`` keeps unresolved alerts.
        """
        if within is not None:
            seconds = parse_duration(within, what="within").total_seconds()
            start = self._clock.now_unix() - seconds  # Unix seconds, as triggered_at
        return self._alerts.find(
            calibrator_name=calibrator,
            resolved=False if open_only else None,
            start=start,
            end=end,
            limit=None,
        )

    @property
    def flux_available(self) -> bool:
        """Whether the flux monitor's tables exist (both)."""
        return self._monitoring.available and self._alerts.available

    # -- overall -------------------------------------------------------------------------
    def health(self, at: TimeLike | None = None) -> CalHealthReport:
        """Calibration health at ``at`` (default now): ok, warning, critical or unknown, with
        reasons; what could not be judged is listed in ``unavailable``."""
        near = self.nearest(at)
        reasons: list[str] = []
        unavailable: list[str] = []
        status = from_staleness(near.staleness)
        unknown = self.unknown_windows()
        if len(unknown):
            status = worst([status, Severity.UNKNOWN])
            reasons.append(
                f"{len(unknown)} active set(s) have no validity window (valid_start_mjd/"
                f"valid_end_mjd NULL: {', '.join(unknown['set_name'].astype(str)[:5])}"
                + (" ..." if len(unknown) > 5 else "")
                + "); the pipeline applies such sets at any time, so their fitness cannot "
                "be judged"
            )
        if near.set_name is None and near.staleness == "unknown":
            reasons.append("no active set with a known validity window")
        elif near.set_name is None:
            reasons.append("no active caltable set at all")
        else:
            reasons.append(
                f"nearest set {near.set_name} is {near.distance_h:.1f} h from the "
                f"requested time ({near.staleness})"
            )
            if not near.valid:
                status = Severity.CRITICAL
                reasons.append("no active set is valid at that time (validity gap)")
        if near.missing_types and near.set_name is not None:
            status = Severity.CRITICAL if status > Severity.OK else Severity.WARNING
            reasons.append(f"missing caltable types: {', '.join(near.missing_types)}")
        if self.flux_available:
            alerts = self.alerts(open_only=True)
            flux = self.flux(end=at)
        else:
            unavailable.append(FLUX_UNAVAILABLE)
            reasons.append(FLUX_UNAVAILABLE)
            alerts = pd.DataFrame(columns=["calibrator_name", "severity"])
            flux = pd.DataFrame(columns=FLUX_SUMMARY_COLUMNS)
        known = [s for s in alerts["severity"].dropna().str.lower() if s in ("warning", "critical")]
        status = worst([status, *known])
        if len(alerts):
            reasons.append(
                f"{len(alerts)} open flux alert(s): "
                + ", ".join(sorted(set(alerts["calibrator_name"].astype(str))))
            )
        bad = flux[flux["stability"].isin(["drifting", "unstable"])]
        if len(bad):
            status = worst([status, Severity.WARNING])
            reasons.append(
                "calibrator flux not stable: "
                + ", ".join(
                    f"{n} ({s}, {p:+.1f}%/day)"
                    for n, s, p in zip(
                        bad["calibrator_name"],
                        bad["stability"],
                        bad["drift_percent_per_day"],
                        strict=True,
                    )
                )
            )
        n_active = int(len(self.sets()))
        return CalHealthReport(
            status=status.value,
            at_mjd=near.at_mjd,
            nearest=near,
            n_active_sets=n_active,
            open_alerts=alerts,
            flux=flux,
            reasons=tuple(reasons),
            unavailable=tuple(unavailable),
            n_unknown_windows=int(len(unknown)),
        )
