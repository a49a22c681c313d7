"""Finding and reading the rows of a baseline, an antenna or every cross-correlation of an MS.

Two ways to the rows, both with memory bounded by the chunk (``DEFAULT_CHUNK_BYTES`` of the
column read, as the flag statistics):

* **Regular layout** (the MS standard's order as DSA-110 writes it: every integration holds
  the same baselines and data descriptions in the same order, so ``n_rows`` is a multiple of
  the rows of the first integration, ``P``).  A sparse selection (a baseline, an antenna) sits
  at fixed offsets within each period; its rows are read with a strided ``getcol`` (``rowincr
  = P``), so the time does not depend on the other baselines' rows (with tiled storage, on
  tiles no taller than the period).  The layout is checked from the first and last periods,
  TIME at the start and end of every period, and ANTENNA1/ANTENNA2 of every row read.
* **Scan** (any other order, or a dense selection): ANTENNA1, ANTENNA2 and DATA_DESC_ID are
  streamed in row chunks and the selected rows of each chunk read as a range (dense), with a
  stride (regular) or through a reference table (``selectrows``).

A selection of ``(a, b)`` also matches rows stored as ``(b, a)``; those rows are marked
``swapped`` (their visibilities are conjugated by the reader of the data).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from dsa110_ws.errors import InvalidQueryError

__all__ = ["Selection", "RowBlock", "parse_selection", "iter_blocks", "MAX_SPARSE_OFFSETS"]

#: A selection with at most this many rows per integration is read with strided reads.
MAX_SPARSE_OFFSETS = 64
#: Integrations of more rows than this are not treated as a regular layout.
_MAX_PERIOD = 1 << 22
_INDEX_COLUMNS = ("ANTENNA1", "ANTENNA2", "DATA_DESC_ID")


@dataclasses.dataclass(frozen=True)
class Selection:
    """Rows to read: one baseline (``pair``), every cross-correlation of one ``antenna``, or
    every cross-correlation (neither); restricted to the data descriptions ``ddids``
    (``None``: all).  ``label`` says it in words."""

    label: str
    pair: tuple[int, int] | None = None
    antenna: int | None = None
    ddids: tuple[int, ...] | None = None

    def match(
        self, a1: np.ndarray, a2: np.ndarray, dd: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(selected, swapped)`` boolean arrays for rows with these index values."""
        if self.pair is not None:
            a, b = self.pair
            direct, swapped = (a1 == a) & (a2 == b), (a1 == b) & (a2 == a) & (a != b)
            sel = direct | swapped
        elif self.antenna is not None:
            swapped = (a2 == self.antenna) & (a1 != a2)
            sel = ((a1 == self.antenna) & (a1 != a2)) | swapped
        else:
            sel, swapped = a1 != a2, np.zeros(a1.shape, bool)
        if self.ddids is not None:
            sel = sel & np.isin(dd, self.ddids)
        return sel, swapped & sel


@dataclasses.dataclass
class RowBlock:
    """Selected rows of one read: per row its ``time_s`` (TIME as stored), ``ddid``, whether
    it was stored ``swapped`` and its ``flag_row``; ``read(column)`` returns that column for
    exactly these rows, in this order."""

    time_s: np.ndarray
    ddid: np.ndarray
    swapped: np.ndarray
    flag_row: np.ndarray
    read: Callable[[str], np.ndarray]

    @property
    def n(self) -> int:
        return int(self.time_s.size)


def _antenna_index(value: Any, names: Sequence[str]) -> int:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        if 0 <= int(value) < len(names):
            return int(value)
        raise InvalidQueryError(
            f"Antenna index {value} is out of range: this MS has {len(names)} antennas (0 to "
            f"{len(names) - 1}); give a name such as {names[0]!r} or an index."
        )
    text = str(value).strip()
    if text in names:
        return list(names).index(text)
    shown = ", ".join(list(names)[:8]) + (" ..." if len(names) > 8 else "")
    raise InvalidQueryError(
        f"No antenna named {text!r} in this MS; its antennas are {shown} (names are strings, "
        "integers are ANTENNA row indices)."
    )


def parse_selection(
    baseline: Any, names: Sequence[str], ddids: tuple[int, ...] | None = None
) -> Selection:
    """A :class:`Selection` from ``baseline``: ``None`` (every cross-correlation), a baseline
    ``"A&B"`` or ``(a, b)``, or one antenna ``"A"`` / index (its cross-correlations)."""
    if baseline is None:
        return Selection("every cross-correlation baseline", ddids=ddids)
    if isinstance(baseline, str) and "&" in baseline:
        parts = [p for p in baseline.replace("&&", "&").split("&")]
        if len(parts) != 2 or not all(p.strip() for p in parts):
            raise InvalidQueryError(
                f"Baseline {baseline!r}: write two antenna names joined by '&', e.g. "
                f"'{names[0]}&{names[-1]}'."
            )
        baseline = tuple(parts)
    if isinstance(baseline, (tuple, list)):
        if len(baseline) != 2:
            raise InvalidQueryError(f"A baseline is two antennas, not {baseline!r}.")
        a, b = (_antenna_index(x, names) for x in baseline)
        label = f"baseline {names[a]}&{names[b]}" + (" (autocorrelation)" if a == b else "")
        return Selection(label, pair=(a, b), ddids=ddids)
    ant = _antenna_index(baseline, names)
    return Selection(f"antenna {names[ant]} (its cross-correlations)", antenna=ant, ddids=ddids)


