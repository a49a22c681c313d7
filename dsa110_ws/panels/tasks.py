"""TaskQueuePanel: the pipeline's task queue (``w.tasks``): counts, a filterable task table,
the selected task's detail, retry and cancel (only when writes are allowed, confirmed)."""

from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import pandas as pd
import traitlets

from dsa110_ws.core.severity import Severity
from dsa110_ws.panels._base import Panel, truncation_allowed
from dsa110_ws.panels._confirm import ConfirmBar
from dsa110_ws.panels._format import short_path
from dsa110_ws.panels._table import DataTable
from dsa110_ws.panels._widgets import kv_html, section

if TYPE_CHECKING:
    from dsa110_ws.services.operations import TaskInfo
    from dsa110_ws.workspace import Workspace

__all__ = ["TaskQueuePanel", "STATUS_COLOURS"]

#: Task statuses on the severity ladder's colours (running and waiting are not bad news).
STATUS_COLOURS = {
    "pending": Severity.UNKNOWN.colour,
    "claimed": "#0969da",
    "completed": Severity.OK.colour,
    "failed": Severity.CRITICAL.colour,
    "cancelled": "#8c959f",
    "retrying": Severity.WARNING.colour,
}
STATUS_CHOICES = ("any", "pending", "claimed", "failed", "completed", "cancelled", "retrying")
WINDOWS = {"last hour": "1h", "last 24 h": "24h", "last 7 days": "7d", "all": None}


