"""Forced photometry on the demo's real FITS images, against the demo's truth.json.

Oracles: the injected fluxes (truth.json: baseline flux x night factor x image gain), the
injected noise (white, so the error of a beam-matched amplitude is noise / sqrt(sum P^2)),
astropy's own WCS for which images hold a position, and the pixels of a transposed copy.
"""

from __future__ import annotations

import math
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dsa110_ws.errors import InvalidQueryError, NotFoundError

BEAM = (60.0, 45.0, 30.0)
CELL = 20.0
#: sqrt(sum P^2) of the demo's beam on its pixels: the white-noise error is noise / this.
WHITE = math.sqrt(math.pi * (BEAM[0] / CELL) * (BEAM[1] / CELL) / (8 * math.log(2)))
EMPTY = (151.1423687535772, 36.7368105065961)  # > 6 arcmin from every demo source


def _truth_flux(truth, var, path):
    img = {i["path"]: i for i in truth["images"]}[path]
    night = truth["nights"].index(img["night"])
    return var["flux_jy"] * var["night_factor"][night] * img["gain"], img["noise_jy"]


def _on_image(truth, ra, dec, margin_px):
    """Images whose pixels hold (ra, dec) at least ``margin_px`` from the edge, by astropy."""
    from astropy.io import fits
    from astropy.wcs import WCS, FITSFixedWarning

    out = set()
    for img in truth["images"]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FITSFixedWarning)
            h = fits.getheader(img["path"])
            x, y = WCS(h).celestial.world_to_pixel_values(ra, dec)
        n = h["NAXIS1"]
        if (
            margin_px - 0.5 <= x < n - 0.5 - margin_px
            and margin_px - 0.5 <= y < n - 0.5 - margin_px
        ):
            out.add(img["path"])
    return out


def test_an_ese_source_matches_the_truth_within_the_noise(ws, truth):
    ese = [v for v in truth["sources"]["variables"] if v["kind"] == "ese"]
    assert ese
    for var in ese:
        f = ws.sources.forced(var["source_id"])
        got = f[f["status"].isin(["detected", "upper_limit"])]
        assert len(got) >= 15
        expect = np.array([_truth_flux(truth, var, p) for p in got["image_path"]])
        z = (got["flux_jy"].to_numpy() - expect[:, 0]) / got["flux_err_jy"].to_numpy()
        assert np.max(np.abs(z)) < 4.0
        assert 0.6 < np.sqrt(np.mean(z**2)) < 1.5
        # the error is the white-noise error of the fit, measured from the pixels
        ratio = got["flux_err_jy"].to_numpy() * WHITE / expect[:, 1]
        assert np.all(np.abs(ratio - 1) < 0.2), ratio
        assert got["detected"].all() and got["upper_limit_jy"].isna().all()
        # the dip nights are fainter than the rest, as injected
        dips = {e["source_id"]: e["dip_nights"] for e in truth["sources"]["ese"]}
        lo, hi = (truth["nights"].index(n) for n in dips[var["source_id"]])
        night_of = {i["path"]: truth["nights"].index(i["night"]) for i in truth["images"]}
        inside = got["image_path"].map(night_of).between(lo, hi).to_numpy()
        assert inside.any() and (~inside).any()
        assert got["flux_jy"][inside].max() < got["flux_jy"][~inside].min()


def test_every_image_holding_the_position_gives_a_measurement_or_a_limit(ws, truth):
    var = next(v for v in truth["sources"]["variables"] if v["kind"] == "ese")
    rec = ws.sources.get(var["source_id"])
    f = ws.sources.forced(var["source_id"])
    half = math.ceil(1.5 * BEAM[0] / CELL)
    bad = {i["path"] for i in truth["images"] if i["bad_reason"] == "missing_beam"}
    expected = _on_image(truth, rec.ra_deg, rec.dec_deg, half) - bad
    covered = set(f.loc[f["status"].isin(["detected", "upper_limit"]), "image_path"])
    assert covered == expected
    assert set(f.loc[f["status"] == "no_beam", "image_path"]) == bad & set(f["image_path"])
    assert f["reason"][f["status"] == "no_beam"].str.contains("beam=").all()
    assert f.attrs["n_detected"] + f.attrs["n_upper_limits"] == len(covered)


def test_a_position_with_nothing_there_gives_upper_limits_only(ws, truth):
    f = ws.sources.forced(EMPTY)
    got = f[f["status"].isin(["detected", "upper_limit"])]
    assert len(got) >= 15 and (got["status"] == "upper_limit").all()
    assert not got["detected"].any() and got["source_id"].isna().all()
    noise = np.array(
        [{i["path"]: i["noise_jy"] for i in truth["images"]}[p] for p in got["image_path"]]
    )
    # a 3-sigma upper limit: three times the error, itself the white-noise error
    np.testing.assert_allclose(got["upper_limit_jy"], 3 * got["flux_err_jy"], rtol=1e-12)
    assert np.all(np.abs(got["upper_limit_jy"].to_numpy() * WHITE / (3 * noise) - 1) < 0.2)
    assert np.all(np.abs(got["snr"]) < 3)


