"""Write real FITS images with injected point sources, and measure them back.

The demo pipeline state needs 5-minute snapshot images that look like the ones the DSA-110 pipeline
writes with CASA ``exportfits``: a 4-axis cube (RA---SIN, DEC--SIN, FREQ, STOKES) in Jy/beam with
the restoring beam in ``BMAJ``/``BMIN``/``BPA``. Sources are Gaussian beams placed at their exact
sub-pixel positions, on top of white Gaussian noise, so that the workspace's image QA and forced
photometry have a known truth to recover.

Position-angle convention throughout: astronomical, measured from north (+y) through east. In an
image whose RA increases to the left (``CDELT1 < 0``), east is -x.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.time import Time
from astropy.wcs import WCS

__all__ = ["beam_psf", "forced_photometry", "write_image"]

_FOUR_LN2 = 4.0 * np.log(2.0)
#: Half-size of an injection stamp, in units of the beam major-axis FWHM.
_INJECT_HALF_FWHM = 4.0
#: Half-size of a forced-photometry stamp, in units of the beam major-axis FWHM (stamp ~3 FWHM).
_PHOT_HALF_FWHM = 1.5


def beam_psf(
    shape: tuple[int, int],
    x0: float | np.ndarray,
    y0: float | np.ndarray,
    bmaj_px: float,
    bmin_px: float,
    bpa_deg: float,
) -> np.ndarray:
    """Evaluate a peak-1 elliptical Gaussian beam on a pixel grid.

    Parameters
    ----------
    shape : tuple of int
        ``(ny, nx)`` of the grid; pixel ``(y, x)`` has centre coordinates ``(y, x)`` (0-based).
    x0, y0 : float or array_like
        Beam centre in pixels (sub-pixel allowed). Arrays of shape ``(n,)`` give ``n`` stamps.
    bmaj_px, bmin_px : float
        Major and minor axis full width at half maximum, in pixels.
    bpa_deg : float
        Position angle of the major axis in degrees, from north (+y) through east (-x).

    Returns
    -------
    numpy.ndarray
        ``shape`` for scalar centres, ``(n, ny, nx)`` for centre arrays of length ``n``; value 1 at
        the centre.
    """
    x0a = np.asarray(x0, dtype=float)
    y0a = np.asarray(y0, dtype=float)
    yy, xx = np.indices(shape, dtype=float)
    dx = xx - x0a[..., None, None]
    dy = yy - y0a[..., None, None]
    pa = np.deg2rad(bpa_deg)
    along_major = -dx * np.sin(pa) + dy * np.cos(pa)
    along_minor = dx * np.cos(pa) + dy * np.sin(pa)
    return np.exp(-_FOUR_LN2 * ((along_major / bmaj_px) ** 2 + (along_minor / bmin_px) ** 2))


def _image_header(
    *,
    center_ra_deg: float,
    center_dec_deg: float,
    npix: int,
    cell_arcsec: float,
    freq_hz: float,
    bandwidth_hz: float,
    date_obs: str,
) -> fits.Header:
    """Build the 4-axis WCS part of a CASA-like image header."""
    crpix = npix // 2 + 1  # CASA convention: reference pixel npix/2 (0-based), 1-based here
    cards = {
        "CTYPE1": "RA---SIN", "CRVAL1": float(center_ra_deg) % 360.0,
        "CDELT1": -cell_arcsec / 3600.0,
        "CRPIX1": float(crpix), "CUNIT1": "deg",
        "CTYPE2": "DEC--SIN", "CRVAL2": float(center_dec_deg), "CDELT2": cell_arcsec / 3600.0,
        "CRPIX2": float(crpix), "CUNIT2": "deg",
        "CTYPE3": "FREQ", "CRVAL3": float(freq_hz), "CDELT3": float(bandwidth_hz), "CRPIX3": 1.0,
        "CUNIT3": "Hz",
        "CTYPE4": "STOKES", "CRVAL4": 1.0, "CDELT4": 1.0, "CRPIX4": 1.0, "CUNIT4": "",
        "LONPOLE": 180.0, "LATPOLE": float(center_dec_deg),
        "RESTFRQ": float(freq_hz), "SPECSYS": "TOPOCENT",
        "EQUINOX": 2000.0, "RADESYS": "FK5",
        "DATE-OBS": date_obs, "MJD-OBS": float(Time(date_obs, scale="utc").mjd), "TIMESYS": "UTC",
    }  # fmt: skip
    header = fits.Header()
    for key, value in cards.items():
        header[key] = value
    return header


def _inject(
    data: np.ndarray, xs: np.ndarray, ys: np.ndarray, fluxes: np.ndarray, beam_px: tuple
) -> None:
    """Add ``flux * psf`` stamps in place at sub-pixel positions ``(xs, ys)``."""
    bmaj_px, bmin_px, bpa_deg = beam_px
    half = int(np.ceil(_INJECT_HALF_FWHM * bmaj_px))
    ny, nx = data.shape
    for x, y, flux in zip(xs, ys, fluxes, strict=True):
        ix, iy = int(np.rint(x)), int(np.rint(y))
        x_lo, x_hi = max(ix - half, 0), min(ix + half + 1, nx)
        y_lo, y_hi = max(iy - half, 0), min(iy + half + 1, ny)
        psf = beam_psf((y_hi - y_lo, x_hi - x_lo), x - x_lo, y - y_lo, bmaj_px, bmin_px, bpa_deg)
        data[y_lo:y_hi, x_lo:x_hi] += flux * psf


def _write_atomic(hdu: fits.PrimaryHDU, path: Path) -> None:
    """Write ``hdu`` to a temporary file beside ``path``, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        hdu.writeto(tmp, overwrite=True, output_verify="exception")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_image(
    path: str | os.PathLike[str],
    *,
    center_ra_deg: float,
    center_dec_deg: float,
    npix: int,
    cell_arcsec: float,
    freq_hz: float,
    bandwidth_hz: float,
    date_obs: str,
    noise_jy: float,
    sources: Any,
    rng: np.random.Generator,
    beam: tuple[float, float, float] | None = (15.0, 10.0, 0.0),
    injection_beam: tuple[float, float, float] | None = None,
    gain: float = 1.0,
    nan_box: tuple[int, int, int, int] | None = None,
    object_name: str = "DSA110_field",
    telescope: str = "DSA-110",
) -> dict[str, Any]:
    """Write a CASA-like 4-axis FITS image with noise and injected point sources.

    Parameters
    ----------
    path : str or os.PathLike
        Output FITS file; written to a temporary file and renamed into place.
    center_ra_deg, center_dec_deg : float
        Image centre (reference pixel ``npix // 2 + 1``, 1-based), J2000 degrees.
    npix : int
        Image size in pixels along each axis.
    cell_arcsec : float
        Pixel size in arcsec (``CDELT1`` is written negative).
    freq_hz, bandwidth_hz : float
        Centre frequency (``CRVAL3``, ``RESTFRQ``) and bandwidth (``CDELT3``) in Hz.
    date_obs : str
        Observation start as an ISO UTC string (``DATE-OBS``; ``MJD-OBS`` is derived from it).
    noise_jy : float
        Standard deviation of the white Gaussian noise, Jy/beam.
    sources : array_like
        ``(n, 3)`` rows of ``ra_deg, dec_deg, peak_flux_jy``. Sources outside the image are skipped.
    rng : numpy.random.Generator
        Random generator for the noise.
    beam : tuple of float or None, optional
        ``(bmaj_arcsec, bmin_arcsec, bpa_deg)`` written as ``BMAJ``/``BMIN``/``BPA`` (degrees).
        ``None`` writes no beam keywords (a "broken beam" image).
    injection_beam : tuple of float or None, optional
        Beam used to draw the sources if it should differ from ``beam``; defaults to ``beam``, or,
        when ``beam`` is None, to a round beam of 4 pixels FWHM.
    gain : float, optional
        Factor applied to every source flux (a per-image calibration scale error).
    nan_box : tuple of int or None, optional
        ``(x0, x1, y0, y1)`` 0-based pixel box (Python slice bounds) set to NaN.
    object_name, telescope : str, optional
        ``OBJECT`` and ``TELESCOP`` keywords.

    Returns
    -------
    dict
        ``path``; ``header`` (summary: centre, crpix, cdelt, npix, frequency, bandwidth, date);
        ``n_sources_injected``; ``injected_index`` (rows of ``sources`` that landed in the image);
        ``pixel_x``, ``pixel_y`` (0-based pixel positions of those sources);
        ``injected_flux_jy`` (``gain * flux``); ``noise_rms_jy`` (rms of the noise realisation);
        ``data_max_jyb`` (maximum finite pixel); ``n_nan_pixels``; ``gain``; ``beam``.
    """
    path = Path(path)
    header = _image_header(
        center_ra_deg=center_ra_deg, center_dec_deg=center_dec_deg, npix=npix,
        cell_arcsec=cell_arcsec, freq_hz=freq_hz, bandwidth_hz=bandwidth_hz, date_obs=date_obs,
    )  # fmt: skip
    wcs2d = WCS(header, naxis=2)
    src = np.asarray(sources, dtype=float).reshape(-1, 3)
    xs, ys = wcs2d.wcs_world2pix(src[:, 0], src[:, 1], 0)
    inside = (xs >= -0.5) & (xs < npix - 0.5) & (ys >= -0.5) & (ys < npix - 0.5) & np.isfinite(xs)
    index = np.flatnonzero(inside)

    noise = rng.normal(0.0, noise_jy, size=(npix, npix))
    data = noise.copy()
    draw = injection_beam or beam or (4.0 * cell_arcsec, 4.0 * cell_arcsec, 0.0)
    beam_px = (draw[0] / cell_arcsec, draw[1] / cell_arcsec, draw[2])
    fluxes = gain * src[index, 2]
    _inject(data, xs[index], ys[index], fluxes, beam_px)
    if nan_box is not None:
        x0, x1, y0, y1 = nan_box
        data[y0:y1, x0:x1] = np.nan

    header["BUNIT"] = "Jy/beam"
    header["BTYPE"] = "Intensity"
    if beam is not None:
        header["BMAJ"] = beam[0] / 3600.0
        header["BMIN"] = beam[1] / 3600.0
        header["BPA"] = float(beam[2])
    header["OBJECT"] = object_name
    header["TELESCOP"] = telescope
    header["OBSERVER"] = "dsa110_ws demo"
    header["ORIGIN"] = "dsa110_ws.demo.fits_writer"
    cube = data.astype(np.float32)[None, None, :, :]
    _write_atomic(fits.PrimaryHDU(data=cube, header=header), path)

    return {
        "path": str(path),
        "header": {
            "center_ra_deg": header["CRVAL1"],
            "center_dec_deg": header["CRVAL2"],
            "crpix1": header["CRPIX1"],
            "crpix2": header["CRPIX2"],
            "cdelt1_deg": header["CDELT1"],
            "cdelt2_deg": header["CDELT2"],
            "npix": npix,
            "freq_hz": float(freq_hz),
            "bandwidth_hz": float(bandwidth_hz),
            "date_obs": date_obs,
            "mjd_obs": header["MJD-OBS"],
            "radesys": header["RADESYS"],
        },  # fmt: skip
        "beam": None if beam is None else tuple(float(b) for b in beam),
        "n_sources_injected": int(index.size),
        "injected_index": index,
        "pixel_x": xs[index],
        "pixel_y": ys[index],
        "injected_flux_jy": fluxes,
        "noise_rms_jy": float(np.std(noise)),
        "data_max_jyb": float(np.nanmax(cube)) if np.isfinite(cube).any() else float("nan"),
        "n_nan_pixels": int(np.isnan(cube).sum()),
        "gain": float(gain),
    }


