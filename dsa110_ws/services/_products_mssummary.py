"""Measurement Set metadata from its subtables and light main-table columns (no visibilities).

Fields, spectral windows, antennas, correlations and the telescope come from the FIELD,
SPECTRAL_WINDOW, ANTENNA, POLARIZATION, DATA_DESCRIPTION and OBSERVATION subtables; the
time range, integration, scans, row count and which antennas have data from the TIME,
INTERVAL, SCAN_NUMBER, ANTENNA1 and ANTENNA2 columns, read in row chunks.  Times are converted
to UTC from the TIME column's own measure reference (the VLA writes TAI); phase centres to
J2000 from the PHASE_DIR reference (old VLA data use B1950).  Anything missing or empty is
reported in ``warnings`` rather than guessed silently.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np

from dsa110_ws.services._casatables import (
    STOKES_NAMES,
    direction_to_j2000,
    measure_ref,
    mjd_seconds_to_utc_mjd,
    open_subtable,
    open_table,
    read_column,
)

__all__ = ["MSSummary", "read_summary", "SCALAR_CHUNK_ROWS"]

#: Rows per chunk when scanning the main table's scalar columns (8 MB per float column).
SCALAR_CHUNK_ROWS = 1 << 20
_DATA_COLUMNS = ("DATA", "CORRECTED_DATA", "MODEL_DATA", "FLOAT_DATA", "LAG_DATA")


@dataclasses.dataclass(frozen=True)
class MSSummary:
    """What a Measurement Set holds (frequencies in Hz, times as UTC MJD, angles in degrees).

    ``fields`` are dicts ``name, ra_deg, dec_deg`` (J2000) plus ``frame_in_file``; ``spws`` are
    dicts ``spw_id, n_channels, freq_min_hz, freq_max_hz`` (lowest and highest channel centres),
    ``ref_frequency_hz, chan_width_hz, total_bandwidth_hz``; ``time_start_mjd`` and
    ``time_end_mjd`` are the first and last TIME stamps (UTC, ``time_scale`` says what the file
    used).  The flag fractions are filled when the summary was made with flags (the default of
    ``w.ms.summary``); ``flag_fraction`` counts every visibility, autocorrelations included.
    ``to_dict()`` is the JSON of ``dsa110-ws ms summary --json``.
    """

    path: str
    telescope: str | None
    observer: str | None
    n_rows: int
    n_antennas: int
    n_antennas_with_data: int
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
    scans: tuple[int, ...]
    data_columns: tuple[str, ...]
    size_bytes: int
    flag_fraction: float | None = None
    flag_fraction_cross: float | None = None
    flag_fraction_per_antenna: dict[str, float] | None = None
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for key in (
            "antenna_names",
            "antennas",
            "fields",
            "spws",
            "scans",
            "data_columns",
            "warnings",
        ):
            d[key] = list(d[key])
        d["correlations"] = None if self.correlations is None else list(self.correlations)
        for k, v in list(d.items()):
            if isinstance(v, float) and not math.isfinite(v):
                d[k] = None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MSSummary:
        kw = {f.name: d.get(f.name) for f in dataclasses.fields(cls) if f.name in d}
        for key in (
            "antenna_names",
            "antennas",
            "fields",
            "spws",
            "scans",
            "data_columns",
            "warnings",
        ):
            kw[key] = tuple(kw.get(key) or ())
        if kw.get("correlations") is not None:
            kw["correlations"] = tuple(kw["correlations"])
        return cls(**kw)


def read_summary(path: Path, size_bytes: int) -> MSSummary:
    """Read the metadata of the MS at ``path`` (see :class:`MSSummary`)."""
    warn: list[str] = []
    with open_table(path, what="Measurement Set") as ms:
        cols = ms.colnames()
        n_rows = ms.nrows()
        main = _scan_scalars(ms, n_rows, warn)
        time_ref = measure_ref(ms, "TIME", "UTC")
    names, antennas = _antennas(path)
    spws = _spws(path, warn)
    corrs = _correlations(path, warn)
    if corrs is None or not spws:
        _shape_fallback(path, n_rows, spws, warn)
    t0 = t1 = iso0 = iso1 = None
    scale = "UTC"
    if main["t_min"] is not None:
        mjd, scale = mjd_seconds_to_utc_mjd(np.array([main["t_min"], main["t_max"]]), time_ref)
        t0, t1 = float(mjd[0]), float(mjd[1])
        iso0, iso1 = _iso(t0), _iso(t1)
    if n_rows == 0:
        warn.append("The main table has no rows: the MS holds no visibilities.")
    with open_subtable(path, "OBSERVATION") as obs:
        telescope = _first(read_column(obs, "TELESCOPE_NAME"))
        observer = _first(read_column(obs, "OBSERVER"))
    return MSSummary(
        path=str(path),
        telescope=telescope,
        observer=observer,
        n_rows=n_rows,
        n_antennas=len(names),
        n_antennas_with_data=len(main["antennas"]),
        antenna_names=names,
        antennas=antennas,
        fields=_fields(path, warn),
        spws=tuple(spws),
        correlations=corrs,
        time_start_mjd=t0,
        time_end_mjd=t1,
        time_start_utc=iso0,
        time_end_utc=iso1,
        time_scale=scale,
        integration_s=main["integration_s"],
        scans=main["scans"],
        data_columns=tuple(c for c in _DATA_COLUMNS if c in cols),
        size_bytes=int(size_bytes),
        warnings=tuple(warn),
    )


def _scan_scalars(ms: Any, n_rows: int, warn: list[str]) -> dict[str, Any]:
    t_min, t_max = math.inf, -math.inf
    scans: set[int] = set()
    ants: set[int] = set()
    intervals: list[np.ndarray] = []
    for start in range(0, n_rows, SCALAR_CHUNK_ROWS):
        n = min(SCALAR_CHUNK_ROWS, n_rows - start)
        t = np.asarray(read_column(ms, "TIME", start=start, nrow=n, default=np.empty(0)))
        if t.size:
            t_min, t_max = min(t_min, float(t.min())), max(t_max, float(t.max()))
        scans.update(
            np.unique(read_column(ms, "SCAN_NUMBER", start=start, nrow=n, default=[])).tolist()
        )
        for col in ("ANTENNA1", "ANTENNA2"):
            ants.update(np.unique(read_column(ms, col, start=start, nrow=n, default=[])).tolist())
        iv = read_column(ms, "INTERVAL", start=start, nrow=n, default=None)
        if iv is not None and len(iv):
            intervals.append(np.unique(np.asarray(iv, dtype=float)))
    integration = None
    if intervals:
        values = np.concatenate(intervals)
        integration = float(np.median(values))
        if values.size > 1 and np.ptp(values) > 1e-3 * max(integration, 1e-9):
            warn.append(
                f"INTERVAL varies ({values.min():g}-{values.max():g} s); integration_s is the median."
            )
    return {
        "t_min": t_min if math.isfinite(t_min) else None,
        "t_max": t_max if math.isfinite(t_max) else None,
        "scans": tuple(int(s) for s in sorted(scans)),
        "antennas": {int(a) for a in ants},
        "integration_s": integration,
    }


def _antennas(path: Path) -> tuple[tuple[str, ...], tuple[dict[str, Any], ...]]:
    with open_subtable(path, "ANTENNA") as tb:
        n = tb.nrows()
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
    import datetime as dt

    epoch = dt.datetime(1858, 11, 17, tzinfo=dt.UTC)
    return (
        (epoch + dt.timedelta(days=mjd)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )
