"""Measuring an image plane: robust noise, the peak (CASA's maximum pixel and a fitted sub-pixel
peak) and the islands above n sigma."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from dsa110_ws.services.products._imagestats import find_islands, refine_peak, robust_stats

__all__ = ["ImageStats", "measure_plane"]

#: Islands whose brightest pixel is at least this fraction of the brightest island's are
#: refined to sub-pixel precision when looking for the peak (an undersampled beam can lose
#: 20-35 % of a source's peak between pixels, so the brightest *pixel* may belong to a
#: fainter source).
_PEAK_CANDIDATE_FRACTION = 0.5
_MAX_PEAK_CANDIDATES = 25


@dataclasses.dataclass(frozen=True)
class ImageStats:
    """Robust statistics of an image's first plane, in Jy(/beam) when ``BUNIT`` is a flux unit.

    CASA's conventions (``imstat`` on the same plane): ``peak_jy`` and ``max_jy`` are the
    maximum pixel (imstat ``max``), ``peak_x``/``peak_y`` and ``peak_ra_deg``/``peak_dec_deg``
    its pixel and sky position (``maxpos``/``maxposf``); ``min_jy`` is ``min``; ``median_jy`` the
    median of every finite pixel (``median``); ``mad_rms_jy`` 1.4826 x ``medabsdevmed``;
    ``blanked_fraction`` 1 - ``npts`` / pixels.  ``rms_jy`` is the standard deviation (N - 1) of
    the pixels left after iterative 3-sigma clipping about the median (started from 1.4826 x
    MAD), the counterpart of imstat's ``sigma`` with ``algorithm='chauvenet', zscore=3``, which
    clips about the mean instead (docs/casa-conventions.md); ``background_jy`` is the median of
    the clipped pixels.  ``peak_fit_jy`` is the brightest component's peak refined to sub-pixel
    precision (a quadratic fit to the log of the 3 x 3 pixels about the brightest pixels),
    ``peak_fit_x``/``peak_fit_y`` and ``peak_fit_ra_deg``/``peak_fit_dec_deg`` its position.
    ``n_islands`` counts 8-connected islands above ``background_jy + island_threshold_sigma x
    rms_jy``.  Pixel positions are 0-based ``(x, y)`` in the plane.
    """

    path: str
    bunit: str | None
    jy_per_unit: float | None
    rms_jy: float
    median_jy: float
    background_jy: float
    mad_rms_jy: float
    min_jy: float
    max_jy: float
    peak_jy: float
    peak_x: float | None
    peak_y: float | None
    peak_ra_deg: float | None
    peak_dec_deg: float | None
    peak_fit_jy: float
    peak_fit_x: float | None
    peak_fit_y: float | None
    peak_fit_ra_deg: float | None
    peak_fit_dec_deg: float | None
    n_pixels: int
    n_finite: int
    blanked_fraction: float
    n_clipped: int
    clip_iterations: int
    n_islands: int
    island_threshold_sigma: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ImageStats:
        names = {f.name for f in dataclasses.fields(cls)}
        kw: dict[str, Any] = {
            k: (math.nan if v is None and k.endswith("_jy") else v)
            for k, v in d.items()
            if k in names
        }
        return cls(**kw)


def measure_plane(
    plane: np.ndarray,
    *,
    path: str,
    bunit: str | None,
    jy_per_unit: float | None,
    wcs: Any | None,
    island_sigma: float,
) -> ImageStats:
    """Measure a 2-D plane (see :class:`ImageStats`)."""
    st = robust_stats(plane)
    scale = jy_per_unit if jy_per_unit is not None else 1.0
    nan = math.nan
    px = py = None
    fit, fx, fy, n_islands = nan, None, None, 0
    if st.n_finite and st.max_xy is not None:
        px, py = float(st.max_xy[0]), float(st.max_xy[1])
        n_islands, (fit, fx, fy) = _fitted_peak(plane, st, island_sigma)
    peak_sky = _sky(wcs, px, py)
    fit_sky = _sky(wcs, fx, fy)
    return ImageStats(
        path=path,
        bunit=bunit,
        jy_per_unit=jy_per_unit,
        rms_jy=st.rms * scale,
        median_jy=st.median_all * scale,
        background_jy=st.median * scale,
        mad_rms_jy=st.mad_rms * scale,
        min_jy=st.minimum * scale,
        max_jy=st.maximum * scale,
        peak_jy=st.maximum * scale,
        peak_x=px,
        peak_y=py,
        peak_ra_deg=peak_sky[0],
        peak_dec_deg=peak_sky[1],
        peak_fit_jy=fit * scale,
        peak_fit_x=fx,
        peak_fit_y=fy,
        peak_fit_ra_deg=fit_sky[0],
        peak_fit_dec_deg=fit_sky[1],
        n_pixels=st.n_pixels,
        n_finite=st.n_finite,
        blanked_fraction=st.blanked_fraction,
        n_clipped=st.n_clipped,
        clip_iterations=st.iterations,
        n_islands=n_islands,
        island_threshold_sigma=island_sigma,
    )


def _fitted_peak(
    plane: np.ndarray, st: Any, island_sigma: float
) -> tuple[int, tuple[float, float, float]]:
    """Islands above ``median + island_sigma x rms`` and the brightest refined peak among the
    candidates (the brightest pixel itself when nothing is above the threshold)."""
    mx, my = st.max_xy
    best = (float(st.maximum), float(mx), float(my))
    if not st.rms > 0:
        return 0, best
    n_islands, peaks = find_islands(plane, st.median + island_sigma * st.rms)
    if not len(peaks):
        return n_islands, refine_peak(plane, int(mx), int(my))
    candidates = peaks[peaks[:, 0] >= _PEAK_CANDIDATE_FRACTION * peaks[0, 0]]
    for _, x, y in candidates[:_MAX_PEAK_CANDIDATES]:
        value, rx, ry = refine_peak(plane, int(x), int(y))
        if value > best[0]:
            best = (value, rx, ry)
    return n_islands, best


def _sky(wcs: Any | None, x: float | None, y: float | None) -> tuple[float | None, float | None]:
    """RA, Dec (deg) of pixel ``(x, y)``, or ``(None, None)``."""
    if wcs is None or x is None or y is None:
        return None, None
    with np.errstate(all="ignore"):
        lon, lat = wcs.wcs_pix2world([[x, y]], 0)[0]
    if np.isfinite(lon) and np.isfinite(lat):
        return float(lon) % 360.0, float(lat)
    return None, None
