"""ThroughputPanel: MS, images and photometry per hour (or night) of observation time."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import pandas as pd
import traitlets

from dsa110_ws.core.time import night_of
from dsa110_ws.panels._base import Panel
from dsa110_ws.panels._widgets import (
    figure_png,
    new_figure,
    plot_locked,
    png_memo,
    png_widget,
)

if TYPE_CHECKING:
    from dsa110_ws.workspace import Workspace

__all__ = ["ThroughputPanel"]

#: window label -> (span, bin): hours for hourly bins, whole UTC nights (tonight the
#: last, to now) for nightly ones, so the totals are exactly the bars drawn
WINDOWS: dict[str, tuple[int, str]] = {
    "last 24 h": (24, "hour"),
    "last 7 nights": (7, "night"),
    "last 30 nights": (30, "night"),
}


class ThroughputPanel(Panel):
    """``w.stats.throughput`` as a bar chart with totals; ``window`` picks the span."""

    shared_params = ("window",)  # the same for every viewer: shared (w.shared)

    title = "Throughput"
    window = traitlets.Unicode("last 24 h")

    def __init__(self, workspace: Workspace, *, window: str = "last 24 h", **kwargs: Any):
        self.data = pd.DataFrame()
        super().__init__(workspace, **kwargs)
        self.window_select.value = window
        self.observe(self.guard(lambda _: self.refresh()), "window")
        self.refresh()

    def _build(self) -> list[widgets.Widget]:
        self.window_select = widgets.Dropdown(options=list(WINDOWS), description="window")
        self.window_select.add_class("dsa-throughput-window")
        self.link_values((self.window_select, "window"))
        self.totals_html = widgets.HTML()
        self.totals_html.add_class("dsa-throughput-totals")
        self.plot = png_widget(width="100%")
        return [self.window_select, self.totals_html, self.plot]

    def _load(self) -> tuple[pd.DataFrame, bytes]:
        span, per = WINDOWS[self.window]
        now = float(self.w.now().unix)
        if per == "hour":
            start = now - span * 3600.0
        else:  # whole nights: from midnight UTC (span - 1) nights ago
            start = night_of(now).timestamp() - (span - 1) * 86400.0
        df = self.w.stats.throughput(start=start, end=now, per=per)
        return df, _plot(df, per)

    def _show(self, data: tuple[pd.DataFrame, bytes]) -> None:
        self.data, png = data
        totals = {c[2:]: int(self.data[c].sum()) for c in self.data.columns if c.startswith("n_")}
        since = ""
        if len(self.data) and WINDOWS[self.window][1] == "night":
            since = f" (since {self.data['bin_start'].iloc[0]:%Y-%m-%d} 00:00 UTC)"
        self.totals_html.value = f"Observed in this window{since}: " + ", ".join(
            f"<b data-what='{k}'>{v:,}</b> {k}" for k, v in totals.items()
        )
        self.plot.value = png
        self.show_status(f"{self.window}: {totals.get('images', 0)} images", "ok")


@png_memo
@plot_locked
def _plot(df: pd.DataFrame, per: str) -> bytes:
    import numpy as np

    fig = new_figure(7.0, 2.4)
    ax = fig.add_subplot()
    x = np.arange(len(df))
    width = 0.4
    ax.bar(x - width / 2, df.get("n_ms", 0), width, label="MS", color="#0969da")
    ax.bar(x + width / 2, df.get("n_images", 0), width, label="images", color="#1a7f37")
    from matplotlib.ticker import MaxNLocator

    fmt = "%H" if per == "hour" else "%m-%d"
    step = max(1, int(np.ceil(len(df) / (12 if per == "hour" else 8))))  # labels never overlap
    ax.set_xticks(x[::step], [t.strftime(fmt) for t in df["bin_start"][::step]])
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts: whole-number ticks
    ax.set_xlabel("UTC hour (observation time)" if per == "hour" else "UTC night")
    ax.set_ylabel(f"per {per}")
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    return figure_png(fig)
