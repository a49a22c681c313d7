"""The accumulating grid of a waterfall: channels of the selected spectral windows by
frequency, running sums per (integration, channel), and the finished :class:`Waterfall`."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dsa110_ws.errors import InvalidQueryError
from dsa110_ws.services.products._casatables import mjd_seconds_to_utc_mjd
from dsa110_ws.services.products._msrows import RowBlock

__all__ = ["ChannelMap", "Grid", "MAX_CELLS"]

#: Largest waterfall (integrations x channels) computed in one call.
MAX_CELLS = 4_000_000


class ChannelMap:
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


class Grid:
    """Running sums per (integration, channel); rows added as integrations appear."""

    def __init__(self, channels: ChannelMap, quantity: str, average: str):
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

    def finish(self, **kw: Any) -> Any:
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
        from dsa110_ws.services.products._waterfall import Waterfall

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
