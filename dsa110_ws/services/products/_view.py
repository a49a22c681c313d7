"""An open FITS image seen from one sky position: the pixels around it, its beam and time.

What forced photometry needs from an image, read without loading the plane: the position's
pixel coordinates (in the image's own celestial frame, so an FK5 or Galactic image is
handled), the restoring beam, the celestial pixel-to-sky matrix, the flux unit and the
observation time, and boxes of pixels around the position read from the memory map.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from dsa110_ws.errors import DataUnavailableError, InvalidQueryError
from dsa110_ws.services.products._fitsguard import check_declared_size, compression_of
from dsa110_ws.services.products._fitsio import (
    _beam,
    _load_data,
    _number,
    _raise_if_damaged,
    celestial_wcs,
    full_wcs,
    open_image,
    plane_of,
    unit_scale_to_jy,
)

__all__ = ["ImageView", "PixelBox", "open_view"]


@dataclasses.dataclass(frozen=True)
class PixelBox:
    """Pixels of a square box around a position (float64; NaN where the box leaves the image).

    ``x``, ``y`` are the position in the box's 0-based pixel coordinates (the centre pixel is
    ``(half, half)``); ``inside`` marks the pixels that lie on the image.
    """

    data: np.ndarray
    inside: np.ndarray
    x: float
    y: float
    half: int


@dataclasses.dataclass(frozen=True)
class ImageView:
    """An image seen from one sky position (valid only inside ``with w.fits.view(...)``).

    ``x``, ``y``: the position in the plane's 0-based pixel coordinates (``x`` along
    longitude); ``on_image``: whether that pixel lies on the image; ``beam``:
    ``(bmaj_arcsec, bmin_arcsec, bpa_deg)`` or ``None``; ``sky_per_pixel``: the 2 x 2 matrix
    (degrees per pixel) taking a pixel offset ``(dx, dy)`` to ``(east, north)`` in the
    tangent plane; ``jy_per_unit``: factor from the pixel unit to Jy/beam (``None`` when
    ``BUNIT`` is not a flux unit); ``mjd_obs``: ``MJD-OBS`` (else ``DATE-OBS``), the start
    of the observation; ``sep_from_center_deg``: the position's distance from the plane's
    centre pixel.
    """

    path: str
    x: float
    y: float
    shape: tuple[int, int]
    beam: tuple[float, float, float] | None
    beam_source: str | None
    sky_per_pixel: np.ndarray
    jy_per_unit: float | None
    mjd_obs: float | None
    sep_from_center_deg: float
    _plane: Any = dataclasses.field(repr=False)

    @property
    def on_image(self) -> bool:
        ny, nx = self.shape
        return bool(-0.5 <= self.x < nx - 0.5 and -0.5 <= self.y < ny - 0.5)

    def box(self, half: int) -> PixelBox:
        """The ``(2 half + 1)``-pixel square box centred on the pixel nearest the position
        (``half`` at most the image's longest side: a larger box holds nothing more)."""
        ny, nx = self.shape
        if not isinstance(half, (int, np.integer)) or isinstance(half, bool) or half < 0:
            raise InvalidQueryError(f"Box half-width {half!r} must be a non-negative integer.")
        if half > max(ny, nx):
            raise InvalidQueryError(
                f"A box of half-width {half} pixels is larger than the whole {ny} x {nx} image; "
                f"ask for at most {max(ny, nx)}."
            )
        ix, iy = int(np.floor(self.x + 0.5)), int(np.floor(self.y + 0.5))
        size = 2 * int(half) + 1
        data = np.full((size, size), np.nan)
        inside = np.zeros((size, size), dtype=bool)
        x0, x1 = max(ix - half, 0), min(ix + half + 1, nx)
        y0, y1 = max(iy - half, 0), min(iy + half + 1, ny)
        if x0 < x1 and y0 < y1:
            sub = (slice(y0 - iy + half, y1 - iy + half), slice(x0 - ix + half, x1 - ix + half))
            data[sub] = self._plane[y0:y1, x0:x1]
            inside[sub] = True
        return PixelBox(data, inside, self.x - ix + half, self.y - iy + half, half)


#: (ra, dec, frame of a WCS) -> the position in that frame; a survey's images share one frame,
#: and converting costs about a millisecond.
_IN_FRAME: dict[tuple, tuple[float, float]] = {}


#: frame key of a WCS -> the astropy frame it declares.
_FRAMES: dict[tuple, Any] = {}


def _frame_key(cel: Any) -> tuple:
    ctypes = tuple(str(c)[:4] for c in cel.ctype)
    radesys = str(cel.radesys).strip().upper()
    dateobs = str(cel.dateobs) if "FK4" in radesys else ""
    return ctypes, radesys, repr(cel.equinox), dateobs


def _is_icrs(cel: Any) -> bool:
    ctypes, radesys, _, _ = _frame_key(cel)
    return ctypes in (("RA--", "DEC-"), ("DEC-", "RA--")) and radesys == "ICRS"


def _frame(cel: Any) -> Any:
    key = _frame_key(cel)
    frame = _FRAMES.get(key)
    if frame is None:
        from astropy.wcs import WCS
        from astropy.wcs.utils import wcs_to_celestial_frame

        frame = _FRAMES[key] = wcs_to_celestial_frame(WCS(cel.to_header()))
    return frame


def icrs_of(lon: np.ndarray, lat: np.ndarray, cel: Any) -> tuple[np.ndarray, np.ndarray]:
    """Positions in a celestial WCS's frame (degrees) converted to ICRS degrees."""
    if _is_icrs(cel):
        return np.asarray(lon, float) % 360.0, np.asarray(lat, float)
    from astropy.coordinates import SkyCoord

    c = SkyCoord(lon, lat, unit="deg", frame=_frame(cel)).icrs
    return np.asarray(c.ra.deg), np.asarray(c.dec.deg)


def primary_wcs(path: Path) -> tuple[Any, tuple[int, int]]:
    """The celestial WCS (wcslib) of the image at ``path`` and its plane's ``(nx, ny)``
    (``nx`` along longitude); :class:`DataUnavailableError` without one."""
    with open_image(path) as (hdr, data, index, _beams):
        prms = _wcsprm(path, hdr, index)
        if prms is None:
            raise DataUnavailableError(f"{path} has no celestial WCS.")
        prm, cel = prms
        plane = plane_of(data, SimpleNamespace(has_celestial=True, naxis=prm.naxis, wcs=prm))
        return cel, (int(plane.shape[1]), int(plane.shape[0]))


def _lonlat(ra_deg: float, dec_deg: float, cel: Any) -> tuple[float, float]:
    """ICRS degrees in the celestial frame a celestial ``Wcsprm`` declares (FK5, Galactic...)."""
    if _is_icrs(cel):
        return ra_deg, dec_deg
    key = (ra_deg, dec_deg, *_frame_key(cel))
    hit = _IN_FRAME.get(key)
    if hit is None:
        from astropy.coordinates import SkyCoord

        c = SkyCoord(ra_deg, dec_deg, unit="deg", frame="icrs").transform_to(_frame(cel))
        if len(_IN_FRAME) > 4096:
            _IN_FRAME.clear()
        hit = _IN_FRAME[key] = (float(c.spherical.lon.deg), float(c.spherical.lat.deg))
    return hit


def _sky_matrix(cel: Any) -> np.ndarray:
    """Degrees per pixel, rows (east, north), columns the plane's (x, y)."""
    m = np.dot(np.diag(cel.get_cdelt()), cel.get_pc())
    return m if cel.lng == 0 else m[::-1, ::-1]


_CARD = 80
_BLOCK = 2880
_END = b"END" + b" " * 77


def _primary_header_text(path: Path) -> str | None:
    """The primary header's cards as read from the file (``None`` if no END card is found
    in the first megabyte).  Building the WCS from this text skips astropy's per-card
    re-verification of a parsed header, which is most of the cost of ``WCS(header)``."""
    with open(path, "rb") as fh:
        raw = b""
        while len(raw) < 1 << 20:
            block = fh.read(_BLOCK * 4)
            if not block:
                return None
            start = len(raw)
            raw += block
            for i in range(start - start % _CARD, len(raw) - _CARD + 1, _CARD):
                if raw[i : i + _CARD] == _END:
                    return raw[: i + _CARD].decode("ascii", errors="replace")
    return None


_WCS_ERRORS = (ValueError, KeyError, MemoryError, TypeError, AttributeError, RuntimeError)


def _wcsprm(path: Path, header: Any, hdu_index: int) -> tuple[Any, Any] | None:
    """The image's WCS as wcslib structures ``(all axes, celestial axes)``, or ``None``
    without a celestial WCS.

    Parsed by wcslib from the header text (and fixed as astropy's ``WCS`` does): the same
    transformation as ``astropy.wcs.WCS``, for about a tenth of its cost, which is most of
    the cost of forced photometry in a small image.  Falls back to ``WCS(header)``.
    """
    import warnings

    from astropy.wcs import WCSSUB_CELESTIAL, Wcsprm

    text = _primary_header_text(path) if hdu_index == 0 else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            prm = Wcsprm((text or header.tostring()).encode("ascii", "replace"), relax=True)
            prm.fix()
            prm.set()
            cel = prm.sub([WCSSUB_CELESTIAL])
            cel.set()
        except _WCS_ERRORS:
            wcs = full_wcs(header)
            cel_wcs = celestial_wcs(wcs)
            return None if cel_wcs is None else (wcs.wcs, cel_wcs.wcs)  # type: ignore[union-attr]
    if cel.naxis != 2 or cel.lng < 0 or cel.lat < 0:
        return None
    return prm, cel


def _mjd(header: Any) -> float | None:
    mjd = _number(header, "MJD-OBS")
    if mjd is not None:
        return mjd
    date = header.get("DATE-OBS")
    if not date:
        return None
    from astropy.time import Time

    with contextlib.suppress(ValueError, TypeError):
        return float(Time(str(date).strip(), scale="utc").mjd)
    return None


_PLAIN = ("BSCALE", "BZERO", "BLANK")


@contextlib.contextmanager
def _open_primary(path: Path, max_bytes: int | None) -> Iterator[tuple[Any, np.ndarray, int, Any]]:
    """:func:`open_image` for the common case, reading only the primary HDU: a plain (not
    scaled, not compressed, not cut short) 2- to 4-axis image with its beam in the header.
    Anything else, and any doubt about the file, goes through :func:`open_image` (and its
    typed errors and limits)."""
    import warnings

    from astropy.io import fits
    from astropy.io.fits.verify import VerifyError, VerifyWarning

    hdul, plain = None, False
    if path.is_file() and path.stat().st_size > 0 and compression_of(path) is None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                hdul = fits.open(path, memmap=True, lazy_load_hdus=True)
                hdu = hdul[0]
                header = hdu.header
                plain = (
                    getattr(hdu, "is_image", False)
                    and 2 <= int(header.get("NAXIS", 0)) <= 4
                    and not any(k in header for k in _PLAIN)
                    and "BMAJ" in header
                    and "BMIN" in header
                )
                _raise_if_damaged(path, caught)
                if plain:
                    check_declared_size(path, hdu, compressed=False, max_bytes=0)
            except (OSError, ValueError, TypeError, IndexError, KeyError, VerifyError):
                plain = False
        if not plain and hdul is not None:
            hdul.close()
    if hdul is None or not plain:
        with open_image(path, max_bytes=max_bytes) as opened:
            yield opened
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", VerifyWarning)
            yield header, _load_data(path, hdu), 0, None
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hdul.close()


@contextlib.contextmanager
def open_view(
    path: Path, ra_deg: float, dec_deg: float, *, max_bytes: int | None = None
) -> Iterator[ImageView]:
    """Open ``path`` and look at ICRS ``(ra_deg, dec_deg)`` in it (see :class:`ImageView`).

    Raises :class:`DataUnavailableError` for unreadable files and images without a
    celestial WCS.
    """
    from dsa110_ws.core.skymath import angular_sep_deg

    with _open_primary(path, max_bytes) as (hdr, data, index, beams):
        prms = _wcsprm(path, hdr, index)
        if prms is None:
            raise DataUnavailableError(
                f"{path} has no celestial WCS, so no sky position can be found in it."
            )
        prm, cel = prms
        plane = plane_of(data, SimpleNamespace(has_celestial=True, naxis=prm.naxis, wcs=prm))
        lon, lat = _lonlat(float(ra_deg), float(dec_deg), cel)
        with np.errstate(all="ignore"):
            try:
                world = [lon, lat] if cel.lng == 0 else [lat, lon]  # in the WCS's axis order
                p0, p1 = cel.s2p([world], 0)["pixcrd"][0]
            except _WCS_ERRORS:  # a position the projection cannot reach
                p0 = p1 = math.nan
        x, y = (float(p0), float(p1)) if cel.lng == 0 else (float(p1), float(p0))
        ny, nx = int(plane.shape[0]), int(plane.shape[1])
        cx, cy = (nx // 2, ny // 2) if cel.lng == 0 else (ny // 2, nx // 2)
        with np.errstate(all="ignore"):
            w0, w1 = cel.p2s([[cx, cy]], 0)["world"][0]
        clon, clat = (w0, w1) if cel.lng == 0 else (w1, w0)
        bmaj, bmin, bpa, source = _beam(hdr, beams)
        yield ImageView(
            path=str(path),
            x=x if math.isfinite(x) else math.nan,
            y=y if math.isfinite(y) else math.nan,
            shape=(ny, nx),
            beam=None if bmaj is None or bmin is None else (bmaj, bmin, float(bpa or 0.0)),
            beam_source=source,
            sky_per_pixel=_sky_matrix(cel),
            jy_per_unit=unit_scale_to_jy(hdr.get("BUNIT")),
            mjd_obs=_mjd(hdr),
            sep_from_center_deg=float(angular_sep_deg(clon, clat, lon, lat)),
            _plane=plane,
        )
