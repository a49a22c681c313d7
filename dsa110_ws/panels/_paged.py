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
        self.html = widgets.HTML()
        self.info = widgets.Label()
        bl = widgets.Layout(width="3.2em")
        # text, not icons: Voila's icon font comes from a CDN, which an offline page lacks
        self.first = widgets.Button(description="\u00ab", tooltip="first page", layout=bl)
        self.prev = widgets.Button(description="\u2039", tooltip="previous page", layout=bl)
        self.next = widgets.Button(description="\u203a", tooltip="next page", layout=bl)
        self.last = widgets.Button(description="\u00bb", tooltip="last page", layout=bl)
        self.sort_by = widgets.Dropdown(
            options=[AS_GIVEN],
            value=AS_GIVEN,
            description="sort",
            layout=widgets.Layout(width="14em"),
            style={"description_width": "2.5em"},
        )
        self.descending = widgets.ToggleButton(
            False, description="desc", tooltip="sort descending", layout=widgets.Layout(width="4em")
        )
        self.filter = widgets.Text(
            placeholder="filter rows",
            continuous_update=False,
            layout=widgets.Layout(width="11em"),
        )
        self.picker = widgets.Select(
            options=[], rows=6, description="select", layout=widgets.Layout(width="95%")
        )
        nav = widgets.HBox(
            [
                self.first,
                self.prev,
                self.info,
                self.next,
                self.last,
                self.sort_by,
                self.descending,
                self.filter,
            ],
            layout=widgets.Layout(flex_flow="row wrap", align_items="center"),
        )
        kids: list[widgets.Widget] = [nav, self.html] + ([self.picker] if selectable else [])
        super().__init__(children=kids)
        self.page_size = page_size
        self.first.on_click(lambda _: self.set_trait("page", 0))
        self.prev.on_click(lambda _: self.set_trait("page", max(0, self.page - 1)))
        self.next.on_click(lambda _: self.set_trait("page", min(self.n_pages - 1, self.page + 1)))
        self.last.on_click(lambda _: self.set_trait("page", self.n_pages - 1))
        self.picker.observe(self._picked, "value")
        for control in (self.sort_by, self.descending, self.filter):
            control.observe(lambda _: self._reorder(), "value")
        self.observe(lambda _: self._render(), ["page", "page_size"])
        self._render()

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
        if list(self.sort_by.options) != options:
            keep = self.sort_by.value if self.sort_by.value in options else AS_GIVEN
            self._quiet = True  # new menu entries are not a viewer's choice
            try:
                self.sort_by.options = options  # (resets the value: set it after)
                self.sort_by.value = keep
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
        needle = self.filter.value.strip().lower()
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
        col = self.sort_by.value
        if col == AS_GIVEN or col not in df.columns or df.empty:
            return df
        asc = not self.descending.value
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
        if self.n_rows == 0:
            if self.unavailable is not None:
                self.info.value = "unavailable"
                self.html.value = (
                    f"<span class='dsa-unavailable' style='color:#b00020'>unavailable: "
                    f"{html.escape(self.unavailable)}</span>"
                )
            elif len(self.data) and self.filter.value.strip():
                self.info.value = f"0 of {len(self.data):,} rows"
                self.html.value = (
                    f"<i>No row matches {html.escape(self.filter.value.strip())!r}.</i>"
                )
            else:
                self.info.value = "0 rows"
                self.html.value = f"<i>{html.escape(self.empty_text)}</i>"
        else:
            of = f" (filtered from {len(self.data):,})" if self.n_rows < len(self.data) else ""
            self.info.value = (
                f"rows {start + 1:,}-{start + len(part):,} of {self.n_rows:,}{of} "
                f"(page {self.page + 1} of {self.n_pages})"
            )
            self.html.value = table_html(
                part, columns=self.columns, formatters=self.formatters, highlight=self.highlight
            )
        self.prev.disabled = self.first.disabled = self.page <= 0
        self.next.disabled = self.last.disabled = self.page >= self.n_pages - 1
        # only the controls that can do something: no pager for one page, no sort or
        # filter for a handful of rows (a filter the viewer typed stays until cleared)
        for b in (self.first, self.prev, self.next, self.last):
            b.layout.display = None if self.n_pages > 1 else "none"
        few = len(self.data) <= FEW_ROWS and not self.filter.value.strip()
        for c in (self.sort_by, self.descending, self.filter):
            c.layout.display = "none" if few else None
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
