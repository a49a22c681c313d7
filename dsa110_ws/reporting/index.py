"""The output root's catalogue: ``list_reports`` and ``index.html``."""

from __future__ import annotations

import dataclasses
import html
import json
import os
from pathlib import Path
from typing import Any

from dsa110_ws.core.atomic import atomic_write
from dsa110_ws.core.severity import Severity

__all__ = ["ReportEntry", "list_reports", "write_index", "render_index"]

#: A report that failed to run is shown apart from the severities of published ones.
_FAILED_COLOUR = "#6a1b9a"


def _colour(status: str) -> str:
    return _FAILED_COLOUR if status == "failed" else Severity.parse(status).colour


@dataclasses.dataclass(frozen=True)
class ReportEntry:
    """One report folder (published or failed) under an output root."""

    kind: str
    label: str
    status: str  # overall metric status of a published report, or "failed"
    path: Path  # folder, relative to the output root
    finished_at: str | None
    window: dict[str, Any]
    metrics: tuple[dict[str, Any], ...]
    error: str | None = None
    links: dict[str, str] = dataclasses.field(default_factory=dict)
    section_errors: tuple[dict[str, str], ...] = ()

    def attention(self) -> list[Any]:
        """The report's "needs attention" lines (:func:`~dsa110_ws.reporting.attention.needs_attention`)."""
        from dsa110_ws.reporting.attention import needs_attention

        return needs_attention(self.metrics, section_errors=self.section_errors)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["path"] = str(self.path)
        return d


