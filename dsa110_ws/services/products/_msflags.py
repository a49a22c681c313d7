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
from dsa110_ws.services.products._casatables import (
    measure_ref,
    open_subtable,
    open_table,
    read_column,
)

__all__ = ["FlagStats", "compute_flag_stats", "DEFAULT_CHUNK_BYTES"]

#: Default FLAG chunk size in bytes (numpy bools): peak memory stays a small multiple of it.
DEFAULT_CHUNK_BYTES = 32 * 1024 * 1024


@dataclasses.dataclass(frozen=True)
class FlagStats:
    """Flagged fractions overall and per antenna, spw, field, scan, correlation and channel.

    The breakdowns are DataFrames with ``n_visibilities``, ``n_flagged`` and ``flag_fraction``
    columns; ``per_channel`` has ``spw_id, channel, freq_hz``.  Antennas without data are
    listed with ``n_visibilities`` 0 and a NaN fraction.  The same pass over the rows gives
    the exact time range (UTC MJD of the first and last TIME), the integration (median INTERVAL
    of the first chunk; ``integration_varies`` when INTERVAL is not constant), ``scans`` and
    ``n_antennas_with_data``.
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
    time_start_mjd: float | None = None
    time_end_mjd: float | None = None
    time_scale: str = "UTC"
    integration_s: float | None = None
    integration_varies: bool = False

    @property
    def scans(self) -> tuple[int, ...]:
        return tuple(int(s) for s in self.per_scan["scan_number"])

    @property
    def n_antennas_with_data(self) -> int:
        return int((self.per_antenna["n_visibilities"] > 0).sum())

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
    per_chan: dict[int, list] = {}  # ddid -> [(n_chan, n_corr) flagged counts, rows]
    times = _TimeAcc()
    with open_table(path, what="Measurement Set") as ms:
        n_rows = ms.nrows()
        times.ref = measure_ref(ms, "TIME", "UTC")
        cell = _cell_size(ms, n_rows)
        rows = int(chunk_rows or max(1, DEFAULT_CHUNK_BYTES // max(cell, 1)))
        for start in range(0, n_rows, rows):
            n = min(rows, n_rows - start)
            flag = np.asarray(ms.getcol("FLAG", start, n))
            flag = flag.reshape(n, flag.shape[1] if flag.ndim > 1 else 1, -1)
            ints = {
                c: np.asarray(
                    read_column(ms, c, start=start, nrow=n, default=np.zeros(n, int)), np.int64
                )
                for c in ("ANTENNA1", "ANTENNA2", "DATA_DESC_ID", "FIELD_ID", "SCAN_NUMBER")
            }
            frow = read_column(ms, "FLAG_ROW", start=start, nrow=n, default=None)
            times.add(
                read_column(ms, "TIME", start=start, nrow=n),
                read_column(ms, "INTERVAL", start=start, nrow=n),
            )
            per_row = _reduce_chunk(flag, ints["DATA_DESC_ID"], frow, per_chan)
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
    fs = _assemble(path, n_rows, rows, totals, acc, per_chan, ddid_spw, chan_freqs, corr_names)
    return dataclasses.replace(fs, **times.fields())


class _TimeAcc:
    """Running TIME range and INTERVAL statistics."""

    def __init__(self) -> None:
        self.ref: str | None = "UTC"
        self.t = [math.inf, -math.inf]
        self.iv = [math.inf, -math.inf]
        self.iv_median: float | None = None

    def add(self, time: Any, interval: Any) -> None:
        if time is not None and len(time):
            self.t = [min(self.t[0], float(np.min(time))), max(self.t[1], float(np.max(time)))]
        if interval is not None and len(interval):
            iv = np.asarray(interval, dtype=float)
            self.iv = [min(self.iv[0], float(iv.min())), max(self.iv[1], float(iv.max()))]
            if self.iv_median is None:
                self.iv_median = float(np.median(iv))

    def fields(self) -> dict[str, Any]:
        from dsa110_ws.services.products._casatables import mjd_seconds_to_utc_mjd

        out: dict[str, Any] = {"integration_s": None, "integration_varies": False}
        if self.iv_median is not None:
            varies = self.iv[1] - self.iv[0] > 1e-3 * max(abs(self.iv_median), 1e-9)
            out.update(
                integration_s=self.iv[0] if self.iv[0] == self.iv[1] else self.iv_median,
                integration_varies=bool(varies),
            )
        if math.isfinite(self.t[0]):
            mjd, scale = mjd_seconds_to_utc_mjd(np.array(self.t), self.ref)
            out.update(time_start_mjd=float(mjd[0]), time_end_mjd=float(mjd[1]), time_scale=scale)
        return out


def _reduce_chunk(
    flag: np.ndarray, ddid: np.ndarray, frow: Any, per_chan: dict[int, list]
) -> np.ndarray:
    """Per-row flagged counts of a chunk; adds its per-(channel, correlation) counts per data
    description to ``per_chan``.  Reductions run on a uint8 view along the fast axes; rows
    flagged only through FLAG_ROW are corrected without copying the chunk."""
    n, n_chan, n_corr = flag.shape
    u8 = flag.view(np.uint8)
    width = n_chan * n_corr
    per_row = u8.reshape(n, width).sum(axis=1, dtype=np.uint16 if width < 65536 else np.uint32)
    per_row = per_row.astype(np.int64)
    fix = np.zeros(n, bool)
    if frow is not None:
        fix = np.asarray(frow, bool) & (per_row < width)  # FLAG_ROW set, FLAG not (fully)
    ids = np.unique(ddid)
    for d in ids:
        sel = None if ids.size == 1 else ddid == d
        block = u8 if sel is None else u8[sel]
        counts = block.sum(axis=0, dtype=np.int32).astype(np.int64)
        extra = fix if sel is None else fix & sel
        if extra.any():  # every element of those rows counts as flagged
            counts += int(extra.sum()) - u8[extra].sum(axis=0, dtype=np.int64)
        prev = per_chan.get(int(d))
        n_block = block.shape[0]
        per_chan[int(d)] = (
            [counts, n_block] if prev is None else [prev[0] + counts, prev[1] + n_block]
        )
    per_row[fix] = width
    return per_row


def _cell_size(ms: Any, n_rows: int) -> int:
    """Elements per FLAG cell (channels x correlations) of the first row."""
    if n_rows == 0:
        return 1
    shape = ms.getcolshapestring("FLAG", 0, 1)[0].strip("[]").split(",")
    return int(np.prod([int(s) for s in shape if s.strip()]))


def _layout(path: Path) -> tuple[dict[int, int], dict[int, np.ndarray], list[str] | None]:
    from dsa110_ws.services.products._casatables import STOKES_NAMES

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
    out: dict[str, Any] = {label: ids}
    if names is not None:
        out["name"] = names
    out.update(n_visibilities=vis, n_flagged=flag, flag_fraction=frac)
    return pd.DataFrame(out)


def _used(acc: _Acc) -> np.ndarray:
    return np.flatnonzero(acc.vis > 0)


def _channel_frame(
    per_chan: dict[int, list], ddid_spw: dict[int, int], chan_freqs: dict[int, np.ndarray]
) -> Any:
    """Per (spw, channel): visibilities, flagged, fraction (data descriptions of one spw summed)."""
    import pandas as pd

    parts = []
    for d, (counts, n_rows) in sorted(per_chan.items()):
        spw = ddid_spw.get(d, d)
        f = chan_freqs.get(spw)
        n_chan, n_corr = counts.shape
        freq = np.full(n_chan, np.nan) if f is None or f.size != n_chan else f
        parts.append(
            pd.DataFrame(
                {
                    "spw_id": spw,
                    "channel": np.arange(n_chan),
                    "freq_hz": freq,
                    "n_visibilities": n_rows * n_corr,
                    "n_flagged": counts.sum(axis=1),
                }
            )
        )
    cols = ["spw_id", "channel", "freq_hz", "n_visibilities", "n_flagged"]
    df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)
    df = df.groupby(["spw_id", "channel"], as_index=False).agg(
        freq_hz=("freq_hz", "first"),
        n_visibilities=("n_visibilities", "sum"),
        n_flagged=("n_flagged", "sum"),
    )
    df["flag_fraction"] = df["n_flagged"] / df["n_visibilities"]
    return df


def _corr_frame(per_chan: dict[int, list], corr_names: list[str] | None) -> Any:
    """Per correlation: visibilities, flagged, fraction (over every row and channel)."""
    import pandas as pd

    shapes = {c.shape[1] for c, _ in per_chan.values()}
    if len(shapes) != 1:
        return pd.DataFrame(columns=["correlation", "n_visibilities", "n_flagged", "flag_fraction"])
    n_corr = shapes.pop()
    flagged = sum(c.sum(axis=0) for c, _ in per_chan.values())
    n_vis = sum(c.shape[0] * n for c, n in per_chan.values())
    names = (
        list(corr_names)
        if corr_names and len(corr_names) == n_corr
        else [str(i) for i in range(n_corr)]
    )
    return pd.DataFrame(
        {
            "correlation": names,
            "n_visibilities": n_vis,
            "n_flagged": flagged,
            "flag_fraction": flagged / max(n_vis, 1),
        }
    )


def _assemble(
    path, n_rows, rows, totals, acc, per_chan, ddid_spw, chan_freqs, corr_names
) -> FlagStats:
    from dsa110_ws.services.products._mssummary import _antennas

    names, _ = _antennas(path)
    n_ant = max(len(names), acc["ant"].vis.size)
    ant_names = [names[i] if i < len(names) else str(i) for i in range(n_ant)]
    per_ant = _frame(np.arange(n_ant), acc["ant"], "antenna_id", ant_names)
    per_dd = _frame(_used(acc["ddid"]), acc["ddid"], "data_desc_id")
    per_dd["spw_id"] = [ddid_spw.get(int(d), int(d)) for d in per_dd["data_desc_id"]]
    per_spw = per_dd.groupby("spw_id", as_index=False)[["n_visibilities", "n_flagged"]].sum()
    per_spw["flag_fraction"] = per_spw["n_flagged"] / per_spw["n_visibilities"]
    has = per_ant["n_visibilities"] > 0
    full = per_ant[has & (per_ant["n_flagged"] == per_ant["n_visibilities"])]
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
        per_correlation=_corr_frame(per_chan, corr_names),
        per_channel=_channel_frame(per_chan, ddid_spw, chan_freqs),
        fully_flagged_antennas=tuple(str(x) for x in full["name"]),
        chunk_rows=rows,
    )
