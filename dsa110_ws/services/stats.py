"""Pipeline statistics over explicit time windows.

Every method takes ``start``/``end`` (default: the 24 hours before ``w.now()``).  Counts,
throughput and success rates are GROUP BY aggregates in SQL (repository methods); only
the QA distributions read per-image values, and only those of the window.  Throughput is
keyed on observation time (the MS's ``mid_mjd``; photometry through its image), never on
when a row was written.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from dsa110_ws._util.timeparse import TimeLike
from dsa110_ws.errors import InvalidQueryError
from dsa110_ws.services._ops_common import window

__all__ = ["StatsService"]

_PER = {"hour": 1.0 / 24.0, "night": 1.0}
_WHAT = ("ms", "images", "photometry")


class StatsService:
    """``w.stats``: counts, throughput, success rates, QA distributions, disk usage."""

    def __init__(self, workspace: Any):
        self._w = workspace

    def _window(self, start: TimeLike, end: TimeLike, all_time: bool = False):
        if all_time:
            return None, None
        return window(self._w.now(), start, end)

    def counts(
        self, *, start: TimeLike = None, end: TimeLike = None, all_time: bool = False
    ) -> dict[str, Any]:
        """Counts by stage, status and type in the window (``all_time`` for everything).

        ms_by_stage / ms_by_status: MS observed in the window (``mid_mjd``);
        jobs_by_status / jobs_by_type and batches_by_status: created in it;
        ingestion_by_state: groups created in it.  Tables the database lacks are omitted.
        """
        lo, hi = self._window(start, end, all_time)
        r = self._w.repos
        out: dict[str, Any] = {
            "start": None if lo is None else lo.isot,
            "end": None if hi is None else hi.isot,
        }
        if r.ms_index.available:
            for col in ("stage", "status"):
                df = r.ms_index.counts_by(col, start=lo, end=hi)
                out[f"ms_by_{col}"] = _as_dict(df, col)
        if r.jobs.available:
            js = r.jobs.summary(start=lo, end=hi)
            out["jobs_by_status"] = {
                str(k): int(v) for k, v in js.groupby("status")["n"].sum().items()
            }
            out["jobs_by_type"] = {str(k): int(v) for k, v in js.groupby("type")["n"].sum().items()}
        if r.batch_jobs.available:
            out["batches_by_status"] = _as_dict(
                r.batch_jobs.counts_by_status(start=lo, end=hi), "status"
            )
        if r.ingestion_groups.available:
            out["ingestion_by_state"] = _as_dict(
                r.ingestion_groups.counts_by_state(start=lo, end=hi), "state"
            )
        return out

    def throughput(
        self,
        *,
        start: TimeLike = None,
        end: TimeLike = None,
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
        lo_t, hi_t = window(self._w.now(), start, end)
        width = _PER[per]
        lo = math.floor(float(lo_t.mjd) / width + 1e-9) * width
        hi = float(hi_t.mjd)
        n_bins = max(int(math.ceil((hi - lo) / width - 1e-9)), 1)
        edges = lo + width * np.arange(n_bins)
        out = pd.DataFrame(
            {
                "bin_start": pd.to_datetime((edges - 40587.0) * 86400.0, unit="s", utc=True).round(
                    "s"
                ),
                "bin_start_mjd": edges,
            }
        )
        for kind in what:
            df = self._w.repos.ms_index.binned_counts(kind, lo_mjd=lo, hi_mjd=hi, width_days=width)
            counts = np.zeros(n_bins, dtype=int)
            for b, n in zip(df["bin"].astype(int), df["n"].astype(int), strict=True):
                if 0 <= b < n_bins:
                    counts[b] += n
            out[f"n_{kind}"] = counts
        return out

    def success_rates(self, *, start: TimeLike = None, end: TimeLike = None) -> pd.DataFrame:
        """Jobs per type created in the window: totals, success ('done' or 'completed'),
        failed, and success_rate = success / (success + failed); plus an 'all' row."""
        s = self._w.jobs.summary(start=start, end=end)
        df = s.by_type.copy()
        total = {c: int(df[c].sum()) for c in df.columns if c.startswith("n_")}
        fin = total.get("n_success", 0) + total.get("n_failed", 0)
        total["success_rate"] = total.get("n_success", 0) / fin if fin else np.nan
        df.loc["all", list(total)] = pd.Series(total)
        return df

    def qa(
        self, *, start: TimeLike = None, end: TimeLike = None, per: str = "night"
    ) -> pd.DataFrame:
        """Stored image-QA grades, noise and dynamic range per bin of observation time.

        Columns: bin_start, bin_start_mjd, n, n_<grade> for each stored ``overall_quality``,
        noise_median_jy, noise_p16_jy, noise_p84_jy, dr_median, dr_p16, dr_p84.
        """
        if per not in _PER:
            raise InvalidQueryError(f"per must be 'hour' or 'night', not {per!r}.")
        lo_t, hi_t = window(self._w.now(), start, end)
        width = _PER[per]
        lo = math.floor(float(lo_t.mjd) / width + 1e-9) * width
        df = self._w.repos.image_qa.metrics_by_observation(lo_mjd=lo, hi_mjd=float(hi_t.mjd))
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
        out.insert(
            0,
            "bin_start",
            pd.to_datetime((out["bin_start_mjd"] - 40587.0) * 86400.0, unit="s", utc=True).dt.round(
                "s"
            ),
        )
        rest = [c for c in out.columns if c not in {"bin_start", "bin_start_mjd", "n", *grades}]
        return out[["bin_start", "bin_start_mjd", "n", *grades, *rest]]

    def disk_usage(self) -> pd.DataFrame:
        """Disk usage of each data root (see ``w.health.disk_usage``)."""
        return self._w.health.disk_usage()

    def summary(self, *, start: TimeLike = None, end: TimeLike = None) -> dict[str, Any]:
        """Everything above for one window, as plain data (the CLI's ``stats --json``)."""
        lo, hi = window(self._w.now(), start, end)
        jobs = self._w.jobs.summary(start=lo, end=hi)
        tp = self.throughput(start=lo, end=hi, per="hour")
        qa = self.qa(start=lo, end=hi, per="night")
        grades = {c[2:]: int(qa[c].sum()) for c in qa.columns if c.startswith("n_")}
        return {
            "start": lo.isot,
            "end": hi.isot,
            "counts": self.counts(start=lo, end=hi),
            "jobs": {
                "n_total": jobs.n_total,
                "n_success": jobs.n_success,
                "n_failed": jobs.n_failed,
                "n_running": jobs.n_running,
                "n_pending": jobs.n_pending,
                "success_rate": jobs.success_rate,
            },
            "throughput": {c: int(tp[c].sum()) for c in tp.columns if c.startswith("n_")},
            "qa_grades": grades,
            "disk": self.disk_usage()[["path", "used_percent", "status"]].to_dict(orient="records"),
        }


def _as_dict(df: pd.DataFrame, key: str) -> dict[str, int]:
    return {str(k): int(n) for k, n in zip(df[key], df["n"], strict=True)}
