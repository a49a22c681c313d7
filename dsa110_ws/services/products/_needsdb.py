"""The one error of a files-only workspace asked for something only the pipeline database
holds (``w.ms`` and ``w.cal`` read product files without one)."""

from __future__ import annotations

from typing import TypeVar

from dsa110_ws.errors import ConfigurationError

__all__ = ["needs_database"]

T = TypeVar("T")


def needs_database(repo: T | None, holds: str, files: str) -> T:
    """``repo``, or a :class:`ConfigurationError` saying that ``holds`` lives in the
    pipeline database, none is configured, and that reading ``files`` needs none."""
    if repo is None:
        raise ConfigurationError(
            f"{holds} is in the pipeline database, and none is configured; set PIPELINE_DB "
            f"(reading {files} needs none)."
        )
    return repo
