"""The two Voila pages as single panels: operations (wall display) and science.

Each composes the other panels and adds only layout: a headline row of numbers the
panels already loaded, and one auto-refresh that refreshes every part.
"""

from __future__ import annotations

import contextlib
import html
import time
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import traitlets

from dsa110_ws.core.severity import NEUTRAL_COLOUR, Severity
from dsa110_ws.errors import WorkspaceError
from dsa110_ws.panels._base import Panel, in_kernel
from dsa110_ws.services.operations.tasks import NOT_CONFIGURED

if TYPE_CHECKING:
    from dsa110_ws.workspace import Workspace

__all__ = ["OperationsDashboard", "ScienceDashboard"]

#: Headline numbers from the task queue ("n/a" when none is configured).
_QUEUE_KPIS = ("pending", "running", "failed_1h", "stuck_tasks")


def _kpi(name: str, label: str, value: Any, level: str = "info") -> str:
    """A headline number; ``level`` is a severity ("info": shown, not judged)."""
    colour = NEUTRAL_COLOUR if level == "info" else Severity.parse(level).colour
    shown = "…" if value is None else html.escape(str(value))
    return (
        f"<div class='dsa-kpi' data-kpi='{name}' style='display:inline-block;margin:0 1.5em "
        f"6px 0'><div style='font-size:11px;color:#555'>{html.escape(label)}</div>"
        f"<div class='dsa-kpi-value' style='font-size:22px;font-weight:600;color:{colour}'>"
        f"{shown}</div></div>"
    )


class _Composite(Panel):
    """A panel made of other panels (``self.parts``, filled by ``_build``): refreshing,
    waiting for and closing it does so for every part.  A page-ready beacon re-sends every
    widget's state once a page has built its views (no update lost in between)."""

    def __init__(self, workspace: Workspace, **kwargs: Any):
        from dsa110_ws.panels._beacon import PageReady

        self.parts: dict[str, Panel] = {}
        self.resyncs = 0
        super().__init__(workspace, **kwargs)
        self.beacon = PageReady(self.resync)
        self.children = [*self.children, self.beacon]
        if in_kernel():  # a viewer's kernel: counted (and measured) by `dsa110-ws health`
            with contextlib.suppress(OSError):
                workspace.kernels.register(type(self).__name__)

    def resync(self) -> None:
        """Send the current state of every widget of the page again."""
        from dsa110_ws.panels._beacon import walk

        self.resyncs += 1
        for w in walk(self):
            if w is not self.beacon:
                w.send_state()

    def refresh(self) -> None:
        """Refresh every part (each in its own worker)."""
        for part in self.parts.values():
            part.refresh()

    def wait(self, timeout: float = 120.0) -> None:
        for part in self.parts.values():
            part.wait(timeout)

    def close(self) -> None:
        for part in self.parts.values():
            part.close()
        super().close()


