"""Matplotlib plots of images (WCS axes, beam, colour bar). Imported only when plotting."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["plot_plane", "new_axes"]


def new_axes(
    ax: Any = None, *, projection: Any = None, figsize: tuple[float, float] = (6.0, 5.0)
) -> Any:
    """``ax``, or new Axes on a new figure (with ``projection`` when given)."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=figsize)
    return fig.add_subplot(1, 1, 1, projection=projection)


def _east_is_left(wcs: Any) -> bool:
    """Whether moving +x on the image decreases the longitude (the usual RA-left layout)."""
    try:
        return float(wcs.pixel_scale_matrix[0, 0]) < 0
    except (AttributeError, IndexError, TypeError):
        return True


def plot_plane(
    data: np.ndarray,
    wcs: Any,
    header: Any,
    stats: Any,
    *,
    ax: Any = None,
    vlim_sigma: float = 50.0,
    softening_sigma: float = 1.0,
    cmap: str = "gray",
    beam: bool = True,
    colorbar: bool = True,
    title: str | None = None,
) -> Any:
    """Draw an image plane (row 0 at the bottom) with an asinh norm symmetric about the median."""
    from matplotlib.colors import AsinhNorm
    from matplotlib.patches import Ellipse

    ax = new_axes(ax, projection=wcs)
    scale = stats.jy_per_unit or 1.0
    med, rms = stats.median_jy / scale, stats.rms_jy / scale
    if not np.isfinite(rms) or rms <= 0:
        med, rms = 0.0, 1.0
    norm = AsinhNorm(
        linear_width=softening_sigma * rms, vmin=med - vlim_sigma * rms, vmax=med + vlim_sigma * rms
    )
    im = ax.imshow(data, origin="lower", cmap=cmap, norm=norm, interpolation="nearest")
    if wcs is not None and hasattr(ax, "coords"):
        ax.coords[0].set_axislabel("Right ascension")
        ax.coords[1].set_axislabel("Declination")
    else:
        ax.set_xlabel("x (pixel)")
        ax.set_ylabel("y (pixel)")
    if beam and header.has_beam and header.cell_arcsec:
        bmaj_px, bmin_px = (
            header.bmaj_arcsec / header.cell_arcsec,
            header.bmin_arcsec / header.cell_arcsec,
        )
        pa = header.bpa_deg or 0.0
        angle = pa if wcs is None or _east_is_left(wcs) else -pa
        pad = 0.75 * bmaj_px + 2
        ax.add_patch(
            Ellipse(
                (pad, pad),
                width=bmin_px,
                height=bmaj_px,
                angle=angle,
                edgecolor="yellow",
                facecolor="none",
                lw=1.2,
            )
        )
    if colorbar:
        cb = ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
        cb.set_label(header.bunit or "pixel value")
    ax.set_title(title if title is not None else (header.object or header.path.rsplit("/", 1)[-1]))
    return ax
