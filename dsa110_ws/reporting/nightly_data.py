"""What the nightly QA report reads, gathered once from the services.

Each part comes from one service call per product (all cached by the products service's
derived-product cache, so a second report over the same night reads no pixels):

* images observed in the window (``w.images.find``) graded from their pixels (``w.qa.image``)
  and against their peers in the window (``w.qa.peers``: extra checks on rms, beam and
  source count; ``peer_grade``, ``peer_reasons``, ``n_peers``, ``qa_rms_z``);
* the window's Measurement Sets (``w.ms.find``) graded from their flags by ``w.qa.ms``
  (the ``[qa.ms]`` thresholds the dashboards grade with; ``flag_verdict`` is the verdict of
  its flagged-fraction check, ``grade`` the MS's overall grade);
* the caltable sets valid during the window (``w.calhealth.sets``) and each table's QA
  (``w.qa.cal``);
* calibration coverage (``w.calhealth.timeline``), the nearest set at mid-window
  (``w.calhealth.nearest``), flux monitoring and alerts (``w.calhealth.flux/alerts``);
* variability candidates (``w.sources.variability`` up to the window's end, then
  ``w.sources.ese_candidates``) measured during the window;
* failed jobs (``w.jobs.failed``) and the job summary (``w.jobs.summary``).

A product that cannot be read is recorded with its error and never stops the report; a
part whose service or table is missing is recorded in ``unavailable`` and its section says
so.  A missing database is not caught: the report fails, as it should.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pandas as pd

from dsa110_ws.core.time import datetime_to_mjd, mjd_to_utc
from dsa110_ws.errors import DataUnavailableError, FileMissingError, WorkspaceError, one_line

if TYPE_CHECKING:
    from dsa110_ws.workspace import Workspace

__all__ = ["NightlyData", "gather_nightly", "GRADE_ORDER"]

#: Pixel-QA grades from worst to best (the products service's vocabulary).
GRADE_ORDER = {"bad": 0, "warning": 1, "good": 2}
_mjd = datetime_to_mjd


@dataclasses.dataclass
class NightlyData:
    """Everything the nightly QA sections and metrics read (see the module doc)."""

    start: dt.datetime
    end: dt.datetime
    images: pd.DataFrame
    ms: pd.DataFrame
    caltables: pd.DataFrame
    timeline: Any = None
    nearest: Any = None
    flux: pd.DataFrame | None = None
    alerts: pd.DataFrame | None = None
    candidates: pd.DataFrame | None = None
    failed_jobs: pd.DataFrame | None = None
    job_summary: Any = None
    unavailable: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def start_mjd(self) -> float:
        return _mjd(self.start)

    @property
    def end_mjd(self) -> float:
        return _mjd(self.end)


def _part(data: NightlyData, what: str, fn: Callable[[], Any]) -> Any:
    """``fn()``, or ``None`` with the reason in ``data.unavailable[what]``."""
    try:
        return fn()
    except WorkspaceError as exc:
        data.unavailable[what] = one_line(exc)
        return None


_IMAGE_COLS = (
    "grade",
    "qa_rms_jy",
    "qa_peak_jy",
    "qa_dynamic_range",
    "qa_n_islands",
    "qa_blanked_fraction",
    "qa_beam_major_arcsec",
    "qa_beam_minor_arcsec",
    "reasons",
)
_FLAG_COLS = (
    "flag_fraction",
    "flag_fraction_cross",
    "fully_flagged_antennas",
    "graded_flag_fraction",
    "flag_verdict",
    "grade",
    "reasons",
)
_CAL_COLS = (
    "qa_type",
    "flag_fraction",
    "snr_median",
    "amp_median",
    "phase_scatter_deg",
    "delay_std_ns",
    "dead_antennas",
    "grade",
    "reasons",
)


def _per_product(
    paths: pd.Series, fn: Callable[[str], dict[str, Any]], columns: tuple[str, ...]
) -> pd.DataFrame:
    """One row of ``fn(path)`` per path (``columns`` plus ``error``); a product that cannot
    be read gets its ``error`` (raised, or set by ``fn``) and NaN values."""
    rows: list[dict[str, Any]] = []
    for path in paths:
        if not isinstance(path, str) or not path:
            rows.append({"error": "the pipeline database gives it no path (NULL)"})
            continue
        try:
            rows.append({"error": None, **fn(path)})
        except WorkspaceError as exc:
            rows.append({"error": one_line(exc)})
    return pd.DataFrame(rows, index=paths.index, columns=[*columns, "error"])


def _image_qa(w: Workspace, path: str) -> dict[str, Any]:
    r = w.qa.image(path)
    # qa_* columns: measured from the pixels (the images table has its own stored values)
    return {
        "grade": r.grade,
        "qa_rms_jy": r.rms_jy,
        "qa_peak_jy": r.peak_jy,
        "qa_dynamic_range": r.dynamic_range,
        "qa_n_islands": r.n_islands,
        "qa_blanked_fraction": r.blanked_fraction,
        "qa_beam_major_arcsec": r.beam_major_arcsec,
        "qa_beam_minor_arcsec": r.beam_minor_arcsec,
        "reasons": "; ".join(r.reasons),
    }


def _peers(w: Workspace, d: NightlyData, im: pd.DataFrame) -> pd.DataFrame:
    """The peer comparison of the window's images (columns aligned with ``im``)."""
    cols = ["peer_grade", "peer_reasons", "n_peers", "qa_rms_z"]
    got = _part(d, "peers", lambda: w.qa.peers(im[["path", "obs_mjd", "center_dec_deg"]]))
    if got is None or got.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols}, index=im.index)
    got = got.rename(columns={"rms_jy_z": "qa_rms_z"})
    return got[cols].set_index(im.index)


