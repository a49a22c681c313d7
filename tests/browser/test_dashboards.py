"""The Voila dashboards in a real browser: real demo values, a control that changes the
view, no Python error on the page, a screenshot kept in artifacts/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ERROR_TEXT = re.compile(r"Traceback|There was an error when executing|\b\w+(Error|Exception):")


def kpi(page, name: str) -> str:
    return page.locator(f".dsa-kpi[data-kpi='{name}'] .dsa-kpi-value").inner_text().strip()


def screenshot(page, name: str) -> None:
    """The whole dashboard (Voila scrolls inside the page, so grow the viewport first)."""
    height = page.evaluate(
        "() => Math.max(...Array.from(document.querySelectorAll('body, body *'),"
        " e => e.scrollHeight))"
    )
    page.set_viewport_size({"width": 1500, "height": max(1100, min(int(height) + 40, 6000))})
    page.wait_for_timeout(300)
    page.screenshot(path=str(ARTIFACTS / name))


def assert_no_python_error(page) -> None:
    """No Python error on the page, outside what shows the pipeline's own error texts
    (``.dsa-pipeline-text``: e.g. a task's "TimeoutError: ..." is data, not our error)."""
    text = page.evaluate(
        "() => { const b = document.body.cloneNode(true);"
        " b.querySelectorAll('.dsa-pipeline-text').forEach(e => e.remove());"
        " return b.innerText; }"
    )
    assert not ERROR_TEXT.search(text), ERROR_TEXT.search(text).group(0)
    assert page.locator(".dsa-status-error").count() == 0, page.locator(
        ".dsa-status-error"
    ).first.inner_text()


def record_outside_requests(page) -> list[str]:
    """The URLs the page asks of any host but the Voila server's (filled as it loads)."""
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "//127.0.0.1:" not in r.url else None)
    return asked


def test_operations_dashboard_shows_the_demo_state(voila_server, page, truth, demo_dir):
    outside = record_outside_requests(page)
    page.goto(voila_server.url("operations"), wait_until="domcontentloaded")
    page.wait_for_selector(".dsa-kpi[data-kpi='failed_jobs']")
    n_failed = str(len(truth["failed_jobs"]))
    page.wait_for_function(
        "n => { const e = document.querySelector(\".dsa-kpi[data-kpi='failed_jobs'] .dsa-kpi-value\");"
        " return e && e.textContent.trim() === n; }",
        arg=n_failed,
    )
    assert kpi(page, "failed_jobs") == n_failed == "4"
    page.wait_for_selector(".dsa-kpi[data-kpi='stuck_ms'] .dsa-kpi-value:not(:text('…'))")
    assert kpi(page, "incomplete_groups") == str(len(truth["incomplete_groups"]))
    assert kpi(page, "stuck_ms") == str(len(truth["ms_states"]["stuck"])) == "1"
    stuck = truth["ms_states"]["stuck"][0]["path"]
    assert "/".join(stuck.split("/")[-2:]) in page.locator(".dsa-stuck-table").inner_text()
    drifting = truth["calibration"]["drifting_calibrator"]
    flux = page.locator(".dsa-flux-table tr", has_text=drifting)
    assert "drifting" in flux.inner_text() and drifting == "3C48"
    assert kpi(page, "open_alerts") == "1"
    for job in truth["failed_jobs"]:
        page.get_by_text(job["reason"], exact=False).first.wait_for()
    # a control: the jobs table filtered to 'failed' lists 4 jobs; 'any' lists them all
    info = page.locator(".dsa-jobs-table .widget-label").first
    assert info.inner_text().strip() == "4 rows"
    page.locator(".dsa-jobs-status select").select_option("any")
    page.wait_for_function(
        "() => { const e = document.querySelector('.dsa-jobs-table .widget-label');"
        " return e && e.textContent.trim() !== '4 rows'; }"
    )
    assert info.inner_text().strip() != "4 rows"
    page.wait_for_selector(".dsa-kpi[data-kpi='images'] .dsa-kpi-value:not(:text('…'))")
    now_mjd = truth["now_unix"] / 86400.0 + 40587.0
    assert kpi(page, "images") == str(
        sum(1 for i in truth["images"] if now_mjd - 1 <= i["mid_mjd"] < now_mjd)
    )
    # auto-refresh: the page's own timer ticks; at 1 s the count of refreshes goes up
    every = page.locator(".dsa-panel .widget-inline-hbox:has-text('every (s)') input").first
    every.fill("1")
    every.press("Enter")
    page.wait_for_function(
        "() => { const e = document.querySelector('.dsa-refreshes');"
        " return e && Number(e.dataset.ticks) >= 2; }"
    )
    assert kpi(page, "failed_jobs") == "4"
    assert_queue_section(page, truth, demo_dir)
    assert_no_python_error(page)
    screenshot(page, "dashboard-operations.png")
    # the page asks nothing of the internet (Voila's lab template links Font Awesome
    # from cdn.jsdelivr.net, which Voila's own bundle carries: our template drops it)
    assert outside == [], outside


