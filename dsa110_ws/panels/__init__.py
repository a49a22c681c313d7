"""ipywidget panels: views over the services, no logic of their own.

>>> import dsa110_ws as ws
>>> w = ws.connect()
>>> ws.panels.JobMonitor(w)          # displays itself in a notebook

Every panel is an ``ipywidgets.VBox`` with a ``status`` line (errors appear there as one
readable line), loads in the background inside a kernel, and keeps its state in traits
and attributes (set a control, check the derived state: no browser needed).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "ImageBrowser",
    "SourceExplorer",
    "QAPanel",
    "MSInspector",
    "ProvenanceStrip",
    "CalInspector",
    "JobMonitor",
    "LogViewer",
    "HealthPanel",
    "IngestionPanel",
    "TaskQueuePanel",
    "WorkersPanel",
    "FailuresPanel",
    "WorkflowPanel",
    "ThroughputPanel",
    "OperationsDashboard",
    "ScienceDashboard",
    "WallDashboard",
    "ImageViewer",
    "Panel",
    "from_query",
]

_WHERE = {
    "ImageBrowser": "images",
    "SourceExplorer": "sources",
    "QAPanel": "qa",
    "MSInspector": "ms",
    "ProvenanceStrip": "provenance",
    "CalInspector": "cal",
    "JobMonitor": "jobs",
    "LogViewer": "logs",
    "HealthPanel": "health",
    "IngestionPanel": "ingest",
    "TaskQueuePanel": "tasks",
    "WorkersPanel": "taskviews",
    "FailuresPanel": "taskviews",
    "WorkflowPanel": "taskviews",
    "ThroughputPanel": "stats",
    "OperationsDashboard": "dashboards",
    "ScienceDashboard": "dashboards",
    "WallDashboard": "wall",
    "ImageViewer": "imageview",
    "Panel": "_base",
    "from_query": "query",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'dsa110_ws.panels' has no attribute {name!r}")
    return getattr(importlib.import_module(f"dsa110_ws.panels.{module}"), name)


def __dir__() -> list[str]:
    return sorted(__all__)
