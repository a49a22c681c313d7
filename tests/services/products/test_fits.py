"""w.fits: headers, planes, statistics, thumbnails, cutouts and plots, checked against the demo's
truth and against images written here with known content."""

from __future__ import annotations

import io
import os
import warnings

import matplotlib
import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.stats import sigma_clipped_stats
from PIL import Image

from dsa110_ws.demo.fits_writer import write_image
from dsa110_ws.errors import InvalidQueryError, NotPermittedError

matplotlib.use("Agg")

GOOD = dict(
    center_ra_deg=150.0,
    center_dec_deg=37.0,
    npix=128,
    cell_arcsec=30.0,
    freq_hz=1.405e9,
    bandwidth_hz=187.5e6,
    date_obs="2026-11-05T14:51:13",
    beam=(90.0, 60.0, 30.0),
)


def _image(path, *, sources=(), noise_jy=1e-3, seed=0, **kw):
    args = {**GOOD, **kw}
    return write_image(
        path,
        noise_jy=noise_jy,
        sources=np.array(sources, float).reshape(-1, 3),
        rng=np.random.default_rng(seed),
        **args,
    )


def _png(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def _good_images(truth):
    return [im for im in truth["images"] if im["bad_reason"] is None]


# --------------------------------------------------------------------------------- header


def test_header_matches_what_the_demo_wrote(workspace, truth):
    for im in truth["images"][:8] + [i for i in truth["images"] if i["bad_reason"]]:
        h = workspace.fits.header(im["path"])
        assert h.shape == (1, 1, 384, 384) and h.plane_shape == (384, 384)
        assert h.freq_hz == 1.405e9 and h.bandwidth_hz == 187.5e6
        assert h.cell_arcsec == pytest.approx(20.0, rel=1e-12)
        assert h.center.spherical.lon.deg == pytest.approx(im["center_ra_deg"] % 360, abs=1e-9)
        assert h.center.spherical.lat.deg == pytest.approx(im["center_dec_deg"], abs=1e-9)
        assert h.bunit == "Jy/beam" and h.telescope == "DSA-110"
        assert h.object.startswith("drift_" + im["night"])
        assert h.date_obs.startswith(im["night"])
        if im["beam"] is None:
            assert (h.bmaj_arcsec, h.bmin_arcsec, h.bpa_deg, h.has_beam) == (
                None,
                None,
                None,
                False,
            )
        else:  # beam exact: degrees in the header -> arcsec
            assert (h.bmaj_arcsec, h.bmin_arcsec, h.bpa_deg) == pytest.approx(im["beam"], abs=1e-9)
        d = h.to_dict()
        assert d["center_ra_deg"] == pytest.approx(im["center_ra_deg"] % 360, abs=1e-9)
        assert d["shape"] == [1, 1, 384, 384]


def test_plane_of_2_3_and_4_axis_images(scratch_ws, scratch_root):
    rng = np.random.default_rng(3)
    base = rng.normal(size=(20, 30)).astype(np.float32)
    hdr = fits.Header(
        {
            "CTYPE1": "RA---SIN",
            "CTYPE2": "DEC--SIN",
            "CRVAL1": 10.0,
            "CRVAL2": -30.0,
            "CDELT1": -1 / 3600,
            "CDELT2": 1 / 3600,
            "CRPIX1": 15.0,
            "CRPIX2": 10.0,
        }
    )
    cube3 = np.stack([base, base + 100])
    cube4 = np.stack([cube3, cube3 + 1000])
    for name, data in [("a2.fits", base), ("a3.fits", cube3), ("a4.fits", cube4)]:
        h = hdr.copy()
        if data.ndim >= 3:
            h.update({"CTYPE3": "FREQ", "CRVAL3": 1.3e9, "CDELT3": 1e6, "CRPIX3": 1.0})
        if data.ndim == 4:
            h.update({"CTYPE4": "STOKES", "CRVAL4": 1.0, "CDELT4": 1.0, "CRPIX4": 1.0})
        fits.PrimaryHDU(data, header=h).writeto(scratch_root / name)
        plane, wcs = scratch_ws.fits.plane(scratch_root / name)
        np.testing.assert_array_equal(plane, base)  # the first plane, rows = Dec
        assert plane.dtype == np.float32 and plane.dtype.isnative
        assert wcs.naxis == 2 and wcs.wcs.ctype[0] == "RA---SIN"
    assert scratch_ws.fits.header(scratch_root / "a3.fits").freq_hz == 1.3e9


def test_plane_transposes_dec_first_axis_order(scratch_ws, scratch_root):
    data = np.arange(12, dtype=np.float32).reshape(3, 4)  # numpy (y, x) with FITS axis 1 = DEC
    hdr = fits.Header(
        {
            "CTYPE1": "DEC--SIN",
            "CTYPE2": "RA---SIN",
            "CRVAL1": 0.0,
            "CRVAL2": 0.0,
            "CDELT1": 1 / 3600,
            "CDELT2": -1 / 3600,
            "CRPIX1": 1.0,
            "CRPIX2": 1.0,
        }
    )
    fits.PrimaryHDU(data, header=hdr).writeto(scratch_root / "swapped.fits")
    plane, _ = scratch_ws.fits.plane(scratch_root / "swapped.fits")
    np.testing.assert_array_equal(plane, data.T)  # rows follow declination


# ---------------------------------------------------------------------------------- stats


def test_stats_recover_injected_noise_and_brightest_peak(workspace, truth):
    for im in truth["images"]:
        s = workspace.fits.stats(im["path"])
        assert s.rms_jy == pytest.approx(im["noise_jy"], rel=0.05), im["path"]
        if im["nan_box"] is None:  # the fitted sub-pixel peak recovers the injected one
            assert s.peak_fit_jy == pytest.approx(im["brightest_peak_jy"], rel=0.05), im["path"]
        else:  # the brightest source may sit in the blanked box
            assert s.peak_fit_jy <= im["brightest_peak_jy"] * 1.05
        assert s.peak_jy <= s.peak_fit_jy  # the brightest pixel is never above the fit


def test_rms_is_clipped_unlike_the_old_backend(workspace, truth):
    """DESIGN section 5: the old backend took an unclipped rms, inflated by the sources."""
    im = _good_images(truth)[0]
    plane, _ = workspace.fits.plane(im["path"])
    unclipped = float(np.nanstd(plane))
    assert unclipped > 3 * im["noise_jy"]  # what the old backend reported
    assert workspace.fits.stats(im["path"]).rms_jy == pytest.approx(im["noise_jy"], rel=0.05)


def test_rms_agrees_with_astropy_sigma_clipping(workspace, truth):
    for im in truth["images"][::9]:
        plane, _ = workspace.fits.plane(im["path"])
        _, _, std = sigma_clipped_stats(plane[np.isfinite(plane)], sigma=3, maxiters=10)
        assert workspace.fits.stats(im["path"]).rms_jy == pytest.approx(float(std), rel=0.01)


def test_blanked_fraction_and_islands(workspace, truth):
    im = next(i for i in truth["images"] if i["bad_reason"] == "nan_region")
    x0, x1, y0, y1 = im["nan_box"]
    s = workspace.fits.stats(im["path"])
    assert s.blanked_fraction == pytest.approx((x1 - x0) * (y1 - y0) / 384**2, abs=1e-12)
    assert s.n_finite == 384**2 - (x1 - x0) * (y1 - y0)
    good = workspace.fits.stats(_good_images(truth)[0]["path"])
    assert 0 < good.n_islands <= _good_images(truth)[0]["n_injected"]


def test_stats_peak_position_is_the_source(scratch_ws, scratch_root):
    src = (150.1, 37.2, 0.5)
    _image(scratch_root / "one.fits", sources=[src], noise_jy=1e-4)
    s = scratch_ws.fits.stats(scratch_root / "one.fits")
    plane, _ = scratch_ws.fits.plane(scratch_root / "one.fits")
    assert s.peak_jy == s.max_jy == float(plane.max())  # CASA imstat's max: the brightest pixel
    assert plane[int(s.peak_y), int(s.peak_x)] == s.peak_jy
    assert s.peak_fit_jy == pytest.approx(0.5, rel=0.01)  # the fitted sub-pixel peak
    truth = SkyCoord(*src[:2], unit="deg")
    sep = SkyCoord(s.peak_fit_ra_deg, s.peak_fit_dec_deg, unit="deg").separation(truth)
    assert sep.arcsec < 3.0  # a tenth of a 30" pixel
    pixel = SkyCoord(s.peak_ra_deg, s.peak_dec_deg, unit="deg").separation(truth)
    assert pixel.arcsec < 30.0 * np.sqrt(0.5)  # the centre of the brightest pixel
    assert s.n_islands == 1


# ----------------------------------------------------------------------------- thumbnails


def test_thumbnail_orientation_source_top_left_stays_top_left(scratch_ws, scratch_root):
    """DESIGN section 5: FITS row 0 at the bottom; a source at high Dec and high RA (east,
    left for CDELT1 < 0) is top-left in the PNG."""
    ra = 150.0 + 0.35 / np.cos(np.radians(37.0))
    _image(scratch_root / "tl.fits", sources=[(ra, 37.35, 1.0)], noise_jy=1e-4)
    png = _png(scratch_ws.fits.thumbnail(scratch_root / "tl.fits", size=128))
    assert png.shape == (128, 128, 3)
    rows, cols = np.nonzero(png[..., 0] >= png[..., 0].max() - 5)  # the saturated source
    row, col = rows.mean(), cols.mean()
    plane, wcs = scratch_ws.fits.plane(scratch_root / "tl.fits")
    x, y = wcs.world_to_pixel(SkyCoord(ra, 37.35, unit="deg"))
    assert row < 40 and col < 40  # top-left
    assert abs(row - (127 - y)) <= 1 and abs(col - x) <= 1  # row 0 of FITS -> last PNG row


def test_thumbnail_fits_row_zero_is_the_bottom_row(scratch_ws, scratch_root):
    _image(scratch_root / "rows.fits", nan_box=(0, 128, 0, 1))  # FITS row 0 blanked
    png = _png(scratch_ws.fits.thumbnail(scratch_root / "rows.fits", size=128))
    blank = (70, 80, 150)
    assert (png[-1] == blank).all() and not (png[0] == blank).all(axis=-1).any()


@pytest.mark.parametrize(
    ("shape", "size", "expected"),
    [
        ((128, 128), 64, (64, 64)),
        ((128, 128), 300, (300, 300)),
        ((100, 200), 100, (50, 100)),
        ((384, 96), 128, (128, 32)),
    ],
)
def test_thumbnail_size_is_honoured(scratch_ws, scratch_root, shape, size, expected):
    data = np.random.default_rng(1).normal(size=shape).astype(np.float32)
    fits.PrimaryHDU(data).writeto(scratch_root / "s.fits")
    assert _png(scratch_ws.fits.thumbnail(scratch_root / "s.fits", size=size)).shape[:2] == expected


def test_thumbnail_cache_keys_every_parameter(workspace, truth):
    """DESIGN section 5: the old cache ignored the requested size."""
    path = truth["images"][0]["path"]
    small = workspace.fits.thumbnail(path, size=64)
    large = workspace.fits.thumbnail(path, size=128)
    assert _png(small).shape[:2] == (64, 64) and _png(large).shape[:2] == (128, 128)
    zs = workspace.fits.thumbnail(path, size=64, scale="zscale")
    viridis = workspace.fits.thumbnail(path, size=64, cmap="viridis")
    assert len({small, large, zs, viridis}) == 4
    assert workspace.cache.stats()["by_kind"]["thumbnail"]["n_entries"] == 4
    assert workspace.fits.thumbnail(path, size=64) == small  # a hit, no new entry
    assert workspace.cache.stats()["by_kind"]["thumbnail"]["n_entries"] == 4
    root = workspace.settings.state_dir
    assert all(str(p).startswith(str(root)) for p, _ in workspace.cache.entries())


def test_thumbnail_of_a_changed_file_is_recomputed(scratch_ws, scratch_root):
    path = scratch_root / "change.fits"
    _image(path, sources=[(150.0, 37.0, 1.0)])
    first = scratch_ws.fits.thumbnail(path, size=64)
    st = path.stat()
    _image(path, sources=[(150.3, 37.3, 1.0)])
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    second = scratch_ws.fits.thumbnail(path, size=64)
    assert second != first
    assert scratch_ws.fits.thumbnail(path, size=64, use_cache=False) == second


def test_thumbnail_rejects_bad_parameters(workspace, truth):
    path = truth["images"][0]["path"]
    for kw in (
        {"size": 0},
        {"size": 10_000},
        {"scale": "log"},
        {"stretch": "sqrt"},
        {"cmap": "no-such-map"},
        {"percentiles": (90, 10)},
    ):
        with pytest.raises(InvalidQueryError):
            workspace.fits.thumbnail(path, **kw)


# -------------------------------------------------------------------------------- cutouts


def test_cutout_centres_on_the_position(scratch_ws, scratch_root):
    src = SkyCoord(150.05, 36.9, unit="deg")
    _image(scratch_root / "cut.fits", sources=[(150.05, 36.9, 0.8)], noise_jy=1e-4)
    cut = scratch_ws.fits.cutout(scratch_root / "cut.fits", src, 15 * u.arcmin)
    assert cut.shape == (30, 30)  # 15' / 30" pixels
    iy, ix = np.unravel_index(np.nanargmax(cut.data), cut.shape)
    assert cut.wcs.pixel_to_world(ix, iy).separation(src).arcsec < 30
    assert np.nanmax(cut.data) == pytest.approx(0.8, rel=0.25)
    assert cut.header.bmaj_arcsec == 90.0


def test_cutout_at_the_edge_keeps_its_shape_and_outside_is_an_error(scratch_ws, scratch_root):
    _image(scratch_root / "edge.fits")
    h = scratch_ws.fits.header(scratch_root / "edge.fits")
    edge = SkyCoord(h.center.ra, h.center.dec + 0.53 * u.deg)  # ~1 pixel inside the top edge
    cut = scratch_ws.fits.cutout(scratch_root / "edge.fits", edge, 10 * u.arcmin)
    assert cut.shape == (20, 20) and np.isnan(cut.data).any() and np.isfinite(cut.data).any()
    with pytest.raises(InvalidQueryError, match="outside image"):
        scratch_ws.fits.cutout(
            scratch_root / "edge.fits", SkyCoord(10, -40, unit="deg"), 10 * u.arcmin
        )
    with pytest.raises(InvalidQueryError):
        scratch_ws.fits.cutout(scratch_root / "edge.fits", edge, -1 * u.arcmin)


def test_cutout_fits_and_png(scratch_ws, scratch_root, tmp_path):
    _image(scratch_root / "c.fits", sources=[(150.0, 37.0, 0.5)])
    pos = SkyCoord(150.0, 37.0, unit="deg")
    raw = scratch_ws.fits.cutout_fits(scratch_root / "c.fits", pos, 10 * u.arcmin)
    with fits.open(io.BytesIO(raw)) as hdul:
        assert hdul[0].data.shape == (20, 20)
        assert hdul[0].header["BMAJ"] * 3600 == pytest.approx(90.0)
        assert hdul[0].header["CTYPE1"] == "RA---SIN"
    out = scratch_ws.fits.cutout_fits(
        scratch_root / "c.fits", pos, 10 * u.arcmin, out=tmp_path / "out" / "cut.fits"
    )
    assert out.exists() and out.read_bytes() == raw
    with pytest.raises(NotPermittedError):  # never next to the pipeline's products
        scratch_ws.fits.cutout_fits(
            scratch_root / "c.fits", pos, 10 * u.arcmin, out=scratch_root / "cut.fits"
        )
    png = _png(scratch_ws.fits.cutout_png(scratch_root / "c.fits", pos, 10 * u.arcmin, png_size=80))
    assert png.shape == (80, 80, 3)


# ----------------------------------------------------------------------------------- plot


def test_plot_image_has_wcs_axes_beam_and_colorbar(workspace, truth):
    import matplotlib.pyplot as plt
    from matplotlib.patches import Ellipse

    im = _good_images(truth)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ax = workspace.fits.plot_image(im["path"])
    try:
        assert hasattr(ax, "coords")  # WCSAxes
        ellipses = [p for p in ax.patches if isinstance(p, Ellipse)]
        assert len(ellipses) == 1
        e = ellipses[0]
        assert (e.width, e.height, e.angle) == pytest.approx((45 / 20, 60 / 20, 30.0))
        assert len(ax.figure.axes) == 2  # image + colour bar
        assert ax.images[0].origin == "lower"
    finally:
        plt.close(ax.figure)
    fig, own = plt.subplots()
    try:
        assert workspace.fits.plot_image(im["path"], ax=own, colorbar=False) is own
    finally:
        plt.close(fig)


def test_plot_image_stretches(workspace, truth):
    """zscale limits are astropy's ZScaleInterval of the plane (read here with astropy);
    minmax spans the finite pixels; an unknown stretch is refused in one line."""
    import matplotlib.pyplot as plt
    from astropy.io import fits
    from astropy.visualization import ZScaleInterval

    from dsa110_ws.errors import InvalidQueryError

    im = _good_images(truth)[0]
    with fits.open(im["path"]) as hdul:
        data = np.squeeze(hdul[0].data).astype(float)
    finite = data[np.isfinite(data)]
    ax = workspace.fits.plot_image(im["path"], stretch="zscale")
    try:
        norm = ax.images[0].norm
        assert (norm.vmin, norm.vmax) == pytest.approx(ZScaleInterval().get_limits(finite))
        assert ax.figure.axes[1].get_ylabel() == "Jy/beam"  # colour bar in the image's unit
    finally:
        plt.close(ax.figure)
    ax = workspace.fits.plot_image(im["path"], stretch="minmax")
    try:
        norm = ax.images[0].norm
        assert (norm.vmin, norm.vmax) == pytest.approx((finite.min(), finite.max()))
    finally:
        plt.close(ax.figure)
    with pytest.raises(InvalidQueryError, match="zscale"):
        workspace.fits.plot_image(im["path"], stretch="log-ish")
    plt.close("all")
