"""Sections of the nightly QA template (``report = open_report("qa", globals())``).

Each method returns something Jupyter displays (HTML tables, embedded figures and
thumbnails); the data come from :func:`~dsa110_ws.reporting.nightly_data.gather_nightly`,
read once per report, and the headline metrics from
:func:`~dsa110_ws.reporting.metrics.nightly_qa_metrics` on that same data.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from dsa110_ws.core.time import mjd_to_utc
from dsa110_ws.errors import WorkspaceError
from dsa110_ws.reporting import _display as D
from dsa110_ws.reporting._format import deg_text, sexagesimal, value_text
from dsa110_ws.reporting._sections import SectionGuard, section
from dsa110_ws.reporting.figures import noise_figure
from dsa110_ws.reporting.nightly_data import NightlyData, gather_nightly
from dsa110_ws.services.operations import FLUX_SUMMARY_COLUMNS

if TYPE_CHECKING:
    from dsa110_ws.workspace import Workspace

__all__ = ["NightlyQAReport", "NIGHTLY_QA_SECTIONS"]

#: Section headings of the nightly QA template, in order (the tests look for each).
NIGHTLY_QA_SECTIONS = (
    "Headline metrics",
    "Summary",
    "Worst images",
    "Noise and dynamic range against time",
    "Calibration QA and flagging",
    "Calibration health and coverage gaps",
    "Variable-source candidates",
    "Failed jobs",
)
THUMBNAIL_PX = 200


def _pct(value: Any) -> str:
    return value_text(value, name="flag_fraction")


def _name(path: Any) -> str:
    """The file name of a product's path; "" where the database has none (a NULL path,
    which SQLite allows even in a TEXT primary key)."""
    return Path(path).name if isinstance(path, str) and path else ""


def _utc(series: pd.Series) -> pd.Series:
    return series.dt.strftime("%Y-%m-%d %H:%M")


class NightlyQAReport(SectionGuard):
    """The nightly QA report of one window; methods are the template's sections."""

    sections = NIGHTLY_QA_SECTIONS

    def __init__(self, w: Workspace, params: Any):
        self.w = w
        self.params = params
        self.start, self.end = params.window
        self._data: NightlyData | None = None
        self._metrics: list[Any] | None = None

    @property
    def data(self) -> NightlyData:
        if self._data is None:
            self._data = gather_nightly(self.w, self.params)
        return self._data

    def metrics(self) -> list[Any]:
        """:func:`~dsa110_ws.reporting.metrics.nightly_qa_metrics` on this report's data."""
        from dsa110_ws.reporting.metrics import nightly_qa_metrics

        if self._metrics is None:
            self._metrics = nightly_qa_metrics(self.w, self.params, data=self.data)
        return self._metrics

    def _unavailable(self, *parts: str) -> D.HTMLBlock | None:
        """A note of why these parts are missing (``None`` when none of them is)."""
        reasons = [f"{p}: {self.data.unavailable[p]}" for p in parts if p in self.data.unavailable]
        return (
            D.note("Not available. " + " ".join(reasons), kind="unavailable") if reasons else None
        )

    def _missing(self, part: str) -> D.HTMLBlock:
        """The note for a part that is missing (every section shows something)."""
        return self._unavailable(part) or D.note(f"Not available: {part}.", kind="unavailable")

    @property
    def dashboard_link(self) -> str | None:
        """The dashboard view of this night (``[reports] dashboard_url?night=...``)."""
        from dsa110_ws.reporting.links import dashboard_link

        return dashboard_link(self.w.settings.sections.reports.dashboard_url, self.params.night)

    # -- sections ------------------------------------------------------------------------
    @section
    def header(self) -> D.HTMLBlock:
        """The window, the overall status, the "needs attention" block and the links (the
        status and the block are re-rendered when a later section fails)."""
        s = self.w.settings
        what = f"night {self.params.night} (UTC day)" if self.params.night else "window"
        link = self.dashboard_link
        return D.join(
            *self._live_block("top", self.top_block),
            f"QA of the {what}: {self.start:%Y-%m-%d %H:%M} to {self.end:%Y-%m-%d %H:%M} UTC.",
            D.link("Open this night in the operations dashboard", link)
            if link
            else "No dashboard link: set [reports] dashboard_url in the settings.",
            f"Data source: {s.database_target}{' (demo state)' if s.is_demo else ''}; "
            f"workspace clock {self.w.now().isot[:19]} UTC.",
        )

    @section
    def headline(self, metrics_path: str | None = None) -> D.HTMLBlock:
        """Metrics table; writes ``metrics.json`` to ``metrics_path`` when given."""
        from dsa110_ws.reporting._metric import write_metrics

        ms = self.metrics()
        link = self.dashboard_link
        doc = write_metrics(
            ms,
            metrics_path,
            kind="qa",
            label=self.params.label,
            window=self.params.window_dict(),
            links={"dashboard": link} if link else None,
        )
        self._remember_metrics(metrics_path, doc)
        return D.join(*self._live_block("status", self.status_block), D.metrics_table(ms))

    @section
    def summary(self) -> D.HTMLBlock:
        d, rows = self.data, []
        if d.images is not None:
            counts = d.images["grade"].value_counts()
            outliers = int((d.images["peer_grade"] != "good").sum())
            rows.append(
                {
                    "what": "images",
                    "n": len(d.images),
                    "detail": ", ".join(
                        f"{g}: {int(counts.get(g, 0))}"
                        for g in ("good", "warning", "bad", "unreadable")
                        if g in counts or g != "unreadable"
                    )
                    + f"; flagged against their peers: {outliers}",
                }
            )
        if d.ms is not None:
            stages = d.ms["stage"].fillna("?").value_counts()
            rows.append(
                {
                    "what": "Measurement Sets",
                    "n": len(d.ms),
                    "detail": ", ".join(f"{k}: {v}" for k, v in stages.items()),
                }
            )
        if d.caltables is not None:
            rows.append(
                {
                    "what": "caltable sets valid",
                    "n": d.caltables["set_name"].nunique(),
                    "detail": f"{len(d.caltables)} tables; grades: "
                    + ", ".join(
                        f"{k}: {v}" for k, v in d.caltables["grade"].value_counts().items()
                    ),
                }
            )
        if d.job_summary is not None:
            js = d.job_summary
            rows.append(
                {
                    "what": "jobs created",
                    "n": js.n_total,
                    "detail": f"success {js.n_success}, failed {js.n_failed}, running "
                    f"{js.n_running}, pending {js.n_pending}",
                }
            )
        note = self._unavailable("images", "ms", "caltables", "job_summary")
        return D.join(D.table(pd.DataFrame(rows)), *([note] if note else []))

    @section
    def worst_images(self) -> D.HTMLBlock:
        if self.data.images is None:
            return self._missing("images")
        im = self.data.images.sort_values(
            ["grade_rank", "peer_rank", "qa_rms_jy"], ascending=[True, True, False], kind="stable"
        ).head(self.params.worst_n)
        items = []
        for _, r in im.iterrows():
            lines = [
                f"{r['obs_utc']:%Y-%m-%d %H:%M} UTC · {r['grade']}",
                f"rms {r['qa_rms_jy'] * 1e3:.2f} mJy/beam · DR {r['qa_dynamic_range']:.0f}"
                if pd.notna(r["qa_rms_jy"])
                else "no pixel QA",
            ]
            # the grade's reasons, else why it could not be read (a missing value is NaN, not
            # None, in a text column: it printed "nan" under every image)
            why = next((x for x in (r["reasons"], r["error"]) if isinstance(x, str) and x), "")
            lines += [x for x in why.split("; ") if x]
            if isinstance(r.get("peer_reasons"), str) and r["peer_reasons"]:
                lines.append(f"peers ({r['peer_grade']}): {r['peer_reasons']}")
            png = self._thumbnail(r["path"]) if isinstance(r["path"], str) else None
            items.append({"png": png, "title": _name(r["path"]), "lines": lines})
        return D.thumbnail_grid(items)

    def _thumbnail(self, path: str) -> bytes | None:
        try:
            return self.w.fits.thumbnail(path, size=THUMBNAIL_PX)
        except WorkspaceError:
            return None

    @section
    def noise_vs_time(self) -> D.HTMLBlock:
        if self.data.images is None:
            return self._missing("images")
        im = self.data.images.dropna(subset=["qa_rms_jy"])
        if im.empty:
            return D.note("No graded images in the window.")
        plotted = im[["obs_mjd", "qa_rms_jy", "qa_dynamic_range", "grade"]]
        return D.cached_figure(
            self.w,
            "qa.noise_vs_time",
            plotted,
            self.params.noise_warning_mjy,
            lambda: noise_figure(im, self.params),
        )

    @section
    def calibration_qa(self) -> D.HTMLBlock:
        blocks: list[Any] = []
        if self.data.caltables is not None:
            ct = self.data.caltables
            blocks.append(
                D.table(
                    ct,
                    columns=[
                        "set_name",
                        "table_type",
                        "status",
                        "flag_fraction",
                        "snr_median",
                        "amp_median",
                        "phase_scatter_deg",
                        "delay_std_ns",
                        "dead_antennas",
                        "grade",
                        "reasons",
                        "error",
                    ],
                    status_columns=["grade"],
                    formats={"flag_fraction": _pct},
                    caption="Caltables of the sets valid during the window",
                )
            )
        if self.data.ms is not None:
            t = self.w.qa.thresholds("ms")
            ms = self.data.ms.assign(ms=[_name(p) for p in self.data.ms["path"]])
            blocks.append(
                D.table(
                    ms,
                    columns=[
                        "ms",
                        "stage",
                        "flag_fraction",
                        "flag_fraction_cross",
                        "fully_flagged_antennas",
                        "grade",
                        "reasons",
                        "error",
                    ],
                    status_columns=["grade"],
                    formats={"flag_fraction": _pct, "flag_fraction_cross": _pct},
                    caption="Flagging of the window's Measurement Sets, graded as the "
                    "dashboards grade them ([qa.ms]: flag_fraction_cross over "
                    f"{_pct(t['flag_fraction_warn'])} is a warning, over "
                    f"{_pct(t['flag_fraction_max'])} bad; more than "
                    f"{_pct(t['fully_flagged_antennas_max'])} of the antennas fully flagged "
                    "is a warning)",
                )
            )
        note = self._unavailable("caltables", "ms")
        return D.join(*blocks, *([note] if note else []))

    @section
    def calibration_health(self) -> D.HTMLBlock:
        d = self.data
        if d.timeline is None:
            return self._missing("timeline")
        tl = d.timeline
        blocks: list[D.HTMLBlock | str] = []
        blocks.append(
            f"Active caltable sets cover {100 * tl.coverage_fraction:.1f}% of the window "
            f"({len(tl.gaps)} gap(s))."
            + (
                f" {tl.n_unknown_windows} active set(s) have no validity window "
                "(valid_start_mjd/valid_end_mjd NULL) and are not counted: the pipeline "
                "applies them at any time, so the real coverage is unknown."
                if tl.n_unknown_windows
                else ""
            )
        )
        gaps = tl.gaps.assign(
            start_utc=_utc(mjd_to_utc(tl.gaps["start_mjd"])),
            end_utc=_utc(mjd_to_utc(tl.gaps["end_mjd"])),
        )
        blocks.append(
            D.table(gaps, columns=["start_utc", "end_utc", "duration_h"], caption="Coverage gaps")
        )
        if d.nearest is not None and d.nearest.set_name is None:
            blocks.append(
                "At mid-window no active set with a known validity window exists "
                f"(staleness {d.nearest.staleness})."
            )
        elif d.nearest is not None:
            n = d.nearest
            blocks.append(
                f"At mid-window the nearest set is {n.set_name} "
                f"({'valid' if n.valid else 'NOT valid'}, {n.distance_h or 0:.1f} h "
                f"from its calibration time: {n.staleness}"
                + (f"; missing {', '.join(n.missing_types)}" if n.missing_types else "")
                + ")."
            )
        if d.flux is not None:
            blocks.append(
                D.table(
                    d.flux,
                    columns=FLUX_SUMMARY_COLUMNS,
                    caption="Calibrator flux monitoring in the window",
                )
            )
        if d.alerts is not None:
            blocks.append(
                D.table(
                    d.alerts,
                    columns=[
                        "id",
                        "severity",
                        "calibrator_name",
                        "message",
                        "triggered_at_utc",
                        "acknowledged_at_utc",
                    ],
                    status_columns=["severity"],
                    caption="Flux alerts triggered in the window",
                )
            )
        note = self._unavailable("nearest", "flux", "alerts")
        return D.join(*blocks, *([note] if note else []))

    @section
    def variable_sources(self) -> D.HTMLBlock:
        c = self.data.candidates
        if c is None:
            return self._missing("candidates")
        c = c.assign(
            mean_flux_mjy=c["mean_flux_jy"] * 1e3,
            position=[sexagesimal(r, d) for r, d in zip(c["ra_deg"], c["dec_deg"], strict=True)],
        )
        return D.join(
            f"{len(c)} candidate(s) at the {self.params.candidate_preset} preset "
            "among sources measured in the window (light curves up to its end).",
            D.table(
                c,
                columns=[
                    "source_id",
                    "ra_deg",
                    "dec_deg",
                    "position",
                    "n_epochs",
                    "mean_flux_mjy",
                    "v",
                    "eta",
                    "chi2_nu",
                    "vs_max",
                    "m_max",
                    "ese_like",
                    "score",
                    "stored_status",
                ],
                formats={"ra_deg": deg_text, "dec_deg": deg_text},
                caption="ra_deg, dec_deg: ICRS, degrees; position: the same as RA h:m:s, Dec d:m:s",
            ),
        )

    @section
    def failed_jobs(self) -> D.HTMLBlock:
        f = self.data.failed_jobs
        if f is None:
            return self._missing("failed_jobs")
        f = f.assign(
            created_utc=_utc(f["created_at_utc"]),
            ms=[_name(p) for p in f["ms_path"]],
        )
        return D.table(
            f,
            columns=["id", "type", "status", "created_utc", "ms", "failure_reason"],
            caption="Failed jobs",
        )
