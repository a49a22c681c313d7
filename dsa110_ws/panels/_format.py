"""Short text for table cells and headers: times, paths, beams, QA checks."""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

from dsa110_ws.core.time import mjd_to_unix

__all__ = [
    "unix_text",
    "mjd_text",
    "short_path",
    "beam_text",
    "qa_checks_html",
    "sexagesimal",
]


def _missing(x: Any) -> bool:
    return x is None or bool(pd.isna(x))


def unix_text(unix: Any, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Unix seconds as UTC text ('' when missing)."""
    return "" if _missing(unix) else pd.Timestamp(float(unix), unit="s").strftime(fmt)


def mjd_text(mjd: Any, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """An MJD (UTC) as text ('' when missing)."""
    return "" if _missing(mjd) else unix_text(mjd_to_unix(float(mjd)), fmt)


def short_path(path: Any) -> str:
    """The last two components of a path (night directory and name)."""
    return "/".join(path.rstrip("/").split("/")[-2:]) if isinstance(path, str) else ""


def beam_text(bmaj: Any, bmin: Any, bpa: Any) -> str:
    """``60"x45" PA 30`` (arcsec, deg), or 'missing'."""
    if _missing(bmaj) or _missing(bmin):
        return "missing"
    pa = "" if _missing(bpa) else f" PA {float(bpa):.0f}"
    return f'{float(bmaj):.0f}"x{float(bmin):.0f}"{pa}'


def qa_checks_html(qa: Any) -> str:
    """An image QA result (grade, key metrics, every check) or why there is none."""
    if qa is None:
        return ""
    if isinstance(qa, str):
        return f"<p><b>QA</b>: not available ({html.escape(qa)})</p>"
    rows = "".join(
        f"<tr><td>{html.escape(c.metric)}</td><td>{html.escape(str(c.verdict))}</td>"
        f"<td>{html.escape(c.reason)}</td></tr>"
        for c in qa.checks
    )
    return (
        f"<p><b>QA from the pixels</b>: <span class='dsa-qa-grade'>{html.escape(qa.grade)}"
        f"</span> (rms {qa.rms_jy * 1e3:.3g} mJy/beam, peak {qa.peak_jy:.3g} Jy/beam, "
        f"DR {qa.dynamic_range:.0f})</p><table class='dsa-table'>{rows}</table>"
    )


def sexagesimal(ra_deg: Any, dec_deg: Any) -> list[str]:
    """ICRS positions as ``hh:mm:ss.sss +dd:mm:ss.ss`` (blank where either is missing)."""
    import numpy as np
    from astropy import units as u
    from astropy.coordinates import Angle

    ra = np.atleast_1d(np.asarray(pd.to_numeric(ra_deg, errors="coerce"), dtype=float))
    dec = np.atleast_1d(np.asarray(pd.to_numeric(dec_deg, errors="coerce"), dtype=float))
    ok = np.isfinite(ra) & np.isfinite(dec)
    out = [""] * len(ra)
    if ok.any():
        hms = Angle(ra[ok], u.deg).to_string(unit=u.hour, sep=":", precision=3, pad=True)
        dms = Angle(dec[ok], u.deg).to_string(
            unit=u.deg, sep=":", precision=2, pad=True, alwayssign=True
        )
        for k, a, d in zip(np.flatnonzero(ok), np.atleast_1d(hms), np.atleast_1d(dms), strict=True):
            out[int(k)] = f"{a} {d}"
    return out
