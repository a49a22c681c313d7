"""Checks made before astropy reads a FITS file's pixels: decompression bombs, files cut short,
header keywords that hold no usable number.

astropy opens gzip, bzip2, xz and zip files by their first bytes whatever their name, and
decompresses them whole into memory; a few hundred kB of gzip can expand to gigabytes.  A
compressed file is therefore first streamed through its decompressor, counting bytes and
keeping none, and refused once the count passes ``[products] max_decompressed_mb``; a
tile-compressed image (``CompImageHDU``, fpack) is refused when its declared pixels would
pass the same cap.  An uncompressed image whose header declares more pixel bytes than the
file holds is refused before a memory map would read past its end.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import math
import zipfile
import zlib
from pathlib import Path
from typing import Any

from dsa110_ws.core.settings import ProductsSettings
from dsa110_ws.errors import CorruptFileError, DataUnavailableError

__all__ = [
    "MIB",
    "default_max_bytes",
    "compression_of",
    "check_decompressed_size",
    "check_declared_size",
    "header_number",
    "beam_problem",
]

MIB = 1 << 20
_MAGIC = ((b"\x1f\x8b", "gzip"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"), (b"PK\x03\x04", "zip"))
_CHUNK = 4 * MIB


def default_max_bytes() -> int:
    """The default ``[products] max_decompressed_mb``, in bytes."""
    return int(ProductsSettings().max_decompressed_mb * MIB)


def compression_of(path: Path) -> str | None:
    """``"gzip"``, ``"bzip2"``, ``"xz"`` or ``"zip"`` from the file's first bytes, else ``None``."""
    with open(path, "rb") as fh:
        head = fh.read(6)
    return next((kind for magic, kind in _MAGIC if head.startswith(magic)), None)


def _stream_size(path: Path, kind: str, limit: int) -> int:
    """Bytes the file decompresses to, counted in chunks; stops once past ``limit``."""
    total = 0
    if kind == "zip":
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            if not names:
                raise CorruptFileError(f"FITS image {path} is an empty zip archive.")
            with zf.open(names[0]) as fh:
                while chunk := fh.read(_CHUNK):
                    total += len(chunk)
                    if total > limit:
                        break
        return total
    opener: Any = {"gzip": gzip.open, "bzip2": bz2.open, "xz": lzma.open}[kind]
    with opener(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            total += len(chunk)
            if total > limit:
                break
    return total


def check_decompressed_size(path: Path, kind: str, max_bytes: int) -> None:
    """Refuse a compressed file that would decompress to more than ``max_bytes`` (counted
    without keeping anything), or that cannot be decompressed at all."""
    try:
        size = _stream_size(path, kind, max_bytes)
    except (OSError, EOFError, zlib.error, lzma.LZMAError, zipfile.BadZipFile, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CorruptFileError(
            f"FITS image {path} is {kind}-compressed but cannot be decompressed ({first}): "
            "it is damaged or cut short; re-copy it."
        ) from None
    if size > max_bytes:
        raise DataUnavailableError(
            f"FITS image {path} is {kind}-compressed and decompresses to more than "
            f"{max_bytes / MIB:g} MB, the limit [products] max_decompressed_mb: refused before "
            "reading it (a decompression bomb?). If the file is genuine, decompress it to disk "
            "or raise the limit."
        )


def _declared_bytes(header: Any) -> int:
    naxis = int(header.get("NAXIS", 0))
    dims = [int(header.get(f"NAXIS{k}", 0)) for k in range(1, naxis + 1)]
    return abs(int(header.get("BITPIX", 8))) // 8 * math.prod(dims) if dims else 0


def check_declared_size(path: Path, hdu: Any, *, compressed: bool, max_bytes: int) -> None:
    """Refuse an HDU whose declared pixels lie past the end of the file (uncompressed), or
    whose tile-compressed pixels would pass ``max_bytes`` once decompressed."""
    from astropy.io import fits

    try:
        need = _declared_bytes(hdu.header)
    except (TypeError, ValueError):
        raise CorruptFileError(
            f"FITS image {path}: its NAXIS/BITPIX keywords are not integers; the header is damaged."
        ) from None
    if isinstance(hdu, fits.CompImageHDU):
        if need > max_bytes:
            raise DataUnavailableError(
                f"FITS image {path} is tile-compressed and its pixels would take {need / MIB:.0f} "
                f"MB, more than [products] max_decompressed_mb = {max_bytes / MIB:g}: refused "
                "before decompressing it."
            )
        return
    if compressed:
        return  # the stream's length was counted before astropy opened it
    start = int(hdu.fileinfo()["datLoc"])
    size = path.stat().st_size
    if start + need > size:
        raise CorruptFileError(
            f"FITS image {path} is cut short: its header declares {need:,} bytes of pixels "
            f"from byte {start:,}, but the file ends at byte {size:,} (an interrupted write or "
            "copy?). Re-copy or re-create it."
        )


def header_number(header: Any, key: str) -> tuple[float | None, str | None]:
    """``(value, problem)`` of a numeric header keyword: ``(x, None)`` for a finite number,
    ``(None, None)`` when absent, ``(None, why)`` when present but unusable (NaN, inf, text,
    a card astropy cannot parse)."""
    from astropy.io.fits.verify import VerifyError

    if key not in header:
        return None, None
    try:
        raw = header[key]
    except (VerifyError, ValueError, KeyError):
        return None, f"{key} is present but unparsable"
    if isinstance(raw, bool):
        return None, f"{key} is {raw!r}, not a number"
    try:
        x = float(raw)
    except (TypeError, ValueError):
        return None, f"{key} is {str(raw)[:20]!r}, not a number"
    if math.isnan(x):
        return None, f"{key} is NaN"
    if math.isinf(x):
        return None, f"{key} is infinite"
    return x, None


def beam_problem(header: Any) -> str | None:
    """Why the header's BMAJ/BMIN do not give a beam though they are present (NaN, inf, text,
    zero or negative), or ``None``."""
    problems = []
    for key in ("BMAJ", "BMIN"):
        value, why = header_number(header, key)
        if why:
            problems.append(why)
        elif value is not None and value <= 0:
            problems.append(f"{key} is {value:g}, not a positive angle")
    return "; ".join(problems) or None
