"""The data source a report reads: settings resolved as ``dsa110_ws.connect`` would, and
its clock (``yesterday``/``today`` are relative to it)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from dsa110_ws.errors import WorkspaceError, one_line
from dsa110_ws.reporting.params import ReportParameterError, parse_utc

__all__ = ["resolve_settings", "workspace_now"]


def resolve_settings(settings: str | None = None) -> Any:
    """The :class:`~dsa110_ws.config.Settings` a report will read, as ``connect`` finds them.

    ``settings`` is a TOML file; without one, the environment; with no database configured
    anywhere, the demo state's settings file (generated on first use, as ``connect`` does).
    Raises :class:`ReportParameterError` when the settings file is missing or malformed.
    """
    from dsa110_ws.config import load_settings

    try:
        s = load_settings(settings) if settings else load_settings()
        if s.pipeline_db is None and s.database_url is None:
            from dsa110_ws.demo import ensure_demo

            demo_dir, _ = ensure_demo(s.demo_dir)
            s = load_settings(demo_dir / "settings.toml")
    except WorkspaceError as exc:
        raise ReportParameterError(
            f"invalid report parameters: settings: {one_line(exc)}"
        ) from None
    if s.settings_file is not None and (s.settings_file.parent / "truth.json").exists():
        s = dataclasses.replace(s, is_demo=True)  # as connect() marks a generated demo state
    return s


def workspace_now(settings: str | None = None) -> dt.datetime:
    """The workspace clock for a settings file (frozen in the demo), as aware UTC."""
    s = resolve_settings(settings)
    if s.now:
        return parse_utc(s.now, "now", dt.datetime.now(dt.UTC))
    return dt.datetime.now(dt.UTC)
