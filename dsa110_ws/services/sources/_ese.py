"""Variable-source and ESE candidates from the variability table: presets and a score.

A source is a candidate when any of three routes fires (with at least ``min_epochs``):

* **variability**: significant scatter, ``chi2_sigma >= chi2_sigma`` or
  ``eta_sigma >= eta_sigma`` or ``sigma_deviation >= sigma_deviation``, *and* an amplitude
  ``v >= v_min`` (so a bright source's tiny residual calibration wobble is not a
  candidate);
* **two-epoch** (Mooley et al. 2016, ApJ 818, 105): some consecutive pair has
  ``|Vs| >= vs_min`` and ``|m| >= m_min``, on the preset's ``timescale``: ``night``
  (every preset; :mod:`dsa110_ws.services.sources._timescales`), i.e. between the
  averages of consecutive nights, or ``epoch`` (single measurements) or any timescale
  of the table (``timescale="week"``).  An ESE changes a source's flux over days (the
  caustic edges of its dip) to months: night averages resolve those edges with the
  measurements' noise averaged down, where single measurements (minutes to a day
  apart) mostly compare noise, and the more pairs a light curve has, the more false
  alarms;
* **dip** (the ESE signature, :mod:`dsa110_ws.services.sources._dips`): a bounded dip lasting at
  least ``dip_days`` with ``dip_depth >= dip_depth`` and ``dip_sigma >= dip_sigma``.
  Such a source is ``ese_like``.

``chi2_sigma`` is the Gaussian-equivalent significance of chi2_nu with N-1 degrees of
freedom (Wilson-Hilferty transform, finite for any chi2); ``eta_sigma`` is the distance
of log10(eta) above a Gaussian fitted to the log10(eta) of all sources (robust: median
and 1.4826 MAD; ``method="mle"`` fits mean and standard deviation as VAST tools do), in
units of the fitted width.  ``sigma_deviation`` cannot exceed (N-1)/sqrt(N) (4.25 for 20
epochs), so its DESIGN default of 5 only acts on long light curves.

Thresholds (``PRESETS``; 1.0 on each score component means "exactly at threshold"):

============  ==========  =========  =========  =====  ======  =====  =========  ==========  ========  ==========
preset        chi2_sigma  eta_sigma  sigma_dev  v_min  vs_min  m_min  dip_sigma  dip_depth   dip_days  min_epochs
============  ==========  =========  =========  =====  ======  =====  =========  ==========  ========  ==========
conservative  6           5          5          0.10   6.0     0.30   8          0.30        0.5       5
moderate      5           4          5          0.05   4.3     0.26   5          0.20        0.5       4
sensitive     3           3          4          0.02   3.5     0.15   3          0.10        0.5       3
============  ==========  =========  =========  =====  ======  =====  =========  ==========  ========  ==========

The composite ``score`` ranks candidates: a weighted mean of the components, each the
metric divided by its threshold and clipped to [0, 5]: variability significance
max(chi2_sigma, eta_sigma ratios) 0.3, amplitude v 0.2, two-epoch min(|Vs|, |m| ratios)
0.2, sigma_deviation 0.1, dip significance (ESE-like only) 0.2.  A source exactly at every
threshold scores 1; the score orders, the routes decide.

False alarms grow with the number of epochs: ``eta_sigma`` is relative to the population
(a fixed fraction of any population lies above it) and the two-epoch test is tried on
every consecutive pair.  On the rows-only scale state (100,000 pure-noise sources, 100
epochs each) conservative flags 0, moderate 0.05 % (two-epoch), sensitive 1.6 %;
on the demo (300 sources, ~20 epochs) moderate flags exactly the six injected variables.
(Measured with the two-epoch route on single measurements; on night averages, the
scale state's two-epoch route flags 0, 45 and 1,491 of 100,000 sources against 0, 45
and 1,497 on single measurements: it observes most sources once a night.)
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from dsa110_ws.errors import InvalidQueryError

__all__ = ["Preset", "PRESETS", "get_preset", "chi2_sigma", "eta_v_fit", "classify", "plot_eta_v"]


@dataclasses.dataclass(frozen=True)
class Preset:
    """Candidate thresholds (see the module doc for what each means)."""

    name: str
    chi2_sigma: float
    eta_sigma: float
    sigma_deviation: float
    v_min: float
    vs_min: float
    m_min: float
    dip_sigma: float
    dip_depth: float
    dip_days: float
    min_epochs: int
    timescale: str = "night"


PRESETS: dict[str, Preset] = {
    "conservative": Preset("conservative", 6.0, 5.0, 5.0, 0.10, 6.0, 0.30, 8.0, 0.30, 0.5, 5),
    "moderate": Preset("moderate", 5.0, 4.0, 5.0, 0.05, 4.3, 0.26, 5.0, 0.20, 0.5, 4),
    "sensitive": Preset("sensitive", 3.0, 3.0, 4.0, 0.02, 3.5, 0.15, 3.0, 0.10, 0.5, 3),
}

_WEIGHTS = {
    "significance": 0.3,
    "amplitude": 0.2,
    "two_epoch": 0.2,
    "sigma_deviation": 0.1,
    "dip": 0.2,
}


def get_preset(preset: str | Preset, **overrides: Any) -> Preset:
    """A preset by name (or as given), with some thresholds replaced."""
    if isinstance(preset, Preset):
        base = preset
    elif preset in PRESETS:
        base = PRESETS[preset]
    else:
        raise InvalidQueryError(f"Unknown preset {preset!r}; choose one of {sorted(PRESETS)}.")
    fields = {f.name for f in dataclasses.fields(Preset)} - {"name"}
    bad = set(overrides) - fields
    if bad:
        raise InvalidQueryError(f"Unknown threshold(s) {sorted(bad)}; known: {sorted(fields)}.")
    return dataclasses.replace(base, **overrides) if overrides else base


def chi2_sigma(chi2_nu: Any, n_epochs: Any) -> np.ndarray:
    """Gaussian-equivalent significance of chi2_nu with N-1 dof (Wilson-Hilferty)."""
    x = np.asarray(chi2_nu, dtype=float)
    k = np.asarray(n_epochs, dtype=float) - 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        a = 2.0 / (9.0 * k)
        return (np.cbrt(x) - (1.0 - a)) / np.sqrt(a)


def eta_v_fit(
    table: pd.DataFrame, *, sigma: float | tuple[float, float] = 3.0, method: str = "robust"
) -> dict[str, Any]:
    """Gaussian fits to log10(eta) and log10(V) and the thresholds ``sigma`` above them.

    Only sources with finite, positive eta and V enter the fits.  ``method="robust"`` uses
    the median and 1.4826 MAD (little affected by the variables themselves); ``"mle"``
    the mean and standard deviation (``scipy.stats.norm.fit``, as VAST tools do).
    """
    if method not in ("robust", "mle"):
        raise InvalidQueryError(f"method={method!r} is not 'robust' or 'mle'.")
    s_eta, s_v = (
        (float(sigma), float(sigma))
        if isinstance(sigma, (int, float))
        else (float(sigma[0]), float(sigma[1]))
    )
    eta, v = table["eta"].to_numpy(float), table["v"].to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        ok = np.isfinite(eta) & np.isfinite(v) & (eta > 0) & (v > 0)
        le, lv = np.log10(eta[ok]), np.log10(v[ok])
    out: dict[str, Any] = {
        "method": method,
        "eta_sigma": float(s_eta),
        "v_sigma": float(s_v),
        "n_used": int(ok.sum()),
    }
    for name, x, s in (("eta", le, s_eta), ("v", lv, s_v)):
        mu, sd = _fit(x, method)
        out[f"{name}_log_mean"], out[f"{name}_log_std"] = mu, sd
        out[f"{name}_threshold"] = float(10 ** (mu + float(s) * sd)) if np.isfinite(mu) else np.nan
    return out


def _fit(x: np.ndarray, method: str) -> tuple[float, float]:
    if len(x) < 3:
        return np.nan, np.nan
    if method == "robust":
        mu = float(np.median(x))
        return mu, float(1.4826 * np.median(np.abs(x - mu)))
    from scipy import stats

    mu, sd = stats.norm.fit(x)
    return float(mu), float(sd)


def _two_epoch_columns(table: pd.DataFrame, p: Preset) -> tuple[str, str]:
    """The (|Vs|, |m|) columns of the preset's timescale, or a one-line error."""
    suffix = "" if p.timescale == "epoch" else f"_{p.timescale}"
    vs, m = f"vs_max{suffix}", f"m_max{suffix}"
    if vs not in table.columns or m not in table.columns:
        have = sorted(c[len("vs_max_") :] for c in table.columns if c.startswith("vs_max_"))
        raise InvalidQueryError(
            f"Preset {p.name!r} compares {p.timescale!r} averages, but the variability table "
            f"has no {vs} (its timescales: {have or 'none'}); add {p.timescale} to "
            "[sources] variability_timescales, or pass timescale='epoch' (single "
            "measurements) or one of the table's."
        )
    return vs, m


