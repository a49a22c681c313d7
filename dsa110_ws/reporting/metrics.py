"""Headline metrics of each report, computed by package functions only.

The templates call these same functions and write their result to ``metrics.json``, so a
test (or anyone) can recompute the JSON from the services for the same parameters:
``nightly_qa_metrics(w, params)`` and ``stats_metrics(w, params)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from dsa110_ws.reporting._metric import (
    INFO,
    Metric,
    overall_status,
    read_metrics,
    status_for,
    write_metrics,
)
from dsa110_ws.reporting.nightly_metrics import nightly_qa_metrics

if TYPE_CHECKING:
    from dsa110_ws.workspace import Workspace

__all__ = [
    "Metric",
    "nightly_qa_metrics",
    "stats_metrics",
    "overall_status",
    "write_metrics",
    "read_metrics",
    "status_for",
    "nights_with_data",
    "comparison_note",
]


def nights_with_data(w: Workspace, start: Any, end: Any) -> tuple[int, int]:
    """``(nights with any MS or image observed, nights in the period)`` of [start, end),
    from ``w.stats.throughput(per="night")``."""
    tp = w.stats.throughput(start=start, end=end, per="night")
    n_data = int(((tp["n_ms"] + tp["n_images"]) > 0).sum()) if len(tp) else 0
    return n_data, len(tp)


def comparison_note(current: tuple[int, int], previous: tuple[int, int]) -> str:
    """Why the previous period cannot be compared with the current one (``""``: it can).

    The previous period is incomplete when it has data on fewer nights than the current
    one: a per-day rate or a median over it would claim a change the data do not show.
    """
    (cur, n_cur), (prev, n_prev) = current, previous
    if prev >= cur:
        return ""
    return (
        f"the previous period is incomplete: data on {prev} of {n_prev} nights "
        f"(this period: {cur} of {n_cur}); no change is claimed from it"
    )


def stats_metrics(
    w: Workspace,
    params: Any,
    *,
    current: dict[str, Any] | None = None,
    previous: dict[str, Any] | None = None,
    disk: pd.DataFrame | None = None,
    incomplete: str | None = None,
) -> list[Metric]:
    """Headline metrics of the stats report for ``params`` (a ``StatsParams``).

    ``current``, ``previous`` and ``disk`` may be passed when already computed (the
    template does, to read the database once); they are exactly what
    ``w.stats.period_summary(...).to_dict()`` and ``w.stats.disk_usage()`` return.
    ``incomplete`` is :func:`comparison_note` of the two periods (computed when ``None``):
    when the previous period is incomplete, ``throughput_ratio`` has no value and is
    ``info``, never a verdict.
    """
    p = params
    cur = current if current is not None else w.stats.period_summary(*p.window).to_dict()
    prev = (
        previous if previous is not None else w.stats.period_summary(*p.previous_window).to_dict()
    )
    disk = disk if disk is not None else w.stats.disk_usage()
    if incomplete is None:
        incomplete = comparison_note(
            nights_with_data(w, *p.window), nights_with_data(w, *p.previous_window)
        )
    ratio = (cur["images_per_day"] / prev["images_per_day"]) if prev["images_per_day"] else None
    used = pd.to_numeric(disk["used_percent"], errors="coerce").dropna()
    return [
        Metric.graded("n_images", cur["n_images"], description="images observed in the period"),
        Metric.graded(
            "images_per_day",
            cur["images_per_day"],
            unit="1/d",
            description="images observed per day",
        ),
        _throughput_ratio(ratio, p, incomplete),
        Metric.graded(
            "job_success_rate",
            cur["job_success_rate"],
            warning=p.success_rate_warning,
            critical=p.success_rate_critical,
            higher_is_worse=False,
            description="jobs done or completed / (those + failed), created in the period",
            detail=""
            if cur["job_success_rate"] is None
            else f"job success rate {100 * cur['job_success_rate']:.1f}% "
            f"({cur['n_failed_jobs']} failed of {cur['n_success'] + cur['n_failed_jobs']})",
        ),
        Metric.graded(
            "n_failed_jobs",
            cur["n_failed_jobs"],
            description="jobs created in the period that failed",
        ),
        Metric.graded(
            "bad_image_fraction",
            cur["bad_image_fraction"],
            warning=p.bad_image_fraction_warning,
            critical=p.bad_image_fraction_critical,
            description="stored image QA graded bad / images with stored QA",
        ),
        Metric.graded(
            "noise_median_mjy",
            cur["noise_median_mjy"],
            unit="mJy/beam",
            description="median stored image rms noise",
        ),
        Metric.graded(
            "max_disk_used_fraction",
            float(used.max()) / 100.0 if len(used) else None,
            warning=p.disk_usage_warning,
            critical=p.disk_usage_critical,
            description="largest used fraction among the data roots' disks (now)",
        ),
    ]


def _throughput_ratio(ratio: float | None, p: Any, incomplete: str) -> Metric:
    description = "images per day relative to the previous period"
    if incomplete:
        return Metric(
            "throughput_ratio",
            None,
            status=INFO,
            warning=p.throughput_ratio_warning,
            critical=p.throughput_ratio_critical,
            higher_is_worse=False,
            description=description,
            detail=f"not compared: {incomplete}",
        )
    return Metric.graded(
        "throughput_ratio",
        ratio,
        warning=p.throughput_ratio_warning,
        critical=p.throughput_ratio_critical,
        higher_is_worse=False,
        description=description,
        detail=""
        if ratio is None
        else f"{100 * ratio:.0f}% of the previous period's images per day",
    )
