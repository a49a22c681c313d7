"""Several viewers of the operations dashboard at once, in real Chromium on a real Voila.

Every viewer renders every panel with the demo's values; one refresh round of three
viewers costs the databases one set of queries (counted in every process through
``DSA110_WS_QUERY_LOG``), not three; a viewer whose kernel is killed mid-refresh leaves the
others working; the viewer over the kernel limit gets a page saying so, and a closed tab
frees its kernel at once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import signal
import subprocess
import time
import tomllib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from dsa110_ws.cli import voila
from dsa110_ws.core.settings import DashboardSettings
from dsa110_ws.repositories import QUERY_LOG_ENV, read_query_log
from dsa110_ws.services.operations import DashboardKernels
from dsa110_ws.services.shared import SharedCache

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ERROR_TEXT = re.compile(r"Traceback|There was an error when executing|\b\w+(Error|Exception):")
PANELS = (
    "Health",
    "Throughput",
    "Ingestion",
    "Jobs",
    "Image QA",
    "Task queue",
    "Workers",
    "Failures by cause",
)


@dataclasses.dataclass
class Server:
    port: int
    proc: subprocess.Popen
    state: Path
    query_log: Path
    log_path: Path

    @property
    def url(self) -> str:
        return voila.dashboard_url(self.port, "operations")


def _settings(demo_dir: Path, out: Path, dashboard: DashboardSettings) -> Path:
    """The demo's settings with absolute paths and a ``[dashboard]`` table (a new file:
    the session demo is never written)."""
    demo = tomllib.loads((demo_dir / "settings.toml").read_text())
    text = (
        f'pipeline_db = "{demo_dir / demo["pipeline_db"]}"\n'
        f'data_roots = ["{demo_dir / "data"}"]\nlog_roots = ["{demo_dir / "logs"}"]\n'
        f'now = "{demo["now"]}"\n\n[dashboard]\n'
        f"shared_s = {dashboard.shared_s}\nmax_kernels = {dashboard.max_kernels}\n"
        f"preheat = {str(dashboard.preheat).lower()}\n\n"
        "[queue]\ncache_s = 300\n"  # a round's queue reads shared however slow the machine
    )
    path = out / "settings.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def start_server(demo_dir, tmp_path_factory) -> Iterator:
    from dsa110_ws.demo.queue.day import queue_url_for

    servers: list[Server] = []

    def start(name: str, dashboard: DashboardSettings) -> Server:
        base = tmp_path_factory.mktemp(name)
        env = dict(os.environ)
        env.update(
            DSA110_WS_SETTINGS=str(_settings(demo_dir, base, dashboard)),
            DSA110_WS_STATE_DIR=str(base / "state"),
            DSA110_WS_QUEUE_URL=queue_url_for(demo_dir),
            PYTHONWARNINGS="ignore",
        )
        env[QUERY_LOG_ENV] = str(base / "queries.log")
        log_path = base / "voila.log"
        proc = voila.start_voila(
            voila.dashboards_dir(), env=env, log_path=log_path, dashboard=dashboard
        )
        try:
            port = proc.wait_port(timeout_s=120)  # the port the server bound
        except BaseException:
            voila.stop_process(proc)
            raise
        server = Server(port, proc, base / "state", base / "queries.log", log_path)
        servers.append(server)
        return server

    try:
        yield start
    finally:
        for s in servers:
            voila.stop_process(s.proc)


def _open(browser, url: str):
    context = browser.new_context(viewport={"width": 1500, "height": 1100})
    page = context.new_page()
    page.set_default_timeout(240_000)
    response = page.goto(url, wait_until="domcontentloaded")
    return page, response


def _kpi(page, name: str) -> str:
    return page.locator(f".dsa-kpi[data-kpi='{name}'] .dsa-kpi-value").inner_text().strip()


def _assert_shows_the_demo(page, truth) -> None:
    """Every panel and headline number with the demo's values, and no error."""
    page.wait_for_selector(".dsa-kpi[data-kpi='stuck_tasks'] .dsa-kpi-value:not(:text('…'))")
    for name in ("failed_jobs", "stuck_ms", "incomplete_groups", "images", "health"):
        page.wait_for_selector(f".dsa-kpi[data-kpi='{name}'] .dsa-kpi-value:not(:text('…'))")
    _wait_idle(page)
    q = truth["queue"]
    assert _kpi(page, "failed_jobs") == str(len(truth["failed_jobs"])) == "4"
    assert _kpi(page, "stuck_ms") == str(len(truth["ms_states"]["stuck"])) == "1"
    assert _kpi(page, "incomplete_groups") == str(len(truth["incomplete_groups"]))
    assert _kpi(page, "open_alerts") == "1"
    assert _kpi(page, "pending") == str(q["counts"]["dsa110-pipeline"]["pending"])
    assert _kpi(page, "running") == str(q["counts"]["dsa110-pipeline"]["claimed"])
    assert _kpi(page, "stuck_tasks") == str(len(q["stuck"])) == "1"
    now_mjd = truth["now_unix"] / 86400.0 + 40587.0
    assert _kpi(page, "images") == str(
        sum(1 for i in truth["images"] if now_mjd - 1 <= i["mid_mjd"] < now_mjd)
    )
    stuck = truth["ms_states"]["stuck"][0]["path"]
    assert "/".join(stuck.split("/")[-2:]) in page.locator(".dsa-stuck-table").inner_text()
    drifting = truth["calibration"]["drifting_calibrator"]
    assert "drifting" in page.locator(".dsa-flux-table tr", has_text=drifting).inner_text()
    for job in truth["failed_jobs"]:
        assert page.get_by_text(job["reason"], exact=False).count() >= 1
    section = page.locator(".dsa-queue-section")
    assert (
        "create-mosaic exceeded timeout_sec" in section.locator(".dsa-failures-table").inner_text()
    )
    for worker in q["workers"]:
        assert worker in section.locator(".dsa-workers-table").inner_text()
    headings = page.locator(".dsa-panel h3").all_inner_texts()
    for title in PANELS:
        assert title in headings
    _assert_no_error(page)


