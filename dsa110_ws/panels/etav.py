"""EtaVView: the eta-V diagnostic to explore: hover names a source, a click selects it.

Drawn by ``w.sources.plot_eta_v`` (the same figure the reports use) in an ipympl canvas:
the toolbar zooms and pans; hovering shows the nearest source's id and metrics; a click on
a point sets ``selected`` to that source (the explorer then opens it); the shown source is
ringed.  ipympl rather than plotly: one plotting code path for panels and reports, no
~5 MB of plotly.js per page, and a click costs ~0.1 s through the kernel.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import numpy as np
import pandas as pd
import traitlets

from dsa110_ws.panels._base import Panel
from dsa110_ws.panels._widgets import plotting

if TYPE_CHECKING:
    from dsa110_ws.workspace import Workspace

__all__ = ["EtaVView"]

#: A click further than this (screen pixels) from every point selects nothing.
PICK_RADIUS_PX = 8.0


class EtaVView(Panel):
    """Traits: ``selected`` (the source id clicked, or ``None``).  :meth:`show` draws a
    variability table (``w.sources.variability``) with one source ringed."""

    selected = traitlets.Unicode(None, allow_none=True)

    def __init__(self, workspace: Workspace, **kwargs: Any):
        self.table = pd.DataFrame()
        self._xy = np.empty((0, 2))
        self._ids: list[str] = []
        super().__init__(workspace, **kwargs)

    def _build(self) -> list[widgets.Widget]:
        from dsa110_ws.panels.imageview import canvas_figure

        self.fig, canvas = canvas_figure((4.8, 4.2))
        canvas.add_class("dsa-etav-canvas")
        canvas.mpl_connect("button_press_event", self.guard(self._clicked))
        canvas.mpl_connect("motion_notify_event", self.guard(self._hovered))
        self.canvas = canvas
        self.hover_html = widgets.HTML("<i>hover a point to name it; click it to open it</i>")
        self.hover_html.add_class("dsa-etav-hover")
        return [canvas, self.hover_html]

    def show(self, table: pd.DataFrame, ring: str | None = None) -> None:
        """Draw ``table`` (any thread: under the plot lock), ringing source ``ring``."""
        with plotting():
            self.fig.clear()
            ax = self.fig.add_subplot()
            self.w.sources.plot_eta_v(table, ax=ax)
            row = table[table["source_id"] == ring] if ring else table.iloc[:0]
            if len(row):
                ax.scatter(
                    row["eta"],
                    row["v"],
                    s=160,
                    facecolors="none",
                    edgecolors="#cf222e",
                    lw=2,
                    label=ring,
                )
                ax.legend(fontsize=7, loc="lower right")
            self.ax = ax
            self.fig.canvas.draw()
            ok = np.isfinite(table["eta"].to_numpy(float)) & np.isfinite(table["v"].to_numpy(float))
            self.table = table[ok].reset_index(drop=True)
            self._xy = self.table[["eta", "v"]].to_numpy(float)
            self._ids = [str(s) for s in self.table["source_id"]]
        self.canvas.draw_idle()

    def _nearest(self, event: Any) -> int:
        if event.inaxes is not getattr(self, "ax", None) or not len(self._xy):
            return -1
        with np.errstate(divide="ignore", invalid="ignore"):
            px = self.ax.transData.transform(self._xy)
        d = np.hypot(px[:, 0] - event.x, px[:, 1] - event.y)
        d[~np.isfinite(d)] = np.inf
        k = int(np.argmin(d))
        return k if d[k] <= PICK_RADIUS_PX else -1

    def _clicked(self, event: Any) -> None:
        if str(getattr(getattr(self.canvas, "toolbar", None), "mode", "")):
            return  # zooming or panning, not picking
        k = self._nearest(event)
        if k >= 0:
            self.selected = self._ids[k]

    def _hovered(self, event: Any) -> None:
        k = self._nearest(event)
        if k < 0:
            return
        r = self.table.iloc[k]
        self.hover_html.value = html.escape(
            f"{r['source_id']}: eta {float(r['eta']):.4g}, V {float(r['v']):.3g}"
            + (f", {int(r['n_epochs'])} epochs" if "n_epochs" in r else "")
        )
