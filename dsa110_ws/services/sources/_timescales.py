"""Two-epoch metrics per timescale: Vs and m between averaged bins of a light curve.

Consecutive measurements of a DSA-110 source are minutes to a day apart, so the
two-epoch metrics of :mod:`dsa110_ws.services.sources._variability` measure changes on
that timescale, while an Extreme Scattering Event changes a source's flux over days (its
caustic edges) to months (the dip).  For each timescale ``name = width`` (days;
``[sources] variability_timescales``, default ``night = 1.0``, ``week = 7.0``) every
source's usable measurements are averaged in bins ``floor(mjd / width)`` (anchored at
MJD 0, so a night bin is a UTC day, as the pipeline's nights are, and a week runs from
Wednesday 0h UTC):

* bin flux = inverse-variance weighted mean sum(w f) / sum(w), w = 1/s^2, its error
  1/sqrt(sum(w)); the bin's time = the mean observation time of its measurements;
* over consecutive bins of a source (a earlier, b later), as for single measurements,
  Vs = (f_a - f_b)/sqrt(s_a^2 + s_b^2) and m = 2 (f_a - f_b)/(f_a + f_b) (skipped for a
  pair whose flux sum is <= 0): the largest |Vs| and |m| with the bins' times.

Columns, per timescale ``<name>``: ``n_bins_<name>``, ``vs_max_<name>``,
``vs_mjd_a_<name>``, ``vs_mjd_b_<name>``, ``m_max_<name>``, ``m_mjd_a_<name>``,
``m_mjd_b_<name>`` (NaN below two bins, or below ``min_epochs`` measurements).  Computed
for every source at once over rows sorted by (source, time): a handful of segment
reductions per timescale, no loop per source.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

import numpy as np

from dsa110_ws.errors import InvalidQueryError

__all__ = ["DEFAULT_TIMESCALES", "TIMESCALE_METRICS", "checked", "timescale_columns", "bin_series"]

#: Bin widths (days) of the default timescales.
DEFAULT_TIMESCALES: dict[str, float] = {"night": 1.0, "week": 7.0}
#: Metric columns per timescale (each suffixed ``_<name>``).
TIMESCALE_METRICS = (
    "n_bins",
    "vs_max",
    "vs_mjd_a",
    "vs_mjd_b",
    "m_max",
    "m_mjd_a",
    "m_mjd_b",
)


def checked(timescales: Mapping[str, float]) -> dict[str, float]:
    """``timescales`` as a plain ``{name: days}`` dict, or InvalidQueryError naming the bad
    entry (a name becomes a column suffix: lower-case letters, digits and ``_``, not
    ``epoch``, which means single measurements; a width is finite days > 0)."""
    out: dict[str, float] = {}
    for name, width in dict(timescales).items():
        if not (isinstance(name, str) and re.fullmatch(r"[a-z][a-z0-9_]{0,31}", name)):
            raise InvalidQueryError(
                f"Timescale name {name!r} is not a lower-case identifier; use e.g. "
                "{'night': 1.0, 'week': 7.0} (it becomes a column suffix: vs_max_night)."
            )
        if name == "epoch":
            raise InvalidQueryError(
                "Timescale 'epoch' is the single measurements (vs_max, m_max); name bins "
                "otherwise, e.g. {'night': 1.0}."
            )
        try:
            days = float(width)
        except (TypeError, ValueError):
            days = math.nan
        if not (math.isfinite(days) and days > 0):
            raise InvalidQueryError(
                f"Timescale {name!r} has bin width {width!r}; give days > 0 (night = 1.0)."
            )
        out[name] = days
    return out


def timescale_columns(timescales: Mapping[str, float]) -> list[str]:
    """The variability table's columns for ``timescales``, in order."""
    return [f"{metric}_{name}" for name in timescales for metric in TIMESCALE_METRICS]


def bin_series(
    code: np.ndarray, mjd: np.ndarray, f: np.ndarray, s: np.ndarray, width: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]:
    """Rows sorted by (source, time) averaged per (source, ``floor(mjd / width)``): the
    bins' source codes, mean times, weighted mean fluxes and their errors, and whether
    every bin holds one row (then the rows themselves are returned: the mean of one
    value is that value)."""
    if len(f) == 0:
        return code, mjd, f, s, True
    b = np.floor(mjd if width == 1.0 else mjd / width)
    new = np.empty(len(f), dtype=bool)
    new[0] = True
    np.not_equal(b[1:], b[:-1], out=new[1:])
    new[1:] |= code[1:] != code[:-1]
    starts = np.flatnonzero(new)
    if len(starts) == len(f):
        return code, mjd, f, s, True
    w = 1.0 / (s * s)
    sw = np.add.reduceat(w, starts)
    flux = np.add.reduceat(w * f, starts) / sw
    count = np.diff(np.append(starts, len(f)))
    t = np.add.reduceat(mjd, starts) / count
    return code[starts], t, flux, 1.0 / np.sqrt(sw), False
