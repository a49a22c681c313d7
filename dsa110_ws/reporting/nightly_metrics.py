"""Headline metrics of the nightly QA report, from the data gathered once per report.

Every metric either has thresholds (a status on the one severity ladder) or is ``info``
(shown neutral, never green).  Each carries a ``detail``: one line about this value, with
its numbers and names, which the "needs attention" block quotes.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import pandas as pd

from dsa110_ws.core.severity import Severity, from_verdict, worst
from dsa110_ws.reporting._metric import Metric

if TYPE_CHECKING:
    from dsa110_ws.workspace import Workspace

__all__ = ["nightly_qa_metrics"]


def _median(values: Any) -> float | None:
    v = pd.to_numeric(pd.Series(values), errors="coerce").dropna()
    return float(v.median()) if len(v) else None


def _names(items: list[str], n: int = 3) -> str:
    shown = ", ".join(items[:n])
    return shown + (f" and {len(items) - n} more" if len(items) > n else "")


def _image_metrics(im: pd.DataFrame, p: Any) -> list[Metric]:
    graded = im[im["grade"].isin(["good", "warning", "bad"])]
    n_bad = int((graded["grade"] == "bad").sum())
    frac = n_bad / len(graded) if len(graded) else None
    rms = _median(graded["qa_rms_jy"])
    peers = im.loc[im["peer_grade"] == "bad", "path"] if "peer_grade" in im else None
    bad_text = f"{n_bad} of {len(graded)} images graded bad" + (
        f" ({100 * frac:.1f}%)" if frac is not None else ""
    )
    return [
        Metric.graded(
            "n_images",
            len(im),
            critical=0,
            higher_is_worse=False,
            description="images observed in the window (none is critical)",
            detail=f"{len(im)} images observed" if len(im) else "no images observed",
        ),
        Metric.graded(
            "n_images_bad",
            n_bad,
            description="images whose pixel QA grade is bad (judged as bad_image_fraction)",
            detail=bad_text,
        ),
        Metric.graded(
            "bad_image_fraction",
            frac,
            warning=p.bad_image_fraction_warning,
            critical=p.bad_image_fraction_critical,
            description="images whose pixel QA grade is bad / images graded",
            detail=bad_text,
        ),
        Metric.graded(
            "median_noise_mjy",
            None if rms is None else rms * 1e3,
            unit="mJy/beam",
            warning=p.noise_warning_mjy,
            critical=p.noise_critical_mjy,
            description="median robust rms of the window's images",
            detail="" if rms is None else f"median image rms {rms * 1e3:.2f} mJy/beam",
        ),
        Metric.graded(
            "median_dynamic_range",
            _median(graded["qa_dynamic_range"]),
            description="median peak (maximum pixel) / robust rms",
        ),
        Metric.graded(
            "n_images_peer_outliers",
            None if peers is None else len(peers),
            warning=1,
            description="images graded bad against their peers (rms, beam or source "
            "count far from the other images of their declination strip and night)",
            detail=""
            if peers is None
            else f"{len(peers)} image(s) far from their peers"
            + (f": {_names([str(x).rsplit('/', 1)[-1] for x in peers])}" if len(peers) else ""),
        ),
    ]


def _antenna_counts(ms: pd.DataFrame) -> Counter[str]:
    """How many of the window's MS have each antenna fully flagged."""
    counts: Counter[str] = Counter()
    for text in ms["fully_flagged_antennas"].dropna():
        counts.update(a.strip() for a in str(text).split(",") if a.strip())
    return counts


