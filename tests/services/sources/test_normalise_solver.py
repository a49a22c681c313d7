"""The reference-source least-squares solve: the exact weighted least-squares answer on a
drift-scan chain, one free scale per unlinked group of images, and a clear warning (not a
silent answer) when it stops at its iteration limit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dsa110_ws.services.sources import _normalise


def drift_chain(rng, n_img: int, per_src: int, noise: float, offset: int = 0):
    """Images along a drift scan; each source is seen in ``per_src`` consecutive images, so
    only overlapping neighbours share sources (the slow case for iterative solvers)."""
    gains = np.exp(rng.normal(0, 0.03, n_img))
    rows = []
    for k in range(n_img - per_src + 1):
        for j in range(3):  # three sources start in each image
            b = rng.uniform(0.2, 2.0)
            for i in range(k, k + per_src):
                f = b * gains[i] * np.exp(rng.normal(0, noise))
                rows.append((offset + 3 * k + j, i, f, 0.004 * f))
    src, img, f, s = (np.array(c) for c in zip(*rows, strict=True))
    return src, img, f.astype(float), s.astype(float), gains


def exact_baselines(src, img, f, s, n_src, n_img):
    """Dense weighted least squares (numpy lstsq) with the median image term fixed at 0."""
    wt = 1.0 / np.sqrt((s / f) ** 2 + 0.003**2)
    a = np.zeros((len(f), n_img + n_src))
    a[np.arange(len(f)), img] = wt
    a[np.arange(len(f)), n_img + src] = wt
    x = np.linalg.lstsq(a, np.log(f) * wt, rcond=None)[0]
    m = np.median(x[:n_img])
    return np.exp(x[n_img:] + m)


def test_baselines_equal_dense_least_squares_on_a_long_chain():
    rng = np.random.default_rng(5)
    src, img, f, s, _ = drift_chain(rng, 240, 4, 0.01)
    n_src, n_img = int(src.max()) + 1, 240
    got, info = _normalise._baselines(src, img, f, s, n_src, n_img, 300)
    want = exact_baselines(src, img, f, s, n_src, n_img)
    assert info["converged"] and info["n_groups"] == 1 and info["iterations"] > 0
    np.testing.assert_allclose(got, want, rtol=1e-8)


def test_unlinked_groups_keep_their_own_scale():
    rng = np.random.default_rng(6)
    a = drift_chain(rng, 60, 3, 0.0)
    b = drift_chain(rng, 50, 3, 0.0, offset=10_000)
    src = np.concatenate([a[0], b[0]])
    img = np.concatenate([a[1], b[1] + 60])  # no source is shared between the two groups
    f, s = np.concatenate([a[2], b[2]]), np.concatenate([a[3], b[3]])
    gains = np.concatenate([a[4], 7.0 * b[4]])  # the second group is 7x off overall
    # noiseless: the MAD is rounding, so clipping is turned off
    sol, refs, diag = _normalise.solve(
        src, img, f, s, int(src.max()) + 1, 110, snr_min=10, min_refs=3, clip_sigma=1e6
    )
    assert diag["converged"] and {d["n_groups"] for d in diag["solves"]} == {2}
    c = sol["correction"]
    assert sol["ok"].all()
    for part in (slice(0, 60), slice(60, 110)):  # noiseless: each group's gains, to rounding
        ratio = c[part] / gains[part]
        np.testing.assert_allclose(ratio / np.median(ratio), 1.0, rtol=1e-9)
    # each group is centred on 1 (the 7x of the second is its own business, not a correction)
    assert np.median(c[60:]) == pytest.approx(np.median(c[:60]), rel=1e-6)


def test_iteration_limit_is_reported_not_hidden(workspace):
    rows = workspace.repos.photometry.scan(
        ["source_id", "image_path", "obs_mjd", "flux_jy", "flux_err_jy"]
    )
    with pytest.warns(RuntimeWarning, match="Raise lsq_iter"):
        capped = _normalise.solve_frame(rows, lsq_iter=1)
    assert capped.diagnostics["converged"] is False
    full = _normalise.solve_frame(rows)
    assert full.diagnostics["converged"] is True
    assert all(d["relative_residual"] <= 1e-8 for d in full.diagnostics["solves"])
    assert isinstance(full.corrections, pd.DataFrame) and full.corrections["ok"].all()
