"""The "needs attention" block: at most five lines naming the worst things with their numbers.

Read at breakfast: the metrics that breached a threshold (critical first, then warning, a
report section that failed among the warnings), then those that could not be judged
(unknown), each in one line that quotes the metric's own ``detail`` (``"3 of 8 images graded bad (37.5%)"``) and its threshold.  Metrics
without thresholds (``info``) never appear: they are numbers, not verdicts.  The same
lines head the report and fill the index page's "needs attention" column.
"""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Iterable, Sequence
from typing import Any

from dsa110_ws.core.severity import NEUTRAL_COLOUR, Severity
from dsa110_ws.reporting._format import breach_op, value_text

__all__ = ["AttentionLine", "needs_attention", "attention_html", "MAX_LINES"]

#: At most this many lines (the last one says how many more there are).
MAX_LINES = 5
_RANKED = (Severity.CRITICAL, Severity.WARNING, Severity.UNKNOWN)


@dataclasses.dataclass(frozen=True)
class AttentionLine:
    """One line of the block: its severity and its text."""

    severity: Severity
    text: str
    metric: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"severity": self.severity.value, "text": self.text, "metric": self.metric}


def _as_dict(m: Any) -> dict[str, Any]:
    return m if isinstance(m, dict) else m.to_dict()


def _line(m: dict[str, Any], sev: Severity) -> AttentionLine:
    name = str(m.get("name", ""))
    what = m.get("detail") or (
        f"{m.get('description') or name}: "
        f"{value_text(m.get('value'), name=name, unit=str(m.get('unit') or '')) or 'no value'}"
    )
    tail = ""
    limit = m.get(sev.value) if sev in (Severity.WARNING, Severity.CRITICAL) else None
    if limit is not None:
        op = breach_op(m)
        unit = str(m.get("unit") or "")
        tail = f" ({sev.value} at {op} {value_text(limit, name=name, unit=unit)})"
    elif sev == Severity.UNKNOWN and not m.get("detail"):
        tail = " (could not be measured)"
    text = f"{what[:1].upper()}{what[1:]}{tail}"
    return AttentionLine(sev, text, name)


def _section_lines(errors: Sequence[dict[str, str]], room: int) -> list[AttentionLine]:
    """One warning line per failed section; one line naming them all when more than
    ``room`` failed (every failure is always named)."""
    if len(errors) <= room:
        return [
            AttentionLine(Severity.WARNING, f"Section {e['section']} failed: {e['error']}")
            for e in errors
        ]
    names = ", ".join(str(e["section"]) for e in errors)
    return [
        AttentionLine(
            Severity.WARNING, f"{len(errors)} sections failed ({names}): each says why in its place"
        )
    ]


def needs_attention(
    metrics: Iterable[Any],
    *,
    section_errors: Sequence[dict[str, str]] = (),
    limit: int = MAX_LINES,
) -> list[AttentionLine]:
    """The lines of the block, worst first (critical, warning, unknown), at most ``limit``;
    when more are due the last line says how many were left out.  An empty list means
    nothing breached a threshold and no section failed.

    A section that failed (``section_errors``: ``{"section", "error"}`` each) is a warning
    line ``Section <name> failed: <reason>``, ahead of the warning metrics; failed sections
    are never among the lines left out."""
    ms = [_as_dict(m) for m in metrics]
    judged = [
        _line(m, sev)
        for sev in _RANKED
        for m in ms
        if m.get("status") == sev.value and not str(m.get("name", "")).startswith("unavailable_")
    ]
    judged += [
        AttentionLine(Severity.UNKNOWN, f"Not available: {m.get('description') or m['name']}")
        for m in ms
        if str(m.get("name", "")).startswith("unavailable_")
    ]
    sections = _section_lines(section_errors, room=limit - 1)
    if len(sections) + len(judged) <= limit:
        kept, rest = judged, []
    else:
        kept = judged[: limit - 1 - len(sections)]
        rest = judged[len(kept) :]
    # worst first; a stable sort keeps the failed sections ahead of the warning metrics
    lines = sorted([*sections, *kept], key=lambda ln: -ln.severity.rank)
    if rest:
        worst = max((ln.severity for ln in rest), key=lambda s: s.rank)
        lines.append(AttentionLine(worst, f"... and {len(rest)} more: see the headline metrics."))
    return lines


def attention_html(lines: Sequence[AttentionLine], *, compact: bool = False) -> str:
    """The block as HTML: one coloured line per item (severity word, then the text), or one
    neutral line saying nothing needs attention.  ``compact`` drops the heading (index)."""
    if not lines:
        body = (
            f'<div style="color:{NEUTRAL_COLOUR}">Nothing breached a threshold.</div>'
            if compact
            else f'<p style="color:{NEUTRAL_COLOUR}">Nothing breached a threshold.</p>'
        )
    else:
        body = "".join(
            f'<div class="dsa-attention-{ln.severity.value}" style="color:{ln.severity.colour}">'
            f"<b>{ln.severity.value.upper()}</b> {html.escape(ln.text)}</div>"
            for ln in lines
        )
    if compact:
        return body
    border = lines[0].severity.colour if lines else NEUTRAL_COLOUR
    return (
        f'<section class="dsa-attention" style="border-left:6px solid {border};'
        f'padding:6px 12px;margin:8px 0;font-size:110%">'
        f'<h2 style="margin:0 0 4px 0;font-size:120%">Needs attention</h2>{body}</section>'
    )
