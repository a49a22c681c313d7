"""Writes only behind a door: the dashboard with operator actions never listens beyond this
machine without a token, and with a token a browser without it sees no widgets."""

from __future__ import annotations

import socket

import psutil
import pytest

from dsa110_ws.cli import main, voila
from tests.browser.conftest import served_port, start_dashboard

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.mark.parametrize("ip", ["0.0.0.0", "::"])
def test_writes_allowed_beyond_loopback_without_a_token_is_refused_before_listening(
    demo_dir, tmp_path, monkeypatch, capsys, ip
):
    monkeypatch.setenv("DSA110_WS_SETTINGS", str(demo_dir / "settings.toml"))
    monkeypatch.setenv("DSA110_WS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("DSA110_WS_ALLOW_WRITES", "1")
    monkeypatch.delenv("DSA110_WS_DASHBOARD_TOKEN", raising=False)
    with socket.socket() as held:  # a port nobody else can take while the test runs
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        before = {p.pid for p in psutil.Process().children(recursive=True)}
        assert main(["dashboard", "--ip", ip, "--port", str(port), "--no-browser"]) == 1
        started = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
    err = capsys.readouterr().err.strip()
    # refused for the token, before the port was even tried (it was taken: that would be
    # another line), and nothing was started
    assert len(err.splitlines()) == 1 and "no token" in err and "--token auto" in err
    assert not any("voila" in " ".join(p.cmdline()) for p in started), started
    assert not (tmp_path / "state" / "voila.log").exists()


def test_a_token_keeps_the_widgets_from_a_browser_without_it(demo_dir, tmp_path, browser):
    token = "s3cr3t-token-for-the-test"
    proc = start_dashboard(
        demo_dir, tmp_path / "state", "--token", token, DSA110_WS_ALLOW_WRITES="1"
    )
    try:
        port, printed = served_port(proc)
        context = browser.new_context(viewport={"width": 1300, "height": 900})
        page = context.new_page()
        page.goto(voila.dashboard_url(port, "operations"), wait_until="domcontentloaded")
        page.wait_for_timeout(3000)
        assert page.locator(".dsa-panel").count() == 0  # the login page, no dashboard
        assert "token" in page.content().lower() or "login" in page.url
        page.goto(voila.dashboard_url(port, "operations", token=token), timeout=180_000)
        page.wait_for_selector(
            ".dsa-kpi[data-kpi='pending'] .dsa-kpi-value:not(:text('…'))", timeout=180_000
        )
        assert page.locator(".dsa-panel").count() > 5
        context.close()
    finally:
        voila.stop_process(proc)
    out = printed + proc.stdout.read()
    assert f"?token={token}" in out  # the URL to open was printed with it


def test_a_post_without_the_xsrf_cookie_cannot_shut_a_viewers_kernel(demo_dir, tmp_path, browser):
    """The XSRF check is on (a cross-site page could otherwise post with the viewer's login
    cookie), and the page carries the _xsrf cookie its tab-close beacon posts back."""
    token = "s3cr3t-token-for-the-xsrf-test"
    proc = start_dashboard(demo_dir, tmp_path / "state", "--token", token)
    try:
        port, _ = served_port(proc)
        context = browser.new_context(viewport={"width": 1300, "height": 900})
        page = context.new_page()
        page.goto(voila.dashboard_url(port, "operations", token=token), timeout=180_000)
        page.wait_for_selector(".dsa-kpi[data-kpi='failed_jobs'] .dsa-kpi-value:not(:text('…'))")
        kernel = page.evaluate(
            "() => JSON.parse(document.getElementById('jupyter-config-data').textContent)"
            ".kernelId"
        )
        cookies = {c["name"]: c["value"] for c in context.cookies()}
        assert cookies.get("_xsrf")  # set on the dashboard page (Voila 0.5 sets none there)
        url = f"http://127.0.0.1:{port}/voila/api/shutdown/{kernel}"
        # the login cookie alone, as a cross-site form would send it: refused
        forged = context.request.post(url, multipart={"x": "1"})
        assert forged.status == 403, forged.status
        alive = context.request.get(f"http://127.0.0.1:{port}/api/kernels/{kernel}")
        assert alive.status == 200  # still running
        # with the cookie's value, as the page's beacon posts it: the kernel is shut down
        shut = context.request.post(url, multipart={"_xsrf": cookies["_xsrf"]})
        assert shut.status == 204, shut.status
        gone = context.request.get(f"http://127.0.0.1:{port}/api/kernels/{kernel}")
        assert gone.status == 404
        context.close()
    finally:
        voila.stop_process(proc)
