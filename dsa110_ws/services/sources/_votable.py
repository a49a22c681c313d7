"""Tables for VO tools: an astropy ``QTable`` and a VOTable 1.4 that keep what a table means.

What a DataFrame of the workspace carries, and where it goes:

* **units** from the column-name suffixes (``_jy``, ``_jyb``, ``_mjy``, ``_deg``...):
  ``Quantity`` columns in the ``QTable``, ``unit`` attributes in the VOTable;
* **UCDs** (``UCDS``) on the standard columns: identifiers, positions, fluxes and their
  errors, times, signal-to-noise, distances;
* **times**: columns named ``mjd`` or ``*_mjd`` become ``Time`` (MJD, UTC) and datetime
  columns ``Time`` (UTC); in the VOTable they refer to a ``TIMESYS`` (timescale UTC,
  refposition TOPOCENTER: DSA-110 at OVRO; MJD origin for the numbers, ISO 8601
  ``timestamp`` strings for the datetimes);
* **table metadata** (``df.attrs``): numbers and booleans as ``PARAM`` elements (with units
  and UCDs by the same rules), strings as ``INFO`` elements, anything else (lists, dicts,
  ``None``) as ``INFO`` with its JSON text and ``xtype="json"``;
* large tables (``BINARY2_MIN_ROWS`` rows or more) are written as ``BINARY2``.

:func:`read_votable` reads such a file back into the same ``QTable`` (metadata, UCDs,
units and time columns).
"""

from __future__ import annotations

import json
import math
import os
import re
from typing import Any

import numpy as np
import pandas as pd

from dsa110_ws.errors import InvalidQueryError

__all__ = ["to_qtable", "write_votable", "read_votable", "UCDS", "unit_of", "BINARY2_MIN_ROWS"]

#: Tables with at least this many rows are written as BINARY2 unless asked otherwise.
BINARY2_MIN_ROWS = 10_000
SERIALIZATIONS = ("auto", "tabledata", "binary2")

#: Column-name suffix -> unit (the package's naming convention carries units in names).
_UNITS = (
    ("_mjy", "mJy"),
    ("_jyb", "Jy/beam"),
    ("_jy", "Jy"),
    ("local_rms", "Jy/beam"),
    ("_deg", "deg"),
    ("_arcsec", "arcsec"),
    ("_arcmin", "arcmin"),
    ("_days", "d"),
    ("_s", "s"),
    ("_hz", "Hz"),
    ("_ghz", "GHz"),
    ("_mhz", "MHz"),
)
_FLUX = "phot.flux.density;em.radio"
#: Column name -> UCD (IVOA UCD1+), for the columns a VO tool should recognise.
UCDS: dict[str, str] = {
    "source_id": "meta.id;meta.main",
    "id": "meta.id;meta.main",
    "name": "meta.id",
    "ra_deg": "pos.eq.ra;meta.main",
    "dec_deg": "pos.eq.dec;meta.main",
    "center_ra_deg": "pos.eq.ra",
    "center_dec_deg": "pos.eq.dec",
    "pointing_ra_deg": "pos.eq.ra;instr.pointing",
    "pointing_dec_deg": "pos.eq.dec;instr.pointing",
    "flux_jy": _FLUX,
    "flux_err_jy": f"stat.error;{_FLUX}",
    "raw_flux_jy": _FLUX,
    "raw_flux_err_jy": f"stat.error;{_FLUX}",
    "normalized_flux_jy": _FLUX,
    "normalized_flux_err_jy": f"stat.error;{_FLUX}",
    "peak_jyb": _FLUX,
    "peak_err_jyb": f"stat.error;{_FLUX}",
    "peak_flux_jy": _FLUX,
    "upper_limit_jy": f"{_FLUX};stat.max",
    "mean_flux_jy": f"{_FLUX};stat.mean",
    "std_flux_jy": f"stat.stdev;{_FLUX}",
    "nvss_flux_mjy": "phot.flux.density;em.radio.750-1500MHz",
    "mean_flux_mjy": f"{_FLUX};stat.mean",
    "local_rms": "stat.stdev;phot.flux.density",
    "rms_jy": "stat.stdev;phot.flux.density",
    "noise_jy": "stat.stdev;phot.flux.density",
    "snr": "stat.snr",
    "sep_deg": "pos.angDistance",
    "sep_arcsec": "pos.angDistance",
    "sep_from_center_deg": "pos.angDistance",
    "mjd": "time.epoch",
    "obs_mjd": "time.epoch",
    "time_utc": "time.epoch",
    "mid_mjd": "time.epoch",
    "first_detected_mjd": "time.start",
    "last_detected_mjd": "time.end",
    "start_mjd": "time.start",
    "end_mjd": "time.end",
    "freq_ghz": "em.freq",
}
_MJD = re.compile(r"(^|_)mjd(_[ab])?$")
_MJD_ORIGIN = 2400000.5
_TIMESYS_MJD, _TIMESYS_ISO = "timesys_utc_mjd", "timesys_utc_iso"


