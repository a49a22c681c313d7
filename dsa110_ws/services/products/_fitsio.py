"""Opening FITS images defensively: typed errors for broken files, the 2-D plane, the header summary.

Everything here takes an already confined path (see ``Workspace.open_path``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from dsa110_ws.errors import CorruptFileError, DataUnavailableError
from dsa110_ws.services.products._fitsguard import (
    beam_problem,
    check_declared_size,
    check_decompressed_size,
    compression_of,
    default_max_bytes,
    header_number,
)

__all__ = ["ImageHeader", "open_image", "plane_of", "read_header", "unit_scale_to_jy"]

#: Keywords that astropy reports as warnings but which mean the file itself is damaged.
_FATAL_WARNINGS = ("truncated", "not multiple of 2880", "corrupt", "unexpected end")
_AIPS_BEAM = re.compile(
    r"BMAJ=\s*([-+0-9.EeDd]+)\s+BMIN=\s*([-+0-9.EeDd]+)\s+BPA=\s*([-+0-9.EeDd]+)"
)
_JY_UNITS = {
    "jy/beam": 1.0,
    "mjy/beam": 1e-3,
    "ujy/beam": 1e-6,
    "microjy/beam": 1e-6,
    "jy": 1.0,
    "mjy": 1e-3,
}


@dataclasses.dataclass(frozen=True)
class ImageHeader:
    """Summary of a FITS image header (angles in arcsec/deg, frequencies in Hz).

    ``center`` is the sky position of pixel ``(nx // 2, ny // 2)`` (0-based), where CASA puts
    the reference pixel, or ``None`` without a celestial WCS.  ``shape`` is the full data shape
    (numpy order); ``plane_shape`` the ``(ny, nx)`` of the plane the workspace analyses.
    ``beam_note`` says why there is no beam when BMAJ/BMIN are present but unusable (NaN,
    infinite, text, not positive).
    """

    path: str
    object: str | None
    telescope: str | None
    date_obs: str | None
    mjd_obs: float | None
    freq_hz: float | None
    bandwidth_hz: float | None
    bmaj_arcsec: float | None
    bmin_arcsec: float | None
    bpa_deg: float | None
    beam_source: str | None
    cell_arcsec: float | None
    center: Any
    bunit: str | None
    shape: tuple[int, ...]
    plane_shape: tuple[int, int]
    ctypes: tuple[str, ...]
    radesys: str | None
    hdu: int
    beam_note: str | None = None

    @property
    def has_beam(self) -> bool:
        return self.bmaj_arcsec is not None and self.bmin_arcsec is not None

    @property
    def has_wcs(self) -> bool:
        return self.center is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly view (the centre as ``center_ra_deg``/``center_dec_deg``, ICRS-like
        frame of the file, and its ``frame`` name)."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "center"}
        c = self.center
        d["center_ra_deg"] = None if c is None else float(c.spherical.lon.deg)
        d["center_dec_deg"] = None if c is None else float(c.spherical.lat.deg)
        d["frame"] = None if c is None else c.frame.name
        d["shape"], d["plane_shape"], d["ctypes"] = (
            list(self.shape),
            list(self.plane_shape),
            list(self.ctypes),
        )
        return d


def unit_scale_to_jy(bunit: str | None) -> float | None:
    """Factor converting pixel values in ``bunit`` to Jy(/beam); ``None`` if not a flux unit.
    A missing BUNIT is taken as Jy/beam (factor 1), the radio-imaging default."""
    if not bunit or not str(bunit).strip():
        return 1.0
    return _JY_UNITS.get(bunit.strip().lower().replace(" ", "").replace("µ", "u"))


@contextlib.contextmanager
def open_image(
    path: Path, *, max_bytes: int | None = None
) -> Iterator[tuple[Any, np.ndarray, int, Any]]:
    """Open a FITS image: yields ``(header, data, hdu_index, beams)`` of its first image HDU
    (``beams`` is CASA's per-plane ``BEAMS`` table, or ``None``).

    ``data`` may be a memory map valid only inside the ``with`` block.  Raises
    :class:`DataUnavailableError` for a directory, an empty, non-FITS or truncated file (a
    :class:`CorruptFileError` when it is cut short or cannot be decompressed), a file
    without image data, arrays that are not 2- to 4-dimensional, and a compressed file that
    would decompress to more than ``max_bytes`` (default ``[products]
    max_decompressed_mb``).  Header cards astropy cannot parse do not warn inside the block.
    """
    from astropy.io.fits.verify import VerifyWarning

    if path.is_dir():
        raise DataUnavailableError(f"{path} is a directory; expected a FITS image file.")
    if path.stat().st_size == 0:
        raise DataUnavailableError(
            f"FITS image {path} is empty (0 bytes); was the write interrupted?"
        )
    limit = default_max_bytes() if max_bytes is None else int(max_bytes)
    kind = compression_of(path)
    if kind is not None:
        check_decompressed_size(path, kind, limit)
    hdul = _open_hdul(path, memmap=kind is None)
    try:
        index, hdu = _first_image_hdu(path, hdul)
        check_declared_size(path, hdu, compressed=kind is not None, max_bytes=limit)
        if any(k in hdu.header for k in ("BSCALE", "BZERO", "BLANK")):  # scaled: no memory map
            hdul.close()
            hdul = _open_hdul(path, memmap=False)
            hdu = hdul[index]
        data = _load_data(path, hdu)
        beams = None
        if "BEAMS" in hdul:
            with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
                beams = np.array(hdul["BEAMS"].data)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", VerifyWarning)  # a bad card: read as unusable
            yield hdu.header, data, index, beams
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hdul.close()


def _open_hdul(path: Path, *, memmap: bool) -> Any:
    from astropy.io import fits

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            hdul = fits.open(path, memmap=memmap, lazy_load_hdus=False)
        except (OSError, ValueError, TypeError, IndexError, KeyError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CorruptFileError(
                f"Cannot read {path} as FITS: {first.rstrip('.')}. Is it a FITS image?"
            ) from None
    try:
        _raise_if_damaged(path, caught)
    except DataUnavailableError:
        hdul.close()
        raise
    return hdul


def _raise_if_damaged(path: Path, caught: list) -> None:
    for w in caught:
        text = str(w.message)
        if any(key in text.lower() for key in _FATAL_WARNINGS):
            first = text.splitlines()[0] if text else type(w.message).__name__
            raise CorruptFileError(
                f"FITS image {path} is damaged: {first.rstrip('. ')}. Re-create or re-copy it."
            )


def _first_image_hdu(path: Path, hdul: Any) -> tuple[int, Any]:
    for i, hdu in enumerate(hdul):
        if getattr(hdu, "is_image", False) and hdu.header.get("NAXIS", 0) > 0:
            return i, hdu
    raise DataUnavailableError(f"FITS file {path} holds no image data (no HDU with NAXIS > 0).")


def _load_data(path: Path, hdu: Any) -> np.ndarray:
    naxis = int(hdu.header.get("NAXIS", 0))
    if not 2 <= naxis <= 4:
        raise DataUnavailableError(
            f"FITS image {path} has {naxis} axes; the workspace reads 2-, 3- and 4-axis images "
            "(RA, Dec and optionally frequency and Stokes)."
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            data = hdu.data
        except (OSError, ValueError, TypeError) as exc:
            raise DataUnavailableError(f"Cannot read the pixels of {path}: {exc}.") from None
    _raise_if_damaged(path, caught)
    if data is None or data.ndim != naxis:
        raise DataUnavailableError(
            f"FITS image {path} declares {naxis} axes but holds no such array."
        )
    if not np.issubdtype(data.dtype, np.number):
        raise DataUnavailableError(f"FITS image {path} has non-numeric pixels ({data.dtype}).")
    return data


def full_wcs(header: Any) -> Any | None:
    """The WCS of ``header`` (all axes), or ``None`` when astropy cannot build one."""
    from astropy.io.fits.verify import VerifyWarning
    from astropy.wcs import WCS, FITSFixedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        warnings.simplefilter("ignore", VerifyWarning)
        try:
            return WCS(header)
        except (ValueError, KeyError, MemoryError, TypeError, AttributeError):
            return None


def celestial_wcs(wcs: Any | None) -> Any | None:
    """The celestial 2-D part of ``wcs``, or ``None`` when it has none."""
    return wcs.celestial if wcs is not None and wcs.has_celestial else None


def plane_of(data: np.ndarray, wcs: Any | None) -> np.ndarray:
    """The first 2-D celestial plane (rows = latitude, columns = longitude).

    Axes other than the two celestial ones are indexed at 0; without a celestial WCS the last
    two numpy axes are used.
    """
    ndim = data.ndim
    lng, lat = ndim - 1, ndim - 2
    if wcs is not None and wcs.has_celestial and wcs.naxis == ndim:
        lng, lat = ndim - 1 - wcs.wcs.lng, ndim - 1 - wcs.wcs.lat
    index = tuple(slice(None) if k in (lng, lat) else 0 for k in range(ndim))
    plane = data[index]
    return plane.T if lat > lng else plane


def read_header(
    path: Path, header: Any, data: np.ndarray, hdu_index: int, *, wcs: Any | None, beams: Any = None
) -> ImageHeader:
    """Build the :class:`ImageHeader` summary from an open image's header, data and WCS."""
    from astropy.wcs.utils import pixel_to_skycoord, proj_plane_pixel_scales

    plane_shape = tuple(int(n) for n in plane_of(data, wcs).shape)
    cel = celestial_wcs(wcs)
    center, cell = None, None
    if cel is not None:
        with contextlib.suppress(ValueError, TypeError):
            center = pixel_to_skycoord(plane_shape[1] // 2, plane_shape[0] // 2, cel, origin=0)
        scales = proj_plane_pixel_scales(cel)
        cell = float(np.mean(np.abs(scales)) * 3600.0) if np.all(np.isfinite(scales)) else None
    bmaj, bmin, bpa, source = _beam(header, beams)
    freq, bw = _spectral(header)
    return ImageHeader(
        path=str(path),
        object=_text(header, "OBJECT"),
        telescope=_text(header, "TELESCOP"),
        date_obs=_text(header, "DATE-OBS"),
        mjd_obs=_number(header, "MJD-OBS"),
        freq_hz=freq,
        bandwidth_hz=bw,
        bmaj_arcsec=bmaj,
        bmin_arcsec=bmin,
        bpa_deg=bpa,
        beam_source=source,
        cell_arcsec=cell,
        center=center,
        bunit=_text(header, "BUNIT"),
        shape=tuple(int(n) for n in data.shape),
        plane_shape=plane_shape,  # type: ignore[arg-type]
        ctypes=tuple(str(header.get(f"CTYPE{k + 1}", "")) for k in range(data.ndim)),
        radesys=_text(header, "RADESYS") or _text(header, "RADECSYS"),
        hdu=hdu_index,
        beam_note=None if source is not None else beam_problem(header),
    )


def _text(header: Any, key: str) -> str | None:
    from astropy.io.fits.verify import VerifyError

    try:
        value = header.get(key)
    except (VerifyError, ValueError):
        return None
    return None if value is None or str(value).strip() == "" else str(value).strip()


def _number(header: Any, key: str) -> float | None:
    return header_number(header, key)[0]


def _beam(
    header: Any, beams_table: Any
) -> tuple[float | None, float | None, float | None, str | None]:
    bmaj, bmin = _number(header, "BMAJ"), _number(header, "BMIN")
    if bmaj is not None and bmin is not None and bmaj > 0 and bmin > 0:
        return bmaj * 3600.0, bmin * 3600.0, _number(header, "BPA") or 0.0, "header"
    if beams_table is not None and len(beams_table) > 0:  # CASA per-plane beams, arcsec
        with contextlib.suppress(KeyError, ValueError, TypeError, IndexError):
            row = beams_table[0]
            a, b, pa = float(row["BMAJ"]), float(row["BMIN"]), float(row["BPA"])
            if math.isfinite(a) and math.isfinite(b) and a > 0 and b > 0:
                return a, b, pa if math.isfinite(pa) else 0.0, "BEAMS table"
    for card in reversed(_history(header)):
        match = _AIPS_BEAM.search(str(card))
        if match:
            vals = [float(v.replace("D", "E").replace("d", "e")) for v in match.groups()]
            if all(map(math.isfinite, vals)) and vals[0] > 0 and vals[1] > 0:
                return vals[0] * 3600.0, vals[1] * 3600.0, vals[2], "AIPS history"
    return None, None, None, None


def _history(header: Any) -> list[str]:
    from astropy.io.fits.verify import VerifyError

    try:
        return [str(c) for c in header.get("HISTORY", [])]
    except (VerifyError, ValueError):
        return []


def _spectral(header: Any) -> tuple[float | None, float | None]:
    naxis = int(header.get("NAXIS", 0))
    for k in range(1, naxis + 1):
        if str(header.get(f"CTYPE{k}", "")).upper().startswith("FREQ"):
            crval, cdelt = _number(header, f"CRVAL{k}"), _number(header, f"CDELT{k}")
            crpix = _number(header, f"CRPIX{k}") or 1.0
            unit = str(header.get(f"CUNIT{k}", "Hz")).strip().lower() or "hz"
            scale = {"hz": 1.0, "khz": 1e3, "mhz": 1e6, "ghz": 1e9}.get(unit, 1.0)
            if crval is None:
                return None, None
            freq = (crval + (1.0 - crpix) * (cdelt or 0.0)) * scale
            return freq, (abs(cdelt) * scale if cdelt else None)
    for key in ("FREQ", "CRVAL3"):
        value = _number(header, key)
        if value is not None and value > 1e6:
            return value, None
    return None, None
