"""Fixtures for the notebooks tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def _user_dirs_exist(_isolated_user_dirs):
    """Create the per-test XDG directories the session points at: astropy's one-time
    leap-second check warns (an error under -W error) when its cache directory is missing."""
    import os
    from pathlib import Path

    for var in ("XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        Path(os.environ[var]).mkdir(parents=True, exist_ok=True)
