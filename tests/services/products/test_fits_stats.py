"""The robust-statistics kernel against independent computations (astropy, scipy, numpy)."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.stats import mad_std, sigma_clipped_stats
from scipy import ndimage

from dsa110_ws.demo.fits_writer import beam_psf
from dsa110_ws.services.products._imagestats import (
    SAMPLE_SIZE,
    find_islands,
    refine_peak,
    robust_stats,
)


def _sky(shape, *, sigma=1e-3, n_src=200, seed=0, offset=0.0):
    rng = np.random.default_rng(seed)
    data = rng.normal(offset, sigma, shape).astype(np.float32)
    ys, xs = rng.integers(0, shape[0], n_src), rng.integers(0, shape[1], n_src)
    data[ys, xs] += rng.uniform(20 * sigma, 1000 * sigma, n_src).astype(np.float32)
    return data


@pytest.mark.parametrize("shape", [(384, 384), (2048, 1536)])
def test_rms_equals_astropy_sigma_clipped_std(shape):
    data = _sky(shape, offset=2e-4)
    assert data.size > 2 * SAMPLE_SIZE or shape == (384, 384)  # both code paths
    st = robust_stats(data)
    _, med, std = sigma_clipped_stats(data, sigma=3, maxiters=20)
    assert st.rms == pytest.approx(float(std), rel=2e-3)
    assert st.median == pytest.approx(float(med), abs=2e-5)
    assert st.mad_rms == pytest.approx(float(mad_std(data)), rel=0.01)
    assert st.maximum == float(data.max()) and st.minimum == float(data.min())
    y, x = np.unravel_index(np.argmax(data), data.shape)
    assert st.max_xy == (x, y)


def test_non_finite_pixels_are_ignored_and_counted():
    data = _sky((300, 200))
    data[:50] = np.nan
    data[60, 7] = np.inf
    data[61, 8] = -np.inf
    st = robust_stats(data)
    finite = data[np.isfinite(data)]
    _, _, std = sigma_clipped_stats(finite, sigma=3, maxiters=20)
    assert st.n_finite == finite.size and st.n_pixels == data.size
    assert st.blanked_fraction == pytest.approx(1 - finite.size / data.size)
    assert st.rms == pytest.approx(float(std), rel=2e-3)
    assert st.maximum == float(finite.max())


def test_big_endian_input_gives_the_same_answer():
    data = _sky((512, 512))
    assert robust_stats(data.astype(">f4")) == robust_stats(data)


def test_degenerate_planes():
    empty = robust_stats(np.full((4, 4), np.nan))
    assert empty.n_finite == 0 and np.isnan(empty.rms) and empty.max_xy is None
    const = robust_stats(np.ones((4, 4)))
    assert const.rms == 0 and const.median == 1


def test_refine_peak_is_exact_for_gaussian_beams():
    for x0, y0, pa in [(20.3, 17.8, 30.0), (15.5, 15.5, 0.0), (22.9, 21.1, 120.0)]:
        img = 0.7 * beam_psf((40, 40), x0, y0, 3.0, 2.25, pa)
        y, x = np.unravel_index(np.argmax(img), img.shape)
        peak, fx, fy = refine_peak(img, int(x), int(y))
        assert peak == pytest.approx(0.7, rel=1e-6)
        assert (fx, fy) == pytest.approx((x0, y0), abs=1e-6)
        assert img[y, x] < peak or (x0, y0) == (x, y)


def test_refine_peak_falls_back_at_edges_and_blanks():
    img = np.zeros((5, 5))
    img[0, 2] = 1.0
    assert refine_peak(img, 2, 0) == (1.0, 2.0, 0.0)
    img = beam_psf((9, 9), 4.2, 4.0, 3, 3, 0)
    img[3, 3] = np.nan
    assert refine_peak(img, 4, 4) == (img[4, 4], 4.0, 4.0)


def test_find_islands_matches_scipy_labelling():
    data = _sky((700, 500), n_src=400, seed=4)
    data[100:103, 50:60] += 0.2  # an extended island
    data[300, 10] = data[301, 11] = 0.5  # diagonal neighbours: one island with 8-connectivity
    threshold = 5e-3
    n, peaks = find_islands(data, threshold)
    labels, n_ref = ndimage.label(data > threshold, structure=np.ones((3, 3)))
    assert n == n_ref
    ref_max = ndimage.maximum(data, labels, np.arange(1, n_ref + 1))
    np.testing.assert_allclose(peaks[:, 0], np.sort(ref_max)[::-1])
    for v, x, y in peaks[:20]:
        assert data[int(y), int(x)] == v
    assert find_islands(data, 10.0)[0] == 0