def _flagging_metrics(ms: pd.DataFrame, t: dict[str, float]) -> list[Metric]:
    """The night's flagging, judged MS by MS exactly as the dashboards grade each MS.

    ``w.qa.ms`` compares each MS's ``flag_fraction_cross`` with the ``[qa.ms]`` thresholds
    ``flag_fraction_warn`` / ``flag_fraction_max`` (a breach is *more than* them); the night
    is as bad as its worst MS, so the report and the dashboards never disagree about the
    same MS.  The median over the night is shown for context, not judged.
    """
    graded = pd.to_numeric(ms["graded_flag_fraction"], errors="coerce").reset_index(drop=True)
    verdicts = ms["flag_verdict"].fillna("unknown").reset_index(drop=True)
    names = [str(p).rsplit("/", 1)[-1] for p in ms["path"]]
    n_read = int(graded.notna().sum())
    warn, bad = t["flag_fraction_warn"], t["flag_fraction_max"]
    over = {
        v: [n for n, x in zip(names, verdicts, strict=True) if x == v] for v in ("fail", "warn")
    }
    n_unread = int((verdicts == "unknown").sum())
    n_over = len(over["fail"]) + len(over["warn"])
    if not len(ms):
        detail = "no MS observed"
    else:
        detail = (
            (f"{n_unread} of {len(ms)} MS could not be graded; " if n_unread else "")
            + f"{n_over if n_over else 'none'} of {len(ms)} MS more than {100 * warn:g}% flagged"
            + (
                f", {len(over['fail'])} more than {100 * bad:g}% (bad): {_names(over['fail'])}"
                if over["fail"]
                else ""
            )
            + (f"; worst {names[int(graded.idxmax())]} {100 * graded.max():.1f}%" if n_read else "")
        )
    status = worst((from_verdict(v) for v in verdicts), empty=Severity.UNKNOWN).value
    med = _median(graded)
    return [
        Metric(
            "max_ms_flag_fraction_cross",
            float(graded.max()) if n_read else None,
            status=status,  # type: ignore[arg-type]  # one of the ladder's words
            warning=warn,
            critical=bad,
            strict=True,
            description="largest flag_fraction_cross (flagged share of the cross-correlations) "
            "among the window's MS; each MS judged with the dashboards' [qa.ms] "
            "flag_fraction_warn / flag_fraction_max, the night as bad as its worst MS",
            detail=detail,
        ),
        Metric.graded(
            "median_ms_flag_fraction_cross",
            med,
            description="median flag_fraction_cross of the window's MS (context; the night is "
            "judged by max_ms_flag_fraction_cross)",
            detail="" if med is None else f"median {100 * med:.1f}% flagged over {n_read} MS",
        ),
    ]


def _ms_metrics(ms: pd.DataFrame, p: Any, t: dict[str, float]) -> list[Metric]:
    readable = int(ms["flag_fraction"].notna().sum())
    counts = _antenna_counts(ms)
    worst_ants = [f"{a} ({n} of {readable} MS)" for a, n in counts.most_common()]
    if len(counts) == 1:
        ((ant, n),) = counts.items()
        ant_text = f"antenna {ant} fully flagged in {n} of {readable} MS"
    else:
        ant_text = f"{len(counts)} antennas fully flagged: {_names(worst_ants)}" if counts else ""
    return [
        Metric.graded("n_ms", len(ms), description="Measurement Sets observed"),
        *_flagging_metrics(ms, t),
        Metric.graded(
            "n_antennas_fully_flagged",
            len(counts),
            warning=p.flagged_antennas_warning,
            critical=p.flagged_antennas_critical,
            description="antennas with every visibility flagged in at least one of the window's MS",
            detail=ant_text,
        ),
    ]