def assert_queue_section(page, truth, demo_dir) -> None:
    """The task queue's headline numbers and section, against the demo's PostgreSQL."""
    import psycopg

    from dsa110_ws.demo.queue.day import queue_url_for

    q, main = truth["queue"], truth["queue"]["counts"]["dsa110-pipeline"]
    page.wait_for_selector(".dsa-kpi[data-kpi='stuck_tasks'] .dsa-kpi-value:not(:text('…'))")
    with psycopg.connect(queue_url_for(demo_dir)) as con:  # asked in plain SQL
        failed_1h = con.execute(
            "SELECT count(*) FROM absurd.tasks WHERE queue_name = 'dsa110-pipeline' AND "
            "status = 'failed' AND completed_at >= %s::timestamptz - interval '1 hour' AND "
            "completed_at < %s::timestamptz",
            (q["now"], q["now"]),
        ).fetchone()[0]
    assert kpi(page, "pending") == str(main["pending"])
    assert kpi(page, "running") == str(main["claimed"])
    assert kpi(page, "failed_1h") == str(failed_1h)
    assert kpi(page, "stuck_tasks") == str(len(q["stuck"])) == "1"
    section = page.locator(".dsa-queue-section")
    dlq = section.locator(".dsa-queue-counts [data-queue='dsa110-pipeline-dlq']")
    assert f"pending {q['counts']['dsa110-pipeline-dlq']['pending']}" in dlq.inner_text()
    assert "imaging" in section.locator(".dsa-stuck-tasks").inner_text()
    assert (
        "create-mosaic exceeded timeout_sec" in section.locator(".dsa-failures-table").inner_text()
    )
    for worker in q["workers"]:
        assert worker in section.locator(".dsa-workers-table").inner_text()


def test_science_dashboard_explores_images_and_sources(voila_server, page, truth):
    outside = record_outside_requests(page)
    page.goto(voila_server.url("science"), wait_until="domcontentloaded")
    n_last = sum(1 for i in truth["images"] if i["night"] == truth["nights"][-2])
    info = page.locator(".dsa-images-table .widget-label").first
    info.wait_for()
    page.wait_for_function(
        "n => { const e = document.querySelector('.dsa-images-table .widget-label');"
        " return e && e.textContent.trim() === n + ' rows'; }",
        arg=str(n_last),
    )
    page.locator("img[src^='blob:'], img[src^='data:']").first.wait_for()
    # a control: the night of the bad images, then only the bad ones
    night = page.locator(".dsa-images-night input")
    night.fill("2026-11-10")
    night.press("Enter")
    page.locator(".dsa-images-grade select").select_option("bad")
    n_bad = sum(1 for i in truth["images"] if i["bad_reason"])
    page.wait_for_function(
        "n => { const e = document.querySelector('.dsa-images-table');"
        " return e && e.innerText.includes(n + ' rows') && !e.innerText.includes('good')"
        " && e.querySelectorAll('.dt-scroll-body tbody tr').length == n; }",
        arg=str(n_bad),
    )
    table = page.locator(".dsa-images-table .dt-scroll-body").inner_text()
    assert table.count("\tbad\t") == n_bad and "2026-11-10" in table
    assert_no_python_error(page)
    screenshot(page, "dashboard-science-images.png")
    page.get_by_role("tab", name="Sources").click()
    cands = page.locator(".dsa-sources-candidates")
    for e in truth["sources"]["ese"]:
        cands.get_by_text(e["source_id"]).first.wait_for()
    page.locator(".dsa-source-metrics").get_by_text("measurements").wait_for()
    assert_no_python_error(page)
    screenshot(page, "dashboard-science-sources.png")
    assert outside == [], outside
