"""Drawing a :class:`~._waterfall.Waterfall`: frequency across, UTC time up, a colour bar.

Cells are drawn with ``pcolormesh`` one mesh per contiguous block (channels of adjacent
frequency, integrations of one scan), so gaps stay blank (the axes' white) while fully flagged
cells take the colour map's "bad" colour (grey).  An axis is drawn to scale (channel widths,
integration length) unless its gaps take more than half of its span -- scans hours apart, spectral
windows far apart -- then every cell gets the same size, gaps shrink to a narrow blank band, and
the ticks still give the frequency (MHz) or the time (UTC) of the cells they mark.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["plot_waterfall", "segments"]

_CMAPS = {"amp": "viridis", "phase": "twilight", "flag": "Greys"}
_FLAGGED_GREY = "#b0b0b0"
_NO_DATA = "#dde6f0"  # gaps between scans or spectral windows


def segments(
    centres: np.ndarray, widths: np.ndarray, *, gap: float = 0.5
) -> list[tuple[int, int, np.ndarray]]:
    """Contiguous runs of cells ``(first, stop, edges)``: a new run starts where the space
    between two cells exceeds ``gap`` times the first one's width."""
    c = np.asarray(centres, float)
    w = np.asarray(widths, float)
    if c.size == 0:
        return []
    if not np.all(np.isfinite(w)) or np.any(w <= 0):
        spacing = np.diff(c)
        typical = float(np.median(spacing)) if spacing.size else 1.0
        w = np.full(c.size, typical if typical > 0 else 1.0)
    runs, first = [], 0
    for i in range(c.size):
        last = i == c.size - 1
        if last or (c[i + 1] - w[i + 1] / 2) - (c[i] + w[i] / 2) > gap * w[i]:
            cc, ww = c[first : i + 1], w[first : i + 1]
            inner = (cc[:-1] + ww[:-1] / 2 + cc[1:] - ww[1:] / 2) / 2
            edges = np.r_[cc[0] - ww[0] / 2, inner, cc[-1] + ww[-1] / 2]
            runs.append((first, i + 1, edges))
            first = i + 1
    return runs


def _norm(wf: Any) -> tuple[float, float]:
    if wf.quantity == "phase":
        return -180.0, 180.0
    if wf.quantity == "flag":
        return 0.0, 1.0
    v = wf.values.compressed()
    if v.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(v, [1.0, 99.0])
    return float(lo), float(hi if hi > lo else lo + 1.0)


def _label(wf: Any) -> str:
    if wf.quantity == "phase":
        return "phase (deg)"
    if wf.quantity == "flag":
        return "flagged fraction"
    unit = f"{wf.unit}" if wf.unit else f"{wf.column}, uncalibrated"
    return f"amplitude ({unit}, {wf.average} average)"


class _Axis:
    """Cell edges along one axis, per contiguous run, to scale or compressed."""

    def __init__(self, centres: np.ndarray, widths: np.ndarray):
        self.centres = np.asarray(centres, float)
        self.runs = segments(self.centres, widths)
        span = self.runs[-1][2][-1] - self.runs[0][2][0] if self.runs else 0.0
        covered = sum(e[-1] - e[0] for _, _, e in self.runs)
        self.compressed = len(self.runs) > 1 and covered < 0.5 * span
        if self.compressed:
            self.edges, pos = [], 0.0
            for first, stop, _ in self.runs:
                self.edges.append((first, stop, pos + np.arange(stop - first + 1, dtype=float)))
                pos += stop - first + _SPACER
        else:
            self.edges = self.runs

    def ticks(self, fmt: Any, n: int = 7) -> tuple[list[float], list[str]] | None:
        """Tick positions and labels (cell centres) for a compressed axis."""
        if not self.compressed:
            return None
        pos = np.concatenate([(e[:-1] + e[1:]) / 2 for _, _, e in self.edges])
        pick = np.unique(np.linspace(0, pos.size - 1, min(n, pos.size)).round().astype(int))
        return [float(pos[i]) for i in pick], [fmt(self.centres[i]) for i in pick]


_SPACER = 0.6


def plot_waterfall(
    wf: Any, ax: Any = None, *, cmap: str | None = None, colorbar: bool = True
) -> Any:
    """Draw ``wf`` on ``ax`` (new Axes by default); returns the Axes."""
    import matplotlib
    import matplotlib.dates as mdates

    from dsa110_ws.services.products._plots import new_axes

    ax = new_axes(ax, figsize=(8.0, 4.5))
    ax.set_facecolor(_NO_DATA)
    colours = matplotlib.colormaps[cmap or _CMAPS[wf.quantity]].with_extremes(bad=_FLAGGED_GREY)
    vmin, vmax = _norm(wf)
    by_freq = bool(np.all(np.isfinite(wf.freq_hz)))
    x = wf.freq_hz / 1e6 if by_freq else np.arange(wf.freq_hz.size, dtype=float)
    xaxis = _Axis(x, wf.chan_width_hz / 1e6 if by_freq else np.ones(x.size))
    epoch = float(mdates.date2num(np.datetime64("1970-01-01T00:00:00")))
    t = (wf.time_mjd - 40587.0) + epoch  # matplotlib date numbers (days)
    step = wf.integration_s if wf.integration_s and wf.integration_s > 0 else None
    if step is None:
        d = np.diff(wf.time_mjd) * 86400.0
        step = float(np.median(d)) if d.size else 1.0
    yaxis = _Axis(t, np.full(t.size, step / 86400.0))
    mesh = None
    for t0, t1, ty in yaxis.edges:
        for f0, f1, fx in xaxis.edges:
            mesh = ax.pcolormesh(
                fx, ty, wf.values[t0:t1, f0:f1], cmap=colours, vmin=vmin, vmax=vmax, shading="flat"
            )
    _label_axes(ax, wf, xaxis, yaxis, by_freq)
    if colorbar and mesh is not None:
        cb = ax.figure.colorbar(mesh, ax=ax, fraction=0.046, pad=0.03)
        cb.set_label(_label(wf))
    return ax


def _label_axes(ax: Any, wf: Any, xaxis: _Axis, yaxis: _Axis, by_freq: bool) -> None:
    import matplotlib.dates as mdates

    day = wf.time_utc[0].isot[:10] if wf.time_mjd.size else ""
    yt = yaxis.ticks(lambda v: mdates.num2date(v).strftime("%H:%M:%S"))
    if yt is None:
        ax.yaxis_date()
        ax.yaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S"))
        ax.set_ylabel(f"time (UTC) on {day}")
    else:
        ax.set_yticks(*yt)
        ax.set_ylabel(f"time (UTC) on {day}; gaps closed")
    xt = xaxis.ticks(lambda v: f"{v:.1f}")
    if xt is not None:
        ax.set_xticks(*xt)
    what = "frequency (MHz)" if by_freq else "channel"
    ax.set_xlabel(what + ("; gaps between spws closed" if xt is not None else ""))
    corr = "+".join(wf.correlations)
    key = "pale blue: no data" + ("" if wf.quantity == "flag" else "; grey: all flagged")
    ax.set_title(
        f"{wf.quantity}: {wf.selection}, {corr}\n{Path(wf.path).name} ({key})", fontsize="medium"
    )
