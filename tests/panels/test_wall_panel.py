"""The wall panel draws each tile's trend as the service gives it: one sparkline per tile
with a series, broken where a rate has no data, none (and no zero line) for a tile whose
source is unavailable; the tiles come through the workspace's shared cache."""

from __future__ import annotations

import math
import re

from dsa110_ws.panels.wall import WallDashboard, sparkline_svg, tile_html
from dsa110_ws.services.operations import WallTile


def _points(svg: str) -> list[list[tuple[float, float]]]:
    return [
        [tuple(map(float, p.split(","))) for p in run.split()]
        for run in re.findall(r"<polyline points='([^']*)'", svg)
    ]


def test_sparkline_breaks_at_gaps_and_scales_to_its_maximum():
    nan = math.nan
    svg = sparkline_svg((1.0, 0.5, nan, nan, 0.0, 1.0), "#123456", width=108, height=48)
    runs = _points(svg)
    assert len(runs) == 2 and [len(r) for r in runs] == [2, 2]  # the gap is not drawn
    (x0, y0), (x1, y1) = runs[0]
    (x4, y4), (x5, y5) = runs[1]
    assert (x0, x1, x4, x5) == (4.0, 24.0, 84.0, 104.0)  # 20 px per bin: the gap keeps its room
    assert y0 == y5 == 5.0 and y4 == 45.0 and y1 == 25.0  # max at the top, 0 on the zero line
    assert "data-points='6'" in svg and "data-max='1'" in svg
    assert sparkline_svg((), "#000") == "" and sparkline_svg((nan, nan), "#000") == ""


def test_tile_without_a_source_has_no_sparkline_and_says_na():
    t = WallTile("failed_jobs", "failed jobs (24 h)", "n/a", "unknown", "no jobs table")
    html = tile_html(t, 0.0)
    assert "<svg" not in html and ">n/a<" in html and "no jobs table" in html
    ok = WallTile("x", "x", "3", "ok", series=(0.0, 3.0), trend="things per hour, 24 h")
    assert "things per hour, 24 h; max 3" in tile_html(ok, 0.0)
    rate = WallTile("r", "r", "90%", "ok", series=(0.8, math.nan, 1.0), trend="rate")
    assert "80% to 100%" in tile_html(rate, 0.0)


def test_every_tile_of_the_wall_draws_its_trend_and_the_tiles_are_shared(workspace):
    d = WallDashboard(workspace)
    d.wait()
    html = d.tiles_html.value
    tiles = re.findall(r"<a class='dsa-tile' data-tile='(\w+)'.*?</a>", html, flags=re.S)
    assert len(tiles) == 10
    for t in d.tiles:
        block = re.search(rf"data-tile='{t.key}'.*?</a>", html, flags=re.S).group(0)
        assert f"data-points='{len(t.series)}'" in block and t.trend in block, t.key
    misses = workspace.shared.misses
    d.load_tiles()
    d.wait()
    assert workspace.shared.misses == misses and workspace.shared.hits >= 1  # from the cache
    d.close()
