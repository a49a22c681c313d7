"""PagedTable: a read-only DataFrame shown a page at a time, sorted and filtered in the kernel.

Only what is on screen crosses to the browser (one page of rows as escaped HTML); the
frame stays in the kernel.  A ``sort`` menu (any shown column, ascending or descending,
missing values last) and a ``filter`` box (case-insensitive text matched against every
shown cell as displayed) act on the whole frame, not only on the page.  Tables whose rows
are picked to open a detail use :class:`~dsa110_ws.panels._table.DataTable` instead.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Mapping
from typing import Any

import ipywidgets as widgets
import numpy as np
import pandas as pd
import traitlets

__all__ = ["PagedTable"]

#: Up to this many rows, a table shows no sort menu and no filter box.
FEW_ROWS = 5

#: The sort menu's first entry: the rows in the order the service returned them.
AS_GIVEN = "(as listed)"


def _control(attr: str) -> Any:
    """A read-only property giving the control ``attr``, built on first use (see
    :meth:`PagedTable._controls`)."""

    def get(self: PagedTable) -> Any:
        self._controls()
        return getattr(self, attr)

    return property(get)


class PagedTable(widgets.VBox):
    """A DataFrame shown one page at a time, sortable and filterable; the frame stays in
    the kernel.

    ``data`` is the frame as given, ``view`` the rows shown (sorted, filtered).
    ``selectable`` adds a row picker for the current page; the chosen row's index label
    is in ``selected`` (``None`` when nothing is chosen, or when the filter removed it).
    """

    page = traitlets.Int(0)
    page_size = traitlets.Int(20)
    n_rows = traitlets.Int(0)
    selected = traitlets.Any(None, allow_none=True)

    def __init__(
        self,
        *,
        columns: list[str] | None = None,
        page_size: int = 20,
        formatters: Mapping[str, Callable[[Any], str]] | None = None,
        selectable: bool = False,
        label: Callable[[pd.Series], str] | None = None,
        highlight: Callable[[pd.Series], str | None] | None = None,
        empty_text: str = "No rows.",
    ):
        self.data = pd.DataFrame()
        self.view = self.data
        self.columns = columns
        self.formatters = dict(formatters or {})
        self.highlight = highlight
        self.empty_text = empty_text
        #: why there is nothing to show (its source failed), or None
        self.unavailable: str | None = None
        self._label = label
        self._selectable = selectable
        self.html = widgets.HTML()
        # the pager, sort and filter controls (and the row picker) are built when first
        # needed: every widget is a model each viewer's page creates, and a table of a
        # handful of rows shows none of them (8 tables were half of a dashboard's models)
        self._nav: widgets.HBox | None = None
        self._picker: widgets.Select | None = None
        self._sort_options = [AS_GIVEN]
        self.info = widgets.Label()  # "rows 1-3 of 3": always shown, in the controls' row
        super().__init__(children=[self.info, self.html, *([self.picker] if selectable else [])])
        self.page_size = page_size
        self.observe(lambda _: self._render(), ["page", "page_size"])
        self._render()

    # -- controls, built on first use ------------------------------------------------
    def _controls(self) -> widgets.HBox:
        if self._nav is None:
            bl = widgets.Layout(width="3.2em")
            # text, not icons: Voila's icon font comes from a CDN, which an offline page lacks
            self._first = widgets.Button(description="\u00ab", tooltip="first page", layout=bl)
            self._prev = widgets.Button(description="\u2039", tooltip="previous page", layout=bl)
            self._next = widgets.Button(description="\u203a", tooltip="next page", layout=bl)
            self._last = widgets.Button(description="\u00bb", tooltip="last page", layout=bl)
            self._sort_by = widgets.Dropdown(
                options=self._sort_options,
                value=AS_GIVEN,
                description="sort",
                layout=widgets.Layout(width="14em"),
                style={"description_width": "2.5em"},
            )
            self._descending = widgets.ToggleButton(
                False,
                description="desc",
                tooltip="sort descending",
                layout=widgets.Layout(width="4em"),
            )
            self._filter = widgets.Text(
                placeholder="filter rows",
                continuous_update=False,
                layout=widgets.Layout(width="11em"),
            )
            self._first.on_click(lambda _: self.set_trait("page", 0))
            self._prev.on_click(lambda _: self.set_trait("page", max(0, self.page - 1)))
            self._next.on_click(
                lambda _: self.set_trait("page", min(self.n_pages - 1, self.page + 1))
            )
            self._last.on_click(lambda _: self.set_trait("page", self.n_pages - 1))
            for control in (self._sort_by, self._descending, self._filter):
                control.observe(lambda _: self._reorder(), "value")
            self._nav = widgets.HBox(
                [
                    self._first,
                    self._prev,
                    self.info,
                    self._next,
                    self._last,
                    self._sort_by,
                    self._descending,
                    self._filter,
                ],
                layout=widgets.Layout(flex_flow="row wrap", align_items="center"),
            )
            rest = [self._picker] if self._selectable and self._picker is not None else []
            self.children = [self._nav, self.html, *rest]  # the label moves into it
            self._render()
        return self._nav

    first = _control("_first")
    prev = _control("_prev")
    next = _control("_next")
    last = _control("_last")
    sort_by = _control("_sort_by")
    descending = _control("_descending")
    filter = _control("_filter")

    @property
    def picker(self) -> widgets.Select:
        if self._picker is None:
            self._picker = widgets.Select(
                options=[], rows=6, description="select", layout=widgets.Layout(width="95%")
            )
            self._picker.observe(self._picked, "value")
        return self._picker

    def _sort_value(self) -> str:
        return AS_GIVEN if self._nav is None else str(self._sort_by.value)

    def _filter_value(self) -> str:
        return "" if self._nav is None else self._filter.value.strip()

    @property
    def n_pages(self) -> int:
        return max(1, math.ceil(self.n_rows / max(1, self.page_size)))

    def set_data(self, df: pd.DataFrame, *, keep_page: bool = False) -> None:
        """Show ``df`` (sorted and filtered as chosen) from its first page, or from the
        same page, clamped, if ``keep_page``."""
        self.unavailable = None
        self.data = df
        shown = [c for c in (self.columns or list(df.columns)) if c in df.columns]
        options = [AS_GIVEN, *shown]
        self._sort_options = options
        if self._nav is not None and list(self._sort_by.options) != options:
            keep = self._sort_by.value if self._sort_by.value in options else AS_GIVEN
            self._quiet = True  # new menu entries are not a viewer's choice
            try:
                self._sort_by.options = options  # (resets the value: set it after)
                self._sort_by.value = keep
            finally:
                self._quiet = False
        self._apply(keep_page=keep_page)

    def _reorder(self) -> None:
        if not getattr(self, "_quiet", False):
            self._apply(keep_page=False)

    def _apply(self, *, keep_page: bool) -> None:
        self.view = self._sorted(self._filtered(self.data))
        self.n_rows = len(self.view)
        page = min(self.page, self.n_pages - 1) if keep_page else 0
        if page == self.page:
            self._render()
        else:
            self.page = page

    def _filtered(self, df: pd.DataFrame) -> pd.DataFrame:
        needle = self._filter_value().lower()
        if not needle or df.empty:
            return df
        shown = [c for c in (self.columns or list(df.columns)) if c in df.columns]
        hit = np.zeros(len(df), dtype=bool)
        for c in shown:
            fmt = self.formatters.get(c)
            text = df[c].map(fmt) if fmt is not None else df[c].astype(str)
            hit |= text.astype(str).str.lower().str.contains(needle, regex=False).to_numpy()
        return df[hit]

    def _sorted(self, df: pd.DataFrame) -> pd.DataFrame:
        col = self._sort_value()
        if col == AS_GIVEN or col not in df.columns or df.empty:
            return df
        asc = not self._descending.value
        try:
            return df.sort_values(col, ascending=asc, na_position="last", kind="stable")
        except TypeError:  # mixed types in one column: sorted as text, missing still last
            key = pd.DataFrame(
                {"missing": df[col].isna().to_numpy(), "text": df[col].astype(str).to_numpy()}
            )
            pos = key.sort_values(["missing", "text"], ascending=[True, asc], kind="stable")
            return df.iloc[pos.index.to_numpy()]

    def set_unavailable(self, reason: str) -> None:
        """Show no rows and, instead of the empty text (an "all clear"), one line saying
        that the rows could not be read and why."""
        self.unavailable = " ".join(str(reason).split())
        self.data = self.data.iloc[:0]  # (its columns kept for whoever reads them)
        self.view = self.data
        self.n_rows = 0
        if self.page == 0:
            self._render()
        else:
            self.page = 0

    def page_frame(self) -> pd.DataFrame:
        """The rows on the current page (of the sorted, filtered view)."""
        start = self.page * self.page_size
        return self.view.iloc[start : start + self.page_size]

    def _render(self) -> None:
        from dsa110_ws.panels._widgets import table_html

        part = self.page_frame()
        start = self.page * self.page_size
        needle = self._filter_value()
        if self.n_rows == 0:
            if self.unavailable is not None:
                info = "unavailable"
                self.html.value = (
                    f"<span class='dsa-unavailable' style='color:#b00020'>unavailable: "
                    f"{html.escape(self.unavailable)}</span>"
                )
            elif len(self.data) and needle:
                info = f"0 of {len(self.data):,} rows"
                self.html.value = f"<i>No row matches {html.escape(needle)!r}.</i>"
            else:
                info = "0 rows"
                self.html.value = f"<i>{html.escape(self.empty_text)}</i>"
        else:
            of = f" (filtered from {len(self.data):,})" if self.n_rows < len(self.data) else ""
            info = (
                f"rows {start + 1:,}-{start + len(part):,} of {self.n_rows:,}{of} "
                f"(page {self.page + 1} of {self.n_pages})"
            )
            self.html.value = table_html(
                part, columns=self.columns, formatters=self.formatters, highlight=self.highlight
            )
        # only the controls that can do something: no pager for one page, no sort or
        # filter for a handful of rows (a filter the viewer typed stays until cleared)
        few = len(self.data) <= FEW_ROWS and not needle
        if self._nav is None and (self.n_pages > 1 or not few):
            self._controls()  # renders again, with them
            return
        self.info.value = info
        if self._nav is not None:
            self._prev.disabled = self._first.disabled = self.page <= 0
            self._next.disabled = self._last.disabled = self.page >= self.n_pages - 1
            for b in (self._first, self._prev, self._next, self._last):
                b.layout.display = None if self.n_pages > 1 else "none"
            for c in (self._sort_by, self._descending, self._filter):
                c.layout.display = "none" if few else None
        if not self._selectable and self._picker is None:
            return
        label = self._label or (lambda r: str(r.name))
        opts = [(label(row), idx) for idx, row in part.iterrows()]
        keep = self.selected if any(v == self.selected for _, v in opts) else None
        # new options make the Select jump to their first row: not a user's choice, so
        # nothing observing ``selected`` may see it (only the final value counts)
        self._swapping = True
        try:
            with self.picker.hold_trait_notifications():
                self.picker.options = opts
                self.picker.value = keep
        finally:
            self._swapping = False
        if keep is None:
            self.selected = None

    def _picked(self, change: dict) -> None:
        if not getattr(self, "_swapping", False):
            self.selected = change["new"]

    def select(self, index_label: Any) -> None:
        """Select a row by its index label, moving to its page (clearing a filter that
        hides it)."""
        if index_label not in self.view.index and index_label in self.data.index:
            self.filter.value = ""
        pos = self.view.index.get_loc(index_label)
        self.page = int(pos) // self.page_size
        self.picker.value = index_label
