"""CalInspector: a caltable set and its tables: QA, flagging per antenna and spw, gain /
bandpass / delay plots per antenna, and the validity timeline of the active sets."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import numpy as np
import pandas as pd
import traitlets

from dsa110_ws.core.caltypes import is_bandpass
from dsa110_ws.core.severity import Severity
from dsa110_ws.panels._base import Panel
from dsa110_ws.panels._format import mjd_text
from dsa110_ws.panels._paged import PagedTable
from dsa110_ws.panels._widgets import (
    figure_png,
    kv_html,
    new_figure,
    plot_locked,
    png_widget,
    section,
)

if TYPE_CHECKING:
    from dsa110_ws.workspace import Workspace

__all__ = ["CalInspector"]

TIMELINE_DAYS = {"last 7 days": 7.0, "last 14 days": 14.0, "last 30 days": 30.0}
_BAD = Severity.CRITICAL.background
#: The value columns of the per-antenna and per-spw tables: gains and bandpasses, or delays.
_GAIN_COLUMNS = ("amp_median", "phase_scatter_deg")
_DELAY_COLUMNS = ("delay_median_ns",)


class CalInspector(Panel):
    """Caltables from the registry (``w.cal.find``) inspected with ``w.cal`` and
    ``w.qa.cal``; the validity timeline from ``w.calhealth.timeline``.

    Traits: ``set_name``, ``caltable`` (path), ``y_axis`` (amp/phase), ``antenna``
    ("all" or a name), ``timeline_window``.  After a load: ``registry`` (record), ``qa``
    (CalQAResult), ``timeline`` (CalTimeline).
    """

    title = "Calibration tables"
    set_name = traitlets.Unicode("", allow_none=True)
    caltable = traitlets.Unicode("", allow_none=True)
    y_axis = traitlets.Unicode("amp")
    antenna = traitlets.Unicode("all")
    timeline_window = traitlets.Unicode("last 14 days")

    def __init__(
        self,
        workspace: Workspace,
        caltable: str | None = None,
        *,
        set_name: str | None = None,
        **kwargs: Any,
    ):
        self.sets = pd.DataFrame()
        self.tables = pd.DataFrame()
        self.registry: Any = None
        self.qa: Any = None
        self.gains: Any = None
        self.timeline: Any = None
        self._wanted = (set_name, caltable)
        super().__init__(workspace, **kwargs)
        self.observe(self.guard(lambda _: self._list_tables()), "set_name")
        self.observe(self.guard(lambda _: self.refresh()), "caltable")
        self.observe(self.guard(lambda _: self._load_plot()), ["y_axis", "antenna"])
        self.observe(self.guard(lambda _: self._load_timeline()), "timeline_window")
        self.run(self._load_sets, self._show_sets, what="listing caltable sets", channel="sets")
        self._load_timeline()

    def _build(self) -> list[widgets.Widget]:
        self.set_select = widgets.Dropdown(
            options=[], description="set", layout=widgets.Layout(width="22em")
        )
        self.table_select = widgets.Dropdown(
            options=[], description="table", layout=widgets.Layout(width="34em")
        )
        self.y_select = widgets.Dropdown(
            options=[("amplitude", "amp"), ("phase (deg)", "phase")],
            description="y",
            layout=widgets.Layout(width="14em"),
        )
        self.antenna_select = widgets.Dropdown(
            options=["all"], description="antenna", layout=widgets.Layout(width="14em")
        )
        self.window_select = widgets.Dropdown(
            options=list(TIMELINE_DAYS),
            description="window",
            value=self.timeline_window,
            layout=widgets.Layout(width="16em"),
        )
        self.link_values(
            (self.set_select, "set_name"),
            (self.table_select, "caltable"),
            (self.y_select, "y_axis"),
            (self.antenna_select, "antenna"),
            (self.window_select, "timeline_window"),
        )
        self.info_html = widgets.HTML()
        self.info_html.add_class("dsa-cal-info")
        self.antenna_table = PagedTable(
            columns=[
                "name",
                "n_solutions",
                "flag_fraction",
                "amp_median",
                "phase_scatter_deg",
                "snr_median",
                "dead",
            ],
            page_size=12,
            highlight=lambda r: _BAD if bool(r["dead"]) else None,
        )
        self.spw_table = PagedTable(
            columns=[
                "spw",
                "n_solutions",
                "flag_fraction",
                "amp_median",
                "phase_scatter_deg",
                "snr_median",
            ],
            page_size=8,
        )
        self.plot = png_widget(width="100%")
        self.gains_html = widgets.HTML()
        self.gains_html.add_class("dsa-cal-gains")
        self.timeline_plot = png_widget(width="100%")
        self.timeline_html = widgets.HTML()
        return [
            widgets.HBox([self.set_select, self.table_select]),
            self.info_html,
            section("Solutions", widgets.HBox([self.y_select, self.antenna_select]), self.plot),
            section("Per antenna", self.antenna_table),
            section("Per spectral window", self.spw_table),
            section("Gain QA per antenna (w.qa.gains)", self.gains_html),
            section(
                "Validity timeline of the active sets",
                self.window_select,
                self.timeline_html,
                self.timeline_plot,
            ),
        ]

    # -- sets and tables ------------------------------------------------------------------
    def _load_sets(self) -> tuple[pd.DataFrame, str | None]:
        sets = self.w.cal.sets()
        want = self._wanted[0]
        if want is None and self._wanted[1]:
            want = self.w.cal.registry_row(self._wanted[1]).set_name
        if want is None and len(sets):
            want = self.w.calhealth.nearest().set_name or str(sets["set_name"].iloc[-1])
        return sets, want

    def _show_sets(self, data: tuple[pd.DataFrame, str | None]) -> None:
        self.sets, want = data
        names = [str(s) for s in self.sets["set_name"]][::-1]
        self.set_select.options = names
        if want in names:
            self.set_select.value = want

    def _list_tables(self) -> None:
        name = self.set_name
        self.run(
            lambda: self.w.cal.find(set_name=name, limit=None),
            self._show_tables,
            what=f"reading set {name}",
            channel="tables",
        )

    def _show_tables(self, tables: pd.DataFrame) -> None:
        self.tables = tables.sort_values("order_index", kind="stable")
        opts = [
            (f"{t}: {p.rsplit('/', 1)[-1]}", p)
            for t, p in zip(self.tables["table_type"], self.tables["path"], strict=True)
        ]
        self.table_select.options = opts
        paths = [p for _, p in opts]
        want = self._wanted[1]
        if want in paths:
            self.table_select.value = want
        elif paths and self.caltable not in paths:
            types = dict(zip(self.tables["path"], self.tables["table_type"], strict=True))
            bp = [p for p in paths if is_bandpass(types[p])]
            self.table_select.value = bp[0] if bp else paths[0]

    # -- one table ------------------------------------------------------------------------
    def _load(self) -> dict[str, Any] | None:
        if not self.caltable:
            return None
        return {
            "registry": self.w.cal.registry_row(self.caltable),
            "qa": self.w.qa.cal(self.caltable),
            "gains": self.w.qa.gains(self.caltable),
        }

    def _show(self, data: dict[str, Any] | None) -> None:
        if data is None:
            return
        self.registry, self.qa = data["registry"], data["qa"]
        r, q = self.registry, self.qa
        checks = "".join(
            f"<li>{html.escape(c.verdict)}: {html.escape(c.reason)}</li>" for c in q.checks
        )
        self.info_html.value = (
            kv_html(
                [
                    ("path", r.path),
                    ("type", r.table_type),
                    ("set", r.set_name),
                    ("status", r.status),
                    (
                        "validity (UTC)",
                        f"{mjd_text(r.valid_start_mjd)} to {mjd_text(r.valid_end_mjd)}",
                    ),
                    ("source MS", r.source_ms_path),
                    ("refant", r.refant),
                    ("QA grade", q.grade),
                    ("solutions", f"{q.n_solutions:,}"),
                    ("flagged", f"{100 * q.flag_fraction:.1f}%" if q.n_solutions else "-"),
                    ("dead antennas", ", ".join(q.dead_antennas) or "none"),
                ],
                title="Caltable",
            )
            + f"<ul class='dsa-cal-checks'>{checks}</ul>"
        )
        per_ant = q.per_antenna if q.per_antenna is not None else pd.DataFrame()
        delays = "delay_median_ns" in per_ant.columns  # a K table: delays, never "amplitude"
        values = list(_DELAY_COLUMNS if delays else _GAIN_COLUMNS)
        self.antenna_table.columns = ["name", "n_solutions", "flag_fraction", *values]
        self.antenna_table.columns += ["snr_median", "dead"]
        self.spw_table.columns = ["spw", "n_solutions", "flag_fraction", *values, "snr_median"]
        self.antenna_table.set_data(per_ant)
        self.spw_table.set_data(q.per_spw if q.per_spw is not None else pd.DataFrame())
        self._y_choices(str(r.table_type or ""))
        names = ["all", *[str(n) for n in per_ant.get("name", [])]]
        if self.antenna not in names:
            self.antenna = "all"
        self.antenna_select.options = names
        self.gains = data["gains"]
        self.gains_html.value = _gains_html(self.gains)
        level = {"good": "ok", "warning": "warning", "bad": "error"}.get(q.grade, "warning")
        said = f"QA {q.grade}" if q.grade != "unknown" else f"QA {q.reasons[0]}"
        self.show_status(f"{r.table_type} table of {r.set_name}: {said}", level)
        self._load_plot()

    def _y_choices(self, kind: str) -> None:
        """The y menu says what the plot of this table type draws: a K table's delays (ns),
        else amplitude or phase (the gain QA's axis for G tables)."""
        if kind == "K":
            self.y_select.options = [("delay (ns)", "delay")]
        else:
            self.y_select.options = [("amplitude", "amp"), ("phase (deg)", "phase")]
        self.y_select.disabled = kind == "K"
        want = "delay" if kind == "K" else (self.y_axis if self.y_axis != "delay" else "amp")
        if self.y_select.value != want:
            self.y_select.value = want

    def _load_plot(self) -> None:
        if not self.caltable or self.registry is None:
            return
        path, kind, y = self.caltable, str(self.registry.table_type or ""), self.y_axis
        ants = None if self.antenna == "all" else [self.antenna]

        @plot_locked
        def work() -> bytes:
            fig = new_figure(7.0, 3.2)
            ax = fig.add_subplot()
            if kind == "K":
                self.w.cal.plot_delays(path, ax=ax)
            elif kind in ("BP", "BA"):
                self.w.cal.plot_bandpass(path, ax=ax, y=y, antennas=ants)
            else:
                self.w.cal.plot_gains(path, ax=ax, y=y, antennas=ants)
            return figure_png(fig)

        self.run(
            work,
            lambda png: setattr(self.plot, "value", png),
            what="plotting solutions",
            channel="plot",
        )

    # -- timeline -------------------------------------------------------------------------
    def _load_timeline(self) -> None:
        days = TIMELINE_DAYS[self.timeline_window]

        def work() -> tuple[Any, bytes]:
            now = float(self.w.now().unix)
            tl = self.w.calhealth.timeline(start=now - days * 86400.0, end=now)
            return tl, _timeline_png(tl)

        self.run(work, self._show_timeline, what="calibration timeline", channel="timeline")

    def _show_timeline(self, data: tuple[Any, bytes]) -> None:
        self.timeline, png = data
        gaps = self.timeline.gaps
        items = "".join(
            f"<li>{mjd_text(a)} to {mjd_text(b)} ({h:.1f} h)</li>"
            for a, b, h in zip(gaps["start_mjd"], gaps["end_mjd"], gaps["duration_h"], strict=True)
        )
        self.timeline_html.value = (
            f"<span class='dsa-cal-coverage'>coverage {100 * self.timeline.coverage_fraction:.1f}%"
            f"</span>, {len(gaps)} gap(s)<ul class='dsa-cal-gaps'>{items}</ul>"
        )
        self.timeline_plot.value = png


def _gains_html(g: Any) -> str:
    """The gain QA's grade, checks and its noisy antennas' rows."""
    checks = "".join(
        f"<li>{html.escape(c.verdict)}: {html.escape(c.reason)}</li>" for c in g.checks
    )
    along = f"successive solutions along {g.axis}" if g.axis else "one solution per antenna"
    if not g.n_solutions:
        along = "no solutions read"
    noisy = ", ".join(g.noisy_antennas) or "none"
    return (
        f"<p>grade <b>{html.escape(g.grade)}</b> ({along}); noisy antennas: "
        f"<b>{html.escape(noisy)}</b></p><ul>{checks}</ul>"
    )


@plot_locked
def _timeline_png(tl: Any) -> bytes:
    fig = new_figure(7.0, 0.6 + 0.22 * max(1, len(tl.sets)))
    ax = fig.add_subplot()
    for i, (a, b) in enumerate(
        zip(tl.sets["valid_start_mjd"], tl.sets["valid_end_mjd"], strict=True)
    ):
        ax.barh(i, b - a, left=a - tl.start_mjd, height=0.6, color="#1a7f37")
    for a, b in zip(tl.gaps["start_mjd"], tl.gaps["end_mjd"], strict=True):
        ax.axvspan(a - tl.start_mjd, b - tl.start_mjd, color="#cf222e", alpha=0.25, lw=0)
    ax.set_yticks(np.arange(len(tl.sets)), [str(s) for s in tl.sets["set_name"]], fontsize=7)
    ax.set_xlim(0, tl.end_mjd - tl.start_mjd)
    _utc_date_axis(ax, tl.start_mjd, tl.end_mjd)
    ax.set_xlabel("UTC date (green: a set's validity; red: no valid set)")
    return figure_png(fig)


def _utc_date_axis(ax: Any, start_mjd: float, end_mjd: float) -> None:
    """Label an x axis drawn in days since ``start_mjd`` with UTC dates and times."""
    import matplotlib.dates as mdates
    from matplotlib.ticker import FuncFormatter

    from dsa110_ws.core.time import mjd_to_unix

    span = max(end_mjd - start_mjd, 1e-6)
    step = next((d for d in (1 / 24, 3 / 24, 6 / 24, 0.5, 1, 2, 7, 14, 30) if span / d <= 8), 60)
    first = np.ceil(start_mjd / step) * step
    ticks = np.arange(first, end_mjd + 1e-9, step) - start_mjd
    ax.set_xticks(ticks)
    fmt = "%m-%d %H:%M" if step < 1 else "%Y-%m-%d"
    ax.xaxis.set_major_formatter(
        FuncFormatter(
            lambda x, _: mdates.num2date(mjd_to_unix(start_mjd + x) / 86400.0).strftime(fmt)
        )
    )
