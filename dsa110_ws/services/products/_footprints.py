"""Image footprints on the sky, as polygons in ICRS degrees.

Two sources, as the coverage service asks:

* **the FITS WCS** of each image (:func:`wcs_polygon`): the edges of its pixel grid
  mapped through the header's celestial WCS (wcslib), converted to ICRS when the image is
  in another frame;
* **the images table** (:func:`table_polygons`): a CASA-like snapshot's geometry from its
  ``center_ra_deg``/``center_dec_deg``, ``imsize_x``/``imsize_y`` and ``cellsize_arcsec``
  (SIN projection, reference pixel at the centre, north up), computed for every row at once.

Each polygon samples ``SAMPLES_PER_EDGE`` points along every edge of the pixel grid, so a
wide image's curved edges are followed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["table_polygons", "wcs_polygon", "edge_pixels", "SAMPLES_PER_EDGE"]

SAMPLES_PER_EDGE = 4


def edge_pixels(nx: int, ny: int, k: int = SAMPLES_PER_EDGE) -> tuple[np.ndarray, np.ndarray]:
    """Points along the outer edge of an ``nx`` x ``ny`` pixel grid (0-based pixel centres,
    so the edges are at -0.5 and n - 0.5), counter-clockwise, ``k`` per edge."""
    t = np.arange(k) / k
    x0, x1, y0, y1 = -0.5, nx - 0.5, -0.5, ny - 0.5
    xs = np.concatenate([x0 + t * (x1 - x0), np.full(k, x1), x1 - t * (x1 - x0), np.full(k, x0)])
    ys = np.concatenate([np.full(k, y0), y0 + t * (y1 - y0), np.full(k, y1), y1 - t * (y1 - y0)])
    return xs, ys


def _sin_to_sky(
    l_rad: np.ndarray, m_rad: np.ndarray, ra0: np.ndarray, dec0: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Direction cosines (l east, m north) about (ra0, dec0) (radians) to RA, Dec (degrees):
    the SIN (orthographic) projection's inverse, as radio astronomy writes it."""
    n = np.sqrt(np.clip(1.0 - l_rad**2 - m_rad**2, 0.0, None))
    dec = np.arcsin(m_rad * np.cos(dec0) + n * np.sin(dec0))
    ra = ra0 + np.arctan2(l_rad, n * np.cos(dec0) - m_rad * np.sin(dec0))
    return np.degrees(ra) % 360.0, np.degrees(dec)


def table_polygons(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Footprints of image rows from their table geometry.

    Returns ``(lon, lat, ok)``: ``(n, 4 k)`` ICRS degrees, and which rows had the columns.
    """
    num = {c: pd.to_numeric(rows.get(c), errors="coerce").to_numpy(float) for c in (
        "center_ra_deg", "center_dec_deg", "imsize_x", "imsize_y", "cellsize_arcsec"
    )}  # fmt: skip
    ny = np.where(np.isfinite(num["imsize_y"]), num["imsize_y"], num["imsize_x"])
    ok = np.isfinite(num["center_ra_deg"]) & np.isfinite(num["center_dec_deg"])
    ok &= np.isfinite(num["imsize_x"]) & np.isfinite(ny) & (num["cellsize_arcsec"] > 0)
    n = len(rows)
    k4 = 4 * SAMPLES_PER_EDGE
    lon, lat = np.full((n, k4), np.nan), np.full((n, k4), np.nan)
    if not ok.any():
        return lon, lat, ok
    cell = np.radians(num["cellsize_arcsec"][ok] / 3600.0)[:, None]
    t = np.arange(SAMPLES_PER_EDGE) / SAMPLES_PER_EDGE
    # edges in units of the image size about the reference pixel (n // 2, 0-based)
    u = np.concatenate([t, np.ones_like(t), 1 - t, np.zeros_like(t)])
    v = np.concatenate([np.zeros_like(t), t, np.ones_like(t), 1 - t])
    nx_ok, ny_ok = num["imsize_x"][ok][:, None], ny[ok][:, None]
    px = -0.5 + u[None, :] * nx_ok - np.floor(nx_ok / 2)
    py = -0.5 + v[None, :] * ny_ok - np.floor(ny_ok / 2)
    ra0 = np.radians(num["center_ra_deg"][ok])[:, None]
    dec0 = np.radians(num["center_dec_deg"][ok])[:, None]
    # CDELT1 < 0: pixel x grows towards the west, so east (l) is -x
    lon[ok], lat[ok] = _sin_to_sky(-px * cell, py * cell, ra0, dec0)
    return lon, lat, ok


def wcs_polygon(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The footprint of the FITS image at ``path`` (ICRS degrees) from its header's WCS.

    Raises :class:`DataUnavailableError` for a file without a readable celestial WCS.
    """
    from dsa110_ws.errors import DataUnavailableError
    from dsa110_ws.services.products._view import icrs_of, primary_wcs

    cel, (nx, ny) = primary_wcs(path)
    xs, ys = edge_pixels(nx, ny)
    pix = np.column_stack([xs, ys]) if cel.lng == 0 else np.column_stack([ys, xs])
    with np.errstate(all="ignore"):
        world = cel.p2s(pix, 0)["world"]
    lon, lat = (world[:, 0], world[:, 1]) if cel.lng == 0 else (world[:, 1], world[:, 0])
    if not (np.all(np.isfinite(lon)) and np.all(np.isfinite(lat))):
        raise DataUnavailableError(f"The WCS of {path} does not map its edges onto the sky.")
    return icrs_of(lon, lat, cel)


def polygon_mocs(lon: np.ndarray, lat: np.ndarray, *, max_depth: int) -> Any:
    """The union MOC of polygons (rows of ``lon``/``lat``, degrees)."""
    from mocpy import MOC

    if len(lon) == 0:
        return MOC.new_empty(max_depth)
    flat = np.empty((2 * len(lon), lon.shape[1]))
    flat[0::2], flat[1::2] = lon, lat
    mocs = MOC.from_polygons(flat, max_depth=max_depth)
    out = mocs[0]
    return out.union(*mocs[1:]) if len(mocs) > 1 else out
