"""Positions: cone search over the source catalogue and cross-matching a user's list."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dsa110_ws.core.units import to_value
from dsa110_ws.errors import InvalidQueryError

if TYPE_CHECKING:
    from dsa110_ws.repositories.sources import SourceRepository

__all__ = ["as_radec", "as_degrees", "cone", "within", "crossmatch"]

_RA_NAMES = ("ra_deg", "ra", "raj2000", "ra_icrs", "radeg")
_DEC_NAMES = ("dec_deg", "dec", "dej2000", "decj2000", "de_icrs", "dec_icrs", "decdeg")


def as_radec(position: Any) -> tuple[float, float]:
    """A ``SkyCoord`` (any frame) or an ``(ra_deg, dec_deg)`` pair as ICRS degrees."""
    from astropy.coordinates import SkyCoord

    if isinstance(position, SkyCoord):
        if not position.isscalar:
            raise InvalidQueryError("Give one position for a cone search, not an array.")
        c = position.icrs
        return float(c.ra.deg), float(c.dec.deg)
    try:
        ra, dec = position
        ra_deg, dec_deg = float(_deg(ra)), float(_deg(dec))
    except (TypeError, ValueError):
        raise InvalidQueryError(
            f"Position {position!r} is not a SkyCoord or an (ra_deg, dec_deg) pair."
        ) from None
    if not (math.isfinite(ra_deg) and 0.0 <= ra_deg < 360.0):
        raise InvalidQueryError(f"RA {ra_deg!r} deg is outside 0-360; give RA in degrees.")
    if not (math.isfinite(dec_deg) and -90.0 <= dec_deg <= 90.0):
        raise InvalidQueryError(f"Dec {dec_deg!r} deg is outside -90..+90; give Dec in degrees.")
    return ra_deg, dec_deg


def _deg(x: Any) -> float:
    from astropy import units as u

    return x.to_value(u.deg) if isinstance(x, u.Quantity) else float(x)


def as_degrees(value: Any, what: str = "radius") -> float:
    """An angle (``Quantity``, ``"2 arcmin"``, or a number of degrees) in degrees, positive."""
    return to_value(value, "deg", what=what)


def cone(
    catalogue: SourceRepository, position: Any, radius: Any, *, limit: int | None
) -> pd.DataFrame:
    """Sources within ``radius`` of ``position``, nearest first, with exact ``sep_deg``."""
    ra, dec = as_radec(position)
    df = catalogue.cone(ra, dec, as_degrees(radius), limit=limit)
    return df.assign(sep_arcsec=df["sep_deg"] * 3600.0)


def within(catalogue: SourceRepository, area: Any, *, limit: int | None) -> pd.DataFrame:
    """Sources inside ``area`` (see :mod:`dsa110_ws.services.skyregion`), by position."""
    from dsa110_ws.services import skyregion

    cone_ = skyregion.bounding_cone(area)
    rows = (
        catalogue.find(limit=None)
        if cone_ is None
        else catalogue.cone(cone_[0], cone_[1], cone_[2], limit=None)
    )
    inside = skyregion.contains(area, rows["ra_deg"], rows["dec_deg"])
    out = rows[inside].drop(columns=["sep_deg"], errors="ignore").reset_index(drop=True)
    truncated = limit is not None and len(out) > limit
    if truncated:
        import warnings

        from dsa110_ws.repositories import TruncatedResultWarning

        warnings.warn(
            f"{len(out)} sources inside the area; showing the first {limit} (pass limit=None).",
            TruncatedResultWarning,
            stacklevel=3,
        )
        out = out.head(limit)
    out.attrs.update(area=repr(skyregion.as_area(area)), truncated=truncated)
    return out


def _input_coords(obj: Any) -> tuple[pd.DataFrame, Any]:
    """The user's positions as (a frame to attach results to, a SkyCoord)."""
    from astropy.coordinates import SkyCoord
    from astropy.table import Table

    if isinstance(obj, SkyCoord):
        c = obj.icrs.reshape(-1) if not obj.isscalar else obj.icrs.reshape((1,))
        return pd.DataFrame({"ra_deg": c.ra.deg, "dec_deg": c.dec.deg}), c
    if isinstance(obj, Table):
        obj = obj.to_pandas()
    if not isinstance(obj, pd.DataFrame):
        raise InvalidQueryError(
            "crossmatch() takes a SkyCoord, a DataFrame or an astropy Table "
            "with RA/Dec columns in degrees."
        )
    lower = {str(c).lower(): c for c in obj.columns}
    ra = next((lower[n] for n in _RA_NAMES if n in lower), None)
    dec = next((lower[n] for n in _DEC_NAMES if n in lower), None)
    if ra is None or dec is None:
        raise InvalidQueryError(
            f"No RA/Dec columns among {list(obj.columns)}; name them ra_deg and dec_deg (degrees)."
        )
    c = SkyCoord(obj[ra].to_numpy(float), obj[dec].to_numpy(float), unit="deg", frame="icrs")
    return obj.reset_index(drop=True), c


def crossmatch(
    catalogue: Callable[[], pd.DataFrame], positions: Any, *, max_sep: Any
) -> pd.DataFrame:
    """Nearest catalogue source to each position (``source_id``, ``sep_arcsec``,
    ``matched`` = within ``max_sep``); the input's own columns are kept.  ``catalogue``
    gives the whole catalogue (read after the input is checked)."""
    from astropy.coordinates import SkyCoord, match_coordinates_sky

    limit_deg = as_degrees(max_sep, "max_sep")
    frame, coords = _input_coords(positions)
    cat = catalogue()
    out = frame.copy()
    if cat.empty or len(coords) == 0:
        out["source_id"], out["sep_arcsec"], out["matched"] = None, np.nan, False
        return out
    ref = SkyCoord(cat["ra_deg"].to_numpy(float), cat["dec_deg"].to_numpy(float), unit="deg")
    idx, sep, _ = match_coordinates_sky(coords, ref, nthneighbor=1)
    matched = sep.deg <= limit_deg
    ids = cat["id"].to_numpy(dtype=object)[idx]
    out["source_id"] = np.where(matched, ids, None)
    out["nearest_source_id"] = ids
    out["sep_arcsec"] = sep.arcsec
    out["matched"] = matched
    out.attrs.update(
        max_sep_arcsec=limit_deg * 3600.0,
        n_matched=int(matched.sum()),
        catalogue_derived=bool(cat.attrs.get("derived", False)),
    )
    return out