def classify(
    table: pd.DataFrame,
    preset: str | Preset = "moderate",
    *,
    fit: dict[str, Any] | None = None,
    **overrides: Any,
) -> pd.DataFrame:
    """``table`` with ``chi2_sigma``, ``eta_sigma``, the route flags, ``ese_like``,
    ``score`` and ``is_candidate`` added (all sources kept)."""
    p = get_preset(preset, **overrides)
    fit = fit or eta_v_fit(table)
    n = table["n_epochs"].to_numpy(float)
    c2 = chi2_sigma(table["chi2_nu"].to_numpy(float), n)
    with np.errstate(invalid="ignore", divide="ignore"):
        es = (np.log10(table["eta"].to_numpy(float)) - fit["eta_log_mean"]) / fit["eta_log_std"]
    vs_col, m_col = _two_epoch_columns(table, p)
    col = {k: table[k].to_numpy(float) for k in ("v", "sigma_deviation", "dip_sigma", "dip_depth")}
    col["vs_max"], col["m_max"] = table[vs_col].to_numpy(float), table[m_col].to_numpy(float)
    days = (table["dip_end_mjd"] - table["dip_start_mjd"]).to_numpy(float)
    enough = n >= max(p.min_epochs, 2)
    with np.errstate(invalid="ignore"):
        significant = (
            (c2 >= p.chi2_sigma)
            | (es >= p.eta_sigma)
            | (col["sigma_deviation"] >= p.sigma_deviation)
        )
        by_var = enough & significant & (col["v"] >= p.v_min)
        by_pair = enough & (col["vs_max"] >= p.vs_min) & (col["m_max"] >= p.m_min)
        ese_like = (
            enough
            & (days >= p.dip_days)
            & (col["dip_depth"] >= p.dip_depth)
            & (col["dip_sigma"] >= p.dip_sigma)
        )
    score = _score(p, c2, es, col, ese_like)
    out = table.assign(
        chi2_sigma=c2,
        eta_sigma=es,
        by_variability=by_var,
        by_two_epoch=by_pair,
        by_dip=ese_like,
        ese_like=ese_like,
        score=np.where(enough, score, np.nan),
        is_candidate=by_var | by_pair | ese_like,
    )
    out.attrs.update(table.attrs)
    out.attrs.update(
        preset=dataclasses.asdict(p),
        two_epoch=f"{vs_col} / {m_col} (timescale {p.timescale!r})",
        eta_v_fit=fit,
        n_candidates=int(out["is_candidate"].sum()),
        n_ese_like=int(ese_like.sum()),
    )
    return out


