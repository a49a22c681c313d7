"""The demo product writers produce real files that native readers see as their truth says.

Everything is reopened with astropy.io.fits / astropy.wcs and casacore.tables, never with the
writers' own code; caltables and MS subtables are also compared with real CASA-written samples.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from casacore import tables  # a missing casacore must fail, not skip

from dsa110_ws.demo.cal_writer import (
    make_bandpass_solutions,
    make_delay_solutions,
    make_gain_solutions,
    write_caltable,
)
from dsa110_ws.demo.fits_writer import beam_psf, forced_photometry, write_image
from dsa110_ws.demo.ms_writer import dsa110_layout, write_ms

WIDTH_HZ = 0.244140625e6 * 8
SPWS = [1.311e9 + WIDTH_HZ * np.arange(16), 1.405e9 + WIDTH_HZ * np.arange(16)]
T0_MJD_S = 60690.5 * 86400.0
INT_S = 12.884902
IMAGE = {
    "center_ra_deg": 150.0, "center_dec_deg": 40.0, "npix": 256, "cell_arcsec": 3.0,
    "freq_hz": 1.405e9, "bandwidth_hz": 187.5e6, "date_obs": "2025-01-15T03:04:05.500",
}  # fmt: skip
BEAM = (18.0, 12.0, 30.0)


def _open(path):
    return tables.table(str(path), ack=False)


def _col(path, column):
    with _open(path) as tb:
        return tb.getcol(column)


def _colnames(path):
    with _open(path) as tb:
        return tb.colnames()


# --------------------------------------------------------------------------- FITS images


def test_beam_psf_peak_fwhm_and_position_angle():
    psf = beam_psf((41, 41), 20.0, 20.0, 8.0, 4.0, 0.0)
    assert psf[20, 20] == pytest.approx(1.0)
    assert psf[24, 20] == pytest.approx(0.5)  # half the major FWHM north (+y)
    assert psf[20, 22] == pytest.approx(0.5)  # half the minor FWHM along x
    east = beam_psf((41, 41), 20.0, 20.0, 8.0, 4.0, 90.0)
    assert east[20, 16] == pytest.approx(0.5)  # PA 90: major axis east, i.e. towards -x
    stack = beam_psf((41, 41), np.array([10.0, 20.5]), np.array([10.0, 20.0]), 8.0, 4.0, 45.0)
    assert stack.shape == (2, 41, 41)
    assert stack[1].sum() == pytest.approx(np.pi / (4 * np.log(2)) * 8 * 4, rel=1e-3)


def test_write_image_header_and_wcs(tmp_path):
    path = tmp_path / "img.fits"
    out = write_image(
        path, **IMAGE, noise_jy=1e-3, sources=np.empty((0, 3)), beam=BEAM, object_name="obj",
        rng=np.random.default_rng(1),
    )  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img.fits"]  # no temp file left
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the header must not need astropy's fixes
        with fits.open(path) as hdul:
            header, data = hdul[0].header, hdul[0].data
            wcs = WCS(header)
    assert data.shape == (1, 1, 256, 256) and data.dtype == np.dtype(">f4")
    assert [header[f"CTYPE{i}"] for i in range(1, 5)] == ["RA---SIN", "DEC--SIN", "FREQ", "STOKES"]
    assert header["CRPIX1"] == header["CRPIX2"] == 129.0
    assert header["CDELT1"] == pytest.approx(-3.0 / 3600) and header["CDELT2"] > 0
    assert header["BUNIT"] == "Jy/beam"
    assert (header["BMAJ"], header["BMIN"], header["BPA"]) == pytest.approx(
        (18.0 / 3600, 12.0 / 3600, 30.0)
    )
    assert header["CRVAL3"] == header["RESTFRQ"] == 1.405e9 and header["CDELT3"] == 187.5e6
    assert header["DATE-OBS"] == IMAGE["date_obs"] and header["EQUINOX"] == 2000.0
    assert (header["TELESCOP"], header["OBJECT"], header["RADESYS"]) == ("DSA-110", "obj", "FK5")
    centre = wcs.celestial.pixel_to_world(128, 128)
    assert centre.ra.deg == pytest.approx(150.0) and centre.dec.deg == pytest.approx(40.0)
    assert out["header"]["crpix1"] == 129.0 and out["n_sources_injected"] == 0
    assert np.std(data) == pytest.approx(1e-3, rel=0.02)
    assert out["noise_rms_jy"] == pytest.approx(float(np.std(data)), rel=1e-4)


def test_injected_sources_land_where_the_wcs_says(tmp_path):
    path = tmp_path / "img.fits"
    sources = [[150.0, 40.0, 0.5], [150.05, 40.03, 0.2], [149.97, 39.96, 1.0], [160.0, 40.0, 9.0]]
    out = write_image(
        path, **IMAGE, noise_jy=1e-4, sources=sources, beam=BEAM, gain=1.2,
        rng=np.random.default_rng(2),
    )  # fmt: skip
    assert out["n_sources_injected"] == 3 and list(out["injected_index"]) == [0, 1, 2]
    with fits.open(path) as hdul:
        plane, wcs = hdul[0].data[0, 0], WCS(hdul[0].header).celestial
    x, y = wcs.world_to_pixel_values(np.array(sources)[:3, 0], np.array(sources)[:3, 1])
    np.testing.assert_allclose(out["pixel_x"], x, atol=1e-6)
    np.testing.assert_allclose(out["pixel_y"], y, atol=1e-6)
    peaks = plane[np.rint(y).astype(int), np.rint(x).astype(int)]
    np.testing.assert_allclose(peaks, 1.2 * np.array([0.5, 0.2, 1.0]), rtol=0.03)
    assert plane[128, 128] == pytest.approx(0.6, rel=1e-3)  # exactly on a pixel centre
    assert out["data_max_jyb"] == pytest.approx(float(plane.max()))


def test_broken_beam_and_nan_box(tmp_path):
    path = tmp_path / "broken.fits"
    out = write_image(
        path, **IMAGE, noise_jy=1e-3, sources=[[150.0, 40.0, 1.0]], beam=None,
        nan_box=(10, 30, 40, 45), rng=np.random.default_rng(3),
    )  # fmt: skip
    with fits.open(path) as hdul:
        header, plane = hdul[0].header, hdul[0].data[0, 0]
    assert not {"BMAJ", "BMIN", "BPA"} & set(header)
    assert int(np.isnan(plane).sum()) == out["n_nan_pixels"] == 20 * 5
    assert np.isnan(plane[40:45, 10:30]).all() and np.isfinite(plane[45:, :]).all()
    assert plane[128, 128] == pytest.approx(1.0, abs=5e-3)  # still injected (default beam)


def test_forced_photometry_recovers_fluxes(tmp_path):
    path = tmp_path / "phot.fits"
    rng = np.random.default_rng(4)
    grid = np.arange(-3, 4) * 0.025  # 30 pixels = 5 beams apart: no blending
    dec = (40.0 + grid[:, None] + rng.uniform(-0.002, 0.002, (7, 7))).ravel()
    ra = 150.0 + (grid[None, :] + rng.uniform(-0.002, 0.002, (7, 7))).ravel() / np.cos(
        np.deg2rad(dec)
    )
    flux = rng.uniform(0.01, 0.2, 49)
    write_image(
        path, **IMAGE, noise_jy=2e-3, sources=np.column_stack([ra, dec, flux]), beam=BEAM,
        gain=0.9, nan_box=(0, 40, 0, 256), rng=rng,
    )  # fmt: skip
    with fits.open(path) as hdul:
        plane, wcs = hdul[0].data[0, 0].astype(float), WCS(hdul[0].header)
    probe_ra = np.append(ra, [150.0 + 0.3, 150.0])  # last-but-one: off the image
    probe_dec = np.append(dec, [40.0, 40.0 + 0.1035])  # last: stamp crosses the top edge
    got, err, peak = forced_photometry(
        plane, wcs, probe_ra, probe_dec, bmaj_arcsec=18.0, bmin_arcsec=12.0, bpa_deg=30.0,
        cell_arcsec=3.0, noise_jy=2e-3,
    )  # fmt: skip
    assert got.shape == err.shape == peak.shape == (49 + 2,)
    x, _ = wcs.celestial.world_to_pixel_values(ra, dec)
    stamp_half = int(np.ceil(1.5 * 6.0))  # stamp of ~3 FWHM of the 6-pixel major axis
    blanked = np.rint(x) - stamp_half <= 39  # stamp reaches into the NaN columns
    assert np.isnan(got[:49][blanked]).all() and np.isfinite(got[:49][~blanked]).all()
    pull = (got[:49] - 0.9 * flux)[~blanked] / err[:49][~blanked]
    assert np.abs(pull).max() < 4.5 and abs(np.mean(pull)) < 1.0
    assert np.isnan(got[49]) and np.isnan(peak[49]) and np.isnan(got[50])
    assert np.isfinite(peak[50])
    psf = beam_psf((19, 19), 9.0, 9.0, 6.0, 4.0, 30.0)
    assert err[~np.isnan(err)][0] == pytest.approx(2e-3 / np.sqrt(np.sum(psf**2)), rel=0.02)


# --------------------------------------------------------------------------- Measurement Sets


def _times(n):
    return T0_MJD_S + INT_S * (np.arange(n) + 0.5)


@pytest.fixture(scope="module")
def layout():
    return dsa110_layout(10, seed=1)


@pytest.fixture(scope="module")
def demo_ms(tmp_path_factory, layout):
    names, itrf, _ = layout
    path = tmp_path_factory.mktemp("ms") / "demo.ms"
    truth = write_ms(
        path, antenna_names=names, antenna_itrf_m=itrf, times_mjd_s=_times(12),
        integration_s=INT_S, spw_freqs_hz=SPWS, field_name="drift_0", field_ra_deg=200.0,
        field_dec_deg=40.0, bad_antenna=7, bad_channels=slice(10, 13), rfi_fraction=0.02,
        scan_length_integrations=6, rng=np.random.default_rng(5),
    )  # fmt: skip
    return path, truth


def test_layout_is_a_t_near_ovro(layout):
    from astropy.coordinates import EarthLocation

    names, itrf, enu = layout
    assert names[:3] == ["1", "2", "3"] and itrf.shape == (10, 3) and enu.shape == (10, 2)
    loc = EarthLocation.from_geocentric(*itrf.T, unit="m")
    assert np.allclose(loc.lat.deg, 37.2339, atol=0.02) and np.allclose(
        loc.lon.deg, -118.2825, atol=0.02
    )
    assert np.allclose(loc.height.to_value("m"), 1222.0, atol=1.0)
    on_ew, on_ns = enu[:, 1] == 0, enu[:, 0] == 0
    assert (on_ew | on_ns).all() and on_ew.sum() == 7 and (enu[on_ns, 1] > 0).all()
    assert np.ptp(enu[on_ew, 0]) > 1000


def test_ms_subtables_match_inputs(demo_ms, layout):
    path, truth = demo_ms
    with _open(path) as ms:
        assert ms.getdminfo()  # data managers readable
        keywords = ms.getkeywords()
        assert ms.info()["type"] == "Measurement Set"
    for sub in ("ANTENNA", "SPECTRAL_WINDOW", "FIELD", "POLARIZATION", "DATA_DESCRIPTION",
                "OBSERVATION", "FEED"):  # fmt: skip
        assert keywords[sub].endswith(f"/{sub}")
    names, itrf, _ = layout
    assert _col(path / "ANTENNA", "NAME") == names == truth["antenna_names"]
    np.testing.assert_allclose(_col(path / "ANTENNA", "POSITION"), itrf)
    assert (_col(path / "ANTENNA", "DISH_DIAMETER") == 4.65).all()
    with _open(path / "SPECTRAL_WINDOW") as spw:
        assert list(spw.getcol("NUM_CHAN")) == [16, 16]
        np.testing.assert_array_equal(spw.getcol("CHAN_FREQ"), np.array(SPWS))
        assert spw.getcol("TOTAL_BANDWIDTH") == pytest.approx([16 * WIDTH_HZ] * 2)
    assert [s["freq_min_hz"] for s in truth["spws"]] == [SPWS[0][0], SPWS[1][0]]
    phase_dir = np.rad2deg(_col(path / "FIELD", "PHASE_DIR"))[0, 0]
    assert phase_dir[0] % 360 == pytest.approx(200.0) and phase_dir[1] == pytest.approx(40.0)
    assert truth["fields"] == [{"name": "drift_0", "ra_deg": 200.0, "dec_deg": 40.0}]
    with _open(path / "FIELD") as field:
        assert field.getcolkeyword("PHASE_DIR", "MEASINFO")["Ref"] == "J2000"
    assert _col(path / "POLARIZATION", "CORR_TYPE").tolist() == [[9, 12]]
    assert truth["corr_types"] == [9, 12] and truth["correlations"] == ["XX", "YY"]
    assert _col(path / "DATA_DESCRIPTION", "SPECTRAL_WINDOW_ID").tolist() == [0, 1]
    assert _col(path / "OBSERVATION", "TELESCOPE_NAME") == ["DSA_110"]


def test_ms_main_table_matches_truth(demo_ms):
    path, truth = demo_ms
    with _open(path) as ms:
        assert ms.nrows() == truth["n_rows"] == 12 * 2 * 55
        names = ("TIME", "ANTENNA1", "ANTENNA2", "DATA_DESC_ID", "SCAN_NUMBER", "FLAG",
                 "FLAG_ROW", "DATA", "INTERVAL")  # fmt: skip
        cols = {c: ms.getcol(c) for c in names}
        assert ms.getcolkeyword("TIME", "MEASINFO")["Ref"] == "UTC"
    assert cols["TIME"].min() / 86400 == truth["time_start_mjd"]
    assert cols["TIME"].max() / 86400 == truth["time_end_mjd"]
    assert (cols["INTERVAL"] == INT_S).all() and truth["integration_s"] == INT_S
    assert sorted(set(cols["SCAN_NUMBER"])) == truth["scans"] == [1, 2]
    assert (np.diff(cols["TIME"]) >= 0).all() and (cols["ANTENNA1"] <= cols["ANTENNA2"]).all()
    assert list(cols["DATA_DESC_ID"][54:57]) == [0, 1, 1]  # time, then spw, then baseline
    used = np.union1d(cols["ANTENNA1"], cols["ANTENNA2"])
    assert used.size == truth["n_antennas_with_data"] == truth["n_antennas"] == 10
    flag = cols["FLAG"]
    assert flag.shape == cols["DATA"].shape == (1320, 16, 2)
    assert int(flag.sum()) == truth["n_flagged"] and flag.size == truth["n_visibilities"]
    assert flag.mean() == truth["flag_fraction"]
    cross = cols["ANTENNA1"] != cols["ANTENNA2"]
    assert flag[cross].mean() == truth["flag_fraction_cross"]
    for ant, name in enumerate(truth["antenna_names"]):
        touch = (cols["ANTENNA1"] == ant) | (cols["ANTENNA2"] == ant)
        assert flag[touch].mean() == truth["flag_fraction_per_antenna"][name]
    assert truth["antennas_fully_flagged"] == ["8"]
    assert flag[:, 10:13].all()
    np.testing.assert_array_equal(cols["FLAG_ROW"], flag.all(axis=(1, 2)))
    good = cross & ~cols["FLAG_ROW"]
    amp = np.abs(cols["DATA"][good][~flag[good]])
    assert np.median(amp) == pytest.approx(1.0, abs=0.1)


def test_ms_uvw_agrees_with_casacore_derived_columns(demo_ms, tmp_path):
    """casacore's DerivedMSCal engine recomputes UVW from ANTENNA, FIELD and TIME."""
    import shutil

    from casacore.tables import msutil

    path = tmp_path / "copy.ms"
    shutil.copytree(demo_ms[0], path)
    msutil.addDerivedMSCal(str(path))
    with _open(path) as ms:
        ours, theirs = ms.getcol("UVW"), ms.getcol("UVW_J2000")
        a1, a2 = ms.getcol("ANTENNA1"), ms.getcol("ANTENNA2")
        assert ms.getcolkeyword("UVW", "MEASINFO")["Ref"] == "J2000"
    pos = _col(path / "ANTENNA", "POSITION")
    length = np.linalg.norm(pos[a2] - pos[a1], axis=1)
    assert length.max() > 1000
    assert (np.linalg.norm(ours - theirs, axis=1) <= 1e-3 * length + 1e-9).all()
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), length, rtol=1e-9)


