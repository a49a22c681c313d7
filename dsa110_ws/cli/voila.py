"""Serving the dashboard notebooks with Voila: where they are, the command line, start/stop.

Used by ``dsa110-ws dashboard``, the browser test and the dashboard benchmark, so all
three serve the dashboards the same way.  What Voila shows (sources stripped, tracebacks
hidden) and how it culls idle kernels is configured in one place, the ``voila.json``
beside the dashboards: Voila reads it from its working directory (the dashboards'
folder here) and, where the wheel installed it, from ``<prefix>/etc/jupyter``, so the
same settings hold for ``dsa110-ws dashboard``, a plain ``voila`` and JupyterLab's Voila
preview alike.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dsa110_ws.errors import ConfigurationError, DataUnavailableError

if TYPE_CHECKING:
    from dsa110_ws.core.settings import DashboardSettings

__all__ = [
    "DASHBOARDS",
    "dashboards_dir",
    "dashboard_url",
    "voila_command",
    "is_loopback",
    "VoilaProcess",
    "start_voila",
    "stop_process",
]

#: Dashboard name -> notebook file in ``notebooks/dashboards``.
DASHBOARDS: dict[str, str] = {
    "operations": "operations.ipynb",
    "science": "science.ipynb",
    "wall": "wall.ipynb",
}

#: The configuration file beside the dashboards.
CONFIG_FILE = "voila.json"


def templates_root() -> Path:
    """The Jupyter data directory holding the dashboards' Voila template
    (``voila/templates/dsa110``: Voila's "lab" template asking nothing of a CDN),
    shipped in the package beside the dashboards."""
    import importlib.resources

    return Path(str(importlib.resources.files("dsa110_ws.dashboards") / "jupyter-data"))


def dashboards_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The directory holding the dashboard notebooks (and their ``voila.json``).

    ``explicit`` (the ``--notebooks-dir`` option) wins; otherwise the dashboards shipped
    with the package (``dsa110_ws.dashboards``: ``notebooks/dashboards/`` of the
    repository, installed into the wheel), found with :mod:`importlib.resources`.
    """
    if explicit is not None:
        where = Path(explicit).expanduser().resolve()
        hint = "check --notebooks-dir"
    else:
        import importlib.resources

        where = Path(str(importlib.resources.files("dsa110_ws.dashboards")))
        hint = "the installation is incomplete: reinstall dsa110-ws"
    missing = [n for n in (*DASHBOARDS.values(), CONFIG_FILE) if not (where / n).is_file()]
    if missing:
        raise ConfigurationError(f"Dashboard notebooks {missing} not found in {where}; {hint}.")
    return where


def dashboard_url(
    port: int, name: str = "operations", *, host: str = "127.0.0.1", token: str | None = None
) -> str:
    """URL of one dashboard on a Voila server serving :func:`dashboards_dir` (with the
    server's token, when it has one: the first visit sets the login cookie)."""
    if name not in DASHBOARDS:
        raise ConfigurationError(f"Unknown dashboard {name!r}; choose one of {sorted(DASHBOARDS)}.")
    url = f"http://{host}:{port}/voila/render/{DASHBOARDS[name]}"
    return url if not token else f"{url}?token={token}"


def is_loopback(ip: str) -> bool:
    """Whether ``ip`` (an address or a host name) only listens on this machine."""
    import ipaddress

    if ip in ("localhost", ""):
        return ip == "localhost"
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False


def voila_command(
    notebook_dir: Path,
    *,
    port: int,
    ip: str = "127.0.0.1",
    token: str | None = None,
    dashboard: DashboardSettings | None = None,
) -> list[str]:
    """The ``python -m voila ...`` argument list serving every dashboard in ``notebook_dir``
    (run it in the folder holding ``voila.json``: :func:`start_voila` does).

    Voila never opens a browser itself (the caller does, once the server listens).
    ``dashboard`` (the ``[dashboard]`` settings) overrides ``voila.json``'s kernel limit,
    idle culling and preheating.
    """
    return [
        sys.executable,
        "-m",
        "dsa110_ws.cli.voila_app",  # Voila, reporting the port it bound (port 0: any)
        str(Path(notebook_dir).resolve()),
        f"--port={int(port)}",
        f"--Voila.ip={ip}",
        "--Voila.port_retries=0",
        "--no-browser",
        *([f"--token={token}"] if token else []),  # the one spelling Voila honours
        *(_dashboard_flags(dashboard) if dashboard is not None else []),
    ]


def _dashboard_flags(d: DashboardSettings) -> list[str]:
    """Voila flags for the ``[dashboard]`` settings (they win over ``voila.json``)."""
    return [
        f"--LimitedKernelManager.max_kernels={int(d.max_kernels)}",
        f"--MappingKernelManager.cull_idle_timeout={int(d.cull_idle_s)}",
        f"--MappingKernelManager.cull_interval={max(5, min(60, int(d.cull_idle_s) // 10))}",
        f"--VoilaConfiguration.preheat_kernel={bool(d.preheat)}",
    ]


class VoilaProcess(subprocess.Popen):
    """A Voila server started by :func:`start_voila`; :meth:`wait_port` says where it
    listens (the server reports the port it bound, so port 0 is safe: nothing guesses a
    free port that another process could take first)."""

    port_file: Path

    def wait_port(self, timeout_s: float = 60.0) -> int:
        """Wait until the server listens; returns its port."""
        t0 = time.monotonic()
        while True:
            with contextlib.suppress(OSError, ValueError):
                port = int(self.port_file.read_text())
                self.port_file.unlink(missing_ok=True)
                return port
            if self.poll() is not None:
                self.port_file.unlink(missing_ok=True)
                raise DataUnavailableError(
                    f"Voila exited with status {self.returncode} before listening; see its log."
                )
            if time.monotonic() - t0 > timeout_s:
                raise DataUnavailableError(
                    f"Voila is not listening after {timeout_s:g} s; see its log."
                )
            time.sleep(0.1)


def start_voila(
    notebook_dir: Path,
    *,
    port: int = 0,
    env: Mapping[str, str] | None = None,
    log_path: Path | None = None,
    **kwargs: Any,
) -> VoilaProcess:
    """Start Voila in its own process group, in the folder of the shipped ``voila.json``
    (``port=0``: any free port, see :meth:`VoilaProcess.wait_port`; stop it with
    :func:`stop_process`)."""
    from dsa110_ws.cli.voila_app import PORT_FILE_ENV

    # a fresh name; the server writes the file once it listens
    port_file = Path(tempfile.gettempdir()) / f"dsa110-ws-voila-{secrets.token_hex(8)}.port"
    child_env = dict(os.environ if env is None else env)
    child_env[PORT_FILE_ENV] = str(port_file)
    # the dashboards' Voila template (voila.json names it), found in the package itself
    # first: a copy installed elsewhere (or none, running from a source tree) never wins
    child_env["JUPYTER_PATH"] = os.pathsep.join(
        [str(templates_root()), *filter(None, [child_env.get("JUPYTER_PATH")])]
    )
    with contextlib.ExitStack() as stack:
        out: Any = subprocess.DEVNULL
        if log_path is not None:
            out = stack.enter_context(open(log_path, "ab"))  # noqa: SIM115
        proc = VoilaProcess(
            voila_command(notebook_dir, port=port, **kwargs),
            env=child_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=dashboards_dir(),
            preexec_fn=_die_with_parent,
        )
    proc.port_file = port_file
    return proc


def _die_with_parent() -> None:
    """In the child before exec: on Linux, be sent SIGTERM when the process that started
    Voila dies, even by SIGKILL, so a killed ``dsa110-ws dashboard`` leaves no server
    holding its port (elsewhere nothing is done)."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def stop_process(proc: subprocess.Popen, *, timeout_s: float = 15.0) -> None:
    """Stop a process started with ``start_new_session=True`` and its whole group."""
    if isinstance(proc, VoilaProcess):
        proc.port_file.unlink(missing_ok=True)  # never read: nobody waited for the port
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
