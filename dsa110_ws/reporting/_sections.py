"""Every report section degrades like a view: an error costs only that section.

A section method decorated with :func:`section` that raises shows one line in its place
("Section not available: ...") instead of stopping the notebook, and the report's
``metrics.json`` (once the headline wrote it) is rewritten with the failure listed under
``section_errors`` and the status raised to at least ``unknown``: a report with a missing
part is never green.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from dsa110_ws.core.atomic import atomic_write
from dsa110_ws.core.severity import Severity, worst
from dsa110_ws.errors import WorkspaceError, one_line
from dsa110_ws.reporting import _display as D

__all__ = ["SectionGuard", "section"]

log = logging.getLogger(__name__)


class SectionGuard:
    """Mixin of the report classes: what failed, and the metrics document to amend."""

    section_errors: list[dict[str, str]]
    _metrics_path: str | None = None
    _metrics_doc: dict[str, Any] | None = None

    def _remember_metrics(self, path: str | None, doc: dict[str, Any]) -> None:
        self._metrics_path, self._metrics_doc = path or None, doc
        self._amend_metrics()

    def _amend_metrics(self) -> None:
        errors = getattr(self, "section_errors", [])
        doc = self._metrics_doc
        if doc is None or not errors:
            return
        doc["section_errors"] = list(errors)
        doc["status"] = worst([Severity.parse(doc.get("status")), Severity.UNKNOWN]).value
        if self._metrics_path:
            import json

            atomic_write(self._metrics_path, json.dumps(doc, indent=2, allow_nan=False) + "\n")

    def _section_failed(self, name: str, exc: Exception) -> D.HTMLBlock:
        if not hasattr(self, "section_errors"):
            self.section_errors = []
        line = one_line(exc)
        if not isinstance(exc, WorkspaceError):
            log.error("report section %s failed", name, exc_info=exc)
            line = f"unexpected error (please report it): {line}"
        self.section_errors.append({"section": name, "error": line})
        self._amend_metrics()
        return D.note(f"Section not available: {line}", kind="unavailable")


def section(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a report method as a section: an exception becomes a one-line note."""

    @functools.wraps(fn)
    def wrapper(self: SectionGuard, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(self, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - shown in place, logged, status raised
            return self._section_failed(fn.__name__, exc)

    return wrapper
