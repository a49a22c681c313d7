"""Read-only access to casacore tables (Measurement Sets, calibration tables) with typed errors.

Tables are always opened ``readonly=True, ack=False`` and closed on exit.  casacore creates a
``table.lock`` file next to a table it opens when the directory is writable, as CASA itself
does; nothing else is ever written.

A table whose files were cut short (an interrupted copy) opens, and fails only when a read
reaches the missing bytes; casacore's bucket cache is then in a state where the *next* read
of that table can crash the process (a segmentation fault, seen on truncated StandardStMan
files).  So the table is handed out as a :class:`GuardedTable`: its first I/O error becomes a
:class:`CorruptFileError` naming the table, and every later call on it raises the same error
without touching casacore again.  Time and direction measures are converted with astropy
without IERS tables: TAI/TT -> UTC needs only the leap-second table astropy ships, and
B1950 -> J2000 is the FK4 -> FK5 transformation.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from dsa110_ws.errors import CorruptFileError, DataUnavailableError, OptionalDependencyError

__all__ = [
    "GuardedTable",
    "is_damage",
    "open_table",
    "open_subtable",
    "measure_ref",
    "mjd_seconds_to_utc_mjd",
    "direction_to_j2000",
    "read_column",
    "STOKES_NAMES",
]

#: casacore Stokes enumeration -> correlation name.
STOKES_NAMES = {
    1: "I",
    2: "Q",
    3: "U",
    4: "V",
    5: "RR",
    6: "RL",
    7: "LR",
    8: "LL",
    9: "XX",
    10: "XY",
    11: "YX",
    12: "YY",
    13: "RX",
    14: "RY",
    15: "LX",
    16: "LY",
    17: "XR",
    18: "XL",
    19: "YR",
    20: "YL",
    21: "PP",
    22: "PQ",
    23: "QP",
    24: "QQ",
}
_TIME_SCALES = {
    "UTC": "utc",
    "TAI": "tai",
    "IAT": "tai",
    "TT": "tt",
    "TDT": "tt",
    "ET": "tt",
    "TDB": "tdb",
    "GPS": "gps",
}


def _tables() -> Any:
    try:
        from casacore import tables
    except ImportError:  # pragma: no cover - casacore is a core dependency
        raise OptionalDependencyError(
            "Reading Measurement Sets and caltables needs python-casacore: pip install python-casacore"
        ) from None
    return tables


#: Parts of casacore's messages that mean a file of the table is shorter than it should be
#: (or otherwise unreadable as stored), not a missing column or an undefined cell.
_DAMAGE = (
    "FilebufIO",
    "FiledesIO",
    "readBlock",
    "BucketCache",
    "BucketFile",
    "exceeds nr of buckets",
    "is not writable",
    "MMapIO",
    "incorrect number of bytes",
    "SSMIndex",  # "access to non-existing row": the table says it has rows its files lack
    "non-existing row",
)


def is_damage(exc: BaseException) -> bool:
    """Whether a casacore error means the table's files are damaged (cut short...)."""
    text = str(exc)
    return any(sign in text for sign in _DAMAGE)


def _damaged(what: str, path: Path, exc: BaseException) -> str:
    return (
        f"The {what} {path} is damaged: a file of the table is cut short or unreadable (an "
        f"interrupted copy or write?; casacore: {_first_line(exc).rstrip('.')}). Re-copy or "
        "re-create it."
    )


class GuardedTable:
    """A read-only casacore table whose first I/O error is final (see the module doc).

    Attribute access is forwarded to the casacore table; a reference table it returns
    (``selectrows``...) is guarded too and shares the verdict.
    """

    def __init__(self, tb: Any, path: Path, what: str, state: dict[str, str] | None = None):
        self._tb = tb
        self._path = path
        self._what = what
        self._state = state if state is not None else {}

    def __repr__(self) -> str:
        return f"<GuardedTable {self._what} {self._path}>"

    @property
    def broken(self) -> str | None:
        """The one-line reason this table is no longer read, or ``None``."""
        return self._state.get("broken")

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._tb, name)
        if not callable(attr) or name == "close":
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            if self._state.get("broken"):
                raise CorruptFileError(self._state["broken"])
            try:
                out = attr(*args, **kwargs)
            except RuntimeError as exc:
                if not is_damage(exc):
                    raise
                self._state["broken"] = _damaged(self._what, self._path, exc)
                raise CorruptFileError(self._state["broken"]) from None
            if type(out).__module__.startswith("casacore.tables") and hasattr(out, "getcol"):
                return GuardedTable(out, self._path, self._what, self._state)
            return out

        return call


