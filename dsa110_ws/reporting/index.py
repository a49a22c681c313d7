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
    return ReportEntry(
        kind=folder.parent.name,
        label=_text(prov.get("label")) or folder.name,
        status=status,
        path=folder.relative_to(root),
        finished_at=_text(prov.get("finished_at")),
        window=window if isinstance(window, dict) else {},
        metrics=tuple(metrics),
        error=problem or _text(prov.get("error")),
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


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return "–" if value is None else str(value)


def _badge(status: str) -> str:
    colour = _colour(status)
    return (
        f'<span style="background:{colour};color:#fff;padding:1px 6px;border-radius:3px">'
        f"{html.escape(status)}</span>"
    )


def _row(e: ReportEntry) -> str:
    finished = (e.finished_at or "")[:16].replace("T", " ")
    link = e.path / ("report.html" if e.status != "failed" else "report.failed.ipynb")
    headline = " · ".join(
        f'<span title="{html.escape(m.get("description", ""))}" style="color:'
        f'{_colour(str(m.get("status")))}">{html.escape(m["name"])}='
        f"{html.escape(_fmt(m.get('value')))}{html.escape(' ' + m['unit'] if m.get('unit') else '')}"
        f"</span>"
        for m in e.metrics
    )
    if e.error:
        headline = html.escape(e.error)
    return (
        f"<tr><td>{html.escape(e.kind)}</td>"
        f'<td style="white-space:nowrap"><a href="{html.escape(link.as_posix())}">'
        f"{html.escape(e.label)}</a></td>"
        f"<td>{_badge(e.status)}</td>"
        f'<td style="white-space:nowrap">{html.escape(finished)}</td>'
        f"<td style='font-size:90%'>{headline}</td></tr>"
    )


def render_index(entries: list[ReportEntry]) -> str:
    """The HTML of an index page for ``entries``."""
    rows = "\n".join(_row(e) for e in entries) or "<tr><td colspan=5>no reports yet</td></tr>"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>DSA-110 reports</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border-bottom:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}}</style>
</head><body><h1>DSA-110 reports</h1>
<table><thead><tr><th>report</th><th>window</th><th>status</th><th>finished (UTC)</th>
<th>headline metrics</th></tr></thead><tbody>
{rows}
</tbody></table></body></html>
"""


def write_index(root: str | os.PathLike[str]) -> Path:
    """Rebuild ``<root>/index.html`` from the folders present (atomic replace)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    return atomic_write(root / "index.html", render_index(list_reports(root)))