def _assert_no_error(page) -> None:
    text = page.evaluate(
        "() => { const b = document.body.cloneNode(true);"
        " b.querySelectorAll('.dsa-pipeline-text').forEach(e => e.remove());"
        " return b.innerText; }"
    )
    assert not ERROR_TEXT.search(text), ERROR_TEXT.search(text).group(0)
    assert page.locator(".dsa-status-error").count() == 0


def _ticks(page) -> int:
    return int(page.locator(".dsa-refreshes").get_attribute("data-ticks") or 0)


def _wait_idle(page) -> None:
    page.wait_for_function("() => document.querySelectorAll('.dsa-status-busy').length === 0")


def _refresh(pages) -> None:
    """Click 'refresh now' on every page at once, then wait until each has finished."""
    before = [_ticks(p) for p in pages]
    for p in pages:
        p.locator(".dsa-refresh-now").click()
    for p, n in zip(pages, before, strict=True):
        p.wait_for_function(
            "n => Number(document.querySelector('.dsa-refreshes').dataset.ticks) > n", arg=n
        )
    for p in pages:
        _wait_idle(p)


def _no_timer(page) -> None:
    """Park the page's own timer (an hour) so only our clicks refresh."""
    every = page.locator(".widget-inline-hbox:has-text('every (s)') input").first
    every.fill("3600")
    every.press("Enter")


def _round(server: Server, pages) -> Counter:
    """One refresh round from a cold shared cache: the queries (not the once-per-kernel
    schema reads) it sent to either database, by statement."""
    SharedCache(server.state / "shared", ttl_s=1).clear()
    server.query_log.unlink(missing_ok=True)
    _refresh(pages)
    time.sleep(0.5)
    counts = read_query_log(server.query_log)
    return Counter({(db, digest): n for (db, kind, digest), n in counts.items() if kind == "query"})


def _screenshots(pages, name: str) -> None:
    artifacts = Path(__file__).resolve().parents[2] / "artifacts"
    artifacts.mkdir(exist_ok=True)
    for i, p in enumerate(pages):
        with contextlib.suppress(Exception):
            p.screenshot(path=str(artifacts / f"failed-{name}-{i}.png"))


def _explain(server: Server, one: Counter, three: Counter) -> str:
    """The lines (pid, database, kind, digest) of the statements the rounds disagree on."""
    odd = {digest for _, digest in (one - three) + (three - one)}
    lines = server.query_log.read_text().splitlines() if server.query_log.exists() else []
    return "\n".join(
        ["last round's lines of the differing statements:"]
        + [ln for ln in lines if ln.rsplit("\t", 1)[-1] in odd]
    )


