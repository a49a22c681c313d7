"""Time: the one parser, the one set of conversions, the workspace clock, windows, durations.

The pipeline stores Unix seconds in most columns and MJD in columns named ``*mjd``; the
old backend mixed the two.  Every user input becomes an astropy :class:`~astropy.time.Time`
first (:func:`to_time`), and every conversion between MJD, Unix seconds and UTC calendar
times in the package goes through the functions here.  Numbers are accepted only in
ranges where they cannot be confused: 40,000 to 100,000 is an MJD (1968-2132), 1e8 and
above is Unix seconds.

Conversions between MJD and Unix seconds are exact arithmetic on the UTC day
(``unix = (mjd - 40587) * 86400``, the convention of the pipeline and of astropy's
``unix`` format, which ignores leap seconds), so they never consult the leap-second
table.  Astropy is told never to download IERS data and never to treat its bundled
leap-second table as expired (:func:`configure_astropy`): the workspace runs on offline
sites and needs no sub-second UT1 precision.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

from dsa110_ws.errors import InvalidQueryError

if TYPE_CHECKING:
    import pandas as pd
    from astropy.time import Time

__all__ = [
    "TimeLike",
    "DurationLike",
    "MJD_UNIX_EPOCH",
    "Clock",
    "to_time",
    "to_unix",
    "to_mjd",
    "unix_to_mjd",
    "mjd_to_unix",
    "mjd_to_datetime",
    "unix_to_datetime",
    "mjd_to_utc",
    "unix_to_utc",
    "iso_utc",
    "mjd_to_iso",
    "datetime_to_mjd",
    "timestamps_to_unix",
    "parse_duration",
    "duration_s",
    "window",
    "shift",
    "night_bounds",
    "night_of",
    "configure_astropy",
]

#: Anything :func:`to_time` reads: astropy ``Time``, ``datetime``/``date`` (naive means
#: UTC), pandas ``Timestamp``, an ISO string, a relative word ("now", "today",
#: "yesterday", "tomorrow"), a duration ago ("6h ago"), an MJD or Unix seconds.
TimeLike: TypeAlias = "Time | dt.datetime | dt.date | pd.Timestamp | str | float | int | np.number"
#: Anything :func:`parse_duration` reads: "6h", "90 s", "2d", ``timedelta``, a time
#: ``Quantity``.
DurationLike: TypeAlias = "str | dt.timedelta | Any"

#: MJD of the Unix epoch (1970-01-01T00:00:00 UTC).
MJD_UNIX_EPOCH = 40587.0
_DAY_S = 86400.0
_RELATIVE = {"now": 0, "today": 0, "yesterday": -1, "tomorrow": 1}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|secs|m|min|mins|h|hr|hrs|d|day|days|w)\s*$")
_AGO = re.compile(r"^\s*(.+?)\s+ago\s*$")
_UNIT_S = {
    "s": 1.0,
    "sec": 1.0,
    "secs": 1.0,
    "m": 60.0,
    "min": 60.0,
    "mins": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
    "hrs": 3600.0,
    "d": _DAY_S,
    "day": _DAY_S,
    "days": _DAY_S,
    "w": 7 * _DAY_S,
}
#: Times outside these bounds are refused as input mistakes (MJD 15020 and 124592).
_EARLIEST = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
_LATEST = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)
_configured = False
_configure_lock = threading.Lock()


def configure_astropy() -> None:
    """Make astropy work offline, past the expiry of its bundled leap-second table.

    No IERS download is ever attempted and a table older than astropy likes is used as
    it is (``auto_max_age = None``), so time conversions neither warn nor fail on a site
    without internet after 2027-06-28.  Called once, on the first conversion.
    """
    global _configured
    if _configured:
        return
    with _configure_lock:
        if _configured:
            return
        from astropy.utils import iers

        iers.conf.auto_download = False
        iers.conf.auto_max_age = None
        iers.conf.iers_degraded_accuracy = "ignore"
        _configured = True


# -- conversions (exact UTC-day arithmetic, vectorised) ------------------------------------
def unix_to_mjd(unix: Any) -> Any:
    """Unix seconds to MJD (UTC); arrays stay arrays, scalars become floats."""
    out = np.asarray(unix, dtype=float) / _DAY_S + MJD_UNIX_EPOCH
    return float(out) if out.ndim == 0 else out


def mjd_to_unix(mjd: Any) -> Any:
    """MJD (UTC) to Unix seconds; arrays stay arrays, scalars become floats."""
    out = (np.asarray(mjd, dtype=float) - MJD_UNIX_EPOCH) * _DAY_S
    return float(out) if out.ndim == 0 else out


def unix_to_datetime(unix: float) -> dt.datetime:
    """Unix seconds as an aware UTC ``datetime``."""
    return dt.datetime.fromtimestamp(float(unix), dt.UTC)


def mjd_to_datetime(mjd: float) -> dt.datetime:
    """MJD (UTC) as an aware UTC ``datetime``."""
    return unix_to_datetime(mjd_to_unix(float(mjd)))


def timestamps_to_unix(values: Any) -> Any:
    """Timestamps (``datetime``, pandas, strings; aware or naive = UTC) as a float array of
    Unix seconds, NaN where missing.  Independent of the datetime64 resolution (pandas 3
    keeps PostgreSQL's microseconds: dividing the int64 view by 1e9 would be wrong)."""
    import numpy as np
    import pandas as pd

    ts = pd.to_datetime(pd.Series(values), utc=True, errors="coerce")
    seconds = (ts - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
    return seconds.to_numpy(dtype=float, na_value=np.nan)


def datetime_to_mjd(t: dt.datetime) -> float:
    """A ``datetime`` (naive means UTC) as an MJD."""
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return unix_to_mjd(t.timestamp())


def _numeric_series(values: Any) -> pd.Series:
    import pandas as pd

    if not isinstance(values, pd.Series):  # a Series keeps its index (assignment aligns on it)
        values = pd.Series(np.atleast_1d(np.asarray(values, dtype=object)))
    return pd.to_numeric(values, errors="coerce").astype(float)


def unix_to_utc(unix: Any) -> pd.Series:
    """Unix seconds to timezone-aware pandas timestamps (UTC); NaN becomes ``NaT``."""
    import pandas as pd

    return pd.to_datetime(_numeric_series(unix), unit="s", utc=True)


def mjd_to_utc(mjd: Any) -> pd.Series:
    """MJD (UTC) to timezone-aware pandas timestamps; NaN becomes ``NaT``."""
    import pandas as pd

    return pd.to_datetime((_numeric_series(mjd) - MJD_UNIX_EPOCH) * _DAY_S, unit="s", utc=True)


_DIGITS = {"seconds": 0, "milliseconds": 3, "microseconds": 6}


def iso_utc(unix: float, *, timespec: str = "milliseconds") -> str:
    """Unix seconds as ISO UTC without offset (``2026-11-14T03:00:00.000``), rounded (as
    astropy rounds) to ``timespec``."""
    value = round(float(unix), _DIGITS[timespec]) if timespec in _DIGITS else float(unix)
    return unix_to_datetime(value).replace(tzinfo=None).isoformat(timespec=timespec)


def mjd_to_iso(mjd: float | None, *, timespec: str = "seconds") -> str | None:
    """MJD as ISO UTC (``None`` for a missing or non-finite value)."""
    if mjd is None or not math.isfinite(float(mjd)):
        return None
    return iso_utc(mjd_to_unix(float(mjd)), timespec=timespec)


# -- the one parser ----------------------------------------------------------------------
def to_time(value: TimeLike, *, now: TimeLike | None = None, what: str = "time") -> Time:
    """Convert ``value`` to an astropy ``Time`` (UTC).

    Accepts ISO strings (``2026-11-14``, ``2026-11-14T03:00:00``, a trailing ``Z`` or
    offset), ``now``/``today``/``yesterday``/``tomorrow`` (midnight UTC for the day words),
    ``"<duration> ago"`` (``"6h ago"``), both relative to ``now`` (the workspace clock;
    default the real time), an MJD in [40000, 100000), Unix seconds >= 1e8, ``datetime``
    (naive means UTC), ``date``, pandas ``Timestamp`` and astropy ``Time``.  Raises
    :class:`InvalidQueryError` naming ``what`` for anything else, for ``NaT``/NaN, and for
    times before 1900 or after 2200.
    """
    from astropy.time import Time

    configure_astropy()
    t = _parse(value, now, what)
    if not _EARLIEST.timestamp() <= float(t.unix) < _LATEST.timestamp():
        raise InvalidQueryError(
            f"The {what} {value!r} ({t.utc.isot[:10]}) is outside 1900-2200; check the value "
            "(an MJD is 40000-100000, Unix seconds are >= 1e8)."
        )
    return t if isinstance(t, Time) else Time(t)


def _parse(value: Any, now: Any, what: str) -> Time:
    from astropy.time import Time

    if isinstance(value, Time):
        if not np.all(np.isfinite(value.jd)):
            raise InvalidQueryError(f"The {what} is not a time (NaN).")
        return value.utc
    if isinstance(value, str):
        return _parse_text(value, now, what)
    if _is_missing(value):
        raise InvalidQueryError(
            f"No {what} given ({value!r}); pass a date, an MJD or a word such as 'yesterday'."
        )
    if isinstance(value, dt.date):
        if not _EARLIEST.year <= value.year < _LATEST.year:
            raise InvalidQueryError(
                f"The {what} {value.isoformat()} is outside 1900-2200; check the value."
            )
        if not isinstance(value, dt.datetime):
            return Time(dt.datetime(value.year, value.month, value.day), scale="utc")
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return Time(value, scale="utc")
    if hasattr(value, "to_pydatetime"):
        return _parse(value.to_pydatetime(), now, what)
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        x = float(value)
        if 40000 <= x < 100000:
            return Time(x, format="mjd", scale="utc")
        if 1e8 <= x < 1e10:
            return Time(x, format="unix", scale="utc")
        raise InvalidQueryError(
            f"Cannot tell what {what} {value!r} means: give an MJD (40000-100000), Unix "
            "seconds (1e8-1e10) or an ISO date string."
        )
    raise InvalidQueryError(f"Cannot read {what} {value!r} of type {type(value).__name__}.")


def _parse_text(value: str, now: Any, what: str) -> Time:
    from astropy.time import Time

    text = value.strip().lower()
    if text in _RELATIVE or _AGO.match(text):
        base = _parse(now, None, "now") if now is not None else Time.now()
        if text == "now":
            return base.utc
        ago = _AGO.match(text)
        if ago:
            return shift(base, -parse_duration(ago.group(1), what=what).total_seconds())
        day = dt.datetime.strptime(base.utc.isot[:10], "%Y-%m-%d")
        return Time(day + dt.timedelta(days=_RELATIVE[text]), scale="utc")
    try:
        parsed = dt.datetime.fromisoformat(value.strip().replace(" ", "T").replace("Z", "+00:00"))
    except ValueError:
        raise InvalidQueryError(
            f"Cannot read {what} {value!r}: use an ISO date such as 2026-11-14 or "
            "2026-11-14T03:00:00, an MJD, 'yesterday'/'today'/'now' or '6h ago'."
        ) from None
    return _parse(parsed, now, what)


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        import pandas as pd

        return bool(pd.isna(value)) if np.ndim(value) == 0 else False
    except (TypeError, ValueError):
        return False


def to_unix(value: TimeLike, *, now: TimeLike | None = None, what: str = "time") -> float:
    """``value`` as Unix seconds (UTC)."""
    return float(to_time(value, now=now, what=what).unix)


def to_mjd(value: TimeLike, *, now: TimeLike | None = None, what: str = "time") -> float:
    """``value`` as an MJD (UTC)."""
    return float(to_time(value, now=now, what=what).mjd)


# -- durations ---------------------------------------------------------------------------
def parse_duration(value: DurationLike, *, what: str = "duration") -> dt.timedelta:
    """A duration from ``"6h"``, ``"90 s"``, ``"2d"``, ``"1.5 hr"``, a ``timedelta`` or an
    astropy time ``Quantity``; refuses negative, non-finite and unitless values."""
    if isinstance(value, dt.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, str):
        m = _DURATION.match(value.strip().lower())
        if m is None:
            raise InvalidQueryError(
                f"{what} {value!r} is not a duration; write it as 90s, 30m, 6h, 2d or 1w."
            )
        seconds = float(m.group(1)) * _UNIT_S[m.group(2)]
    elif hasattr(value, "unit") and hasattr(value, "to_value"):
        from astropy import units as u

        try:
            seconds = float(value.to_value(u.s))
        except (u.UnitConversionError, TypeError):
            raise InvalidQueryError(f"{what} {value} is not a duration.") from None
    else:
        raise InvalidQueryError(
            f"{what}={value!r} has no unit: pass '6h', a datetime.timedelta or an astropy "
            "Quantity such as 2 * u.hour."
        )
    if not math.isfinite(seconds) or seconds < 0 or seconds > 200 * 365.25 * _DAY_S:
        raise InvalidQueryError(f"{what} {value!r} must be a finite, non-negative duration.")
    return dt.timedelta(seconds=seconds)


def duration_s(started: Any, finished: Any) -> float | None:
    """``finished - started`` in seconds, or ``None`` when either is missing."""
    try:
        a, b = float(started), float(finished)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(a) or math.isnan(b) else b - a


# -- windows -------------------------------------------------------------------------------
def shift(t: Time, seconds: float) -> Time:
    """``t`` moved by ``seconds``, computed in Unix seconds (no leap-second lookup)."""
    from astropy.time import Time

    return Time(float(t.unix) + float(seconds), format="unix", scale="utc")


def window(
    now: Time,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
    *,
    default: dt.timedelta = dt.timedelta(hours=24),
) -> tuple[Time, Time]:
    """Resolve [start, end) to ``Time``; defaults: end = now, start = end - ``default``.

    Relative words ('yesterday', '6h ago') are taken relative to ``now`` (the workspace
    clock).
    """
    hi = now if end is None else to_time(end, now=now, what="end")
    lo = (
        shift(hi, -default.total_seconds())
        if start is None
        else to_time(start, now=now, what="start")
    )
    if hi < lo:
        raise InvalidQueryError(
            f"The window end {hi.isot} is before its start {lo.isot}; swap them."
        )
    return lo, hi


def night_bounds(night: TimeLike, *, now: TimeLike | None = None) -> tuple[float, float]:
    """Unix-second bounds [start, end) of an observing night.

    DSA-110 is a transit array that observes around the clock, so an observing "night" is
    the UTC calendar day: ``2026-11-14`` means 2026-11-14T00:00 to 2026-11-15T00:00 UTC.
    """
    start = night_of(night, now=now)
    return start.timestamp(), (start + dt.timedelta(days=1)).timestamp()


def night_of(t: TimeLike, *, now: TimeLike | None = None) -> dt.datetime:
    """Midnight UTC (aware) of the observing night holding ``t``."""
    unix = to_unix(t, now=now, what="night")
    day = unix_to_datetime(unix).date()
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


# -- the workspace clock -------------------------------------------------------------------
class Clock:
    """The workspace clock: frozen at ``frozen`` (ISO UTC; the demo state) or the real time.

    Services take a clock instead of calling ``Time.now()``, so "yesterday" and "the last
    24 hours" mean the same data in the demo every day, and tests can pin the time.
    """

    def __init__(self, frozen: TimeLike | None = None):
        self._frozen = None if frozen is None else to_time(frozen, what="frozen clock")

    def __repr__(self) -> str:
        return f"<Clock {'frozen at ' + self._frozen.isot if self._frozen else 'real time'}>"

    @property
    def frozen(self) -> bool:
        """Whether the clock is frozen (a demo state or a test)."""
        return self._frozen is not None

    def now(self) -> Time:
        """The current time on this clock (UTC)."""
        from astropy.time import Time

        configure_astropy()
        return self._frozen if self._frozen is not None else Time.now()

    def now_unix(self) -> float:
        return float(self.now().unix)

    def now_mjd(self) -> float:
        return unix_to_mjd(self.now_unix())

    def window(
        self,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        *,
        default: dt.timedelta = dt.timedelta(hours=24),
    ) -> tuple[Time, Time]:
        """:func:`window` relative to this clock."""
        return window(self.now(), start, end, default=default)

    def time(self, value: TimeLike, *, what: str = "time") -> Time:
        """:func:`to_time` relative to this clock."""
        return to_time(value, now=self.now(), what=what)


def as_mjd_array(values: Sequence[Any]) -> np.ndarray:
    """A sequence of MJD values (None/NaN allowed) as a float array."""
    return np.array([np.nan if v is None else float(v) for v in values], dtype=float)
