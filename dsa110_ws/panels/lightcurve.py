"""LightCurveView: one source's light curve to explore, each epoch a click away.

The light curve (``w.sources.plot_lightcurve``, one point per measurement, error bars,
nights told apart, the flux unit on the y axis and the flux column named under it) is
drawn in an ipympl canvas: the toolbar zooms and pans, hovering names the epoch under the
pointer, and a click on a point opens that epoch: its postage stamp
(``w.fits.cutout_png`` around the source) and its whole image in an
:class:`~dsa110_ws.panels.imageview.ImageViewer`.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import numpy as np
import pandas as pd
import traitlets

from dsa110_ws.panels._base import Panel
from dsa110_ws.panels._widgets import plotting, png_widget

if TYPE_CHECKING:
    from dsa110_ws.workspace import Workspace

__all__ = ["LightCurveView"]

#: A click further than this (screen pixels) from every point selects nothing.
PICK_RADIUS_PX = 12.0


class LightCurveView(Panel):
    """Traits: ``epoch`` (the selected measurement's row in ``lightcurve``, -1 for none).

    :meth:`show` draws a light curve (a frame from ``w.sources.lightcurve``); clicking a
    point (or :meth:`select_epoch`) opens that epoch's stamp and image.
    """

    epoch = traitlets.Int(-1)

    def __init__(self, workspace: Workspace, **kwargs: Any):
        self.lightcurve = pd.DataFrame()
        self.source_id = ""
        self._xy = np.empty((0, 2))
        super().__init__(workspace, **kwargs)
        self.observe(self.guard(lambda _: self._open_epoch()), "epoch")

    def _build(self) -> list[widgets.Widget]:
        from dsa110_ws.panels.imageview import ImageViewer, canvas_figure

        self.fig, canvas = canvas_figure((9.0, 3.0))
        canvas.add_class("dsa-lc-canvas")
        canvas.mpl_connect("button_press_event", self.guard(self._clicked))
        canvas.mpl_connect("motion_notify_event", self.guard(self._hovered))
        self.canvas = canvas
        self.hover_html = widgets.HTML("<i>hover a point to name it; click it to open it</i>")
        self.hover_html.add_class("dsa-lc-hover")
        self.epoch_html = widgets.HTML()
        self.epoch_html.add_class("dsa-lc-epoch")
        self.stamp = png_widget(width="220px")
        self.viewer = ImageViewer(self.w, background=self.background)
        self.epoch_box = widgets.HBox(
            [widgets.VBox([self.epoch_html, self.stamp]), self.viewer],
            layout=widgets.Layout(display="none"),
        )
        return [canvas, self.hover_html, self.epoch_box]

    # -- drawing ------------------------------------------------------------------------
    def show(self, source_id: str, lc: pd.DataFrame) -> None:
        """Draw ``lc`` (call from any thread: the figure is drawn under the plot lock)."""
        import matplotlib.dates as mdates

        self.source_id, self.lightcurve = source_id, lc.reset_index(drop=True)
        with plotting():
            self.fig.clear()
            ax = self.fig.add_subplot()
            if len(lc):
                self.w.sources.plot_lightcurve(lc, ax=ax, by_night=True)
            self.ax = ax
            self.fig.canvas.draw()
            x = mdates.date2num(pd.to_datetime(self.lightcurve["time_utc"]).dt.tz_localize(None))
            y = 1e3 * pd.to_numeric(self.lightcurve["flux_jy"], errors="coerce").to_numpy(float)
            self._xy = np.column_stack([x, y]) if len(lc) else np.empty((0, 2))
        self.canvas.draw_idle()
        self.epoch = -1

    def _nearest(self, event: Any) -> int:
        """The row whose point is nearest the event on screen (-1 beyond the radius)."""
        if event.inaxes is not getattr(self, "ax", None) or not len(self._xy):
            return -1
        px = self.ax.transData.transform(self._xy)
        d = np.hypot(px[:, 0] - event.x, px[:, 1] - event.y)
        d[~np.isfinite(d)] = np.inf
        k = int(np.argmin(d))
        return k if d[k] <= PICK_RADIUS_PX else -1

    def _clicked(self, event: Any) -> None:
        mode = getattr(getattr(self.canvas, "toolbar", None), "mode", "")
        if str(mode):
            return  # zooming or panning, not picking
        k = self._nearest(event)
        if k >= 0:
            self.select_epoch(k)

    def _hovered(self, event: Any) -> None:
        k = self._nearest(event)
        if k >= 0:
            self.hover_html.value = html.escape(self._describe(k))

    def _describe(self, k: int) -> str:
        row = self.lightcurve.iloc[k]
        when = pd.Timestamp(row["time_utc"]).strftime("%Y-%m-%d %H:%M:%S")
        flux, err = 1e3 * float(row["flux_jy"]), 1e3 * float(row["flux_err_jy"])
        path = self._image_path(k)
        image = path.rsplit("/", 1)[-1] if path else "no image"
        return f"{when} UTC: {flux:.1f} +- {err:.1f} mJy ({image})"

    def _image_path(self, k: int) -> str | None:
        """Measurement ``k``'s image path; None without one (a missing path is NaN, which
        is truthy, not None)."""
        path = self.lightcurve.iloc[k].get("image_path")
        return path if isinstance(path, str) and path else None

    # -- one epoch --------------------------------------------------------------------------
    def select_epoch(self, k: int) -> None:
        """Open measurement ``k`` (its row in ``lightcurve``)."""
        if not 0 <= k < len(self.lightcurve):
            raise IndexError(f"no measurement {k} in a light curve of {len(self.lightcurve)}")
        if k == self.epoch:
            self._open_epoch()
        self.epoch = k

    def _open_epoch(self) -> None:
        k = self.epoch
        if k < 0:
            self.epoch_box.layout.display = "none"
            self.epoch_html.value = ""
            return
        row = self.lightcurve.iloc[k]
        path = self._image_path(k)
        self.epoch_html.value = (
            f"<b class='dsa-lc-epoch-title'>{html.escape(self._describe(k))}</b>"
            f"<div style='font-size:11px;color:#555' title='{html.escape(path or 'no image')}'>"
            f"stamp 6' around {html.escape(self.source_id)}</div>"
        )
        self.epoch_box.layout.display = "flex"
        if path is None:
            self.show_status(f"measurement {k} has no image", "warning")
            return
        pos = (float(row["ra_deg"]), float(row["dec_deg"]))
        from astropy import units as u

        self.run(
            lambda: self.w.fits.cutout_png(path, pos, 6 * u.arcmin, png_size=220),
            lambda png: setattr(self.stamp, "value", png),
            what="stamp",
            channel="stamp",
        )
        self.viewer.path = path
