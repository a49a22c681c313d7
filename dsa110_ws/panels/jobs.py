"""JobMonitor: jobs and batch jobs with progress, filters, failure reasons and actions."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import pandas as pd
import traitlets

from dsa110_ws.core.severity import Severity
from dsa110_ws.panels._base import Panel
from dsa110_ws.panels._confirm import ConfirmBar
from dsa110_ws.panels._format import unix_text
from dsa110_ws.panels._table import DataTable
from dsa110_ws.panels._widgets import fmt_value, kv_html, section

if TYPE_CHECKING:
    from dsa110_ws.workspace import Workspace

__all__ = ["JobMonitor"]

#: status filter label -> stored statuses (None: any)
STATUS_CHOICES: dict[str, list[str] | None] = {
    "any": None,
    "failed": ["failed", "error"],
    "running": ["running"],
    "pending": ["pending"],
    "succeeded": ["done", "completed"],
    "cancelled": ["cancelled"],
}
#: window label -> days (None: everything)
WINDOWS: dict[str, float | None] = {
    "last 24 h": 1.0,
    "last 7 days": 7.0,
    "last 30 days": 30.0,
    "all": None,
}
_FAILED_BG = Severity.CRITICAL.background
_NO_DETAIL = "<i style='color:#555'>Click a job or a batch job to see its detail here.</i>"


class JobMonitor(Panel):
    """Jobs and batch jobs from ``w.jobs``; rerun/cancel through ``w.actions``.

    Traits ``status_filter``, ``type_filter`` and ``window`` drive the tables; the
    rerun and cancel buttons exist only when ``w.settings.allow_writes`` is on, and each
    asks for confirmation before it acts.  ``job_id`` (a deep link) selects that job once
    the table has loaded.
    """

    shared_params = (
        "status_filter",
        "type_filter",
        "window",
    )  # the same for every viewer: shared (w.shared)

    title = "Jobs"
    status_filter = traitlets.Unicode("any")
    type_filter = traitlets.Unicode("any")
    window = traitlets.Unicode("last 24 h")
    pending_action = traitlets.Unicode("")

    def __init__(
        self,
        workspace: Workspace,
        *,
        status: str = "any",
        window: str = "last 24 h",
        page_size: int = 15,
        job_id: int | None = None,
        **kwargs: Any,
    ):
        self._page_size = page_size
        self._want_job = job_id
        self.summary: Any = None
        self.jobs = pd.DataFrame()
        self.batches = pd.DataFrame()
        super().__init__(workspace, **kwargs)
        self.status_select.value = status
        self.window_select.value = window
        self.observe(
            self.guard(lambda _: self.refresh()), ["status_filter", "type_filter", "window"]
        )
        self.refresh()

    # -- layout -------------------------------------------------------------------------
    def _build(self) -> list[widgets.Widget]:
        self.status_select = widgets.Dropdown(options=list(STATUS_CHOICES), description="status")
        self.type_select = widgets.Dropdown(options=["any"], description="type")
        self.window_select = widgets.Dropdown(options=list(WINDOWS), description="created")
        self.link_values(
            (self.status_select, "status_filter"),
            (self.type_select, "type_filter"),
            (self.window_select, "window"),
        )
        self.summary_html = widgets.HTML()
        self.status_select.add_class("dsa-jobs-status")
        self.job_table = DataTable(
            columns=["id", "type", "status", "created", "duration_s", "failure_reason", "ms_path"],
            labels={
                "created": "created (UTC)",
                "duration_s": "duration (s)",
                "failure_reason": "failure reason",
                "ms_path": "MS",
            },
            decimals={"duration_s": 1},
            paths=("ms_path",),
            page_size=self._page_size,
            highlight=lambda r: _FAILED_BG if r["status"] in ("failed", "error") else None,
            empty_text="No jobs match these filters.",
        )
        self.job_table.add_class("dsa-jobs-table")
        self.batch_table = DataTable(
            columns=["id", "type", "status", "items", "n_failed", "progress_pct", "created"],
            labels={"progress_pct": "progress", "created": "created (UTC)", "n_failed": "failed"},
            page_size=8,
            empty_text="No batch jobs in this window.",
        )
        self.batch_table.add_class("dsa-batches-table")
        self.detail = widgets.HTML(_NO_DETAIL, layout=widgets.Layout(width="100%"))
        self.detail.add_class("dsa-jobs-detail")
        self.job_table.observe(self.guard(self._job_selected), "selected")
        self.batch_table.observe(self.guard(self._batch_selected), "selected")
        self.actions_box = widgets.VBox(self._build_actions())
        filters = widgets.HBox([self.status_select, self.type_select, self.window_select])
        tables = widgets.VBox(
            [section("Jobs", self.job_table), section("Batch jobs", self.batch_table)],
            layout=widgets.Layout(flex="3 1 0", min_width="0"),
        )
        side = widgets.VBox(
            [self.actions_box, self.detail], layout=widgets.Layout(flex="2 1 0", min_width="0")
        )
        return [
            filters,
            self.summary_html,
            widgets.HBox([tables, side], layout=widgets.Layout(width="100%", grid_gap="12px")),
        ]

    def _build_actions(self) -> list[widgets.Widget]:
        self.rerun_button = widgets.Button(description="Rerun job", icon="redo", disabled=True)
        self.cancel_button = widgets.Button(description="Cancel batch", icon="ban", disabled=True)
        self.confirm_box = ConfirmBar(self.guard(self.confirm), self.guard(self.abort))
        self.rerun_button.on_click(self.guard(lambda _: self._ask("rerun")))
        self.cancel_button.on_click(self.guard(lambda _: self._ask("cancel")))
        if not self.w.settings.allow_writes:
            return [
                widgets.HTML("<i>Read-only: rerun and cancel need DSA110_WS_ALLOW_WRITES=1.</i>")
            ]
        return [widgets.HBox([self.rerun_button, self.cancel_button]), self.confirm_box]

    # -- data ---------------------------------------------------------------------------
    def _range(self) -> tuple[Any, Any]:
        """[start, end) of the window as Unix seconds (end = the workspace clock)."""
        days = WINDOWS[self.window]
        now = float(self.w.now().unix)
        return (946684800.0 if days is None else now - days * 86400.0), now

    def _load(self) -> dict[str, Any]:
        start, end = self._range()
        statuses = STATUS_CHOICES[self.status_filter]
        jtype = None if self.type_filter == "any" else self.type_filter
        return {
            "summary": self.w.jobs.summary(start=start, end=end),
            "jobs": self.w.jobs.find(status=statuses, type=jtype, start=start, end=end, limit=None),
            "batches": self.w.jobs.batches(start=start, end=end, limit=None),
        }

    def _show(self, data: dict[str, Any]) -> None:
        self.summary, self.jobs, self.batches = data["summary"], data["jobs"], data["batches"]
        s = self.summary
        rate = "n/a" if s.success_rate is None else f"{100 * s.success_rate:.1f}%"
        self.summary_html.value = (
            f"<b>{s.n_total}</b> jobs created in this window: <b>{s.n_success}</b> succeeded, "
            f"<b class='dsa-failed-count' style='color:#cf222e'>{s.n_failed}</b> failed, "
            f"<b>{s.n_running}</b> running, <b>{s.n_pending}</b> pending; "
            f"success rate {rate}."
        )
        types = ["any", *sorted(s.by_type.index.astype(str))] if len(s.by_type) else ["any"]
        if self.type_filter not in types:
            types.append(self.type_filter)
        self.type_select.options = types
        jobs = self.jobs.assign(created=[unix_text(x) for x in self.jobs["created_at"]])
        self.job_table.set_data(jobs.set_index("id", drop=False), keep_page=True)
        if self._want_job is not None:  # a deep link's job, once
            want, self._want_job = self._want_job, None
            if want in self.job_table.data.index:
                self.job_table.select(want)
            else:
                self.show_status(f"job {want} is not among these jobs", "warning")
                return
        b = self.batches
        batches = b.assign(
            items=[f"{d}/{n}" for d, n in zip(b["n_done"], b["n_items"], strict=True)],
            progress_pct=[f"{100 * p:.0f}%" for p in b["progress"]],
            created=[unix_text(x) for x in b["created_at"]],
        )
        self.batch_table.set_data(batches.set_index("id", drop=False), keep_page=True)
        self.show_status(
            f"{len(self.jobs)} jobs, {len(self.batches)} batch jobs "
            f"({self.window}; now {self.w.now().isot[:16]} UTC)",
            "ok",
        )

    # -- selection and detail --------------------------------------------------------------
    def _job_selected(self, change: dict) -> None:
        jid = change["new"]
        self.rerun_button.disabled = jid is None
        if jid is None:  # nothing selected (or the row was filtered away): no stale detail
            self.detail.value = _NO_DETAIL
            return
        self.run(lambda: self.w.jobs.get(int(jid)), self._show_job, what=f"reading job {jid}")

    def _show_job(self, info: Any) -> None:
        fields = [
            ("id", info.id),
            ("type", info.type),
            ("status", info.status),
            ("MS", info.ms_path),
            ("created", unix_text(info.created_at)),
            ("started", unix_text(info.started_at)),
            ("finished", unix_text(info.finished_at)),
            ("duration (s)", info.duration_s),
            ("failure reason", info.failure_reason),
            ("artifacts", ", ".join(map(str, info.artifact_paths))),
        ]
        logs = html.escape(info.logs or "")
        self.detail.value = (
            "<div style='overflow-wrap:anywhere'>"
            + kv_html(fields, title=f"Job {info.id}")
            + f"<pre style='font-size:11px;max-height:16em;overflow:auto;white-space:pre-wrap'>"
            f"{logs}</pre></div>"
        )

    def _batch_selected(self, change: dict) -> None:
        bid = change["new"]
        self.cancel_button.disabled = bid is None
        if bid is None:
            self.detail.value = _NO_DETAIL
            return
        self.run(lambda: self.w.jobs.batch(int(bid)), self._show_batch, what=f"reading batch {bid}")

    def _show_batch(self, info: Any) -> None:
        counts = ", ".join(f"{k}: {v}" for k, v in sorted(info.counts.items()))
        items = info.items
        errors = items[items["error"].notna()] if "error" in items else items.iloc[:0]
        reasons = "".join(f"<li>{html.escape(fmt_value(e))}</li>" for e in errors["error"][:10])
        self.detail.value = kv_html(
            [
                ("id", info.id),
                ("type", info.type),
                ("status", info.status),
                ("items", counts),
                ("progress", f"{100 * info.progress:.0f}%"),
            ],
            title=f"Batch {info.id}",
        ) + (f"<ul>{reasons}</ul>" if reasons else "")

    # -- actions ----------------------------------------------------------------------------
    def _ask(self, action: str) -> None:
        target = self.job_table.selected if action == "rerun" else self.batch_table.selected
        if target is None:
            self.show_status(
                f"Select a {'job' if action == 'rerun' else 'batch'} first.", "warning"
            )
            return
        self.pending_action = f"{action}:{target}"
        what = f"rerun job {target}" if action == "rerun" else f"cancel batch {target}"
        self.confirm_box.ask(f"Really {what}?")

    def abort(self) -> None:
        """Drop the action waiting for confirmation."""
        self.pending_action = ""
        self.confirm_box.hide()
        self.show_status("Nothing changed.", "info")

    def confirm(self) -> None:
        """Perform the action waiting for confirmation (through ``w.actions``)."""
        action, _, target = self.pending_action.partition(":")
        self.pending_action = ""
        self.confirm_box.hide()
        if not action:
            return
        fn = self.w.actions.rerun_job if action == "rerun" else self.w.actions.cancel_batch
        self.run(lambda: fn(int(target)), self._acted, what=f"{action} {target}")

    def _acted(self, result: Any) -> None:
        changed = getattr(result, "changed", True)
        self.show_status(
            f"{result.action} {result.target}: "
            f"{'done' if changed else 'nothing to change'} "
            f"(audit record {result.audit_id}).",
            "ok",
        )
        self._show(self._load())
