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
    return Bins(end_unix - HOURS * 3600.0, 3600.0, HOURS, "per hour, last 24 h")


def nightly(end_unix: float) -> Bins:
    """The 14 UTC nights (days) up to and including the one of ``end_unix``."""
    first = math.floor(end_unix / _DAY_S) * _DAY_S - (NIGHTS - 1) * _DAY_S
    return Bins(first, _DAY_S, NIGHTS, "per night, last 14 nights")


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
    t = pd.to_numeric(pd.Series(unix, dtype=float), errors="coerce").dropna().to_numpy(float)
    k = np.floor((t - bins.lo) / bins.width + 1e-9).astype(int)
    return from_binned(pd.DataFrame({"bin": k, "n": np.ones(len(k))}), bins)


def ratio(num: tuple[float, ...], den: tuple[float, ...]) -> tuple[float, ...]:
    """``num / den`` per bin; NaN where ``den`` is 0 (no data: a gap, not a zero)."""
    return tuple(n / d if d else math.nan for n, d in zip(num, den, strict=True))