def iter_blocks(
    tb: Any, sel: Selection, chunk_rows: int, *, uniform_cells: bool
) -> Iterator[RowBlock]:
    """Blocks of the selected rows of the open main table ``tb``, in row order per block.

    ``chunk_rows`` bounds the rows of one read; ``uniform_cells`` says every data description
    has the same cell shape (else rows of different data descriptions are read separately).
    """
    n_rows = tb.nrows()
    if n_rows == 0:
        return
    layout = _regular_layout(tb, n_rows)
    if layout is not None:
        period, a1, a2, dd = layout
        chosen, swapped = sel.match(a1, a2, dd)
        offsets = np.flatnonzero(chosen)
        if offsets.size <= MAX_SPARSE_OFFSETS:
            yield from _strided_blocks(
                tb, n_rows, period, offsets, (a1, a2, dd, swapped), chunk_rows
            )
            return
    yield from _scanned_blocks(tb, sel, n_rows, chunk_rows, uniform_cells)


def _regular_layout(tb: Any, n_rows: int) -> tuple[int, np.ndarray, np.ndarray, np.ndarray] | None:
    """``(P, ANTENNA1, ANTENNA2, DATA_DESC_ID of the first period)`` when every integration
    repeats the first one's rows (checked on the first and last periods and on TIME at both
    ends of every period), else ``None``."""
    n_head = min(n_rows, 4096)
    while True:  # the first integration's rows, read in growing pieces
        head = np.asarray(tb.getcol("TIME", 0, n_head))
        change = np.flatnonzero(head != head[0])
        if change.size or n_head == n_rows:
            break
        if n_head >= _MAX_PERIOD:
            return None
        n_head = min(n_rows, 8 * n_head)
    period = int(change[0]) if change.size else n_rows
    if n_rows % period:
        return None
    n_periods = n_rows // period
    first = [np.asarray(tb.getcol(c, 0, period)) for c in _INDEX_COLUMNS]
    last = [np.asarray(tb.getcol(c, n_rows - period, period)) for c in _INDEX_COLUMNS]
    if not all(np.array_equal(f, g) for f, g in zip(first, last, strict=True)):
        return None
    starts = np.asarray(tb.getcol("TIME", 0, n_periods, period))
    ends = np.asarray(tb.getcol("TIME", period - 1, n_periods, period))
    if not (np.array_equal(starts, ends) and np.all(np.diff(starts) > 0)):
        return None
    return period, first[0], first[1], first[2]


def _strided_blocks(
    tb: Any,
    n_rows: int,
    period: int,
    offsets: np.ndarray,
    pattern: tuple[np.ndarray, ...],
    chunk_rows: int,
) -> Iterator[RowBlock]:
    """One block per (offset, chunk of periods): rows ``offset + k * period``."""
    a1, a2, dd, swapped = pattern
    n_periods = n_rows // period
    has_flag_row = "FLAG_ROW" in tb.colnames()
    step = max(1, chunk_rows)
    for o in offsets.tolist():
        for k0 in range(0, n_periods, step):
            n = min(step, n_periods - k0)
            start = o + k0 * period

            def read(column: str, start: int = start, n: int = n) -> np.ndarray:
                return np.asarray(tb.getcol(column, start, n, period))

            got1, got2 = read("ANTENNA1"), read("ANTENNA2")
            if not (np.all(got1 == a1[o]) and np.all(got2 == a2[o])):
                raise InvalidQueryError(  # the layout check missed an irregular MS
                    f"Rows {start}.. (every {period}th) do not all hold baseline "
                    f"{a1[o]}&{a2[o]}: the MS is not in a regular order; please report it."
                )
            yield RowBlock(
                time_s=read("TIME"),
                ddid=np.full(n, dd[o], np.int64),
                swapped=np.full(n, bool(swapped[o])),
                flag_row=read("FLAG_ROW").astype(bool) if has_flag_row else np.zeros(n, bool),
                read=read,
            )


def _scanned_blocks(
    tb: Any, sel: Selection, n_rows: int, chunk_rows: int, uniform_cells: bool
) -> Iterator[RowBlock]:
    has_flag_row = "FLAG_ROW" in tb.colnames()
    for start in range(0, n_rows, chunk_rows):
        n = min(chunk_rows, n_rows - start)
        a1, a2, dd = (np.asarray(tb.getcol(c, start, n)) for c in _INDEX_COLUMNS)
        chosen, swapped = sel.match(a1, a2, dd)
        idx = np.flatnonzero(chosen)
        if idx.size == 0:
            continue
        time = np.asarray(tb.getcol("TIME", start, n))
        frow = np.asarray(tb.getcol("FLAG_ROW", start, n), bool) if has_flag_row else None
        groups = [idx] if uniform_cells else [idx[dd[idx] == d] for d in np.unique(dd[idx])]
        for g in groups:
            yield RowBlock(
                time_s=time[g],
                ddid=dd[g].astype(np.int64),
                swapped=swapped[g],
                flag_row=frow[g] if frow is not None else np.zeros(g.size, bool),
                read=_reader(tb, start, n, g),
            )


def _reader(tb: Any, start: int, n: int, idx: np.ndarray) -> Callable[[str], np.ndarray]:
    """Read rows ``start + idx`` of a column: as a range when dense, with a stride when evenly
    spaced, else through a reference table."""
    rows = start + idx
    if idx.size * 4 >= n:
        whole = idx.size == n
        return lambda c: (
            np.asarray(tb.getcol(c, start, n)) if whole else np.asarray(tb.getcol(c, start, n))[idx]
        )
    steps = np.unique(np.diff(rows))
    if idx.size == 1 or steps.size == 1:
        incr = int(steps[0]) if steps.size else 1
        return lambda c: np.asarray(tb.getcol(c, int(rows[0]), int(rows.size), incr))

    def via_reference(c: str) -> np.ndarray:
        ref = tb.selectrows(rows.tolist())
        try:
            return np.asarray(ref.getcol(c))
        finally:
            ref.close()

    return via_reference
