"""Time x frequency waterfalls of a Measurement Set: amplitude, phase or flags.

A waterfall cell (integration, channel) combines the selected correlations of the selected
rows at that integration: one baseline, the cross-correlations of one antenna, or every
cross-correlation baseline.  Flagged visibilities (FLAG or FLAG_ROW) never enter an average;
a cell whose every visibility is flagged is masked.  Amplitudes are scalar averages of ``|V|``
(``average="scalar"``) or the amplitude of the vector average (``"vector"``); phases are
always those of the vector average, wrapped to [-180, 180) degrees; ``"flag"`` is the flagged
fraction of the cell's visibilities.  Rows stored as (b, a) for a requested (a, b) are
conjugated.  Channels run low to high frequency across spectral windows; times are UTC.

Rows are read by :mod:`._msrows` in chunks of at most ``DEFAULT_CHUNK_BYTES`` of the column
(the flag statistics' bound); the result grows with the output (integrations x channels),
which is refused beyond ``MAX_CELLS``.
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
    mjd_seconds_to_utc_mjd,
    open_subtable,
    open_table,
    read_column,
)
from dsa110_ws.services.products._msflags import DEFAULT_CHUNK_BYTES
from dsa110_ws.services.products._msflags import _layout as ms_layout
from dsa110_ws.services.products._msrows import RowBlock, iter_blocks, parse_selection

__all__ = ["Waterfall", "compute_waterfall", "QUANTITIES", "MAX_CELLS"]

QUANTITIES = ("amp", "phase", "flag")
AVERAGES = ("scalar", "vector")
#: Largest waterfall (integrations x channels) computed in one call.
MAX_CELLS = 4_000_000
_PARALLEL = {"XX", "YY", "RR", "LL", "PP", "QQ", "I"}


@dataclasses.dataclass(frozen=True)
class Waterfall:
    """A time x frequency image of one quantity of a Measurement Set.

    ``values`` is ``(n_times, n_channels)``, masked where nothing unflagged contributes
    (amplitude in the column's units, phase in degrees, or the flagged fraction 0-1);
    ``flagged_fraction`` is the same shape, unmasked where any visibility contributes.
    ``time_mjd`` are the integrations (UTC MJD, ascending); ``freq_hz`` and ``chan_width_hz``
    the channel centres and widths (ascending; NaN when the MS has no frequencies, then
    ``channel`` is the axis), with their ``spw_id`` and ``channel`` index in the spw.
    ``selection`` says which rows were combined (``n_rows_read`` of them), ``correlations``
    which correlations.
    """

    path: str
    quantity: str
    column: str
    average: str
    selection: str
    correlations: tuple[str, ...]
    unit: str
    time_mjd: np.ndarray
    integration_s: float | None
    freq_hz: np.ndarray
    chan_width_hz: np.ndarray
    spw_id: np.ndarray
    channel: np.ndarray
    values: np.ma.MaskedArray
    flagged_fraction: np.ma.MaskedArray
    n_rows_read: int
    time_scale: str = "UTC"

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.values.shape[0]), int(self.values.shape[1]))

    @property
    def time_utc(self) -> Any:
        """The integrations as an astropy ``Time`` (UTC)."""
        from astropy.time import Time

        return Time(self.time_mjd, format="mjd", scale="utc")

    @property
    def flagged_channels(self) -> Any:
        """``(spw_id, channel)`` pairs flagged in every integration (a DataFrame)."""
        import pandas as pd

        full = np.asarray(self.flagged_fraction.filled(np.nan) >= 1.0).all(axis=0)
        return pd.DataFrame(
            {
                "spw_id": self.spw_id[full],
                "channel": self.channel[full],
                "freq_hz": self.freq_hz[full],
            }
        )

    def to_frame(self) -> Any:
        """One row per cell: ``time_mjd, spw_id, channel, freq_hz, value, flagged_fraction``."""
        import pandas as pd

        nt, nc = self.shape
        return pd.DataFrame(
            {
                "time_mjd": np.repeat(self.time_mjd, nc),
                "spw_id": np.tile(self.spw_id, nt),
                "channel": np.tile(self.channel, nt),
                "freq_hz": np.tile(self.freq_hz, nt),
                "value": self.values.filled(np.nan).reshape(-1),
                "flagged_fraction": self.flagged_fraction.filled(np.nan).reshape(-1),
            }
        )

    def plot(self, ax: Any = None, *, cmap: str | None = None, colorbar: bool = True) -> Any:
        """Draw the waterfall: frequency (MHz) across, UTC time up, a colour bar with the unit;
        gaps between spectral windows and between scans are left blank.  Returns the Axes."""
        from dsa110_ws.services.products._wfplot import plot_waterfall

        return plot_waterfall(self, ax, cmap=cmap, colorbar=colorbar)


def compute_waterfall(
    path: Path,
    *,
    quantity: str = "amp",
    baseline: Any = None,
    average: str = "scalar",
    correlation: Any = None,
    spw: int | None = None,
    column: str = "DATA",
    chunk_rows: int | None = None,
) -> Waterfall:
    """Compute the waterfall of the MS at ``path`` (see :class:`Waterfall`)."""
    _check_args(quantity, average, chunk_rows)
    ddid_spw, freqs, corr_names = ms_layout(path)
    widths = _chan_widths(path)
    names = _antenna_names(path)
    ddids = _ddids_for(spw, ddid_spw)
    sel = parse_selection(baseline, names, ddids)
    grid: _Grid | None = None
    with open_table(path, what="Measurement Set") as ms:
        need = "FLAG" if quantity == "flag" else column
        if need not in ms.colnames():
            have = [c for c in ms.colnames() if c.endswith("DATA")]
            raise InvalidQueryError(f"{path} has no {need} column; it has {have}.")
        n_rows = ms.nrows()
        shape = _cell_shape(ms, n_rows)
        corrs = _pick_correlations(correlation, corr_names, shape[1])
        rows = int(chunk_rows or max(1, DEFAULT_CHUNK_BYTES // (8 * shape[0] * shape[1])))
        uniform = _uniform_cells(path, ddid_spw)
        channels = _ChannelMap(ddid_spw, freqs, widths, shape[0], ddids)
        grid = _Grid(channels, quantity, average)
        for block in iter_blocks(ms, sel, rows, uniform_cells=uniform):
            grid.add(block, corrs, None if quantity == "flag" else column)
        time_ref = measure_ref(ms, "TIME", "UTC")
        interval = read_column(ms, "INTERVAL", start=0, nrow=1) if n_rows else None
    if grid.n_rows_read == 0:
        raise InvalidQueryError(
            f"No rows of {path} match {sel.label}"
            + (f" in spw {spw}" if spw is not None else "")
            + ": pick another baseline or antenna (w.ms.summary(path).antenna_names)."
        )
    return grid.finish(
        path=str(path),
        column=column,
        selection=sel.label,
        correlations=tuple(_label(c, corr_names) for c in corrs),
        time_ref=time_ref,
        interval=None if interval is None or not len(interval) else float(interval[0]),
    )


def _check_args(quantity: str, average: str, chunk_rows: int | None) -> None:
    if quantity not in QUANTITIES:
        raise InvalidQueryError(f"quantity must be one of {QUANTITIES}, not {quantity!r}.")
    if average not in AVERAGES:
        raise InvalidQueryError(f"average must be one of {AVERAGES}, not {average!r}.")
    if chunk_rows is not None and (
        not isinstance(chunk_rows, (int, np.integer))
        or isinstance(chunk_rows, bool)
        or chunk_rows < 1
    ):
        raise InvalidQueryError(f"chunk_rows must be a positive integer (got {chunk_rows!r}).")


def _antenna_names(path: Path) -> list[str]:
    with open_subtable(path, "ANTENNA") as tb:
        n = tb.nrows()
        return [
            str(x) for x in (read_column(tb, "NAME", default=None) or [str(i) for i in range(n)])
        ]


def _chan_widths(path: Path) -> dict[int, np.ndarray]:
    with open_subtable(path, "SPECTRAL_WINDOW") as tb:
        if "CHAN_WIDTH" not in tb.colnames():
            return {}
        return {
            i: np.abs(np.asarray(tb.getcell("CHAN_WIDTH", i), float)) for i in range(tb.nrows())
        }


def _ddids_for(spw: int | None, ddid_spw: dict[int, int]) -> tuple[int, ...] | None:
    if spw is None:
        return None
    ddids = tuple(d for d, s in ddid_spw.items() if s == spw)
    if not ddids:
        raise InvalidQueryError(
            f"No spectral window {spw} in this MS; it has {sorted(set(ddid_spw.values()))}."
        )
    return ddids


def _cell_shape(ms: Any, n_rows: int) -> tuple[int, int]:
    """(channels, correlations) of the first row's FLAG cell (python-casacore gives the shape
    in numpy's axis order)."""
    if n_rows == 0:
        return (1, 1)
    shape = ms.getcolshapestring("FLAG", 0, 1)[0].strip("[]").split(",")
    dims = [int(x) for x in shape if x.strip()]
    return (dims[0], dims[1]) if len(dims) == 2 else (1, dims[0])


def _uniform_cells(path: Path, ddid_spw: dict[int, int]) -> bool:
    """Whether every spectral window has the same number of channels (cells then share a
    shape whatever the data description, for one polarization setup)."""
    with open_subtable(path, "SPECTRAL_WINDOW") as tb:
        counts = {int(np.asarray(tb.getcell("CHAN_FREQ", i)).size) for i in range(tb.nrows())}
    with open_subtable(path, "POLARIZATION") as tb:
        pols = {int(np.asarray(tb.getcell("CORR_TYPE", i)).size) for i in range(tb.nrows())}
    return len(counts) <= 1 and len(pols) <= 1


def _label(corr: int, names: list[str] | None) -> str:
    return names[corr] if names and corr < len(names) else str(corr)


def _pick_correlations(correlation: Any, names: list[str] | None, n_corr: int) -> list[int]:
    """Indices of the wanted correlations: the parallel hands by default (all when the MS does
    not name them), else a name, an index or a list of them."""
    labels = [_label(i, names) for i in range(n_corr)]
    if correlation is None:
        parallel = [i for i, n in enumerate(labels) if n.upper() in _PARALLEL]
        return parallel or list(range(n_corr))
    wanted = correlation if isinstance(correlation, (list, tuple)) else [correlation]
    out = []
    for w in wanted:
        key = str(w).upper()
        hit = [i for i, n in enumerate(labels) if n.upper() == key or str(i) == key]
        if not hit:
            raise InvalidQueryError(f"No correlation {w!r}; this MS has {labels}.")
        out.append(hit[0])
    return sorted(set(out))


class _ChannelMap:
    """Columns of the waterfall: the channels of the selected spectral windows, by frequency."""

    def __init__(
        self,
        ddid_spw: dict[int, int],
        freqs: dict[int, np.ndarray],
        widths: dict[int, np.ndarray],
        n_chan_cell: int,
        ddids: tuple[int, ...] | None,
    ):
        dd = sorted(ddid_spw) if ddids is None else list(ddids)
        spws = sorted({ddid_spw.get(d, d) for d in dd} or {0})
        known = all(s in freqs and freqs[s].size for s in spws)
        parts = []
        for s in spws:
            f = freqs[s] if known else np.full(n_chan_cell, np.nan)
            w = widths.get(s, np.full(f.size, np.nan)) if known else np.full(f.size, np.nan)
            parts.append((s, f, w if w.size == f.size else np.full(f.size, np.nan)))
        spw_of = np.concatenate([np.full(f.size, s) for s, f, _ in parts])
        chan = np.concatenate([np.arange(f.size) for _, f, _ in parts])
        freq = np.concatenate([f for _, f, _ in parts])
        width = np.concatenate([w for _, _, w in parts])
        order = np.lexsort((chan, spw_of)) if not known else np.argsort(freq, kind="stable")
        self.spw, self.channel = spw_of[order], chan[order]
        self.freq, self.width = freq[order], width[order]
        column_of = np.empty(order.size, np.int64)
        column_of[order] = np.arange(order.size)
        starts = np.cumsum([0] + [f.size for _, f, _ in parts])
        self._cols = {s: column_of[starts[k] : starts[k + 1]] for k, (s, _, _) in enumerate(parts)}
        self._spw_of_ddid = {d: ddid_spw.get(d, d) for d in dd}
        self.n = int(order.size)

    def columns(self, ddid: int) -> np.ndarray:
        """Waterfall column of each channel of a cell of this data description."""
        spw = self._spw_of_ddid.get(int(ddid), int(ddid))
        if spw not in self._cols:
            raise InvalidQueryError(
                f"Data description {ddid} (spw {spw}) has no channel frequencies."
            )
        return self._cols[spw]


class _Grid:
    """Running sums per (integration, channel); rows added as integrations appear."""

    def __init__(self, channels: _ChannelMap, quantity: str, average: str):
        self.channels, self.quantity, self.average = channels, quantity, average
        self.vector = quantity == "phase" or (quantity == "amp" and average == "vector")
        self.row_of: dict[float, int] = {}
        self.sums: dict[str, np.ndarray] = {}
        self.n_rows_read = 0
        self._grow(64)

    def _grow(self, capacity: int) -> None:
        if capacity * self.channels.n > MAX_CELLS:
            raise InvalidQueryError(
                f"The waterfall would exceed {MAX_CELLS:,} cells ({capacity:,} integrations x "
                f"{self.channels.n:,} channels): select one spectral window (spw=...)."
            )
        names = ["good", "total"] + (["re", "im"] if self.vector else ["abs"])
        for k in names:
            old = self.sums.get(k)
            new = np.zeros((capacity, self.channels.n), np.float64)
            if old is not None:
                new[: old.shape[0]] = old
            self.sums[k] = new

    def _rows_for(self, times: np.ndarray) -> np.ndarray:
        uniq, inv = np.unique(times, return_inverse=True)
        idx = np.empty(uniq.size, np.int64)
        for k, t in enumerate(uniq.tolist()):
            row = self.row_of.get(t)
            if row is None:
                row = self.row_of[t] = len(self.row_of)
            idx[k] = row
        need = len(self.row_of)
        cap = self.sums["good"].shape[0]
        if need > cap:
            self._grow(max(need, 2 * cap))
        return idx[inv]

    def add(self, block: RowBlock, corrs: list[int], column: str | None) -> None:
        flag = block.read("FLAG").astype(bool)
        flag = flag.reshape(block.n, flag.shape[1] if flag.ndim > 1 else 1, -1)[..., corrs]
        if block.flag_row.any():
            flag |= block.flag_row[:, None, None]
        good = ~flag
        parts = {"good": good.sum(axis=2, dtype=np.float64)}
        if column is not None:
            vis = block.read(column)
            vis = vis.reshape(flag.shape[0], flag.shape[1], -1)[..., corrs]
            if block.swapped.any():
                vis = np.where(block.swapped[:, None, None], np.conj(vis), vis)
            if self.vector:
                z = np.where(good, vis, 0).sum(axis=2, dtype=np.complex128)
                parts["re"], parts["im"] = z.real, z.imag
            else:
                parts["abs"] = np.where(good, np.abs(vis), 0).sum(axis=2, dtype=np.float64)
        rows = self._rows_for(block.time_s)
        self._scatter(rows, block.ddid, parts, float(len(corrs)))
        self.n_rows_read += block.n

    def _scatter(
        self, rows: np.ndarray, ddid: np.ndarray, parts: dict[str, np.ndarray], n_corr: float
    ) -> None:
        """Sum rows sharing (integration, data description), then add them to the grid."""
        key = rows * (int(ddid.max()) + 1) + ddid
        order = np.argsort(key, kind="stable")
        key_sorted = key[order]
        starts = np.flatnonzero(np.r_[True, key_sorted[1:] != key_sorted[:-1]])
        counts = np.diff(np.r_[starts, key_sorted.size])
        first = order[starts]
        in_order = bool(np.all(order == np.arange(order.size)))
        reduced = {
            name: np.add.reduceat(v if in_order else v[order], starts, axis=0)
            for name, v in parts.items()
        }
        first_dd, first_row = ddid[first], rows[first]
        for dd in np.unique(first_dd).tolist():
            g = first_dd == dd
            target = (first_row[g][:, None], self.channels.columns(dd)[None, :])
            for name, r in reduced.items():
                self.sums[name][target] += r[g]
            self.sums["total"][target] += (counts[g] * n_corr)[:, None]

    def finish(self, **kw: Any) -> Waterfall:
        n = len(self.row_of)
        times = np.array(list(self.row_of), float)
        order = np.argsort(times)
        s = {k: v[:n][order] for k, v in self.sums.items()}
        good, total = s["good"], s["total"]
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = np.where(total > 0, 1.0 - good / np.maximum(total, 1), np.nan)
            if self.quantity == "flag":
                value = frac
            elif self.vector:
                z = (s["re"] + 1j * s["im"]) / good
                value = np.abs(z) if self.quantity == "amp" else np.angle(z, deg=True)
            else:
                value = s["abs"] / good
        if self.quantity == "phase":
            value = (value + 180.0) % 360.0 - 180.0
        dead = (good == 0) if self.quantity != "flag" else (total == 0)
        mjd, scale = mjd_seconds_to_utc_mjd(times[order], kw.pop("time_ref"))
        interval = kw.pop("interval")
        unit = {"amp": "", "phase": "deg", "flag": ""}[self.quantity]
        if self.quantity == "amp" and kw["column"] in ("CORRECTED_DATA", "MODEL_DATA"):
            unit = "Jy"
        ch = self.channels
        return Waterfall(
            quantity=self.quantity,
            average=self.average,
            unit=unit,
            time_mjd=np.asarray(mjd, float),
            integration_s=interval if interval is None or math.isfinite(interval) else None,
            freq_hz=ch.freq,
            chan_width_hz=ch.width,
            spw_id=ch.spw,
            channel=ch.channel,
            values=np.ma.masked_array(value, mask=dead | ~np.isfinite(value)),
            flagged_fraction=np.ma.masked_array(frac, mask=total == 0),
            n_rows_read=self.n_rows_read,
            time_scale=scale,
            **kw,
        )