@contextlib.contextmanager
def open_table(path: Path, *, what: str = "table") -> Iterator[Any]:
    """Open a casacore table read-only as a :class:`GuardedTable`;
    :class:`DataUnavailableError` if it is not one, :class:`CorruptFileError` if its files
    are damaged (at open, or at the first read that meets the damage)."""
    tables = _tables()
    if not path.is_dir():
        kind = "a file" if path.exists() else "missing"
        raise DataUnavailableError(
            f"{path} is {kind}, not a {what} directory (a casacore table is a directory with "
            "table.dat inside)."
        )
    if not (path / "table.dat").exists():
        raise DataUnavailableError(
            f"{path} is a directory but not a casacore {what} (no table.dat)."
        )
    try:
        tb = tables.table(str(path), ack=False, readonly=True)
    except RuntimeError as exc:
        if is_damage(exc) or "does not exist" in str(exc):  # table.dat there, but unreadable
            raise CorruptFileError(_damaged(what, path, exc)) from None
        raise DataUnavailableError(f"Cannot open {what} {path}: {_first_line(exc)}") from None
    from dsa110_ws.services.products._casastorage import storage_problem

    problem = storage_problem(tb, path)
    if problem:
        tb.close()
        raise CorruptFileError(
            f"The {what} {path} is damaged: {problem} (cut short: an interrupted copy or "
            "write?). Re-copy or re-create it."
        )
    try:
        yield GuardedTable(tb, path, what)
    finally:
        tb.close()


@contextlib.contextmanager
def open_subtable(path: Path, name: str, *, what: str = "Measurement Set") -> Iterator[Any]:
    """Open subtable ``name`` of the table at ``path``; :class:`DataUnavailableError` if absent."""
    sub = path / name
    if not (sub / "table.dat").exists():
        raise DataUnavailableError(
            f"{what} {path} has no {name} subtable; it is incomplete (an interrupted conversion "
            "or copy?). Re-create or re-copy it."
        )
    with open_table(sub, what=f"{name} subtable") as tb:
        yield tb


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def read_column(
    tb: Any, column: str, *, start: int = 0, nrow: int = -1, default: Any = None
) -> Any:
    """``tb.getcol`` with casacore errors (undefined cells, missing column) as ``default``."""
    if column not in tb.colnames():
        return default
    try:
        return tb.getcol(column, start, nrow)
    except RuntimeError:
        return default


def measure_ref(tb: Any, column: str, default: str | None = None) -> str | None:
    """The ``MEASINFO`` reference (``'UTC'``, ``'TAI'``, ``'J2000'``, ``'B1950_VLA'``...)."""
    try:
        info = tb.getcolkeyword(column, "MEASINFO")
    except RuntimeError:
        return default
    return str(info.get("Ref", default)) if isinstance(info, dict) else default


def mjd_seconds_to_utc_mjd(seconds: np.ndarray | float, ref: str | None) -> tuple[np.ndarray, str]:
    """Convert casacore epoch values (MJD seconds in scale ``ref``) to UTC MJD days.

    Returns ``(mjd_utc, note)``; for UTC input the division is exact.  Scales astropy cannot
    convert without IERS data (UT1, GMST...) are returned unchanged and the note says so.
    """
    sec = np.asarray(seconds, dtype=float)
    scale = _TIME_SCALES.get((ref or "UTC").upper())
    if scale == "utc" or sec.size == 0:
        return sec / 86400.0, "UTC"
    if scale is None:
        return sec / 86400.0, f"{ref} (not converted: needs IERS data)"
    from astropy.time import Time

    day = np.floor(sec / 86400.0)
    frac = (sec - day * 86400.0) / 86400.0
    t = Time(day, frac, format="mjd", scale=scale).utc
    mjd = np.asarray(t.jd1 - 2400000.5, dtype=float) + np.asarray(t.jd2, dtype=float)
    return mjd, f"UTC (from {ref})"


def direction_to_j2000(lon_rad: float, lat_rad: float, ref: str | None) -> tuple[float, float, str]:
    """Convert a direction in frame ``ref`` to J2000 (FK5) degrees; returns ``(ra, dec, note)``.

    B1950 is FK4 at equinox and epoch B1950; ``B1950_VLA`` is casacore's VLA variant, FK4 at
    equinox B1950 but epoch 1979.9 (it matters at the 0.1 arcsec level); ICRS is taken as J2000
    (they differ by ~20 mas); GALACTIC is converted; other frames (apparent, AZEL...) need the observatory and IERS data and are returned
    unchanged with a note.
    """
    frame = (ref or "J2000").upper()
    ra, dec = math.degrees(lon_rad) % 360.0, math.degrees(lat_rad)
    if frame in ("J2000", "ICRS"):
        return ra, dec, frame
    from astropy import units as u
    from astropy.coordinates import FK4, FK5, Galactic

    target = FK5(equinox="J2000")
    if frame.startswith("B1950"):
        epoch = "B1979.9" if frame == "B1950_VLA" else "B1950"
        fk4 = FK4(ra=ra * u.deg, dec=dec * u.deg, equinox="B1950", obstime=epoch)
        c = fk4.transform_to(target)
    elif frame == "GALACTIC":
        c = Galactic(l=ra * u.deg, b=dec * u.deg).transform_to(target)
    else:
        return ra, dec, f"{ref} (not converted)"
    return float(c.ra.deg) % 360.0, float(c.dec.deg), f"J2000 (from {ref})"


def table_keywords(tb: Any) -> dict[str, Any]:
    try:
        return dict(tb.getkeywords())
    except RuntimeError:
        return {}