class OperationsDashboard(_Composite):
    """Health, throughput, ingestion, the task queue (tasks, failures by cause, workers),
    failed jobs and last night's QA, under a headline row of numbers.

    Parameters
    ----------
    workspace
        The workspace to show.
    refresh_s
        Auto-refresh interval (s) of every part.
    auto_refresh
        Start refreshing immediately (the Voila page does).
    timer
        ``"browser"`` (default: ticks come from the page, so Voila can cull the kernel
        of a closed page) or ``"thread"``.
    qa_night
        Night whose QA is shown (default ``"yesterday"``, relative to ``w.now()``).
    qa_source
        ``"stored"`` (the pipeline's image_qa grades; cheap at survey scale) or
        ``"pixels"`` (graded from the FITS files by ``w.qa``, cached).
    job_id
        A job to open (a deep link): the jobs panel then lists every job and selects it.
    panel
        A part shown first, full width (a deep link from the wall: ``health``, ``jobs``,
        ``ingest``, ``qa``, ``tasks``...).
    """

    title = "DSA-110 operations"
    kpis = traitlets.Dict()

    def __init__(
        self,
        workspace: Workspace,
        *,
        refresh_s: float = 60.0,
        auto_refresh: bool = False,
        timer: str = "browser",
        qa_night: str = "yesterday",
        qa_source: str = "stored",
        job_id: int | None = None,
        panel: str = "",
        **kwargs: Any,
    ):
        self._qa = {"night": qa_night, "source": qa_source}
        self._job_id = job_id
        self._focus = panel or ("jobs" if job_id is not None else "")
        self.period: Any = None
        self._period_failed = False
        super().__init__(workspace, refresh_s=refresh_s, timer=timer, **kwargs)
        for part in self.parts.values():
            part.observe(self.guard(lambda _: self._update_kpis()), ["refreshed_at", "last_error"])
        self._update_kpis()
        self._load_period()
        if auto_refresh and self.auto is not None:
            self.auto.enabled = True

    def _build(self) -> list[widgets.Widget]:
        from dsa110_ws.panels.health import HealthPanel
        from dsa110_ws.panels.ingest import IngestionPanel
        from dsa110_ws.panels.jobs import JobMonitor
        from dsa110_ws.panels.qa import QAPanel
        from dsa110_ws.panels.stats import ThroughputPanel
        from dsa110_ws.panels.tasks import TaskQueuePanel
        from dsa110_ws.panels.taskviews import FailuresPanel, WorkersPanel

        self.kpi_html = widgets.HTML()
        self.kpi_html.add_class("dsa-kpis")
        self.now_html = widgets.HTML()
        bg = self.background
        self.parts = {
            "health": HealthPanel(self.w, background=bg),
            "throughput": ThroughputPanel(self.w, background=bg),
            "ingest": IngestionPanel(self.w, background=bg),
            "jobs": (
                JobMonitor(self.w, status="failed", background=bg)
                if self._job_id is None
                else JobMonitor(
                    self.w, status="any", window="all", job_id=self._job_id, background=bg
                )
            ),
            "qa": QAPanel(
                self.w, night=self._qa["night"], source=self._qa["source"], background=bg
            ),
        }
        if self._queue_configured():
            self.parts.update(
                tasks=TaskQueuePanel(self.w, background=bg),
                failures=FailuresPanel(self.w, background=bg),
                workers=WorkersPanel(self.w, background=bg),
            )
        p: dict[str, widgets.Widget] = dict(self.parts)
        focus = p.pop(self._focus, None)  # a deep link's panel goes first, full width
        two = widgets.Layout(
            grid_template_columns="repeat(2, minmax(460px, 1fr))", grid_gap="16px", width="100%"
        )

        def row(*columns: list[str]) -> widgets.Widget:
            cols = [[p[n] for n in names if n in p] for names in columns]
            cells = [c[0] if len(c) == 1 else widgets.VBox(c) for c in cols if c]
            return widgets.GridBox(cells, layout=two)

        if "tasks" in self.parts:
            queue = row(["tasks"], ["failures", "workers"])
        else:
            queue = widgets.HTML(
                f"<h3 style='margin:4px 0'>Task queue</h3><div class='dsa-queue-off' "
                f"style='color:{NEUTRAL_COLOUR}'>{html.escape(NOT_CONFIGURED)}.</div>"
            )
        queue.add_class("dsa-queue-section")
        rows = [row(["health"], ["throughput", "ingest"]), queue, row(["jobs"]), row(["qa"])]
        if "jobs" in p:  # the failed jobs' table is wide: a row of its own
            rows[2] = p["jobs"]
        first = [focus] if focus is not None else []
        return [self.now_html, self.kpi_html, *first, *rows]

    def _queue_configured(self) -> bool:
        """Whether a task queue is configured (an unusable one counts: its panels then say
        why in their status lines)."""
        try:
            return self.w.queue_db is not None
        except WorkspaceError:
            return True

    def _update_kpis(self) -> None:
        p = self.parts
        k: dict[str, Any] = {}
        health, jobs, ingest, tasks = (p.get(n) for n in ("health", "jobs", "ingest", "tasks"))
        # a source that failed shows "n/a" (never a count of 0 or an earlier number)
        if health is not None and health.refreshed_at:
            r, cal, stuck = health.report, health.cal, health.stuck
            k.update(
                health="unknown" if r is None else r.status,
                calibration="unknown" if cal is None else cal.status,
                stuck_ms="n/a" if stuck is None else len(stuck),
                open_alerts="n/a" if cal is None else len(cal.open_alerts),
            )
        elif health is not None and health.last_error:
            k.update(health="unknown", calibration="unknown", stuck_ms="n/a", open_alerts="n/a")
        if jobs is not None and jobs.summary is not None and not jobs.last_error:
            k.update(failed_jobs=jobs.summary.n_failed, running_jobs=jobs.summary.n_running)
        elif jobs is not None and jobs.last_error:
            k.update(failed_jobs="n/a", running_jobs="n/a")
        if ingest is not None and ingest.last_error:
            k.update(incomplete_groups="n/a")
        elif ingest is not None and ingest.refreshed_at:
            k.update(incomplete_groups=len(ingest.incomplete))
        if tasks is None or tasks.summary is None and tasks.last_error:
            k.update(dict.fromkeys(_QUEUE_KPIS, "n/a"))
        elif tasks.summary is not None:
            k.update(
                pending=tasks.summary["pending"],
                running=tasks.summary["running"],
                failed_1h=tasks.summary["failed_1h"],
                stuck_tasks=tasks.summary["stuck"],
            )
        if self._period_failed:
            k.update(images="n/a")
        elif self.period is not None:  # its own fixed window: never the throughput panel's
            k.update(images=int(self.period["n_images"]))
        self.kpis = k
        self._update_clock()
        lvl = {"ok": "ok", "warning": "warning", "critical": "critical", "unknown": "unknown"}

        def count(v: Any, bad: str) -> str:
            if not isinstance(v, int):
                return "info"
            return bad if v else "ok"

        self.kpi_html.value = "".join(
            [
                _kpi(
                    "health",
                    "pipeline health",
                    k.get("health"),
                    lvl.get(str(k.get("health")), "info"),
                ),
                _kpi(
                    "calibration",
                    "calibration",
                    k.get("calibration"),
                    lvl.get(str(k.get("calibration")), "info"),
                ),
                _kpi(
                    "failed_jobs",
                    "failed jobs (24 h)",
                    k.get("failed_jobs"),
                    count(k.get("failed_jobs"), "critical"),
                ),
                _kpi("running_jobs", "running jobs", k.get("running_jobs")),
                _kpi(
                    "stuck_ms", "stuck MS", k.get("stuck_ms"), count(k.get("stuck_ms"), "warning")
                ),
                _kpi(
                    "incomplete_groups",
                    "incomplete groups",
                    k.get("incomplete_groups"),
                    count(k.get("incomplete_groups"), "warning"),
                ),
                _kpi(
                    "open_alerts",
                    "open flux alerts",
                    k.get("open_alerts"),
                    count(k.get("open_alerts"), "warning"),
                ),
                _kpi("pending", "pending", k.get("pending")),
                _kpi("running", "running", k.get("running")),
                _kpi(
                    "failed_1h",
                    "failed (1 h)",
                    k.get("failed_1h"),
                    count(k.get("failed_1h"), "critical"),
                ),
                _kpi(
                    "stuck_tasks",
                    "stuck",
                    k.get("stuck_tasks"),
                    count(k.get("stuck_tasks"), "warning"),
                ),
                _kpi("images", "images (24 h)", k.get("images")),
            ]
        )

    def _update_clock(self) -> None:
        ticks = self.auto.ticks if self.auto is not None else 0
        wall = time.strftime("%H:%M:%S")
        self.now_html.value = (
            f"<span style='color:#555'>pipeline state as of {self.w.now().isot[:19]} UTC; "
            f"<span class='dsa-refreshes' data-ticks='{ticks}'>{ticks} refreshes"
            f"</span>, page updated {wall} (local time); <a href='wall.ipynb' target='_self' "
            "style='color:#0969da'>operations wall</a></span>"
        )

    def _load_period(self) -> None:
        """The headline's own last-24-h numbers (``w.stats.period_products``: the
        products' part of the period summary, which a database without jobs has)."""

        s = self.w.settings
        key = ("headline-products", str(s.settings_file), str(s.pipeline_db), repr(self.w.clock))

        def work() -> Any:
            try:  # shared across the dashboards' kernels, as the panels' refreshes are
                return self.w.shared.get(key, self.w.stats.period_products)
            except WorkspaceError as exc:  # shown as n/a, never the previous number
                return exc

        def done(res: Any) -> None:
            self._period_failed = isinstance(res, Exception)
            self.period = None if self._period_failed else res
            self._update_kpis()
            if self._period_failed:
                self.show_error(res)

        self.run(work, done, what="last 24 h", channel="period")

    def resync(self) -> None:
        """Send the page every widget's state, then refresh what is older than the refresh
        interval (a preheated kernel built the page before its viewer came)."""
        super().resync()
        if self.auto is None or not self.auto.enabled:
            return
        now = time.time()
        for part in self.parts.values():
            if not part.busy and 0 < part.refreshed_at < now - self.auto.interval_s:
                part.refresh()

    def refresh(self) -> None:
        """Refresh every part (each in its own worker), then the clock line."""
        super().refresh()
        self._load_period()
        self._update_clock()


