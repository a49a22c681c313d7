"""Sky positions as text: degrees to 1e-6 deg beside the sexagesimal form.

One writer of positions for the CLI, the reports and the panels, so a position copied
from any of them cross-matches: degrees to 1e-6 deg (3.6 mas, finer than any DSA-110
position; never rounded to four significant digits), and RA in hours / Dec in degrees,
minutes, seconds (RA to 1 ms of time, Dec to 10 mas), converted by astropy.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["deg_text", "sexagesimal", "position_text"]


def _number(value: Any) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def deg_text(value: Any) -> str:
    """An angle in degrees to 1e-6 deg; ``""`` when missing or not finite."""
    x = _number(value)
    return "" if x is None else f"{x:.6f}"


def sexagesimal(ra_deg: Any, dec_deg: Any) -> str:
    """``"10:00:00.000 +02:12:00.00"``; ``""`` when either is missing or Dec is beyond
    +-90 deg."""
    ra, dec = _number(ra_deg), _number(dec_deg)
    if ra is None or dec is None or abs(dec) > 90:
        return ""
    import astropy.units as u
    from astropy.coordinates import Angle

    hms = Angle(ra % 360.0, u.deg).to_string(unit=u.hourangle, sep=":", precision=3, pad=True)
    if hms.startswith("24:"):  # rounded up to the full circle
        hms = "00:" + hms[3:]
    dms = Angle(dec, u.deg).to_string(unit=u.deg, sep=":", precision=2, pad=True, alwayssign=True)
    return f"{hms} {dms}"


def position_text(ra_deg: Any, dec_deg: Any) -> str:
    """``"RA 150.000000 deg, Dec +2.200000 deg (10:00:00.000 +02:12:00.00)"``."""
    ra, dec = _number(ra_deg), _number(dec_deg)
    if ra is None or dec is None:
        return f"RA {ra_deg} deg, Dec {dec_deg} deg"
    return f"RA {ra:.6f} deg, Dec {dec:+.6f} deg ({sexagesimal(ra, dec)})"
