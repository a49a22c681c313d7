"""Image QA relative to the image's peers (``w.qa.peers``).

DSA-110 observes a few declination strips whose noise differs, so absolute thresholds either
miss a bad image in a quiet strip or flag every image of a noisy one.  Here each image is
compared with its *peers*: the other images whose centre lies within ``peer_dec_tolerance_deg``
of its declination, observed within ``peer_window_hours`` of it.  For each metric -- the robust
rms, the beam's major and minor axes, the number of islands (source count) -- the peers give a
robust centre and scale, the median ``m`` and ``s = max(1.4826 x MAD, peer_sigma_floor x |m|)``,
and the image's ``z = (x - m) / s``.  ``|z| > peer_z_warn`` warns and ``> peer_z_max`` grades
bad; the beam axes and the island count are graded on both sides (far fewer sources than the
peers is as suspicious as far more), the rms only above (a quieter image is not a defect).  An image with fewer than ``peer_min_count`` peers holding a value is not compared,
and its check says so.  The checks are :class:`Check` records (``peer_rms_jy``...) beside the
absolute ones; the thresholds live in ``[qa.image]``.

Everything is vectorised over blocks of images sorted by time, so a night of a few hundred
images takes milliseconds on top of their QA.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dsa110_ws.services.products._checks import Check, grade_of

__all__ = ["PEER_METRICS", "peer_table"]

#: column -> (check metric, words, unit scale, unit, format, sides graded)
PEER_METRICS: dict[str, tuple[str, str, float, str, str, str]] = {
    "rms_jy": ("peer_rms_jy", "robust rms", 1e3, " mJy/beam", ".3g", "above"),
    "beam_major_arcsec": ("peer_beam_major_arcsec", "beam major axis", 1.0, '"', ".1f", "both"),
    "beam_minor_arcsec": ("peer_beam_minor_arcsec", "beam minor axis", 1.0, '"', ".1f", "both"),
    "n_islands": ("peer_n_islands", "number of islands", 1.0, "", ".0f", "both"),
}
_MAD_TO_SIGMA = 1.482602218505602
_BLOCK = 256


def _robust_against_peers(
    t: np.ndarray, dec: np.ndarray, values: np.ndarray, window_d: float, tol_deg: float
) -> tuple[np.ndarray, ...]:
    """Per image (rows sorted by ``t``): the peers' median, robust sigma (1.4826 x MAD) and
    count, for each column of ``values`` (``(n, k)``, NaN where missing)."""
    n, k = values.shape
    med = np.full((n, k), np.nan)
    sig = np.full((n, k), np.nan)
    cnt = np.zeros((n, k), np.int64)
    for i0 in range(0, n, _BLOCK):
        i1 = min(n, i0 + _BLOCK)
        j0 = int(np.searchsorted(t, t[i0] - window_d, side="left"))
        j1 = int(np.searchsorted(t, t[i1 - 1] + window_d, side="right"))
        rows, cols = np.arange(i0, i1), np.arange(j0, j1)
        with np.errstate(invalid="ignore"):  # unknown times are +inf: inf - inf, never near
            near = (np.abs(t[cols][None, :] - t[rows][:, None]) <= window_d) & (
                np.abs(dec[cols][None, :] - dec[rows][:, None]) <= tol_deg
            )
        near &= rows[:, None] != cols[None, :]
        for m in range(k):
            v = np.where(near, values[cols, m][None, :], np.nan)
            have = np.isfinite(v).sum(axis=1)
            cnt[i0:i1, m] = have
            ok = have > 0
            if not ok.any():
                continue
            centre = np.nanmedian(v[ok], axis=1)
            med[rows[ok], m] = centre
            sig[rows[ok], m] = _MAD_TO_SIGMA * np.nanmedian(np.abs(v[ok] - centre[:, None]), axis=1)
    return med, sig, cnt


def _check(col: str, x: float, m: float, s: float, n: int, t: dict[str, float]) -> Check:
    metric, words, scale, unit, fmt, sides = PEER_METRICS[col]
    around = f"within {t['peer_window_hours']:g} h and {t['peer_dec_tolerance_deg']:g} deg of Dec"
    if n < t["peer_min_count"] or not np.isfinite(x):
        why = "it has no value" if not np.isfinite(x) else f"only {n} peer(s) {around}"
        return Check(
            metric,
            None,
            t["peer_min_count"],
            "peers >=",
            "pass",
            f"The {words} is not compared with peers: {why} (need {t['peer_min_count']:g}).",
        )
    s = max(s, t["peer_sigma_floor"] * abs(m))
    z = (x - m) / s if s > 0 else (0.0 if x == m else np.inf * np.sign(x - m))
    side = "above" if z > 0 else "below"
    shown = (
        f"The {words} {x * scale:{fmt}}{unit} is {abs(z):.1f} robust sigma {side} the median "
        f"{m * scale:{fmt}}{unit} of its {n} peers ({around}; sigma {s * scale:.3g}{unit})"
    )
    graded = abs(z) if sides == "both" else z
    comparison = "|z| <=" if sides == "both" else "z <="
    if graded > t["peer_z_max"]:
        return Check(metric, float(z), t["peer_z_max"], comparison, "fail", f"{shown}: an outlier.")
    if graded > t["peer_z_warn"]:
        return Check(metric, float(z), t["peer_z_warn"], comparison, "warn", f"{shown}.")
    return Check(metric, float(z), t["peer_z_warn"], comparison, "pass", f"{shown}.")


def peer_table(table: Any, t: dict[str, float]) -> Any:
    """Add the peer comparison to ``table`` (one row per image with ``obs_mjd``, ``dec_deg``
    and the :data:`PEER_METRICS` columns); returns a new DataFrame in the same order with, per
    metric, ``<metric>_peer_median``, ``<metric>_z`` and ``n_peers``, and ``peer_checks``
    (tuple of :class:`Check`), ``peer_grade`` and ``peer_reasons``."""
    df = table.reset_index(drop=True).copy()
    cols = list(PEER_METRICS)
    t_mjd = df["obs_mjd"].astype(float).to_numpy()
    dec = df["dec_deg"].astype(float).to_numpy()
    known = np.isfinite(t_mjd) & np.isfinite(dec)
    order = np.argsort(np.where(known, t_mjd, np.inf), kind="stable")
    values = df[cols].astype(float).to_numpy()[order]
    values[~known[order]] = np.nan
    med_s, sig_s, cnt_s = _robust_against_peers(
        np.where(known, t_mjd, np.inf)[order],
        np.where(known, dec, np.nan)[order],
        values,
        t["peer_window_hours"] / 24.0,
        t["peer_dec_tolerance_deg"],
    )
    med, sig, cnt = (np.empty_like(a) for a in (med_s, sig_s, cnt_s))
    med[order], sig[order], cnt[order] = med_s, sig_s, cnt_s
    raw = df[cols].astype(float).to_numpy()
    checks = [
        tuple(
            _check(c, raw[i, m], med[i, m], sig[i, m], int(cnt[i, m]), t)
            for m, c in enumerate(cols)
        )
        for i in range(len(df))
    ]
    for m, c in enumerate(cols):
        df[f"{c}_peer_median"] = med[:, m]
        df[f"{c}_z"] = [ch[m].value if isinstance(ch[m].value, float) else np.nan for ch in checks]
    df["n_peers"] = cnt.max(axis=1) if len(df) else np.zeros(0, np.int64)
    df["peer_checks"] = checks
    df["peer_grade"] = [grade_of(ch) for ch in checks]
    df["peer_reasons"] = ["; ".join(c.reason for c in ch if c.verdict != "pass") for ch in checks]
    return df