def unit_of(name: str) -> str | None:
    """The unit a column (or attribute) name declares by its suffix, else ``None``."""
    for suffix, unit in _UNITS:
        if name.endswith(suffix):
            return unit
    return None


def _is_mjd(name: str) -> bool:
    return bool(_MJD.search(name))


# -- DataFrame -> QTable ----------------------------------------------------------------------
def _time_column(col: pd.Series, name: str) -> Any:
    from astropy.time import Time

    if _is_mjd(name):
        values = pd.to_numeric(col, errors="coerce").to_numpy(float)
        t = Time(np.nan_to_num(values, nan=0.0), format="mjd", scale="utc")
    else:
        utc = pd.to_datetime(col, utc=True).dt.tz_localize(None)
        values = utc.to_numpy("datetime64[ns]")
        t = Time(np.where(utc.isna(), np.datetime64("2000-01-01"), values), scale="utc")
        t.format = "isot"
    missing = col.isna().to_numpy()
    if missing.any():
        from astropy.utils.masked import Masked

        t = Time(Masked(t.jd1, mask=missing), t.jd2, format="jd", scale="utc")
        t.format = "mjd" if _is_mjd(name) else "isot"
    return t


def _plain_column(col: pd.Series) -> Any:
    from astropy.table import MaskedColumn

    missing = col.isna().to_numpy()
    if pd.api.types.is_bool_dtype(col.dtype):
        return MaskedColumn(col.fillna(False).to_numpy(bool), mask=missing)
    if pd.api.types.is_integer_dtype(col.dtype):
        return MaskedColumn(col.fillna(0).to_numpy(np.int64), mask=missing)
    if pd.api.types.is_numeric_dtype(col.dtype):
        return np.asarray(pd.to_numeric(col, errors="coerce"), dtype=float)
    # text: a missing value is "" (a VOTable string column has no null of its own)
    return col.astype(object).where(~missing, "").map(str).to_numpy(str)


