"""Forced photometry in one image: the peak flux density at a fixed position, and its error.

The measurement (one image, one position; numbers in Jy/beam):

* **peak** ``peak_jyb``: the amplitude of the restoring beam centred exactly on the position,
  fitted by least squares to the pixels within ``FIT_HALF_FWHM`` beam widths of it,
  ``A = sum(I P) / sum(P^2)`` with ``P`` the peak-1 beam (the image's ``BMAJ``/``BMIN``/``BPA``
  put on the pixel grid through the WCS).  For an unresolved source this is its flux
  density, so ``flux_jy`` = ``peak_jyb``.  This is the estimator of the pipeline's own
  forced photometry and of VAST's ``forced_phot``; nothing is fitted but the amplitude.
* **error** ``peak_err_jyb``: the local rms of the same estimator, i.e. the robust
  (3-sigma clipped, started from 1.4826 x MAD) standard deviation of the beam-matched
  filtered image over a box of ``NOISE_HALF_FWHM`` beam widths around the position.  This
  measures the error the estimator really has, whether the image noise is white (error =
  rms / sqrt(sum P^2)) or correlated on the beam scale, as in a real synthesis image
  (error close to the pixel rms).  ``local_rms`` is the clipped pixel rms of the same box.
* **status**: ``"measured"`` when the beam stamp lies entirely on finite pixels;
  ``"outside"`` (the position is off the image), ``"edge"`` (the stamp runs off it),
  ``"blanked"`` (NaN pixels under the stamp), ``"no_beam"`` (no restoring beam known) or
  ``"noisy_box"`` (too few finite pixels to measure the noise) otherwise, with a reason.

Whether a measurement is a detection or an upper limit is decided later (it depends on
thresholds, not on the pixels): see :mod:`._forcedrun`.  :func:`measure_chunk` is the task
the batch runner's workers run; this module imports only numpy, so they start quickly.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from dsa110_ws.errors import WorkspaceError, one_line

if TYPE_CHECKING:
    from dsa110_ws.services.products import FitsImageService, ImageView, PixelBox, ProductCache

__all__ = [
    "measure_view",
    "measure_chunk",
    "beam_kernel",
    "clipped_std",
    "correlate_valid",
    "ALGORITHM_VERSION",
]

#: Half-size of the fitted stamp, in beam FWHM along the major axis (the pipeline's 1.5).
FIT_HALF_FWHM = 1.5
#: Half-size of the box the local noise is measured in, in beam FWHM.
NOISE_HALF_FWHM = 10.0
#: The noise box is at least this many pixels beyond the stamp on each side.
NOISE_MIN_MARGIN_PX = 12
#: Fewest filtered-image samples the noise is measured from.
MIN_NOISE_SAMPLES = 100
#: Bumped when the measurement changes, so cached results are recomputed.
ALGORITHM_VERSION = 1
_FWHM_TO_SIGMA = 1.0 / math.sqrt(8.0 * math.log(2.0))
_MAD_TO_SIGMA = 1.4826


def beam_inverse_covariance(
    beam: tuple[float, float, float], sky_per_pixel: np.ndarray
) -> np.ndarray:
    """Inverse covariance (pixel^-2) of the Gaussian beam on the pixel grid.

    ``beam`` = ``(bmaj_arcsec, bmin_arcsec, bpa_deg)``, the position angle from north through
    east; ``sky_per_pixel`` takes pixel offsets to (east, north) degrees.
    """
    bmaj, bmin, bpa = beam
    pa = math.radians(bpa)
    major = np.array([math.sin(pa), math.cos(pa)])  # (east, north)
    minor = np.array([math.cos(pa), -math.sin(pa)])
    s_maj, s_min = bmaj / 3600.0 * _FWHM_TO_SIGMA, bmin / 3600.0 * _FWHM_TO_SIGMA
    sky_inv = np.outer(major, major) / s_maj**2 + np.outer(minor, minor) / s_min**2
    j = np.asarray(sky_per_pixel, dtype=float)
    return j.T @ sky_inv @ j


def major_fwhm_px(inv_cov: np.ndarray) -> float:
    """The beam's FWHM along its major axis, in pixels."""
    smallest = float(np.min(np.linalg.eigvalsh(inv_cov)))
    return float(1.0 / math.sqrt(smallest) / _FWHM_TO_SIGMA) if smallest > 0 else math.inf


def beam_kernel(size: int, x0: float, y0: float, inv_cov: np.ndarray) -> np.ndarray:
    """The peak-1 beam centred at ``(x0, y0)`` on a ``size`` x ``size`` pixel grid."""
    yy, xx = np.mgrid[0:size, 0:size].astype(float)
    dx, dy = xx - x0, yy - y0
    q = inv_cov[0, 0] * dx * dx + 2.0 * inv_cov[0, 1] * dx * dy + inv_cov[1, 1] * dy * dy
    return np.exp(-0.5 * q)


def clipped_std(values: np.ndarray, *, sigma: float = 3.0, iterations: int = 4) -> float:
    """Standard deviation after iterative ``sigma`` clipping about the median, started from
    1.4826 x MAD (NaN for fewer than 3 values)."""
    v = np.asarray(values, dtype=float).ravel()
    if v.size < 3:
        return math.nan
    med = float(np.median(v))
    std = _MAD_TO_SIGMA * float(np.median(np.abs(v - med)))
    kept = v
    for _ in range(iterations):
        if not std > 0:
            break
        keep = np.abs(v - med) <= sigma * std
        if keep.sum() == kept.size:
            break
        kept = v[keep]
        if kept.size < 3:
            break
        med, std = float(np.median(kept)), float(np.std(kept))
    return std