def _when(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return ""
    return pd.Timestamp(value).tz_convert("UTC").strftime("%m-%d %H:%M")


def _age(seconds: Any) -> str:
    try:
        s = float(seconds)
    except (TypeError, ValueError):
        return ""
    return f"{s / 3600:.1f} h" if s >= 3600 else f"{s / 60:.0f} min"


class TaskQueuePanel(Panel):
    """Counts per queue and status, the tasks (filter by queue, status, task name, worker
    and window), the selected task whole, stuck tasks; retry and cancel when writes are
    allowed, each confirmed first.  State: ``stats``, ``tasks``, ``stuck``, ``summary``,
    ``selected_task`` and its ``info``."""

    shared_params = (
        "queue_filter",
        "status_filter",
        "name_filter",
        "worker_filter",
        "window",
    )  # the same for every viewer: shared (w.shared)

    title = "Task queue"
    queue_filter = traitlets.Unicode("any")
    status_filter = traitlets.Unicode("any")
    name_filter = traitlets.Unicode("")
    worker_filter = traitlets.Unicode("")
    window = traitlets.Unicode("last 24 h")
    pending_action = traitlets.Unicode("")
    #: The task shown in detail and acted on (picked in the task or the stuck table).
    selected_task = traitlets.Unicode(None, allow_none=True)

    def __init__(self, workspace: Workspace, *, status: str = "any", **kwargs: Any):
        self.stats = pd.DataFrame()
        self.tasks = pd.DataFrame()
        self.stuck = pd.DataFrame()
        self.info: TaskInfo | None = None
        self.summary: dict[str, Any] | None = None
        self._note: tuple[str, str] | None = None
        self._acted_on: str | None = None
        super().__init__(workspace, **kwargs)
        self.status_select.value = status
        self.observe(
            self.guard(lambda _: self.refresh()),
            ["queue_filter", "status_filter", "name_filter", "worker_filter", "window"],
        )
        self.refresh()

    def _build(self) -> list[widgets.Widget]:
        self.queue_select = widgets.Dropdown(options=["any"], description="queue")
        self.status_select = widgets.Dropdown(options=list(STATUS_CHOICES), description="status")
        self.name_text = widgets.Text(description="task", placeholder="task name")
        self.worker_text = widgets.Text(description="worker", placeholder="worker id")
        self.window_select = widgets.Dropdown(options=list(WINDOWS), description="created")
        self.link_values(
            (self.queue_select, "queue_filter"),
            (self.status_select, "status_filter"),
            (self.name_text, "name_filter"),
            (self.worker_text, "worker_filter"),
            (self.window_select, "window"),
        )
        self.counts_html = widgets.HTML()
        self.counts_html.add_class("dsa-queue-counts")
        self.task_table = DataTable(
            columns=[
                "task_name",
                "status",
                "queue_name",
                "worker_id",
                "attempt",
                "created",
                "error",
            ],
            labels={
                "task_name": "task",
                "queue_name": "queue",
                "worker_id": "worker",
                "created": "created (UTC)",
            },
            page_size=12,
            highlight=lambda r: Severity.CRITICAL.background if r["status"] == "failed" else None,
            empty_text="No tasks match these filters.",
        )
        self.task_table.add_class("dsa-task-table")
        self.task_table.add_class("dsa-pipeline-text")  # shows the pipeline's error texts
        self.stuck_table = DataTable(
            columns=["task_name", "worker_id", "held", "limit", "task"],
            labels={"task_name": "task name", "worker_id": "worker", "limit": "time limit"},
            page_size=5,
            highlight=lambda r: Severity.WARNING.background,
            empty_text="No task is held past its timeout.",
        )
        self.stuck_table.add_class("dsa-stuck-tasks")
        self.detail = widgets.HTML()
        self.detail.add_class("dsa-pipeline-text")
        for table in (self.task_table, self.stuck_table):  # either table picks "the" task
            table.observe(self.guard(lambda c: self._pick(c["new"], c["old"])), "selected")
        self.observe(self.guard(self._selected), "selected_task")
        filters = widgets.HBox([self.queue_select, self.status_select, self.window_select])
        more = widgets.HBox([self.name_text, self.worker_text])
        return [
            self.counts_html,
            filters,
            more,
            section("Tasks", self.task_table),
            self._build_actions(),
            self.detail,
            section("Stuck tasks", self.stuck_table),
        ]

    def _build_actions(self) -> widgets.Widget:
        if not self.w.settings.allow_writes:
            return widgets.HTML("<i>Read-only: retry and cancel need DSA110_WS_ALLOW_WRITES=1.</i>")
        self.retry_button = widgets.Button(description="Retry task", icon="redo", disabled=True)
        self.cancel_button = widgets.Button(description="Cancel task", icon="ban", disabled=True)
        self.confirm_box = ConfirmBar(self.guard(self.confirm), self.guard(self.abort))
        self.retry_button.on_click(self.guard(lambda _: self._ask("retry")))
        self.cancel_button.on_click(self.guard(lambda _: self._ask("cancel")))
        return widgets.VBox(
            [widgets.HBox([self.retry_button, self.cancel_button]), self.confirm_box]
        )

    # -- data ------------------------------------------------------------------------------
    def _load(self) -> dict[str, Any]:
        try:
            return self._read()
        except Exception:
            self.summary = None  # no stale headline numbers once a refresh failed
            raise

    def _read(self) -> dict[str, Any]:
        t = self.w.tasks
        stats, stuck = t.stats(), t.stuck(limit=None)
        with truncation_allowed():
            listed = t.list(
                queue=None if self.queue_filter == "any" else self.queue_filter,
                status=None if self.status_filter == "any" else self.status_filter,
                name=self.name_filter.strip() or None,
                worker=self.worker_filter.strip() or None,
                since=WINDOWS[self.window],
                limit=500,
            )
        return {
            "stats": stats,
            "summary": t.summary(stats=stats, stuck=stuck),
            "tasks": listed,
            "stuck": stuck,
            "where": t.describe(),
        }

    def _show(self, data: dict[str, Any]) -> None:
        self.stats, self.tasks, self.stuck = data["stats"], data["tasks"], data["stuck"]
        self.summary = data["summary"]
        self.counts_html.value = _counts_html(self.stats)
        queues = ["any", *[str(q) for q in self.stats["queue_name"]]]
        if self.queue_filter not in queues:
            queues.append(self.queue_filter)
        self.queue_select.options = queues
        tasks = self.tasks.assign(
            task_id=[str(t) for t in self.tasks["task_id"]],
            created=[_when(t) for t in self.tasks["created_at"]],
        )
        self.task_table.set_data(tasks.set_index("task_id", drop=False), keep_page=True)
        st = self.stuck.assign(task_id=[str(t) for t in self.stuck["task_id"]])
        self.stuck_table.set_data(
            st.assign(
                held=[_age(a) for a in st["age_s"]],
                limit=[_age(x) for x in st["limit_s"]],
                task=[t[:8] for t in st["task_id"]],
            ).set_index("task_id", drop=False),
            keep_page=True,
        )
        shown = set(tasks["task_id"]) | set(st["task_id"])
        if self._note is not None and self._acted_on:  # keep showing what was just acted on
            shown.add(self._acted_on)
        if self.selected_task is not None and self.selected_task not in shown:
            self.selected_task = None  # it left both tables: drop its detail
        elif self.selected_task is not None:
            self._selected({"new": self.selected_task})  # its status may have changed
        cut = " (first 500 shown)" if self.tasks.attrs.get("truncated") else ""
        note, self._note = self._note, None
        text = f"{len(self.tasks)} tasks{cut}, {len(st)} stuck ({data['where']})"
        if note is not None:
            self.show_status(f"{note[0]} {text}", note[1])
        else:
            self.show_status(text, "warning" if len(st) else "ok")

    # -- selection --------------------------------------------------------------------------
    def _pick(self, task_id: Any, old: Any = None) -> None:
        if task_id is not None:
            self.selected_task = str(task_id)
        elif old is not None and str(old) == self.selected_task and not self._acted_on:
            self.selected_task = None  # unselected, or filtered away in the page

    def select(self, task_id: str) -> None:
        """Show this task's detail (and act on it), wherever it is listed."""
        self.selected_task = str(task_id)

    def _selected(self, change: dict) -> None:
        tid = change["new"]
        for name in ("retry_button", "cancel_button"):
            if hasattr(self, name):
                getattr(self, name).disabled = tid is None
        if tid is None:
            self.detail.value, self.info = "", None
            return
        self.run(
            lambda: self.w.tasks.show(tid),
            self._show_task,
            what="reading the task",
            channel="detail",
        )

    def _show_task(self, info: TaskInfo) -> None:
        self.info = info
        fields = [
            ("task", f"{info.task_name} ({info.task_id})"),
            ("queue", info.queue_name),
            ("status", info.status),
            ("worker", info.worker_id),
            ("attempt", f"{info.attempt} of {info.max_retries}"),
            ("created", _when(info.created_at)),
            ("claimed", _when(info.claimed_at)),
            ("finished", _when(info.completed_at)),
            ("waited / ran", f"{_age(info.wait_time_sec)} / {_age(info.execution_time_sec)}"),
            ("held for", _age(info.age_s)),
            ("MS", short_path(info.ms_path)),
            ("workflow", info.workflow_id),
            ("depends on", len(info.depends_on)),
        ]
        error = (
            f"<pre class='dsa-task-error' style='white-space:pre-wrap;color:"
            f"{Severity.CRITICAL.colour}'>{html.escape(info.error)}</pre>"
            if info.error
            else ""
        )
        params = html.escape(json.dumps(info.params, indent=1, default=str)[:2000])
        log = (
            f"<details class='dsa-task-log' open><summary>log of job {info.job_id} (last "
            f"lines)</summary><pre style='white-space:pre-wrap;font-size:11px'>"
            f"{html.escape(info.log_excerpt)}</pre></details>"
            if info.log_excerpt
            else ""
        )
        self.detail.value = (
            kv_html(fields, title="Task")
            + error
            + log
            + f"<details><summary>params</summary><pre>{params}</pre></details>"
        )

    # -- actions ----------------------------------------------------------------------------
    def _ask(self, action: str) -> None:
        tid = self.selected_task
        if tid is None:
            self.show_status("Select a task first.", "warning")
            return
        self.pending_action = f"{action}:{tid}"
        self.confirm_box.ask(f"Really {action} task {str(tid)[:8]}...?")

    def abort(self) -> None:
        """Drop the action waiting for confirmation."""
        self.pending_action = ""
        if hasattr(self, "confirm_box"):
            self.confirm_box.hide()
        self.show_status("Nothing changed.", "info")

    def confirm(self) -> None:
        """Perform the action waiting for confirmation (through ``w.tasks``)."""
        action, _, tid = self.pending_action.partition(":")
        self.pending_action = ""
        self.confirm_box.hide()
        if not action:
            return
        fn = self.w.tasks.retry if action == "retry" else self.w.tasks.cancel
        self.run(lambda: fn(tid), self._acted, what=f"{action} {tid[:8]}", channel="action")

    def _acted(self, result: Any) -> None:
        verb = result.action.removeprefix("task_")
        self._acted_on = str(result.target)
        self._note = (
            f"{verb} {result.target[:8]}: {result.before['status']} -> "
            f"{result.after['status']} (audit record {result.audit_id}).",
            "ok",
        )
        self.refresh()  # the note stays on the status line with the new counts


def _counts_html(stats: pd.DataFrame) -> str:
    """One line per queue: each status count in its colour."""
    lines = []
    for _, row in stats.iterrows():
        parts = " &middot; ".join(
            f"<span data-status='{s}' style='color:{STATUS_COLOURS[s]}'>{s} <b>{int(row[s])}</b>"
            f"</span>"
            for s in STATUS_COLOURS
            if s in row
        )
        lines.append(
            f"<div data-queue='{html.escape(str(row['queue_name']))}'><b>"
            f"{html.escape(str(row['queue_name']))}</b>: {parts}</div>"
        )
    return "".join(lines) or "<i>No queues.</i>"
