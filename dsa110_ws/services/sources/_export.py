"""Writing light curves and candidate tables as CSV or VOTable (TOPCAT, Aladin, astropy)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from dsa110_ws.errors import InvalidQueryError

if TYPE_CHECKING:
    from dsa110_ws.core.paths import PathPolicy

__all__ = ["export_table", "FORMATS"]

FORMATS = ("csv", "votable")

#: Column-name suffix -> unit (the package's naming convention carries units in names).
_UNITS = (
    ("_mjy", "mJy"),
    ("_jyb", "Jy/beam"),
    ("_jy", "Jy"),
    ("_deg", "deg"),
    ("_arcsec", "arcsec"),
    ("mjd", "d"),
    ("_mjd_a", "d"),
    ("_mjd_b", "d"),
    ("_days", "d"),
    ("_s", "s"),
)


def _unit(name: str) -> str | None:
    for suffix, unit in _UNITS:
        if name.endswith(suffix):
            return unit
    return None


def _target(paths: PathPolicy, path: str | os.PathLike[str], overwrite: bool) -> Path:
    target = paths.output(path, what="export")
    if target.exists() and not overwrite:
        raise InvalidQueryError(f"{target} exists; pass overwrite=True to replace it.")
    return target


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    """Columns every reader understands: datetimes as ISO strings, categories as text."""
    out = df.copy()
    for c in out.columns:
        col = out[c]
        if isinstance(col.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(col):
            out[c] = col.dt.strftime("%Y-%m-%dT%H:%M:%S.%f").where(col.notna(), "")
        elif (
            isinstance(col.dtype, pd.CategoricalDtype)
            or col.dtype == object
            or pd.api.types.is_string_dtype(col)
        ):
            out[c] = col.astype(object).where(col.notna(), "").astype(str)
    return out


def export_table(
    paths: PathPolicy,
    df: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    overwrite: bool = False,
) -> Path:  # noqa: A002
    """Write ``df`` to ``path`` as CSV or VOTable (from the suffix unless ``format`` says);
    units from the column-name suffixes, simple ``df.attrs`` as table metadata."""
    fmt = (
        format or ("votable" if str(path).lower().endswith((".xml", ".vot", ".votable")) else "csv")
    ).lower()
    if fmt not in FORMATS:
        raise InvalidQueryError(f"format={format!r} is not one of {FORMATS}.")
    if not isinstance(df, pd.DataFrame):
        raise InvalidQueryError("export() writes a DataFrame (a light curve or a table).")
    target = _target(paths, path, overwrite)
    plain = _plain(df)
    if fmt == "csv":
        plain.to_csv(target, index=False, float_format="%.17g")
        return target
    from astropy.table import Table

    table = Table.from_pandas(plain)
    for name in table.colnames:
        unit = _unit(name)
        if unit and np.issubdtype(table[name].dtype, np.number):
            table[name].unit = unit
    table.meta.update(
        {
            str(k): v
            for k, v in df.attrs.items()
            if isinstance(v, (str, int, float, bool)) and v is not None
        }
    )
    table.write(target, format="votable", overwrite=True)
    return target
