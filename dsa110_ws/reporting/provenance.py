"""What a report was made from: parameters, package and tool versions, settings, data
window, template and git revision."""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import importlib.metadata
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["build_provenance", "git_revision", "file_sha256"]


def file_sha256(path: str | Path | None) -> str | None:
    """SHA-256 of a file, or ``None`` when it cannot be read."""
    if path is None:
        return None
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def git_revision(path: str | Path | None = None) -> dict[str, Any] | None:
    """``{"commit", "dirty"}`` of the git checkout holding ``path`` (default: this package),
    or ``None`` when it is not in a checkout or git is unavailable."""
    where = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
        status = subprocess.run(
            ["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip())}


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for dist in (
        "dsa110-ws",
        "papermill",
        "nbconvert",
        "nbclient",
        "nbformat",
        "pydantic",
        "numpy",
        "pandas",
        "astropy",
    ):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = None
    return out


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def build_provenance(
    *,
    kind: str,
    label: str,
    params: Any,
    requested: dict[str, Any],
    settings: Any,
    template: Path,
    status: str,
    started_at: dt.datetime,
    finished_at: dt.datetime,
    timings: dict[str, float],
    error: str | None = None,
    files: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The provenance document (``provenance.json``) of one report run.

    Parameters
    ----------
    params
        The validated :class:`~dsa110_ws.reporting.params.ReportParams`.
    requested
        The parameters as given (before ``yesterday`` etc. were resolved).
    settings
        The resolved :class:`~dsa110_ws.config.Settings` the report read.
    started_at, finished_at
        Wall-clock UTC times of the run.
    timings
        Seconds per phase (``kernel_start_s``, ``data_s``, ``render_s``, ``total_s``).
    """
    import dsa110_ws

    return {
        "report": kind,
        "label": label,
        "status": status,
        "error": error,
        "parameters": params.notebook_parameters(),  # as injected (absolute window)
        "requested_parameters": requested,
        "data_time_range": params.window_dict(),
        "data_source": {
            "database": settings.database_target,
            "settings_file": str(settings.settings_file) if settings.settings_file else None,
            "settings_file_sha256": file_sha256(settings.settings_file),
            "is_demo": bool(settings.is_demo),
            "workspace_clock": settings.now,
        },
        "settings": settings.to_dict(),
        "settings_origin": dict(settings.origin),
        "package_version": dsa110_ws.__version__,
        "versions": _versions(),
        "git": git_revision(),
        "template": {"path": str(template), "sha256": file_sha256(template)},
        "kernel": {"python": sys.executable},
        "host": platform.node(),
        "user": _user(),
        "started_at": started_at.isoformat(),
        "finished_at": finished_at.isoformat(),
        "timings_s": timings,
        "files": files or {},
    }