def _is_time(col: pd.Series, name: str) -> bool:
    if isinstance(col.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(col):
        return True
    return _is_mjd(name) and pd.api.types.is_numeric_dtype(col.dtype)


def to_qtable(df: pd.DataFrame) -> Any:
    """``df`` as an astropy ``QTable``: ``Quantity`` columns with their units, ``Time``
    columns (UTC) for MJD and datetime columns, UCDs in ``table[col].meta["ucd"]`` and
    ``df.attrs`` as ``table.meta``."""
    import copy

    from astropy import units as u
    from astropy.table import QTable

    if not isinstance(df, pd.DataFrame):
        raise InvalidQueryError("to_qtable() converts a DataFrame (a light curve or a table).")
    table = QTable(meta=copy.deepcopy(dict(df.attrs)))
    for name in df.columns:
        key, col = str(name), df[name]
        if _is_time(col, key):
            table[key] = _time_column(col, key)
        else:
            values = _plain_column(col)
            unit = unit_of(key)
            numeric = np.issubdtype(np.asarray(values).dtype, np.number)
            if unit and numeric and not np.issubdtype(np.asarray(values).dtype, np.bool_):
                table[key] = np.asarray(values, dtype=float) * u.Unit(unit)
            else:
                table[key] = values
        if key in UCDS:
            table[key].info.meta = {"ucd": UCDS[key]}
    return table


# -- QTable -> VOTable --------------------------------------------------------------------------
def _plain_table(qtable: Any) -> tuple[Any, dict[str, str]]:
    """A ``Table`` the VOTable writer takes (times as MJD numbers or ISO strings) and which
    columns refer to which TIMESYS."""
    from astropy.table import Column, MaskedColumn, Table
    from astropy.time import Time

    out, refs = Table(masked=True), {}  # masked: astropy's writer drops masks otherwise
    for name in qtable.colnames:
        col = qtable[name]
        if isinstance(col, Time):
            missing = np.broadcast_to(np.asarray(getattr(col, "mask", False), bool), (len(col),))
            if col.format == "mjd":
                values = np.asarray(col.unmasked.mjd if missing.any() else col.mjd, dtype=float)
                out[name] = MaskedColumn(values, mask=missing, unit="d")
                refs[name] = _TIMESYS_MJD
            else:
                iso = np.asarray((col.unmasked if missing.any() else col).isot, dtype=str)
                # a missing timestamp is empty (BINARY2 readers ignore a string's null flag)
                out[name] = MaskedColumn(np.where(missing, "", iso), mask=missing)
                refs[name] = _TIMESYS_ISO
        elif hasattr(col, "unit") and col.unit is not None and not isinstance(col, Column):
            out[name] = Column(np.asarray(col.value), unit=col.unit)
        else:
            out[name] = col
        meta = getattr(qtable[name].info, "meta", None) or {}
        if meta.get("ucd"):
            out[name].meta["ucd"] = meta["ucd"]
    return out, refs


def _metadata_elements(
    votable: Any, meta: dict[str, Any], config: dict[str, Any]
) -> tuple[list, list]:
    from astropy.io.votable.tree import Info, Param

    params, infos = [], []
    for i, (key, value) in enumerate(meta.items()):
        name = str(key)
        ident = f"attr{i}_" + re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, bool):
            params.append(Param(votable, ID=ident, name=name, datatype="boolean", value=value))
        elif isinstance(value, int):
            params.append(Param(votable, ID=ident, name=name, datatype="long", value=value))
        elif isinstance(value, float):
            kw = {"unit": unit_of(name)} if unit_of(name) else {}
            ucd = UCDS.get(name)
            if ucd:
                kw["ucd"] = ucd.replace(";meta.main", "")
            params.append(Param(votable, ID=ident, name=name, datatype="double", value=value, **kw))
        elif isinstance(value, str):
            infos.append(Info(name=name, value=value, config=config))
        else:
            text = json.dumps(value, default=str, allow_nan=True)
            infos.append(Info(name=name, value=text, xtype="json", config=config))
    return params, infos