def _cal_metrics(ct: pd.DataFrame, p: Any) -> list[Metric]:
    ff = pd.to_numeric(ct["flag_fraction"], errors="coerce")
    bad = ct.loc[ct["grade"] == "bad", "path"].map(lambda x: str(x).rsplit("/", 1)[-1])
    top = ct.loc[ff.idxmax(), "path"] if ff.notna().any() else None
    return [
        Metric.graded(
            "max_cal_flag_fraction",
            float(ff.max()) if ff.notna().any() else None,
            warning=p.cal_flag_fraction_warning,
            critical=p.cal_flag_fraction_critical,
            description="largest flagged fraction among the caltables of "
            "the sets valid in the window",
            detail=""
            if top is None
            else f"caltable {str(top).rsplit('/', 1)[-1]} {100 * float(ff.max()):.1f}% flagged",
        ),
        Metric.graded(
            "n_caltables_bad",
            len(bad),
            warning=1,
            description="caltables graded bad",
            detail=f"{len(bad)} caltable(s) graded bad"
            + (f": {_names(list(bad))}" if len(bad) else ""),
        ),
    ]


def _ms_in_gaps(tl: Any, ms: pd.DataFrame | None) -> str:
    """``"; 0 of 8 MS observed in a gap"``: whether the gaps cost data ('' without MS)."""
    if ms is None or not len(ms) or not len(tl.gaps):
        return ""
    mid = pd.to_numeric(ms["mid_mjd"], errors="coerce")
    inside = pd.Series(False, index=ms.index)
    for lo, hi in zip(tl.gaps["start_mjd"], tl.gaps["end_mjd"], strict=True):
        inside |= (mid >= lo) & (mid < hi)
    n = int(inside.sum())
    return f"; {n if n else 'none'} of the window's {len(ms)} MS observed in a gap"


def _timeline_metrics(tl: Any, p: Any, ms: pd.DataFrame | None = None) -> list[Metric]:
    # sets without a validity window may cover what the known windows do not: unknown
    unsure = tl.n_unknown_windows > 0 and tl.coverage_fraction < 1.0
    hours = float(pd.to_numeric(tl.gaps["duration_h"], errors="coerce").sum())
    return [
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
            detail=f"calibration valid for {100 * tl.coverage_fraction:.1f}% of the window "
            f"({len(tl.gaps)} gap(s), {hours:.1f} h){_ms_in_gaps(tl, ms)}",
        ),
        Metric.graded(
            "n_cal_gaps",
            len(tl.gaps),
            description="calibration coverage gaps in the window (judged as cal_coverage_fraction)",
        ),
    ]


def _ops_metrics(d: Any, p: Any) -> list[Metric]:
    out = []
    if d.failed_jobs is not None:
        types = [str(t) for t in d.failed_jobs["type"].fillna("?")]
        out.append(
            Metric.graded(
                "n_failed_jobs",
                len(d.failed_jobs),
                warning=p.failed_jobs_warning,
                critical=p.failed_jobs_critical,
                description="jobs created in the window that failed",
                detail=f"{len(types)} job(s) failed"
                + (
                    f" ({', '.join(f'{k}: {v}' for k, v in Counter(types).items())})"
                    if types
                    else ""
                ),
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
    return out


def nightly_qa_metrics(w: Workspace, params: Any, *, data: Any = None) -> list[Metric]:
    """Headline metrics of the nightly QA report for ``params`` (a ``NightlyQAParams``).

    ``data`` is the :class:`~dsa110_ws.reporting.nightly_data.NightlyData` already gathered
    for the same parameters (the template passes its own, to read everything once); by
    default it is gathered here.  A metric whose data source is unavailable is ``unknown``.
    """
    from dsa110_ws.reporting.nightly_data import gather_nightly

    d = data if data is not None else gather_nightly(w, params)
    out: list[Metric] = []
    if d.images is not None:
        out += _image_metrics(d.images, params)
    if d.ms is not None:
        out += _ms_metrics(d.ms, params, w.qa.thresholds("ms"))
    if d.caltables is not None:
        out += _cal_metrics(d.caltables, params)
    if d.timeline is not None:
        out += _timeline_metrics(d.timeline, params, d.ms)
    out += _ops_metrics(d, params)
    for what in d.unavailable:
        out.append(
            Metric("unavailable_" + what, None, status="unknown", description=d.unavailable[what])
        )
    return out
