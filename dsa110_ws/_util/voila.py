"""Serving the dashboard notebooks with Voila: where they are, the command line, start/stop.

Used by ``dsa110-ws dashboard``, the browser test and the dashboard benchmark, so all
three serve the dashboards the same way: sources stripped, tracebacks hidden, idle
kernels culled, the kernel running this interpreter (the project's environment).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from dsa110_ws.errors import ConfigurationError, DataUnavailableError

__all__ = [
    "DASHBOARDS",
    "dashboards_dir",
    "dashboard_url",
    "voila_command",
    "free_port",
    "start_voila",
    "wait_for_port",
    "stop_process",
]

#: Dashboard name -> notebook file in ``notebooks/dashboards``.
DASHBOARDS: dict[str, str] = {"operations": "operations.ipynb", "science": "science.ipynb"}

#: Seconds an idle kernel whose page is gone is kept before Voila shuts it down.
CULL_IDLE_TIMEOUT_S = 600
CULL_INTERVAL_S = 60


def dashboards_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The directory holding the dashboard notebooks.

    ``explicit`` (the ``--notebooks-dir`` option) wins; otherwise the repository checkout
    the package was imported from (``<repo>/notebooks/dashboards``).  A non-editable
    install does not carry the notebooks: that is a :class:`ConfigurationError` saying so.
    """
    if explicit is not None:
        where = Path(explicit).expanduser().resolve()
        hint = "check --notebooks-dir"
    else:
        import dsa110_ws

        where = Path(dsa110_ws.__file__).resolve().parent.parent / "notebooks" / "dashboards"
        hint = (
            "the dashboards ship with the source checkout: install the package from a "
            "checkout with `pip install -e .` or pass --notebooks-dir "
            "PATH/TO/notebooks/dashboards"
        )
    missing = [n for n in DASHBOARDS.values() if not (where / n).is_file()]
    if missing:
        raise ConfigurationError(f"Dashboard notebooks {missing} not found in {where}; {hint}.")
    return where


def dashboard_url(port: int, name: str = "operations", *, host: str = "127.0.0.1") -> str:
    """URL of one dashboard on a Voila server serving :func:`dashboards_dir`."""
    if name not in DASHBOARDS:
        raise ConfigurationError(f"Unknown dashboard {name!r}; choose one of {sorted(DASHBOARDS)}.")
    return f"http://{host}:{port}/voila/render/{DASHBOARDS[name]}"


def voila_command(
    notebook_dir: Path,
    *,
    port: int,
    ip: str = "127.0.0.1",
    cull_idle_timeout_s: int = CULL_IDLE_TIMEOUT_S,
) -> list[str]:
    """The ``python -m voila ...`` argument list serving every dashboard in ``notebook_dir``.

    Voila never opens a browser itself (the caller does, once the server listens).
    """
    argv = [
        sys.executable,
        "-m",
        "voila",
        str(notebook_dir),
        f"--port={int(port)}",
        f"--Voila.ip={ip}",
        "--Voila.port_retries=0",
        "--strip_sources=True",
        "--show_tracebacks=False",
        f"--MappingKernelManager.cull_idle_timeout={int(cull_idle_timeout_s)}",
        f"--MappingKernelManager.cull_interval={CULL_INTERVAL_S}",
        "--MappingKernelManager.cull_connected=False",
        "--MappingKernelManager.cull_busy=False",
        "--no-browser",
    ]
    return argv


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_for_port(
    port: int,
    *,
    host: str = "127.0.0.1",
    timeout_s: float = 60.0,
    proc: subprocess.Popen | None = None,
) -> float:
    """Wait until ``host:port`` accepts connections; returns the seconds waited."""
    t0 = time.monotonic()
    while True:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return time.monotonic() - t0
        if proc is not None and proc.poll() is not None:
            raise DataUnavailableError(
                f"Voila exited with status {proc.returncode} before listening on port {port}."
            )
        if time.monotonic() - t0 > timeout_s:
            raise DataUnavailableError(f"Nothing listens on {host}:{port} after {timeout_s:g} s.")
        time.sleep(0.1)


def start_voila(
    notebook_dir: Path,
    *,
    port: int,
    env: Mapping[str, str] | None = None,
    log_path: Path | None = None,
    **kwargs,
) -> subprocess.Popen:
    """Start Voila in its own process group (stop it with :func:`stop_process`)."""
    out = open(log_path, "ab") if log_path is not None else subprocess.DEVNULL  # noqa: SIM115
    try:
        return subprocess.Popen(
            voila_command(notebook_dir, port=port, **kwargs),
            env=dict(os.environ if env is None else env),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    finally:
        if out is not subprocess.DEVNULL:
            out.close()


def stop_process(proc: subprocess.Popen, *, timeout_s: float = 15.0) -> None:
    """Stop a process started with ``start_new_session=True`` and its whole group."""
    if proc.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=timeout_s)
            return
        except subprocess.TimeoutExpired:
            continue
