"""MSInspector: a Measurement Set's summary, flagging per antenna and spw, quick-looks and
time x frequency waterfalls."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import pandas as pd
import traitlets

from dsa110_ws.panels._base import Panel, truncation_allowed
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

__all__ = ["MSInspector"]


class MSInspector(Panel):
    """One MS from ``w.ms``: summary (subtables only), flag fractions per antenna and spw
    (read in row chunks, cached), amplitude/phase quick-looks against time, frequency or
    baseline, and a waterfall (``w.ms.waterfall``: amplitude, phase or flags against UTC time
    and frequency, for every cross-correlation averaged, one antenna or one baseline ``A&B``).
    Pick an MS of a ``night`` or set ``ms_path`` directly.

    Traits: ``night``, ``ms_path``, ``x_axis``, ``y_axis``, ``wf_quantity``, ``wf_baseline``
    (``"all"``, an antenna name or ``"A&B"``).  After a load: ``summary`` (MSSummary),
    ``flags`` (FlagStats), ``waterfall`` (Waterfall).
    """

    title = "Measurement Set"
    night = traitlets.Unicode("yesterday")
    ms_path = traitlets.Unicode("")
    x_axis = traitlets.Unicode("time")
    y_axis = traitlets.Unicode("amp")
    wf_quantity = traitlets.Unicode("flag")
    wf_baseline = traitlets.Unicode("all")

    def __init__(
        self,
        workspace: Workspace,
        ms_path: str | None = None,
        *,
        night: str = "yesterday",
        **kwargs: Any,
    ):
        self.summary: Any = None
        self.flags: Any = None
        self.waterfall: Any = None
        super().__init__(workspace, **kwargs)
        self.night_text.value = night
        self.observe(self.guard(lambda _: self._list_night()), "night")
        self.observe(self.guard(lambda _: self.refresh()), "ms_path")
        self.observe(self.guard(lambda _: self._load_quicklook()), ["x_axis", "y_axis"])
        self.observe(self.guard(lambda _: self._load_waterfall()), ["wf_quantity", "wf_baseline"])
        self._list_night()
        if ms_path:
            self.path_box.value = str(ms_path)

    def _build(self) -> list[widgets.Widget]:
        self.night_text = widgets.Text(
            description="night", continuous_update=False, layout=widgets.Layout(width="15em")
        )
        self.path_box = widgets.Combobox(
            description="MS",
            ensure_option=False,
            continuous_update=False,
            placeholder="path of an MS",
            layout=widgets.Layout(width="60%"),
        )
        self.x_select = widgets.Dropdown(
            options=["time", "frequency", "baseline"],
            description="x",
            layout=widgets.Layout(width="12em"),
        )
        self.y_select = widgets.Dropdown(
            options=[("amplitude", "amp"), ("phase (deg)", "phase")],
            description="y",
            layout=widgets.Layout(width="14em"),
        )
        self.wf_quantity_select = widgets.Dropdown(
            options=[("flags", "flag"), ("amplitude", "amp"), ("phase (deg)", "phase")],
            description="show",
            layout=widgets.Layout(width="14em"),
        )
        self.wf_baseline_box = widgets.Combobox(
            options=["all"],
            description="baseline",
            ensure_option=False,
            continuous_update=False,
            placeholder="all, an antenna, or A&B",
            layout=widgets.Layout(width="22em"),
        )
        self.link_values(
            (self.night_text, "night"),
            (self.path_box, "ms_path"),
            (self.x_select, "x_axis"),
            (self.y_select, "y_axis"),
            (self.wf_quantity_select, "wf_quantity"),
            (self.wf_baseline_box, "wf_baseline"),
        )
        self.summary_html = widgets.HTML()
        self.summary_html.add_class("dsa-ms-summary")
        self.antenna_plot = png_widget(width="100%")
        self.spw_table = PagedTable(
            columns=["spw_id", "n_visibilities", "n_flagged", "flag_fraction"], page_size=8
        )
        self.quicklook_plot = png_widget(width="100%")
        self.waterfall_plot = png_widget(width="100%")
        self.waterfall_plot.add_class("dsa-ms-waterfall")
        return [
            widgets.HBox([self.night_text, self.path_box]),
            self.summary_html,
            section("Flagging per antenna and spectral window", self.antenna_plot, self.spw_table),
            section(
                "Quick-look", widgets.HBox([self.x_select, self.y_select]), self.quicklook_plot
            ),
            section(
                "Waterfall (time x frequency)",
                widgets.HBox([self.wf_quantity_select, self.wf_baseline_box]),
                self.waterfall_plot,
            ),
        ]

    def _list_night(self) -> None:
        from dsa110_ws.core.time import night_bounds

        lo, hi = night_bounds(self.night, now=self.w.now())

        def work() -> list[str]:
            with truncation_allowed():
                return list(self.w.ms.find(start=lo, end=hi, limit=2000)["path"])

        def done(paths: list[str]) -> None:
            self.path_box.options = paths
            if not self.ms_path and paths:
                self.path_box.value = paths[0]

        self.run(work, done, what=f"listing the MS of {self.night}", channel="list")

    # -- data -----------------------------------------------------------------------------
    def _load(self) -> tuple[Any, Any, bytes] | None:
        if not self.ms_path:
            return None
        summary = self.w.ms.summary(self.ms_path)
        flags = self.w.ms.flag_stats(self.ms_path)
        return summary, flags, _antenna_png(flags)

    def _show(self, data: tuple[Any, Any, bytes] | None) -> None:
        if data is None:
            return
        self.summary, self.flags, png = data
        s, f = self.summary, self.flags
        fields = "; ".join(
            f"{x['name']} ({x['ra_deg']:.3f}, {x['dec_deg']:+.3f})" for x in s.fields
        )
        spws = "; ".join(
            f"spw {x['spw_id']}: {x['n_channels']} ch "
            f"{x['freq_min_hz'] / 1e6:.2f}-{x['freq_max_hz'] / 1e6:.2f} MHz"
            for x in s.spws
        )
        self.summary_html.value = kv_html(
            [
                ("path", s.path),
                ("telescope", s.telescope),
                ("rows", f"{s.n_rows:,}"),
                ("antennas (with data)", f"{s.n_antennas} ({s.n_antennas_with_data})"),
                ("fields", fields),
                ("spectral windows", spws),
                ("correlations", ", ".join(s.correlations or ())),
                ("time (UTC)", f"{s.time_start_utc} to {s.time_end_utc}"),
                ("integration (s)", s.integration_s),
                ("scans", len(s.scans)),
                ("data columns", ", ".join(s.data_columns)),
                ("size (MB)", round(s.size_bytes / 1e6, 1)),
                (
                    "flagged (all / cross)",
                    f"{100 * f.flag_fraction:.2f}% / {100 * f.flag_fraction_cross:.2f}%",
                ),
                ("fully flagged antennas", ", ".join(f.fully_flagged_antennas) or "none"),
            ],
            title="Summary",
        ) + "".join(f"<p style='color:#9a6700'>{html.escape(w_)}</p>" for w_ in s.warnings)
        self.antenna_plot.value = png
        self.spw_table.set_data(f.per_spw)
        self.show_status(f"{s.n_rows:,} rows, {100 * f.flag_fraction:.1f}% flagged", "ok")
        names = list(s.antenna_names)
        self.wf_baseline_box.options = ["all", *names] + (
            [f"{names[0]}&{names[1]}"] if len(names) > 1 else []
        )
        self._load_quicklook()
        self._load_waterfall()

    def _load_quicklook(self) -> None:
        if not self.ms_path:
            return
        path, x, y = self.ms_path, self.x_axis, self.y_axis

        @plot_locked
        def work() -> bytes:
            fig = new_figure(7.0, 3.0)
            self.w.ms.plot_quicklook(path, ax=fig.add_subplot(), x=x, y=y)
            return figure_png(fig)

        self.run(
            work,
            lambda png: setattr(self.quicklook_plot, "value", png),
            what=f"quick-look {y} against {x}",
            channel="quicklook",
        )

    def _load_waterfall(self) -> None:
        if not self.ms_path:
            return
        path, quantity = self.ms_path, self.wf_quantity
        baseline = None if self.wf_baseline.strip() in ("", "all") else self.wf_baseline.strip()

        @plot_locked
        def work() -> tuple[Any, bytes]:
            wf = self.w.ms.waterfall(path, quantity, baseline=baseline)
            fig = new_figure(7.5, 3.6)
            wf.plot(fig.add_subplot())
            return wf, figure_png(fig)

        def done(result: tuple[Any, bytes]) -> None:
            self.waterfall, self.waterfall_plot.value = result

        self.run(work, done, what=f"waterfall of {quantity}", channel="waterfall")


@plot_locked
def _antenna_png(flags: Any) -> bytes:
    per = flags.per_antenna
    fig = new_figure(7.0, 2.4)
    ax = fig.add_subplot()
    frac = pd.to_numeric(per["flag_fraction"], errors="coerce").fillna(1.0)
    names = per["name"] if "name" in per else per.index.astype(str)
    colours = ["#cf222e" if v >= 0.999 else "#0969da" for v in frac]
    ax.bar(range(len(per)), frac, color=colours)
    ax.set_xticks(range(len(per)), list(names), rotation=90, fontsize=7)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("flagged fraction")
    ax.set_xlabel("antenna (red: fully flagged or no data)")
    return figure_png(fig)
