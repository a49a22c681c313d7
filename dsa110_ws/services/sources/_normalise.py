"""Reference-source normalisation (differential photometry), vectorised over images.

Each image's flux scale wanders (gain errors of a few per cent); bright, stable sources
measured in the same image share that error, so the median of their flux ratios to their
own baselines measures it.  Per image i and reference source k with raw flux f_ik:

1. baseline_k from a weighted least-squares fit of log f_ik = log c_i + log b_k over the
   references (one sparse solve, multigrid-preconditioned: images that share references
   are tied together like the links of a chain in a drift scan, which alternating medians
   would need hundreds of rounds to propagate); each group of images not linked to the
   others by shared references keeps its own scale (its median image term is fixed);
2. r_ik = f_ik / baseline_k; reject r_ik farther than ``clip_sigma`` x 1.4826 MAD from the
   image's median ratio; c_i = median of the kept ratios, with error
   1.2533 x std(kept) / sqrt(n_kept) (the standard error of a median); images with fewer
   than ``min_refs`` kept references get no correction (NaN); the overall scale is
   degenerate and fixed by setting the median correction to 1;
3. references whose residual scatter (robust, of f_ik / (baseline_k c_i)) is more than
   ``max_scatter_factor`` times what their noise and the references' common systematic
   floor explain, or with at least max(2, 10 %) of their epochs off by more than
   ``clip_sigma`` times that, are dropped as variable; rows clipped in step 2 leave the
   fit; repeat from 1 (at most ``max_rounds`` times, warm-started).

Candidate references: median S/N >= ``snr_min`` over at least ``min_epochs`` epochs.
A corrected flux is f / c_i with error sqrt((s/c_i)^2 + (f s_c / c_i^2)^2).
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import numpy as np
import pandas as pd

from dsa110_ws.services.sources._segments import seg_median

__all__ = ["Normalisation", "solve_frame", "solve_codes", "candidates", "apply", "seg_median"]

MAD_TO_SIGMA = 1.4826
MEDIAN_SE = 1.2533  # sqrt(pi/2): standard error of a median / standard error of a mean


def apply(f: np.ndarray, s: np.ndarray, c: np.ndarray, sc: np.ndarray) -> tuple[np.ndarray, ...]:
    """Corrected flux and propagated error (NaN where there is no correction)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        fn = f / c
        en = np.sqrt((s / c) ** 2 + (f * sc / (c * c)) ** 2)
    return fn, en


@dataclasses.dataclass
class Normalisation:
    """The per-image correction series and the references it came from.

    ``corrections``: one row per image (``image_path``, ``mjd``, ``correction``,
    ``correction_err``, ``n_refs``, ``n_rejected``, ``ok``), in observation order.
    ``references``: one row per reference source finally used (``source_id``,
    ``baseline_flux_jy``, ``n_epochs``, ``median_snr``, ``scatter``).
    ``diagnostics``: how each round's least-squares solve went (``solves``: iterations,
    relative residual, converged, number of unlinked image groups) and ``converged``.
    """

    corrections: pd.DataFrame
    references: pd.DataFrame
    params: dict[str, Any]
    diagnostics: dict[str, Any] = dataclasses.field(default_factory=dict)

    def per_image(self, image_paths: Any) -> dict[str, np.ndarray]:
        """``correction`` and ``correction_err`` aligned with ``image_paths`` (NaN if unknown)."""
        idx = pd.Index(self.corrections["image_path"]).get_indexer(pd.Index(image_paths))
        out = {}
        for col in ("correction", "correction_err"):
            vals = self.corrections[col].to_numpy(float)
            out[col] = np.where(idx >= 0, vals[np.maximum(idx, 0)] if len(vals) else np.nan, np.nan)
        return out

    def apply_to(self, lightcurve: pd.DataFrame) -> pd.DataFrame:
        """A light curve (raw ``flux_jy``/``flux_err_jy`` and ``image_path``) corrected."""
        corr = self.per_image(lightcurve["image_path"].astype(str))
        fn, en = apply(
            lightcurve["flux_jy"].to_numpy(float),
            lightcurve["flux_err_jy"].to_numpy(float),
            corr["correction"],
            corr["correction_err"],
        )
        return lightcurve.assign(
            correction=corr["correction"],
            correction_err=corr["correction_err"],
            flux_jy=fn,
            flux_err_jy=en,
        )

    def _repr_html_(self) -> str:
        ok = int(self.corrections["ok"].sum())
        return (
            f"<b>Normalisation</b>: {ok}/{len(self.corrections)} images corrected from "
            f"{len(self.references)} reference sources; parameters {self.params}"
        )