def correlate_valid(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``sum(image[i + u, j + v] * kernel[u, v])`` where the kernel lies entirely on the
    image (``scipy.signal.correlate(..., mode="valid")``), by FFT."""
    ky, kx = kernel.shape
    spec = np.fft.rfft2(image) * np.fft.rfft2(kernel[::-1, ::-1], s=image.shape)
    return np.fft.irfft2(spec, s=image.shape)[ky - 1 :, kx - 1 :]


def _filtered_noise(box: PixelBox, kernel: np.ndarray) -> tuple[float, int]:
    """Robust rms of the beam-matched filter over the box, and how many samples it used."""
    finite = np.isfinite(box.data)
    filt = correlate_valid(np.where(finite, box.data, 0.0), kernel) / float(np.sum(kernel**2))
    if not finite.all():
        holes = correlate_valid((~finite).astype(float), np.ones_like(kernel))
        filt = filt[holes < 0.5]
    samples = filt.ravel()
    return clipped_std(samples), int(samples.size)


def _failed(status: str, reason: str, **known: Any) -> dict[str, Any]:
    return {"status": status, "reason": reason, **known}


def measure_view(
    view: ImageView, *, beam: tuple[float, float, float] | None = None
) -> dict[str, Any]:
    """Forced photometry at the view's position (see the module doc); a JSON-able dict.

    ``beam`` (arcsec, arcsec, deg) replaces the image's own restoring beam (needed for an
    image whose header has none).
    """
    use_beam = beam if beam is not None else view.beam
    known: dict[str, Any] = {
        "x_pix": view.x,
        "y_pix": view.y,
        "mjd_obs": view.mjd_obs,
        "sep_from_center_deg": view.sep_from_center_deg,
        "beam_source": "given" if beam is not None else view.beam_source,
    }
    if use_beam is not None:
        known.update(
            beam_major_arcsec=use_beam[0], beam_minor_arcsec=use_beam[1], beam_pa_deg=use_beam[2]
        )
    if not view.on_image:
        return _failed("outside", "the position is not on this image", **known)
    if use_beam is None or not (use_beam[0] > 0 and use_beam[1] > 0):
        return _failed(
            "no_beam", "the image has no restoring beam (BMAJ/BMIN); pass beam=", **known
        )
    inv_cov = beam_inverse_covariance(use_beam, view.sky_per_pixel)
    fwhm_px = major_fwhm_px(inv_cov)
    fit_half = max(int(math.ceil(FIT_HALF_FWHM * fwhm_px)), 1)
    noise_half = max(int(math.ceil(NOISE_HALF_FWHM * fwhm_px)), fit_half + NOISE_MIN_MARGIN_PX)
    box = view.box(noise_half)
    core = slice(noise_half - fit_half, noise_half + fit_half + 1)
    stamp, on = box.data[core, core], box.inside[core, core]
    if not on.all():
        return _failed("edge", "the beam stamp runs off the edge of the image", **known)
    if not np.isfinite(stamp).all():
        return _failed("blanked", "blanked (NaN) pixels under the beam stamp", **known)
    size = 2 * fit_half + 1
    psf = beam_kernel(
        size, box.x - (noise_half - fit_half), box.y - (noise_half - fit_half), inv_cov
    )
    amplitude = float(np.sum(stamp * psf) / np.sum(psf**2))
    err, n_samples = _filtered_noise(box, beam_kernel(size, fit_half, fit_half, inv_cov))
    if n_samples < MIN_NOISE_SAMPLES or not math.isfinite(err) or err <= 0:
        return _failed(
            "noisy_box", f"only {n_samples} usable samples to measure the noise from", **known
        )
    scale = view.jy_per_unit if view.jy_per_unit is not None else 1.0
    return {
        "status": "measured",
        "reason": None,
        **known,
        "peak_jyb": amplitude * scale,
        "peak_err_jyb": err * scale,
        "local_rms": clipped_std(box.data[np.isfinite(box.data)]) * scale,
        "n_noise_samples": n_samples,
        "fit_half_px": fit_half,
        "unit_is_flux": view.jy_per_unit is not None,
    }


Beam = tuple[float, float, float]


def _measure_one(
    path: str,
    fallback: Beam | None,
    *,
    fits: FitsImageService,
    cache: ProductCache,
    ra_deg: float,
    dec_deg: float,
    beam: Beam | None,
    use_cache: bool,
) -> dict[str, Any]:
    def compute() -> dict[str, Any]:
        with fits.view(path, (ra_deg, dec_deg)) as view:
            out = measure_view(view, beam=beam)
            if out["status"] == "no_beam" and fallback is not None:
                out = measure_view(view, beam=fallback)
                out["beam_source"] = "images table"
            return out

    params = {
        "ra_deg": ra_deg,
        "dec_deg": dec_deg,
        "beam": beam,
        "fallback": fallback,
        "v": ALGORITHM_VERSION,
    }
    try:
        return cache.get_or_compute("forced", path, params, compute, use_cache=use_cache)
    except WorkspaceError as exc:
        return {"status": "failed", "reason": one_line(exc)}


def measure_chunk(chunk: list[tuple[str, Beam | None]], **kwargs: Any) -> list[dict[str, Any]]:
    """Measure every ``(path, fallback_beam)`` of a chunk, each result cached in the product
    cache (keyed by the file's identity, the position, the beams and the algorithm's
    version).  A batch task: never raises for an image; an unreadable one gives
    ``status="failed"`` with the reason.  Keywords: ``fits``, ``cache``, ``ra_deg``,
    ``dec_deg``, ``beam``, ``use_cache``."""
    return [_measure_one(path, fallback, **kwargs) for path, fallback in chunk]
