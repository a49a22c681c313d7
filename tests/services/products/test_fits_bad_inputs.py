"""Broken and unusual FITS inputs: each is a typed error with a clear message, or a graded
result -- never an unhandled exception (and no warnings escape: pytest runs with -W error)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from astropy.io import fits

from dsa110_ws.demo.fits_writer import write_image
from dsa110_ws.errors import (
    DataUnavailableError,
    InvalidQueryError,
    NotPermittedError,
    WorkspaceError,
)


def _good(path, **kw):
    args = dict(
        center_ra_deg=150.0,
        center_dec_deg=37.0,
        npix=64,
        cell_arcsec=30.0,
        freq_hz=1.4e9,
        bandwidth_hz=1e8,
        date_obs="2026-11-05T00:00:00",
        noise_jy=1e-3,
        sources=np.array([[150.0, 37.0, 0.5]]),
        rng=np.random.default_rng(0),
        beam=(90.0, 60.0, 0.0),
    )
    args.update(kw)
    write_image(path, **args)
    return path


def _calls(w, path):
    """Every entry point that opens a FITS image."""
    return [
        lambda: w.fits.header(path),
        lambda: w.fits.plane(path),
        lambda: w.fits.stats(path),
        lambda: w.fits.thumbnail(path),
        lambda: w.qa.image(path),
    ]


def _all_raise(w, path, exc_type, match):
    for call in _calls(w, path):
        with pytest.raises(exc_type, match=match) as info:
            call()
        assert "\n" not in str(info.value).strip()  # one readable line


def test_truncated_file(scratch_ws, scratch_root):
    full = _good(scratch_root / "full.fits").read_bytes()
    (scratch_root / "trunc.fits").write_bytes(full[: len(full) // 2])
    (scratch_root / "trunc_header.fits").write_bytes(full[:1000])
    _all_raise(scratch_ws, scratch_root / "trunc.fits", DataUnavailableError, "damaged")
    _all_raise(scratch_ws, scratch_root / "trunc_header.fits", DataUnavailableError, "trunc_header")


def test_empty_file_non_fits_file_and_directory(scratch_ws, scratch_root):
    (scratch_root / "empty.fits").write_bytes(b"")
    (scratch_root / "notes.fits").write_text("these are not the pixels you are looking for\n")
    (scratch_root / "dir.fits").mkdir()
    _all_raise(scratch_ws, scratch_root / "empty.fits", DataUnavailableError, "empty")
    _all_raise(scratch_ws, scratch_root / "notes.fits", DataUnavailableError, "as FITS")
    _all_raise(scratch_ws, scratch_root / "dir.fits", InvalidQueryError, "is a directory")
    _all_raise(scratch_ws, scratch_root / "missing.fits", DataUnavailableError, "does not exist")


@pytest.mark.parametrize("shape", [(50,), (1, 1, 1, 8, 8)])
def test_1d_and_5d_arrays(scratch_ws, scratch_root, shape):
    fits.PrimaryHDU(np.zeros(shape, np.float32)).writeto(scratch_root / "odd.fits")
    _all_raise(
        scratch_ws, scratch_root / "odd.fits", DataUnavailableError, f"has {len(shape)} axes"
    )


def test_header_only_file(scratch_ws, scratch_root):
    fits.PrimaryHDU().writeto(scratch_root / "nodata.fits")
    _all_raise(scratch_ws, scratch_root / "nodata.fits", DataUnavailableError, "no image data")


def test_image_in_an_extension_is_found(scratch_ws, scratch_root):
    data = np.random.default_rng(0).normal(0, 1e-3, (32, 32)).astype(np.float32)
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(data)]).writeto(scratch_root / "ext.fits")
    plane, _ = scratch_ws.fits.plane(scratch_root / "ext.fits")
    np.testing.assert_array_equal(plane, data)
    assert scratch_ws.fits.header(scratch_root / "ext.fits").hdu == 1


def test_missing_wcs_and_beam_is_graded_bad_with_reasons(scratch_ws, scratch_root):
    data = np.random.default_rng(0).normal(0, 1e-3, (64, 64)).astype(np.float32)
    data[30, 30] = 1.0
    hdu = fits.PrimaryHDU(data)
    hdu.header["BUNIT"] = "Jy/beam"
    hdu.writeto(scratch_root / "bare.fits")
    h = scratch_ws.fits.header(scratch_root / "bare.fits")
    assert h.center is None and h.cell_arcsec is None and not h.has_beam
    plane, wcs = scratch_ws.fits.plane(scratch_root / "bare.fits")
    assert wcs is None and plane.shape == (64, 64)
    r = scratch_ws.qa.image(scratch_root / "bare.fits")
    assert r.grade == "bad"
    assert {c.metric for c in r.checks if c.verdict == "fail"} == {"beam", "celestial_wcs"}
    assert r.rms_jy == pytest.approx(1e-3, rel=0.05)
    assert (
        scratch_ws.fits.thumbnail(scratch_root / "bare.fits", size=32)[:8] == b"\x89PNG\r\n\x1a\n"
    )
    with pytest.raises(DataUnavailableError, match="no celestial WCS"):
        from astropy.coordinates import SkyCoord

        scratch_ws.fits.cutout(scratch_root / "bare.fits", SkyCoord(0, 0, unit="deg"), (5, 5))


def test_all_nan_and_constant_images_are_graded_bad(scratch_ws, scratch_root):
    nan = np.full((32, 32), np.nan, np.float32)
    fits.PrimaryHDU(nan).writeto(scratch_root / "nan.fits")
    r = scratch_ws.qa.image(scratch_root / "nan.fits")
    assert r.grade == "bad" and r.check("finite_pixels").verdict == "fail"
    assert r.blanked_fraction == 1.0 and np.isnan(r.rms_jy)
    assert r.to_dict()["rms_jy"] is None  # JSON-safe
    assert scratch_ws.fits.thumbnail(scratch_root / "nan.fits", size=16)[:4] == b"\x89PNG"
    fits.PrimaryHDU(np.full((32, 32), 0.25, np.float32)).writeto(scratch_root / "flat.fits")
    r = scratch_ws.qa.image(scratch_root / "flat.fits")
    assert r.grade == "bad" and r.check("rms_jy").verdict == "fail"
    assert "constant" in r.check("rms_jy").reason


def test_beam_from_aips_history_and_unit_in_mjy(scratch_ws, scratch_root):
    data = np.random.default_rng(0).normal(0, 1.0, (64, 64)).astype(np.float32)  # mJy/beam
    hdu = fits.PrimaryHDU(data)
    hdu.header.update(
        {
            "CTYPE1": "RA---SIN",
            "CTYPE2": "DEC--SIN",
            "CRVAL1": 10.0,
            "CRVAL2": 20.0,
            "CDELT1": -10 / 3600,
            "CDELT2": 10 / 3600,
            "CRPIX1": 32,
            "CRPIX2": 32,
            "BUNIT": "mJy/beam",
        }
    )
    hdu.header["HISTORY"] = "AIPS   CLEAN BMAJ=  1.3889E-02 BMIN=  1.1111E-02 BPA=  45.00"
    hdu.writeto(scratch_root / "aips.fits")
    h = scratch_ws.fits.header(scratch_root / "aips.fits")
    assert (h.bmaj_arcsec, h.bmin_arcsec, h.bpa_deg) == pytest.approx((50.0, 40.0, 45.0), rel=1e-4)
    assert h.beam_source == "AIPS history"
    s = scratch_ws.fits.stats(scratch_root / "aips.fits")
    assert s.rms_jy == pytest.approx(1e-3, rel=0.05)  # mJy converted to Jy


def test_paths_outside_the_roots_and_escaping_symlinks(scratch_ws, scratch_root, tmp_path):
    outside = _good(tmp_path / "outside.fits")
    (scratch_root / "link.fits").symlink_to(outside)
    inside = _good(scratch_root / "inside.fits")
    (scratch_root / "good_link.fits").symlink_to(inside)
    for path in (
        outside,
        scratch_root / "link.fits",
        "/etc/passwd",
        scratch_root / ".." / "outside.fits",
    ):
        for call in _calls(scratch_ws, path):
            with pytest.raises(NotPermittedError, match="outside the data roots"):
                call()
    assert scratch_ws.fits.header(scratch_root / "good_link.fits").plane_shape == (64, 64)


def test_every_error_is_a_workspace_error(scratch_ws, scratch_root):
    """Sweep of odd inputs through every entry point: only the package's own errors escape."""
    (scratch_root / "bin.fits").write_bytes(os.urandom(5000))
    (scratch_root / "text.fits").write_text("SIMPLE  =                    T" + " " * 50)
    for name in ("bin.fits", "text.fits"):
        for call in _calls(scratch_ws, scratch_root / name):
            with pytest.raises(WorkspaceError):
                call()


def test_scaled_integer_and_non_flux_unit_images(scratch_ws, scratch_root):
    rng = np.random.default_rng(2)
    raw = rng.normal(0, 10, (64, 64)).round().astype(np.int16)
    hdu = fits.PrimaryHDU(raw)
    hdu.header.update({"BSCALE": 1e-4, "BZERO": 0.0, "BUNIT": "Jy/beam"})
    hdu.writeto(scratch_root / "scaled.fits")  # BSCALE: no memory map possible
    plane, _ = scratch_ws.fits.plane(scratch_root / "scaled.fits")
    np.testing.assert_allclose(plane, raw * 1e-4, rtol=1e-6)
    s = scratch_ws.fits.stats(scratch_root / "scaled.fits")
    assert s.rms_jy == pytest.approx(10e-4, rel=0.05)
    kelvin = fits.PrimaryHDU(rng.normal(0, 5.0, (64, 64)).astype(np.float32))
    kelvin.header["BUNIT"] = "K"
    kelvin.writeto(scratch_root / "kelvin.fits")
    r = scratch_ws.qa.image(scratch_root / "kelvin.fits")
    assert r.check("rms_jy").verdict == "warn" and "not graded" in r.check("rms_jy").reason
    assert r.check("bunit").verdict == "warn"