def test_ms_variants_and_casacore_utilities(tmp_path, layout):
    from casacore.tables import msutil

    names, itrf, _ = layout
    path = tmp_path / "variant.ms"
    truth = write_ms(
        path, antenna_names=names, antenna_itrf_m=itrf, times_mjd_s=_times(4),
        integration_s=INT_S, spw_freqs_hz=[SPWS[0], SPWS[1][:8]], field_name="f",
        field_ra_deg=359.5, field_dec_deg=-10.0, correlations=("XX", "XY", "YX", "YY"),
        include_autos=False, missing_antenna=2, rng=np.random.default_rng(6),
    )  # fmt: skip
    assert truth["n_antennas"] == 10 and truth["n_antennas_with_data"] == 9
    assert "3" not in truth["flag_fraction_per_antenna"] and truth["flag_fraction"] == 0.0
    with _open(path) as ms:
        assert ms.nrows() == truth["n_rows"] == 4 * 2 * 36
        assert ms.getcell("DATA", 0).shape == (16, 4) and ms.getcell("DATA", 36).shape == (8, 4)
        assert not (ms.getcol("ANTENNA1") == ms.getcol("ANTENNA2")).any()
    with _open(path / "POLARIZATION") as pol:
        assert pol.getcell("CORR_TYPE", 0).tolist() == [9, 10, 11, 12]
        assert pol.getcell("CORR_PRODUCT", 0).tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert np.rad2deg(_col(path / "FIELD", "PHASE_DIR")[0, 0, 0]) % 360 == pytest.approx(359.5)
    msutil.addImagingColumns(str(path), ack=False)  # follows the SPECTRAL_WINDOW keyword link
    with _open(path) as ms:
        assert {"MODEL_DATA", "CORRECTED_DATA", "IMAGING_WEIGHT"} <= set(ms.colnames())
        selection = ms.getcolkeyword("MODEL_DATA", "CHANNEL_SELECTION")
        assert selection.tolist() == [[0, 16], [0, 8]]


