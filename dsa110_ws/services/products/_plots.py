"""Matplotlib plots of images (WCS axes, beam, colour bar). Imported only when plotting."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["plot_plane", "new_axes", "STRETCHES", "image_norm"]

#: The stretches :func:`plot_plane` draws with: ``"asinh"`` (symmetric about the median,
#: +- ``vlim_sigma`` rms, linear within ``softening_sigma`` rms), ``"zscale"`` (IRAF's
#: zscale limits, linear), ``"zscale asinh"`` (zscale limits, asinh) and ``"minmax"``
#: (the full range, linear).
STRETCHES = ("asinh", "zscale", "zscale asinh", "minmax")


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
    stretch: str = "asinh",
) -> Any:
    """Draw an image plane (row 0 at the bottom) with one of :data:`STRETCHES` (default: an
    asinh norm symmetric about the median), square pixels (the image's aspect ratio)."""
    from matplotlib.patches import Ellipse

    ax = new_axes(ax, projection=wcs)
    norm = image_norm(
        data, stats, stretch=stretch, vlim_sigma=vlim_sigma, softening_sigma=softening_sigma
    )
    im = ax.imshow(
        data, origin="lower", cmap=cmap, norm=norm, interpolation="nearest", aspect="equal"
    )
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


def image_norm(
    data: np.ndarray,
    stats: Any,
    *,
    stretch: str = "asinh",
    vlim_sigma: float = 50.0,
    softening_sigma: float = 1.0,
) -> Any:
    """The matplotlib norm of one of :data:`STRETCHES` for ``data`` (``stats``: its robust
    median and rms in Jy, with ``jy_per_unit``)."""
    from matplotlib.colors import AsinhNorm, Normalize

    from dsa110_ws.errors import InvalidQueryError

    if stretch not in STRETCHES:
        raise InvalidQueryError(
            f"Stretch {stretch!r} is not known; choose one of {', '.join(STRETCHES)}."
        )
    scale = stats.jy_per_unit or 1.0
    med, rms = stats.median_jy / scale, stats.rms_jy / scale
    if not np.isfinite(rms) or rms <= 0:
        med, rms = 0.0, 1.0
    if stretch == "asinh":
        return AsinhNorm(
            linear_width=softening_sigma * rms,
            vmin=med - vlim_sigma * rms,
            vmax=med + vlim_sigma * rms,
        )
    finite = data[np.isfinite(data)]
    if stretch == "minmax":
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    else:
        from astropy.visualization import ZScaleInterval

        lo, hi = ZScaleInterval().get_limits(finite) if finite.size else (0.0, 1.0)
    if not hi > lo:
        lo, hi = lo - 1.0, lo + 1.0
    if stretch == "zscale asinh":
        return AsinhNorm(
            linear_width=max(softening_sigma * rms, (hi - lo) * 1e-3), vmin=lo, vmax=hi
        )
    return Normalize(vmin=float(lo), vmax=float(hi))
