"""Headline metrics of each report, computed by package functions only.

The templates call these same functions and write their result to ``metrics.json``, so a
test (or anyone) can recompute the JSON from the services for the same parameters:
``nightly_qa_metrics(w, params)`` and ``stats_metrics(w, params)``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from dsa110_ws.reporting._metric import (
    Metric,
    overall_status,
    read_metrics,
    status_for,
    write_metrics,
)

__all__ = ["Metric", "nightly_qa_metrics", "stats_metrics", "overall_status", "write_metrics",
           "read_metrics", "status_for"]


def stats_metrics(w: Any, params: Any, *, current: dict[str, Any] | None = None,
                  previous: dict[str, Any] | None = None,
                  disk: pd.DataFrame | None = None) -> list[Metric]:
    """Headline metrics of the stats report for ``params`` (a ``StatsParams``).

    ``current``, ``previous`` and ``disk`` may be passed when already computed (the
    template does, to read the database once); they are exactly what
    :func:`~dsa110_ws.reporting.period.period_summary` and ``w.stats.disk_usage()`` return.
    """
    from dsa110_ws.reporting.period import period_summary

    p = params
    cur = current if current is not None else period_summary(w, *p.window)
    prev = previous if previous is not None else period_summary(w, *p.previous_window)
    disk = disk if disk is not None else w.stats.disk_usage()
    ratio = (cur["images_per_day"] / prev["images_per_day"]) if prev["images_per_day"] else None
    used = pd.to_numeric(disk["used_percent"], errors="coerce").dropna()
    return [
        Metric.graded("n_images", cur["n_images"], description="images observed in the period"),
        Metric.graded("images_per_day", cur["images_per_day"], unit="1/d",
                      description="images observed per day"),
        Metric.graded("throughput_ratio", ratio, warning=p.throughput_ratio_warning,
                      critical=p.throughput_ratio_critical, higher_is_worse=False,
                      description="images per day relative to the previous period"),
        Metric.graded("job_success_rate", cur["job_success_rate"],
                      warning=p.success_rate_warning, critical=p.success_rate_critical,
                      higher_is_worse=False,
                      description="jobs done or completed / (those + failed), created in the period"),
        Metric.graded("n_failed_jobs", cur["n_failed_jobs"],
                      description="jobs created in the period that failed"),
        Metric.graded("bad_image_fraction", cur["bad_image_fraction"],
                      warning=p.bad_image_fraction_warning,
                      critical=p.bad_image_fraction_critical,
                      description="stored image QA graded bad / images with stored QA"),
        Metric.graded("noise_median_mjy", cur["noise_median_mjy"], unit="mJy/beam",
                      description="median stored image rms noise"),
        Metric.graded("max_disk_used_fraction", float(used.max()) / 100.0 if len(used) else None,
                      warning=p.disk_usage_warning, critical=p.disk_usage_critical,
                      description="largest used fraction among the data roots' disks (now)"),
    ]


def nightly_qa_metrics(w: Any, params: Any, *, data: Any = None) -> list[Metric]:
    """Headline metrics of the nightly QA report for ``params`` (a ``NightlyQAParams``).

    ``data`` is a :class:`~dsa110_ws.reporting.nightly.NightlyData` already gathered for
    the same parameters (the template passes its own); by default it is gathered here.
    """
    from dsa110_ws.reporting.nightly import gather_nightly

    d = data if data is not None else gather_nightly(w, params)
    return d.metrics(params)
