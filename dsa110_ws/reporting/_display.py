"""Small HTML blocks the report sections return (shown by Jupyter via ``_repr_html_``)."""

from __future__ import annotations

import base64
import hashlib
import html
import json
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from dsa110_ws.workspace import Workspace

from dsa110_ws.core.severity import NEUTRAL_COLOUR, Severity, badge_html

__all__ = [
    "HTMLBlock",
    "note",
    "table",
    "metrics_table",
    "thumbnail_grid",
    "join",
    "link",
    "badge",
    "figure_block",
    "cached_figure",
]


class HTMLBlock:
    """A piece of HTML that displays itself in a notebook (and in nbconvert's HTML)."""

    def __init__(self, html_text: str, *, text: str = ""):
        self.html = html_text
        self.text = text or "(see the HTML rendering)"

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return self.text


def badge(status: Any) -> str:
    """A status word (or QA grade, verdict...) on its severity's colour; ``info`` (a metric
    without thresholds) as neutral text, never a colour of the ladder."""
    if str(status) in ("info", "not judged"):
        word = "no threshold" if str(status) == "info" else "not judged"
        return f'<span style="color:{NEUTRAL_COLOUR}">{word}</span>'
    return badge_html(str(status), str(status))


def note(message: str, *, kind: str = "info") -> HTMLBlock:
    """One paragraph; ``kind="unavailable"`` for a section whose data source is missing."""
    colour = Severity.UNKNOWN.colour if kind == "unavailable" else NEUTRAL_COLOUR
    return HTMLBlock(f'<p style="color:{colour}"><em>{html.escape(message)}</em></p>', text=message)


