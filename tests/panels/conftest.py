"""Fixtures for the panel tests: workspaces over a broken database path and over a
private writable copy of the demo state."""

from __future__ import annotations

import pytest


@pytest.fixture()
def broken_workspace(tmp_path):
    """A workspace whose database file does not exist (Workspace is lazy: no error yet)."""
    from dsa110_ws import Workspace, load_settings

    return Workspace(
        load_settings(
            pipeline_db=tmp_path / "missing.sqlite3",
            state_dir=tmp_path / "state",
            now="2026-11-14T17:53:20",
        )
    )


@pytest.fixture()
def writable_workspace(writable_demo, tmp_path):
    import dsa110_ws

    w = dsa110_ws.connect(
        writable_demo / "settings.toml", state_dir=tmp_path / "wstate", allow_writes=True
    )
    yield w
    w.close()


@pytest.fixture(scope="session", autouse=True)
def _user_dirs_exist(_isolated_user_dirs):
    """Create the per-test XDG directories the session points at: astropy's one-time
    leap-second check warns (an error under -W error) when its cache directory is missing."""
    import os
    from pathlib import Path

    for var in ("XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        Path(os.environ[var]).mkdir(parents=True, exist_ok=True)
