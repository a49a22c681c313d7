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
import urllib.request
from pathlib import Path

import psutil
import pytest

from dsa110_ws.cli import main, voila
from tests.browser.conftest import listening_port, served_port, start_dashboard


def _voila_child(proc: subprocess.Popen) -> psutil.Process:
    """The Voila server a ``dsa110-ws dashboard`` process started."""
    kids = psutil.Process(proc.pid).children(recursive=True)
    return next(k for k in kids if "dsa110_ws.cli.voila_app" in k.cmdline())


def _stop(proc: subprocess.Popen, children: list) -> None:
    """The command, its Voila and kernels stopped whatever a test left running."""
    voila.stop_process(proc)
    for child in children:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()
    proc.stdout.close()


@pytest.mark.slow
def test_dashboard_command_serves_both_dashboards_without_sources(demo_dir, tmp_path):
    proc = start_dashboard(demo_dir, tmp_path / "state")
    children: list = []
    try:
        port, printed = served_port(proc)  # the port Voila bound, from the URL printed
        url = voila.dashboard_url(port, "operations")
        assert url in printed, printed
        printed += proc.stdout.readline()
        assert voila.dashboard_url(port, "science") in printed
        children = psutil.Process(proc.pid).children(recursive=True)
        assert listening_port(_voila_child(proc).pid) == port  # the server that bound it says so
        page = urllib.request.urlopen(url, timeout=120).read().decode()
        assert "qa_source" not in page  # the parameters cell; present without --strip_sources
        assert "Traceback" not in page
        proc.send_signal(signal.SIGTERM)  # what `systemctl stop` or `kill` does
        assert proc.wait(timeout=60) == 128 + signal.SIGTERM
        gone, alive = psutil.wait_procs(children, timeout=30)
        assert not alive, f"Voila outlived the command: {alive}"
    finally:
        _stop(proc, children)
    cmd = voila.voila_command(voila.dashboards_dir(), port=port)
    assert cmd[0] == sys.executable and not any("strip_sources" in a for a in cmd)  # voila.json


@pytest.mark.slow
def test_dashboard_started_in_the_background_stops_on_ctrl_c(demo_dir, tmp_path):
    """`make run &` from a script or a CI runner starts the command with SIGINT ignored;
    Ctrl-C (`kill -INT`) must stop it and its Voila all the same (it was ignored)."""
    proc = start_dashboard(demo_dir, tmp_path / "state", sigint_ignored=True)
    children: list = []
    try:
        served_port(proc)
        children = psutil.Process(proc.pid).children(recursive=True)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
        assert "stopping the dashboard server" in proc.stdout.read()
        gone, alive = psutil.wait_procs(children, timeout=30)
        assert not alive, f"Voila outlived the command: {alive}"
    finally:
        _stop(proc, children)


@pytest.mark.slow
@pytest.mark.parametrize("notebook", ["science", "wall"])
def test_dashboard_notebook_opens_and_prints_that_dashboard(demo_dir, tmp_path, notebook):
    """``--notebook`` picks the page printed first (and opened): it is served and renders."""
    proc = start_dashboard(demo_dir, tmp_path / "state", "--notebook", notebook)
    try:
        port, printed = served_port(proc)
        first = [line.strip() for line in printed.splitlines() if "/voila/render/" in line][0]
        assert first == voila.dashboard_url(port, notebook)
        assert printed.splitlines()[0] == f"Serving the {notebook} dashboard over the demo state"
        page = urllib.request.urlopen(first, timeout=180).read().decode()
        assert "<html" in page.lower() and "Traceback" not in page
        assert "widget-view+json" in page  # the notebook's last cell made its dashboard
        assert "ws.connect()" not in page  # sources stripped: the page's code is not shown
    finally:
        voila.stop_process(proc)
        proc.stdout.close()


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
            "--port=0",  # the system picks a free port; the process's socket says which
            "--Voila.port_retries=0",
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
        port = listening_port(proc.pid)
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


@pytest.mark.slow
def test_dashboard_ip_listens_on_that_address_only(demo_dir, tmp_path):
    """``--ip`` is where Voila listens: another loopback address than the default, and the
    default address on the same port gets nothing."""
    proc = start_dashboard(demo_dir, tmp_path / "state", "--ip", "127.0.0.2")
    try:
        port, printed = served_port(proc)
        assert voila.dashboard_url(port, "operations", host="127.0.0.2") in printed
        with socket.create_connection(("127.0.0.2", port), timeout=10):
            pass  # listening there
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0  # and not on the default address
        listening = {
            c.laddr.ip
            for c in _voila_child(proc).net_connections(kind="tcp")
            if c.status == psutil.CONN_LISTEN
        }
        assert listening == {"127.0.0.2"}
    finally:
        voila.stop_process(proc)
        proc.stdout.close()