def test_ms_structure_matches_casa_sample(demo_ms, casa_samples):
    path, _ = demo_ms
    sample = casa_samples / "vla_3c273_xband.ms"
    with _open(sample) as ref, _open(path) as ours:
        assert set(ref.colnames()) - {"WEIGHT_SPECTRUM"} <= set(ours.colnames())
        for col in ("DATA", "FLAG", "UVW", "TIME"):
            assert ours.getcoldesc(col)["valueType"] == ref.getcoldesc(col)["valueType"]
    for sub in ("ANTENNA", "SPECTRAL_WINDOW", "FIELD", "POLARIZATION", "OBSERVATION", "FEED"):
        assert set(_colnames(sample / sub)) <= set(_colnames(path / sub)), sub


# --------------------------------------------------------------------------- caltables

_CAL_COLUMNS = [
    "TIME", "FIELD_ID", "SPECTRAL_WINDOW_ID", "ANTENNA1", "ANTENNA2", "INTERVAL", "SCAN_NUMBER",
    "OBSERVATION_ID", "{param}", "PARAMERR", "FLAG", "SNR", "WEIGHT",
]  # fmt: skip


def _write_cal(path, layout, solutions, n_times, spw_freqs):
    names, itrf, _ = layout
    return write_caltable(
        path, **solutions, times_mjd_s=T0_MJD_S + 60.0 * np.arange(n_times),
        antenna_names=names, antenna_itrf_m=itrf, spw_freqs_hz=spw_freqs, refant=2,
        field_name="3C286", field_ra_deg=202.7845, field_dec_deg=30.5092, ms_name="/data/cal.ms",
    )  # fmt: skip


