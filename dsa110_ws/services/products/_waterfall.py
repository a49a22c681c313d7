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
from dsa110_ws.services.products._msflags import DEFAULT_CHUNK_BYTES
from dsa110_ws.services.products._msflags import _layout as ms_layout
from dsa110_ws.services.products._msrows import iter_blocks, parse_selection
from dsa110_ws.services.products._wfgrid import MAX_CELLS, ChannelMap, Grid

__all__ = ["Waterfall", "compute_waterfall", "QUANTITIES", "MAX_CELLS"]

QUANTITIES = ("amp", "phase", "flag")
AVERAGES = ("scalar", "vector")
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
    grid: Grid | None = None
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
        channels = ChannelMap(ddid_spw, freqs, widths, shape[0], ddids)
        grid = Grid(channels, quantity, average)
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
