"""IngestionPanel: subband groups by state, incomplete and failed groups, UVH5 files per night."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import pandas as pd

from dsa110_ws.core.severity import Severity
from dsa110_ws.core.time import unix_to_utc
from dsa110_ws.panels._base import Panel
from dsa110_ws.panels._paged import PagedTable
from dsa110_ws.panels._widgets import section

if TYPE_CHECKING:
    from dsa110_ws.workspace import Workspace

__all__ = ["IngestionPanel"]

#: Ingestion states on the severity ladder's colours (waiting is a warning until done).
_STATE_COLOURS = {
    "failed": Severity.CRITICAL.colour,
    "collecting": Severity.WARNING.colour,
    "pending": Severity.WARNING.colour,
    "completed": Severity.OK.colour,
}


def _missing(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "unknown"
    return ", ".join(str(i) for i in value) or "none"


class IngestionPanel(Panel):
    """Subband-group ingestion from ``w.ingest`` (the task queue's tables, else the
    pipeline's): what is waiting, which subbands are missing, what failed."""

    shared_params = ()  # the same for every viewer: shared (w.shared)

    title = "Ingestion"

    def __init__(self, workspace: Workspace, **kwargs: Any):
        self.counts: dict[str, int] = {}
        self.incomplete = pd.DataFrame()
        self.failed = pd.DataFrame()
        self.per_night = pd.DataFrame()
        super().__init__(workspace, **kwargs)
        self.refresh()

    def _build(self) -> list[widgets.Widget]:
        self.counts_html = widgets.HTML()
        self.incomplete_table = PagedTable(
            columns=["group_id", "state", "received", "missing", "age_min", "min_since_last_file"],
            page_size=10,
            empty_text="No group is waiting for subbands.",
        )
        self.failed_table = PagedTable(
            columns=["group_id", "created", "error_message"],
            page_size=5,
            empty_text="No failed groups.",
        )
        self.nights_table = PagedTable(
            columns=["obs_date", "n_files", "n_groups", "total_gb", "last_indexed"],
            page_size=10,
            empty_text="No UVH5 files indexed.",
        )
        return [
            self.counts_html,
            section("Incomplete groups", self.incomplete_table),
            section("Failed groups", self.failed_table),
            section("UVH5 files per night", self.nights_table),
        ]

    def _load(self) -> dict[str, Any]:
        q = self.w.ingest
        return {
            "source": q.source,
            "counts": q.counts(),
            "incomplete": q.incomplete(),
            "failed": q.failed(limit=None),
            "per_night": q.hdf5_per_night(),
        }

    def _show(self, data: dict[str, Any]) -> None:
        self.counts, self.incomplete = data["counts"], data["incomplete"]
        self.failed, self.per_night = data["failed"], data["per_night"]
        parts = [
            f"<span style='color:{_STATE_COLOURS.get(s, '#555')}'>{html.escape(s)}: "
            f"<b>{n}</b></span>"
            for s, n in self.counts.items()
        ]
        self.counts_html.value = (
            "Groups by state: "
            + " &middot; ".join(parts)
            + f" <span style='color:#57606a'>(from {html.escape(data['source'])})</span>"
        )
        inc = self.incomplete
        self.incomplete_table.set_data(
            inc.assign(
                received=[
                    f"{r}/{e}"
                    for r, e in zip(inc["n_received"], inc["expected_subbands"], strict=True)
                ],
                missing=[_missing(m) for m in inc["missing_subbands"]],
                age_min=inc["age_minutes"].round(0),
                min_since_last_file=inc["minutes_since_last_file"].round(0),
            ),
            keep_page=True,
        )
        f = self.failed
        self.failed_table.set_data(
            f.assign(created=unix_to_utc(f["created_at"])),
            keep_page=True,
        )
        pn = self.per_night
        self.nights_table.set_data(
            pn.assign(
                total_gb=pd.to_numeric(pn["total_bytes"], errors="coerce") / 1e9,
                last_indexed=unix_to_utc(pn["last_indexed_at"]),
            ),
            keep_page=True,
        )
        self.show_status(
            f"{len(inc)} incomplete and {len(f)} failed groups (now {self.w.now().isot[:16]} UTC)",
            "warning" if len(f) else "ok",
        )
