"""LogViewer: a run's log file, filtered by level and regex, with follow mode."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import pandas as pd
import traitlets

from dsa110_ws.core.severity import Severity
from dsa110_ws.panels._base import Panel

if TYPE_CHECKING:
    from dsa110_ws.workspace import Workspace

__all__ = ["LogViewer"]

LEVEL_CHOICES = ["any", "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
#: Log levels on the severity ladder's colours.
_COLOURS = {
    "WARNING": Severity.WARNING.colour,
    "ERROR": Severity.CRITICAL.colour,
    "CRITICAL": Severity.CRITICAL.colour,
    "DEBUG": Severity.UNKNOWN.colour,
}
#: Lines kept in the kernel; only the last ``max_lines`` go to the browser.
KEEP_LINES = 20_000


class LogViewer(Panel):
    """One run's log from ``w.logs``: level and regex filters, and a follow mode that
    appends new lines (read incrementally from a remembered byte offset)."""

    title = "Run log"
    refresh_label = "follow"
    run_id = traitlets.Unicode("")
    level = traitlets.Unicode("any")
    pattern = traitlets.Unicode("")
    max_lines = traitlets.Int(500)

    def __init__(
        self,
        workspace: Workspace,
        run_id: str | None = None,
        *,
        follow: bool = False,
        interval_s: float = 2.0,
        max_lines: int = 500,
        **kwargs: Any,
    ):
        self.lines = pd.DataFrame()
        self.runs = pd.DataFrame()
        self.offset = 0
        self._loaded: tuple[str, str, str] | None = None
        super().__init__(workspace, refresh_s=interval_s, **kwargs)
        self.max_lines = max_lines
        self.run(lambda: self.w.logs.runs(), self._set_runs, what="listing runs")
        if run_id:
            self.run_box.value = run_id
        self.observe(self.guard(lambda _: self.reload()), ["run_id", "level", "pattern"])
        self.observe(self.guard(lambda _: self._render()), ["max_lines"])
        if self.run_id:
            self.reload()
        if follow and self.auto is not None:
            self.auto.enabled = True

    def _build(self) -> list[widgets.Widget]:
        self.run_box = widgets.Combobox(
            placeholder="run id, e.g. calibrate-000026",
            description="run",
            ensure_option=False,
            continuous_update=False,
        )
        self.level_select = widgets.Dropdown(options=LEVEL_CHOICES, description="level")
        self.pattern_text = widgets.Text(
            placeholder="regular expression", description="grep", continuous_update=False
        )
        self.link_values(
            (self.run_box, "run_id"), (self.level_select, "level"), (self.pattern_text, "pattern")
        )
        self.text = widgets.HTML()
        self.info = widgets.Label()
        return [
            widgets.HBox([self.run_box, self.level_select, self.pattern_text]),
            self.info,
            self.text,
        ]

    def _set_runs(self, runs: pd.DataFrame) -> None:
        self.runs = runs
        self.run_box.options = [str(r) for r in runs["run_id"][:500]]
        if not self.run_id and len(runs):
            self.run_box.value = str(runs["run_id"].iloc[0])

    def reload(self) -> None:
        """Read the current run from the start with the current filters."""
        self._loaded = None
        self.refresh()

    def _load(self) -> tuple[str, tuple[str, str, str], pd.DataFrame, int]:
        key = (self.run_id, self.level, self.pattern)
        if not self.run_id:
            return "replace", key, pd.DataFrame(), 0
        level = None if self.level == "any" else self.level
        pattern = self.pattern or None
        if key == self._loaded:
            df, off = self.w.logs.follow(self.run_id, self.offset, level=level, pattern=pattern)
            # a replaced or truncated file: its lines so far are another file's
            return ("replace" if df.attrs.get("restarted") else "append"), key, df, off
        # the last lines, read from the end of the file (a huge log is never read whole)
        df, off = self.w.logs.start_follow(self.run_id, KEEP_LINES, level=level, pattern=pattern)
        return "replace", key, df, off

    def _show(self, data: tuple[str, tuple[str, str, str], pd.DataFrame, int]) -> None:
        mode, key, df, off = data
        if mode == "append" and key != self._loaded:
            return  # the filters changed meanwhile; a reload is queued
        if mode == "append":
            if not df.empty:
                self.lines = pd.concat([self.lines, df], ignore_index=True).tail(KEEP_LINES)
        else:
            self.lines = df.reset_index(drop=True)
        self.offset, self._loaded = off, key
        self._render()

    def _render(self) -> None:
        shown = self.lines.tail(self.max_lines) if len(self.lines) else self.lines
        rows = []
        for _, r in shown.iterrows():
            colour = _COLOURS.get(str(r["level"]), "inherit")
            rows.append(f"<span style='color:{colour}'>{html.escape(str(r['raw']))}</span>")
        self.text.value = (
            "<pre class='dsa-log' style='font-size:11px;max-height:30em;"
            "overflow:auto;white-space:pre-wrap'>" + "\n".join(rows) + "</pre>"
        )
        n_err = (
            int((self.lines["level"].isin(["ERROR", "CRITICAL"])).sum()) if len(self.lines) else 0
        )
        self.info.value = (
            f"{len(self.lines)} lines ({n_err} errors), showing the last "
            f"{len(shown)}; byte offset {self.offset}"
        )
        if self.run_id:
            self.show_status(f"{self.run_id}: {len(self.lines)} lines", "ok")
