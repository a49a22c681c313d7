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
