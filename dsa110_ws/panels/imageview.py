"""ImageViewer: one image as an astronomer expects it, with zoom and pan.

RA/Dec axes from the image's WCS, square pixels (the image's own aspect ratio), a colour
bar labelled with the image's unit, the restoring beam, a stretch that can be changed and,
on request, the catalogue's sources over the field.  Drawn with matplotlib in an ipympl
canvas: the toolbar zooms and pans, and the status bar reads RA/Dec and the pixel value
under the cursor.  Outside a live kernel the same figure renders to PNG (``png()``).
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import numpy as np
import traitlets

from dsa110_ws.panels._base import Panel
from dsa110_ws.panels._widgets import figure_png, plotting

if TYPE_CHECKING:
    from dsa110_ws.workspace import Workspace

__all__ = ["ImageViewer", "STRETCH_CHOICES", "canvas_figure"]

STRETCH_CHOICES = ("zscale", "asinh", "zscale asinh", "minmax")
#: Figure size (inches) at ``_DPI``: wide enough for the axes labels and the colour bar.
_FIG_IN = (6.4, 5.4)
_DPI = 90


def canvas_figure(figsize: tuple[float, float], dpi: int = _DPI) -> tuple[Any, Any]:
    """A matplotlib Figure (constrained layout) on an ipympl canvas: a widget with a zoom
    and pan toolbar on its left, no pyplot state; fixed size, no header, and the page's
    scroll wheel left to the page."""
    import warnings

    from ipympl.backend_nbagg import new_figure_manager_given_figure
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    with warnings.catch_warnings():  # ipympl's toolbar passes traitlets an old-style argument
        warnings.simplefilter("ignore", DeprecationWarning)
        manager = new_figure_manager_given_figure(id(fig), fig)
    canvas = manager.canvas
    canvas.header_visible = False
    canvas.toolbar_position = "left"
    canvas.resizable = False
    canvas.capture_scroll = False
    return fig, canvas


def _new_canvas_figure() -> tuple[Any, widgets.Widget]:
    """The viewer's figure and canvas."""
    fig, canvas = canvas_figure(_FIG_IN)
    canvas.toolbar_visible = "fade-in-fade-out"  # over the figure only while hovered
    canvas.footer_visible = True
    return fig, canvas


