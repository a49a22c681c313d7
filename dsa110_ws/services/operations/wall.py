"""The operations wall: fixed "last 24 h" tiles with a severity, a trend and an age.

One call, :meth:`WallService.tiles`, answers every tile over the same window, the 24 hours
before the workspace clock; nothing a panel control sets reaches it.  Each tile carries its
value, its severity on the one ladder (``core.severity``; ``"info"`` for a number that is
shown and not judged) against the ``[wall]`` thresholds, a trend of its own quantity for
its sparkline (hourly over the last 24 h or per night over the last 14 nights, named in
``trend``; no trend when its source is unavailable), the time of the newest record behind
it (for "updated x min ago") and the dashboard view that details it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dsa110_ws.core.severity import Severity, from_quality, worst
from dsa110_ws.errors import SchemaMismatchError, WorkspaceError, one_line
from dsa110_ws.services.operations import _wallseries as bins
from dsa110_ws.services.operations._common import FAILED, SUCCESS

if TYPE_CHECKING:
    from dsa110_ws.core.settings import WallSettings
    from dsa110_ws.core.time import Clock
    from dsa110_ws.repositories import (
        ImageQARepository,
        JobRepository,
        MSIndexRepository,
    )
    from dsa110_ws.services.operations.calhealth import CalibrationHealthService
    from dsa110_ws.services.operations.health import HealthService
    from dsa110_ws.services.operations.ingest import IngestionService
    from dsa110_ws.services.operations.jobs import JobService
    from dsa110_ws.services.operations.stats import StatsService
    from dsa110_ws.services.operations.tasks import TaskQueueService

__all__ = ["WallService", "WallTile"]

_HOURS = bins.HOURS
_OPS = "operations"


@dataclasses.dataclass(frozen=True)
class WallTile:
    """One tile: ``value`` as text, ``severity`` (ok, warning, critical, unknown, or info),
    ``series`` (its trend, oldest first, NaN where a rate has no data; empty when the
    tile's source is unavailable), ``trend`` (what the series counts and its bins),
    ``newest_unix`` (the newest record behind it, or ``None``), ``detail`` (one line) and
    ``link`` (dashboard name and its query parameters)."""

    key: str
    label: str
    value: str
    severity: str
    detail: str = ""
    series: tuple[float, ...] = ()
    newest_unix: float | None = None
    link: tuple[str, tuple[tuple[str, str], ...]] = (_OPS, ())
    trend: str = ""


class WallService:
    """``w.wall``: the tiles of the operations wall (see the module docstring).

    Parameters
    ----------
    stats, jobs, health, calhealth, ingest
        The services the tiles read.
    tasks
        The task queue (when none is configured its tile says so).
    ms_index, job_rows, image_qa
        The repositories the trends are binned by (``ms_index``, ``jobs``, ``image_qa``).
    settings
        ``[wall]``: the tiles' [warning, critical] thresholds.
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
        ms_index: MSIndexRepository,
        job_rows: JobRepository,
        image_qa: ImageQARepository,
        settings: WallSettings,
        clock: Clock,
    ):
        self._stats, self._jobs, self._health = stats, jobs, health
        self._calhealth, self._ingest, self._tasks = calhealth, ingest, tasks
        self._ms_index, self._job_rows, self._image_qa = ms_index, job_rows, image_qa
        self.settings = settings
        self._clock = clock

    def __repr__(self) -> str:
        return "<WallService: tiles() over the last 24 h>"

    def window(self) -> tuple[float, float]:
        """[start, end) of the wall's window, Unix seconds (the last 24 h)."""
        end = float(self._clock.now().unix)
        return end - _HOURS * 3600.0, end

    def tiles(self) -> list[WallTile]:
        """Every tile, in wall order; a tile whose source fails says why ("n/a",
        unknown, no trend)."""
        lo, hi = self.window()
        night = pd.Timestamp(hi - 86400.0, unit="s").strftime("%Y-%m-%d")
        report = self._health.check()
        newest = {
            c.name: c.value.get("newest_unix") for c in report.checks if c.kind == "freshness"
        }
        newest_image = _newest(v for k, v in newest.items() if "image" in k)
        makers: tuple[tuple[tuple[tuple[str, str], ...], Callable[[], list[WallTile]]], ...] = (
            ((("health", "pipeline health"),), lambda: [self._health_tile(report, hi)]),
            (
                (("calibration", "calibration"), ("open_alerts", "open flux alerts")),
                lambda: self._cal_tiles(hi),
            ),
            (
                (("images", "images (24 h)"), ("bad_images", "bad images (24 h)")),
                lambda: self._images_tiles(hi, night, newest_image),
            ),
            (
                (
                    ("failed_jobs", "failed jobs (24 h)"),
                    ("success_rate", "job success rate (24 h)"),
                ),
                lambda: self._jobs_tiles(lo, hi),
            ),
            ((("stuck_ms", "stuck MS"),), lambda: self._stuck_tiles(hi)),
            ((("incomplete_groups", "incomplete subband groups"),), self._ingest_tiles),
            ((("queue", "pending tasks"),), lambda: self._queue_tiles(hi)),
        )
        out: list[WallTile] = []
        for names, make in makers:
            try:
                out.extend(make())
            except WorkspaceError as exc:
                for key, label in names:
                    out.extend(_unavailable(key, label, _reason(exc)))
        return out

    # -- tiles ---------------------------------------------------------------------------
    def _health_tile(self, r: Any, hi: float) -> WallTile:
        bad = [f"{c.name} {c.status}" for c in r.checks if c.status != "ok"]
        h = bins.hourly(hi)
        series = _trend(
            lambda: bins.from_binned(
                self._ms_index.binned("created_at", lo=h.lo, hi=h.hi, width=h.width), h
            )
        )
        return WallTile(
            "health",
            "pipeline health",
            r.status,
            r.status,
            "; ".join(bad) or f"{len(r.checks)} checks ok",
            series=series,
            newest_unix=_newest(
                c.value.get("newest_unix") for c in r.checks if c.kind == "freshness"
            ),
            link=(_OPS, (("panel", "health"),)),
            trend=f"new MS {h.text}" if series else "",
        )

    def _cal_tiles(self, hi: float) -> list[WallTile]:
        cal = self._calhealth.health()
        near = cal.nearest
        detail = "no active set" if near.set_name is None else f"{near.set_name} ({near.staleness})"
        h = bins.hourly(hi)
        lo_mjd, hi_mjd, w_days = h.mjd()
        ends = lo_mjd + w_days * (np.arange(h.n) + 1.0)  # each hour's end, as "now" is
        dist = _trend(
            lambda: bins.nearest_hours(
                self._calhealth.sets(start=lo_mjd - 2.0, end=hi_mjd + 2.0),
                ends,
                self._calhealth.sets,
            )
        )
        tiles = [
            WallTile(
                "calibration",
                "calibration",
                cal.status,
                cal.status,
                detail,
                series=dist if any(np.isfinite(dist)) else (),
                link=(_OPS, (("panel", "health"),)),
                trend=f"hours to the nearest cal set, {h.text}" if any(np.isfinite(dist)) else "",
            )
        ]
        if not self._calhealth.flux_available:
            tiles += _unavailable("open_alerts", "open flux alerts", "no flux-monitoring tables")
            return tiles
        alerts = cal.open_alerts
        n = bins.nightly(hi)
        tiles.append(
            WallTile(
                "open_alerts",
                "open flux alerts",
                str(len(alerts)),
                _level_above(len(alerts), self.settings.open_flux_alerts),
                "calibrator flux alerts not resolved",
                series=bins.from_times(alerts.get("triggered_at", ()), n),
                newest_unix=_newest(alerts.get("triggered_at", ())),
                link=(_OPS, (("panel", "health"),)),
                trend=f"open alerts per night raised, {n.n} nights",
            )
        )
        return tiles

    def _images_tiles(self, hi: float, night: str, newest_image: float | None) -> list[WallTile]:
        # the one definition, without the jobs (a database without a jobs table has images)
        period = self._stats.period_products(hi - _HOURS * 3600.0, hi)
        h = bins.hourly(hi)
        lo_mjd, hi_mjd, w_days = h.mjd()
        per_hour = _trend(
            lambda: bins.from_binned(
                self._ms_index.binned_counts(
                    "images", lo_mjd=lo_mjd, hi_mjd=hi_mjd, width_days=w_days
                ),
                h,
            )
        )
        n_bad, n_qa = period["n_bad_images"], period["n_qa"]
        frac = n_bad / n_qa if n_qa else math.nan
        bad_series = _trend(lambda: self._bad_per_hour(h)) if n_qa else ()
        science = ("science", (("night", night), ("n_nights", "2")))
        return [
            WallTile(
                "images",
                "images (24 h)",
                f"{period['n_images']:,}",
                "info",
                f"{period['n_ms']:,} MS observed; {period['n_photometry']:,} photometry rows",
                series=per_hour,
                newest_unix=newest_image,
                link=science,
                trend=f"images {h.text} (observed)" if per_hour else "",
            ),
            WallTile(
                "bad_images",
                "bad images (24 h)",
                f"{n_bad} of {n_qa}" if n_qa else "n/a",
                _level_above(frac, self.settings.bad_image_fraction) if n_qa else "unknown",
                "no stored QA in the window" if not n_qa else f"{100 * frac:.1f}% graded bad",
                series=bad_series,
                link=(_OPS, (("panel", "qa"),)),
                trend=f"bad images {h.text} (observed)" if bad_series else "",
            ),
        ]

    def _bad_per_hour(self, h: bins.Bins) -> tuple[float, ...]:
        """Images graded bad (critical, as the period summary grades) per hour observed."""
        lo_mjd, hi_mjd, _ = h.mjd()
        qa = self._image_qa.metrics_by_observation(lo_mjd=lo_mjd, hi_mjd=hi_mjd)
        bad = np.asarray([from_quality(q) is Severity.CRITICAL for q in qa["overall_quality"]])
        return bins.from_times((qa["obs_mjd"][bad] - 40587.0) * 86400.0, h)

    def _jobs_tiles(self, lo: float, hi: float) -> list[WallTile]:
        s = self._jobs.summary(start=lo, end=hi)
        h = bins.hourly(hi)
        by = self._job_rows.binned("created_at", lo=h.lo, hi=h.hi, width=h.width, by="status")
        status = by["status"].astype(str).str.lower()
        failed = bins.from_binned(by[status.isin(FAILED)], h)
        done = bins.from_binned(by[status.isin(SUCCESS)], h)
        finished = tuple(a + b for a, b in zip(failed, done, strict=True))
        last_failed = self._job_rows.max_of(
            "created_at",
            self._job_rows.where().eq("status", sorted(FAILED)).between("created_at", lo, hi),
        )
        rate = s.success_rate
        return [
            WallTile(
                "failed_jobs",
                "failed jobs (24 h)",
                str(s.n_failed),
                _level_above(s.n_failed, self.settings.failed_jobs),
                f"{s.n_total} jobs created; {s.n_running} running",
                series=failed,
                newest_unix=last_failed,
                link=(_OPS, (("panel", "jobs"),)),
                trend=f"failed jobs {h.text} (created)",
            ),
            WallTile(
                "success_rate",
                "job success rate (24 h)",
                "n/a" if rate is None else f"{100 * rate:.1f}%",
                "unknown" if rate is None else _level_below(rate, self.settings.job_success_rate),
                f"{s.n_success} succeeded, {s.n_failed} failed",
                series=bins.ratio(done, finished) if any(finished) else (),
                link=(_OPS, (("panel", "jobs"),)),
                trend=f"success rate {h.text} (created)" if any(finished) else "",
            ),
        ]

    def _stuck_tiles(self, hi: float) -> list[WallTile]:
        stuck = self._jobs.stuck()
        n = bins.nightly(hi)
        return [
            WallTile(
                "stuck_ms",
                "stuck MS",
                str(len(stuck)),
                _level_above(len(stuck), self.settings.stuck_ms),
                "no state change for too long",
                series=bins.from_times(stuck["transition_time"], n),
                link=(_OPS, (("panel", "health"),)),
                trend=f"stuck MS per night of last change, {n.n} nights",
            ),
        ]

    def _ingest_tiles(self) -> list[WallTile]:
        inc = self._ingest.incomplete()
        n = bins.nightly(float(self._clock.now().unix))
        return [
            WallTile(
                "incomplete_groups",
                "incomplete subband groups",
                str(len(inc)),
                _level_above(len(inc), self.settings.incomplete_groups),
                f"read from {self._ingest.source}",
                series=bins.from_times(inc["created_at"], n),
                link=(_OPS, (("panel", "ingest"),)),
                trend=f"incomplete groups per night created, {n.n} nights",
            )
        ]

    def _queue_tiles(self, hi: float) -> list[WallTile]:
        if not self._tasks.configured:
            return [WallTile("queue", "pending tasks", "n/a", "info", "no task queue configured")]
        try:
            q = self._tasks.summary()
            failed_at = self._tasks.failed_times()
        except WorkspaceError as exc:
            return _unavailable("queue", "pending tasks", one_line(exc))
        t = self.settings
        level = worst(
            [
                _level_above(q["failed_1h"], t.queue_failed_1h),
                _level_above(q["stuck"], t.queue_stuck),
            ]
        )
        h = bins.hourly(hi)
        return [
            WallTile(
                "queue",
                "pending tasks",
                str(q["pending"]),
                level.value,
                f"{q['running']} running, {q['failed_1h']} failed (1 h), {q['stuck']} stuck, "
                f"{q['dead_letter']} dead-lettered",
                series=bins.from_times(failed_at, h),
                newest_unix=_newest(failed_at),
                link=(_OPS, (("panel", "tasks"),)),
                trend=f"failed tasks {h.text} (finished)",
            )
        ]


