"""core/time: the one parser, the conversions, the clock, windows and durations.

Oracles: astropy's own conversions and hand-computed calendar facts.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from astropy import units as u
from astropy.time import Time

from dsa110_ws.core.time import (
    Clock,
    iso_utc,
    mjd_to_iso,
    mjd_to_unix,
    mjd_to_utc,
    night_bounds,
    parse_duration,
    to_mjd,
    to_time,
    to_unix,
    unix_to_mjd,
    unix_to_utc,
    window,
)
from dsa110_ws.errors import InvalidQueryError

NOW = "2026-11-14T17:53:20"


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-13",
        "2026-11-13T06:30:00",
        "2026-11-13 06:30:00",
        "2026-11-13T06:30:00Z",
        "2026-11-13T08:30:00+02:00",
        61357.2708333333,
        1794551400.0,
        dt.datetime(2026, 11, 13, 6, 30),
        dt.datetime(2026, 11, 13, 6, 30, tzinfo=dt.UTC),
        dt.date(2026, 11, 13),
        pd.Timestamp("2026-11-13T06:30:00"),
        Time("2026-11-13T06:30:00", scale="utc"),
    ],
)
def test_every_form_means_the_same_instant(value):
    t = to_time(value)
    expected = Time(
        "2026-11-13T06:30:00"
        if not isinstance(value, dt.date) or isinstance(value, dt.datetime)
        else "2026-11-13",
        scale="utc",
    )
    if value == "2026-11-13":
        expected = Time("2026-11-13T00:00:00", scale="utc")
    assert abs(t.unix - expected.unix) < 1e-3, (value, t.isot)


def test_relative_words_and_ago_are_read_on_the_clock_given():
    assert to_time("yesterday", now=NOW).isot == "2026-11-13T00:00:00.000"
    assert to_time("today", now=NOW).isot == "2026-11-14T00:00:00.000"
    assert to_time("now", now=NOW).isot == "2026-11-14T17:53:20.000"
    assert to_time("6h ago", now=NOW).isot == "2026-11-14T11:53:20.000"
    assert to_time("90 min ago", now=NOW).isot == "2026-11-14T16:23:20.000"


@pytest.mark.parametrize(
    "bad,needle",
    [
        ("soon", "Cannot read"),
        (np.nan, "No time"),
        (pd.NaT, "No time"),
        (None, "No time"),
        (12345.0, "Cannot tell"),
        (1e15, "Cannot tell"),
        ("0001-01-01", "outside 1900-2200"),
        ("9999-12-31", "outside 1900-2200"),
        (True, "Cannot read"),
        ([1, 2], "Cannot read"),
    ],
)
def test_nonsense_is_one_clear_error(bad, needle):
    with pytest.raises(InvalidQueryError, match=needle) as err:
        to_time(bad)
    assert "\n" not in str(err.value)


def test_conversions_agree_with_astropy():
    mjd = np.array([40587.0, 61357.25, 61358.999988426])
    t = Time(mjd, format="mjd", scale="utc")
    assert np.allclose(mjd_to_unix(mjd), t.unix, rtol=0, atol=1e-5)
    assert np.allclose(unix_to_mjd(t.unix), mjd, rtol=0, atol=1e-10)
    assert mjd_to_unix(40587.0) == 0.0 and unix_to_mjd(86400.0) == 40588.0
    assert to_mjd("2026-11-13") == 61357.0 and to_unix("1970-01-02") == 86400.0
    for m in (61357.0, 61357.123456789, 61358.999999):
        assert mjd_to_iso(m, timespec="milliseconds") == Time(m, format="mjd").isot
    assert iso_utc(1794614400.0) == "2026-11-14T00:00:00.000"
    assert mjd_to_iso(float("nan")) is None and mjd_to_iso(None) is None


def test_series_conversions_keep_their_index_and_turn_missing_into_nat():
    s = pd.Series([61357.0, None, 61357.5], index=[10, 11, 12])
    out = mjd_to_utc(s)
    assert list(out.index) == [10, 11, 12]
    assert out[10] == pd.Timestamp("2026-11-13T00:00:00", tz="UTC") and pd.isna(out[11])
    assert unix_to_utc([0.0])[0] == pd.Timestamp("1970-01-01", tz="UTC")


@pytest.mark.parametrize(
    "text,seconds",
    [
        ("90s", 90),
        ("30m", 1800),
        ("6h", 21600),
        ("2d", 172800),
        ("1w", 604800),
        ("1.5 hr", 5400),
        (dt.timedelta(minutes=3), 180),
        (2 * u.hour, 7200),
    ],
)
def test_durations(text, seconds):
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("bad", ["6 parsecs", "-3h", "nanh", 5, 3 * u.m, "inf s"])
def test_bad_durations(bad):
    with pytest.raises(InvalidQueryError):
        parse_duration(bad)


def test_window_and_night_bounds():
    now = to_time(NOW)
    lo, hi = window(now)
    assert hi.isot == "2026-11-14T17:53:20.000" and lo.isot == "2026-11-13T17:53:20.000"
    lo, hi = window(now, "yesterday", "today")
    assert (lo.isot, hi.isot) == ("2026-11-13T00:00:00.000", "2026-11-14T00:00:00.000")
    with pytest.raises(InvalidQueryError, match="swap"):
        window(now, "today", "yesterday")
    a, b = night_bounds("2026-11-13")
    assert b - a == 86400.0 and a == to_unix("2026-11-13")


def test_the_clock_is_frozen_or_real():
    frozen = Clock(NOW)
    assert frozen.frozen and frozen.now().isot == "2026-11-14T17:53:20.000"
    assert frozen.now_mjd() == pytest.approx(to_mjd(NOW), abs=1e-9)
    real = Clock()
    assert not real.frozen and abs(real.now_unix() - Time.now().unix) < 60


def test_time_keeps_working_past_the_leap_second_table_expiry(monkeypatch):
    """astropy's bundled leap-second table expires 2027-06-28; offline, past that date,
    conversions must neither warn (an error in this suite) nor fail."""
    import warnings

    from astropy.utils import iers

    from dsa110_ws.core import time as core_time

    monkeypatch.setattr(
        iers.LeapSeconds, "_today", classmethod(lambda cls: Time("2028-03-01", scale="tai"))
    )
    core_time._configured = False
    core_time.configure_astropy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = to_time("2028-02-29T12:00:00")
        assert t.tai.isot.startswith("2028-02-29T12:00:37")  # TAI - UTC = 37 s
        assert Time("2028-02-29T12:00:00", scale="utc").tt.isot.startswith("2028-02-29T12:01")


def test_timestamps_to_unix_does_not_depend_on_the_datetime_resolution():
    import datetime as dt

    import numpy as np
    import pandas as pd

    from dsa110_ws.core.time import timestamps_to_unix

    t = dt.datetime(2026, 11, 14, 17, 53, 20, 145879, tzinfo=dt.UTC)
    want = t.timestamp()
    for unit in ("s", "ms", "us", "ns"):
        series = pd.Series([t, None]).astype(f"datetime64[{unit}, UTC]")
        got = timestamps_to_unix(series)
        assert got[0] == pytest.approx(want, abs=1.0 if unit == "s" else 1e-3)
        assert np.isnan(got[1])
    assert timestamps_to_unix(["2026-11-14T17:53:20"])[0] == pytest.approx(1794678800.0)


def test_the_edges_of_every_accepted_range():
    """Boundaries found untested by a mutation run (.ci/mutate.py); expected values from
    astropy and from the documented ranges (MJD 40000..100000, Unix 1e8..1e10 s, years
    1900..2200), not from the parser."""
    from dsa110_ws.core.time import as_mjd_array, datetime_to_mjd, parse_duration, to_time, window
    from dsa110_ws.errors import InvalidQueryError

    assert to_time(40000).mjd == 40000.0 and to_time(40000.0).format == "mjd"
    assert to_time(1e8).unix == pytest.approx(1e8) and to_time(1e8).format == "unix"
    assert to_time(99999.5).format == "mjd"
    with pytest.raises(InvalidQueryError):
        to_time(dt.datetime(2200, 1, 1, tzinfo=dt.UTC))  # the end of the range is open
    with pytest.raises(InvalidQueryError):
        to_time(dt.date(2200, 1, 1))
    assert parse_duration("0s") == dt.timedelta(0)
    t = Time("2026-11-14T00:00:00", scale="utc")
    lo, hi = window(t, start=t, end=t)  # an empty window is allowed; a reversed one is not
    assert lo == hi
    # an aware datetime keeps its offset: 02:00+02:00 is midnight UTC
    tz = dt.timezone(dt.timedelta(hours=2))
    assert datetime_to_mjd(dt.datetime(2026, 11, 14, 2, 0, tzinfo=tz)) == pytest.approx(t.mjd)
    assert datetime_to_mjd(dt.datetime(2026, 11, 14)) == pytest.approx(t.mjd)  # naive: UTC
    got = as_mjd_array([None, 61000.5, float("nan")])
    assert np.isnan(got[0]) and got[1] == 61000.5 and np.isnan(got[2])