class ImageViewer(Panel):
    """One image: WCS axes, colour bar in its unit, beam, stretch, optional source overlay.

    Traits: ``path`` (the image shown), ``stretch`` (one of :data:`STRETCH_CHOICES`),
    ``overlay`` (draw the catalogue's sources in the field).  After a draw ``geometry``
    holds the image's shape and the drawn axes' size in pixels (their ratio is the
    image's) and ``n_overlay`` the number of sources drawn.
    """

    path = traitlets.Unicode("")
    stretch = traitlets.Unicode("zscale")
    overlay = traitlets.Bool(False)

    def __init__(self, workspace: Workspace, path: str = "", **kwargs: Any):
        self.geometry: dict[str, float] = {}
        self.n_overlay = 0
        super().__init__(workspace, **kwargs)
        self.observe(self.guard(lambda _: self.draw()), ["path", "stretch", "overlay"])
        if path:
            self.path = path

    def _build(self) -> list[widgets.Widget]:
        self.stretch_select = widgets.Dropdown(
            options=list(STRETCH_CHOICES), description="stretch", layout={"width": "15em"}
        )
        self.overlay_box = widgets.Checkbox(
            description="overlay catalogue sources", indent=False, layout={"width": "auto"}
        )
        self.link_values((self.stretch_select, "stretch"), (self.overlay_box, "overlay"))
        self.stretch_select.add_class("dsa-image-stretch")
        self.overlay_box.add_class("dsa-image-overlay")
        self.fig, self.canvas = _new_canvas_figure()
        self.canvas.add_class("dsa-image-canvas")
        self.geometry_html = widgets.HTML()
        self.geometry_html.add_class("dsa-image-geometry")
        return [
            widgets.HBox([self.stretch_select, self.overlay_box]),
            self.canvas,
            self.geometry_html,
        ]

    def draw(self) -> None:
        """Read the image (in the background) and draw it."""
        path, stretch, overlay = self.path, self.stretch, self.overlay
        if not path:
            return

        def work() -> dict[str, Any]:
            header = self.w.fits.header(path)
            out: dict[str, Any] = {"header": header, "sources": None}
            if overlay and header.center is not None and header.cell_arcsec:
                ny, nx = header.plane_shape
                radius_deg = 0.5 * np.hypot(nx, ny) * header.cell_arcsec / 3600.0
                out["sources"] = self.w.sources.cone(header.center, radius_deg, limit=5000)
            with plotting():
                self.fig.clear()
                ax = self._plot(path, header, stretch, out["sources"])
                self.fig.canvas.draw()
                out["geometry"] = self._measure(ax, header)
            return out

        self.run(work, self._drawn, what=f"drawing {path.rsplit('/', 1)[-1]}", channel="draw")

    def _plot(self, path: str, header: Any, stretch: str, sources: Any) -> Any:
        data, wcs = self.w.fits.plane(path)
        ax = self.fig.add_subplot(1, 1, 1, projection=wcs) if wcs is not None else None
        if ax is None:
            ax = self.fig.add_subplot(1, 1, 1)
        self.w.fits.plot_image(
            path, ax=ax, stretch=stretch, title=path.rsplit("/", 1)[-1], cmap="gray"
        )
        if wcs is not None and hasattr(ax, "coords"):
            ax.coords[0].set_major_formatter("hh:mm:ss")
            ax.coords[1].set_major_formatter("dd:mm")
        if sources is not None and len(sources) and wcs is not None:
            ax.scatter(
                sources["ra_deg"],
                sources["dec_deg"],
                transform=ax.get_transform("icrs"),
                s=80,
                facecolors="none",
                edgecolors="#ff4d4d",
                linewidths=1.0,
            )
            ax.set_xlim(-0.5, data.shape[1] - 0.5)
            ax.set_ylim(-0.5, data.shape[0] - 0.5)
        self.n_overlay = 0 if sources is None else len(sources)
        return ax

    def _measure(self, ax: Any, header: Any) -> dict[str, float]:
        box = ax.get_window_extent()
        ny, nx = header.plane_shape
        w_in, h_in = self.fig.get_size_inches()
        return {
            "nx": float(nx),
            "ny": float(ny),
            "axes_w": float(box.width),
            "axes_h": float(box.height),
            "fig_w": float(w_in * self.fig.dpi),
            "fig_h": float(h_in * self.fig.dpi),
        }

    def _drawn(self, out: dict[str, Any]) -> None:
        self.geometry = out["geometry"]
        self.canvas.draw_idle()
        g = self.geometry
        attrs = " ".join(f"data-{k.replace('_', '-')}='{v:.2f}'" for k, v in g.items())
        h = out["header"]
        n = "" if out["sources"] is None else f"; {self.n_overlay} catalogue sources circled"
        self.geometry_html.value = (
            f"<span class='dsa-geometry' {attrs} style='font-size:12px;color:#555'>"
            f"{int(g['nx'])} x {int(g['ny'])} pixels of {h.cell_arcsec or 0:g}&Prime;; "
            f"unit {html.escape(h.bunit or 'unknown')}; stretch {html.escape(self.stretch)}"
            f"{n}; hover the image for the zoom and pan toolbar</span>"
        )
        self.show_status(f"{h.path.rsplit('/', 1)[-1]} drawn ({self.stretch})", "ok")

    def clear(self) -> None:
        """Show nothing (no image selected)."""
        with plotting():
            self.fig.clear()
        self.canvas.draw_idle()
        self.geometry = {}
        self.geometry_html.value = ""

    def png(self) -> bytes:
        """The current figure as PNG bytes (for a report or a static notebook)."""
        with plotting():
            return figure_png(self.fig, dpi=_DPI)
