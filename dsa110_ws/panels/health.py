"""HealthPanel: service checks, disk, data freshness, stuck MS, calibration health, alerts."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import pandas as pd

from dsa110_ws.core.severity import Severity, badge_html
from dsa110_ws.core.time import unix_to_utc
from dsa110_ws.errors import one_line
from dsa110_ws.panels._base import Panel
from dsa110_ws.panels._format import short_path
from dsa110_ws.panels._paged import PagedTable
from dsa110_ws.panels._widgets import section

if TYPE_CHECKING:
    from dsa110_ws.workspace import Workspace

__all__ = ["HealthPanel"]

_ROW_BG = {"warning": Severity.WARNING.background, "critical": Severity.CRITICAL.background}
badge = badge_html


class HealthPanel(Panel):
    """``w.health`` checks, ``w.jobs.stuck()`` and ``w.calhealth`` in one view.

    After a refresh: ``report`` (the HealthReport), ``stuck`` (DataFrame), ``cal`` (the
    CalHealthReport).
    """

    shared_params = ()  # the same for every viewer: shared (w.shared)

    title = "Health"

    def __init__(self, workspace: Workspace, **kwargs: Any):
        self.report: Any = None
        self.cal: Any = None
        self.stuck = pd.DataFrame()
        super().__init__(workspace, **kwargs)
        self.refresh()

    def _build(self) -> list[widgets.Widget]:
        self.overall_html = widgets.HTML()
        self.checks_table = PagedTable(
            columns=["name", "status", "detail", "latency_ms"],
            page_size=12,
            highlight=lambda r: _ROW_BG.get(str(r["status"])),
            empty_text="No checks configured.",
        )
        self.stuck_table = PagedTable(
            columns=["ms", "current_state", "minutes_since_change", "retry_count"],
            page_size=5,
            highlight=lambda r: _ROW_BG["warning"],
            empty_text="No stuck Measurement Set.",
        )
        self.stuck_table.add_class("dsa-stuck-table")
        self.cal_html = widgets.HTML()
        self.flux_table = PagedTable(
            columns=[
                "calibrator_name",
                "n",
                "ratio_mean",
                "ratio_std",
                "drift_percent_per_day",
                "drift_percent",
                "stability",
                "open_alerts",
            ],
            page_size=8,
            highlight=lambda r: (
                _ROW_BG["warning"] if r["stability"] in ("drifting", "unstable") else None
            ),
            empty_text="No calibrator flux measurements in the last 14 days.",
        )
        self.flux_table.add_class("dsa-flux-table")
        self.alerts_table = PagedTable(
            columns=[
                "id",
                "severity",
                "calibrator_name",
                "flux_drift_percent",
                "message",
                "triggered",
                "acknowledged_by",
            ],
            page_size=5,
            empty_text="No open alerts.",
        )
        return [
            self.overall_html,
            self.checks_table,
            section("Stuck Measurement Sets", self.stuck_table),
            section("Calibration health", self.cal_html, self.flux_table),
            section("Open flux alerts", self.alerts_table),
        ]

    def _load(self) -> dict[str, Any]:
        """Each source on its own: a failure of one (the database, say) is shown where
        its rows would be, and the others still load."""
        out: dict[str, Any] = {}
        for key, read in (
            ("report", lambda: self.w.health.check()),
            ("stuck", lambda: self.w.jobs.stuck()),
            ("cal", lambda: self.w.calhealth.health()),
        ):
            try:
                out[key] = read()
            except Exception as exc:  # noqa: BLE001 - shown as one line where the rows go
                out[key] = exc
        return out

    def _show(self, data: dict[str, Any]) -> None:
        failed = self._show_sections(data)
        if failed:
            self.show_error(failed[0])
            return
        self.show_status(
            f"health {self.report.status}, calibration {self.cal.status}, "
            f"{len(self.stuck)} stuck MS",
            "ok",
        )

    def _show_unavailable(self, exc: BaseException) -> None:
        self._show_sections({"report": exc, "stuck": exc, "cal": exc})

    def _show_sections(self, data: dict[str, Any]) -> list[BaseException]:
        """Each section, or one line where it would be if its source failed."""
        failed = [v for v in data.values() if isinstance(v, BaseException)]
        self.report, self.stuck, self.cal = (
            None if isinstance(data[k], BaseException) else data[k]
            for k in ("report", "stuck", "cal")
        )
        self._show_report(data["report"])
        if self.stuck is None:
            self.stuck_table.set_unavailable(one_line(data["stuck"]))
        else:
            self.stuck_table.set_data(
                self.stuck.assign(
                    ms=[short_path(p) for p in self.stuck["path"]],
                    minutes_since_change=self.stuck["minutes_since_change"].round(0),
                ),
                keep_page=True,
            )
        if self.cal is None:
            self._cal_unavailable(data["cal"])
        else:
            self._show_cal(self.cal)
        return failed

    def _show_report(self, r: Any) -> None:
        if isinstance(r, BaseException):
            self.overall_html.value = (
                f"<div class='dsa-health-overall'>Pipeline health {badge('unknown')} "
                f"<span class='dsa-unavailable' style='color:#b00020'>"
                f"{html.escape(one_line(r))}</span></div>"
            )
            self.checks_table.set_unavailable(one_line(r))
            return
        counts = ", ".join(f"{n} {s}" for s, n in r.counts().items() if n)
        self.overall_html.value = (
            f"<div class='dsa-health-overall'>Pipeline health "
            f"{badge(r.status)} <span style='color:#555'>({counts}; "
            f"{html.escape(r.at[:19])} UTC)</span></div>"
        )
        self.checks_table.set_data(
            r.to_frame().assign(latency_ms=lambda d: d["latency_ms"].round(1)), keep_page=True
        )

    def _cal_unavailable(self, exc: BaseException) -> None:
        self.cal_html.value = (
            f"<div class='dsa-cal-overall'>Calibration {badge('unknown')} "
            f"<span class='dsa-unavailable' style='color:#b00020'>"
            f"{html.escape(one_line(exc))}</span></div>"
        )
        self.flux_table.set_unavailable(one_line(exc))
        self.alerts_table.set_unavailable(one_line(exc))

    def _show_cal(self, cal: Any) -> None:
        near = cal.nearest
        reasons = "".join(f"<li>{html.escape(x)}</li>" for x in cal.reasons)
        near_text = (
            "no active set"
            if near.set_name is None
            else f"nearest set <b>{html.escape(near.set_name)}</b> "
            f"({'valid' if near.valid else 'NOT valid'} now, {near.staleness}; types "
            f"{html.escape(', '.join(near.types))})"
        )
        self.cal_html.value = (
            f"<div class='dsa-cal-overall'>Calibration {badge(cal.status)} "
            f"{near_text}; {cal.n_active_sets} active sets</div>"
            f"<ul style='margin:2px 0'>{reasons}</ul>"
        )
        self.flux_table.set_data(cal.flux, keep_page=True)
        a = cal.open_alerts
        self.alerts_table.set_data(
            a.assign(triggered=unix_to_utc(a["triggered_at"])),
            keep_page=True,
        )