def _images(w: Workspace, d: NightlyData) -> pd.DataFrame:
    im = w.images.find(start=d.start, end=d.end, limit=None).reset_index(drop=True)
    im = im[[c for c in im.columns if not c.endswith("_utc")]]
    qa = _per_product(im["path"], lambda p: _image_qa(w, p), _IMAGE_COLS)
    out = pd.concat([im, qa, _peers(w, d, im)], axis=1)
    out["obs_utc"] = mjd_to_utc(out["obs_mjd"])
    # object first: when no image of the night could be read the column is all NaN floats,
    # which pandas refuses to fill with text (a warning now, an error to come)
    out["grade"] = out["grade"].astype(object).fillna("unreadable")
    out["grade_rank"] = out["grade"].map(GRADE_ORDER).fillna(-1)
    out["peer_rank"] = out["peer_grade"].map(GRADE_ORDER).fillna(2)
    return out


def _ms_qa(w: Workspace, path: str) -> dict[str, Any]:
    """``w.qa.ms``: the MS's flags and the dashboards' verdict on them (``[qa.ms]``)."""
    r = w.qa.ms(path)
    try:
        check = r.check("flag_fraction_cross")
        graded, verdict = check.value, check.verdict
    except KeyError:  # an MS whose flags could not be read has only "readable"
        graded, verdict = None, "unknown"
    out = {
        "flag_fraction": r.flag_fraction,
        "flag_fraction_cross": r.flag_fraction_cross,
        "fully_flagged_antennas": ", ".join(r.fully_flagged_antennas),
        # the fraction w.qa.ms grades: flag_fraction_cross, or flag_fraction without cross rows
        "graded_flag_fraction": graded,
        "flag_verdict": verdict,
        "grade": r.grade,
        "reasons": "; ".join(r.reasons),
    }
    if r.grade == "unknown":
        out["error"] = "; ".join(r.reasons)
    return out


#: MS stages in which the MS is not on disk yet (its conversion has not finished).
NOT_WRITTEN = ("pending", "converting")


def _ms(w: Workspace, d: NightlyData) -> pd.DataFrame:
    ms = w.ms.find(start=d.start, end=d.end, limit=None).reset_index(drop=True)
    ms = ms[[c for c in ms.columns if not c.endswith("_utc")]]
    stages = dict(zip(ms["path"], ms["stage"] if "stage" in ms else [None] * len(ms), strict=True))

    def qa(path: str) -> dict[str, Any]:
        try:
            return _ms_qa(w, path)
        except FileMissingError:  # expected before conversion ends: not a lost file
            if stages.get(path) not in NOT_WRITTEN:
                raise
            raise DataUnavailableError(f"not written yet (stage {stages[path]})") from None

    out = pd.concat([ms, _per_product(ms["path"], qa, _FLAG_COLS)], axis=1)
    out["obs_utc"] = mjd_to_utc(out["mid_mjd"])
    return out


def _cal_qa(w: Workspace, path: str) -> dict[str, Any]:
    r = w.qa.cal(path)
    return {
        "qa_type": r.table_type,
        "flag_fraction": r.flag_fraction,
        "snr_median": r.snr_median,
        "amp_median": r.amp_median,
        "phase_scatter_deg": r.phase_scatter_deg,
        "delay_std_ns": r.delay_std_ns,
        "dead_antennas": ", ".join(r.dead_antennas),
        "grade": r.grade,
        "reasons": "; ".join(r.reasons),
    }


def _caltables(w: Workspace, d: NightlyData) -> pd.DataFrame:
    sets = w.calhealth.sets(start=d.start, end=d.end)
    names = sets["set_name"].tolist()
    ct = w.cal.find(set_name=names, limit=None)  # [] matches nothing
    ct = (
        ct[[c for c in ct.columns if not c.endswith("_utc")]]
        .sort_values(["set_name", "order_index"], kind="stable")
        .reset_index(drop=True)
    )
    return pd.concat([ct, _per_product(ct["path"], lambda p: _cal_qa(w, p), _CAL_COLS)], axis=1)


def _candidates(w: Workspace, d: NightlyData, preset: str) -> pd.DataFrame:
    # the light-curve history up to the end of the window; a source measured during the
    # window has its last (usable) epoch inside it
    table = w.sources.variability(end=d.end, preset=None)
    cands = w.sources.ese_candidates(preset=preset, table=table)
    return cands[cands["last_mjd"] >= d.start_mjd].reset_index(drop=True)


def gather_nightly(w: Workspace, params: Any) -> NightlyData:
    """Read everything the nightly QA report shows for ``params``' window."""
    start, end = params.window
    empty = pd.DataFrame()
    d = NightlyData(start=start, end=end, images=empty, ms=empty, caltables=empty)
    d.images = _part(d, "images", lambda: _images(w, d))
    d.ms = _part(d, "ms", lambda: _ms(w, d))
    d.caltables = _part(d, "caltables", lambda: _caltables(w, d))
    d.timeline = _part(d, "timeline", lambda: w.calhealth.timeline(start=start, end=end))
    mid = start + (end - start) / 2
    d.nearest = _part(d, "nearest", lambda: w.calhealth.nearest(mid))
    d.flux = _part(d, "flux", lambda: w.calhealth.flux(start=start, end=end))
    d.alerts = _part(d, "alerts", lambda: w.calhealth.alerts(start=start, end=end))
    d.candidates = _part(d, "candidates", lambda: _candidates(w, d, params.candidate_preset))
    d.failed_jobs = _part(d, "failed_jobs", lambda: w.jobs.failed(start=start, end=end))
    d.job_summary = _part(d, "job_summary", lambda: w.jobs.summary(start=start, end=end))
    return d
