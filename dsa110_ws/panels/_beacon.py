"""A page-ready beacon: no widget update is lost while a Voila page builds its views.

Voila sends the widgets' state, then the page creates their views.  An update the kernel
sends in the fraction of a second between the two is dropped by the front end, which keeps
the older value; ipywidgets only sends changes, so an unchanged value is never sent again
and the page shows it stale (measured: 6 of 20 page loads lost a panel's update; see
docs/architecture.md).  The beacon is a view-less anywidget whose front end, once it is
rendered (every model before it exists by then), bumps ``ready``; the kernel answers by
sending the current state of every widget of the dashboard once more.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import anywidget
import ipywidgets as widgets
import traitlets

__all__ = ["PageReady", "walk"]

_ESM = """
export default {
  render({ model, el }) {
    el.style.display = "none";
    model.set("ready", model.get("ready") + 1);
    model.save_changes();
  },
};
"""


class PageReady(anywidget.AnyWidget):
    """Calls ``on_ready()`` each time a page has rendered it (its views exist)."""

    _esm = _ESM
    ready = traitlets.Int(0).tag(sync=True)

    def __init__(self, on_ready: Callable[[], None], **kwargs):
        super().__init__(**kwargs)
        self.observe(lambda _: on_ready(), "ready")


def walk(root: widgets.Widget) -> Iterator[widgets.Widget]:
    """``root`` and every widget below it (children of boxes, a box's layout excepted)."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        w = stack.pop()
        if id(w) in seen:
            continue
        seen.add(id(w))
        yield w
        stack.extend(getattr(w, "children", ()) or ())