@pytest.mark.parametrize("kind", ["K", "B", "G"])
def test_caltable_round_trip(tmp_path, layout, kind):
    one_chan = [f[8:9] for f in SPWS]
    make = {
        "K": lambda: (make_delay_solutions(1, 2, 10, refant=2, dead_antenna=4, rng=7), 1, one_chan),
        "B": lambda: (make_bandpass_solutions(1, SPWS, 10, refant=2, flag_fraction=0.1,
                                              dead_antenna=4, rng=7), 1, SPWS),
        "G": lambda: (make_gain_solutions(6, 2, 10, refant=2, flag_fraction=0.1,
                                          dead_antenna=4, rng=7), 6, one_chan),
    }  # fmt: skip
    solutions, n_times, freqs = make[kind]()
    path = tmp_path / f"demo.{kind}0"
    truth = _write_cal(path, layout, solutions, n_times, freqs)
    param = "FPARAM" if kind == "K" else "CPARAM"
    with _open(path) as tb:
        keywords, info = tb.getkeywords(), tb.info()
        assert tb.colnames() == [c.format(param=param) for c in _CAL_COLUMNS]
        assert tb.nrows() == truth["n_rows"] == n_times * 2 * 10
        values, flag = tb.getcol(param), tb.getcol("FLAG")
        ant1, ant2, snr = tb.getcol("ANTENNA1"), tb.getcol("ANTENNA2"), tb.getcol("SNR")
        assert not tb.iscelldefined("WEIGHT", 0)  # as CASA leaves it
    assert keywords["VisCal"] == truth["table_type"] == f"{kind} Jones" == info["subType"]
    assert keywords["ParType"] == ("Float" if kind == "K" else "Complex")
    assert (keywords["MSName"], keywords["PolBasis"], info["type"]) == (
        "/data/cal.ms", "unknown", "Calibration")  # fmt: skip
    for sub in ("OBSERVATION", "ANTENNA", "FIELD", "SPECTRAL_WINDOW", "HISTORY"):
        assert keywords[sub].endswith(f"/{sub}")
    assert _col(path / "ANTENNA", "NAME") == layout[0]
    assert list(_col(path / "SPECTRAL_WINDOW", "NUM_CHAN")) == [len(f) for f in freqs]
    assert values.shape == flag.shape == (truth["n_rows"], len(freqs[0]), 2)
    assert flag.size == truth["n_solutions"] and flag.mean() == truth["flag_fraction"]
    np.testing.assert_array_equal(values, truth["params"])
    assert (ant2 == 2).all() and list(ant1[:3]) == [0, 1, 2] and truth["refant_name"] == "3"
    assert flag[ant1 == 4].all() and truth["fully_flagged_antennas"] == ["5"]
    good = ~flag
    assert snr[good].min() >= 20 and snr[good].max() <= 100 and (snr[flag] < 3).all()
    if kind == "K":
        assert (values[ant1 == 2] == 0).all() and 0.3 < np.abs(values[good]).mean() < 10
    else:
        assert np.angle(values[ant1 == 2]) == pytest.approx(0.0, abs=1e-6)
        assert np.abs(values[good]).min() > 0.7 and np.abs(values[good]).max() < 1.3
    if kind == "G":  # phases drift by a few degrees over the 5 solution intervals
        rel = np.angle(values[ant1 == 0][-2:] / values[ant1 == 0][:2], deg=True)
        assert 0.01 < np.abs(rel).max() < 30


