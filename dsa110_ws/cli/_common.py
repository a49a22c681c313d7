"""Helpers shared by the CLI modules."""

from __future__ import annotations

import json
import math
from typing import Any

import click

__all__ = [
    "workspace",
    "echo_json",
    "to_jsonable",
    "note",
    "shorten_left",
    "text_table",
    "echo_table",
    "iso_text",
]

#: Columns holding sky angles in degrees: printed to 1e-6 deg.
_DEG_COLUMNS = (
    "ra_deg",
    "dec_deg",
    "center_ra_deg",
    "center_dec_deg",
    "pointing_ra_deg",
    "pointing_dec_deg",
)


def workspace():
    """The workspace from the environment/settings (the demo when nothing is configured).

    Commands print their own "(first N shown ...)" line, so the repositories' truncation
    warning is silenced here.  Inside a command, the workspace is closed when the command
    ends (its pooled database connections, and its share of the demo's queue server),
    including when it ends by an error or ``ctx.exit``."""
    import warnings

    import dsa110_ws
    from dsa110_ws.repositories import TruncatedResultWarning

    warnings.simplefilter("ignore", TruncatedResultWarning)

    w = dsa110_ws.connect()
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.call_on_close(w.close)
    return w


def interruptible() -> None:
    """Let Ctrl-C (SIGINT) stop a long-running command: a process started in the
    background by a non-interactive shell (a script's ``&``, ``make run &``, a CI runner)
    inherits SIGINT ignored, and Python then never raises KeyboardInterrupt, so
    ``kill -INT`` was ignored for ever."""
    import contextlib
    import signal

    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        with contextlib.suppress(ValueError):  # not the main thread: leave it
            signal.signal(signal.SIGINT, signal.default_int_handler)


def to_jsonable(obj: Any) -> Any:
    """Python/numpy/pandas values to JSON-safe ones (NaN -> null)."""
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [to_jsonable(v) for v in obj]
    if hasattr(obj, "to_dict") and hasattr(obj, "columns"):  # DataFrame
        return [to_jsonable(r) for r in obj.to_dict(orient="records")]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    if obj is not None and not isinstance(obj, (str, int, float, bool)):
        try:
            import pandas as pd

            if pd.isna(obj):
                return None
        except (TypeError, ValueError):
            pass
        return str(obj)
    return obj


def echo_json(obj: Any) -> None:
    click.echo(json.dumps(to_jsonable(obj), indent=2, sort_keys=False))


def note(message: str) -> None:
    """One line on standard error, ``note: ...`` (never a traceback or a source path)."""
    click.echo(f"note: {' '.join(str(message).split())}", err=True)


def shorten_left(text: Any, width: int = 48) -> str:
    """``text`` cut on the left to ``width`` characters (``…`` first), so a path keeps its
    file name: ``…/2026-11-14/2026-11-14T14:50:50.ms``."""
    s = "" if text is None else str(text)
    return s if len(s) <= width else "…" + s[-(width - 1) :]


def iso_text(value: Any) -> str:
    """A time as ISO 8601 UTC to the millisecond (``2026-11-05T15:23:43.331``); ``""``
    when missing."""
    import pandas as pd

    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.tz_localize(None).isoformat(timespec="milliseconds")


def _cell(value: Any, column: str, paths: tuple[str, ...], width: int) -> str:
    import pandas as pd

    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if column in paths:
        return shorten_left(value, width)
    if isinstance(value, (pd.Timestamp,)) or hasattr(value, "isoformat"):
        return iso_text(value)
    if isinstance(value, float):
        if column in _DEG_COLUMNS:
            return f"{value:.6f}"
        if column.endswith("mjd"):
            return f"{value:.6f}"
        return f"{value:.6g}"
    return str(value)


def text_table(df: Any, columns: list[str], *, paths: tuple[str, ...] = (), width: int = 48) -> str:
    """``df[columns]`` as a text table: missing values blank (never NaN), times ISO UTC,
    RA/Dec to 1e-6 deg, other floats to six significant digits, ``paths`` columns cut on
    the left to ``width`` characters; numbers right-aligned, text left-aligned."""
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    cols = [c for c in columns if c in df.columns]
    cells = {c: [_cell(v, c, paths, width) for v in df[c]] for c in cols}
    right = {c: is_numeric_dtype(df[c]) and not is_bool_dtype(df[c]) for c in cols}
    widths = {c: max([len(c), *(len(x) for x in cells[c])]) for c in cols}

    def fit(text: str, c: str) -> str:
        return text.rjust(widths[c]) if right[c] else text.ljust(widths[c])

    lines = ["  ".join(fit(c, c) for c in cols).rstrip()]
    lines += ["  ".join(fit(cells[c][i], c) for c in cols).rstrip() for i in range(len(df))]
    return "\n".join(lines)


def echo_table(
    df: Any, columns: list[str], *, paths: tuple[str, ...] = (), width: int = 48
) -> None:
    """Print :func:`text_table`, or ``(none)`` for no rows."""
    if df.empty:
        click.echo("(none)")
        return
    click.echo(text_table(df, columns, paths=paths, width=width))
