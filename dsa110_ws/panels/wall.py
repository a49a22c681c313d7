"""WallDashboard: the operations wall, a page read from across the room.

Fixed "last 24 h" tiles from ``w.wall.tiles()`` (no control of the page changes them),
coloured by the one severity ladder, each with a sparkline of its hourly trend, the age of
its newest record and a link to the dashboard view that details it; below them the
throughput chart (whose window control changes the chart only).  Sized for 1920x1080
without scrolling.
"""

from __future__ import annotations

import html
import math
import time
import urllib.parse
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from dsa110_ws.core.severity import NEUTRAL_COLOUR, Severity
from dsa110_ws.panels.dashboards import _Composite

if TYPE_CHECKING:
    from dsa110_ws.services.operations import WallTile
    from dsa110_ws.workspace import Workspace

__all__ = ["WallDashboard", "sparkline_svg", "tile_html"]

_DASHBOARD_FILES = {"operations": "operations.ipynb", "science": "science.ipynb"}

_CSS = """<style>
.dsa-wall-tiles{display:grid;grid-template-columns:repeat(5,minmax(0,1fr));gap:14px;
  width:calc(100% - 12px);box-sizing:border-box}
.dsa-tile{display:block;box-sizing:border-box;height:240px;padding:10px 16px;border-radius:8px;
  border:1px solid #d0d7de;border-left-width:12px;text-decoration:none;color:#24292f;
  overflow:hidden;background:#fff}
.dsa-tile:hover{box-shadow:0 0 0 3px #0969da55}
.dsa-tile-label{font-size:20px;color:#424a53;white-space:nowrap;overflow:hidden;
  text-overflow:ellipsis;min-width:0}
.dsa-tile-value{font-size:46px;font-weight:700;line-height:1.15;white-space:nowrap;
  overflow:hidden;text-overflow:ellipsis}
.dsa-tile-detail{font-size:16px;line-height:1.3;color:#424a53;height:2.6em;overflow:hidden}
.dsa-tile-top{display:flex;justify-content:space-between;align-items:baseline;gap:8px}
.dsa-tile-age{font-size:15px;color:#57606a;white-space:nowrap;flex:none}
.dsa-spark{display:block;margin-top:6px}
.dsa-tile-trend{font-size:15px;line-height:1.25;color:#57606a;height:2.5em;overflow:hidden;
  margin-top:2px}
</style>"""


def sparkline_svg(
    values: tuple[float, ...], colour: str, *, what: str = "", width: int = 330, height: int = 46
) -> str:
    """An inline SVG line of ``values`` (oldest first) from a faint zero line up to the
    series' own maximum, broken where a value is NaN (no data, never drawn as 0), its last
    point marked; empty text when there is no series or no value at all."""
    finite = [v for v in values if math.isfinite(v)]
    if not values or not finite:
        return ""
    top = max(max(finite), 1e-12)
    n = len(values)
    step = (width - 8) / max(n - 1, 1)
    base = height - 3

    def xy(k: int, v: float) -> str:
        return f"{4 + k * step:.1f},{base - (height - 8) * max(v, 0.0) / top:.1f}"

    runs: list[list[str]] = [[]]
    for k, v in enumerate(values):
        if math.isfinite(v):
            runs[-1].append(xy(k, v))
        elif runs[-1]:
            runs.append([])
    lines = "".join(
        f"<polyline points='{' '.join(r)}' fill='none' stroke='{colour}' stroke-width='3' "
        "stroke-linejoin='round'/>"
        if len(r) > 1
        else f"<circle cx='{r[0].split(',')[0]}' cy='{r[0].split(',')[1]}' r='2.5' "
        f"fill='{colour}'/>"
        for r in runs
        if r
    )
    last = next(k for k in range(n - 1, -1, -1) if math.isfinite(values[k]))
    cx, cy = xy(last, values[last]).split(",")
    e = html.escape
    return (
        f"<svg class='dsa-spark' width='100%' height='{height}' viewBox='0 0 {width} {height}' "
        f"preserveAspectRatio='none' data-points='{n}' data-max='{top:g}'>"
        f"<title>{e(what)} (max {top:.3g})</title>"
        f"<line x1='4' y1='{base}' x2='{width - 4}' y2='{base}' stroke='#d0d7de' "
        "stroke-width='1'/>"
        f"{lines}<circle cx='{cx}' cy='{cy}' r='4' fill='{colour}'/></svg>"
    )


def _max_text(values: tuple[float, ...]) -> str:
    """The scale of a sparkline in words: its maximum, or for a rate (fractions within
    [0, 1]) its lowest and highest value in per cent."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return ""
    lo, hi = min(finite), max(finite)
    if lo == hi == 0:
        return "none"
    if hi <= 1 and any(0 < v < 1 for v in finite):
        return f"{100 * lo:.0f}% to {100 * hi:.0f}%"
    return f"max {hi:.3g}"


def _age_text(newest_unix: float | None, now_unix: float) -> str:
    if newest_unix is None:
        return ""
    minutes = max(0.0, (now_unix - newest_unix) / 60.0)
    if minutes < 90:
        return f"updated {minutes:.0f} min ago"
    hours = minutes / 60.0
    return f"updated {hours:.0f} h ago" if hours < 48 else f"updated {hours / 24:.0f} d ago"


def tile_href(tile: WallTile) -> str:
    """The relative link of a tile's detail view (a dashboard with its query string)."""
    name, params = tile.link
    query = urllib.parse.urlencode(list(params))
    return _DASHBOARD_FILES.get(name, f"{name}.ipynb") + (f"?{query}" if query else "")


