"""Reference-source normalisation at survey scale: the baseline solve.

On the scale state's reference rows (about 7 million measurements of 69,000 sources in
100,000 images), in one run:

* the workspace's solve: normal equations, conjugate gradients preconditioned with
  algebraic multigrid (pyamg), to a relative residual of 1e-10;
* the previous solve: LSQR on the column-scaled design matrix with atol = btol = 1e-8,
  capped at 1000 iterations;

each with its wall time and the relative residual of the normal equations
||A^T (b - A x)|| / ||A^T b|| it reached (smaller is more converged), and the largest
difference of their log-baselines.  Then the whole ``w.sources.normalisation()``.

Targets (exit 1 on a miss): the new solve no slower than LSQR (>= 1x) and at least as
converged (its residual <= 1e-9 and <= LSQR's), the log-baselines agreeing within 0.01
(1 % in flux), and the end-to-end normalisation converged.

Run:  .venv/bin/python benchmarks/bench_normalisation.py [--lsqr-iter 1000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

import numpy as np
import scipy.sparse as sp
from _common import report, scale_state
from _verdict import Verdicts
from scipy.sparse.linalg import lsqr

import dsa110_ws
from dsa110_ws.services.sources import _fluxdata, _normalise


def reference_rows(w):
    _, df = _fluxdata.read_rows(w.repos.photometry, flux="raw", image=True)
    src = df["source_id"].cat.codes.to_numpy().astype(np.int64)
    img = df["image_path"].cat.codes.to_numpy().astype(np.int64)
    f, s = df["flux_jy"].to_numpy(float), df["flux_err_jy"].to_numpy(float)
    n_src, n_img = len(df["source_id"].cat.categories), len(df["image_path"].cat.categories)
    with np.errstate(invalid="ignore"):
        good = (src >= 0) & (img >= 0) & np.isfinite(f) & np.isfinite(s) & (s > 0) & (f > 0)
    src, img, f, s = src[good], img[good], f[good], s[good]
    is_ref = _normalise._candidates(src, f, s, n_src, 30.0, 3)[0]
    rows = is_ref[src]
    return src[rows], img[rows], f[rows], s[rows], n_src, n_img


def design(src, img, f, s, n_src, n_img):
    wt = 1.0 / np.sqrt((s / f) ** 2 + 0.003**2)
    cols = np.column_stack([img, n_img + src]).ravel()
    a = sp.csr_matrix(
        (np.repeat(wt, 2), (np.repeat(np.arange(len(f)), 2), cols)), shape=(len(f), n_img + n_src)
    )
    return a, np.log(f) * wt


def normal_residual(a, b, x) -> float:
    return float(np.linalg.norm(a.T @ (b - a @ x)) / np.linalg.norm(a.T @ b))


def old_lsqr(a, b, iter_lim: int) -> tuple[np.ndarray, int]:
    norm = np.sqrt(np.asarray(a.multiply(a).sum(axis=0)).ravel())
    norm[norm == 0] = 1.0
    out = lsqr(a @ sp.diags(1.0 / norm), b, atol=1e-8, btol=1e-8, iter_lim=iter_lim)
    return out[0] / norm, int(out[2])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lsqr-iter", type=int, default=1000)
    args = ap.parse_args()
    state = scale_state()
    w = dsa110_ws.connect(
        state / "settings.toml",
        state_dir=tempfile.mkdtemp(prefix="bench-nrm-"),
        sections={"sources": {"dataset_min_rows": -1}},
    )
    src, img, f, s, n_src, n_img = reference_rows(w)
    print(
        f"reference rows: {len(f):,} measurements, {len(np.unique(src)):,} sources, "
        f"{len(np.unique(img)):,} images"
    )
    a, b = design(src, img, f, s, n_src, n_img)

    t0 = time.perf_counter()
    base_new, info = _normalise._baselines(src, img, f, s, n_src, n_img, 300)
    t_new = time.perf_counter() - t0
    t0 = time.perf_counter()
    x_old, itn = old_lsqr(a, b, args.lsqr_iter)
    t_old = time.perf_counter() - t0

    seen = np.isfinite(base_new)
    # the image terms that best go with the new baselines (weighted means), for its residual
    w2 = (1.0 / np.sqrt((s / f) ** 2 + 0.003**2)) ** 2
    log_b = np.log(np.where(seen, base_new, 1.0))
    num = np.bincount(img, weights=w2 * (np.log(f) - log_b[src]), minlength=n_img)
    den = np.bincount(img, weights=w2, minlength=n_img)
    x_new = np.concatenate([np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0), log_b])
    d = log_b[seen] - x_old[n_img:][seen]
    res_new, res_old = normal_residual(a, b, x_new), normal_residual(a, b, x_old)
    spread = float(np.max(np.abs(d - np.median(d))))
    print(f"multigrid CG: {info['iterations']} iterations, normal-equation residual "
          f"{res_new:.1e}, {info['n_groups']} linked group(s)")
    print(f"LSQR (previous): {itn} iterations (cap {args.lsqr_iter}), normal-equation "
          f"residual {res_old:.1e}")
    print(f"largest difference of log-baselines (after removing the free scale): {spread:.1e}")
    r = report("baseline solve, multigrid CG", t_new, "LSQR as before", t_old)
    t0 = time.perf_counter()
    nrm = w.sources.normalisation()
    print(f"w.sources.normalisation() end to end: {time.perf_counter() - t0:.1f} s, "
          f"{len(nrm.references):,} references, converged: {nrm.diagnostics['converged']}")
    v = Verdicts("bench_normalisation")
    v.at_least("baseline solve: LSQR / multigrid CG (speed-up)", 1 / r, 1.0)
    v.at_most("multigrid CG normal-equation residual", res_new, 1e-9, unit="")
    v.true("multigrid CG at least as converged as LSQR", res_new <= res_old)
    v.agree("log-baselines, CG vs LSQR (free scale removed)", spread, 0.01)
    v.true("w.sources.normalisation() converged", bool(nrm.diagnostics["converged"]))
    return v.finish()


if __name__ == "__main__":
    sys.exit(main())
