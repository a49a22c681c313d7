"""Calibration-solution plots: gains against time, bandpasses against frequency, delays."""

from __future__ import annotations

from typing import Any

import numpy as np

from dsa110_ws.errors import InvalidQueryError
from dsa110_ws.services.products._calsol import CalSolutions, wrap_deg
from dsa110_ws.services.products._plots import new_axes

__all__ = ["plot_gains", "plot_bandpass", "plot_delays"]


def _select(sol: CalSolutions, antennas: Any, spw: int | None) -> np.ndarray:
    """Rows of the wanted spw and antennas (strings are antenna names, integers indices)."""
    sel = np.ones(sol.antenna.size, bool)
    if spw is not None:
        sel &= sol.spw == spw
    if antennas is not None:
        wanted = antennas if isinstance(antennas, (list, tuple, set)) else [antennas]
        names = {str(a) for a in wanted if isinstance(a, str)}
        indices = [int(a) for a in wanted if not isinstance(a, str)]
        row_names = np.array([_name(sol, a) for a in sol.antenna])
        sel &= np.isin(row_names, list(names)) | np.isin(sol.antenna, indices)
    if not sel.any():
        raise InvalidQueryError(
            f"No solutions for antennas={antennas!r}, spw={spw!r} in {sol.path}; antennas are "
            f"names such as {list(sol.antenna_names[:3])} or integer indices."
        )
    return sel


def _values(sol: CalSolutions, y: str) -> tuple[np.ndarray, str]:
    if not sol.is_complex:
        raise InvalidQueryError(f"{sol.path} holds delays (K); use plot_delays.")
    if y == "amp":
        return np.abs(sol.values), "gain amplitude"
    if y == "phase":
        return wrap_deg(np.angle(sol.values, deg=True)), "gain phase (deg)"
    raise InvalidQueryError(f"y must be 'amp' or 'phase', not {y!r}.")


def _name(sol: CalSolutions, ant: int) -> str:
    return sol.antenna_names[ant] if 0 <= ant < len(sol.antenna_names) else str(ant)


def plot_gains(
    sol: CalSolutions,
    ax: Any = None,
    *,
    y: str = "amp",
    antennas: Any = None,
    spw: int | None = None,
) -> Any:
    """Gain amplitude or phase against time (minutes from the first solution), one line per
    antenna, spw and correlation (averaged over unflagged channels); flagged solutions are
    gaps."""
    vals, label = _values(sol, y)
    sel = _select(sol, antennas, spw)
    ax = new_axes(ax)
    t0 = float(np.min(sol.time_mjd)) if sol.time_mjd.size else 0.0
    for ant in np.unique(sol.antenna[sel]):
        for s in np.unique(sol.spw[sel]):
            rows = sel & (sol.antenna == ant) & (sol.spw == s)
            if not rows.any():
                continue
            order = np.argsort(sol.time_mjd[rows], kind="stable")
            minutes = (sol.time_mjd[rows][order] - t0) * 1440.0
            for corr in range(vals.shape[2]):
                v = np.ma.masked_array(
                    vals[rows][order, :, corr], mask=sol.flags[rows][order, :, corr]
                )
                ax.plot(
                    minutes,
                    v.mean(axis=1),
                    marker=".",
                    lw=0.8,
                    label=f"{_name(sol, ant)} spw{s} c{corr}",
                )
    ax.set_xlabel("time since first solution (min)")
    ax.set_ylabel(label)
    ax.set_title(f"{sol.table_type or sol.vis_cal}: {sol.path.rsplit('/', 1)[-1]}")
    if len(np.unique(sol.antenna[sel])) <= 12:
        ax.legend(fontsize="x-small", ncol=2)
    return ax


def plot_bandpass(
    sol: CalSolutions,
    ax: Any = None,
    *,
    y: str = "amp",
    antennas: Any = None,
    spw: int | None = None,
) -> Any:
    """Bandpass amplitude or phase against frequency (GHz, ascending), one line per antenna,
    spw and correlation; flagged channels are gaps."""
    vals, label = _values(sol, y)
    sel = _select(sol, antennas, spw)
    ax = new_axes(ax)
    for row in np.flatnonzero(sel):
        s = int(sol.spw[row])
        freq = sol.freq_hz[s] if s < len(sol.freq_hz) and sol.freq_hz[s] is not None else None
        x = (
            np.arange(vals.shape[1], dtype=float)
            if freq is None or len(freq) != vals.shape[1]
            else freq / 1e9
        )
        order = np.argsort(x, kind="stable")
        for corr in range(vals.shape[2]):
            v = np.ma.masked_array(vals[row, :, corr], mask=sol.flags[row, :, corr])[order]
            ax.plot(x[order], v, lw=0.8)
    ax.set_xlabel("frequency (GHz)" if sol.freq_hz else "channel")
    ax.set_ylabel(label)
    ax.set_title(f"{sol.table_type or sol.vis_cal}: {sol.path.rsplit('/', 1)[-1]}")
    return ax


def plot_delays(sol: CalSolutions, ax: Any = None, *, spw: int | None = None) -> Any:
    """Delays (ns) per antenna, one marker per correlation and solution; flagged ones hollow."""
    if sol.is_complex:
        raise InvalidQueryError(f"{sol.path} holds complex gains, not delays; use plot_gains.")
    sel = _select(sol, None, spw)
    ax = new_axes(ax)
    ants = sol.antenna[sel]
    for corr in range(sol.values.shape[2]):
        v = sol.values[sel][:, 0, corr]
        f = sol.flags[sel][:, 0, corr]
        ax.scatter(ants[~f] + 0.1 * corr, v[~f], s=14, label=f"corr {corr}")
        ax.scatter(ants[f] + 0.1 * corr, v[f], s=14, facecolors="none", edgecolors="grey")
    ticks = np.unique(ants)
    ax.set_xticks(ticks, [_name(sol, a) for a in ticks], rotation=90, fontsize="x-small")
    ax.set_xlabel("antenna")
    ax.set_ylabel("delay (ns)")
    ax.axhline(0, color="grey", lw=0.5)
    ax.legend(fontsize="x-small")
    return ax