class ScienceDashboard(_Composite):
    """Image exploration (ImageBrowser, with its MS and caltable inspectors) and source
    exploration (SourceExplorer) in two tabs.

    Parameters
    ----------
    night
        Night the image browser opens on (UTC day; ``"yesterday"`` is relative to ``w.now()``).
    source_id
        Source the explorer opens on (default: the best ESE candidate); given, the page
        opens on the Sources tab.
    image_id
        Image the browser opens on (at the night it was made).
    n_nights
        Nights the image browser lists from ``night``.
    """

    title = "DSA-110 science"

    def __init__(
        self,
        workspace: Workspace,
        *,
        night: str = "yesterday",
        source_id: str | None = None,
        image_id: int | None = None,
        n_nights: int = 1,
        **kwargs: Any,
    ):
        self._night, self._source_id = night, source_id
        self._image_id, self._n_nights = image_id, n_nights
        super().__init__(workspace, **kwargs)

    def _build(self) -> list[widgets.Widget]:
        from dsa110_ws.panels.images import ImageBrowser
        from dsa110_ws.panels.sources import SourceExplorer

        bg = self.background
        self.parts = {
            "images": ImageBrowser(
                self.w,
                night=self._night,
                n_nights=self._n_nights,
                image_id=self._image_id,
                background=bg,
            ),
            "sources": SourceExplorer(self.w, self._source_id, background=bg),
        }
        self.tabs = widgets.Tab(children=list(self.parts.values()))
        for i, name in enumerate(("Images", "Sources")):
            self.tabs.set_title(i, name)
        self.tabs.add_class("dsa-science-tabs")
        if self._source_id and self._image_id is None:
            self.tabs.selected_index = 1
        return [self.tabs]
