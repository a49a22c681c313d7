"""Headline metrics with a status, like the ASKAP validation reports' metrics table.

A :class:`Metric` is one number with its unit, its warning and critical thresholds, which
direction is worse and the status those imply (``ok``, ``warning``, ``critical``, or
``unknown`` when the value could not be computed).  A metric without thresholds is
``info``: shown in the neutral colour, never judged, never green, and left out of the
overall status.  ``metrics.json`` is a list of these, the report's overall status being
the worst of the judged ones.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from dsa110_ws.core.atomic import atomic_write
from dsa110_ws.core.severity import Severity, worst

__all__ = [
    "Metric",
    "STATUSES",
    "status_for",
    "overall_status",
    "metrics_document",
    "write_metrics",
    "read_metrics",
    "status_rank",
    "INFO",
    "is_judged",
]

Status = Literal["ok", "warning", "critical", "unknown", "info"]
#: The status of a metric that has no thresholds: a number shown, not a verdict.
INFO: Literal["info"] = "info"
#: statuses from best to worst: the one severity ladder (:mod:`dsa110_ws.core.severity`)
STATUSES: tuple[str, ...] = tuple(s.value for s in sorted(Severity, key=lambda s: s.rank))


def status_rank(status: str) -> int:
    """Order of a status, best (0) to worst (the severity ladder's rank)."""
    return Severity.parse(status).rank


def status_for(
    value: float | None,
    warning: float | None,
    critical: float | None,
    *,
    higher_is_worse: bool = True,
    strict: bool = False,
) -> Status:
    """The status of ``value`` against its thresholds (a breach is at or beyond them; with
    ``strict``, beyond them only: the convention of the QA checks' ``[qa.*]`` thresholds).

    ``None`` or NaN values are ``unknown``; a metric without thresholds is ``info`` (shown
    neutral, never ``ok``: nothing says a number without thresholds is good).
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "unknown"
    if warning is None and critical is None:
        return INFO
    sign = 1.0 if higher_is_worse else -1.0

    def breached(limit: float | None) -> bool:
        if limit is None:
            return False
        return sign * value > sign * limit if strict else sign * value >= sign * limit

    if breached(critical):
        return "critical"
    if breached(warning):
        return "warning"
    return "ok"


@dataclasses.dataclass(frozen=True)
class Metric:
    """One headline metric.

    Attributes
    ----------
    name
        Stable machine name (``bad_image_fraction``).
    value
        The number (``None`` when it could not be computed).
    unit
        Unit of ``value`` and the thresholds (``""`` for counts and fractions).
    status
        ``ok``, ``warning``, ``critical``, ``unknown`` or ``info`` (no thresholds).
    warning, critical
        Thresholds (``None`` for informational metrics).
    higher_is_worse
        Whether values above the thresholds breach them (else below).
    description
        One line for people: what the metric is.
    detail
        One line for people about this value (``"3 of 8 images graded bad"``, ``"antenna
        pad17 fully flagged in 8 of 8 MS"``); the "needs attention" block quotes it.
    strict
        Whether a breach is beyond the thresholds only (``>``, the ``[qa.*]`` settings'
        convention) rather than at or beyond them (``≥``).
    """

    name: str
    value: float | int | None
    unit: str = ""
    status: Status = "ok"
    warning: float | None = None
    critical: float | None = None
    higher_is_worse: bool = True
    description: str = ""
    detail: str = ""
    strict: bool = False

    @classmethod
    def graded(
        cls,
        name: str,
        value: float | int | None,
        *,
        warning: float | None = None,
        critical: float | None = None,
        higher_is_worse: bool = True,
        unit: str = "",
        description: str = "",
        detail: str = "",
        strict: bool = False,
    ) -> Metric:
        """A metric whose status follows from its value and thresholds (``info`` without)."""
        if isinstance(value, float) and math.isnan(value):
            value = None
        status = status_for(
            value, warning, critical, higher_is_worse=higher_is_worse, strict=strict
        )
        return cls(
            name,
            value,
            unit,
            status,
            warning,
            critical,
            higher_is_worse,
            description,
            detail,
            strict,
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def is_judged(status: str | None) -> bool:
    """Whether a metric status is a verdict on the ladder (not ``info``)."""
    return status != INFO


def overall_status(metrics: Iterable[Metric | dict[str, Any]]) -> str:
    """The worst status among the judged ``metrics`` (``ok`` when there are none);
    ``info`` metrics (no thresholds) do not count."""
    statuses = (m["status"] if isinstance(m, dict) else m.status for m in metrics)
    return worst(s for s in statuses if is_judged(s)).value


def metrics_document(
    metrics: Sequence[Metric],
    *,
    kind: str,
    label: str,
    window: dict[str, Any] | None = None,
    links: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The JSON document of a report's metrics (``links``: e.g. the dashboard view of the
    report's night, which the index page shows)."""
    doc = {
        "report": kind,
        "label": label,
        "status": overall_status(metrics),
        "window": window or {},
        "metrics": [m.to_dict() for m in metrics],
    }
    if links:
        doc["links"] = dict(links)
    return doc


def write_metrics(
    metrics: Sequence[Metric],
    path: str | os.PathLike[str] | None,
    *,
    kind: str,
    label: str,
    window: dict[str, Any] | None = None,
    links: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Write ``metrics.json`` atomically (temp file + ``os.replace``); returns the document.

    With ``path`` empty or ``None`` (a template run by hand) nothing is written.
    """
    doc = metrics_document(metrics, kind=kind, label=label, window=window, links=links)
    if path:
        atomic_write(path, json.dumps(doc, indent=2, allow_nan=False) + "\n")
    return doc


def read_metrics(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a ``metrics.json`` document."""
    return json.loads(Path(path).read_text())
