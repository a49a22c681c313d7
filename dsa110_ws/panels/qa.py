"""QAPanel: one night's image QA: grade counts, the worst images and why, noise and
dynamic range against observation time."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import numpy as np
import pandas as pd
import traitlets

from dsa110_ws.core.severity import Severity
from dsa110_ws.errors import one_line
from dsa110_ws.panels._base import Panel, truncation_allowed
from dsa110_ws.panels._format import mjd_text
from dsa110_ws.panels._paged import PagedTable
from dsa110_ws.panels._widgets import (
    figure_png,
    new_figure,
    plot_locked,
    png_memo,
    png_widget,
    section,
)

if TYPE_CHECKING:
    from dsa110_ws.workspace import Workspace

__all__ = ["QAPanel"]

SOURCES = {"pixels": "QA from the pixels (w.qa)", "stored": "the pipeline's stored QA"}
_ORDER = {"bad": 0, "error": 1, "warning": 2, "unknown": 3, "no QA": 4, "good": 5}
_COLOURS = {
    "good": Severity.OK.colour,
    "warning": Severity.WARNING.colour,
    "bad": Severity.CRITICAL.colour,
    "error": "#8250df",  # the grade could not be computed
    "unknown": Severity.UNKNOWN.colour,  # measured nothing: "cannot grade: ..."
    "no QA": Severity.UNKNOWN.colour,
}


class QAPanel(Panel):
    """A night's image QA.

    ``source="pixels"`` grades every image of the night with ``w.qa.image`` (cached, with
    progress; at most ``max_images``); ``source="stored"`` shows the pipeline's own
    ``image_qa`` grades (cheap at survey scale).  After a refresh ``results`` holds one row
    per image (grade, rms_jy, dynamic_range, reasons) and ``counts`` the grade counts.
    """

    shared_params = (
        "night",
        "source",
        "max_images",
    )  # the same for every viewer: shared (w.shared)

    title = "Image QA"
    night = traitlets.Unicode("yesterday")
    source = traitlets.Unicode("pixels")

    def __init__(
        self,
        workspace: Workspace,
        *,
        night: str = "yesterday",
        source: str = "pixels",
        max_images: int = 400,
        **kwargs: Any,
    ):
        self.max_images = max_images
        self.results = pd.DataFrame()
        self.counts: dict[str, int] = {}
        super().__init__(workspace, **kwargs)
        self.night_text.value, self.source_select.value = night, source
        self.observe(self.guard(lambda _: self.refresh()), ["night", "source"])
        self.refresh()

    def _build(self) -> list[widgets.Widget]:
        self.night_text = widgets.Text(
            description="night", continuous_update=False, layout=widgets.Layout(width="15em")
        )
        self.source_select = widgets.Dropdown(
            options=[(v, k) for k, v in SOURCES.items()],
            description="grades",
            layout=widgets.Layout(width="24em"),
        )
        self.link_values((self.night_text, "night"), (self.source_select, "source"))
        self.night_text.add_class("dsa-qa-night")
        self.counts_html = widgets.HTML()
        self.worst_table = PagedTable(
            columns=["id", "observed", "grade", "rms_mjy", "dynamic_range", "reasons"],
            page_size=6,
            highlight=lambda r: {
                "bad": Severity.CRITICAL.background,
                "warning": Severity.WARNING.background,
                "error": "#fbefff",
            }.get(str(r["grade"])),
            empty_text="No images observed that night.",
        )
        self.worst_table.add_class("dsa-qa-worst")
        self.plot = png_widget(width="100%")
        return [
            widgets.HBox([self.night_text, self.source_select]),
            self.counts_html,
            section("Worst images", self.worst_table),
            self.plot,
        ]

    # -- data -----------------------------------------------------------------------------
    def _load(self) -> tuple[str, pd.DataFrame, bytes]:
        from dsa110_ws.core.time import night_bounds

        lo, hi = night_bounds(self.night, now=self.w.now())
        label = pd.Timestamp(lo, unit="s").strftime("%Y-%m-%d")
        with truncation_allowed():
            images = self.w.images.find(start=lo, end=hi, limit=self.max_images)
        truncated = bool(images.attrs.get("truncated"))
        res = self._pixels(images) if self.source == "pixels" else self._stored(images)
        res["sort"] = res["grade"].map(_ORDER).fillna(6)
        res = res.sort_values(["sort", "rms_jy"], ascending=[True, False], kind="stable")
        res = res.drop(columns="sort").reset_index(drop=True)
        res.attrs["truncated"] = truncated
        return label, res, _plot(res, label) if len(res) else b""

    def _pixels(self, images: pd.DataFrame) -> pd.DataFrame:
        rows = []
        for k, r in enumerate(images.itertuples(index=False)):
            self.report_progress(k, len(images), f"QA {k + 1}/{len(images)}")
            try:
                q = self.w.qa.image(r.path)
                rows.append(
                    (
                        r.id,
                        r.path,
                        r.obs_mjd,
                        q.grade,
                        q.rms_jy,
                        q.dynamic_range,
                        "; ".join(q.reasons),
                    )
                )
            except Exception as exc:  # noqa: BLE001 - one unreadable image is one row
                rows.append((r.id, r.path, r.obs_mjd, "error", np.nan, np.nan, one_line(exc)))
        return pd.DataFrame(
            rows, columns=["id", "path", "obs_mjd", "grade", "rms_jy", "dynamic_range", "reasons"]
        )

    def _stored(self, images: pd.DataFrame) -> pd.DataFrame:
        grades = self.w.images.stored_grades(images["path"])
        return pd.DataFrame(
            {
                "id": images["id"],
                "path": images["path"],
                "obs_mjd": images["obs_mjd"],
                "grade": grades,
                "rms_jy": pd.to_numeric(images["noise_jy"], errors="coerce"),
                "dynamic_range": pd.to_numeric(images["dynamic_range"], errors="coerce"),
                "reasons": [f"stored grade: {g}" for g in grades],
            }
        )

    def _show(self, data: tuple[str, pd.DataFrame, bytes]) -> None:
        label, self.results, png = data
        res = self.results
        self.counts = {g: int(n) for g, n in res["grade"].value_counts().items()}
        parts = " &middot; ".join(
            f"<span class='dsa-qa-count' data-grade='{html.escape(g)}' style='color:"
            f"{_COLOURS.get(g, '#555')}'>{html.escape(g)}: <b>{n}</b></span>"
            for g, n in sorted(self.counts.items(), key=lambda x: _ORDER.get(x[0], 9))
        )
        cut = " (first images only: raise max_images)" if res.attrs.get("truncated") else ""
        self.counts_html.value = (
            f"Night <b>{label}</b>: {len(res)} images{cut} &middot; {parts or 'nothing to grade'}"
        )
        self.worst_table.set_data(
            res.assign(
                observed=[mjd_text(x, "%H:%M") for x in res["obs_mjd"]], rms_mjy=res["rms_jy"] * 1e3
            )
        )
        self.plot.value = png
        self.show_status(
            f"{label}: {len(res)} images, {self.counts.get('bad', 0)} bad ({SOURCES[self.source]})",
            "ok",
        )


@png_memo
@plot_locked
def _plot(res: pd.DataFrame, label: str) -> bytes:
    fig = new_figure(7.0, 3.2)
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    hours = (pd.to_numeric(res["obs_mjd"], errors="coerce") % 1.0) * 24.0
    for grade, g in res.groupby("grade"):
        c = _COLOURS.get(str(grade), "#555")
        ax1.scatter(hours[g.index], g["rms_jy"] * 1e3, s=14, color=c, label=str(grade))
        ax2.scatter(hours[g.index], g["dynamic_range"], s=14, color=c)
    ax1.set_ylabel("rms (mJy/beam)")
    ax2.set_ylabel("dynamic range")
    ax2.set_xlabel(f"UTC hour of {label} (observation time)")
    ax1.legend(fontsize=7, frameon=False, loc="upper left")
    return figure_png(fig)