def _cell(
    value: Any, status_cols: set[str], col: str, formats: dict[str, Callable[[Any], str]]
) -> str:
    if col in formats:
        return html.escape(formats[col](value))
    if col in status_cols and value is not None and value == value:
        return badge(value)
    if _missing(value):  # None, NaN, NaT, pd.NA: a dash, never "NaT" or "<NA>"
        return "–"
    if isinstance(value, float):
        return f"{value + 0.0:.4g}"  # + 0.0: never "-0"
    if isinstance(value, pd.Timestamp):  # to the second, as every time in the reports
        return html.escape(value.strftime("%Y-%m-%d %H:%M:%S"))
    if isinstance(value, (list, tuple)):
        return html.escape(", ".join(str(v) for v in value))
    return html.escape(str(value))


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` for the text version: every missing value a dash, as in the HTML."""
    out = df.astype(object)
    return out.mask(out.isna(), "–")


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, (str, bytes, list, tuple, dict)) or hasattr(value, "__len__"):
        return False
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _align(value: Any) -> str:
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    return "right" if numeric or hasattr(value, "dtype") else "left"


def table(
    df: pd.DataFrame,
    *,
    columns: Sequence[str] | None = None,
    status_columns: Iterable[str] = (),
    caption: str | None = None,
    max_rows: int = 200,
    formats: dict[str, Callable[[Any], str]] | None = None,
    nowrap: Iterable[str] = (),
) -> HTMLBlock:
    """A plain HTML table of ``df`` (no index), status columns as coloured badges;
    ``formats`` maps a column to the function writing its cells (e.g. percentages);
    ``nowrap`` columns never wrap (status columns never do)."""
    cols = [c for c in (columns or list(df.columns)) if c in df.columns]
    status_cols = set(status_columns)
    fmts = dict(formats or {})
    keep = set(nowrap) | status_cols
    wrap = {c: ";white-space:nowrap" if c in keep else "" for c in cols}
    shown = df.head(max_rows)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td style="text-align:{_align(row[c])}{wrap[c]}">'
            f"{_cell(row[c], status_cols, c, fmts)}</td>"
            for c in cols
        )
        + "</tr>"
        for _, row in shown[cols].iterrows()
    )
    more = (
        f"<p><em>{len(df) - max_rows} more rows not shown.</em></p>" if len(df) > max_rows else ""
    )
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    if df.empty:
        return note(caption + ": none." if caption else "None.")
    return HTMLBlock(
        f'<table class="dsa-report">{cap}<thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table>{more}",
        text=_plain(shown[cols]).to_string(index=False),
    )


def metrics_table(metrics: Sequence[Any]) -> HTMLBlock:
    """The headline metrics with value, thresholds and status (like ASKAP's table);
    fractions and rates in percent, metrics without thresholds neutral."""
    from dsa110_ws.reporting._format import threshold_text, value_text

    rows = []
    for m in metrics:
        d = m if isinstance(m, dict) else m.to_dict()
        unit = str(d.get("unit") or "")
        rows.append(
            {
                "metric": d["name"],
                "value": value_text(d["value"], name=d["name"], unit=unit)
                or ("–" if d["status"] == "unknown" else ""),
                "thresholds": threshold_text(d),
                # info with thresholds: a comparison that could not be made honestly
                "status": "not judged"
                if d["status"] == "info"
                and (d.get("warning") is not None or d.get("critical") is not None)
                else d["status"],
                "description": d.get("description", ""),
                "detail": d.get("detail", ""),
            }
        )
    return table(
        pd.DataFrame(rows), status_columns=["status"], nowrap=["metric", "value", "thresholds"]
    )


def thumbnail_grid(items: Sequence[dict[str, Any]]) -> HTMLBlock:
    """Figures of PNG thumbnails with captions: items have ``png`` (bytes), ``title`` and
    ``lines`` (caption lines)."""
    figs = []
    for it in items:
        img = (
            "<div style='width:200px;height:200px;background:#eee'>no thumbnail</div>"
            if not it.get("png")
            else f'<img src="data:image/png;base64,{base64.b64encode(it["png"]).decode()}" '
            f'width="200" alt="{html.escape(it.get("title", ""))}">'
        )
        lines = "".join(f"<br>{html.escape(str(x))}" for x in it.get("lines", []))
        figs.append(
            f'<figure style="display:inline-block;margin:6px;vertical-align:top;'
            f'width:210px">{img}<figcaption style="font-size:85%">'
            f"<b>{html.escape(it.get('title', ''))}</b>{lines}</figcaption></figure>"
        )
    if not figs:
        return note("No images.")
    return HTMLBlock(
        "<div>" + "".join(figs) + "</div>", text="\n".join(it.get("title", "") for it in items)
    )


def _png_block(data: str) -> HTMLBlock:
    return HTMLBlock(f'<img src="data:image/png;base64,{data}" alt="figure">', text="(figure)")


def _png_base64(fig: Any) -> str:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def figure_block(fig: Any) -> HTMLBlock:
    """A matplotlib figure (``matplotlib.figure.Figure``, no pyplot state) as an embedded PNG."""
    return _png_block(_png_base64(fig))


def cached_figure(
    w: Workspace, what: str, data: pd.DataFrame, extra: Any, make: Callable[[], Any]
) -> HTMLBlock:
    """A figure rendered by ``make()``, cached in the workspace's state database under the
    hash of exactly what it plots (``data`` and ``extra``): a rerun over unchanged data
    neither imports matplotlib nor renders again."""
    payload = json.dumps(
        {
            "v": 1,
            "what": what,
            "extra": extra,
            "data": data.to_json(orient="split", date_format="iso", double_precision=15),
        },
        sort_keys=True,
        default=str,
    )
    key = f"report.figure:{what}:{hashlib.sha256(payload.encode()).hexdigest()}"
    hit = w.results.get_or_compute(
        key, "report.figure", lambda: {"png_base64": _png_base64(make())}
    )
    return _png_block(hit["png_base64"])


def link(text: str, url: str) -> HTMLBlock:
    """One paragraph holding one link."""
    return HTMLBlock(
        f'<p><a href="{html.escape(url, quote=True)}">{html.escape(text)}</a></p>',
        text=f"{text}: {url}",
    )


def join(*blocks: HTMLBlock | str) -> HTMLBlock:
    """Several blocks as one (strings are escaped paragraphs)."""
    parts = [b.html if isinstance(b, HTMLBlock) else f"<p>{html.escape(b)}</p>" for b in blocks]
    texts = [b.text if isinstance(b, HTMLBlock) else b for b in blocks]
    return HTMLBlock("".join(parts), text="\n".join(texts))
