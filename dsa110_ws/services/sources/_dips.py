"""Dips below a source's baseline, found for every source at once (the ESE signature).

An Extreme Scattering Event shows as a flux dip of tens of per cent lasting days to
months, often between brief brightenings.  Per source, over its usable epochs in time
order (arrays sorted by source then time):

* ``baseline_flux_jy`` = median flux;
* an epoch is *low* when ``baseline - f >= point_sigma * s`` and
  ``f <= (1 - point_depth) * baseline``;
* a dip is a run of consecutive low epochs; it is *bounded* when epochs that are not low
  come before and after it (a light curve that starts or ends low is a trend, not a dip);
* per source the bounded dip with the largest significance
  ``sum((baseline - f)/s) / sqrt(n)`` is reported: ``dip_start_mjd``, ``dip_end_mjd``
  (first and last low epoch), ``dip_n_epochs``, ``dip_depth`` (1 - mean(f)/baseline over
  the dip) and ``dip_sigma``; NaN when there is none.
"""

from __future__ import annotations

import numpy as np

from dsa110_ws.services.sources._segments import seg_median

__all__ = ["DIP_COLUMNS", "find_dips"]

DIP_COLUMNS = (
    "baseline_flux_jy",
    "dip_start_mjd",
    "dip_end_mjd",
    "dip_n_epochs",
    "dip_depth",
    "dip_sigma",
)


def find_dips(
    code: np.ndarray,
    mjd: np.ndarray,
    f: np.ndarray,
    s: np.ndarray,
    n_src: int,
    *,
    point_sigma: float = 3.0,
    point_depth: float = 0.1,
) -> dict[str, np.ndarray]:
    """The most significant bounded dip of every source (see module doc)."""
    out = {k: np.full(n_src, np.nan) for k in DIP_COLUMNS}
    if len(f) == 0:
        return out
    base = seg_median(code, f, n_src)
    out["baseline_flux_jy"] = base
    b = base[code]
    low = (b - f >= point_sigma * s) & (f <= (1.0 - point_depth) * b)
    same_prev = np.concatenate([[False], code[1:] == code[:-1]])
    same_next = np.concatenate([code[1:] == code[:-1], [False]])
    prev_low = np.concatenate([[False], low[:-1]]) & same_prev
    next_low = np.concatenate([low[1:], [False]]) & same_next
    first = np.flatnonzero(low & ~prev_low)  # run starts
    last = np.flatnonzero(low & ~next_low)  # run ends (same count, same order)
    if len(first) == 0:
        return out
    bounded = same_prev[first] & same_next[last]  # a non-low epoch on each side
    z = np.where(low, (b - f) / s, 0.0)
    cz = np.concatenate([[0.0], np.cumsum(z)])
    cf = np.concatenate([[0.0], np.cumsum(np.where(low, f, 0.0))])
    n = last - first + 1
    sig = (cz[last + 1] - cz[first]) / np.sqrt(n)
    depth = 1.0 - (cf[last + 1] - cf[first]) / n / b[first]
    keep = np.flatnonzero(bounded)
    if len(keep) == 0:
        return out
    src = code[first[keep]]
    # best run per source: sort runs by (source, significance) and take each source's last
    order = np.lexsort((sig[keep], src))
    is_last = np.concatenate([src[order][1:] != src[order][:-1], [True]])
    best = keep[order[is_last]]
    who = code[first[best]]
    out["dip_start_mjd"][who] = mjd[first[best]]
    out["dip_end_mjd"][who] = mjd[last[best]]
    out["dip_n_epochs"][who] = n[best]
    out["dip_depth"][who] = depth[best]
    out["dip_sigma"][who] = sig[best]
    return out
