"""The wall's trend bins: hourly over the last 24 h, or per UTC night over the last 14.

Each tile's sparkline is one of these two grids (which one is said in the tile).  Counts
come either from a repository's ``binned`` SQL (``bin, n`` rows) or from the times of the
rows a tile has already read; a rate is NaN in a bin without a denominator (a gap in the
line, never a zero).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["Bins", "hourly", "nightly", "from_binned", "from_times", "HOURS", "NIGHTS"]

HOURS = 24
NIGHTS = 14
_DAY_S = 86400.0


@dataclasses.dataclass(frozen=True)
class Bins:
    """``n`` bins of ``width`` seconds from ``lo`` (Unix seconds); ``text`` says which."""

    lo: float
    width: float
    n: int
    text: str

    @property
    def hi(self) -> float:
        """End of the last bin, Unix seconds."""
        return self.lo + self.width * self.n

    def mjd(self) -> tuple[float, float, float]:
        """(lo, hi, width) in MJD and days, for columns stored as MJD."""
        return self.lo / _DAY_S + 40587.0, self.hi / _DAY_S + 40587.0, self.width / _DAY_S


def hourly(end_unix: float) -> Bins:
    """The 24 hours before ``end_unix`` (exactly the wall's window), one bin per hour."""
    return Bins(end_unix - HOURS * 3600.0, 3600.0, HOURS, "per hour, 24 h")


def nightly(end_unix: float) -> Bins:
    """The 14 UTC nights (days) up to and including the one of ``end_unix``."""
    first = math.floor(end_unix / _DAY_S) * _DAY_S - (NIGHTS - 1) * _DAY_S
    return Bins(first, _DAY_S, NIGHTS, "per night, 14 nights")


def from_binned(df: pd.DataFrame, bins: Bins) -> tuple[float, ...]:
    """A repository's ``bin, n`` rows on ``bins`` (a bin without a row is 0)."""
    out = np.zeros(bins.n)
    if len(df):
        k = pd.to_numeric(df["bin"]).to_numpy(int)
        ok = (k >= 0) & (k < bins.n)
        np.add.at(out, k[ok], pd.to_numeric(df["n"]).to_numpy(float)[ok])
    return tuple(float(x) for x in out)


def from_times(unix: Any, bins: Bins) -> tuple[float, ...]:
    """Counts of events (Unix seconds; NaN and out-of-range times dropped) per bin."""
    t = pd.to_numeric(pd.Series(unix, dtype=float), errors="coerce").to_numpy(float)
    k = np.floor((t[np.isfinite(t)] - bins.lo) / bins.width + 1e-9).astype(int)
    out = np.bincount(k[(k >= 0) & (k < bins.n)], minlength=bins.n)
    return tuple(float(x) for x in out)


def ratio(num: tuple[float, ...], den: tuple[float, ...]) -> tuple[float, ...]:
    """``num / den`` per bin; NaN where ``den`` is 0 (no data: a gap, not a zero)."""
    return tuple(n / d if d else math.nan for n, d in zip(num, den, strict=True))


def nearest_hours(sets: pd.DataFrame, t_mjd: np.ndarray, every: Any) -> tuple[float, ...]:
    """Hours from each time ``t_mjd`` to the calibration time (``ref_mjd``) of the active
    set nearest to it, chosen as ``CalibrationHealthService.nearest`` chooses: among the
    sets overlapping [t - 2 d, t + 2 d) (else every set with a known window, from
    ``every()``), one whose window contains t wins, then the smallest distance.  NaN
    where there is no set at all."""
    t = np.asarray(t_mjd, float)[None, :]
    vs, ve, ref = (sets[c].to_numpy(float)[:, None] for c in _SET_COLUMNS)
    near = (ve >= t - 2.0) & (vs < t + 2.0)
    if not near.any(axis=0).all():  # some time has no set within 2 days: every set
        got = every()
        got = got[got["window_known"].astype(bool)]
        vs, ve, ref = (
            np.vstack([a, got[c].to_numpy(float)[:, None]])
            for a, c in zip((vs, ve, ref), _SET_COLUMNS, strict=True)
        )
        near = np.vstack([near, np.tile(~near.any(axis=0), (len(got), 1))])
    d = np.where(near, np.abs(ref - t) * 24.0, np.inf)
    d_in = np.where((vs <= t) & (ve >= t), d, np.inf)
    best = np.where(
        np.isfinite(d_in.min(axis=0, initial=np.inf)),
        d_in.min(axis=0, initial=np.inf),
        d.min(axis=0, initial=np.inf),
    )
    return tuple(float(x) if np.isfinite(x) else math.nan for x in best)


_SET_COLUMNS = ("valid_start_mjd", "valid_end_mjd", "ref_mjd")
