"""Pipeline statistics over explicit time windows.

Every method takes ``start``/``end`` (default: the 24 hours before ``w.now()``).  Counts,
throughput and success rates are GROUP BY aggregates in SQL (repository methods); only
the QA distributions read per-image values, and only those of the window.  Throughput is
keyed on observation time (the MS's ``mid_mjd``; photometry through its image), never on
when a row was written.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dsa110_ws.core.severity import Severity, from_quality
from dsa110_ws.core.time import TimeLike, mjd_to_utc
from dsa110_ws.errors import InvalidQueryError
from dsa110_ws.services.operations._records import PeriodSummary

if TYPE_CHECKING:
    from astropy.time import Time

    from dsa110_ws.core.time import Clock
    from dsa110_ws.repositories.ingest import IngestionGroupRepository
    from dsa110_ws.repositories.jobs import BatchJobRepository, JobRepository
    from dsa110_ws.repositories.ms import MSIndexRepository
    from dsa110_ws.repositories.qa import ImageQARepository
    from dsa110_ws.services.operations.health import HealthService
    from dsa110_ws.services.operations.jobs import JobService

__all__ = ["StatsService", "PeriodSummary"]

_PER = {"hour": 1.0 / 24.0, "night": 1.0}
_WHAT = ("ms", "images", "photometry")


class StatsService:
    """``w.stats``: counts, throughput, success rates, QA distributions, period summaries.

    Parameters
    ----------
    ms_index, jobs_repo, batch_jobs, ingestion_groups, image_qa
        The repositories the aggregates run on.
    jobs
        The job service (success rates by the one status classification).
    health
        The health service (disk usage).
    clock
        The workspace clock (default windows).
    """

    def __init__(
        self,
        ms_index: MSIndexRepository,
        jobs_repo: JobRepository,
        batch_jobs: BatchJobRepository,
        ingestion_groups: IngestionGroupRepository,
        image_qa: ImageQARepository,
        *,
        jobs: JobService,
        health: HealthService,
        clock: Clock,
    ):
        self._ms_index = ms_index
        self._jobs_repo = jobs_repo
        self._batches = batch_jobs
        self._groups = ingestion_groups
        self._image_qa = image_qa
        self._jobs = jobs
        self._health = health
        self._clock = clock

    def __repr__(self) -> str:
        return (
            "<StatsService: counts, throughput, success_rates, qa, disk_usage, "
            "period_summary, summary>"
        )

    def _window(
        self, start: TimeLike | None, end: TimeLike | None, all_time: bool = False
    ) -> tuple[Time | None, Time | None]:
        if all_time:
            return None, None
        return self._clock.window(start, end)

    def counts(
        self, *, start: TimeLike | None = None, end: TimeLike | None = None, all_time: bool = False
    ) -> dict[str, Any]:
        """Counts by stage, status and type in the window (``all_time`` for everything).

        ms_by_stage / ms_by_status: MS observed in the window (``mid_mjd``);
        jobs_by_status / jobs_by_type and batches_by_status: created in it;
        ingestion_by_state: groups created in it.  Tables the database lacks are omitted.
        """
        lo, hi = self._window(start, end, all_time)
        out: dict[str, Any] = {
            "start": None if lo is None else lo.isot,
            "end": None if hi is None else hi.isot,
        }
        if self._ms_index.available:
            for col in ("stage", "status"):
                df = self._ms_index.counts_by(col, start=lo, end=hi)
                out[f"ms_by_{col}"] = _as_dict(df, col)
        if self._jobs_repo.available:
            js = self._jobs_repo.summary(start=lo, end=hi)
            for col in ("status", "type"):  # a NULL status or type is counted, not dropped
                out[f"jobs_by_{col}"] = _as_dict(
                    js.groupby(col, dropna=False, as_index=False)["n"].sum(), col
                )
        if self._batches.available:
            out["batches_by_status"] = _as_dict(
                self._batches.counts_by_status(start=lo, end=hi), "status"
            )
        if self._groups.available:
            out["ingestion_by_state"] = _as_dict(
                self._groups.counts_by_state(start=lo, end=hi), "state"
            )
        return out

    def throughput(
        self,
        *,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        per: str = "hour",
        what: tuple[str, ...] = _WHAT,
    ) -> pd.DataFrame:
        """MS, images and photometry rows per hour or per night of observation time.

        Bins are whole UTC hours (or UTC days, the observing nights) covering the window;
        empty bins are 0.  Columns: bin_start (UTC timestamp), bin_start_mjd, n_ms,
        n_images, n_photometry (those asked for).  Images and photometry are counted
        through their MS's observation time; rows whose MS is not in ``ms_index`` are not
        counted.
        """
        if per not in _PER:
            raise InvalidQueryError(f"per must be 'hour' or 'night', not {per!r}.")
        bad = set(what) - set(_WHAT)
        if bad:
            raise InvalidQueryError(f"Cannot count {sorted(bad)}; choose from {list(_WHAT)}.")
        lo_t, hi_t = self._clock.window(start, end)
        width = _PER[per]
        lo = math.floor(float(lo_t.mjd) / width + 1e-9) * width
        hi = float(hi_t.mjd)
        n_bins = max(int(math.ceil((hi - lo) / width - 1e-9)), 1)
        edges = lo + width * np.arange(n_bins)
        out = pd.DataFrame(
            {
                "bin_start": mjd_to_utc(edges).dt.round("s"),
                "bin_start_mjd": edges,
            }
        )
        for kind in what:
            df = self._ms_index.binned_counts(kind, lo_mjd=lo, hi_mjd=hi, width_days=width)
            counts = np.zeros(n_bins, dtype=int)
            for b, n in zip(df["bin"].astype(int), df["n"].astype(int), strict=True):
                if 0 <= b < n_bins:
                    counts[b] += n
            out[f"n_{kind}"] = counts
        return out

    def success_rates(
        self, *, start: TimeLike | None = None, end: TimeLike | None = None
    ) -> pd.DataFrame:
        """Jobs per type created in the window: totals, success ('done' or 'completed'),
        failed, and success_rate = success / (success + failed); plus an 'all' row."""
        s = self._jobs.summary(start=start, end=end)
        df = s.by_type.copy()
        total: dict[str, float] = {c: int(df[c].sum()) for c in df.columns if c.startswith("n_")}
        fin = total.get("n_success", 0) + total.get("n_failed", 0)
        total["success_rate"] = total.get("n_success", 0) / fin if fin else np.nan
        df.loc["all", list(total)] = pd.Series(total)
        return df

    def qa(
        self, *, start: TimeLike | None = None, end: TimeLike | None = None, per: str = "night"
    ) -> pd.DataFrame:
        """Stored image-QA grades, noise and dynamic range per bin of observation time.

        Columns: bin_start, bin_start_mjd, n, n_<grade> for each stored ``overall_quality``,
        noise_median_jy, noise_p16_jy, noise_p84_jy, dr_median, dr_p16, dr_p84.
        """
        if per not in _PER:
            raise InvalidQueryError(f"per must be 'hour' or 'night', not {per!r}.")
        lo_t, hi_t = self._clock.window(start, end)
        width = _PER[per]
        lo = math.floor(float(lo_t.mjd) / width + 1e-9) * width
        df = self._image_qa.metrics_by_observation(lo_mjd=lo, hi_mjd=float(hi_t.mjd))
        df = df.assign(bin=np.floor((df["obs_mjd"] - lo) / width + 1e-9).astype(int))
        rows = []
        for b, g in df.groupby("bin"):
            row: dict[str, Any] = {"bin_start_mjd": lo + width * int(b), "n": len(g)}
            for grade, n in g["overall_quality"].fillna("none").value_counts().items():
                row[f"n_{grade}"] = int(n)
            for col, key in (("rms_noise", "noise"), ("dynamic_range", "dr")):
                vals = pd.to_numeric(g[col], errors="coerce").dropna().to_numpy(float)
                p16, p50, p84 = np.percentile(vals, [16, 50, 84]) if len(vals) else (np.nan,) * 3
                unit = "_jy" if key == "noise" else ""
                row.update(
                    {f"{key}_median{unit}": p50, f"{key}_p16{unit}": p16, f"{key}_p84{unit}": p84}
                )
            rows.append(row)
        out = pd.DataFrame(rows)
        if out.empty:
            return pd.DataFrame(columns=["bin_start", "bin_start_mjd", "n"])
        grades = sorted(c for c in out.columns if c.startswith("n_"))
        out[grades] = out[grades].fillna(0).astype(int)
        out.insert(0, "bin_start", mjd_to_utc(out["bin_start_mjd"]).dt.round("s").to_numpy())
        rest = [c for c in out.columns if c not in {"bin_start", "bin_start_mjd", "n", *grades}]
        return out[["bin_start", "bin_start_mjd", "n", *grades, *rest]]

    def disk_usage(self) -> pd.DataFrame:
        """Disk usage of each data root (see ``w.health.disk_usage``)."""
        return self._health.disk_usage()

    def period_summary(
        self, start: TimeLike | None = None, end: TimeLike | None = None
    ) -> PeriodSummary:
        """The headline numbers of one period [start, end) (default: the last 24 hours).

        The one definition the CLI (``stats``), the dashboards and the stats report use:
        throughput keyed on observation time, jobs by the one status classification
        ('done' and 'completed' both count as success), stored image QA of the images
        observed in the period (a grade the severity ladder maps to critical is bad).
        """
        lo, hi = self._clock.window(start, end)
        products = self.period_products(lo, hi)
        jobs = self._jobs.summary(start=lo, end=hi)
        return PeriodSummary(
            start=lo.isot,
            end=hi.isot,
            days=(float(hi.unix) - float(lo.unix)) / 86400.0,
            n_jobs=jobs.n_total,
            n_success=jobs.n_success,
            n_failed_jobs=jobs.n_failed,
            n_running=jobs.n_running,
            n_pending=jobs.n_pending,
            job_success_rate=jobs.success_rate,
            **products,
        )

    def period_products(
        self, start: TimeLike | None = None, end: TimeLike | None = None
    ) -> dict[str, Any]:
        """The products' part of :meth:`period_summary` (same definitions), which needs no
        ``jobs`` table: ``n_ms``, ``n_images``, ``n_photometry`` observed in [start, end),
        and the stored image QA of those images (``n_qa``, ``n_bad_images``,
        ``qa_grades``, ``noise_median_mjy``, ``dr_median``)."""
        lo, hi = self._clock.window(start, end)
        totals = self._totals(float(lo.mjd), float(hi.mjd))
        qa = (
            self._image_qa.metrics_by_observation(lo_mjd=float(lo.mjd), hi_mjd=float(hi.mjd))
            if self._image_qa.available
            else pd.DataFrame(columns=["obs_mjd", "rms_noise", "dynamic_range", "overall_quality"])
        )
        severities = [from_quality(q) for q in qa["overall_quality"]]
        grades = qa["overall_quality"].fillna("none").astype(str).value_counts()
        noise = pd.to_numeric(qa["rms_noise"], errors="coerce").dropna().to_numpy(float)
        dr = pd.to_numeric(qa["dynamic_range"], errors="coerce").dropna().to_numpy(float)
        return {
            "n_ms": totals["ms"],
            "n_images": totals["images"],
            "n_photometry": totals["photometry"],
            "n_qa": len(qa),
            "n_bad_images": sum(s is Severity.CRITICAL for s in severities),
            "qa_grades": {str(k): int(v) for k, v in grades.items()},
            "noise_median_mjy": float(np.median(noise) * 1e3) if len(noise) else None,
            "dr_median": float(np.median(dr)) if len(dr) else None,
        }

    def _totals(self, lo_mjd: float, hi_mjd: float) -> dict[str, int]:
        """MS, images and photometry rows observed in exactly [lo, hi) (one bin)."""
        if not hi_mjd > lo_mjd or not self._ms_index.available:
            return dict.fromkeys(_WHAT, 0)
        out = {}
        for kind in _WHAT:
            df = self._ms_index.binned_counts(
                kind, lo_mjd=lo_mjd, hi_mjd=hi_mjd, width_days=(hi_mjd - lo_mjd) * (1 + 1e-9)
            )
            out[kind] = int(df["n"].sum())
        return out

    def summary(
        self, *, start: TimeLike | None = None, end: TimeLike | None = None
    ) -> dict[str, Any]:
        """The period summary with the window's counts and the disks, as plain data
        (``dsa110-ws stats --json``)."""
        lo, hi = self._clock.window(start, end)
        period = self.period_summary(lo, hi)
        return {
            "start": lo.isot,
            "end": hi.isot,
            "period": period.to_dict(),
            "counts": self.counts(start=lo, end=hi),
            "jobs": {
                "n_total": period.n_jobs,
                "n_success": period.n_success,
                "n_failed": period.n_failed_jobs,
                "n_running": period.n_running,
                "n_pending": period.n_pending,
                "success_rate": period.job_success_rate,
            },
            "throughput": {
                "n_ms": period.n_ms,
                "n_images": period.n_images,
                "n_photometry": period.n_photometry,
            },
            "qa_grades": period.qa_grades,
            "disk": self.disk_usage()[["path", "used_percent", "status"]].to_dict(orient="records"),
        }


#: The key counting rows whose stage, status, type or state is NULL.
NULL_KEY = "(none)"


def _label(value: Any) -> str:
    """A count's key: the stored value, or :data:`NULL_KEY` for NULL (never "nan")."""
    return (
        NULL_KEY
        if value is None or (isinstance(value, float) and math.isnan(value))
        else str(value)
    )


def _as_dict(df: pd.DataFrame, key: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for value, n in zip(df[key], df["n"], strict=True):
        label = _label(value)
        out[label] = out.get(label, 0) + int(n)
    return out