def _image_solve(
    img: np.ndarray, r: np.ndarray, n_img: int, clip: float, min_refs: int
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Per-image clipped median ratio with its error; also the kept-row mask."""
    med = seg_median(img, r, n_img)
    dev = np.abs(r - med[img])
    sigma = MAD_TO_SIGMA * seg_median(img, dev, n_img)
    keep = (dev <= clip * sigma[img]) | (sigma[img] == 0)
    c = seg_median(img[keep], r[keep], n_img)
    n = np.bincount(img[keep], minlength=n_img)
    s1 = np.bincount(img[keep], weights=r[keep], minlength=n_img)
    s2 = np.bincount(img[keep], weights=r[keep] ** 2, minlength=n_img)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = (s2 - s1 * s1 / n) / (n - 1)
        err = MEDIAN_SE * np.sqrt(np.maximum(var, 0.0)) / np.sqrt(n)
    ok = n >= min_refs
    sol = {
        "correction": np.where(ok, c, np.nan),
        "correction_err": np.where(ok, err, np.nan),
        "n_refs": n,
        "n_rejected": np.bincount(img[~keep], minlength=n_img),
        "ok": ok,
    }
    return sol, keep


def candidates(
    src: np.ndarray, f: np.ndarray, s: np.ndarray, n_src: int, snr_min: float, min_epochs: int
) -> tuple[np.ndarray, ...]:
    """Candidate references (median S/N >= ``snr_min`` over >= ``min_epochs`` good
    rows), with each source's median S/N and count (rows already filtered to good ones)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        snr = seg_median(src, f / s, n_src)
    n = np.bincount(src, minlength=n_src)
    return (snr >= snr_min) & (n >= min_epochs), snr, n


def _baselines(src, img, f, s, n_src, n_img, iter_lim) -> tuple[np.ndarray, dict]:
    """Least squares of log f = log c_image + log b_source (weights: S/N with a 0.3 % floor).

    Sources seen by only a few overlapping images (a drift scan) tie neighbouring images
    together like the links of a chain, so the scale must travel along the whole chain:
    the normal equations (a weighted graph Laplacian over images and sources, grounded at
    one image per linked group) are solved at once by conjugate gradients preconditioned
    with smoothed-aggregation algebraic multigrid (pyamg), to a relative residual of
    1e-10: about 20 iterations for ten million rows, where LSQR needed over 2,000.  A
    group of images and sources not linked to the rest has its own free scale: each
    group's median image term is set to 0.
    Returns the baselines (Jy) and how the solve went (``iterations``,
    ``relative_residual``, ``converged``, ``n_groups``).
    """
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    n = n_img + n_src
    if len(f) == 0:
        return np.full(n_src, np.nan), {
            "iterations": 0,
            "relative_residual": 0.0,
            "converged": True,
            "n_groups": 0,
        }
    wt = 1.0 / np.sqrt((s / f) ** 2 + 0.003**2)
    rows = np.repeat(np.arange(len(f)), 2)
    cols = np.column_stack([img, n_img + src]).ravel()
    a = sp.csr_matrix((np.repeat(wt, 2), (rows, cols)), shape=(len(f), n))
    normal, rhs = (a.T @ a).tocsr(), a.T @ (np.log(f) * wt)
    used = np.flatnonzero(normal.diagonal() > 0)
    sub = normal[used][:, used].tocsr()
    n_groups, group = connected_components(sub, directed=False)
    is_img = used < n_img
    # ground each group at one of its images: the singular Laplacian becomes positive definite
    free = np.ones(len(used), dtype=bool)
    free[np.unique(np.where(is_img, group, n_groups), return_index=True)[1][:n_groups]] = False
    x = np.zeros(len(used))
    x[free], info = _amg_cg(sub[free][:, free].tocsr(), rhs[used][free], iter_lim)
    shift = seg_median(group[is_img], x[is_img], n_groups)  # each group's median image term
    x = x - np.where(is_img, 1.0, -1.0) * np.nan_to_num(shift)[group]
    full = np.zeros(n)
    full[used] = x
    seen = np.bincount(src, minlength=n_src) > 0
    return np.where(seen, np.exp(full[n_img:]), np.nan), {**info, "n_groups": int(n_groups)}


def _amg_cg(matrix, rhs: np.ndarray, iter_lim: int) -> tuple[np.ndarray, dict]:
    import pyamg

    ml = pyamg.smoothed_aggregation_solver(matrix, symmetry="hermitian")
    residuals: list[float] = []
    x = ml.solve(rhs, tol=1e-10, accel="cg", maxiter=int(iter_lim), residuals=residuals)
    rel = float(residuals[-1] / residuals[0]) if residuals and residuals[0] > 0 else 0.0
    return x, {
        "iterations": max(len(residuals) - 1, 0),
        "relative_residual": rel,
        "converged": bool(rel <= 1e-8),
    }


def _variable_refs(src, img, f, s, is_ref, baseline, c, n_src, n_ep, clip, factor):
    """References that vary: robust scatter of f / (baseline c) beyond ``factor`` times what
    their noise and the common systematic floor explain, or at least max(2, 10 %) epochs
    off by more than ``clip`` times that (a flare hides from a robust scatter)."""
    rows = is_ref[src] & np.isfinite(c[img])
    sr = src[rows]
    q = f[rows] / (baseline[sr] * c[img[rows]])
    rel = s[rows] / f[rows]
    med_q = seg_median(sr, q, n_src)
    scatter = MAD_TO_SIGMA * seg_median(sr, np.abs(q - med_q[sr]), n_src)
    noise = seg_median(sr, rel, n_src)
    with np.errstate(invalid="ignore"):
        extra = np.sqrt(np.maximum(scatter**2 - noise**2, 0.0))
    floor = float(np.nanmedian(extra[is_ref])) if np.isfinite(extra[is_ref]).any() else 0.0
    jumps = np.abs(q - med_q[sr]) > clip * np.sqrt(rel**2 + floor**2)
    n_jumps = np.bincount(sr[jumps], minlength=n_src)
    with np.errstate(invalid="ignore"):
        wide = scatter > factor * np.sqrt(noise**2 + floor**2)
    return is_ref & (wide | (n_jumps >= np.maximum(2, 0.1 * n_ep))), scatter


def solve(
    src: np.ndarray,
    img: np.ndarray,
    f: np.ndarray,
    s: np.ndarray,
    n_src: int,
    n_img: int,
    *,
    snr_min: float = 30.0,
    min_refs: int = 3,
    clip_sigma: float = 3.0,
    min_epochs: int = 3,
    max_scatter_factor: float = 3.0,
    max_rounds: int = 3,
    lsq_iter: int = 300,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict]:
    """The per-image corrections, the reference-source table and how the least-squares
    solves went (``lsq_iter`` caps each solve's iterations), from flat arrays."""
    with np.errstate(invalid="ignore"):
        good = (src >= 0) & (img >= 0) & np.isfinite(f) & np.isfinite(s) & (s > 0) & (f > 0)
    src, img, f, s = src[good], img[good], f[good], s[good]
    is_ref, snr, n_ep = candidates(src, f, s, n_src, snr_min, min_epochs)
    inlier = np.ones(len(f), dtype=bool)
    solves: list[dict] = []
    for _ in range(max(int(max_rounds), 1)):
        rows = is_ref[src] & inlier
        baseline, info = _baselines(src[rows], img[rows], f[rows], s[rows], n_src, n_img, lsq_iter)
        solves.append(info)
        rows = is_ref[src] & np.isfinite(baseline[src])
        sol, keep = _image_solve(
            img[rows], f[rows] / baseline[src[rows]], n_img, clip_sigma, min_refs
        )
        scale = np.nanmedian(sol["correction"]) if sol["ok"].any() else 1.0
        sol["correction"], sol["correction_err"] = (
            sol["correction"] / scale,
            sol["correction_err"] / scale,
        )
        baseline = baseline * scale
        inlier[np.flatnonzero(rows)[~keep]] = False  # clipped rows leave the next solve
        variable, scatter = _variable_refs(
            src,
            img,
            f,
            s,
            is_ref,
            baseline,
            sol["correction"],
            n_src,
            n_ep,
            clip_sigma,
            max_scatter_factor,
        )
        if not variable.any():
            break
        is_ref &= ~variable
    refs = {
        "code": np.flatnonzero(is_ref),
        "baseline_flux_jy": baseline[is_ref],
        "n_epochs": n_ep[is_ref],
        "median_snr": snr[is_ref],
        "scatter": scatter[is_ref],
    }
    return sol, refs, {"solves": solves, "converged": all(i["converged"] for i in solves)}


def solve_frame(df: pd.DataFrame, **params: Any) -> Normalisation:
    """:func:`solve` on a photometry scan (``source_id``/``image_path`` categoricals,
    ``obs_mjd``, ``flux_jy``, ``flux_err_jy``)."""
    sc, ic = df["source_id"].cat, df["image_path"].cat
    src, img = sc.codes.to_numpy().astype(np.int64), ic.codes.to_numpy().astype(np.int64)
    ok_img = img >= 0
    n_img = len(ic.categories)
    mjd = seg_median(img[ok_img], df["obs_mjd"].to_numpy(float)[ok_img], n_img)
    return solve_codes(
        src,
        img,
        df["flux_jy"].to_numpy(float),
        df["flux_err_jy"].to_numpy(float),
        source_names=sc.categories.to_numpy().astype(object),
        image_names=ic.categories.to_numpy().astype(object),
        image_mjd=mjd,
        **params,
    )


def solve_codes(
    src: np.ndarray,
    img: np.ndarray,
    f: np.ndarray,
    s: np.ndarray,
    *,
    source_names: np.ndarray,
    image_names: np.ndarray,
    image_mjd: np.ndarray,
    **params: Any,
) -> Normalisation:
    """:func:`solve` on rows given as codes into ``source_names`` / ``image_names`` (sorted),
    with each image's observation time ``image_mjd`` (the median over its rows)."""
    n_src, n_img = len(source_names), len(image_names)
    sol, refs, diagnostics = solve(src, img, f, s, n_src, n_img, **params)
    if not diagnostics["converged"]:
        worst = max(i["relative_residual"] for i in diagnostics["solves"])
        warnings.warn(
            f"The reference-source least-squares solve stopped at its iteration limit "
            f"(relative residual {worst:.1e} > 1e-8): baselines may be off by more "
            "than rounding. Raise lsq_iter.",
            RuntimeWarning,
            stacklevel=4,
        )
    corr = pd.DataFrame(
        {
            "image_path": np.asarray(image_names, dtype=object),
            "mjd": image_mjd,
            **(
                {k: sol[k] for k in ("correction", "correction_err", "n_refs", "n_rejected", "ok")}
                if sol
                else {}
            ),
        }
    )
    if not sol:
        corr = corr.assign(
            correction=np.nan, correction_err=np.nan, n_refs=0, n_rejected=0, ok=False
        )
    corr = corr.sort_values(["mjd", "image_path"], kind="stable").reset_index(drop=True)
    ref = pd.DataFrame(
        {
            "source_id": np.asarray(source_names, dtype=object)[refs["code"]],
            **{k: v for k, v in refs.items() if k != "code"},
        }
    )
    defaults = {
        "snr_min": 30.0,
        "min_refs": 3,
        "clip_sigma": 3.0,
        "min_epochs": 3,
        "max_scatter_factor": 3.0,
        "max_rounds": 3,
        "lsq_iter": 300,
    }
    return Normalisation(corr, ref, {**defaults, **params}, diagnostics)
