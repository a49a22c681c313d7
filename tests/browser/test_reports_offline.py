"""Published reports read offline: every non-local request is blocked, none is attempted.

The nightly QA report of the demo's bad-image night and the stats report are published
into a private output root, then opened from disk in headless Chromium at 1920x1080 with
a route that aborts (and records) any request that is not ``file:`` or ``data:``.  The
screenshots are kept in ``artifacts/`` for people to look at.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.notebook, pytest.mark.slow]
NIGHT = "2026-11-10"  # the demo's bad-image night
DASHBOARD = "http://ops.example.invalid:8866/voila/render/operations.ipynb"
_LOCAL = ("file:", "data:", "blob:", "about:")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


@pytest.fixture(scope="module")
def published(demo_dir, tmp_path_factory) -> Path:
    """Both reports published into a fresh output root (settings with a dashboard URL)."""
    from dsa110_ws.reporting import run_report

    base = tmp_path_factory.mktemp("offline-reports")
    settings = base / "settings.toml"
    src = (demo_dir / "settings.toml").read_text()
    now = next(line for line in src.splitlines() if line.startswith("now"))
    settings.write_text(
        f'pipeline_db = "{demo_dir / "pipeline.sqlite3"}"\n'
        f'data_roots = ["{demo_dir / "data"}"]\nlog_roots = ["{demo_dir / "logs"}"]\n{now}\n'
        f'[reports]\ndashboard_url = "{DASHBOARD}"\n'
    )
    root = base / "out"
    for kind, params in (("qa", {"night": NIGHT}), ("stats", {})):
        result = run_report(kind, {**params, "settings": str(settings)}, out_dir=root)
        assert result.status == "ok", result.error
    return root


def _open(browser, path: Path, shot: str) -> tuple[object, list[str]]:
    """The page at 1920x1080 with every non-local request aborted and recorded."""
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    attempted: list[str] = []

    def guard(route) -> None:
        url = route.request.url
        if url.startswith(_LOCAL):
            route.continue_()
        else:
            attempted.append(url)
            route.abort()

    context.route("**/*", guard)
    page = context.new_page()
    page.goto(path.as_uri(), wait_until="load")
    page.wait_for_timeout(500)  # anything a script would fetch after load
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{shot}.png"))
    page.screenshot(path=str(ARTIFACTS / f"{shot}-full.png"), full_page=True)
    return page, attempted


def test_nightly_report_loads_nothing_and_says_what_needs_attention(browser, published):
    page, attempted = _open(browser, published / "qa" / NIGHT / "report.html", "report-qa")
    assert attempted == []
    block = page.locator("section.dsa-attention")
    assert block.count() == 1
    box = block.bounding_box()
    assert box is not None and box["y"] + box["height"] <= 1080  # above the fold
    lines = block.locator("div").all_inner_texts()
    assert 1 <= len(lines) <= 5
    assert lines[0].startswith("CRITICAL")
    text = "\n".join(lines)
    assert "3 of 8 images graded bad (37.5%) (critical at ≥ 25.0%)" in text
    assert "Antenna 8 fully flagged in 8 of 8 MS (warning at ≥ 1)" in text
    link = page.locator(f'a[href="{DASHBOARD}?night={NIGHT}"]')
    assert link.count() == 1
    # no scripts at all: require.js, MathJax and the widget manager are not in the page
    assert page.evaluate("document.scripts.length") == 0
    page.context.close()


def test_stats_report_loads_nothing(browser, published):
    folder = next((published / "stats").iterdir())
    page, attempted = _open(browser, folder / "report.html", "report-stats")
    assert attempted == []
    trends = page.locator("text=previous period is incomplete")
    assert trends.count() >= 1
    # every night of the period links to its dashboard view
    for night in ("2026-11-07", "2026-11-13"):
        assert page.locator(f'a[href="{DASHBOARD}?night={night}"]').count() == 1
    page.context.close()


def test_index_is_a_readable_table(browser, published):
    page, attempted = _open(browser, published / "index.html", "report-index")
    assert attempted == []
    headers = page.locator("thead th").all_inner_texts()
    assert headers == [
        "night / period",
        "report",
        "status",
        "needs attention",
        "links",
        "finished (UTC)",
    ]
    row = page.locator("tbody tr", has_text=NIGHT)
    cells = row.locator("td").all_inner_texts()
    assert cells[0] == NIGHT and cells[1] == "nightly QA" and cells[2] == "critical"
    assert "Antenna 8 fully flagged in 8 of 8 MS" in cells[3] and "=" not in cells[3]
    assert row.locator(f'a[href="{DASHBOARD}?night={NIGHT}"]').count() == 1
    # the report link works offline: it opens the published file
    href = row.locator("a", has_text="report").first.get_attribute("href")
    assert (published / href).is_file()
    # no cell is clipped at 1920 px
    clipped = page.evaluate(
        "[...document.querySelectorAll('td,th')].filter(e => e.scrollWidth > e.clientWidth).length"
    )
    assert clipped == 0
    page.context.close()
