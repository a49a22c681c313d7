"""ImageBrowser: filter images, page through them with thumbnails, inspect one."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import pandas as pd
import traitlets

from dsa110_ws.core.severity import Severity
from dsa110_ws.panels._base import Panel, truncation_allowed
from dsa110_ws.panels._format import beam_text, mjd_text, qa_checks_html, sexagesimal
from dsa110_ws.panels._imagedetail import image_info_html, products_html
from dsa110_ws.panels._table import DataTable
from dsa110_ws.panels._widgets import png_widget, section

if TYPE_CHECKING:
    from dsa110_ws.workspace import Workspace

__all__ = ["ImageBrowser"]

#: At most this many rows are read for one filter (the table says when it was cut).
MAX_ROWS = 20_000
GRADES = ["any", "good", "warning", "bad", "no QA"]
_GRADE_BG = {"bad": Severity.CRITICAL.background, "warning": Severity.WARNING.background}


class ImageBrowser(Panel):
    """Images from ``w.images`` filtered by night(s), type, stored QA grade and declination;
    a paginated table with thumbnails of the current page (``w.fits.thumbnail``); the
    selected image's header, QA checks (``w.qa``), a cutout tool, its MS and caltables, and its
    provenance strip (``w.provenance``: job, MS stages, caltables, pointing, QA, run log).

    Traits: ``night`` (UTC day, ISO or 'yesterday'), ``n_nights``, ``image_type``,
    ``grade``, ``dec_range`` (deg), ``selected_path``.
    """

    title = "Images"
    night = traitlets.Unicode("yesterday")
    n_nights = traitlets.Int(1)
    image_type = traitlets.Unicode("any")
    grade = traitlets.Unicode("any")
    dec_range = traitlets.Tuple(traitlets.Float(), traitlets.Float(), default_value=(-90.0, 90.0))
    selected_path = traitlets.Unicode("")

    def __init__(
        self,
        workspace: Workspace,
        *,
        night: str = "yesterday",
        n_nights: int = 1,
        page_size: int = 8,
        thumb_px: int = 160,
        image_id: int | None = None,
        **kwargs: Any,
    ):
        self._page_size, self._thumb_px = page_size, thumb_px
        self._want_image = image_id
        if image_id is not None:  # a deep link: open on the night the image was made
            night = pd.Timestamp(
                float(workspace.images.get(int(image_id)).created_at), unit="s"
            ).strftime("%Y-%m-%d")
            n_nights = max(n_nights, 1)
        self.images = pd.DataFrame()
        self.header: Any = None
        self.qa: Any = None
        self.applied = pd.DataFrame()
        super().__init__(workspace, **kwargs)
        self.night_text.value, self.nights_int.value = night, n_nights
        self.observe(
            self.guard(lambda _: self.refresh()),
            ["night", "n_nights", "image_type", "grade", "dec_range"],
        )
        self.table.observe(self.guard(self._selected), "selected")
        self.run(
            lambda: self.w.images.types(),
            self._set_types,
            what="reading image types",
            channel="types",
        )
        self.refresh()

    # -- layout -------------------------------------------------------------------------
    def _build(self) -> list[widgets.Widget]:
        self.night_text = widgets.Text(
            description="night", continuous_update=False, layout=widgets.Layout(width="15em")
        )
        self.nights_int = widgets.BoundedIntText(
            min=1, max=366, description="nights", layout=widgets.Layout(width="10em")
        )
        self.type_select = widgets.Dropdown(
            options=["any"], description="type", layout=widgets.Layout(width="14em")
        )
        self.grade_select = widgets.Dropdown(
            options=GRADES, description="QA grade", layout=widgets.Layout(width="14em")
        )
        self.dec_slider = widgets.FloatRangeSlider(
            value=(-90.0, 90.0),
            min=-90.0,
            max=90.0,
            step=0.5,
            description="Dec (deg)",
            continuous_update=False,
        )
        self.link_values(
            (self.night_text, "night"),
            (self.nights_int, "n_nights"),
            (self.type_select, "image_type"),
            (self.grade_select, "grade"),
            (self.dec_slider, "dec_range"),
        )
        self.grade_select.add_class("dsa-images-grade")
        self.night_text.add_class("dsa-images-night")
        self.table = DataTable(
            columns=[
                "id",
                "observed",
                "type",
                "field_name",
                "qa_grade",
                "noise_mjy",
                "dynamic_range",
                "beam",
                "center_ra_deg",
                "center_dec_deg",
                "centre",
                "path",
            ],
            labels={
                "observed": "observed (UTC)",
                "field_name": "field",
                "qa_grade": "QA grade",
                "noise_mjy": "noise (mJy/beam)",
                "dynamic_range": "dynamic range",
                "beam": "beam (arcsec, deg)",
                "center_ra_deg": "RA (deg)",
                "center_dec_deg": "Dec (deg)",
                "centre": "centre (ICRS)",
            },
            decimals={
                "center_ra_deg": 6,
                "center_dec_deg": 6,
                "dynamic_range": 0,
                "noise_mjy": 3,
            },
            paths=("path",),
            page_size=self._page_size,
            highlight=lambda r: _GRADE_BG.get(str(r["qa_grade"])),
            empty_text="No images match these filters.",
        )
        self.table.add_class("dsa-images-table")
        self.thumbs = widgets.GridBox(
            layout=widgets.Layout(
                grid_template_columns=f"repeat(auto-fill, {self._thumb_px + 8}px)", grid_gap="6px"
            )
        )
        self.detail = widgets.HTML(layout=widgets.Layout(width="100%"))
        self.detail.add_class("dsa-image-detail")
        from dsa110_ws.panels.imageview import ImageViewer

        self.viewer = ImageViewer(self.w, background=self.background)
        self.viewer.add_class("dsa-image-viewer")
        self.cutout = self._build_cutout_tool()
        filters = widgets.VBox(
            [
                widgets.HBox(
                    [self.night_text, self.nights_int, self.type_select, self.grade_select]
                ),
                self.dec_slider,
            ]
        )
        self.open_ms_button = widgets.Button(
            description="Inspect its MS", icon="table", disabled=True
        )
        self.open_cal_button = widgets.Button(
            description="Inspect its caltables", icon="sliders", disabled=True
        )
        self.open_ms_button.on_click(self.guard(lambda _: self.open_linked("ms")))
        self.open_cal_button.on_click(self.guard(lambda _: self.open_linked("cal")))
        self.linked = widgets.VBox()
        links = widgets.HBox([self.open_ms_button, self.open_cal_button])
        from dsa110_ws.panels.provenance import ProvenanceStrip

        self.provenance = ProvenanceStrip(self.w, background=self.background)
        left = widgets.VBox(
            [self.table, section("Thumbnails (the table's first rows)", self.thumbs)],
            layout=widgets.Layout(flex="1 1 0", min_width="0"),
        )
        right = widgets.VBox(
            [section("Selected image", self.viewer, self.detail)],
            layout=widgets.Layout(flex="0 0 auto", width="680px"),
        )
        return [
            filters,
            widgets.HBox([left, right], layout=widgets.Layout(width="100%", grid_gap="12px")),
            section("Cutout and products", self.cutout, links, self.linked),
            section("Provenance", self.provenance),
        ]

    def _build_cutout_tool(self) -> widgets.Widget:
        self.cut_ra = widgets.FloatText(description="RA (deg)", layout=widgets.Layout(width="14em"))
        self.cut_dec = widgets.FloatText(
            description="Dec (deg)", layout=widgets.Layout(width="14em")
        )
        self.cut_size = widgets.BoundedFloatText(
            value=20.0,
            min=0.5,
            max=600.0,
            description="size (')",
            layout=widgets.Layout(width="12em"),
        )
        self.cut_button = widgets.Button(description="Cut out", icon="crop")
        self.cut_image = png_widget(width="256px")
        self.cut_button.on_click(self.guard(lambda _: self.make_cutout()))
        return widgets.VBox(
            [
                widgets.HBox([self.cut_ra, self.cut_dec, self.cut_size, self.cut_button]),
                self.cut_image,
            ]
        )

    def _set_types(self, types: list[str]) -> None:
        self.type_select.options = ["any", *types]

    # -- data -----------------------------------------------------------------------------
    def _load(self) -> pd.DataFrame:
        from dsa110_ws.core.time import night_bounds

        lo, _ = night_bounds(self.night, now=self.w.now())
        hi = lo + 86400.0 * max(1, int(self.n_nights))
        dec_lo, dec_hi = self.dec_range
        with truncation_allowed():
            df = self.w.images.find(
                start=lo,
                end=hi,
                type=None if self.image_type == "any" else self.image_type,
                dec_min_deg=None if dec_lo <= -90 else dec_lo,
                dec_max_deg=None if dec_hi >= 90 else dec_hi,
                limit=MAX_ROWS,
            )
        truncated = bool(df.attrs.get("truncated"))
        df = df.assign(qa_grade=self.w.images.stored_grades(df["path"]))
        if self.grade != "any":
            df = df[df["qa_grade"] == self.grade]
        df.attrs["truncated"] = truncated
        return df

    def _show(self, df: pd.DataFrame) -> None:
        self.images = df
        shown = df.assign(
            observed=[mjd_text(x, "%Y-%m-%d %H:%M:%S") for x in df["obs_mjd"]],
            centre=sexagesimal(df["center_ra_deg"], df["center_dec_deg"]),
            noise_mjy=pd.to_numeric(df["noise_jy"], errors="coerce") * 1e3,
            beam=[
                beam_text(a, b, p)
                for a, b, p in zip(
                    df["beam_major_arcsec"], df["beam_minor_arcsec"], df["beam_pa_deg"], strict=True
                )
            ],
        )
        self.table.set_data(shown.set_index("id", drop=False))
        self._load_thumbs()
        self._select_first_or_wanted()
        cut = " (truncated: narrow the filters)" if df.attrs.get("truncated") else ""
        self.show_status(
            f"{len(df)} images from {self.night} over {self.n_nights} night(s){cut}",
            "warning" if cut else "ok",
        )

    def _select_first_or_wanted(self) -> None:
        """Open the deep link's image, or the first image when nothing is selected yet."""
        data = self.table.data
        want, self._want_image = self._want_image, None
        if want is not None and want in data.index:
            self.table.select(want)
        elif want is not None:
            self.show_status(f"image {want} is not among these images", "warning")
        elif self.table.selected is None and len(data) and not self.selected_path:
            self.table.select(data.index[0])

    # -- thumbnails -----------------------------------------------------------------------
    def _load_thumbs(self) -> None:
        page = self.table.page_frame()
        paths, ids = list(page["path"]), list(page["id"])
        px = self._thumb_px
        self.thumbs.children = [
            widgets.HTML(f"<div style='width:{px}px;height:{px}px;background:#eee'></div>")
            for _ in ids
        ]

        def work() -> list[tuple[Any, bytes | None, str]]:
            out: list[tuple[Any, bytes | None, str]] = []
            for k, (iid, path) in enumerate(zip(ids, paths, strict=True)):
                self.report_progress(k, len(paths), f"thumbnails {k + 1}/{len(paths)}")
                try:
                    out.append((iid, self.w.fits.thumbnail(path, size=px), ""))
                except Exception as exc:  # noqa: BLE001 - one bad image must not stop the grid
                    from dsa110_ws.errors import one_line

                    out.append((iid, None, one_line(exc)))
            return out

        self.run(work, self._show_thumbs, what="thumbnails", channel="thumbs")

    def _show_thumbs(self, items: list[tuple[Any, bytes | None, str]]) -> None:
        cells = []
        for iid, png, err in items:
            body = (
                png_widget(png, width=f"{self._thumb_px}px")
                if png
                else widgets.HTML(
                    f"<div style='width:{self._thumb_px}px;color:#cf222e;font-size:11px'>"
                    f"{html.escape(err)}</div>"
                )
            )
            pick = widgets.Button(
                description=f"image {iid}", layout=widgets.Layout(width=f"{self._thumb_px}px")
            )
            pick.on_click(self.guard(lambda _, i=iid: self.table.select(i)))
            cells.append(widgets.VBox([body, pick]))
        self.thumbs.children = cells

    # -- selection ------------------------------------------------------------------------
    def _selected(self, change: dict) -> None:
        iid = change["new"]
        if iid is None:  # nothing selected, or the row was filtered away: no stale detail
            self.selected_path = ""
            self.detail.value = ""
            self.viewer.path = ""
            self.viewer.clear()
            self.open_ms_button.disabled = self.open_cal_button.disabled = True
            return
        row = self.images.set_index("id", drop=False).loc[iid]
        self.selected_path = str(row["path"])
        self.run(
            lambda: self._inspect(row),
            self._show_detail,
            what=f"reading image {iid}",
            channel="detail",
        )

    def _inspect(self, row: pd.Series) -> dict[str, Any]:
        path = str(row["path"])
        out: dict[str, Any] = {
            "row": row,
            "header": self.w.fits.header(path),
        }
        try:
            out["qa"] = self.w.qa.image(path)
        except Exception as exc:  # noqa: BLE001 - shown next to the header, not fatal
            from dsa110_ws.errors import one_line

            out["qa"] = one_line(exc)
        out["applied"] = self.w.images.applied_caltables(row.get("ms_path"))
        return out

    def _show_detail(self, d: dict[str, Any]) -> None:
        self.header, self.qa, self.applied = d["header"], d["qa"], d["applied"]
        self.open_ms_button.disabled = not isinstance(d["row"].get("ms_path"), str)
        self.open_cal_button.disabled = False
        h, row = self.header, d["row"]
        self.viewer.path = str(row["path"])
        centre = h.center
        if centre is not None:
            icrs = centre.icrs
            self.cut_ra.value, self.cut_dec.value = round(icrs.ra.deg, 5), round(icrs.dec.deg, 5)
        info = image_info_html(h, row["id"])
        links = products_html(row, self.applied)
        self.detail.value = info + qa_checks_html(self.qa) + links
        grade = getattr(self.qa, "grade", "not graded")
        self.show_status(f"image {row['id']}: QA {grade}", "ok")
        self.provenance.image = str(row["path"])

    def open_linked(self, what: str) -> None:
        """Show an MSInspector (``"ms"``) or CalInspector (``"cal"``) for the selected image."""
        row = self.images.set_index("id", drop=False).loc[self.table.selected]
        for old in self.linked.children:
            old.close()
        if what == "ms":
            from dsa110_ws.panels.ms import MSInspector

            panel: Panel = MSInspector(self.w, str(row["ms_path"]), background=self.background)
        else:
            from dsa110_ws.panels.cal import CalInspector

            first = self.applied["caltable_path"].iloc[0] if len(self.applied) else None
            panel = CalInspector(self.w, first, background=self.background)
        self.linked.children = [panel]

    def make_cutout(self) -> None:
        """Cut out ``size`` arcmin around (RA, Dec) of the selected image."""
        if not self.selected_path:
            self.show_status("Select an image first.", "warning")
            return
        from astropy import units as u

        path, pos = self.selected_path, (self.cut_ra.value, self.cut_dec.value)
        size = self.cut_size.value * u.arcmin
        self.run(
            lambda: self.w.fits.cutout_png(path, pos, size, png_size=256),
            lambda png: setattr(self.cut_image, "value", png),
            what="cutout",
            channel="cutout",
        )
