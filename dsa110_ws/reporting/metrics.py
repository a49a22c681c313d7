"""Headline metrics of each report, computed by package functions only.

The templates call these same functions and write their result to ``metrics.json``, so a
test (or anyone) can recompute the JSON from the services for the same parameters:
``nightly_qa_metrics(w, params)`` and ``stats_metrics(w, params)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from dsa110_ws.reporting._metric import (
    Metric,
    overall_status,
    read_metrics,
    status_for,
    write_metrics,
)

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
]


def stats_metrics(
    w: Workspace,
    params: Any,
    *,
    current: dict[str, Any] | None = None,
    previous: dict[str, Any] | None = None,
    disk: pd.DataFrame | None = None,
) -> list[Metric]:
    """Headline metrics of the stats report for ``params`` (a ``StatsParams``).

    ``current``, ``previous`` and ``disk`` may be passed when already computed (the
    template does, to read the database once); they are exactly what
    ``w.stats.period_summary(...).to_dict()`` and ``w.stats.disk_usage()`` return.
    """
    p = params
    cur = current if current is not None else w.stats.period_summary(*p.window).to_dict()
    prev = (
        previous if previous is not None else w.stats.period_summary(*p.previous_window).to_dict()
    )
    disk = disk if disk is not None else w.stats.disk_usage()
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
        Metric.graded(
            "throughput_ratio",
            ratio,
            warning=p.throughput_ratio_warning,
            critical=p.throughput_ratio_critical,
            higher_is_worse=False,
            description="images per day relative to the previous period",
        ),
        Metric.graded(
            "job_success_rate",
            cur["job_success_rate"],
            warning=p.success_rate_warning,
            critical=p.success_rate_critical,
            higher_is_worse=False,
            description="jobs done or completed / (those + failed), created in the period",
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


def _median(values: Any) -> float | None:
    v = pd.to_numeric(pd.Series(values), errors="coerce").dropna()
    return float(v.median()) if len(v) else None


def nightly_qa_metrics(w: Workspace, params: Any, *, data: Any = None) -> list[Metric]:
    """Headline metrics of the nightly QA report for ``params`` (a ``NightlyQAParams``).

    ``data`` is the :class:`~dsa110_ws.reporting.nightly_data.NightlyData` already gathered
    for the same parameters (the template passes its own, to read everything once); by
    default it is gathered here.  A metric whose data source is unavailable is ``unknown``.
    """
    from dsa110_ws.reporting.nightly_data import gather_nightly

    p = params
    d = data if data is not None else gather_nightly(w, params)
    out = []
    if d.images is not None:
        im = d.images
        graded = im[im["grade"].isin(["good", "warning", "bad"])]
        n_bad = int((graded["grade"] == "bad").sum())
        rms = _median(graded["qa_rms_jy"])
        out += [
            Metric.graded(
                "n_images",
                len(im),
                critical=0,
                higher_is_worse=False,
                description="images observed in the window (none is critical)",
            ),
            Metric.graded("n_images_bad", n_bad, description="images whose pixel QA grade is bad"),
            Metric.graded(
                "bad_image_fraction",
                n_bad / len(graded) if len(graded) else None,
                warning=p.bad_image_fraction_warning,
                critical=p.bad_image_fraction_critical,
                description="images whose pixel QA grade is bad / images graded",
            ),
            Metric.graded(
                "median_noise_mjy",
                None if rms is None else rms * 1e3,
                unit="mJy/beam",
                warning=p.noise_warning_mjy,
                critical=p.noise_critical_mjy,
                description="median robust rms of the window's images",
            ),
            Metric.graded(
                "median_dynamic_range",
                _median(graded["qa_dynamic_range"]),
                description="median peak (maximum pixel) / robust rms",
            ),
            Metric.graded(
                "n_images_peer_outliers",
                int((im["peer_grade"] == "bad").sum()) if "peer_grade" in im else None,
                warning=1,
                description="images graded bad against their peers (rms, beam or source "
                "count far from the other images of their declination strip and night)",
            ),
        ]
    if d.ms is not None:
        out += [
            Metric.graded("n_ms", len(d.ms), description="Measurement Sets observed"),
            Metric.graded(
                "median_ms_flag_fraction",
                _median(d.ms["flag_fraction"]),
                description="median flagged fraction of the window's MS",
            ),
        ]
    if d.caltables is not None:
        ff = pd.to_numeric(d.caltables["flag_fraction"], errors="coerce").dropna()
        out += [
            Metric.graded(
                "max_cal_flag_fraction",
                float(ff.max()) if len(ff) else None,
                warning=p.cal_flag_fraction_warning,
                critical=p.cal_flag_fraction_critical,
                description="largest flagged fraction among the caltables of "
                "the sets valid in the window",
            ),
            Metric.graded(
                "n_caltables_bad",
                int((d.caltables["grade"] == "bad").sum()),
                description="caltables graded bad",
            ),
        ]
    if d.timeline is not None:
        tl = d.timeline
        # sets without a validity window may cover what the known windows do not: unknown
        unsure = tl.n_unknown_windows > 0 and tl.coverage_fraction < 1.0
        out += [
            Metric.graded(
                "cal_coverage_fraction",
                None if unsure else float(tl.coverage_fraction),
                warning=p.cal_coverage_warning,
                critical=p.cal_coverage_critical,
                higher_is_worse=False,
                description="fraction of the window inside an active set's validity"
                + (
                    f" (unknown: {tl.n_unknown_windows} active set(s) have no validity window)"
                    if unsure
                    else ""
                ),
            ),
            Metric.graded(
                "n_cal_gaps",
                len(d.timeline.gaps),
                description="calibration coverage gaps in the window",
            ),
        ]
    if d.failed_jobs is not None:
        out.append(
            Metric.graded(
                "n_failed_jobs",
                len(d.failed_jobs),
                warning=p.failed_jobs_warning,
                critical=p.failed_jobs_critical,
                description="jobs created in the window that failed",
            )
        )
    if d.candidates is not None:
        out.append(
            Metric.graded(
                "n_variable_candidates",
                len(d.candidates),
                description=f"{p.candidate_preset} variability / ESE "
                "candidates measured in the window",
            )
        )
    if d.alerts is not None:
        out.append(
            Metric.graded(
                "n_flux_alerts",
                len(d.alerts),
                description="flux-monitoring alerts triggered in the window",
            )
        )
    for what in d.unavailable:
        out.append(
            Metric("unavailable_" + what, None, status="unknown", description=d.unavailable[what])
        )
    return out