def _trend(read: Callable[[], tuple[float, ...]]) -> tuple[float, ...]:
    """A trend read apart from its tile's value: when it cannot be read the tile keeps its
    value and shows no trend (never a line of zeros)."""
    try:
        return read()
    except WorkspaceError:
        return ()


def _reason(exc: WorkspaceError) -> str:
    """Why a tile's source failed, its gist first: a tile shows two lines of it (the rest
    on hover), and a path first left "The pipeline database /data/.../pipeline.sqlite3
    has" on the wall."""
    if isinstance(exc, SchemaMismatchError) and exc.table:
        gist = f"no column {exc.column} in {exc.table}" if exc.column else f"no {exc.table} table"
        return f"{gist} in the pipeline database: {one_line(exc)}"
    return one_line(exc)


def _unavailable(key: str, label: str, why: str) -> list[WallTile]:
    """A tile whose source cannot be read: "n/a", unknown, no trend."""
    return [WallTile(key, label, "n/a", "unknown", why)]


def _level_above(x: float, limits: tuple[float, float]) -> str:
    """ok below ``limits[0]``, warning from it, critical from ``limits[1]``."""
    warn, crit = limits
    if x >= crit:
        return Severity.CRITICAL.value
    return Severity.WARNING.value if x >= warn else Severity.OK.value


def _level_below(x: float, limits: tuple[float, float]) -> str:
    """ok at or above ``limits[0]``, warning below it, critical below ``limits[1]``."""
    warn, crit = limits
    if x < crit:
        return Severity.CRITICAL.value
    return Severity.WARNING.value if x < warn else Severity.OK.value


def _newest(values: Any) -> float | None:
    vals = [float(v) for v in values if v is not None and np.isfinite(float(v))]
    return max(vals) if vals else None
