"""The operations wall: fixed "last 24 h" tiles with a severity, a trend and an age.

One call, :meth:`WallService.tiles`, answers every tile over the same window, the 24 hours
before the workspace clock; nothing a panel control sets reaches it.  Each tile carries its
value, its severity on the one ladder (``core.severity``; ``"info"`` for a number that is
shown and not judged), an hourly series for its sparkline, the time of the newest record
behind it (for "updated x min ago") and the dashboard view that details it.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dsa110_ws.core.severity import Severity, worst
from dsa110_ws.errors import WorkspaceError, one_line

if TYPE_CHECKING:
    from dsa110_ws.core.time import Clock
    from dsa110_ws.services.operations.calhealth import CalibrationHealthService
    from dsa110_ws.services.operations.health import HealthService
    from dsa110_ws.services.operations.ingest import IngestionService
    from dsa110_ws.services.operations.jobs import JobService
    from dsa110_ws.services.operations.stats import StatsService
    from dsa110_ws.services.operations.tasks import TaskQueueService

__all__ = ["WallService", "WallTile", "BAD_FRACTION", "SUCCESS_RATE"]

#: Bad-image fraction (stored QA, last 24 h) at which the tile turns warning, critical.
BAD_FRACTION = (0.05, 0.20)
#: Job success rate (last 24 h) below which the tile turns warning, critical.
SUCCESS_RATE = (0.95, 0.80)
_HOURS = 24


@dataclasses.dataclass(frozen=True)
class WallTile:
    """One tile: ``value`` as text, ``severity`` (ok, warning, critical, unknown, or info),
    ``series`` (hourly, oldest first; empty when the tile has no trend), ``newest_unix``
    (the newest record behind it, or ``None``), ``detail`` (one line) and ``link``
    (dashboard name and its query parameters)."""

    key: str
    label: str
    value: str
    severity: str
    detail: str = ""
    series: tuple[float, ...] = ()
    newest_unix: float | None = None
    link: tuple[str, tuple[tuple[str, str], ...]] = ("operations", ())


class WallService:
    """``w.wall``: the tiles of the operations wall (see the module docstring).

    Parameters
    ----------
    stats, jobs, health, calhealth, ingest
        The services the tiles read.
    tasks
        The task queue (when none is configured its tile says so).
    clock
        The workspace clock: the window is the 24 hours before ``clock.now()``.
    """

    def __init__(
        self,
        *,
        stats: StatsService,
        jobs: JobService,
        health: HealthService,
        calhealth: CalibrationHealthService,
        ingest: IngestionService,
        tasks: TaskQueueService,
        clock: Clock,
    ):
        self._stats, self._jobs, self._health = stats, jobs, health
        self._calhealth, self._ingest, self._tasks = calhealth, ingest, tasks
        self._clock = clock

    def __repr__(self) -> str:
        return "<WallService: tiles() over the last 24 h>"

    def window(self) -> tuple[float, float]:
        """[start, end) of the wall's window, Unix seconds (the last 24 h)."""
        end = float(self._clock.now().unix)
        return end - _HOURS * 3600.0, end

    def tiles(self) -> list[WallTile]:
        """Every tile, in wall order; a tile whose source fails says why (unknown)."""
        lo, hi = self.window()
        night = pd.Timestamp(hi - 86400.0, unit="s").strftime("%Y-%m-%d")
        report = self._health.check()
        newest = {
            c.name: c.value.get("newest_unix") for c in report.checks if c.kind == "freshness"
        }
        makers = (
            lambda: self._health_tile(report),
            lambda: self._cal_tile(),
            lambda: self._images_tiles(
                lo, hi, night, _newest(v for k, v in newest.items() if "image" in k)
            ),
            lambda: self._jobs_tiles(lo, hi),
            lambda: self._ingest_tile(),
            lambda: self._queue_tiles(),
        )
        out: list[WallTile] = []
        for make in makers:
            try:
                made = make()
            except WorkspaceError as exc:
                made = [WallTile("error", "unavailable", "?", "unknown", one_line(exc))]
            out.extend(made if isinstance(made, list) else [made])
        return out

    # -- tiles ---------------------------------------------------------------------------
    def _health_tile(self, r: Any) -> WallTile:
        bad = [f"{c.name} {c.status}" for c in r.checks if c.status != "ok"]
        return WallTile(
            "health",
            "pipeline health",
            r.status,
            r.status,
            "; ".join(bad) or f"{len(r.checks)} checks ok",
            newest_unix=_newest(
                c.value.get("newest_unix") for c in r.checks if c.kind == "freshness"
            ),
            link=("operations", (("panel", "health"),)),
        )

    def _cal_tile(self) -> list[WallTile]:
        cal = self._calhealth.health()
        near = cal.nearest
        detail = "no active set" if near.set_name is None else f"{near.set_name} ({near.staleness})"
        alerts = len(cal.open_alerts)
        return [
            WallTile(
                "calibration",
                "calibration",
                cal.status,
                cal.status,
                detail,
                link=("operations", (("panel", "health"),)),
            ),
            WallTile(
                "open_alerts",
                "open flux alerts",
                str(alerts),
                _count_level(alerts, Severity.WARNING),
                "calibrator flux alerts not acknowledged",
                link=("operations", (("panel", "health"),)),
            ),
        ]

    def _images_tiles(
        self, lo: float, hi: float, night: str, newest_image: float | None
    ) -> list[WallTile]:
        period = self._stats.period_summary(lo, hi)
        tp = self._stats.throughput(start=lo, end=hi, per="hour")
        qa = self._stats.qa(start=lo, end=hi, per="hour")
        n_bad, n_qa = period.n_bad_images, period.n_qa
        frac = n_bad / n_qa if n_qa else math.nan
        bad_level = "unknown" if not n_qa else _level_above(frac, BAD_FRACTION)
        bad_series = _hourly(qa, "n_bad", lo) if "n_bad" in qa.columns else ()
        science = ("science", (("night", night), ("n_nights", "2")))
        return [
            WallTile(
                "images",
                "images (24 h)",
                f"{period.n_images:,}",
                "info",
                f"{period.n_ms:,} MS observed; {period.n_photometry:,} photometry rows",
                series=_hourly(tp, "n_images", lo),
                newest_unix=newest_image,
                link=science,
            ),
            WallTile(
                "bad_images",
                "bad images (24 h)",
                f"{n_bad} of {n_qa}",
                bad_level,
                "no stored QA" if not n_qa else f"{100 * frac:.1f}% graded bad",
                series=bad_series,
                link=("operations", (("panel", "qa"),)),
            ),
        ]

    def _jobs_tiles(self, lo: float, hi: float) -> list[WallTile]:
        s = self._jobs.summary(start=lo, end=hi)
        failed = self._jobs.find(status=["failed", "error"], start=lo, end=hi, limit=None)
        series = _hourly_times(failed["created_at"], lo) if len(failed) else (0.0,) * _HOURS
        newest = _newest(failed["created_at"]) if len(failed) else None
        rate = s.success_rate
        stuck = self._jobs.stuck()
        return [
            WallTile(
                "failed_jobs",
                "failed jobs (24 h)",
                str(s.n_failed),
                _count_level(s.n_failed, Severity.CRITICAL),
                f"{s.n_total} jobs created; {s.n_running} running",
                series=series,
                newest_unix=newest,
                link=("operations", (("panel", "jobs"),)),
            ),
            WallTile(
                "success_rate",
                "job success rate (24 h)",
                "n/a" if rate is None else f"{100 * rate:.1f}%",
                "unknown" if rate is None else _level_below(rate, SUCCESS_RATE),
                f"{s.n_success} succeeded, {s.n_failed} failed",
                link=("operations", (("panel", "jobs"),)),
            ),
            WallTile(
                "stuck_ms",
                "stuck MS",
                str(len(stuck)),
                _count_level(len(stuck), Severity.WARNING),
                "no state change for too long",
                link=("operations", (("panel", "health"),)),
            ),
        ]

    def _ingest_tile(self) -> WallTile:
        inc = self._ingest.incomplete()
        return WallTile(
            "incomplete_groups",
            "incomplete subband groups",
            str(len(inc)),
            _count_level(len(inc), Severity.WARNING),
            f"read from {self._ingest.source}",
            link=("operations", (("panel", "ingest"),)),
        )

    def _queue_tiles(self) -> list[WallTile]:
        if not self._tasks.configured:
            return [WallTile("queue", "task queue", "n/a", "info", "no task queue configured")]
        try:
            q = self._tasks.summary()
        except WorkspaceError as exc:
            return [WallTile("queue", "task queue", "?", "unknown", one_line(exc))]
        level = worst(
            [_count_level(q["failed_1h"], Severity.CRITICAL), _count_level(q["stuck"], "warning")]
        )
        return [
            WallTile(
                "queue",
                "task queue",
                f"{q['pending']} pending",
                level.value,
                f"{q['running']} running, {q['failed_1h']} failed (1 h), {q['stuck']} stuck, "
                f"{q['dead_letter']} dead-lettered",
                link=("operations", (("panel", "tasks"),)),
            )
        ]


