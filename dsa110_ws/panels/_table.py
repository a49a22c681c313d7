"""DataTable: a sortable, filterable table whose rows are selected by clicking them.

Built on itables' ``ITable`` (DataTables in the page, an anywidget: no labextension, no
network).  The frame stays in the kernel with its index as the row key; the page gets the
shown columns only: numbers as numbers (so they sort numerically, drawn with a fixed
precision, blank when missing), paths as their tail with the full path on hover, headers
with their units.  A click selects the row: ``selected`` is its index label, kept across
:meth:`DataTable.set_data` when the row is still there and cleared when it is not (or when
the table's search box filters it out), so a detail view never shows a row that is gone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

import ipywidgets as widgets
import numpy as np
import pandas as pd
import traitlets

__all__ = ["DataTable", "NUMBER_JS", "PATH_JS"]

#: Render a path as its last two components, the full path in the hover title.
PATH_JS = """function (d, type) {
  if (d === null || d === undefined) return type === 'display' ? '' : '';
  const s = String(d);
  if (type !== 'display') return s;
  const e = x => x.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');
  const parts = s.replace(/\\/+$/, '').split('/');
  const tail = parts.length > 2 ? '\\u2026/' + parts.slice(-2).join('/') : s;
  return '<span class="dsa-path" title="' + e(s) + '">' + e(tail) + '</span>';
}"""

#: Render a number with ``{decimals}`` decimals (or ``{digits}`` significant figures when
#: decimals < 0), blank when missing; sorting and searching use the number itself.
NUMBER_JS = """function (d, type) {
  const missing = d === null || d === undefined || (typeof d === 'number' && !isFinite(d))
    || d === '___NaN___';
  if (type !== 'display') return missing ? null : d;
  if (missing) return '';
  const x = Number(d);
  if (%(decimals)d >= 0) return x.toFixed(%(decimals)d);
  const a = Math.abs(x);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return x.toExponential(%(digits)d - 1);
  return String(Number(x.toPrecision(%(digits)d)));
}"""

#: Deselect a selected row that the table's own search has filtered out.
_DRAW_JS = """function () {
  const api = this.api();
  if (api.rows({selected: true, search: 'removed'}).count()) {
    api.rows({selected: true, search: 'removed'}).deselect();
  }
}"""

#: Colour a row from the hidden background column (the last one).
_ROW_JS = """function (row, data) {
  const bg = data[data.length - 1];
  if (bg) { row.style.background = bg; }
}"""


def _configure_itables() -> None:
    """itables' global options this module relies on: no silent downsampling of large
    frames, no warning for the DataTables callbacks it does not list (``createdRow``)."""
    import itables.options as opt

    opt.maxBytes = 0
    opt.warn_on_undocumented_option = False


def _js(code: str) -> Any:
    from itables import JavascriptFunction

    return JavascriptFunction(code)


class DataTable(widgets.VBox):
    """A DataFrame as a sortable, searchable, paged table; click a row to select it.

    Parameters
    ----------
    columns
        Columns shown, in order (others stay in :attr:`data`).
    labels
        Header text per column (with its unit, e.g. ``{"noise_mjy": "noise (mJy/beam)"}``).
    decimals
        Fixed decimals per numeric column (coordinates: 6 or more); other numeric
        columns get ``digits`` significant figures.
    paths
        Columns holding file paths: shown by their tail, the full path on hover.
    formatters
        Text per cell for columns that need it (sorted and searched as text).
    highlight
        Background colour of a row (or ``None``).
    page_size
        Rows per page in the page (every row stays reachable by paging and search).
    selectable
        Whether a click selects a row.
    """

    selected = traitlets.Any(None, allow_none=True)
    n_rows = traitlets.Int(0)

    def __init__(
        self,
        *,
        columns: list[str],
        labels: Mapping[str, str] | None = None,
        decimals: Mapping[str, int] | None = None,
        digits: int = 4,
        paths: tuple[str, ...] = (),
        formatters: Mapping[str, Callable[[Any], str]] | None = None,
        highlight: Callable[[pd.Series], str | None] | None = None,
        page_size: int = 10,
        selectable: bool = True,
        empty_text: str = "No rows.",
    ):
        from itables.widget import ITable

        _configure_itables()
        self.data = pd.DataFrame()
        #: What the page was sent: the shown columns under their headers (and ``_bg``).
        self.shown = pd.DataFrame()
        self.columns = list(columns)
        self.labels = dict(labels or {})
        self.decimals = dict(decimals or {})
        self.digits = int(digits)
        self.paths = tuple(paths)
        self.formatters = dict(formatters or {})
        self.highlight = highlight
        self.page_size = int(page_size)
        self.selectable = selectable
        self.empty_text = empty_text
        #: Why the rows could not be read (shown instead of the empty text), else None.
        self.unavailable: str | None = None
        self.info = widgets.Label()
        self._swapping = False
        self._clear_timer: threading.Timer | None = None
        self.itable = ITable(
            self._frame(pd.DataFrame(columns=self.columns)),
            **self._options(pd.DataFrame(columns=self.columns)),
        )
        self.itable.add_class("dsa-datatable")
        self.itable.observe(self._rows_picked, "selected_rows")
        super().__init__(children=[self.info, self.itable])
        self.add_class("dsa-datatable-box")
        self._update_info()

    # -- what the page gets ------------------------------------------------------------------
    def header(self, column: str) -> str:
        """The header text of ``column``."""
        return self.labels.get(column, column)

    def _frame(self, df: pd.DataFrame) -> pd.DataFrame:
        """The shown columns (headers relabelled), plus the hidden row colour."""
        out: dict[str, Any] = {}
        for c in self.columns:
            col = df[c] if c in df.columns else pd.Series([None] * len(df), index=df.index)
            if c in self.formatters:
                out[self.header(c)] = [self.formatters[c](v) for v in col]
            elif pd.api.types.is_bool_dtype(col.dtype):
                out[self.header(c)] = ["yes" if v else "no" for v in col]
            elif pd.api.types.is_numeric_dtype(col.dtype):
                out[self.header(c)] = pd.to_numeric(col, errors="coerce").astype(float)
            elif pd.api.types.is_datetime64_any_dtype(col.dtype):
                out[self.header(c)] = [
                    "" if pd.isna(v) else pd.Timestamp(v).strftime("%Y-%m-%d %H:%M:%S") for v in col
                ]
            else:
                out[self.header(c)] = [_text(v) for v in col]
        bg = [self.highlight(r) or "" for _, r in df.iterrows()] if self.highlight else []
        out["_bg"] = bg if bg else [""] * len(df)
        frame = pd.DataFrame(out)
        frame.index = pd.RangeIndex(len(frame))
        return frame

    def _options(self, df: pd.DataFrame) -> dict[str, Any]:
        defs: list[dict[str, Any]] = []
        for k, c in enumerate(self.columns):
            if c in self.paths:
                defs.append({"targets": k, "render": _js(PATH_JS)})
            elif c not in self.formatters and c in df.columns:
                kind = getattr(df[c].dtype, "kind", "O")
                if kind in "iuf" and kind != "b":
                    dec = self.decimals.get(c, 0 if kind in "iu" else -1)
                    code = NUMBER_JS % {"decimals": dec, "digits": self.digits}
                    defs.append(
                        {"targets": k, "render": _js(code), "className": "dt-right dsa-num"}
                    )
        defs.append({"targets": len(self.columns), "visible": False, "searchable": False})
        return dict(
            select={"style": "single", "info": False} if self.selectable else False,
            pageLength=self.page_size,
            lengthMenu=[self.page_size, 25, 50, 100, 500],
            scrollX=True,
            maxBytes=0,
            showIndex=False,
            format_floats_in_python=False,
            classes="display nowrap compact cell-border hover",
            columnDefs=defs,
            order=[],
            text_in_header_can_be_selected=False,  # a click anywhere on a header sorts
            # search and paging even when every row fits on one page (itables hides its
            # default controls then; this layout differs from the default)
            layout={
                "topStart": "pageLength",
                "topEnd": {"search": {"placeholder": "filter rows"}},
                "bottomStart": "info",
                "bottomEnd": "paging",
            },
            language={"emptyTable": self.empty_text, "zeroRecords": "No row matches."},
            drawCallback=_js(_DRAW_JS),
            createdRow=_js(_ROW_JS),
            style="table-layout:auto;width:100%;margin:0;font-size:12px",
        )

    # -- data ------------------------------------------------------------------------------
    def set_data(self, df: pd.DataFrame, *, keep_page: bool = False) -> None:
        """Show ``df`` (its index labels are the row keys); the selection is kept when its
        row is still there, cleared otherwise.  ``keep_page`` is accepted for symmetry
        with :class:`PagedTable` (the page keeps its own sort and search state)."""
        del keep_page
        if self.unavailable is not None:
            self.unavailable = None
            self.shown = pd.DataFrame()  # the page showed the reason: send the rows again
        self.data = df
        self.n_rows = len(df)
        shown = self._frame(df)
        same = shown.equals(self.shown) and list(shown.columns) == list(self.shown.columns)
        self.shown = shown
        keep = self.selected if self.selected is not None and self.selected in df.index else None
        rows = [int(df.index.get_loc(keep))] if keep is not None else []
        self._swapping = True
        try:
            if not same:  # a refresh with the same rows keeps the page's sort and search
                self.itable.update(self.shown, selected_rows=rows, **self._options(df))
            elif list(self.itable.selected_rows) != rows:
                self.itable.selected_rows = rows
        finally:
            self._swapping = False
        if keep is None:
            self.selected = None
        self._update_info()

    def set_unavailable(self, reason: str) -> None:
        """Show no rows and, instead of the empty text (an "all clear"), one line saying
        that the rows could not be read and why."""
        self.unavailable = " ".join(str(reason).split())
        self.data = self.data.iloc[:0]
        self.n_rows = 0
        self.shown = self._frame(self.data)
        opts = self._options(self.data)
        opts["language"] = {**opts["language"], "emptyTable": f"unavailable: {self.unavailable}"}
        self._swapping = True
        try:
            self.itable.update(self.shown, selected_rows=[], **opts)
        finally:
            self._swapping = False
        self.selected = None
        self._update_info()

    def page_frame(self) -> pd.DataFrame:
        """The first ``page_size`` rows (in the frame's order)."""
        return self.data.iloc[: self.page_size]

    def select(self, index_label: Any) -> None:
        """Select a row by its index label (as a click would)."""
        if index_label not in self.data.index:
            raise KeyError(index_label)
        self._swapping = True
        try:
            self.itable.selected_rows = [int(self.data.index.get_loc(index_label))]
        finally:
            self._swapping = False
        self.selected = index_label

    def clear_selection(self) -> None:
        """Select nothing."""
        self._swapping = True
        try:
            self.itable.selected_rows = []
        finally:
            self._swapping = False
        self.selected = None

    def _rows_picked(self, change: dict) -> None:
        if self._swapping:
            return
        if self._clear_timer is not None:
            self._clear_timer.cancel()
            self._clear_timer = None
        rows = [r for r in change["new"] if 0 <= r < len(self.data)]
        if rows:
            self.selected = self.data.index[rows[0]]
            return
        # moving the selection sends [] then the new row: clear only if nothing follows
        timer = threading.Timer(0.4, self._clear_if_empty)
        timer.daemon = True
        self._clear_timer = timer
        timer.start()

    def _clear_if_empty(self) -> None:
        if not self.itable.selected_rows:
            self.selected = None

    def _update_info(self) -> None:
        if self.unavailable is not None:
            self.info.value = f"unavailable: {self.unavailable}"
        else:
            self.info.value = f"{self.n_rows:,} rows" if self.n_rows else self.empty_text


def _text(v: Any) -> str:
    """A cell as text; blank when missing."""
    if v is None:
        return ""
    if isinstance(v, float | np.floating) and not np.isfinite(v):
        return ""
    try:
        if pd.isna(v):
            return ""
    except (TypeError, ValueError):
        pass
    return str(v)
