"""``dsa110-ws dashboard``: serves both dashboards with sources stripped, prints the URL,
and fails with one clear line when it cannot serve."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import psutil
import pytest

from dsa110_ws._util import voila
from dsa110_ws.cli import main


@pytest.mark.slow
def test_dashboard_command_serves_both_dashboards_without_sources(demo_dir, tmp_path):
    port = voila.free_port()
    env = dict(
        os.environ,
        DSA110_WS_SETTINGS=str(demo_dir / "settings.toml"),
        DSA110_WS_STATE_DIR=str(tmp_path / "state"),
        PYTHONWARNINGS="ignore",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "dsa110_ws.cli", "dashboard", "--port", str(port), "--no-browser"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    children: list = []
    try:
        url = voila.dashboard_url(port, "operations")
        lines = []
        deadline = time.monotonic() + 60
        while url not in "".join(lines) and time.monotonic() < deadline:
            lines.append(proc.stdout.readline())
        assert url in "".join(lines), "".join(lines)
        lines.append(proc.stdout.readline())
        assert voila.dashboard_url(port, "science") in "".join(lines)
        voila.wait_for_port(port, timeout_s=60)
        children = psutil.Process(proc.pid).children(recursive=True)
        page = urllib.request.urlopen(url, timeout=120).read().decode()
        assert "qa_source" not in page  # the parameters cell; present without --strip_sources
        assert "Traceback" not in page
        proc.send_signal(signal.SIGTERM)  # what `systemctl stop` or `kill` does
        assert proc.wait(timeout=60) == 128 + signal.SIGTERM
        gone, alive = psutil.wait_procs(children, timeout=30)
        assert not alive, f"Voila outlived the command: {alive}"
    finally:
        voila.stop_process(proc)
        for child in children:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()
        proc.stdout.close()
    log = (tmp_path / "state" / "voila.log").read_text()
    assert "--strip_sources" not in log  # the log is Voila's own, not our command line
    cmd = voila.voila_command(voila.dashboards_dir(), port=port)
    assert "--strip_sources=True" in cmd and "--show_tracebacks=False" in cmd
    assert any(a.startswith("--MappingKernelManager.cull_idle_timeout=") for a in cmd)
    assert cmd[0] == sys.executable


def test_dashboard_command_refuses_a_busy_port(demo_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DSA110_WS_SETTINGS", str(demo_dir / "settings.toml"))
    monkeypatch.setenv("DSA110_WS_STATE_DIR", str(tmp_path / "state"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert main(["dashboard", "--port", str(port), "--no-browser"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: Cannot serve the dashboards on 127.0.0.1:") and "\n" not in err


def test_dashboard_command_says_where_the_notebooks_are_missing(tmp_path, capsys):
    assert main(["dashboard", "--notebooks-dir", str(tmp_path), "--no-browser"]) == 1
    err = capsys.readouterr().err
    assert "operations.ipynb" in err and str(tmp_path) in err
    assert voila.dashboards_dir().name == "dashboards"
