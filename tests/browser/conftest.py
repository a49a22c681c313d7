"""A Voila server over the session demo state (one per test module) and headless Chromium.

Chromium is Debian's ``/usr/bin/chromium`` driven by Playwright for Python (never a
downloaded browser); when it is missing the tests fail: ``make test`` installs it.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from _chromium import CHROMIUM, CHROMIUM_ARGS

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"


@dataclasses.dataclass
class VoilaServer:
    port: int
    proc: subprocess.Popen
    log_path: Path

    def url(self, dashboard: str) -> str:
        from dsa110_ws.cli.voila import dashboard_url

        return dashboard_url(self.port, dashboard)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def start_dashboard(
    demo: Path,
    state: Path,
    *args: str,
    unset: Sequence[str] = (),
    sigint_ignored: bool = False,
    **env: str,
) -> subprocess.Popen:
    """``dsa110-ws dashboard --port 0 --no-browser ARGS`` over ``demo``'s settings with the
    state dir ``state``, in a session of its own (stop it with ``voila.stop_process``);
    its output is text on ``stdout`` (read the port with :func:`served_port`).  ``env``
    adds variables, ``unset`` removes inherited ones; ``sigint_ignored`` starts it as a
    shell's background job is started (SIGINT ignored)."""
    full = dict(
        os.environ,
        DSA110_WS_SETTINGS=str(demo / "settings.toml"),
        DSA110_WS_STATE_DIR=str(state),
        PYTHONWARNINGS="ignore",
        **env,
    )
    for name in unset:
        full.pop(name, None)
    return subprocess.Popen(
        [sys.executable, "-m", "dsa110_ws.cli", "dashboard", "--port", "0", "--no-browser", *args],
        env=full,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
        if sigint_ignored
        else None,
    )


def served_port(proc: subprocess.Popen, timeout_s: float = 120.0) -> tuple[int, str]:
    """The port a ``dsa110-ws dashboard --port 0`` process serves on, read from the URL it
    prints once Voila listens (and everything it printed up to that line)."""
    import re
    import time

    out: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        out.append(line)
        if m := re.search(r"http://[^/\s]+:(\d+)/voila/render/", line):
            return int(m.group(1)), "".join(out)
        if not line and proc.poll() is not None:
            break
    raise AssertionError(f"no dashboard URL printed:\n{''.join(out)}")


def listening_port(pid: int, timeout_s: float = 90.0) -> int:
    """The TCP port the process ``pid`` listens on (a server started with port 0: the
    system chose it, and the system says which)."""
    import time

    import psutil

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ports = {
            c.laddr.port
            for c in psutil.Process(pid).net_connections(kind="tcp")
            if c.status == psutil.CONN_LISTEN
        }
        if ports:
            assert len(ports) == 1, ports
            return ports.pop()
        time.sleep(0.2)
    raise AssertionError(f"process {pid} listens on no port after {timeout_s:g} s")


@pytest.fixture(scope="module")
def voila_server(demo_dir, tmp_path_factory, request) -> Iterator[VoilaServer]:
    """Voila serving notebooks/dashboards over the demo state, stopped at module end."""
    from dsa110_ws.cli import voila

    state = tmp_path_factory.mktemp("voila-state")
    env = dict(os.environ)
    env.update(
        DSA110_WS_SETTINGS=str(demo_dir / "settings.toml"),
        DSA110_WS_STATE_DIR=str(state),
        PYTHONWARNINGS="ignore",
    )
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / f"voila-{request.module.__name__.rpartition('.')[2]}.log"
    log_path.unlink(missing_ok=True)
    proc = voila.start_voila(voila.dashboards_dir(), env=env, log_path=log_path)
    try:
        yield VoilaServer(proc.wait_port(timeout_s=90), proc, log_path)
    finally:
        voila.stop_process(proc)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Headless Debian Chromium through Playwright (fails, never skips, when missing)."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: run `make browser` (or `make test`, which installs "
            "Debian's chromium) before the browser tests."
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.browser_failed = report.failed


@pytest.fixture()
def page(browser, voila_server, request) -> Iterator[object]:
    """A fresh page; on failure its screenshot and the Voila log go to artifacts/."""
    context = browser.new_context(viewport={"width": 1500, "height": 1100})
    pg = context.new_page()
    pg.set_default_timeout(180_000)  # generous: the shared CI machine can be slow
    try:
        yield pg
    finally:
        if getattr(request.node, "browser_failed", False):
            ARTIFACTS.mkdir(exist_ok=True)
            pg.screenshot(path=str(ARTIFACTS / f"failed-{request.node.name}.png"))
            server = request.getfixturevalue("voila_server")
            print(
                f"--- Voila log ({server.log_path}), last lines:\n"
                + "\n".join(server.log().splitlines()[-40:])
            )
        context.close()


@pytest.fixture(scope="session", autouse=True)
def _user_dirs_exist(_isolated_user_dirs):
    """Create the per-test XDG directories the session points at: astropy's one-time
    leap-second check warns (an error under -W error) when its cache directory is missing."""
    import os
    from pathlib import Path

    for var in ("XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        Path(os.environ[var]).mkdir(parents=True, exist_ok=True)