def test_forced_lightcurve_and_its_plot(ws, truth):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    var = next(v for v in truth["sources"]["variables"] if v["kind"] == "ese")
    lc = ws.sources.lightcurve(var["source_id"], forced=True)
    assert (
        lc.attrs["flux_column"] == "forced" and lc["status"].isin(["detected", "upper_limit"]).all()
    )
    assert lc["mjd"].is_monotonic_increasing and lc["time_utc"].notna().all()
    # observation times come from the image's MS (the pipeline's own light curve has the same)
    pipeline = ws.sources.lightcurve(var["source_id"], normalised=False)
    both = lc.merge(pipeline, on="image_path", suffixes=("", "_p"))
    assert len(both) == len(lc)
    np.testing.assert_allclose(both["mjd"], both["mjd_p"], rtol=0, atol=1e-9)

    fig, ax = plt.subplots()
    ws.sources.plot_lightcurve(ws.sources.forced(EMPTY), ax=ax)
    arrows = [c for c in ax.containers if getattr(c, "has_yerr", False)]
    limits = ws.sources.forced(EMPTY)
    n = int((limits["status"] == "upper_limit").sum())
    # one container of upper limits holding one arrow per limit, at the limit (mJy)
    ul = [c for c in arrows if c.get_label() == "upper limit"]
    assert len(ul) == 1
    y = ul[0].lines[0].get_ydata()
    np.testing.assert_allclose(
        np.sort(y), np.sort(1e3 * limits["upper_limit_jy"].dropna().to_numpy()), rtol=1e-9
    )
    assert len(y) == n
    plt.close(fig)


def test_results_are_cached_and_the_pool_gives_the_same_answer(ws, truth):
    var = next(v for v in truth["sources"]["variables"] if v["kind"] == "sinusoid")
    first = ws.sources.forced(var["source_id"], use_cache=False)
    n_before = ws.cache.stats()["by_kind"]["forced"]["n_entries"]
    assert n_before >= len(first)
    again = ws.sources.forced(var["source_id"])
    pd.testing.assert_frame_equal(first, again)
    pooled = ws.sources.forced(var["source_id"], mode="processes", workers=2, use_cache=False)
    pd.testing.assert_frame_equal(first, pooled)
    assert ws.cache.stats()["by_kind"]["forced"]["n_entries"] == n_before


def test_a_rewritten_image_is_measured_again(scratch_ws, scratch_root, truth):
    src = next(i for i in truth["images"] if i["bad_reason"] is None)
    copy = scratch_root / "copy.fits"
    shutil.copy2(src["path"], copy)
    pos = (src["center_ra_deg"], src["center_dec_deg"])
    before = scratch_ws.sources.forced(pos, images=[copy])
    from astropy.io import fits

    with fits.open(copy, mode="update") as hdul:
        hdul[0].data = hdul[0].data * 2.0
    after = scratch_ws.sources.forced(pos, images=[copy])
    assert after["peak_jyb"][0] == pytest.approx(2 * before["peak_jyb"][0], rel=1e-5)
    assert before["time_source"][0] == "FITS MJD-OBS (start)"  # not a registered image


def test_the_beam_of_the_missing_beam_image_can_be_given(ws, truth):
    bad = next(i for i in truth["images"] if i["bad_reason"] == "missing_beam")
    pos = (bad["center_ra_deg"], bad["center_dec_deg"])
    f = ws.sources.forced(pos, images=[bad["path"]])
    assert f["status"][0] == "no_beam"
    g = ws.sources.forced(pos, images=[bad["path"]], beam=BEAM)
    assert g["status"][0] in ("detected", "upper_limit") and g["beam_source"][0] == "given"
    assert g["flux_err_jy"][0] * WHITE == pytest.approx(bad["noise_jy"], rel=0.2)


def test_transposed_axes_and_other_frames_measure_the_same(scratch_ws, scratch_root, truth):
    """A DEC-first copy of an image (pixels transposed, axis keywords swapped) and the
    original give the same flux at a source; so does an ICRS-labelled copy, shifted by the
    FK5-ICRS offset (milliarcseconds)."""
    from astropy.io import fits

    var = next(v for v in truth["sources"]["variables"] if v["kind"] == "ese")
    rec = scratch_ws.sources.get(var["source_id"])
    f = scratch_ws.sources.forced(var["source_id"])
    path = f.loc[f["status"] == "detected", "image_path"].iloc[0]
    with fits.open(path) as hdul:
        h, data = hdul[0].header.copy(), np.array(hdul[0].data[0, 0])
    flat = fits.Header()
    for k in ("BUNIT", "BMAJ", "BMIN", "BPA", "MJD-OBS", "EQUINOX", "RADESYS"):
        flat[k] = h[k]
    normal, swapped = flat.copy(), flat.copy()
    for k in ("CTYPE", "CRVAL", "CDELT", "CRPIX", "CUNIT"):
        normal[f"{k}1"], normal[f"{k}2"] = h[f"{k}1"], h[f"{k}2"]
        swapped[f"{k}1"], swapped[f"{k}2"] = h[f"{k}2"], h[f"{k}1"]
    fits.PrimaryHDU(data, normal).writeto(scratch_root / "normal.fits")
    fits.PrimaryHDU(np.ascontiguousarray(data.T), swapped).writeto(scratch_root / "swapped.fits")
    icrs = normal.copy()
    icrs["RADESYS"] = "ICRS"
    fits.PrimaryHDU(data, icrs).writeto(scratch_root / "icrs.fits")
    pos = (rec.ra_deg, rec.dec_deg)
    out = scratch_ws.sources.forced(
        pos, images=[scratch_root / n for n in ("normal.fits", "swapped.fits", "icrs.fits")]
    )
    ref = f.loc[f["image_path"] == path, "flux_jy"].iloc[0]
    assert out["flux_jy"].to_numpy() == pytest.approx([ref] * 3, rel=1e-4)
    np.testing.assert_allclose(out["flux_err_jy"], out["flux_err_jy"][0], rtol=1e-6)