def _kernel_pid(page) -> int:
    """The process of the page's kernel, found from outside: the kernel id Voila put in the
    page, and the ``ipykernel`` process whose connection file carries it."""
    kid = page.evaluate(
        "() => JSON.parse(document.getElementById('jupyter-config-data').textContent).kernelId"
    )
    assert re.fullmatch(r"[0-9a-f-]{36}", kid)
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if f"kernel-{kid}.json" in cmd and "ipykernel" in cmd:
                return int(proc.name)
    raise AssertionError(f"no process for kernel {kid}")


def test_three_viewers_share_one_set_of_queries_and_survive_a_dead_kernel(
    start_server, browser, truth
):
    server = start_server("viewers", DashboardSettings(shared_s=300, max_kernels=8))
    opened = [_open(browser, server.url) for _ in range(3)]
    pages = [p for p, _ in opened]
    try:
        assert [r.status for _, r in opened] == [200, 200, 200]
        for p in pages:
            _assert_shows_the_demo(p, truth)
            _no_timer(p)
        time.sleep(2)  # a restarted page timer ticks once: let that refresh end first
        for p in pages:
            _wait_idle(p)
        one = _round(server, pages[:1])
        three = _round(server, pages)
        assert sum(one.values()) >= 20  # both databases, every panel
        assert {db for db, _ in one} == {"pipeline", "queue"}
        assert three == one, _explain(server, one, three)  # one set for three viewers
        for p in pages:
            _assert_shows_the_demo(p, truth)
        kernels = DashboardKernels(server.state / "kernels").summary()
        assert kernels["n_kernels"] >= 3  # the viewers' (and the preheated one)
        assert all(k["rss_mib"] > 50 for k in kernels["kernels"])

        # a viewer's kernel killed in the middle of a refresh
        victim, others = pages[0], pages[1:]
        pid = _kernel_pid(victim)
        SharedCache(server.state / "shared", ttl_s=1).clear()
        n = _ticks(victim)
        victim.locator(".dsa-refresh-now").click()
        victim.wait_for_function(
            "n => Number(document.querySelector('.dsa-refreshes').dataset.ticks) > n", arg=n
        )
        assert victim.locator(".dsa-status-busy").count() > 0  # it is refreshing
        os.kill(pid, signal.SIGKILL)
        for _ in range(2):  # the others refresh (twice: nothing held by the dead kernel)
            SharedCache(server.state / "shared", ttl_s=1).clear()
            _refresh(others)
            for p in others:
                _assert_shows_the_demo(p, truth)
        assert pid not in [k.pid for k in DashboardKernels(server.state / "kernels").list()]
    except BaseException:
        _screenshots(pages, "viewers")
        raise
    finally:
        for p in pages:
            p.context.close()


def test_the_viewer_over_the_limit_is_told_and_a_closed_tab_frees_its_kernel(
    start_server, browser, truth
):
    server = start_server("limit", DashboardSettings(max_kernels=1, preheat=False))
    first, r1 = _open(browser, server.url)
    second = None
    try:
        assert r1.status == 200
        first.wait_for_selector(".dsa-kpi[data-kpi='failed_jobs'] .dsa-kpi-value:not(:text('…'))")
        second, r2 = _open(browser, server.url)
        assert r2.status == 503
        text = second.inner_text("body")
        assert "Dashboard busy: 1 of 1 viewer sessions are in use" in text
        assert "try again" in text and "Traceback" not in text
        assert "Refusing a dashboard kernel" in server.log_path.read_text()
        first.close(run_before_unload=True)  # the tab's kernel is shut down, not left idle
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            r2 = second.reload(wait_until="domcontentloaded")
            if r2.status == 200:
                break
            time.sleep(1)
        assert r2.status == 200, "the closed tab's kernel still holds the only slot"
        second.wait_for_selector(".dsa-kpi[data-kpi='failed_jobs'] .dsa-kpi-value:not(:text('…'))")
        assert _kpi(second, "failed_jobs") == "4"
    finally:
        first.context.close()
        if second is not None:
            second.context.close()