def forced_photometry(
    data2d: np.ndarray,
    wcs2d: WCS,
    ra_deg: float | Sequence[float] | np.ndarray,
    dec_deg: float | Sequence[float] | np.ndarray,
    *,
    bmaj_arcsec: float,
    bmin_arcsec: float,
    bpa_deg: float,
    cell_arcsec: float,
    noise_jy: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Measure fluxes at known positions with a beam-matched filter.

    The amplitude of the beam centred at each position is fitted by least squares over a stamp of
    about 3 beam FWHM: ``flux = sum(img * psf) / sum(psf**2)``, ``err = noise / sqrt(sum(psf**2))``.

    Parameters
    ----------
    data2d : numpy.ndarray
        ``(ny, nx)`` image plane in Jy/beam.
    wcs2d : astropy.wcs.WCS
        Celestial WCS of the plane (a higher-dimensional WCS is reduced with ``.celestial``).
    ra_deg, dec_deg : float or array_like
        Positions to measure, degrees in the frame of the image.
    bmaj_arcsec, bmin_arcsec, bpa_deg : float
        Restoring beam FWHM axes (arcsec) and position angle (deg, north through east).
    cell_arcsec : float
        Pixel size, arcsec.
    noise_jy : float
        Image noise in Jy/beam, assumed white.

    Returns
    -------
    flux_jy, flux_err_jy, peak_jyb : numpy.ndarray
        Fitted flux (Jy), its error (Jy) and the pixel value nearest each position (Jy/beam).
        Each has the shape of ``np.atleast_1d(ra_deg)``; NaN where the stamp falls (partly) off the
        image or contains non-finite pixels (``peak_jyb`` only needs its own pixel).
    """
    wcs = wcs2d.celestial if wcs2d.naxis > 2 else wcs2d
    ra = np.atleast_1d(np.asarray(ra_deg, dtype=float))
    dec = np.atleast_1d(np.asarray(dec_deg, dtype=float))
    xs, ys = wcs.wcs_world2pix(ra, dec, 0)
    ny, nx = data2d.shape
    finite_pos = np.isfinite(xs) & np.isfinite(ys)
    ix = np.rint(np.where(finite_pos, xs, -1e9)).astype(np.int64)
    iy = np.rint(np.where(finite_pos, ys, -1e9)).astype(np.int64)

    on_image = finite_pos & (ix >= 0) & (ix < nx) & (iy >= 0) & (iy < ny)
    peak = np.full(ra.shape, np.nan)
    peak[on_image] = data2d[iy[on_image], ix[on_image]]

    bmaj_px, bmin_px = bmaj_arcsec / cell_arcsec, bmin_arcsec / cell_arcsec
    half = int(np.ceil(_PHOT_HALF_FWHM * bmaj_px))
    inside = finite_pos & (ix - half >= 0) & (ix + half < nx) & (iy - half >= 0) & (iy + half < ny)
    flux = np.full(ra.shape, np.nan)
    err = np.full(ra.shape, np.nan)
    if inside.any():
        offsets = np.arange(-half, half + 1)
        rows = iy[inside, None, None] + offsets[None, :, None]
        cols = ix[inside, None, None] + offsets[None, None, :]
        stamps = data2d[rows, cols].astype(float)
        size = 2 * half + 1
        psf = beam_psf(
            (size, size), xs[inside] - ix[inside] + half, ys[inside] - iy[inside] + half,
            bmaj_px, bmin_px, bpa_deg,
        )  # fmt: skip
        norm = np.sum(psf**2, axis=(1, 2))
        flux[inside] = np.sum(stamps * psf, axis=(1, 2)) / norm
        err[inside] = noise_jy / np.sqrt(norm)
        bad = inside.copy()
        bad[inside] = ~np.isfinite(stamps).all(axis=(1, 2))
        flux[bad] = np.nan
        err[bad] = np.nan
    return flux, err, peak