def _count_level(n: int, bad: Severity | str) -> str:
    """ok for zero, ``bad`` otherwise."""
    return Severity.OK.value if not n else Severity.parse(bad).value


def _level_above(x: float, limits: tuple[float, float]) -> str:
    warn, crit = limits
    if x >= crit:
        return Severity.CRITICAL.value
    return Severity.WARNING.value if x >= warn else Severity.OK.value


def _level_below(x: float, limits: tuple[float, float]) -> str:
    warn, crit = limits
    if x < crit:
        return Severity.CRITICAL.value
    return Severity.WARNING.value if x < warn else Severity.OK.value


def _newest(values: Any) -> float | None:
    vals = [float(v) for v in values if v is not None and np.isfinite(float(v))]
    return max(vals) if vals else None


def _hourly(df: pd.DataFrame, column: str, lo_unix: float) -> tuple[float, ...]:
    """A binned frame's ``column`` on the wall's 24 hourly bins (missing bins 0)."""
    del lo_unix  # the frame's bins are the window's whole UTC hours already
    if df.empty or column not in df.columns:
        return (0.0,) * _HOURS
    return tuple(float(x) for x in pd.to_numeric(df[column]).fillna(0).to_numpy(float)[-_HOURS:])


def _hourly_times(unix: pd.Series, lo_unix: float) -> tuple[float, ...]:
    """Counts of events (Unix seconds) per hour of the window."""
    t = pd.to_numeric(unix, errors="coerce").dropna().to_numpy(float)
    return _binned(t, np.ones_like(t), lo_unix)


def _binned(t: np.ndarray, w: np.ndarray, lo_unix: float) -> tuple[float, ...]:
    out = np.zeros(_HOURS)
    k = np.floor((t - lo_unix) / 3600.0 + 1e-9).astype(int)
    ok = (k >= 0) & (k < _HOURS)
    np.add.at(out, k[ok], w[ok])
    return tuple(float(x) for x in out)
