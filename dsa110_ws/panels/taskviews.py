"""WorkersPanel, FailuresPanel and WorkflowPanel: the task queue seen by worker, by cause
of failure and by workflow (``w.tasks``)."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import pandas as pd
import traitlets

from dsa110_ws.core.severity import Severity
from dsa110_ws.panels._base import Panel, truncation_allowed
from dsa110_ws.panels._confirm import ConfirmBar
from dsa110_ws.panels._paged import PagedTable
from dsa110_ws.panels._table import DataTable
from dsa110_ws.panels._widgets import figure_png, new_figure, plot_locked, png_widget
from dsa110_ws.panels.tasks import _when

if TYPE_CHECKING:
    from dsa110_ws.workspace import Workspace

__all__ = ["WorkersPanel", "FailuresPanel", "WorkflowPanel"]

WINDOWS = {"last hour": "1h", "last 24 h": "24h", "last 7 days": "7d"}


class WorkersPanel(Panel):
    """Every worker seen in the window: running tasks, last claim, done, failed, failure
    rate (``workers`` after a refresh)."""

    shared_params = ("window",)  # the same for every viewer: shared (w.shared)

    title = "Workers"
    window = traitlets.Unicode("last 24 h")

    def __init__(self, workspace: Workspace, **kwargs: Any):
        self.workers = pd.DataFrame()
        super().__init__(workspace, **kwargs)
        self.observe(self.guard(lambda _: self.refresh()), "window")
        self.refresh()

    def _build(self) -> list[widgets.Widget]:
        self.window_select = widgets.Dropdown(options=list(WINDOWS), description="window")
        self.link_values((self.window_select, "window"))
        self.table = PagedTable(
            columns=["worker_id", "running", "last_claim", "done", "failed", "failure_rate_pct"],
            page_size=10,
            empty_text="No worker claimed a task in this window.",
            highlight=lambda r: Severity.WARNING.background if r["failed"] else None,
        )
        self.table.add_class("dsa-workers-table")
        return [self.window_select, self.table]

    def _load(self) -> pd.DataFrame:
        return self.w.tasks.workers(since=WINDOWS[self.window])

    def _show(self, df: pd.DataFrame) -> None:
        self.workers = df
        self.table.set_data(
            df.assign(
                last_claim=[_when(t) for t in df["last_claim"]],
                failure_rate_pct=[
                    ("" if pd.isna(r) else f"{100 * r:.0f}%") for r in df["failure_rate"]
                ],
            ),
            keep_page=True,
        )
        self.show_status(f"{len(df)} workers, {int(df['running'].sum())} tasks running", "ok")


class FailuresPanel(Panel):
    """Failed tasks of the window grouped by cause (ids, paths and numbers normalised), most
    frequent first; with writes allowed, one confirmed action retries a whole group."""

    shared_params = ("window",)  # the same for every viewer: shared (w.shared)

    title = "Failures by cause"
    window = traitlets.Unicode("last 24 h")
    pending_cause = traitlets.Unicode("")

    def __init__(self, workspace: Workspace, **kwargs: Any):
        self.failures = pd.DataFrame()
        self._note: tuple[str, str] | None = None
        super().__init__(workspace, **kwargs)
        self.observe(self.guard(lambda _: self.refresh()), "window")
        self.refresh()

    def _build(self) -> list[widgets.Widget]:
        self.window_select = widgets.Dropdown(options=list(WINDOWS), description="window")
        self.link_values((self.window_select, "window"))
        self.table = DataTable(
            columns=["n", "cause", "task_names", "last"],
            labels={"n": "failures", "task_names": "tasks", "last": "last (UTC)"},
            page_size=8,
            empty_text="No task failed in this window.",
        )
        self.table.add_class("dsa-failures-table")
        self.table.add_class("dsa-pipeline-text")  # the pipeline's error texts, grouped
        kids: list[widgets.Widget] = [self.window_select, self.table]
        if self.w.settings.allow_writes:
            self.retry_button = widgets.Button(description="Retry this group", icon="redo")
            self.confirm_box = ConfirmBar(self.guard(self.confirm))
            self.retry_button.on_click(self.guard(lambda _: self.ask()))
            kids += [self.retry_button, self.confirm_box]
        return kids

    def _load(self) -> pd.DataFrame:
        with truncation_allowed():  # the status line says when only the newest were grouped
            return self.w.tasks.failures(since=WINDOWS[self.window])

    def _show(self, df: pd.DataFrame) -> None:
        self.failures = df
        show = df.assign(
            task_names=[", ".join(n) for n in df["task_names"]],
            last=[_when(t) for t in df["last_at"]],
        )
        self.table.set_data(show.set_index("cause", drop=False), keep_page=True)
        cut = " (newest failures only)" if df.attrs.get("truncated") else ""
        text = f"{int(df['n'].sum()) if len(df) else 0} failures, {len(df)} causes" + cut
        note, self._note = self._note, None
        if note is not None:
            self.show_status(f"{note[0]} Now {text}.", note[1])
        else:
            self.show_status(text, "warning" if len(df) else "ok")

    def ask(self) -> None:
        """Ask for confirmation before retrying the selected group."""
        cause = self.table.selected
        if cause is None:
            self.show_status("Select a cause first.", "warning")
            return
        n = int(self.failures.set_index("cause").loc[cause, "n"])
        self.pending_cause = str(cause)
        self.confirm_box.ask(f"Retry all {n} tasks of this cause?")

    def confirm(self) -> None:
        """Retry the group waiting for confirmation; report how many were retried."""
        cause, self.pending_cause = self.pending_cause, ""
        self.confirm_box.hide()
        if not cause:
            return
        since = WINDOWS[self.window]
        self.run(
            lambda: self.w.tasks.retry_failures(cause, since=since),
            self._retried,
            what="retrying a failure group",
            channel="action",
        )

    def _retried(self, out: dict[str, Any]) -> None:
        why = "; ".join(sorted({v.split(":")[-1].strip() for v in out["refused"].values()}))
        self._note = (
            f"{out['n_retried']} retried, {out['n_refused']} not"
            + (f" ({why[:120]})" if why else "")
            + ".",
            "ok" if not out["n_refused"] else "warning",
        )
        self.refresh()  # the outcome stays on the status line


class WorkflowPanel(Panel):
    """Workflows with their progress, and the selected one's dependency graph."""

    title = "Workflows"

    def __init__(self, workspace: Workspace, **kwargs: Any):
        self.workflows = pd.DataFrame()
        super().__init__(workspace, **kwargs)
        self.refresh()

    def _build(self) -> list[widgets.Widget]:
        self.table = DataTable(
            columns=["name", "status", "progress_pct", "n_tasks", "n_failed", "created"],
            labels={"progress_pct": "progress", "n_tasks": "tasks", "n_failed": "failed"},
            page_size=6,
            empty_text="No workflows.",
        )
        self.graph = png_widget()
        self.graph.add_class("dsa-workflow-graph")
        self.table.observe(self.guard(self._selected), "selected")
        return [self.table, self.graph]

    def _load(self) -> pd.DataFrame:
        return self.w.tasks.workflows()

    def _show(self, df: pd.DataFrame) -> None:
        self.workflows = df
        show = df.assign(
            workflow_id=[str(w) for w in df["workflow_id"]],
            progress_pct=[f"{100 * p:.0f}%" for p in df["progress"]],
            created=[_when(t) for t in df["created_at"]],
        )
        self.table.set_data(show.set_index("workflow_id", drop=False), keep_page=True)
        if len(show) and self.table.selected is None:
            self.table.select(show["workflow_id"].iloc[0])
        self.show_status(f"{len(df)} workflows", "ok")

    def _selected(self, change: dict) -> None:
        wid = change["new"]
        if wid is None:
            return
        self.run(
            lambda: _graph_png(self.w, str(wid)),
            lambda png: setattr(self.graph, "value", png),
            what="drawing the workflow",
            channel="graph",
        )


@plot_locked
def _graph_png(w: Workspace, workflow_id: str) -> bytes:
    graph = w.tasks.workflow_graph(workflow_id)
    fig = new_figure(7.5, 1.0 + 0.6 * max(2, len(graph["nodes"]) // 2))
    w.tasks.plot_workflow(workflow_id, fig.subplots())
    return figure_png(fig)


def _escape(text: Any) -> str:
    return html.escape(str(text))