def write_votable(
    df: pd.DataFrame, target: str | os.PathLike[str], *, serialization: str = "auto"
) -> None:
    """Write ``df`` as a VOTable 1.4 (see the module doc); ``serialization``: ``"auto"``
    (BINARY2 from ``BINARY2_MIN_ROWS`` rows), ``"tabledata"`` or ``"binary2"``."""
    from astropy.io.votable.tree import Info, TimeSys, VOTableFile

    if serialization not in SERIALIZATIONS:
        raise InvalidQueryError(f"serialization={serialization!r} is not one of {SERIALIZATIONS}.")
    qtable = to_qtable(df)
    plain, refs = _plain_table(qtable)
    votable = VOTableFile.from_table(plain)
    votable.version = "1.4"
    config = {"version": "1.4", "version_1_2_or_later": True, "version_1_4_or_later": True}
    resource = votable.resources[0]
    table = resource.tables[0]
    used = set(refs.values())
    if _TIMESYS_MJD in used:
        resource.time_systems.append(
            TimeSys(
                ID=_TIMESYS_MJD,
                timeorigin=_MJD_ORIGIN,
                timescale="UTC",
                refposition="TOPOCENTER",
                config=config,
            )
        )
    if _TIMESYS_ISO in used:
        resource.time_systems.append(
            TimeSys(ID=_TIMESYS_ISO, timescale="UTC", refposition="TOPOCENTER", config=config)
        )
    for field in table.fields:
        if field.name in refs:
            field.ref = refs[field.name]
            if refs[field.name] == _TIMESYS_ISO:
                field.xtype = "timestamp"
    params, infos = _metadata_elements(votable, dict(qtable.meta), config)
    table.params.extend(params)
    table.infos.extend(infos)
    from dsa110_ws import __version__

    resource.infos.append(Info(name="generator", value=f"dsa110-ws {__version__}", config=config))
    fmt = serialization
    if fmt == "auto":
        fmt = "binary2" if len(df) >= BINARY2_MIN_ROWS else "tabledata"
    votable.to_xml(str(target), tabledata_format=fmt)


# -- VOTable -> QTable ------------------------------------------------------------------------
def _param_value(param: Any) -> Any:
    value = param.value
    if isinstance(value, np.ma.MaskedArray):
        value = value.filled(np.nan) if value.dtype.kind == "f" else value.data
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value.item()
    if isinstance(value, np.generic):
        value = value.item()
    if param.datatype == "double" and isinstance(value, (int, float)):
        return float(value)
    return value


def read_votable(path: str | os.PathLike[str]) -> Any:
    """A VOTable written by :func:`write_votable` (or any VOTable 1.4 with TIMESYS) as a
    ``QTable``: ``PARAM``/``INFO`` elements of the table in ``meta``, UCDs in each column's
    ``meta["ucd"]``, columns referring to a UTC ``TIMESYS`` as ``Time``."""
    from astropy.io.votable import parse
    from astropy.table import QTable
    from astropy.time import Time

    from dsa110_ws.errors import DataUnavailableError

    source = os.path.expanduser(str(path))
    if not os.path.isfile(source):
        raise DataUnavailableError(f"No VOTable at {path}; check the path.")
    try:
        votable = parse(source)
    except (ValueError, OSError) as exc:
        raise DataUnavailableError(f"Cannot read {path} as a VOTable: {exc}") from None
    element = votable.get_first_table()
    systems = {ts.ID: ts for ts in votable.iter_timesys()}
    table = QTable(element.to_table(use_names_over_ids=True))
    table.meta = {k: v for k, v in table.meta.items() if k not in ("ID", "name")}
    for param in element.params:
        table.meta[param.name] = _param_value(param)
    for info in element.infos:
        table.meta[info.name] = json.loads(info.value) if info.xtype == "json" else info.value
    for field in element.fields:
        ts = systems.get(field.ref) if field.ref else None
        if ts is None:
            continue
        col = table[field.name]
        scale = str(ts.timescale).lower()
        missing = np.ma.getmaskarray(col)
        if field.datatype in ("double", "float"):
            values = np.asarray(getattr(col, "value", col), dtype=float)
            origin = float(ts.timeorigin) if ts.timeorigin is not None else _MJD_ORIGIN
            t = Time(origin, values, format="jd", scale=scale)
            t.format = "mjd" if math.isclose(origin, _MJD_ORIGIN) else "jd"
        else:
            text = np.asarray(np.ma.getdata(col), dtype=str)
            missing = missing | (np.char.strip(text) == "")  # a null timestamp is empty
            t = Time(np.where(missing, "2000-01-01T00:00:00", text), scale=scale)
            t.format = "isot"
        if missing.any():
            from astropy.utils.masked import Masked

            fmt = t.format
            t = Time(Masked(t.jd1, mask=missing), t.jd2, format="jd", scale=scale)
            t.format = fmt
        table[field.name] = t
        if field.ucd:
            table[field.name].info.meta = {"ucd": field.ucd}
    return table