def _read(path: Path) -> tuple[dict[str, Any], str | None]:
    """A JSON object and what was wrong with it (``None``: nothing)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}, f"{path.name} missing"
    except (OSError, ValueError) as exc:
        return {}, f"{path.name} unreadable ({type(exc).__name__})"
    if not isinstance(doc, dict):
        return {}, f"{path.name} is not a JSON object"
    return doc, None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _entry(root: Path, folder: Path) -> ReportEntry | None:
    if not (folder / "provenance.json").exists():
        return None  # not a report folder
    prov, problem = _read(folder / "provenance.json")
    state = prov.get("status")
    if problem is None and state not in ("ok", "failed"):
        problem = "provenance.json has no run status"
    metrics: list[Any] = []
    doc: dict[str, Any] = {}
    status = "unknown"
    if problem is None and state == "failed":
        status = "failed"
    elif problem is None:
        doc, problem = _read(folder / "metrics.json")
        found = doc.get("metrics")
        if isinstance(found, list) and all(isinstance(m, dict) for m in found):
            metrics = found
        else:
            problem = problem or "metrics.json has no list of metrics"
        word = _text(doc.get("status")) or "unknown"
        ok_word = Severity.parse(word).value == word
        status = word if ok_word and problem is None else "unknown"  # damaged: no verdict
    window = prov.get("data_time_range")
    found_links, found_errors = doc.get("links"), doc.get("section_errors")
    links: dict[str, Any] = found_links if isinstance(found_links, dict) else {}
    errors: list[Any] = found_errors if isinstance(found_errors, list) else []
    return ReportEntry(
        kind=folder.parent.name,
        label=_text(prov.get("label")) or folder.name,
        status=status,
        path=folder.relative_to(root),
        finished_at=_text(prov.get("finished_at")),
        window=window if isinstance(window, dict) else {},
        metrics=tuple(metrics),
        error=problem or _text(prov.get("error")),
        links={str(k): str(v) for k, v in links.items() if isinstance(v, str)},
        section_errors=tuple(e for e in errors if isinstance(e, dict)),
    )


def list_reports(root: str | os.PathLike[str], *, include_failed: bool = True) -> list[ReportEntry]:
    """Every report under an output root, newest window first within each kind.

    Failed runs (``<label>.failed-<stamp>``) are listed with status ``failed`` unless
    ``include_failed`` is false.
    """
    root = Path(root)
    out: list[ReportEntry] = []
    if not root.is_dir():
        return out
    for kind_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for folder in kind_dir.iterdir():
            if not folder.is_dir() or folder.name.startswith("."):
                continue
            if ".failed-" in folder.name and not include_failed:
                continue
            entry = _entry(root, folder)
            if entry is not None:
                out.append(entry)
    out.sort(
        key=lambda e: (e.kind, str(e.window.get("start_utc", "")), e.finished_at or ""),
        reverse=True,
    )
    out.sort(key=lambda e: e.kind)
    return out


_KINDS = {"qa": "nightly QA", "stats": "statistics"}


def _badge(status: str) -> str:
    colour = _colour(status)
    return (
        f'<span style="background:{colour};color:#fff;padding:1px 8px;border-radius:4px;'
        f'font-weight:600">{html.escape(status)}</span>'
    )


def _a(href: str, text: str) -> str:
    return f'<a href="{html.escape(href, quote=True)}">{html.escape(text)}</a>'


def _links(e: ReportEntry) -> str:
    folder = e.path.as_posix()
    if e.status == "failed":
        return _a(f"{folder}/report.failed.ipynb", "partial notebook")
    out = [_a(f"{folder}/report.html", "report"), _a(f"{folder}/report.ipynb", "notebook")]
    if e.links.get("dashboard"):
        out.append(_a(e.links["dashboard"], "dashboard"))
    return " · ".join(out)


def _row(e: ReportEntry) -> str:
    from dsa110_ws.reporting.attention import attention_html

    finished = (e.finished_at or "")[:16].replace("T", " ")
    target = "report.failed.ipynb" if e.status == "failed" else "report.html"
    if e.error:
        attention = f'<div style="color:{_colour(e.status)}">{html.escape(e.error)}</div>'
    else:
        attention = attention_html(e.attention(), compact=True)
    return (
        f'<tr class="dsa-status-{html.escape(e.status)}">'
        f'<td class="night">{_a(f"{e.path.as_posix()}/{target}", e.label)}</td>'
        f"<td>{html.escape(_KINDS.get(e.kind, e.kind))}</td>"
        f"<td>{_badge(e.status)}</td>"
        f'<td class="attention">{attention}</td>'
        f'<td class="links">{_links(e)}</td>'
        f'<td class="finished">{html.escape(finished)}</td></tr>'
    )


_CSS = """body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;
color:#24292f;font-size:16px}h1{font-size:26px;margin:0 0 4px 0}p.lead{margin:0 0 16px 0;
color:#57606a}table{border-collapse:collapse;width:100%}th{text-align:left;
border-bottom:2px solid #d0d7de;padding:6px 10px;font-size:14px;color:#57606a}
td{border-bottom:1px solid #d8dee4;padding:8px 10px;vertical-align:top}
td.night,td.links,td.finished{white-space:nowrap}td.attention div{margin:1px 0}
tr.dsa-status-critical td:first-child{border-left:6px solid #cf222e}
tr.dsa-status-warning td:first-child{border-left:6px solid #9a6700}"""


def render_index(entries: list[ReportEntry]) -> str:
    """The HTML of an index page for ``entries``: one row per report (night or period,
    report, status, what needs attention, links, when it finished); no external resource."""
    rows = "\n".join(_row(e) for e in entries) or "<tr><td colspan=6>no reports yet</td></tr>"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>DSA-110 reports</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{_CSS}</style>
</head><body><h1>DSA-110 reports</h1>
<p class="lead">Nightly QA, then statistics; newest first in each. Status: the worst judged metric of the report
(ok, unknown, warning, critical), at least warning when a section of it failed; "needs
attention" lists what breached a threshold and the sections that failed.</p>
<table><thead><tr><th>night / period</th><th>report</th><th>status</th>
<th>needs attention</th><th>links</th><th>finished (UTC)</th></tr></thead><tbody>
{rows}
</tbody></table></body></html>
"""


def write_index(root: str | os.PathLike[str]) -> Path:
    """Rebuild ``<root>/index.html`` from the folders present (atomic replace)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    return atomic_write(root / "index.html", render_index(list_reports(root)))
