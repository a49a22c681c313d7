"""The operations dashboard over a corrupt pipeline database, in a real browser: every part
that reads the database says so in one line, none shows an "all clear", the headline
numbers are "n/a"; the database is byte-identical afterwards."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.conftest import ARTIFACTS, VoilaServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def corrupt_db(demo_dir, tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("corrupt") / "pipeline.sqlite3"
    shutil.copy2(demo_dir / "pipeline.sqlite3", db)
    size = db.stat().st_size
    with open(db, "r+b") as fh:  # the header kept: it still looks like SQLite
        fh.seek(4096)
        fh.write(bytes(range(256)) * ((size - 8192) // 256))
    return db


@pytest.fixture(scope="module")
def voila_server(demo_dir, corrupt_db, tmp_path_factory) -> Iterator[VoilaServer]:
    """Voila over the demo settings, but PIPELINE_DB pointing at the corrupt copy."""
    from dsa110_ws.cli import voila

    env = dict(os.environ)
    env.update(
        DSA110_WS_SETTINGS=str(demo_dir / "settings.toml"),
        DSA110_WS_STATE_DIR=str(tmp_path_factory.mktemp("voila-state")),
        PIPELINE_DB=str(corrupt_db),
        PYTHONWARNINGS="ignore",
    )
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / "voila-test_dashboard_degrades.log"
    log_path.unlink(missing_ok=True)
    proc = voila.start_voila(voila.dashboards_dir(), env=env, log_path=log_path)
    try:
        yield VoilaServer(proc.wait_port(timeout_s=90), proc, log_path)
    finally:
        voila.stop_process(proc)


def test_the_operations_dashboard_over_a_corrupt_database(voila_server, page, corrupt_db):
    before = hashlib.sha256(corrupt_db.read_bytes()).hexdigest()
    page.goto(voila_server.url("operations"), wait_until="domcontentloaded")
    value = ".dsa-kpi[data-kpi='{}'] .dsa-kpi-value"
    page.wait_for_function(
        "s => { const e = document.querySelector(s); return e && e.textContent.trim() === 'n/a'; }",
        arg=value.format("stuck_ms"),
    )
    page.wait_for_function(
        "s => { const e = document.querySelector(s); return e && e.textContent.trim() === 'n/a'; }",
        arg=value.format("failed_jobs"),
    )
    for kpi in ("stuck_ms", "open_alerts", "failed_jobs", "incomplete_groups"):
        assert page.locator(value.format(kpi)).inner_text().strip() == "n/a", kpi
    body = page.locator("body").inner_text()
    for clear in (
        "No stuck Measurement Set",
        "No open alerts",
        "No jobs match",
        "No failed groups",
    ):
        assert clear not in body, clear
    assert page.locator(".dsa-stuck-table .dsa-unavailable").count() == 1
    assert "corrupt" in page.locator(".dsa-stuck-table .dsa-unavailable").inner_text()
    errors = page.locator(".dsa-status-error")
    assert errors.count() >= 5
    for i in range(errors.count()):
        text = errors.nth(i).inner_text().strip()
        assert "\n" not in text and "Traceback" not in text and "corrupt" in text, text
    height = page.evaluate(
        "() => Math.max(...Array.from(document.querySelectorAll('body, body *'),"
        " e => e.scrollHeight))"
    )
    page.set_viewport_size({"width": 1500, "height": max(1100, min(int(height) + 40, 6000))})
    page.wait_for_timeout(300)
    page.screenshot(path=str(ARTIFACTS / "operations-corrupt-database.png"))
    assert hashlib.sha256(corrupt_db.read_bytes()).hexdigest() == before
