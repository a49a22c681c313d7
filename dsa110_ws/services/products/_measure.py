"""Measuring an image plane: robust noise, the sub-pixel peak and the islands above n sigma."""

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

    ``rms_jy`` is the standard deviation of the pixels left after iterative 3-sigma clipping
    about the median (started from 1.4826 x MAD); ``peak_jy`` the brightest component's peak
    refined to sub-pixel precision (``max_jy`` is the brightest pixel); ``n_islands`` counts
    8-connected islands above ``median + island_threshold_sigma x rms``.  Pixel positions are
    0-based ``(x, y)`` in the plane.
    """

    path: str
    bunit: str | None
    jy_per_unit: float | None
    rms_jy: float
    median_jy: float
    mad_rms_jy: float
    min_jy: float
    max_jy: float
    peak_jy: float
    peak_x: float | None
    peak_y: float | None
    peak_ra_deg: float | None
    peak_dec_deg: float | None
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
    peak, px, py, n_islands = nan, None, None, 0
    if st.n_finite and st.max_xy is not None:
        mx, my = st.max_xy
        peak, px, py = float(st.maximum), float(mx), float(my)
        if st.rms > 0:
            n_islands, peaks = find_islands(plane, st.median + island_sigma * st.rms)
            candidates = (
                peaks[peaks[:, 0] >= _PEAK_CANDIDATE_FRACTION * peaks[0, 0]]
                if len(peaks)
                else peaks
            )
            for _, x, y in candidates[:_MAX_PEAK_CANDIDATES]:
                value, fx, fy = refine_peak(plane, int(x), int(y))
                if value > peak or px is None:
                    peak, px, py = value, fx, fy
            if not len(peaks):
                peak, px, py = refine_peak(plane, int(mx), int(my))
    ra = dec = None
    if wcs is not None and px is not None:
        with np.errstate(all="ignore"):
            lon, lat = wcs.wcs_pix2world([[px, py]], 0)[0]
        if np.isfinite(lon) and np.isfinite(lat):
            ra, dec = float(lon) % 360.0, float(lat)
    return ImageStats(
        path=path,
        bunit=bunit,
        jy_per_unit=jy_per_unit,
        rms_jy=st.rms * scale,
        median_jy=st.median * scale,
        mad_rms_jy=st.mad_rms * scale,
        min_jy=st.minimum * scale,
        max_jy=st.maximum * scale,
        peak_jy=peak * scale,
        peak_x=px,
        peak_y=py,
        peak_ra_deg=ra,
        peak_dec_deg=dec,
        n_pixels=st.n_pixels,
        n_finite=st.n_finite,
        blanked_fraction=st.blanked_fraction,
        n_clipped=st.n_clipped,
        clip_iterations=st.iterations,
        n_islands=n_islands,
        island_threshold_sigma=island_sigma,
    )
