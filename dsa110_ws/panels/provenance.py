"""ProvenanceStrip: the chain behind one image, one chip per step, each link openable."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import traitlets

from dsa110_ws.core.severity import Severity, badge_html, worst
from dsa110_ws.panels._base import Panel
from dsa110_ws.panels._widgets import _TABLE_CSS, kv_html

if TYPE_CHECKING:
    from dsa110_ws.workspace import Workspace

__all__ = ["ProvenanceStrip"]

_STEP_TITLES = {
    "image": "Image",
    "job": "Job",
    "ms": "MS",
    "stages": "Stages",
    "calibration": "Caltables",
    "pointing": "Pointing",
    "qa": "QA",
    "log": "Run log",
}


class ProvenanceStrip(Panel):
    """The provenance of an image (``w.provenance.image``): a strip of steps -- image, job, MS,
    stage history, caltables, pointing, QA verdicts, run log -- coloured by their worst link,
    the links in a table (a missing one names the table that lacks it), and an "Open" control
    that shows the selected link's own view (MS inspector, caltable inspector, log viewer or the
    job's record).

    Traits: ``image`` (catalogue id or FITS path; empty shows nothing).  After a load:
    ``provenance`` (the :class:`~dsa110_ws.services.products.Provenance`).
    """

    title = ""
    image = traitlets.Unicode("")

    def __init__(self, workspace: Workspace, image: str | int | None = None, **kwargs: Any):
        self.provenance: Any = None
        super().__init__(workspace, **kwargs)
        self.observe(self.guard(lambda _: self.refresh()), "image")
        if image is not None and str(image):
            self.image = str(image)

    def _build(self) -> list[widgets.Widget]:
        self.strip = widgets.HTML()
        self.strip.add_class("dsa-provenance-strip")
        self.table = widgets.HTML()
        self.table.add_class("dsa-provenance-links")
        self.link_select = widgets.Dropdown(
            options=[], description="link", layout=widgets.Layout(width="32em")
        )
        self.open_button = widgets.Button(description="Open", icon="external-link")
        self.open_button.on_click(self.guard(lambda _: self.open_selected()))
        self.opened = widgets.VBox()
        controls = widgets.HBox([self.link_select, self.open_button])
        return [self.strip, self.table, controls, self.opened]

    def _load(self) -> Any:
        if not self.image:
            return None
        return self.w.provenance.image(self.image)

    def _show(self, p: Any) -> None:
        self.provenance = p
        for old in self.opened.children:
            old.close()
        self.opened.children = []
        if p is None:
            self.strip.value = self.table.value = ""
            self.link_select.options = []
            return
        self.strip.value = _strip_html(p)
        self.table.value = _links_html(p)
        options = [
            (f"{_STEP_TITLES.get(x.step, x.step)}: {x.label}", i)
            for i, x in enumerate(p.links)
            if x.view and x.key and not x.missing
        ]
        self.link_select.options = options
        self.link_select.value = options[0][1] if options else None
        level = "ok" if p.complete else "warning"
        said = "complete" if p.complete else f"{len(p.gaps)} missing link(s)"
        self.show_status(f"provenance of image {p.image_id}: {said}", level)

    def open_selected(self) -> None:
        """Show the view of the link chosen in ``link_select`` below the strip."""
        if self.provenance is None or self.link_select.value is None:
            self.show_status("Choose a link first.", "warning")
            return
        x = self.provenance.links[int(self.link_select.value)]
        for old in self.opened.children:
            old.close()
        self.opened.children = [self._view(x.view, str(x.key))]

    def _view(self, view: str, key: str) -> widgets.Widget:
        if view == "ms":
            from dsa110_ws.panels.ms import MSInspector

            return MSInspector(self.w, key, background=self.background)
        if view == "cal":
            from dsa110_ws.panels.cal import CalInspector

            return CalInspector(self.w, key, background=self.background)
        if view == "log":
            from dsa110_ws.panels.logs import LogViewer

            return LogViewer(self.w, key, background=self.background)
        if view == "job":
            info = self.w.jobs.get(key).to_dict()
            shown = [(k, info[k]) for k in ("id", "type", "status", "ms_path", "failure_reason")]
            logs = html.escape(str(info.get("logs") or ""))
            return widgets.HTML(kv_html(shown, title=f"Job {key}") + f"<pre>{logs}</pre>")
        return widgets.HTML(f"<p>Image: <code>{html.escape(key)}</code> (the one above).</p>")


def _strip_html(p: Any) -> str:
    chips = []
    for step in _STEP_TITLES:  # the service's step order
        links = p.step(step)
        if not links:
            continue
        sev = worst(x.status for x in links)
        missing = sum(1 for x in links if x.missing)
        note = f" ({missing} missing)" if missing else f" ({len(links)})" if len(links) > 1 else ""
        tip = html.escape(" | ".join(f"{x.label}: {x.detail}" for x in links))
        chips.append(
            f"<span title='{tip}' style='display:inline-block;margin:2px 4px 2px 0;"
            f"padding:3px 8px;border-radius:12px;border:2px solid {sev.colour};"
            f"background:{sev.background or '#f6f8fa'}'><b>{_STEP_TITLES[step]}</b>{note}</span>"
        )
    arrow = "<span style='color:#8c959f'>&rarr;</span>"
    return f"<div><b>Provenance</b> {badge_html(p.status)} {arrow.join(chips)}</div>"


def _links_html(p: Any) -> str:
    rows = []
    for x in p.links:
        missing = (
            f"<br><span style='color:{Severity.WARNING.colour}'>missing from "
            f"<code>{html.escape(x.missing)}</code></span>"
            if x.missing
            else ""
        )
        lines = x.data.get("lines") if x.step == "log" else None
        excerpt = (
            "<pre style='font-size:11px;margin:2px 0'>" + html.escape("\n".join(lines)) + "</pre>"
            if lines
            else ""
        )
        rows.append(
            f"<tr><td>{html.escape(_STEP_TITLES.get(x.step, x.step))}</td>"
            f"<td>{badge_html(x.status)}</td><td>{html.escape(x.label)}</td>"
            f"<td>{html.escape(x.detail)}{missing}{excerpt}</td></tr>"
        )
    head = "<tr><th>step</th><th>status</th><th>link</th><th>detail</th></tr>"
    return f"{_TABLE_CSS}<table class='dsa-table'>{head}{''.join(rows)}</table>"
