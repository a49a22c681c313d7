"""Gain QA plot: every antenna's gains along the solution axis, the noisy ones in red."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dsa110_ws.errors import InvalidQueryError
from dsa110_ws.services.products._calsol import CalSolutions
from dsa110_ws.services.products._plots import new_axes

__all__ = ["plot_gain_qa"]


def _series(
    sol: CalSolutions, ant: int, spw: int, corr: int, axis: str
) -> tuple[np.ndarray, np.ma.MaskedArray]:
    """x (minutes or GHz), gains (complex, flagged masked) of one antenna, spw, correlation."""
    rows = np.flatnonzero((sol.antenna == ant) & (sol.spw == spw))
    if axis == "time":
        rows = rows[np.argsort(sol.time_mjd[rows], kind="stable")]
        x = (sol.time_mjd[rows] - float(np.min(sol.time_mjd))) * 1440.0
        g = np.ma.masked_array(sol.values[rows, 0, corr], sol.flags[rows, 0, corr])
        return x, g
    row = rows[0]
    f = sol.freq_hz[spw] if spw < len(sol.freq_hz) else None
    n = int(sol.values.shape[1])
    x = np.arange(n, dtype=float) if f is None else np.asarray(f, float) / 1e9
    return x, np.ma.masked_array(sol.values[row, :, corr], sol.flags[row, :, corr])


def plot_gain_qa(
    sol: CalSolutions,
    result: Any,
    ax: Any = None,
    *,
    y: str = "phase",
    spw: int | None = None,
    correlation: int = 0,
) -> Any:
    """Amplitude (``y="amp"``) or phase (deg, relative to the antenna's first unflagged
    solution) of every antenna of one spw and correlation along the solution axis; antennas
    the gain QA found noisy are drawn in red and named.  Returns the Axes."""
    if y not in ("amp", "phase"):
        raise InvalidQueryError(f"y must be 'amp' or 'phase', not {y!r}.")
    if result.axis is None or not sol.is_complex:
        raise InvalidQueryError(
            f"{sol.path} has no successive solutions to plot (one solution per antenna, or "
            "delays); use w.cal.plot(path)."
        )
    spw = int(sol.spw.min()) if spw is None else int(spw)
    if correlation not in range(sol.values.shape[2]):
        raise InvalidQueryError(f"correlation must be 0..{sol.values.shape[2] - 1}.")
    ax = new_axes(ax, figsize=(8.0, 4.0))
    noisy = set(result.noisy_antennas)
    for ant in np.unique(sol.antenna[sol.spw == spw]):
        name = sol.antenna_names[ant] if ant < len(sol.antenna_names) else str(ant)
        x, g = _series(sol, int(ant), spw, correlation, result.axis)
        if g.count() == 0:
            continue
        if y == "amp":
            v = np.ma.abs(g)
        else:
            ph = np.unwrap(np.angle(g.filled(g.compressed()[0])))
            v = np.ma.masked_array(np.degrees(ph - ph[~np.ma.getmaskarray(g)][0]), g.mask)
        bad = name in noisy
        ax.plot(
            x,
            v,
            color="#cf222e" if bad else "#8c959f",
            lw=1.6 if bad else 0.7,
            marker="." if bad else None,
            zorder=3 if bad else 2,
            label=f"{name} (noisy)" if bad else None,
        )
    ax.set_xlabel(
        "time since the first solution (min)" if result.axis == "time" else "frequency (GHz)"
    )
    ax.set_ylabel("gain amplitude" if y == "amp" else "gain phase - first solution (deg)")
    ax.set_title(
        f"{sol.table_type or sol.vis_cal} gains, spw {spw}, receptor {correlation}: "
        f"{Path(sol.path).name} ({result.grade})",
        fontsize="medium",
    )
    if noisy:
        ax.legend(fontsize="x-small", loc="best")
    return ax
