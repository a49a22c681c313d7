"""Small widgets the panels are built from: status line, paginated table, auto-refresh
timer, PNG figures and escaped HTML tables.

Only what is on screen crosses to the browser: a
:class:`~dsa110_ws.panels._paged.PagedTable` keeps its DataFrame in the kernel and sends
one page of rows as HTML (built by :func:`table_html` here); figures are rendered to PNG
with matplotlib's object API (no pyplot state, safe in a worker thread).
"""

from __future__ import annotations

import contextlib
import html
import io
import math
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import ipywidgets as widgets
import pandas as pd
import traitlets

from dsa110_ws.core.severity import Severity

__all__ = [
    "StatusLine",
    "AutoRefresh",
    "new_figure",
    "figure_png",
    "png_widget",
    "kv_html",
    "table_html",
    "fmt_value",
    "section",
    "plotting",
    "plot_locked",
]

_LEVEL_COLOURS = {
    "info": "#555",
    "ok": Severity.OK.colour,
    "warning": Severity.WARNING.colour,
    "error": Severity.CRITICAL.colour,
    "busy": "#0969da",
}


class StatusLine(widgets.HTML):
    """One line of status text with a level (info, ok, busy, warning, error)."""

    message = traitlets.Unicode("")
    level = traitlets.Enum(list(_LEVEL_COLOURS), default_value="info")

    def __init__(self, message: str = "", level: str = "info", **kwargs: Any):
        super().__init__(**kwargs)
        self.add_class("dsa-status")
        self.show(message, level)

    def show(self, message: str, level: str = "info") -> None:
        """Replace the line's text (one line; newlines are folded)."""
        self.message = " ".join(str(message).split())
        self.level = level
        colour = _LEVEL_COLOURS[level]
        self.value = (
            f'<span class="dsa-status-{level}" style="color:{colour}">'
            f"{html.escape(self.message)}</span>"
        )


_TABLE_CSS = (
    "<style>.dsa-table td,.dsa-table th{padding:2px 8px;text-align:left;vertical-align:top}"
    ".dsa-table td.dsa-nowrap{white-space:nowrap}"
    ".dsa-kv th,.dsa-kv td{padding:1px 8px 1px 0;text-align:left;vertical-align:top}</style>"
)


def fmt_value(value: Any, *, digits: int = 4) -> str:
    """A cell value as short text: floats to ``digits`` significant figures, NaN/None blank."""
    if value is None:
        return ""
    if isinstance(value, pd.Timestamp):
        return "" if pd.isna(value) else value.strftime("%Y-%m-%d %H:%M:%S")
    if (
        isinstance(value, float)
        or hasattr(value, "dtype")
        and getattr(value.dtype, "kind", "") == "f"
    ):
        v = float(value)
        if not math.isfinite(v):
            return ""
        return f"{v:.{digits}g}"
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    text = str(value)
    return text if len(text) <= 120 else text[:117] + "..."


