"""The stats report over a period: data from ``w.stats`` / ``w.jobs``, sections, trends.

Every number here comes from the operations services (``w.stats.period_summary``,
``w.stats.throughput``, ``w.stats.success_rates``, ``w.stats.qa``, ``w.stats.disk_usage``);
the template only calls these functions.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import TYPE_CHECKING, Any

import pandas as pd

from dsa110_ws.reporting import _display as D
from dsa110_ws.reporting._format import is_fraction, value_text
from dsa110_ws.reporting._sections import SectionGuard, section
from dsa110_ws.reporting.figures import bar_figure, qa_figure
from dsa110_ws.reporting.metrics import comparison_note, nights_with_data, stats_metrics

if TYPE_CHECKING:
    from dsa110_ws.reporting.params import StatsParams
    from dsa110_ws.workspace import Workspace

__all__ = ["period_summary", "trends", "StatsReport", "STATS_SECTIONS"]

#: Section headings of the stats template, in order (the tests look for each).
STATS_SECTIONS = (
    "Headline metrics",
    "Throughput",
    "Success rates",
    "QA distributions",
    "Trends against the previous period",
    "Disk usage",
)

_TREND_ROWS = (
    ("ms_per_day", "MS per day", True),
    ("images_per_day", "images per day", True),
    ("photometry_per_day", "photometry rows per day", True),
    ("job_success_rate", "job success rate", True),
    ("n_failed_jobs", "failed jobs", False),
    ("noise_median_mjy", "median image noise (mJy/beam)", False),
    ("dr_median", "median dynamic range", True),
    ("bad_image_fraction", "bad image fraction", False),
)


def period_summary(w: Workspace, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    """Headline numbers of one period [start, end): ``w.stats.period_summary`` (the one
    definition the CLI and the dashboards use too), as plain JSON-safe values."""
    return w.stats.period_summary(start, end).to_dict()


def _change(a: Any, b: Any, fraction: bool) -> tuple[str, float | None]:
    """The change from ``b`` to ``a``: percentage points for fractions, else relative."""
    if a is None or b is None:
        return "", None
    if fraction:
        pp = 100.0 * (a - b)
        return f"{pp:+.1f} pp", pp
    if b == 0:
        return ("new (was 0)", 1.0) if a else ("", 0.0)
    return f"{100 * (a / b - 1.0):+.1f}%", a / b - 1.0


def trends(current: dict[str, Any], previous: dict[str, Any], *, note: str = "") -> pd.DataFrame:
    """This period against the previous one: both values, the change (percentage points
    for fractions and rates, relative otherwise) and whether it is for the better.

    With ``note`` (:func:`~dsa110_ws.reporting.metrics.comparison_note`: the previous
    period is incomplete) no change and no verdict are given: the row says why.
    """
    rows = []
    for key, what, higher_better in _TREND_ROWS:
        a, b = current.get(key), previous.get(key)
        fraction = is_fraction(key)
        text, change = _change(a, b, fraction)
        better = None if change is None or change == 0 else (change > 0) == higher_better
        verdict = {True: "better", False: "worse", None: ""}[better]
        if note:
            text, verdict = "", "not compared (previous period incomplete)"
        rows.append(
            {
                "metric": what,
                "this period": value_text(a, name=key),
                "previous period": value_text(b, name=key),
                "change": text,
                "verdict": verdict,
            }
        )
    return pd.DataFrame(rows)


class StatsReport(SectionGuard):
    """Sections of the stats template; each returns something Jupyter displays."""

    sections = STATS_SECTIONS

    def __init__(self, w: Workspace, params: StatsParams):
        self.w = w
        self.params = params
        self.start, self.end = params.window
        self._cache: dict[str, Any] = {}

    def _get(self, key: str, make: Any) -> Any:
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    @property
    def current(self) -> dict[str, Any]:
        return self._get("current", lambda: period_summary(self.w, self.start, self.end))

    @property
    def previous(self) -> dict[str, Any]:
        lo, hi = self.params.previous_window
        return self._get("previous", lambda: period_summary(self.w, lo, hi))

    @property
    def incomplete(self) -> str:
        """Why the previous period cannot be compared (``""``: it can)."""
        return self._get(
            "incomplete",
            lambda: comparison_note(
                nights_with_data(self.w, self.start, self.end),
                nights_with_data(self.w, *self.params.previous_window),
            ),
        )

    @property
    def disk(self) -> pd.DataFrame:
        return self._get("disk", self.w.stats.disk_usage)

    def metrics(self) -> list[Any]:
        """The headline metrics (:func:`dsa110_ws.reporting.metrics.stats_metrics`)."""
        return self._get(
            "metrics",
            lambda: stats_metrics(
                self.w,
                self.params,
                current=self.current,
                previous=self.previous,
                disk=self.disk,
                incomplete=self.incomplete,
            ),
        )

    @section
    def header(self) -> D.HTMLBlock:
        """The period, the overall status and the "needs attention" block (the status and
        the block are re-rendered when a later section fails)."""
        s = self.w.settings
        return D.join(
            *self._live_block("top", self.top_block),
            f"Period {self.start:%Y-%m-%d %H:%M} to {self.end:%Y-%m-%d %H:%M} UTC "
            f"({self.current['days']:g} days); previous period for trends: "
            f"{self.params.previous_window[0]:%Y-%m-%d} to "
            f"{self.params.previous_window[1]:%Y-%m-%d}.",
            f"Data source: {s.database_target}"
            f"{' (demo state)' if s.is_demo else ''}; workspace clock "
            f"{self.w.now().isot[:19]} UTC.",
        )

    @section
    def headline(self, metrics_path: str | None = None) -> D.HTMLBlock:
        """Metrics table; writes ``metrics.json`` to ``metrics_path`` when given."""
        from dsa110_ws.reporting._metric import write_metrics

        ms = self.metrics()
        doc = write_metrics(
            ms,
            metrics_path,
            kind="stats",
            label=self.params.label,
            window=self.params.window_dict(),
        )
        self._remember_metrics(metrics_path, doc)
        return D.join(*self._live_block("status", self.status_block), D.metrics_table(ms))

    @section
    def throughput(self) -> D.HTMLBlock:
        tp = self.w.stats.throughput(start=self.start, end=self.end, per="night")
        fig = D.cached_figure(
            self.w,
            "stats.throughput",
            tp[["bin_start", "n_ms", "n_images"]],
            None,
            lambda: bar_figure(tp, ["n_ms", "n_images"], "per observing night (UTC day)"),
        )
        c = self.current
        return D.join(
            f"{c['n_ms']} MS, {c['n_images']} images and {c['n_photometry']} "
            f"photometry rows observed in the period ({c['images_per_day']:.1f} "
            "images per day).",
            fig,
            D.table(
                tp.assign(night=tp["bin_start"].dt.strftime("%Y-%m-%d")),
                columns=["night", "n_ms", "n_images", "n_photometry"],
            ),
            self._night_links(list(tp["bin_start"].dt.strftime("%Y-%m-%d"))),
        )

    def _night_links(self, nights: list[str]) -> D.HTMLBlock:
        """Links to the dashboard view of each night (``[reports] dashboard_url``)."""
        import html

        from dsa110_ws.reporting.links import dashboard_link

        base = self.w.settings.sections.reports.dashboard_url
        links = [(n, dashboard_link(base, n)) for n in nights]
        if not base or not links:
            return D.HTMLBlock("")
        items = " · ".join(f'<a href="{html.escape(u, quote=True)}">{n}</a>' for n, u in links if u)
        return D.HTMLBlock(f"<p>Each night in the operations dashboard: {items}</p>")

    @section
    def success_rates(self) -> D.HTMLBlock:
        df = self.w.stats.success_rates(start=self.start, end=self.end).reset_index()
        df = df.rename(columns={df.columns[0]: "type"})
        cols = [
            "type",
            "n_total",
            "n_success",
            "n_failed",
            "n_running",
            "n_pending",
            "success_rate",
            "mean_duration_s",
        ]
        pct = functools.partial(value_text, name="success_rate")
        return D.table(
            df,
            columns=cols,
            formats={"success_rate": pct},
            caption="success_rate: done or completed / (those + failed), in percent",
        )

    @section
    def qa_distributions(self) -> D.HTMLBlock:
        qa = self.w.stats.qa(start=self.start, end=self.end, per="night")
        if qa.empty:
            return D.note("No stored image QA for images observed in the period.")
        fig = D.cached_figure(self.w, "stats.qa", qa, None, lambda: qa_figure(qa))
        show = qa.assign(
            night=qa["bin_start"].dt.strftime("%Y-%m-%d"),
            noise_median_mjy=qa["noise_median_jy"] * 1e3,
        )
        cols = [
            "night",
            "n",
            *[c for c in qa.columns if c.startswith("n_")],
            "noise_median_mjy",
            "dr_median",
        ]
        return D.join(fig, D.table(show, columns=cols))

    @section
    def trends(self) -> D.HTMLBlock:
        table = D.table(trends(self.current, self.previous, note=self.incomplete))
        if not self.incomplete:
            return table
        return D.join(D.note(self.incomplete[:1].upper() + self.incomplete[1:] + "."), table)

    @section
    def disk_usage(self) -> D.HTMLBlock:
        df = self.disk.assign(
            used_fraction=self.disk["used_percent"] / 100.0, free_gb=self.disk["free_bytes"] / 1e9
        )
        return D.table(
            df,
            columns=["path", "used_fraction", "free_gb", "status"],
            status_columns=["status"],
            formats={"used_fraction": functools.partial(value_text, name="used_fraction")},
        )
