"""Writing light curves and candidate tables as CSV or VOTable (TOPCAT, Aladin, astropy)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from dsa110_ws.errors import InvalidQueryError

if TYPE_CHECKING:
    from dsa110_ws.core.paths import PathPolicy

__all__ = ["export_table", "FORMATS"]

FORMATS = ("csv", "votable")


def _target(paths: PathPolicy, path: str | os.PathLike[str], overwrite: bool) -> Path:
    """Where to write: never among the pipeline's files; an existing file only with
    ``overwrite`` and only if the workspace wrote it (unchanged since)."""
    return paths.output(path, what="export", force=overwrite)


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
    serialization: str = "auto",
) -> Path:  # noqa: A002
    """Write ``df`` to ``path`` as CSV or VOTable (from the suffix unless ``format`` says).

    The VOTable carries units, UCDs, time systems and ``df.attrs`` as PARAM/INFO elements
    (see :mod:`._votable`; ``serialization``: "auto", "tabledata" or "binary2"); the CSV
    the values only.
    """
    fmt = (
        format or ("votable" if str(path).lower().endswith((".xml", ".vot", ".votable")) else "csv")
    ).lower()
    if fmt not in FORMATS:
        raise InvalidQueryError(f"format={format!r} is not one of {FORMATS}.")
    if not isinstance(df, pd.DataFrame):
        raise InvalidQueryError("export() writes a DataFrame (a light curve or a table).")
    target = _target(paths, path, overwrite)
    from dsa110_ws.core.atomic import temp_sibling

    tmp = temp_sibling(target)
    try:
        if fmt == "csv":
            _plain(df).to_csv(tmp, index=False, float_format="%.17g")
        else:
            from dsa110_ws.services.sources._votable import write_votable

            write_votable(df, tmp, serialization=serialization)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    paths.record(target)
    return target
