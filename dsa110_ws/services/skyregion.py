"""Sky regions and MOCs: which positions lie inside, and a cone that encloses them.

One coercion of "an area of the sky" for every query that takes one (sources, images):

* a ``mocpy.MOC`` (for example a night's coverage), or the path of a MOC FITS file;
* an astropy-regions sky region (``CircleSkyRegion``, ``PolygonSkyRegion``,
  ``RectangleSkyRegion``, ``EllipseSkyRegion``...), a ``Regions`` list (their union) or a
  DS9 region string (``"icrs; circle(150.5, 37.0, 1d)"``).

Regions are tested exactly, in the tangent plane at their centre as astropy-regions
defines them; MOCs at their own resolution.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from dsa110_ws.errors import DataUnavailableError, InvalidQueryError

__all__ = ["SkyArea", "as_area", "contains", "bounding_cone", "to_moc", "DEFAULT_MOC_DEPTH"]

#: MOC depth used when a region has to become a MOC (depth 12: cells of 52 arcsec).
DEFAULT_MOC_DEPTH = 12
_HINT = (
    "give a mocpy.MOC, a MOC FITS file, an astropy-regions sky region or a DS9 region "
    'string such as "icrs; circle(150.5, 37.0, 1d)"'
)


class SkyArea:
    """An area of the sky: a MOC or a list of sky regions (see the module doc)."""

    def __init__(self, *, moc: Any = None, regions: list[Any] | None = None, label: str = ""):
        self.moc = moc
        self.regions = regions or []
        self.label = label

    def __repr__(self) -> str:
        return f"<SkyArea {self.label}>"


def as_area(target: Any) -> SkyArea:
    """``target`` (MOC, MOC file, sky region(s), DS9 string) as a :class:`SkyArea`."""
    from mocpy import MOC

    if isinstance(target, SkyArea):
        return target
    if isinstance(target, MOC):
        return SkyArea(moc=target, label="MOC")
    if isinstance(target, (str, os.PathLike)) and os.path.isfile(os.path.expanduser(str(target))):
        try:
            return SkyArea(moc=MOC.load(os.path.expanduser(str(target))), label=str(target))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DataUnavailableError(f"Cannot read {target} as a MOC FITS file: {exc}") from None
    if isinstance(target, str):
        from regions import Regions

        try:
            parsed = Regions.parse(target, format="ds9")
        except Exception as exc:  # noqa: BLE001 - regions raises many types for bad text
            raise InvalidQueryError(
                f"Cannot read the region {target!r} ({exc}); {_HINT}."
            ) from None
        return _from_regions(list(parsed), target)
    if hasattr(target, "regions") and isinstance(getattr(target, "regions", None), list):
        return _from_regions(list(target.regions), "regions")
    if hasattr(target, "to_pixel") and hasattr(target, "contains"):
        return _from_regions([target], type(target).__name__)
    raise InvalidQueryError(f"{target!r} is not an area of the sky; {_HINT}.")


def _from_regions(regions: list[Any], label: str) -> SkyArea:
    from regions import PixelRegion

    if not regions:
        raise InvalidQueryError(f"The region {label!r} is empty; {_HINT}.")
    if any(isinstance(r, PixelRegion) for r in regions):
        raise InvalidQueryError(
            f"The region {label!r} is in pixel coordinates; give it in sky coordinates "
            "(e.g. icrs; circle(ra, dec, radius))."
        )
    return SkyArea(regions=regions, label=label)


def _centre(region: Any) -> tuple[float, float]:
    from astropy.coordinates import SkyCoord

    c = getattr(region, "center", None)
    if c is None:
        v = region.vertices.icrs.cartesian
        x, y, z = float(np.mean(v.x)), float(np.mean(v.y)), float(np.mean(v.z))
        c = SkyCoord(x=x, y=y, z=z, representation_type="cartesian", frame="icrs")
        c = SkyCoord(c.spherical.lon, c.spherical.lat, frame="icrs")
    c = c.icrs
    return float(c.ra.deg), float(c.dec.deg)


def _region_contains(region: Any, ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    """Exact containment in the tangent plane at the region's centre."""
    from astropy.coordinates import SkyCoord
    from astropy.wcs import WCS

    ra0, dec0 = _centre(region)
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [ra0, dec0]
    wcs.wcs.crpix = [0.0, 0.0]
    wcs.wcs.cdelt = [-1.0 / 3600.0, 1.0 / 3600.0]
    coords = SkyCoord(ra, dec, unit="deg", frame="icrs")
    sep = coords.separation(SkyCoord(ra0, dec0, unit="deg")).deg
    inside = np.asarray(region.contains(coords, wcs), dtype=bool).reshape(ra.shape)
    return inside & (sep < 90.0)  # the tangent plane holds only the near hemisphere


def contains(target: Any, ra_deg: Any, dec_deg: Any) -> np.ndarray:
    """Which ICRS positions (degrees) lie inside ``target``; a boolean array."""
    from astropy import units as u

    area = as_area(target)
    ra = np.atleast_1d(np.asarray(ra_deg, dtype=float))
    dec = np.atleast_1d(np.asarray(dec_deg, dtype=float))
    ok = np.isfinite(ra) & np.isfinite(dec)
    out = np.zeros(ra.shape, dtype=bool)
    if not ok.any():
        return out
    if area.moc is not None:
        out[ok] = np.asarray(area.moc.contains_lonlat(ra[ok] * u.deg, dec[ok] * u.deg), bool)
        return out
    for region in area.regions:
        out[ok] |= _region_contains(region, ra[ok], dec[ok])
    return out


def to_moc(target: Any, *, max_depth: int = DEFAULT_MOC_DEPTH) -> Any:
    """``target`` as a ``mocpy.MOC`` (regions at ``max_depth``)."""
    from mocpy import MOC

    area = as_area(target)
    if area.moc is not None:
        return area.moc
    mocs = [MOC.from_astropy_regions(r, max_depth=max_depth) for r in area.regions]
    out = mocs[0]
    for m in mocs[1:]:
        out = out.union(m)
    return out


def bounding_cone(target: Any) -> tuple[float, float, float] | None:
    """``(ra_deg, dec_deg, radius_deg)`` of a cone holding ``target``, or ``None`` when it
    is larger than a hemisphere (then every position must be tested)."""
    from astropy import units as u

    moc = to_moc(target, max_depth=8)
    if moc.empty():
        return None
    centre = moc.barycenter()
    radius = float(moc.largest_distance_from_coo_to_vertices(centre).to_value(u.deg))
    if not math.isfinite(radius) or radius >= 90.0:
        return None
    return float(centre.ra.deg), float(centre.dec.deg), radius * 1.01 + 0.05