def table_html(
    df: pd.DataFrame,
    *,
    columns: list[str] | None = None,
    formatters: Mapping[str, Callable[[Any], str]] | None = None,
    highlight: Callable[[pd.Series], str | None] | None = None,
) -> str:
    """An escaped HTML table of ``df`` (only the given columns)."""
    cols = [c for c in (columns or list(df.columns)) if c in df.columns]
    fm = dict(formatters or {})
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    rows = []
    for _, row in df[cols].iterrows():
        style = highlight(row) if highlight else None
        texts = [fm[c](row[c]) if c in fm else fmt_value(row[c]) for c in cols]
        cells = "".join(
            f"<td{' class=dsa-nowrap' if len(t) <= 24 else ''}>{html.escape(t)}</td>" for t in texts
        )
        attr = f' style="background:{style}"' if style else ""
        rows.append(f"<tr{attr}>{cells}</tr>")
    return (
        _TABLE_CSS + '<table class="dsa-table" style="border-collapse:collapse;font-size:12px">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def kv_html(items: Mapping[str, Any] | list[tuple[str, Any]], *, title: str | None = None) -> str:
    """An escaped two-column key/value table."""
    pairs = list(items.items()) if isinstance(items, Mapping) else list(items)
    body = "".join(
        f"<tr><th style='text-align:left;padding-right:1em'>{html.escape(str(k))}</th>"
        f"<td>{html.escape(fmt_value(v))}</td></tr>"
        for k, v in pairs
    )
    cap = f"<b>{html.escape(title)}</b>" if title else ""
    return f'{cap}<table class="dsa-kv" style="font-size:12px">{body}</table>'


def section(title: str, *children: widgets.Widget) -> widgets.VBox:
    """A titled block."""
    head = widgets.HTML(f"<h4 style='margin:4px 0'>{html.escape(title)}</h4>")
    return widgets.VBox([head, *children], layout=widgets.Layout(margin="0 0 8px 0"))


class AutoRefresh(widgets.HBox):
    """A checkbox and an interval that call ``callback`` periodically while enabled.

    ``driver="thread"`` ticks from a kernel thread (stops cleanly on :meth:`stop`);
    ``driver="browser"`` ticks from a hidden ``Play`` widget in the page, so an
    abandoned page stops producing activity and Voila can cull its idle kernel.
    """

    enabled = traitlets.Bool(False)
    interval_s = traitlets.Float(60.0)
    ticks = traitlets.Int(0)

    def __init__(
        self,
        callback: Callable[[], Any],
        *,
        interval_s: float = 60.0,
        enabled: bool = False,
        driver: str = "thread",
        label: str = "auto-refresh",
    ):
        if driver not in {"thread", "browser"}:
            raise ValueError(f"driver must be 'thread' or 'browser', not {driver!r}")
        self.callback = callback
        self.driver = driver
        self.checkbox = widgets.Checkbox(
            value=False, description=label, indent=False, layout=widgets.Layout(width="auto")
        )
        self.every = widgets.BoundedIntText(
            value=max(1, int(interval_s)),
            min=1,
            max=86400,
            description="every (s)",
            layout=widgets.Layout(width="11em"),
        )
        self.play = widgets.Play(
            value=0,
            min=0,
            max=2**31 - 1,
            step=1,
            repeat=True,
            interval=int(interval_s * 1000),
            layout=widgets.Layout(display="none"),
        )
        # The page's Play model starts its timer only when it sees ``playing`` go from False
        # to True, not when it is created playing; count its views to restart it once shown.
        self.play._view_count = 0
        self.play.observe(self._viewed, "_view_count")
        self.now = widgets.Button(
            description="refresh now",
            tooltip="Refresh now (viewers of the same data share one read of the databases)",
            layout=widgets.Layout(width="auto"),
        )
        self.now.add_class("dsa-refresh-now")
        self.now.on_click(lambda _: self.tick())
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        super().__init__(children=[self.checkbox, self.every, self.now, self.play])
        self.interval_s = float(interval_s)
        widgets.link((self.checkbox, "value"), (self, "enabled"))
        self.every.observe(lambda ch: self.set_trait("interval_s", float(ch["new"])), "value")
        self.play.observe(self._browser_tick, "value")
        self.observe(self._changed, ["enabled", "interval_s"])
        self.enabled = enabled

    def _changed(self, change: dict) -> None:
        self.play.interval = int(self.interval_s * 1000)
        if self.driver == "browser":
            self._restart_play()
            return
        self._halt_thread()
        if self.enabled:
            self._stop = threading.Event()
            self._thread = threading.Thread(
                target=self._loop, args=(self._stop,), name="dsa110-ws-autorefresh", daemon=True
            )
            self._thread.start()

    def _restart_play(self) -> None:
        """(Re)start the page's timer with the current interval (pause, then play)."""
        self.play.playing = False
        if self.enabled:
            self.play.playing = True

    def _viewed(self, change: dict) -> None:
        if self.driver == "browser" and (change["new"] or 0) > (change["old"] or 0):
            self._restart_play()

    def _loop(self, stop: threading.Event) -> None:
        while not stop.wait(self.interval_s):
            self.tick()

    def _browser_tick(self, change: dict) -> None:
        if self.enabled and change["new"] != change["old"]:
            self.tick()

    def tick(self) -> None:
        """Count one tick and call the callback (which must not raise)."""
        self.ticks += 1
        self.callback()

    def _halt_thread(self) -> None:
        self._stop.set()
        t, self._thread = self._thread, None
        if t is not None and t is not threading.current_thread():
            t.join(timeout=5.0)

    def stop(self) -> None:
        """Disable and wait for the timer thread to end."""
        self.enabled = False
        self._halt_thread()
        self.play.playing = False

    @property
    def running(self) -> bool:
        """Whether a timer (thread or browser) is active."""
        if self.driver == "browser":
            return bool(self.play.playing)
        return self._thread is not None and self._thread.is_alive()


_PLOT_LOCK = threading.RLock()


@contextlib.contextmanager
def plotting() -> Iterator[None]:
    """Hold the panels' plotting lock: matplotlib is not thread-safe (shared font caches),
    and panels draw in worker threads, so every figure is made and rendered under it."""
    with _PLOT_LOCK:
        yield


def plot_locked(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a function that makes a figure so that it runs under :func:`plotting`."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _PLOT_LOCK:
            return fn(*args, **kwargs)

    return wrapper


_PNG_MEMO: dict[tuple[str, str], bytes] = {}
_PNG_MEMO_SIZE = 64


def _fingerprint(value: Any) -> str:
    """A digest of a plot's input: a frame by its values, index and columns; else its repr."""
    import hashlib

    h = hashlib.blake2b(digest_size=16)
    if isinstance(value, pd.DataFrame | pd.Series):
        h.update(repr((list(getattr(value, "columns", [])), str(value.dtypes))).encode())
        h.update(pd.util.hash_pandas_object(value, index=True).to_numpy().tobytes())
    else:
        h.update(repr(value).encode())
    return h.hexdigest()


def png_memo(fn: Callable[..., bytes]) -> Callable[..., bytes]:
    """Decorate a function that draws a PNG from its arguments so that the same arguments
    (frames compared by content) return the PNG already drawn: a refresh whose data did not
    change costs a digest of the rows, not a matplotlib render (most of a panel's refresh)."""
    import functools

    name = f"{fn.__module__}.{fn.__qualname__}"

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> bytes:
        key = (name, "|".join(_fingerprint(a) for a in (*args, *sorted(kwargs.items()))))
        with _PLOT_LOCK:
            hit = _PNG_MEMO.get(key)
        if hit is not None:
            return hit
        png = fn(*args, **kwargs)
        with _PLOT_LOCK:
            if len(_PNG_MEMO) >= _PNG_MEMO_SIZE:
                _PNG_MEMO.pop(next(iter(_PNG_MEMO)))
            _PNG_MEMO[key] = png
        return png

    return wrapper


def new_figure(width_in: float = 6.0, height_in: float = 3.0) -> Any:
    """A matplotlib ``Figure`` on the Agg canvas (no pyplot; usable from any thread)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def figure_png(fig: Any, *, dpi: int = 90) -> bytes:
    """Render a figure to PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def png_widget(
    png: bytes = b"", *, width: str | None = None, max_width: str | None = "760px"
) -> widgets.Image:
    """An ``Image`` widget holding PNG bytes (``width`` as CSS, never wider than
    ``max_width``), hidden while it is empty."""
    layout = widgets.Layout(width=width, max_width=max_width) if width else widgets.Layout()
    img = widgets.Image(value=png, format="png", layout=layout)

    def show(change: dict) -> None:
        img.layout.display = None if len(change["new"]) else "none"

    img.observe(show, "value")
    show({"new": img.value})
    return img