def test_bad_requests_say_what_is_wrong(ws, truth, tmp_path):
    with pytest.raises(NotFoundError):
        ws.sources.forced("J000000.0+000000")
    with pytest.raises(InvalidQueryError, match="beam"):
        ws.sources.forced(EMPTY, beam=(-1, 2, 3))
    with pytest.raises(InvalidQueryError, match="detection_sigma"):
        ws.sources.forced(EMPTY, detection_sigma=0)
    with pytest.raises(InvalidQueryError, match="path"):
        ws.sources.forced(EMPTY, images=pd.DataFrame({"x": [1]}))
    with pytest.raises(InvalidQueryError):
        ws.sources.forced((10.0, 95.0))
    outside = tmp_path / "elsewhere.fits"
    shutil.copy2(truth["images"][0]["path"], outside)
    f = ws.sources.forced(EMPTY, images=[outside])
    assert f["status"][0] == "failed" and "data roots" in f["reason"][0]
    assert f.attrs["n_not_covering"] == 1


@pytest.mark.slow
def test_forced_photometry_on_a_dask_cluster(demo_dir, truth, tmp_path):
    import distributed  # a missing dask.distributed must fail, not skip

    import dsa110_ws

    var = next(v for v in truth["sources"]["variables"] if v["kind"] == "trend")
    local = dsa110_ws.connect(demo_dir / "settings.toml", state_dir=tmp_path / "local")
    expected = local.sources.forced(var["source_id"], mode="serial")
    local.close()
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        w = dsa110_ws.connect(
            demo_dir / "settings.toml",
            state_dir=tmp_path / "dask",
            dask_scheduler=cluster.scheduler_address,
        )
        try:
            got = w.sources.forced(var["source_id"], mode="dask")
            n_cached = w.cache.stats()["by_kind"]["forced"]["n_entries"]
        finally:
            w.close()
    pd.testing.assert_frame_equal(got, expected)
    assert n_cached == len(expected)  # the workers wrote the shared cache


def test_broken_files_fail_their_image_only(scratch_ws, scratch_root, truth):
    good = truth["images"][0]
    (scratch_root / "trunc.fits").write_bytes(Path(good["path"]).read_bytes()[:100_000])
    (scratch_root / "junk.fits").write_text("not a FITS file")
    (scratch_root / "empty.fits").write_bytes(b"")
    names = ["trunc.fits", "junk.fits", "empty.fits", "missing.fits"]
    pos = (good["center_ra_deg"], good["center_dec_deg"])
    f = scratch_ws.sources.forced(pos, images=[good["path"], *(scratch_root / n for n in names)])
    why = dict(zip(f["image_path"].map(lambda p: p.rsplit("/", 1)[-1]), f["reason"], strict=True))
    assert f.set_index("image_path").loc[good["path"], "status"] in ("detected", "upper_limit")
    assert (f["status"] == "failed").sum() == 4
    assert "truncated" in why["trunc.fits"] and "FITS" in why["junk.fits"]
    assert "empty" in why["empty.fits"] and "missing.fits" in why["missing.fits"]
    assert all("\n" not in r for r in why.values() if isinstance(r, str))


def test_auto_mode_uses_the_pool_only_for_many_images_and_free_cores(ws, monkeypatch):
    import os

    from dsa110_ws.services.sources import _forcedrun

    cores = os.cpu_count() or 1
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert _forcedrun.auto_mode(ws.batch, _forcedrun.SERIAL_BELOW - 1) == "serial"
    assert _forcedrun.auto_mode(ws.batch, 1000) == ("processes" if cores > 1 else "serial")
    monkeypatch.setattr(os, "getloadavg", lambda: (2.0 * cores, 0.0, 0.0))
    assert _forcedrun.auto_mode(ws.batch, 1000) == "serial"
    f = ws.sources.forced(EMPTY)
    assert f.attrs["mode"] == "serial" and f.attrs["seconds"] >= 0