def test_caltable_structure_matches_casa_sample(tmp_path, layout, casa_samples):
    sample = casa_samples / "vla_ngc5921_bandpass.B0"
    path = tmp_path / "demo.B0"
    _write_cal(path, layout, make_bandpass_solutions(1, SPWS, 10, refant=2, rng=8), 1, SPWS)
    with _open(sample) as ref, _open(path) as ours:
        assert list(ours.getkeywords()) == list(ref.getkeywords())
        assert ours.colnames() == ref.colnames()
        for col in ref.colnames():
            mine, theirs = ours.getcoldesc(col), ref.getcoldesc(col)
            for key in ("valueType", "ndim", "keywords", "dataManagerType", "option"):
                assert mine.get(key) == theirs.get(key), (col, key)
        assert ours.getdminfo()["*1"]["TYPE"] == ref.getdminfo()["*1"]["TYPE"]
    for sub in ("OBSERVATION", "ANTENNA", "FIELD", "SPECTRAL_WINDOW", "HISTORY"):
        assert _colnames(path / sub) == _colnames(sample / sub), sub


def test_caltable_rejects_mismatched_shapes(tmp_path, layout):
    solutions = make_gain_solutions(2, 2, 10, rng=9)
    with pytest.raises(ValueError, match=r"\(20, n_chan, n_corr\) for 1 times x 2 spws x 10 ants"):
        _write_cal(tmp_path / "bad.G0", layout, solutions, 1, [f[8:9] for f in SPWS])
    with pytest.raises(ValueError, match=r"every spw must have n_chan channels \(got \[16\]\)"):
        _write_cal(tmp_path / "bad.G0", layout, solutions, 2, SPWS)
    with pytest.raises(ValueError, match="par_type must be 'Float' or 'Complex'"):
        _write_cal(tmp_path / "bad.G0", layout, {**solutions, "par_type": "Double"}, 2, SPWS)
    assert not list(tmp_path.iterdir())
