"""Flag statistics of a Measurement Set, streamed in row chunks (memory bounded by the chunk).

A visibility is one (row, channel, correlation) element; it counts as flagged when its FLAG
is set or its row's FLAG_ROW is.  Each chunk of FLAG is reduced to per-row counts (and
per-channel counts per data description), and everything else -- per antenna, spw, field,
scan -- follows from those with ``np.bincount``.  An antenna's fraction counts every
visibility on a baseline touching it (its autocorrelation once).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np

from dsa110_ws.errors import InvalidQueryError
from dsa110_ws.services._casatables import open_subtable, open_table, read_column

__all__ = ["FlagStats", "compute_flag_stats", "DEFAULT_CHUNK_BYTES"]

#: Default FLAG chunk size in bytes (numpy bools): peak memory stays a small multiple of it.
DEFAULT_CHUNK_BYTES = 32 * 1024 * 1024


@dataclasses.dataclass(frozen=True)
class FlagStats:
    """Flagged fractions overall and per antenna, spw, field, scan, correlation and channel.

    The breakdowns are DataFrames with ``n_visibilities``, ``n_flagged`` and ``flag_fraction``
    columns; ``per_channel`` has ``spw_id, channel, freq_hz``.  Antennas without data are
    listed with ``n_visibilities`` 0 and a NaN fraction.
    """

    path: str
    n_rows: int
    n_visibilities: int
    n_flagged: int
    flag_fraction: float
    n_visibilities_cross: int
    flag_fraction_cross: float
    per_antenna: Any
    per_spw: Any
    per_field: Any
    per_scan: Any
    per_correlation: Any
    per_channel: Any
    fully_flagged_antennas: tuple[str, ...]
    chunk_rows: int

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for k, v in d.items():
            if hasattr(v, "to_dict"):
                d[k] = [
                    {
                        kk: (None if isinstance(vv, float) and not math.isfinite(vv) else vv)
                        for kk, vv in r.items()
                    }
                    for r in v.to_dict(orient="records")
                ]
            elif isinstance(v, float) and not math.isfinite(v):
                d[k] = None
        d["fully_flagged_antennas"] = list(self.fully_flagged_antennas)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FlagStats:
        import pandas as pd

        kw = dict(d)
        for k in (
            "per_antenna",
            "per_spw",
            "per_field",
            "per_scan",
            "per_correlation",
            "per_channel",
        ):
            kw[k] = pd.DataFrame(d.get(k) or [])
        for k in ("flag_fraction", "flag_fraction_cross"):
            kw[k] = math.nan if kw.get(k) is None else kw[k]
        kw["fully_flagged_antennas"] = tuple(kw.get("fully_flagged_antennas") or ())
        return cls(**kw)

    @property
    def flag_fraction_per_antenna(self) -> dict[str, float]:
        """``{antenna name: fraction}`` over antennas with data."""
        df = self.per_antenna
        has = df[df["n_visibilities"] > 0]
        return {str(n): float(f) for n, f in zip(has["name"], has["flag_fraction"], strict=True)}


class _Acc:
    """Running integer counts keyed by small non-negative ids."""

    def __init__(self) -> None:
        self.vis = np.zeros(0, np.int64)
        self.flag = np.zeros(0, np.int64)

    def add(self, ids: np.ndarray, n_vis: np.ndarray, n_flag: np.ndarray) -> None:
        if ids.size == 0:
            return
        size = int(ids.max()) + 1
        if size > self.vis.size:
            self.vis = np.pad(self.vis, (0, size - self.vis.size))
            self.flag = np.pad(self.flag, (0, size - self.flag.size))
        self.vis[:size] += np.bincount(ids, weights=n_vis, minlength=size).astype(np.int64)
        self.flag[:size] += np.bincount(ids, weights=n_flag, minlength=size).astype(np.int64)


def compute_flag_stats(path: Path, *, chunk_rows: int | None = None) -> FlagStats:
    """Stream FLAG (and FLAG_ROW) of the MS at ``path`` in chunks of ``chunk_rows`` rows."""
    if chunk_rows is not None and (not isinstance(chunk_rows, (int, np.integer)) or chunk_rows < 1):
        raise InvalidQueryError(f"chunk_rows must be a positive integer (got {chunk_rows!r}).")
    ddid_spw, chan_freqs, corr_names = _layout(path)
    acc = {k: _Acc() for k in ("ant", "ddid", "field", "scan")}
    totals = np.zeros(4, np.int64)  # vis, flagged, vis cross, flagged cross
    per_corr: np.ndarray | None = None
    per_chan: dict[int, np.ndarray] = {}
    with open_table(path, what="Measurement Set") as ms:
        n_rows = ms.nrows()
        cell = _cell_size(ms, n_rows)
        rows = int(chunk_rows or max(1, DEFAULT_CHUNK_BYTES // max(cell, 1)))
        for start in range(0, n_rows, rows):
            n = min(rows, n_rows - start)
            flag = np.asarray(ms.getcol("FLAG", start, n))
            if flag.ndim == 2:
                flag = flag[:, :, None] if flag.shape[1] else flag[:, None, :]
            frow = read_column(ms, "FLAG_ROW", start=start, nrow=n, default=None)
            if frow is not None and np.any(frow):
                flag = flag | np.asarray(frow, bool)[:, None, None]
            ints = {
                c: np.asarray(
                    read_column(ms, c, start=start, nrow=n, default=np.zeros(n, int)), np.int64
                )
                for c in ("ANTENNA1", "ANTENNA2", "DATA_DESC_ID", "FIELD_ID", "SCAN_NUMBER")
            }
            per_row = flag.reshape(n, -1).sum(axis=1, dtype=np.int64)
            n_vis = np.full(n, flag.shape[1] * flag.shape[2], np.int64)
            cross = ints["ANTENNA1"] != ints["ANTENNA2"]
            totals += (n_vis.sum(), per_row.sum(), n_vis[cross].sum(), per_row[cross].sum())
            acc["ant"].add(ints["ANTENNA1"], n_vis, per_row)
            acc["ant"].add(ints["ANTENNA2"][cross], n_vis[cross], per_row[cross])
            for key, col in (
                ("ddid", "DATA_DESC_ID"),
                ("field", "FIELD_ID"),
                ("scan", "SCAN_NUMBER"),
            ):
                acc[key].add(ints[col], n_vis, per_row)
            corr = flag.sum(axis=(0, 1), dtype=np.int64)
            per_corr = corr if per_corr is None else per_corr + corr
            _add_channels(per_chan, flag, ints["DATA_DESC_ID"])
    return _assemble(
        path, n_rows, rows, totals, acc, per_corr, per_chan, ddid_spw, chan_freqs, corr_names
    )


def _cell_size(ms: Any, n_rows: int) -> int:
    if n_rows == 0:
        return 1
    shape = ms.getcolshapestring("FLAG", 0, 1)[0].strip("[]").split(",")
    return int(np.prod([int(s) for s in shape if s.strip()]))


def _add_channels(per_chan: dict[int, np.ndarray], flag: np.ndarray, ddid: np.ndarray) -> None:
    ids = np.unique(ddid)
    for d in ids:
        block = flag if ids.size == 1 else flag[ddid == d]
        counts = block.sum(axis=(0, 2), dtype=np.int64)
        rows = np.int64(block.shape[0] * block.shape[2])
        prev = per_chan.get(int(d))
        per_chan[int(d)] = np.stack([counts, np.full_like(counts, rows)]) + (
            0 if prev is None else prev
        )


def _layout(path: Path) -> tuple[dict[int, int], dict[int, np.ndarray], list[str] | None]:
    from dsa110_ws.services._casatables import STOKES_NAMES

    with open_subtable(path, "DATA_DESCRIPTION") as tb:
        spw_ids = np.asarray(read_column(tb, "SPECTRAL_WINDOW_ID", default=[]), int).tolist()
        pol_ids = np.asarray(read_column(tb, "POLARIZATION_ID", default=[]), int).tolist()
    with open_subtable(path, "SPECTRAL_WINDOW") as tb:
        freqs = {i: np.asarray(tb.getcell("CHAN_FREQ", i), float) for i in range(tb.nrows())}
    with open_subtable(path, "POLARIZATION") as tb:
        corr = [np.asarray(tb.getcell("CORR_TYPE", i)).tolist() for i in range(tb.nrows())]
    names = (
        [STOKES_NAMES.get(int(c), str(c)) for c in corr[pol_ids[0]]] if corr and pol_ids else None
    )
    return dict(enumerate(spw_ids)), freqs, names


def _frame(ids: np.ndarray, acc: _Acc, label: str, names: list[str] | None = None) -> Any:
    import pandas as pd

    pad = max(0, int(ids.max(initial=-1)) + 1 - acc.vis.size)
    vis, flag = np.pad(acc.vis, (0, pad))[ids], np.pad(acc.flag, (0, pad))[ids]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(vis > 0, flag / np.maximum(vis, 1), np.nan)
    out = {label: ids}
    if names is not None:
        out["name"] = names
    out.update(n_visibilities=vis, n_flagged=flag, flag_fraction=frac)
    return pd.DataFrame(out)


def _used(acc: _Acc) -> np.ndarray:
    return np.flatnonzero(acc.vis > 0)


def _assemble(
    path, n_rows, rows, totals, acc, per_corr, per_chan, ddid_spw, chan_freqs, corr_names
) -> FlagStats:
    import pandas as pd

    from dsa110_ws.services._products_mssummary import _antennas

    names, _ = _antennas(path)
    n_ant = max(len(names), acc["ant"].vis.size)
    ant_names = [names[i] if i < len(names) else str(i) for i in range(n_ant)]
    per_ant = _frame(np.arange(n_ant), acc["ant"], "antenna_id", ant_names)
    per_dd = _frame(_used(acc["ddid"]), acc["ddid"], "data_desc_id")
    per_dd["spw_id"] = [ddid_spw.get(int(d), int(d)) for d in per_dd["data_desc_id"]]
    per_spw = per_dd.groupby("spw_id", as_index=False)[["n_visibilities", "n_flagged"]].sum()
    per_spw["flag_fraction"] = per_spw["n_flagged"] / per_spw["n_visibilities"]
    chan_rows = []
    for d, (counts, denom) in sorted(per_chan.items()):
        spw = ddid_spw.get(d, d)
        f = chan_freqs.get(spw)
        for c in range(counts.size):
            chan_rows.append(
                {
                    "spw_id": spw,
                    "channel": c,
                    "freq_hz": float(f[c]) if f is not None and c < f.size else math.nan,
                    "n_visibilities": int(denom[c]),
                    "n_flagged": int(counts[c]),
                }
            )
    per_chan_df = pd.DataFrame(
        chan_rows, columns=["spw_id", "channel", "freq_hz", "n_visibilities", "n_flagged"]
    )
    per_chan_df = per_chan_df.groupby(["spw_id", "channel"], as_index=False).agg(
        freq_hz=("freq_hz", "first"),
        n_visibilities=("n_visibilities", "sum"),
        n_flagged=("n_flagged", "sum"),
    )
    per_chan_df["flag_fraction"] = per_chan_df["n_flagged"] / per_chan_df["n_visibilities"]
    n_corr = 0 if per_corr is None else per_corr.size
    corr_vis = totals[0] // n_corr if n_corr else 0
    per_corr_df = pd.DataFrame(
        {
            "correlation": list(corr_names)
            if corr_names and len(corr_names) == n_corr
            else [str(i) for i in range(n_corr)],
            "n_visibilities": [int(corr_vis)] * n_corr,
            "n_flagged": [] if per_corr is None else per_corr.tolist(),
        }
    )
    per_corr_df["flag_fraction"] = per_corr_df["n_flagged"] / max(int(corr_vis), 1)
    full = per_ant[
        (per_ant["n_visibilities"] > 0) & (per_ant["n_flagged"] == per_ant["n_visibilities"])
    ]
    vis, flagged, vis_x, flagged_x = (int(x) for x in totals)
    return FlagStats(
        path=str(path),
        n_rows=n_rows,
        n_visibilities=vis,
        n_flagged=flagged,
        flag_fraction=flagged / vis if vis else math.nan,
        n_visibilities_cross=vis_x,
        flag_fraction_cross=flagged_x / vis_x if vis_x else math.nan,
        per_antenna=per_ant,
        per_spw=per_spw,
        per_field=_frame(_used(acc["field"]), acc["field"], "field_id"),
        per_scan=_frame(_used(acc["scan"]), acc["scan"], "scan_number"),
        per_correlation=per_corr_df,
        per_channel=per_chan_df,
        fully_flagged_antennas=tuple(str(x) for x in full["name"]),
        chunk_rows=rows,
    )