def _score(p: Preset, c2, es, col, ese_like) -> np.ndarray:
    def r(x, th):
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.clip(np.nan_to_num(np.asarray(x, float) / th, nan=0.0), 0.0, 5.0)

    parts = {
        "significance": np.maximum(r(c2, p.chi2_sigma), r(es, p.eta_sigma)),
        "amplitude": r(col["v"], p.v_min),
        "two_epoch": np.minimum(r(col["vs_max"], p.vs_min), r(col["m_max"], p.m_min)),
        "sigma_deviation": r(col["sigma_deviation"], p.sigma_deviation),
        "dip": np.where(ese_like, r(col["dip_sigma"], p.dip_sigma), 0.0),
    }
    return sum(_WEIGHTS[k] * v for k, v in parts.items())


def plot_eta_v(table: pd.DataFrame, fit: dict[str, Any], ax: Any = None) -> Any:
    """log eta against log V, the fitted thresholds as lines; candidates and ESE-like
    sources (when ``table`` was classified) highlighted.  Returns the Axes."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 5))
    eta, v = table["eta"].to_numpy(float), table["v"].to_numpy(float)
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(eta) & np.isfinite(v) & (eta > 0) & (v > 0)
    cand = table.get("is_candidate", pd.Series(False, index=table.index)).to_numpy(bool) & ok
    ese = table.get("ese_like", pd.Series(False, index=table.index)).to_numpy(bool) & ok
    ax.scatter(eta[ok & ~cand], v[ok & ~cand], s=6, c="0.6", lw=0, label="sources")
    ax.scatter(eta[cand & ~ese], v[cand & ~ese], s=22, c="tab:blue", label="candidates")
    ax.scatter(eta[ese], v[ese], s=80, marker="*", c="tab:red", label="ESE-like")
    ax.set_xscale("log")
    ax.set_yscale("log")
    for key, line in (("eta_threshold", ax.axvline), ("v_threshold", ax.axhline)):
        if np.isfinite(fit.get(key, np.nan)):
            line(fit[key], ls="--", c="k", lw=1)
    ax.set_xlabel(r"$\eta$ (weighted variance)")
    ax.set_ylabel("V (std / mean)")
    ax.set_title(
        f"eta-V: {fit['method']} fit, {fit['eta_sigma']:g} / {fit['v_sigma']:g} sigma", fontsize=9
    )
    ax.legend(fontsize=7, loc="lower right")
    return ax
