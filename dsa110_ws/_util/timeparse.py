"""Parsing user time input into one unambiguous form.

The pipeline stores Unix seconds in most columns and MJD in columns named ``*mjd``; the
old backend mixed the two.  Here every input becomes an :class:`astropy.time.Time`
first, and numbers are accepted only in ranges where they cannot be confused: 40,000 to
100,000 is an MJD (1968-2132), 1e8 and above is Unix seconds.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import numpy as np

from dsa110_ws.errors import InvalidQueryError

__all__ = ["to_time", "to_unix", "to_mjd", "night_bounds", "TimeLike"]

TimeLike = Any  # str | float | datetime | astropy.time.Time | pandas.Timestamp

_RELATIVE = {"now": 0, "today": 0, "yesterday": -1, "tomorrow": 1}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def to_time(value: TimeLike, *, now: Any = None, what: str = "time") -> Any:
    """Convert ``value`` to an astropy ``Time`` (UTC).

    Accepts ISO strings (``2026-11-14``, ``2026-11-14T03:00:00``), ``now``/``today``/
    ``yesterday`` (midnight UTC for the day words, relative to ``now``), an MJD in
    [40000, 100000), Unix seconds >= 1e8, ``datetime`` (naive means UTC), pandas
    ``Timestamp`` and astropy ``Time``.
    """
    from astropy.time import Time

    if isinstance(value, Time):
        return value.utc
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _RELATIVE:
            base = to_time(now) if now is not None else Time.now()
            if text == "now":
                return base.utc
            day = dt.datetime.strptime(base.utc.isot[:10], "%Y-%m-%d")
            return Time(day + dt.timedelta(days=_RELATIVE[text]), scale="utc")
        try:
            t = Time(value.strip().replace(" ", "T") if _DATE.match(text) is None else value.strip(),
                     format="isot" if "t" in text or " " in text.strip() else None, scale="utc")
        except ValueError:
            raise InvalidQueryError(
                f"Cannot read {what} {value!r}: use an ISO date such as 2026-11-14 or "
                "2026-11-14T03:00:00, an MJD, or 'yesterday'/'today'/'now'.") from None
        return t
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return Time(value, scale="utc")
    if isinstance(value, dt.date):
        return Time(dt.datetime(value.year, value.month, value.day), scale="utc")
    if hasattr(value, "to_pydatetime"):
        return to_time(value.to_pydatetime(), what=what)
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        x = float(value)
        if 40000 <= x < 100000:
            return Time(x, format="mjd", scale="utc")
        if x >= 1e8 and np.isfinite(x):
            return Time(x, format="unix", scale="utc")
        raise InvalidQueryError(
            f"Cannot tell what {what} {value!r} means: give an MJD (40000-100000), Unix seconds "
            "(>= 1e8) or an ISO date string.")
    raise InvalidQueryError(f"Cannot read {what} {value!r} of type {type(value).__name__}.")


def to_unix(value: TimeLike, *, now: Any = None, what: str = "time") -> float:
    """``value`` as Unix seconds (UTC)."""
    return float(to_time(value, now=now, what=what).unix)


def to_mjd(value: TimeLike, *, now: Any = None, what: str = "time") -> float:
    """``value`` as an MJD (UTC)."""
    return float(to_time(value, now=now, what=what).mjd)


def night_bounds(night: TimeLike, *, now: Any = None) -> tuple[float, float]:
    """Unix-second bounds [start, end) of an observing night.

    DSA-110 is a transit array that observes around the clock, so an observing "night" is
    the UTC calendar day: ``2026-11-14`` means 2026-11-14T00:00 to 2026-11-15T00:00 UTC.
    """
    t = to_time(night, now=now, what="night")
    start = dt.datetime.strptime(t.utc.isot[:10], "%Y-%m-%d").replace(tzinfo=dt.UTC)
    return start.timestamp(), (start + dt.timedelta(days=1)).timestamp()
