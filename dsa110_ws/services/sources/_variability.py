"""Variability metrics for every source at once, over flat numpy arrays.

No loop per source: rows are sorted by (source, observation time) once, and every
statistic is a segment reduction (``np.add.reduceat`` and friends) over that order.
Definitions (docs/science.md), for the N usable epochs f_i +- s_i of one source:

* ``mean_flux_jy`` = plain mean; ``std_flux_jy`` = sample standard deviation (ddof=1,
  as the pipeline's ``variability_stats`` and VAST use);
* ``v`` = std / mean (the coefficient of variation; negative or huge when the mean flux
  is <= 0 or near 0, as the definition gives);
* ``eta`` = N/(N-1) (mean(w f^2) - mean(w f)^2 / mean(w)), w = 1/s^2, evaluated in the
  algebraically identical, cancellation-free form sum(w (f - f_w)^2)/(N-1) with f_w the
  weighted mean;
* ``chi2_nu`` = sum(((f - mean)/s)^2)/(N-1) with the plain (unweighted) mean;
* ``sigma_deviation`` = max(|max - mean|, |min - mean|)/std (NaN when std = 0);
* over consecutive epoch pairs (a earlier, b later): Vs = (f_a - f_b)/sqrt(s_a^2 + s_b^2)
  and m = 2 (f_a - f_b)/(f_a + f_b); ``vs_max`` / ``m_max`` are the largest absolute values,
  with the pair's times (``vs_mjd_a``, ``vs_mjd_b``..., and as tuples ``vs_pair``,
  ``m_pair``).  m is undefined (skipped) for a pair whose flux sum is <= 0.

A usable epoch has a finite flux, a finite error > 0 and an observation time; other rows
are dropped and counted.  Sources with fewer than ``min_epochs`` usable epochs keep their
row with NaN metrics.  Dips below the baseline (the ESE signature) come from
:mod:`dsa110_ws.services.sources._dips`; the two-epoch metrics on measurements averaged
per night, per week (any bins: ``timescales``) from
:mod:`dsa110_ws.services.sources._timescales` (columns ``vs_max_night``...).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np
import pandas as pd

from dsa110_ws.services.sources._dips import DIP_COLUMNS, find_dips
from dsa110_ws.services.sources._segments import group_order, is_grouped_sorted
from dsa110_ws.services.sources._timescales import (
    DEFAULT_TIMESCALES,
    bin_series,
    timescale_columns,
)

__all__ = ["FluxArrays", "compute_metrics", "add_pairs", "METRIC_COLUMNS"]

#: Columns of the variability table, in order.
METRIC_COLUMNS = (
    "source_id",
    "n_epochs",
    "n_rejected",
    "mean_flux_jy",
    "wmean_flux_jy",
    "std_flux_jy",
    "min_flux_jy",
    "max_flux_jy",
    "v",
    "eta",
    "chi2_nu",
    "sigma_deviation",
    "vs_max",
    "vs_mjd_a",
    "vs_mjd_b",
    "m_max",
    "m_mjd_a",
    "m_mjd_b",
    "first_mjd",
    "last_mjd",
    *DIP_COLUMNS,
    "flux_column",
)


@dataclasses.dataclass
class FluxArrays:
    """One flux series per row, ready for :func:`compute_metrics`.

    ``code`` indexes ``source_ids``; ``flux_column`` says, per source, which photometry
    column the series came from.  ``counts`` holds row counts for the table's attrs.
    """

    source_ids: np.ndarray  # (n_sources,) str, sorted
    code: np.ndarray  # (n_rows,) int
    mjd: np.ndarray
    flux: np.ndarray
    err: np.ndarray
    flux_column: np.ndarray  # (n_sources,) str
    counts: dict[str, int] = dataclasses.field(default_factory=dict)


def _usable(a: FluxArrays) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return (
            np.isfinite(a.flux)
            & np.isfinite(a.err)
            & (a.err > 0)
            & np.isfinite(a.mjd)
            & (a.code >= 0)
        )


def _sorted_usable(a: FluxArrays) -> tuple[np.ndarray, ...]:
    """Usable rows sorted by (source, time), rows of equal time in their input order (the
    order of ``id`` from SQLite and from the dataset, so every path pairs the same epochs);
    rows that come sorted (as from the photometry dataset) are checked in one pass and
    not sorted again."""
    keep = _usable(a)
    code, mjd, f, s = a.code[keep], a.mjd[keep], a.flux[keep], a.err[keep]
    if is_grouped_sorted(code, mjd):
        return code, mjd, f, s, keep
    order = group_order(code, mjd, stable=True)
    return code[order], mjd[order], f[order], s[order], keep


def _seg_sum(x: np.ndarray, starts: np.ndarray) -> np.ndarray:
    return np.add.reduceat(x, starts) if len(starts) else np.zeros(0)


def compute_metrics(
    a: FluxArrays,
    *,
    min_epochs: int = 2,
    pairs: bool = True,
    timescales: Mapping[str, float] = DEFAULT_TIMESCALES,
) -> pd.DataFrame:
    """The variability table: one row per source in ``a.source_ids`` (see module doc),
    with the two-epoch metrics of every timescale ``name = bin width (days)`` in
    ``timescales`` after ``flux_column``; ``pairs=False`` leaves out the tuple columns
    ``vs_pair`` / ``m_pair`` (cheaper to send between processes; :func:`add_pairs` adds
    them)."""
    n_src = len(a.source_ids)
    code, mjd, f, s, keep = _sorted_usable(a)
    n = np.bincount(code, minlength=n_src).astype(np.int64)
    rejected = np.bincount(a.code[~keep & (a.code >= 0)], minlength=n_src).astype(np.int64)
    has = np.flatnonzero(n > 0)  # segments present, in code order
    starts = np.concatenate([[0], np.cumsum(n[has])[:-1]]).astype(np.int64)
    out = {k: np.full(n_src, np.nan) for k in METRIC_COLUMNS[3:-1]}
    ts_cols = timescale_columns(timescales)
    per_ts = {k: np.full(n_src, np.nan) for k in ts_cols}
    if len(has):
        _moments(out, has, starts, n[has], f, s, mjd)
        _pairs(out, code, mjd, f, s, n_src)
        out.update(find_dips(code, mjd, f, s, n_src))
        for name, width in timescales.items():
            bc, bt, bf, bs, single = bin_series(code, mjd, f, s, width)
            per_ts[f"n_bins_{name}"] = n.copy() if single else np.bincount(bc, minlength=n_src)
            if single:  # one row per bin: the bins are the epochs, their pairs the same
                for k in ("vs_max", "vs_mjd_a", "vs_mjd_b", "m_max", "m_mjd_a", "m_mjd_b"):
                    per_ts[f"{k}_{name}"] = out[k].copy()
            else:
                _pairs(per_ts, bc, bt, bf, bs, n_src, suffix=f"_{name}")
    few = n < max(int(min_epochs), 2)
    for k in ts_cols:
        if not k.startswith("n_bins_"):
            per_ts[k][few] = np.nan
        elif not len(has):
            per_ts[k] = np.zeros(n_src, dtype=np.int64)
    for k in (
        "std_flux_jy",
        "v",
        "eta",
        "chi2_nu",
        "sigma_deviation",
        "vs_max",
        "vs_mjd_a",
        "vs_mjd_b",
        "m_max",
        "m_mjd_a",
        "m_mjd_b",
        *DIP_COLUMNS[1:],
    ):
        out[k][few] = np.nan
    df = pd.DataFrame(
        {
            "source_id": a.source_ids,
            "n_epochs": n,
            "n_rejected": rejected,
            **out,
            "flux_column": a.flux_column,
            **per_ts,
        },
        columns=[*METRIC_COLUMNS, *ts_cols],
    )
    if pairs:
        add_pairs(df)
    df.attrs.update(a.counts)
    df.attrs.update(
        n_sources=int(n_src),
        n_with_metrics=int(np.sum(~few)),
        n_too_few_epochs=int(np.sum(few)),
        min_epochs=int(max(min_epochs, 2)),
        n_rows_used=int(len(f)),
        n_rows_rejected=int(rejected.sum()),
    )
    return df


def add_pairs(df: pd.DataFrame) -> pd.DataFrame:
    """Add ``vs_pair`` and ``m_pair``: each epoch pair as one (mjd_a, mjd_b) value, None
    when undefined (in place; returns ``df``)."""
    for name in ("vs", "m"):
        pa, pb = df[f"{name}_mjd_a"].to_numpy(float), df[f"{name}_mjd_b"].to_numpy(float)
        df[f"{name}_pair"] = [
            None if x != x else (x, y) for x, y in zip(pa.tolist(), pb.tolist(), strict=True)
        ]
    return df


def _moments(
    out: dict,
    has: np.ndarray,
    starts: np.ndarray,
    n: np.ndarray,
    f: np.ndarray,
    s: np.ndarray,
    mjd: np.ndarray,
) -> None:
    """Per-source moments over the sorted usable rows (segments ``starts``)."""
    seg = np.repeat(np.arange(len(has)), n)
    nf = n.astype(float)
    mean = _seg_sum(f, starts) / nf
    d = f - mean[seg]
    with np.errstate(invalid="ignore", divide="ignore"):
        dof = nf - 1.0
        # corrected two-pass variance: the second term removes the rounding of the mean
        var = (_seg_sum(d * d, starts) - _seg_sum(d, starts) ** 2 / nf) / dof
        std = np.sqrt(np.maximum(var, 0.0))
        w = 1.0 / (s * s)
        sw = _seg_sum(w, starts)
        wmean = _seg_sum(w * f, starts) / sw
        dw = f - wmean[seg]
        eta = (_seg_sum(w * dw * dw, starts) - _seg_sum(w * dw, starts) ** 2 / sw) / dof
        chi2 = _seg_sum(d * d * w, starts) / dof
        fmax, fmin = np.maximum.reduceat(f, starts), np.minimum.reduceat(f, starts)
        sdev = np.maximum(fmax - mean, mean - fmin) / np.where(std > 0, std, np.nan)
        v = std / mean
    for key, val in (
        ("mean_flux_jy", mean),
        ("wmean_flux_jy", wmean),
        ("std_flux_jy", std),
        ("min_flux_jy", fmin),
        ("max_flux_jy", fmax),
        ("v", v),
        ("eta", eta),
        ("chi2_nu", chi2),
        ("sigma_deviation", sdev),
        ("first_mjd", np.minimum.reduceat(mjd, starts)),
        ("last_mjd", np.maximum.reduceat(mjd, starts)),
    ):
        out[key][has] = val


def _pairs(
    out: dict,
    code: np.ndarray,
    mjd: np.ndarray,
    f: np.ndarray,
    s: np.ndarray,
    n_src: int,
    *,
    suffix: str = "",
) -> None:
    """Largest |Vs| and |m| over consecutive epochs of each source, and which pair (into
    ``out["vs_max" + suffix]``...)."""
    if len(f) < 2:
        return
    same = code[1:] == code[:-1]
    fa, fb, sa, sb = f[:-1], f[1:], s[:-1], s[1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        vs = np.abs(fa - fb) / np.sqrt(sa * sa + sb * sb)
        tot = fa + fb
        m = np.abs(2.0 * (fa - fb) / np.where(tot > 0, tot, np.nan))
    for name, val in (("vs", vs), ("m", m)):
        val = np.where(same & np.isfinite(val), val, -np.inf)
        pair_code = code[:-1]
        best = np.full(n_src, -np.inf)
        _segmax(best, pair_code, val)
        hit = np.flatnonzero((val == best[pair_code]) & np.isfinite(val))
        src, first = np.unique(pair_code[hit], return_index=True)
        idx = hit[first]
        out[f"{name}_max{suffix}"][src] = val[idx]
        out[f"{name}_mjd_a{suffix}"][src] = mjd[idx]
        out[f"{name}_mjd_b{suffix}"][src] = mjd[idx + 1]


def _segmax(best: np.ndarray, pair_code: np.ndarray, val: np.ndarray) -> None:
    """Per-code maxima of ``val`` into ``best`` (``pair_code`` is sorted)."""
    starts = np.flatnonzero(np.concatenate([[True], pair_code[1:] != pair_code[:-1]]))
    best[pair_code[starts]] = np.maximum.reduceat(val, starts)
