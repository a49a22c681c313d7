"""Small spherical-geometry helpers in plain numpy (degrees in, degrees out)."""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["angular_sep_deg", "radec_box", "RaDecBox"]


def angular_sep_deg(ra1, dec1, ra2, dec2) -> np.ndarray:
    """Great-circle separation in degrees (Vincenty formula, exact at all angles)."""
    l1, b1, l2, b2 = (np.radians(np.asarray(x, dtype=float)) for x in (ra1, dec1, ra2, dec2))
    dl = l2 - l1
    sb1, cb1, sb2, cb2 = np.sin(b1), np.cos(b1), np.sin(b2), np.cos(b2)
    sdl, cdl = np.sin(dl), np.cos(dl)
    num1 = cb2 * sdl
    num2 = cb1 * sb2 - sb1 * cb2 * cdl
    den = sb1 * sb2 + cb1 * cb2 * cdl
    return np.degrees(np.arctan2(np.hypot(num1, num2), den))


@dataclasses.dataclass(frozen=True)
class RaDecBox:
    dec_lo: float
    dec_hi: float
    #: RA intervals (inclusive) to search, or None for every RA (near a pole).
    ra_ranges: tuple[tuple[float, float], ...] | None


def radec_box(ra_deg: float, dec_deg: float, radius_deg: float) -> RaDecBox:
    """A box enclosing the cone, split in two where it crosses RA = 0/360."""
    dec_lo, dec_hi = max(-90.0, dec_deg - radius_deg), min(90.0, dec_deg + radius_deg)
    if dec_hi >= 90.0 or dec_lo <= -90.0:
        return RaDecBox(dec_lo, dec_hi, None)
    # widest RA half-width of a small circle (exact for the cone's tangent points)
    s = np.sin(np.radians(radius_deg)) / np.cos(np.radians(dec_deg))
    if s >= 1.0:
        return RaDecBox(dec_lo, dec_hi, None)
    half = float(np.degrees(np.arcsin(s))) + 1e-9
    lo, hi = ra_deg - half, ra_deg + half
    if lo < 0:
        return RaDecBox(dec_lo, dec_hi, ((lo + 360.0, 360.0), (0.0, hi)))
    if hi >= 360:
        return RaDecBox(dec_lo, dec_hi, ((lo, 360.0), (0.0, hi - 360.0)))
    return RaDecBox(dec_lo, dec_hi, ((lo, hi),))
