"""w.qa.image: the demo's bad images graded bad for the right reason, the rest good; thresholds
from settings; the JSON record; caching."""

from __future__ import annotations

import json

import numpy as np
import pytest

import dsa110_ws
from dsa110_ws.errors import ConfigurationError
from dsa110_ws.services.products.qa import IMAGE_QA_DEFAULTS

#: bad_reason in the truth file -> the one check that must fail.
EXPECTED_FAILURE = {
    "high_noise": "rms_jy",
    "nan_region": "blanked_fraction",
    "missing_beam": "beam",
}


def test_bad_images_are_bad_for_the_right_reason_and_the_rest_good(workspace, truth):
    for im in truth["images"]:
        r = workspace.qa.image(im["path"])
        failed = {c.metric for c in r.checks if c.verdict == "fail"}
        warned = {c.metric for c in r.checks if c.verdict == "warn"}
        if im["bad_reason"] is None:
            assert r.grade == "good" and not failed and not warned, (im["path"], r.reasons)
        else:
            assert r.grade == "bad" and failed == {EXPECTED_FAILURE[im["bad_reason"]]}, r.reasons


def test_metrics_match_the_truth(workspace, truth):
    for im in truth["images"][:16]:
        r = workspace.qa.image(im["path"])
        assert r.rms_jy == pytest.approx(im["noise_jy"], rel=0.05)
        assert r.peak_fit_jy == pytest.approx(im["brightest_peak_jy"], rel=0.05)
        assert r.dynamic_range == pytest.approx(r.peak_jy / r.rms_jy)
        assert (r.beam_major_arcsec, r.beam_minor_arcsec, r.beam_pa_deg) == pytest.approx(
            im["beam"]
        )
        assert 0 < r.n_islands <= im["n_injected"] and r.blanked_fraction == 0.0


def test_peak_is_the_maximum_pixel_as_casa_imstat_on_every_image(workspace, truth):
    """CASA's convention: peak_jy is imstat's max (the brightest pixel), read here with astropy;
    the fitted sub-pixel peak is a separate field and never below it."""
    from astropy.io import fits

    for im in truth["images"]:
        plane = fits.getdata(im["path"])[0, 0]
        y, x = np.unravel_index(np.nanargmax(plane), plane.shape)
        r = workspace.qa.image(im["path"])
        assert r.peak_jy == float(np.nanmax(plane)), im["path"]
        assert r.peak_fit_jy >= r.peak_jy
        finite = plane[np.isfinite(plane)].astype(np.float64)
        assert r.median_jy == pytest.approx(float(np.median(finite)), rel=1e-6, abs=1e-12)
        s = workspace.fits.stats(im["path"])
        assert (s.peak_x, s.peak_y) == (x, y) and s.max_jy == r.peak_jy


def test_high_noise_reason_names_value_and_threshold(workspace, truth):
    im = next(i for i in truth["images"] if i["bad_reason"] == "high_noise")
    c = workspace.qa.image(im["path"]).check("rms_jy")
    assert c.verdict == "fail" and c.threshold == IMAGE_QA_DEFAULTS["rms_max_jy"][0]
    assert c.value == pytest.approx(8e-3, rel=0.05)
    assert "0.00" in c.reason and "above" in c.reason


def test_json_record_is_stable(workspace, truth):
    d = workspace.qa.image(truth["images"][0]["path"]).to_dict()
    for key in (
        "rms_jy",
        "peak_jy",
        "dynamic_range",
        "beam_major_arcsec",
        "beam_minor_arcsec",
        "beam_pa_deg",
        "n_islands",
        "grade",
        "checks",
        "blanked_fraction",
        "reasons",
    ):
        assert key in d
    assert set(d["checks"][0]) == {
        "metric",
        "value",
        "threshold",
        "comparison",
        "verdict",
        "reason",
    }
    json.dumps(d, allow_nan=False)


