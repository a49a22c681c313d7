"""Work on one partition of the photometry dataset: what runs here or on a Dask worker.

Every function takes the partition's Parquet files and plain parameters and returns a
small pandas result, so the same code runs in this process and on a worker.  A source's
rows all lie in one partition, so every per-source statistic (the variability table, the
derived catalogue, the choice of reference sources) is exact per partition; only the
per-image statistics of the reference normalisation need the rows of all partitions, and
those are gathered (the candidate reference rows, and per image its observation times
with their counts) and solved once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dsa110_ws.services.sources._fluxdata import frame_arrays, needed_columns
from dsa110_ws.services.sources._timescales import DEFAULT_TIMESCALES
from dsa110_ws.services.sources._variability import compute_metrics

if TYPE_CHECKING:
    from dsa110_ws.services.sources._normalise import Normalisation

__all__ = [
    "read_partition",
    "variability_part",
    "catalogue_part",
    "reference_part",
    "CATALOGUE_COLUMNS",
]

TEXT = ("source_id", "image_path")
CATALOGUE_COLUMNS = (
    "id",
    "name",
    "ra_deg",
    "dec_deg",
    "catalog_match",
    "source_type",
    "first_detected_mjd",
    "last_detected_mjd",
    "detection_count",
    "mean_flux_jy",
    "nvss_flux_mjy",
)


def _categorical(column: Any) -> pd.Categorical:
    """An Arrow string column as a categorical of the values present, categories sorted
    (as a read of the same rows from SQLite gives)."""
    from dsa110_ws.services.sources._dataset_files import text_codes

    codes, values = text_codes(column)
    present = np.bincount(codes[codes >= 0], minlength=len(values)) > 0
    kept = values[present]
    order = np.argsort(kept.astype(str), kind="stable")
    rank = np.empty(len(kept), dtype=np.int64)
    rank[order] = np.arange(len(kept), dtype=np.int64)
    lut = np.full(len(values) + 1, -1, dtype=np.int64)
    lut[np.flatnonzero(present)] = rank
    new = lut[np.where(codes >= 0, codes, len(values))].astype(np.int32)
    return pd.Categorical.from_codes(new, categories=kept[order], validate=False)


def _by_id_range(paths: Sequence[str]) -> tuple[list[str], bool]:
    """The files in increasing ``id`` order, and whether their id ranges are disjoint (then
    their rows, one after the other, keep every source's ties in time in id order)."""
    import pyarrow.parquet as pq

    if len(paths) < 2:
        return list(paths), True
    ranges = []
    for path in paths:
        meta = pq.ParquetFile(path).metadata
        j = meta.schema.names.index("id")
        stats = [meta.row_group(i).column(j).statistics for i in range(meta.num_row_groups)]
        if not stats or any(st is None or not st.has_min_max for st in stats):
            return list(paths), False
        ranges.append((min(st.min for st in stats), max(st.max for st in stats), path))
    ranges.sort()
    disjoint = all(a[1] < b[0] for a, b in zip(ranges, ranges[1:], strict=False))
    return [r[2] for r in ranges], disjoint


def read_partition(
    paths: Sequence[str],
    columns: Sequence[str],
    *,
    start_mjd: float | None = None,
    end_mjd: float | None = None,
    source_ids: Sequence[str] | None = None,
) -> pd.DataFrame:
    """``columns`` of one partition's rows (observation time in [start, end); only
    ``source_ids``), text columns as sorted categoricals; rows in (source, time, id)
    order when the partition is one file, else file after file in increasing ``id``
    ranges, or in ``id`` order when the files' ranges overlap."""
    import pyarrow.compute as pc
    import pyarrow.dataset as pads

    ordered, disjoint = _by_id_range(paths)
    cols = list(dict.fromkeys([*columns, *([] if disjoint else ["id"])]))
    fmt = pads.ParquetFileFormat(
        read_options=pads.ParquetReadOptions(dictionary_columns=[c for c in TEXT if c in cols]),
        # every page's CRC checked: a damaged file fails (and is rebuilt), never wrong rows
        default_fragment_scan_options=pads.ParquetFragmentScanOptions(
            page_checksum_verification=True
        ),
    )
    expr = None
    for cond in (
        None if start_mjd is None else pc.field("obs_mjd") >= float(start_mjd),
        None if end_mjd is None else pc.field("obs_mjd") < float(end_mjd),
        None if source_ids is None else pc.field("source_id").isin(list(source_ids)),
    ):
        if cond is not None:
            expr = cond if expr is None else expr & cond
    table = pads.dataset(ordered, format=fmt).to_table(columns=cols, filter=expr)
    if not disjoint:  # ties in time must meet in id order (as from SQLite)
        table = table.sort_by("id")
    data: dict[str, Any] = {}
    for c in columns:
        col = table.column(c)
        data[c] = (
            _categorical(col)
            if c in TEXT
            else col.to_numpy().astype(np.int64)
            if c == "id"
            else col.to_numpy(zero_copy_only=False).astype(float)
        )
    df = pd.DataFrame(data, columns=list(columns), copy=False)
    df.attrs.update(table="photometry", n_rows=len(df), start_mjd=start_mjd, end_mjd=end_mjd)
    return df


def variability_part(
    paths: Sequence[str],
    *,
    flux: str,
    have: Sequence[str],
    min_epochs: int,
    start_mjd: float | None = None,
    end_mjd: float | None = None,
    source_ids: Sequence[str] | None = None,
    normalisation: Normalisation | None = None,
    timescales: Mapping[str, float] = DEFAULT_TIMESCALES,
) -> pd.DataFrame:
    """The variability table of one partition's sources."""
    flux, cols = needed_columns(flux, set(have))
    df = read_partition(paths, cols, start_mjd=start_mjd, end_mjd=end_mjd, source_ids=source_ids)
    arrays = frame_arrays(df, flux, normalisation)
    return compute_metrics(arrays, min_epochs=min_epochs, pairs=False, timescales=timescales)


def _seg(values: np.ndarray, starts: np.ndarray, op: Any) -> np.ndarray:
    return op.reduceat(values, starts) if len(starts) else np.zeros(0)


def catalogue_part(paths: Sequence[str], *, have: Sequence[str]) -> pd.DataFrame:
    """The catalogue derived from one partition's photometry, as the pipeline's GROUP BY
    over ``source_id`` gives it (NULLs ignored as SQL does; rows without a source
    skipped): error-weighted position, detection count, first/last ``mjd``, mean flux,
    NVSS flux."""
    want = ["source_id", "ra_deg", "dec_deg", "mjd", "flux_jy", "flux_err_jy", "nvss_flux_mjy"]
    cols = [c for c in want if c in have]
    df = read_partition(paths, cols)
    code = df["source_id"].cat.codes.to_numpy().astype(np.int64)
    ok = code >= 0
    order = np.argsort(code[ok], kind="stable")
    rows = np.flatnonzero(ok)[order]
    k = code[rows]
    starts = np.flatnonzero(np.concatenate([[True], k[1:] != k[:-1]])) if len(k) else k
    ids = df["source_id"].cat.categories.to_numpy().astype(object)[k[starts]]

    def col(name: str) -> np.ndarray:
        return df[name].to_numpy(float)[rows] if name in df else np.full(len(rows), np.nan)

    err = col("flux_err_jy")
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(err > 0, 1.0 / (err * err), 1.0)
    sw = _seg(w, starts, np.add)
    out: dict[str, Any] = {"id": ids, "name": ids}
    for name in ("ra_deg", "dec_deg"):
        v = col(name) * w
        n = _seg(np.isfinite(v).astype(np.int64), starts, np.add)
        out[name] = np.where(n > 0, _seg(np.nan_to_num(v), starts, np.add), np.nan) / sw
    out["catalog_match"] = np.full(len(ids), None, dtype=object)
    out["source_type"] = np.full(len(ids), None, dtype=object)
    out["first_detected_mjd"] = _seg(col("mjd"), starts, np.fmin)
    out["last_detected_mjd"] = _seg(col("mjd"), starts, np.fmax)
    out["detection_count"] = np.diff(np.append(starts, len(k))).astype(np.int64)
    f = col("flux_jy")
    nf = _seg(np.isfinite(f).astype(np.int64), starts, np.add)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["mean_flux_jy"] = np.where(nf > 0, _seg(np.nan_to_num(f), starts, np.add) / nf, np.nan)
    out["nvss_flux_mjy"] = _seg(col("nvss_flux_mjy"), starts, np.fmax)
    return pd.DataFrame(out, columns=list(CATALOGUE_COLUMNS))


def reference_part(
    paths: Sequence[str],
    *,
    snr_min: float,
    min_epochs: int,
    start_mjd: float | None = None,
    end_mjd: float | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What the reference normalisation needs from one partition: the usable rows of its
    candidate reference sources (``id``, ``source_id``, ``image_path``, ``flux_jy``,
    ``flux_err_jy``) and, per image, each observation time with its row count."""
    from dsa110_ws.services.sources._normalise import candidates

    cols = ["source_id", "image_path", "obs_mjd", "flux_jy", "flux_err_jy", "id"]
    df = read_partition(paths, cols, start_mjd=start_mjd, end_mjd=end_mjd)
    src = df["source_id"].cat.codes.to_numpy().astype(np.int64)
    img = df["image_path"].cat.codes.to_numpy().astype(np.int64)
    f, s = df["flux_jy"].to_numpy(float), df["flux_err_jy"].to_numpy(float)
    with np.errstate(invalid="ignore"):
        good = (src >= 0) & (img >= 0) & np.isfinite(f) & np.isfinite(s) & (s > 0) & (f > 0)
    n_src = len(df["source_id"].cat.categories)
    is_ref, _, _ = candidates(src[good], f[good], s[good], n_src, snr_min, min_epochs)
    take = np.flatnonzero(good)[is_ref[src[good]]]
    rows = pd.DataFrame(
        {
            "id": df["id"].to_numpy()[take],
            "source_id": df["source_id"].astype(object).to_numpy()[take],
            "image_path": df["image_path"].astype(object).to_numpy()[take],
            "flux_jy": f[take],
            "flux_err_jy": s[take],
        }
    )
    has_img = img >= 0
    times = (
        pd.DataFrame(
            {"image_path": img[has_img], "obs_mjd": df["obs_mjd"].to_numpy(float)[has_img]}
        )
        .groupby(["image_path", "obs_mjd"], dropna=False, sort=False)
        .size()
        .reset_index(name="n")
    )
    cats = df["image_path"].cat.categories.to_numpy().astype(object)
    times["image_path"] = cats[times["image_path"].to_numpy()]
    return rows, times