def tile_html(tile: WallTile, now_unix: float) -> str:
    """One tile as an escaped link (colour and border from its severity)."""
    if tile.severity == "info":
        colour, bg, border = NEUTRAL_COLOUR, "#fff", "#8c959f"
    else:
        sev = Severity.parse(tile.severity)
        colour, bg, border = sev.colour, sev.background or "#fff", sev.colour
    e = html.escape
    return (
        f"<a class='dsa-tile' data-tile='{e(tile.key)}' data-severity='{e(tile.severity)}' "
        f"href='{e(tile_href(tile))}' target='_self' title='{e(tile.detail)}' "
        f"style='border-left-color:{border};background:{bg}'>"
        f"<div class='dsa-tile-top'><span class='dsa-tile-label'>{e(tile.label)}</span>"
        f"<span class='dsa-tile-age'>{e(_age_text(tile.newest_unix, now_unix))}</span></div>"
        f"<div class='dsa-tile-value' style='color:{colour}'>{e(tile.value)}</div>"
        f"<div class='dsa-tile-detail'>{e(tile.detail)}</div>"
        f"{sparkline_svg(tile.series, colour, what=tile.trend)}"
        f"<div class='dsa-tile-trend'>"
        f"{e(tile.trend + ('; ' + _max_text(tile.series) if tile.series else ''))}</div></a>"
    )


class WallDashboard(_Composite):
    """The operations wall (``dsa-110 dashboard --notebook wall``).

    Parameters
    ----------
    workspace
        The workspace to show.
    refresh_s
        Seconds between refreshes (of the tiles and the chart).
    auto_refresh
        Start refreshing immediately (the Voila page does).
    """

    title = ""

    def __init__(
        self,
        workspace: Workspace,
        *,
        refresh_s: float = 60.0,
        auto_refresh: bool = False,
        timer: str = "browser",
        **kwargs: Any,
    ):
        self.tiles: list[WallTile] = []
        super().__init__(workspace, refresh_s=refresh_s, timer=timer, **kwargs)
        self.add_class("dsa-wall")
        self.load_tiles()
        if auto_refresh and self.auto is not None:
            self.auto.enabled = True

    def _build(self) -> list[widgets.Widget]:
        from dsa110_ws.panels.stats import ThroughputPanel

        self.head_html = widgets.HTML()
        self.tiles_html = widgets.HTML(_CSS + "<div class='dsa-wall-tiles'></div>")
        self.tiles_html.add_class("dsa-wall-tiles-box")
        self.tiles_html.layout.width = "100%"
        self.parts = {"throughput": ThroughputPanel(self.w, background=self.background)}
        self.parts["throughput"].plot.layout.max_width = "820px"
        return [self.head_html, self.tiles_html, self.parts["throughput"]]

    def load_tiles(self) -> None:
        """Read every tile with its trend (in the background; through the workspace's
        shared cache, as the panels' refreshes: the first kernel of a refresh reads, the
        other viewers' kernels take its tiles) and draw them."""
        s = self.w.settings
        key = ("wall", str(s.settings_file), str(s.pipeline_db), repr(self.w.clock))
        self.run(
            lambda: self.w.shared.get(key, self.w.wall.tiles),
            self._show_tiles,
            what="reading the wall",
            channel="tiles",
        )

    def _show_tiles(self, tiles: list[WallTile]) -> None:
        self.tiles = tiles
        now = float(self.w.now().unix)
        body = "".join(tile_html(t, now) for t in tiles)
        self.tiles_html.value = _CSS + f"<div class='dsa-wall-tiles'>{body}</div>"
        worst = [t.severity for t in tiles if t.severity not in ("info",)]
        n_bad = sum(s in ("warning", "critical") for s in worst)
        self.head_html.value = (
            "<div style='display:flex;justify-content:space-between;align-items:baseline'>"
            "<span style='font-size:28px;font-weight:700'>DSA-110 operations wall</span>"
            f"<span style='font-size:18px;color:#424a53'>last 24 h to "
            f"{html.escape(self.w.now().isot[:16])} UTC; {n_bad} tiles need attention; "
            f"page refreshed {time.strftime('%H:%M:%S')} (local time); "
            "<a href='operations.ipynb' style='color:#0969da'>operations dashboard</a></span>"
            "</div>"
        )
        self.refreshed_at = time.time()

    def refresh(self) -> None:
        """Refresh the tiles and the chart."""
        super().refresh()
        self.load_tiles()