def test_thresholds_come_from_settings(demo_dir, truth, tmp_path):
    settings = (demo_dir / "settings.toml").read_text()
    settings = settings.replace('data_roots = ["data"]', f'data_roots = ["{demo_dir / "data"}"]')
    settings = settings.replace('log_roots = ["logs"]', f'log_roots = ["{demo_dir / "logs"}"]')
    settings = settings.replace('"pipeline.sqlite3"', f'"{demo_dir / "pipeline.sqlite3"}"')
    (tmp_path / "strict.toml").write_text(settings + "\n[qa.image]\nrms_max_jy = 0.0009\n")
    w = dsa110_ws.connect(tmp_path / "strict.toml", state_dir=tmp_path / "state")
    try:
        assert w.qa.thresholds("image")["rms_max_jy"] == 0.0009
        r = w.qa.image(truth["images"][0]["path"])
        assert r.grade == "bad" and r.check("rms_jy").threshold == 0.0009
        relaxed = w.qa.image(truth["images"][0]["path"], thresholds={"rms_max_jy": 0.01})
        assert relaxed.grade == "good"  # a per-call override, cached separately
    finally:
        w.close()
    (tmp_path / "typo.toml").write_text(settings + "\n[qa.image]\nrms_max = 0.001\n")
    with pytest.raises(ConfigurationError, match="unknown key 'rms_max'"):  # at start-up
        dsa110_ws.connect(tmp_path / "typo.toml", state_dir=tmp_path / "state2")
    w = dsa110_ws.connect(tmp_path / "strict.toml", state_dir=tmp_path / "state3")
    try:
        with pytest.raises(ConfigurationError, match="rms_max"):  # a per-call typo too
            w.qa.image(truth["images"][0]["path"], thresholds={"rms_max": 0.01})
    finally:
        w.close()


def test_every_default_threshold_is_documented(workspace):
    from dsa110_ws.services.products.qa import CAL_QA_DEFAULTS

    for table in (IMAGE_QA_DEFAULTS, CAL_QA_DEFAULTS):
        for name, (value, doc) in table.items():
            assert isinstance(value, float) and len(doc) > 20, name
    assert workspace.qa.thresholds("cal")["flag_fraction_max"] == 0.5  # docs/science.md


def test_results_are_cached_and_equal(workspace, truth):
    path = truth["images"][3]["path"]
    first = workspace.qa.image(path)
    assert workspace.cache.stats()["by_kind"]["qa.image"]["n_entries"] == 1
    again = workspace.qa.image(path)
    assert again == first
    assert workspace.qa.image(path, use_cache=False) == first


@pytest.mark.parametrize(
    ("beam", "metric"),
    [((25.0, 20.0, 0.0), "beam_minor_pixels"), ((160.0, 40.0, 10.0), "beam_axis_ratio")],
)
def test_undersampled_and_elongated_beams_are_bad(scratch_ws, scratch_root, beam, metric):
    import numpy as np

    from dsa110_ws.demo.fits_writer import write_image

    path = scratch_root / "beam.fits"
    write_image(
        path,
        center_ra_deg=150.0,
        center_dec_deg=37.0,
        npix=96,
        cell_arcsec=20.0,
        freq_hz=1.4e9,
        bandwidth_hz=1e8,
        date_obs="2026-11-05T00:00:00",
        noise_jy=1e-3,
        sources=np.array([[150.0, 37.0, 0.5]]),
        rng=np.random.default_rng(0),
        beam=beam,
    )
    r = scratch_ws.qa.image(path)
    assert r.grade == "bad"
    assert {c.metric for c in r.checks if c.verdict == "fail"} == {metric}


def _imstat_chauvenet(x, zscore=3.0):
    """CASA imstat(algorithm='chauvenet', zscore=3): iterative clipping about the *mean* at
    zscore x the sample standard deviation (N - 1), from the classical statistics, until the
    number of points stops changing (casacore ChauvenetCriterionStatistics); with the
    classical median and medabsdevmed of every finite pixel."""
    x = x[np.isfinite(x)].astype(np.float64)
    keep, n_prev = x, -1
    while keep.size != n_prev:
        n_prev = keep.size
        m, s = keep.mean(), keep.std(ddof=1)
        keep = x[(x >= m - zscore * s) & (x <= m + zscore * s)]
    med = np.median(x)
    return keep.std(ddof=1), med, np.median(np.abs(x - med))


def test_noise_and_median_against_casas_imstat_definitions(workspace, truth):
    """docs/casa-conventions.md: rms_jy (clipped about the median) agrees with imstat's
    chauvenet sigma (clipped about the mean) to 0.1 %; median_jy is imstat's median and
    mad_rms_jy 1.4826 x its medabsdevmed."""
    from astropy.io import fits

    for im in truth["images"][::3]:
        sigma, med, mad = _imstat_chauvenet(fits.getdata(im["path"])[0, 0])
        s = workspace.fits.stats(im["path"])
        assert s.rms_jy == pytest.approx(sigma, rel=1e-3), im["path"]
        assert s.median_jy == pytest.approx(med, rel=1e-6, abs=1e-12)
        assert s.mad_rms_jy == pytest.approx(1.482602218505602 * mad, rel=1e-5)
