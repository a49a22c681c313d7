"""SourceExplorer: find a source (cone search, id or candidate list), its light curve,
metrics and postage stamps, and the eta-V diagnostic with the ESE candidates."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import pandas as pd
import traitlets

from dsa110_ws.panels._base import Panel
from dsa110_ws.panels._widgets import (
    PagedTable,
    figure_png,
    kv_html,
    new_figure,
    plot_locked,
    png_widget,
    section,
)

if TYPE_CHECKING:
    from dsa110_ws.workspace import Workspace

__all__ = ["SourceExplorer"]

PRESETS = ["conservative", "moderate", "sensitive"]
METRICS = [
    "n_epochs",
    "mean_flux_jy",
    "std_flux_jy",
    "v",
    "eta",
    "chi2_nu",
    "sigma_deviation",
    "vs_max",
    "m_max",
    "dip_depth",
    "dip_sigma",
    "flux_column",
    "score",
    "ese_like",
    "is_candidate",
]


class SourceExplorer(Panel):
    """Sources from ``w.sources``.

    Traits: ``source_id`` (the source shown), ``preset`` (ESE preset), ``stamps`` (draw the
    postage-stamp strip), ``forced`` (the light curve from forced photometry in every image
    that covered the source, non-detections as upper limits).  After a refresh
    ``variability`` holds every source's metrics and ``candidates`` the ESE candidates;
    after a cone search ``cone_results``; for the shown source ``lightcurve`` and
    ``metrics``.  The candidate and cone tables and the shown source can be sent to
    TOPCAT or Aladin over SAMP (``send_to_samp``, ``point_at_source``).
    """

    title = "Sources"
    source_id = traitlets.Unicode("", allow_none=True)
    preset = traitlets.Unicode("moderate")
    stamps = traitlets.Bool(True)
    forced = traitlets.Bool(False)

    def __init__(
        self,
        workspace: Workspace,
        source_id: str | None = None,
        *,
        preset: str = "moderate",
        stamps: bool = True,
        **kwargs: Any,
    ):
        self.variability = pd.DataFrame()
        self.candidates = pd.DataFrame()
        self.cone_results = pd.DataFrame()
        self.lightcurve = pd.DataFrame()
        self.metrics: dict[str, Any] = {}
        self._wanted = source_id
        super().__init__(workspace, **kwargs)
        self.preset_select.value, self.stamps = preset, stamps
        self.observe(self.guard(lambda _: self.refresh()), "preset")
        self.observe(self.guard(lambda _: self._load_source()), ["source_id", "stamps", "forced"])
        self.refresh()

    def _build(self) -> list[widgets.Widget]:
        self.source_box = widgets.Combobox(
            description="source",
            ensure_option=False,
            continuous_update=False,
            placeholder="source id, e.g. J103255.8+363112",
            layout=widgets.Layout(width="26em"),
        )
        self.preset_select = widgets.Dropdown(
            options=PRESETS, description="ESE preset", layout=widgets.Layout(width="18em")
        )
        self.link_values((self.source_box, "source_id"), (self.preset_select, "preset"))
        self.preset_select.add_class("dsa-sources-preset")
        self.cone_ra = widgets.FloatText(
            description="RA (deg)", layout=widgets.Layout(width="14em")
        )
        self.cone_dec = widgets.FloatText(
            description="Dec (deg)", layout=widgets.Layout(width="14em")
        )
        self.cone_radius = widgets.BoundedFloatText(
            value=10.0,
            min=0.01,
            max=600.0,
            description="radius (')",
            layout=widgets.Layout(width="12em"),
        )
        self.cone_button = widgets.Button(description="Cone search", icon="search")
        self.cone_button.on_click(self.guard(lambda _: self.cone_search()))
        self.cone_table = PagedTable(
            columns=["id", "ra_deg", "dec_deg", "sep_arcmin", "detection_count", "mean_flux_jy"],
            page_size=6,
            selectable=True,
            label=lambda r: str(r["id"]),
            empty_text="No search yet (or nothing inside the radius).",
        )
        self.cone_table.observe(self.guard(self._picked), "selected")
        self.cand_table = PagedTable(
            columns=[
                "source_id",
                "score",
                "n_epochs",
                "v",
                "eta",
                "chi2_nu",
                "sigma_deviation",
                "ese_like",
                "stored_status",
            ],
            page_size=8,
            selectable=True,
            label=lambda r: f"{r['source_id']} (score {r['score']:.2f})",
            empty_text="No candidates at this preset.",
        )
        self.cand_table.add_class("dsa-sources-candidates")
        self.cand_table.observe(self.guard(self._picked), "selected")
        self.samp_cands_button = _samp_button("Send to SAMP", "candidate table")
        self.samp_cands_button.on_click(self.guard(lambda _: self.send_to_samp("candidates")))
        self.samp_cone_button = _samp_button("Send to SAMP", "cone search results")
        self.samp_cone_button.on_click(self.guard(lambda _: self.send_to_samp("cone")))
        self.samp_point_button = _samp_button("Point SAMP at source", "shown source's position")
        self.samp_point_button.on_click(self.guard(lambda _: self.point_at_source()))
        self.forced_box = widgets.Checkbox(
            description="forced photometry (upper limits)", indent=False
        )
        widgets.link((self.forced_box, "value"), (self, "forced"))
        self.summary_html = widgets.HTML()
        self.eta_v_plot = png_widget(width="420px")
        self.metrics_html = widgets.HTML()
        self.metrics_html.add_class("dsa-source-metrics")
        self.lc_plot = png_widget(width="100%")
        self.stamp_plot = png_widget(width="100%", max_width="1300px")
        cone = widgets.VBox(
            [
                widgets.HBox([self.cone_ra, self.cone_dec, self.cone_radius, self.cone_button]),
                self.cone_table,
                self.samp_cone_button,
            ]
        )
        return [
            widgets.HBox([self.source_box, self.preset_select]),
            section("Cone search", cone),
            section(
                "ESE candidates",
                self.summary_html,
                widgets.HBox([self.cand_table, self.eta_v_plot]),
                self.samp_cands_button,
            ),
            section(
                "Source",
                widgets.HBox([self.forced_box, self.samp_point_button]),
                self.metrics_html,
                self.lc_plot,
                self.stamp_plot,
            ),
        ]

    # -- survey-wide --------------------------------------------------------------------------
    def _load(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        table = self.w.sources.variability(
            preset=self.preset,
            progress=lambda stage, done, total: self.report_progress(
                done, total, f"{stage}: {done:,} of {total:,}"
            ),
        )
        cands = self.w.sources.ese_candidates(preset=self.preset, table=table)
        return table, cands

    def _show(self, data: tuple[pd.DataFrame, pd.DataFrame]) -> None:
        self.variability, self.candidates = data
        a = self.variability.attrs
        self.summary_html.value = (
            f"<b class='dsa-n-candidates'>{len(self.candidates)}</b> candidates "
            f"({sum(self.candidates.get('ese_like', []))} ESE-like) among "
            f"{a.get('n_with_metrics', len(self.variability))} sources with metrics "
            f"(preset {self.preset}; flux: {a.get('flux', '?')})"
        )
        self.cand_table.set_data(self.candidates.set_index("source_id", drop=False))
        self.source_box.options = [str(s) for s in self.candidates["source_id"]]
        if not self.source_id:
            want = self._wanted or (
                str(self.candidates["source_id"].iloc[0]) if len(self.candidates) else None
            )
            if want:
                self.source_box.value = want
        self.show_status(f"{len(self.candidates)} candidates at the {self.preset} preset", "ok")
        self._load_source()

    # -- one source -----------------------------------------------------------------------------
    def _picked(self, change: dict) -> None:
        if change["new"] is not None:
            self.source_box.value = str(change["new"])

    def _load_source(self) -> None:
        sid, table, with_stamps, forced = self.source_id, self.variability, self.stamps, self.forced
        if not sid or table.empty:
            return

        def work() -> dict[str, Any]:
            self.report_progress(0, 3, f"light curve of {sid}")
            lc = self.w.sources.lightcurve(sid, forced=forced)
            out = {
                "lc": lc,
                "lc_png": _lightcurve_png(self.w, lc),
                "eta_v": _eta_v_png(self.w, table, sid),
            }
            self.report_progress(1, 3, f"postage stamps of {sid}")
            out["stamps_png"] = _stamps_png(self.w, sid) if with_stamps else b""
            return out

        self.run(work, lambda d: self._show_source(sid, d), what=f"reading {sid}", channel="source")

    def _show_source(self, sid: str, d: dict[str, Any]) -> None:
        self.lightcurve = d["lc"]
        rows = self.variability[self.variability["source_id"] == sid]
        self.metrics = (
            rows.iloc[0][[c for c in METRICS if c in rows]].to_dict() if len(rows) else {}
        )
        n_limits = int(self.lightcurve.attrs.get("n_upper_limits", 0) or 0)
        limits = f" ({n_limits} upper limit{'s' * (n_limits != 1)})" if n_limits else ""
        self.metrics_html.value = kv_html(
            list(self.metrics.items()) or [("metrics", "none")],
            title=f"{sid}: {len(self.lightcurve)} measurements{limits}",
        )
        self.lc_plot.value, self.eta_v_plot.value = d["lc_png"], d["eta_v"]
        if len(self.lightcurve) and self.cone_results.empty:  # centre the cone search here
            self.cone_ra.value = round(float(self.lightcurve["ra_deg"].mean()), 5)
            self.cone_dec.value = round(float(self.lightcurve["dec_deg"].mean()), 5)
        self.stamp_plot.value = d["stamps_png"]
        self.show_status(f"{sid}: {len(self.lightcurve)} measurements", "ok")

    # -- SAMP -----------------------------------------------------------------------------------
    def send_to_samp(self, which: str) -> None:
        """Send the ``"candidates"``, ``"cone"`` or ``"lightcurve"`` table to the SAMP
        clients (TOPCAT, Aladin); the status line says who got it, or what to start."""
        tables = {
            "candidates": (self.candidates, f"ESE candidates ({self.preset})"),
            "cone": (self.cone_results, "cone search"),
            "lightcurve": (self.lightcurve, f"light curve {self.source_id}"),
        }
        table, name = tables[which]
        if table.empty:
            self.show_status(f"No {name} table to send yet.", "warning")
            return

        def done(sent: dict[str, Any]) -> None:
            who = ", ".join(sent["recipients"])
            self.show_status(f"Sent '{name}' ({sent['n_rows']} rows) to {who} over SAMP", "ok")

        self.run(lambda: self.w.samp.send(table, name=name), done, what="SAMP", channel="samp")

    def point_at_source(self) -> None:
        """Point the SAMP clients that take positions (Aladin...) at the shown source."""
        sid = self.source_id
        if not sid:
            self.show_status("No source shown to point at.", "warning")
            return

        def work() -> dict[str, Any]:
            rec = self.w.sources.get(sid)
            return self.w.samp.point_at((float(rec.ra_deg), float(rec.dec_deg)))

        def done(sent: dict[str, Any]) -> None:
            who = ", ".join(sent["recipients"])
            self.show_status(
                f"Pointed {who} at {sid} (RA {sent['ra']:.5f}, Dec {sent['dec']:+.5f})", "ok"
            )

        self.run(work, done, what="SAMP", channel="samp")

    def cone_search(self) -> None:
        """Sources within the radius of (RA, Dec), nearest first."""
        from astropy import units as u

        pos = (self.cone_ra.value, self.cone_dec.value)
        radius = self.cone_radius.value * u.arcmin

        def done(df: pd.DataFrame) -> None:
            self.cone_results = df
            self.cone_table.set_data(
                df.assign(sep_arcmin=df["sep_deg"] * 60.0).set_index("id", drop=False)
            )
            self.show_status(f"{len(df)} sources within {self.cone_radius.value:g}'", "ok")

        self.run(
            lambda: self.w.sources.cone(pos, radius, limit=1000),
            done,
            what="cone search",
            channel="cone",
        )


def _samp_button(label: str, what: str) -> widgets.Button:
    b = widgets.Button(
        description=label,
        icon="share-square",
        tooltip=f"Send the {what} to TOPCAT or Aladin (needs a running SAMP hub)",
        layout=widgets.Layout(width="auto", min_width="12em", align_self="flex-start"),
    )
    b.add_class("dsa-samp")
    return b


@plot_locked
def _lightcurve_png(w: Any, lc: pd.DataFrame) -> bytes:
    fig = new_figure(7.0, 2.6)
    w.sources.plot_lightcurve(lc, ax=fig.add_subplot())
    return figure_png(fig)


@plot_locked
def _eta_v_png(w: Any, table: pd.DataFrame, sid: str) -> bytes:
    fig = new_figure(4.6, 4.2)
    ax = fig.add_subplot()
    w.sources.plot_eta_v(table, ax=ax)
    row = table[table["source_id"] == sid]
    if len(row):
        ax.scatter(
            row["eta"], row["v"], s=160, facecolors="none", edgecolors="#cf222e", lw=2, label=sid
        )
        ax.legend(fontsize=7, loc="lower right")
    return figure_png(fig)


@plot_locked
def _stamps_png(w: Any, sid: str) -> bytes:
    strip = w.sources.stamps(sid, max_epochs=8)
    n = max(len(strip.mjd), 1)
    fig = new_figure(1.6 * n + 1.2, 2.2)
    axes = fig.subplots(1, n, squeeze=False)[0]
    w.sources.plot_stamps(strip, axes=axes)
    return figure_png(fig)
