"""``dsa110-ws dashboard``: serves both dashboards with sources stripped, prints the URL,
and fails with one clear line when it cannot serve."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from dsa110_ws.cli import main, voila


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
    cmd = voila.voila_command(voila.dashboards_dir(), port=port)
    assert cmd[0] == sys.executable and not any("strip_sources" in a for a in cmd)  # voila.json


@pytest.mark.slow
def test_a_plain_voila_anywhere_hides_sources_through_the_installed_voila_json(demo_dir, tmp_path):
    """Not our command line, not the dashboards' folder: the voila.json the installation put
    in <prefix>/etc/jupyter still strips the sources and hides tracebacks."""
    config = json.loads((voila.dashboards_dir() / "voila.json").read_text())
    shown = config["VoilaConfiguration"]
    assert shown["strip_sources"] is True and shown["show_tracebacks"] is False
    assert shown["allow_template_override"] == "NO"  # no ?template= around the settings
    installed = Path(sys.prefix) / "etc" / "jupyter" / "voila.json"
    assert json.loads(installed.read_text()) == config
    port = voila.free_port()
    env = dict(
        os.environ,
        DSA110_WS_SETTINGS=str(demo_dir / "settings.toml"),
        DSA110_WS_STATE_DIR=str(tmp_path / "state"),
    )
    nb = voila.dashboards_dir() / "operations.ipynb"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "voila",
            str(nb),
            f"--port={port}",
            "--no-browser",
            "--Voila.ip=127.0.0.1",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        voila.wait_for_port(port, timeout_s=60, proc=proc)
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=120).read().decode()
    finally:
        voila.stop_process(proc)
    assert "<html" in page.lower() and "qa_source" not in page and "Traceback" not in page


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
