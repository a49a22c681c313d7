"""dsa110_ws: a Jupyter-native workspace over the DSA-110 continuum imaging pipeline.

>>> import dsa110_ws as ws
>>> w = ws.connect()                 # PIPELINE_DB etc., else the demo state
>>> w.images.find(start="2026-11-14", end="2026-11-15")

Importing the package is cheap and has no side effects; heavy libraries load on use.
"""

from __future__ import annotations

from typing import Any

from dsa110_ws import errors
from dsa110_ws.config import Settings, load_settings
from dsa110_ws.workspace import Workspace, connect

__version__ = "0.1.0"
__all__ = ["connect", "Workspace", "Settings", "load_settings", "errors", "panels", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "panels":
        import importlib

        return importlib.import_module("dsa110_ws.panels")
    raise AttributeError(f"module 'dsa110_ws' has no attribute {name!r}")
