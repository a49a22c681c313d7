"""Every report section degrades like a view: an error costs only that section.

A section method decorated with :func:`section` that raises shows one line in its place
("Section not available: ...") instead of stopping the notebook, and:

* the report's ``metrics.json`` (once the headline wrote it) is rewritten with the failure
  listed under ``section_errors`` and the status raised to at least ``warning``: a report
  with a missing part is never green;
* the top of the report (the overall status and the "needs attention" block, shown by the
  header before the other sections ran) is re-rendered in place with a line
  ``Section <name> failed: <reason>``, whatever the order in which the sections run.  It is
  a Jupyter display with an id (``display(..., display_id=True)``), which the kernel updates
  and nbclient/papermill rewrite in the executed notebook, so the rendered HTML shows the
  final block.  Outside a kernel the block is simply returned inline.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from typing import Any

from dsa110_ws.core.atomic import atomic_write
from dsa110_ws.core.severity import Severity, worst
from dsa110_ws.errors import WorkspaceError, one_line
from dsa110_ws.reporting import _display as D

__all__ = ["SectionGuard", "section", "report_status"]

log = logging.getLogger(__name__)


def report_status(metrics: Sequence[Any], section_errors: Sequence[dict[str, str]]) -> str:
    """The overall status of a report: the worst judged metric, at least ``warning`` when a
    section failed (what it would have shown is missing)."""
    from dsa110_ws.reporting._metric import overall_status

    floor = [Severity.WARNING] if section_errors else []
    return worst([overall_status(metrics), *floor]).value


def _display_handle(block: D.HTMLBlock) -> Any:
    """Display ``block`` with a display id when running in a kernel (its handle), else
    ``None`` (nothing displayed)."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # pragma: no cover - IPython comes with the notebook stack
        return None
    shell = get_ipython()
    if shell is None or getattr(shell, "kernel", None) is None:
        return None
    return display(block, display_id=True)


class SectionGuard:
    """Mixin of the report classes: what failed, the metrics document to amend and the
    blocks shown at the top that a failure re-renders."""

    section_errors: list[dict[str, str]]
    _metrics_path: str | None = None
    _metrics_doc: dict[str, Any] | None = None
    _live: dict[str, tuple[Any, Callable[[], D.HTMLBlock]]]

    def metrics(self) -> list[Any]:  # pragma: no cover - every report defines it
        raise NotImplementedError

    @property
    def failed_sections(self) -> list[dict[str, str]]:
        """``{"section", "error"}`` of each section that failed so far."""
        if not hasattr(self, "section_errors"):
            self.section_errors = []
        return self.section_errors

    def status_block(self) -> D.HTMLBlock:
        """ "Overall status: <badge>" from the metrics and the sections failed so far."""
        status = report_status(self.metrics(), self.failed_sections)
        return D.HTMLBlock(f"<p>Overall status: {D.badge(status)}</p>", text=f"Overall {status}")

    def top_block(self) -> D.HTMLBlock:
        """The overall status and the "needs attention" block (metrics that breached a
        threshold and sections that failed, worst first, at most five lines)."""
        from dsa110_ws.reporting.attention import attention_html, needs_attention

        lines = needs_attention(self.metrics(), section_errors=self.failed_sections)
        return D.join(
            self.status_block(),
            D.HTMLBlock(
                attention_html(lines), text="\n".join(f"{ln.severity}: {ln.text}" for ln in lines)
            ),
        )

    def _live_block(self, key: str, render: Callable[[], D.HTMLBlock]) -> list[D.HTMLBlock]:
        """Show ``render()`` now and re-render it whenever a section fails: ``[]`` when it
        was displayed live (in a kernel), else ``[block]`` for the caller to return."""
        block = render()
        handle = _display_handle(block)
        if handle is None:
            return [block]
        if not hasattr(self, "_live"):
            self._live = {}
        self._live[key] = (handle, render)
        return []

    def _refresh_live(self) -> None:
        for key, (handle, render) in getattr(self, "_live", {}).items():
            try:
                handle.update(render())
            except Exception:  # noqa: BLE001 - the failure is already shown in its place
                log.exception("could not re-render the report's %s block", key)

    def _remember_metrics(self, path: str | None, doc: dict[str, Any]) -> None:
        self._metrics_path, self._metrics_doc = path or None, doc
        self._amend_metrics()

    def _amend_metrics(self) -> None:
        errors = self.failed_sections
        doc = self._metrics_doc
        if doc is None or not errors:
            return
        doc["section_errors"] = list(errors)
        doc["status"] = worst([Severity.parse(doc.get("status")), Severity.WARNING]).value
        if self._metrics_path:
            import json

            atomic_write(self._metrics_path, json.dumps(doc, indent=2, allow_nan=False) + "\n")

    def _section_failed(self, name: str, exc: Exception) -> D.HTMLBlock:
        line = one_line(exc)
        if not isinstance(exc, WorkspaceError):
            log.error("report section %s failed", name, exc_info=exc)
            line = f"unexpected error (please report it): {line}"
        self.failed_sections.append({"section": name, "error": line})
        self._amend_metrics()
        self._refresh_live()
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
