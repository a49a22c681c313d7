"""Fixtures for the service tests: a scratch data root for broken or hand-made products."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture()
def scratch_root(tmp_path) -> Path:
    """An empty directory that :func:`scratch_ws` treats as a second data root."""
    root = tmp_path / "scratch-data"
    root.mkdir()
    return root


@pytest.fixture()
def scratch_ws(demo_dir, scratch_root, state_dir):
    """A read-only workspace over the demo whose data roots are the demo's and ``scratch_root``."""
    import dsa110_ws

    w = dsa110_ws.connect(
        demo_dir / "settings.toml",
        state_dir=state_dir,
        data_roots=[str(demo_dir / "data"), str(scratch_root)],
    )
    yield w
    w.close()


@pytest.fixture(scope="module")
def ws(demo_dir, tmp_path_factory):
    """One read-only workspace over the demo per test module (its own state dir)."""
    import dsa110_ws

    w = dsa110_ws.connect(demo_dir / "settings.toml", state_dir=tmp_path_factory.mktemp("st"))
    yield w
    w.close()
