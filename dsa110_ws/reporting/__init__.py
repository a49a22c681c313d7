"""Papermill QA and stats reports: typed parameters, runner, metrics, index, schedule.

>>> from dsa110_ws.reporting import run_report
>>> result = run_report("qa", {"night": "yesterday"}, out_dir="reports-out")
>>> result.status, result.output_dir          # ('ok', .../qa/2026-11-13)

Inside a template: ``report = open_report("qa", globals())`` validates the parameters
cell, connects to the data source and returns the report's sections.
"""

from __future__ import annotations

from typing import Any

from dsa110_ws.reporting._metric import Metric, overall_status
from dsa110_ws.reporting.index import list_reports, write_index
from dsa110_ws.reporting.params import ReportParameterError, ReportParams, validate_params
from dsa110_ws.reporting.runner import ReportResult, run_report

__all__ = [
    "run_report",
    "ReportResult",
    "validate_params",
    "ReportParams",
    "ReportParameterError",
    "open_report",
    "list_reports",
    "write_index",
    "Metric",
    "overall_status",
    "nightly_qa_metrics",
    "stats_metrics",
]


def open_report(kind: str, namespace: dict[str, Any]) -> Any:
    """Validate a template's parameters (read from ``namespace``), connect to the data
    source they name and return the report object whose methods are the sections."""
    import dsa110_ws
    from dsa110_ws.reporting.templates import params_from_namespace

    params = params_from_namespace(kind, namespace)
    w = dsa110_ws.connect(params.settings or None)
    if kind == "qa":
        from dsa110_ws.reporting.nightly import NightlyQAReport

        return NightlyQAReport(w, params)
    from dsa110_ws.reporting.params import StatsParams
    from dsa110_ws.reporting.period import StatsReport

    assert isinstance(params, StatsParams)
    return StatsReport(w, params)


def __getattr__(name: str) -> Any:
    if name in ("nightly_qa_metrics", "stats_metrics"):
        from dsa110_ws.reporting import metrics

        return getattr(metrics, name)
    raise AttributeError(f"module 'dsa110_ws.reporting' has no attribute {name!r}")
