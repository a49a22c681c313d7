"""Measurement Set metadata from its subtables and light main-table columns (no visibilities).

Fields, spectral windows, antennas, correlations and the telescope come from the FIELD,
SPECTRAL_WINDOW, ANTENNA, POLARIZATION, DATA_DESCRIPTION and OBSERVATION subtables, and the
row count from the main table: a cost independent of the number of rows.  The time range is
the TIME of the first and last rows when a strided sample of ~64 rows confirms time order (the
MS standard's order), else a full read of TIME; the integration is the first row's INTERVAL.
Scans and antennas with data are per-row properties: they are filled (with the exact time range
and integration) by the chunked flag pass, ``w.ms.summary(path, flags=True)``.  Times are converted
to UTC from the TIME column's own measure reference (the VLA writes TAI); phase centres to
J2000 from the PHASE_DIR reference (old VLA data use B1950).  Anything missing or empty is
reported in ``warnings`` rather than guessed silently.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from dsa110_ws.core.time import mjd_to_iso
from dsa110_ws.errors import CorruptFileError, DataUnavailableError, one_line
from dsa110_ws.services.products._casatables import (
    STOKES_NAMES,
    direction_to_j2000,
    measure_ref,
    mjd_seconds_to_utc_mjd,
    open_subtable,
    open_table,
    read_column,
)

__all__ = ["MSSummary", "read_summary", "time_fields"]

_DATA_COLUMNS = ("DATA", "CORRECTED_DATA", "MODEL_DATA", "FLOAT_DATA", "LAG_DATA")


@dataclasses.dataclass(frozen=True)
class MSSummary:
    """What a Measurement Set holds (frequencies in Hz, times as UTC MJD, angles in degrees).

    ``fields`` are dicts ``name, ra_deg, dec_deg`` (J2000) plus ``frame_in_file``; ``spws`` are
    dicts ``spw_id, n_channels, freq_min_hz, freq_max_hz`` (lowest and highest channel centres),
    ``ref_frequency_hz, chan_width_hz, total_bandwidth_hz``; ``time_start_mjd`` and
    ``time_end_mjd`` are the first and last TIME stamps (UTC, ``time_scale`` says what the file
    used).  ``scans``, ``n_antennas_with_data``, the flag fractions (``flag_fraction`` counts
    every visibility, autocorrelations included) and an exact time range and integration come
    from the chunked pass over the rows made by ``w.ms.summary(path, flags=True)`` (the
    default); with ``flags=False`` the per-row fields are ``None``.
    ``to_dict()`` is the JSON of ``dsa110-ws ms summary --json``.
    """

    path: str
    telescope: str | None
    observer: str | None
    n_rows: int
    n_antennas: int
    n_antennas_with_data: int | None
    antenna_names: tuple[str, ...]
    antennas: tuple[dict[str, Any], ...]
    fields: tuple[dict[str, Any], ...]
    spws: tuple[dict[str, Any], ...]
    correlations: tuple[str, ...] | None
    time_start_mjd: float | None
    time_end_mjd: float | None
    time_start_utc: str | None
    time_end_utc: str | None
    time_scale: str
    integration_s: float | None
    scans: tuple[int, ...] | None
    data_columns: tuple[str, ...]
    size_bytes: int
    flag_fraction: float | None = None
    flag_fraction_cross: float | None = None
    flag_fraction_per_antenna: dict[str, float] | None = None
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for key in ("antenna_names", "antennas", "fields", "spws", "data_columns", "warnings"):
            d[key] = list(d[key])
        for key in ("correlations", "scans"):
            d[key] = None if d[key] is None else list(d[key])
        for k, v in list(d.items()):
            if isinstance(v, float) and not math.isfinite(v):
                d[k] = None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MSSummary:
        kw: dict[str, Any] = {f.name: d.get(f.name) for f in dataclasses.fields(cls) if f.name in d}
        for key in ("antenna_names", "antennas", "fields", "spws", "data_columns", "warnings"):
            kw[key] = tuple(kw.get(key) or ())
        if kw.get("scans") is not None:
            kw["scans"] = tuple(kw["scans"])
        if kw.get("correlations") is not None:
            kw["correlations"] = tuple(kw["correlations"])
        return cls(**kw)


#: Main-table columns every Measurement Set has (a caltable has none of the last two).
_MS_COLUMNS = ("TIME", "ANTENNA1", "ANTENNA2", "DATA_DESC_ID", "UVW")


def read_summary(path: Path, size_bytes: int) -> MSSummary:
    """Read the metadata of the MS at ``path`` (see :class:`MSSummary`), in a time independent
    of its number of rows.  A subtable that is missing, empty or damaged, and main-table columns
    that cannot be read, cost only their part: ``warnings`` says what could not be read.  Only
    a main table that cannot be opened at all is an error."""
    warn: list[str] = []
    with open_table(path, what="Measurement Set") as ms:
        cols = ms.colnames()
        lacking = [c for c in _MS_COLUMNS if c not in cols]
        if lacking:
            kind = (ms.info() or {}).get("type") or "table"
            raise DataUnavailableError(
                f"{path} is not a Measurement Set (a {kind} without the column(s) "
                f"{', '.join(lacking)}); give the path of an MS."
            )
        n_rows = ms.nrows()
        time_ref = measure_ref(ms, "TIME", "UTC")
        try:
            t_min, t_max = _time_range(ms, n_rows)
            integration = _first(read_column(ms, "INTERVAL", start=0, nrow=1)) if n_rows else None
        except CorruptFileError as exc:
            warn.append(f"{one_line(exc)} Its time range and integration are unknown.")
            t_min = t_max = integration = None
    names, antennas = _part(warn, lambda: _antennas(path, warn), ((), ()))
    spws = _part(warn, lambda: _spws(path, warn), [])
    corrs = _part(warn, lambda: _correlations(path, warn), None)
    if (corrs is None or not spws) and t_min is not None:
        _part(warn, lambda: _shape_fallback(path, n_rows, spws, warn), None)
    if n_rows == 0:
        warn.append("The main table has no rows: the MS holds no visibilities.")
    telescope, observer = _part(warn, lambda: _observation(path, warn), (None, None))
    fields = _part(warn, lambda: _fields(path, warn), ())
    _part(warn, lambda: _data_description(path, warn), None)
    return MSSummary(
        path=str(path),
        telescope=telescope,
        observer=observer,
        n_rows=n_rows,
        n_antennas=len(names),
        n_antennas_with_data=None,
        antenna_names=names,
        antennas=antennas,
        fields=fields,
        spws=tuple(spws),
        correlations=corrs,
        **time_fields(t_min, t_max, time_ref),
        integration_s=None if integration is None else float(integration),
        scans=None,
        data_columns=tuple(c for c in _DATA_COLUMNS if c in cols),
        size_bytes=int(size_bytes),
        warnings=tuple(warn),
    )


def _part(warn: list[str], read: Callable[[], Any], default: Any) -> Any:
    """``read()``, or ``default`` with the reason in ``warn`` when a subtable is missing,
    damaged or unreadable."""
    try:
        return read()
    except DataUnavailableError as exc:
        warn.append(one_line(exc))
        return default


def _observation(path: Path, warn: list[str]) -> tuple[Any, Any]:
    with open_subtable(path, "OBSERVATION") as obs:
        if obs.nrows() == 0:
            warn.append("The OBSERVATION subtable has no rows: the telescope is unknown.")
            return None, None
        return _first(read_column(obs, "TELESCOPE_NAME")), _first(read_column(obs, "OBSERVER"))


def _data_description(path: Path, warn: list[str]) -> None:
    with open_subtable(path, "DATA_DESCRIPTION") as tb:
        if tb.nrows() == 0:
            warn.append(
                "The DATA_DESCRIPTION subtable has no rows: visibilities cannot be tied to "
                "their spectral windows (flag statistics per spw are unavailable)."
            )


def time_fields(t_min: float | None, t_max: float | None, ref: str | None) -> dict[str, Any]:
    """``time_start_mjd, time_end_mjd, time_start_utc, time_end_utc, time_scale`` from TIME
    values (MJD seconds in the scale ``ref``)."""
    if t_min is None or t_max is None:
        return {
            "time_start_mjd": None,
            "time_end_mjd": None,
            "time_start_utc": None,
            "time_end_utc": None,
            "time_scale": "UTC",
        }
    mjd, scale = mjd_seconds_to_utc_mjd(np.array([t_min, t_max]), ref)
    return {
        "time_start_mjd": float(mjd[0]),
        "time_end_mjd": float(mjd[1]),
        "time_start_utc": _iso(float(mjd[0])),
        "time_end_utc": _iso(float(mjd[1])),
        "time_scale": scale,
    }


def _time_range(ms: Any, n_rows: int) -> tuple[float | None, float | None]:
    """First and last TIME, from the first and last rows when a strided sample shows the rows
    in time order, else from the whole column."""
    if n_rows == 0 or "TIME" not in ms.colnames():
        return None, None
    step = max(1, n_rows // 64)
    sample = np.asarray(ms.getcol("TIME", 0, -1, step), dtype=float)
    last = float(np.asarray(ms.getcol("TIME", n_rows - 1, 1))[0])
    if np.all(np.diff(sample) >= 0) and last >= sample[-1]:
        return float(sample[0]), last
    times = np.asarray(ms.getcol("TIME"), dtype=float)
    return float(times.min()), float(times.max())


def _antennas(
    path: Path, warn: list[str] | None = None
) -> tuple[tuple[str, ...], tuple[dict[str, Any], ...]]:
    with open_subtable(path, "ANTENNA") as tb:
        n = tb.nrows()
        if n == 0 and warn is not None:
            warn.append("The ANTENNA subtable has no rows: antenna names are unknown.")
        names = [str(x) for x in (read_column(tb, "NAME", default=[""] * n) or [])]
        stations = [str(x) for x in (read_column(tb, "STATION", default=[""] * n) or [])]
        pos = np.asarray(read_column(tb, "POSITION", default=np.full((n, 3), np.nan)), dtype=float)
        dish = np.asarray(read_column(tb, "DISH_DIAMETER", default=np.full(n, np.nan)), dtype=float)
    rows = tuple(
        {
            "antenna_id": i,
            "name": names[i],
            "station": stations[i] if i < len(stations) else "",
            "x_m": float(pos[i, 0]),
            "y_m": float(pos[i, 1]),
            "z_m": float(pos[i, 2]),
            "dish_diameter_m": float(dish[i]),
        }
        for i in range(n)
    )
    return tuple(names), rows


def _fields(path: Path, warn: list[str]) -> tuple[dict[str, Any], ...]:
    with open_subtable(path, "FIELD") as tb:
        n = tb.nrows()
        names = read_column(tb, "NAME", default=[""] * n) or []
        dirs = read_column(tb, "PHASE_DIR", default=None)
        ref = measure_ref(tb, "PHASE_DIR", "J2000")
    if n == 0:
        warn.append("The FIELD subtable has no rows.")
    out = []
    for i in range(n):
        ra = dec = None
        note = ref or "J2000"
        if dirs is not None:
            lon, lat = np.asarray(dirs)[i].reshape(-1, 2)[0]
            ra, dec, note = direction_to_j2000(float(lon), float(lat), ref)
            if "not converted" in note:
                warn.append(
                    f"Field {names[i]!r}: phase centre frame {ref} was not converted to J2000."
                )
        out.append(
            {
                "field_id": i,
                "name": str(names[i]),
                "ra_deg": ra,
                "dec_deg": dec,
                "frame": "J2000" if note.startswith(("J2000", "ICRS")) else note,
                "frame_in_file": ref,
            }
        )
    return tuple(out)


def _spws(path: Path, warn: list[str]) -> list[dict[str, Any]]:
    out = []
    with open_subtable(path, "SPECTRAL_WINDOW") as tb:
        for i in range(tb.nrows()):
            freq = np.asarray(tb.getcell("CHAN_FREQ", i), dtype=float)
            width = (
                np.asarray(tb.getcell("CHAN_WIDTH", i), dtype=float)
                if "CHAN_WIDTH" in tb.colnames()
                else np.array([])
            )
            total = read_column(tb, "TOTAL_BANDWIDTH", start=i, nrow=1, default=[math.nan])
            out.append(
                {
                    "spw_id": i,
                    "n_channels": int(freq.size),
                    "freq_min_hz": float(freq.min()) if freq.size else None,
                    "freq_max_hz": float(freq.max()) if freq.size else None,
                    "ref_frequency_hz": _first(read_column(tb, "REF_FREQUENCY", start=i, nrow=1)),
                    "chan_width_hz": float(np.median(np.abs(width))) if width.size else None,
                    "total_bandwidth_hz": float(np.asarray(total)[0]),
                }
            )
    if not out:
        warn.append(
            "The SPECTRAL_WINDOW subtable has no rows: channel frequencies are unknown "
            "(the MS may have been copied while it was being written)."
        )
    return out


def _correlations(path: Path, warn: list[str]) -> tuple[str, ...] | None:
    with open_subtable(path, "POLARIZATION") as tb:
        n = tb.nrows()
        types = [np.asarray(tb.getcell("CORR_TYPE", i)).tolist() for i in range(n)]
    if not types:
        warn.append("The POLARIZATION subtable has no rows: correlation names are unknown.")
        return None
    if len({tuple(t) for t in types}) > 1:
        warn.append(f"{n} polarization setups; correlations lists the first.")
    return tuple(STOKES_NAMES.get(int(c), str(c)) for c in types[0])


def _shape_fallback(path: Path, n_rows: int, spws: list, warn: list[str]) -> None:
    """Report the (channels, correlations) shape of the visibilities when subtables are empty."""
    if n_rows == 0:
        return
    with open_table(path, what="Measurement Set") as ms:
        column = "FLAG" if "FLAG" in ms.colnames() else None
        shape = ms.getcolshapestring(column, 0, 1)[0] if column else None
    if shape:
        warn.append(f"Visibility cells are {shape} (channels, correlations) per row.")


def _first(values: Any) -> Any:
    if values is None or len(values) == 0:
        return None
    v = values[0]
    return v.item() if hasattr(v, "item") else v


def _iso(mjd: float) -> str:
    """MJD as ISO UTC with milliseconds and a ``Z`` (the summary's time format)."""
    return f"{mjd_to_iso(mjd, timespec='milliseconds')}Z"
