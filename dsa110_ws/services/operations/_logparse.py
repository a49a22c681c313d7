"""Log lines as rows: parsing (a header ``time LEVEL logger: message``, continuation lines
inheriting the header before them), the filters of one read, and reading the head or the
tail of a file in bounded chunks."""

from __future__ import annotations

import re
from typing import Any, BinaryIO

import pandas as pd

from dsa110_ws.core.time import TimeLike, to_unix
from dsa110_ws.errors import InvalidQueryError
from dsa110_ws.services.operations._common import LEVELS, parse_log_line
from dsa110_ws.services.operations._logfile import read_backward, read_forward

__all__ = ["Keep", "check_count", "parse_lines", "read_head", "read_tail", "LOG_COLUMNS"]

LOG_COLUMNS = [
    "offset",
    "line_no",
    "time",
    "time_unix",
    "level",
    "logger",
    "message",
    "continuation",
    "raw",
]


class Keep:
    """The filters of one read, validated once: ``keep(df)`` applies them."""

    def __init__(
        self,
        level: str | None,
        pattern: str | None,
        start: TimeLike | None,
        end: TimeLike | None,
        now: Any,
    ):
        self.level = self.rx = self.lo = self.hi = None
        if level is not None:
            lv = str(level).upper()
            if lv not in LEVELS:
                raise InvalidQueryError(
                    f"Unknown log level {level!r}; use one of DEBUG, INFO, WARNING, ERROR, "
                    "CRITICAL."
                )
            self.level = LEVELS[lv]
        if pattern is not None:
            try:
                self.rx = re.compile(pattern)
            except re.error as exc:
                raise InvalidQueryError(f"Invalid regular expression {pattern!r}: {exc}.") from None
        if start is not None:
            self.lo = to_unix(start, now=now, what="start")
        if end is not None:
            self.hi = to_unix(end, now=now, what="end")

    def mask(self, df: pd.DataFrame) -> pd.Series:
        keep = pd.Series(True, index=df.index)
        if self.level is not None:
            lv = self.level
            keep &= df["level"].map(lambda x: LEVELS.get(str(x), -1)) >= lv
        if self.rx is not None:
            rx = self.rx
            keep &= df["raw"].map(lambda s: rx.search(s) is not None).astype(bool)
        if self.lo is not None:
            keep &= df["time_unix"] >= self.lo
        if self.hi is not None:
            keep &= df["time_unix"] < self.hi
        return keep

    def __call__(self, df: pd.DataFrame) -> pd.DataFrame:
        return df[self.mask(df)].reset_index(drop=True)


def check_count(n: Any, what: str) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise InvalidQueryError(f"{what} needs a non-negative integer line count, not {n!r}.")
    return n


_HEAD = {"time": None, "level": None, "logger": None}


def parse_lines(
    data: bytes,
    *,
    base_offset: int,
    first_line_no: int | None,
    prev: dict[str, Any] | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Rows of the lines in ``data``; continuation lines (no header) inherit ``prev`` (the
    header of the line before); returns the rows and the last header."""
    rows = []
    pos = 0
    prev = dict(prev or _HEAD)
    for k, raw in enumerate(data.splitlines(keepends=True)):
        text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        parsed = parse_log_line(text)
        if parsed is None:
            row = {**prev, "message": text, "continuation": True}
        else:
            prev = {"time": parsed["time"], "level": parsed["level"], "logger": parsed["logger"]}
            row = {**parsed, "continuation": False}
        row.update(
            offset=base_offset + pos,
            raw=text,
            line_no=None if first_line_no is None else first_line_no + k,
        )
        rows.append(row)
        pos += len(raw)
    df = pd.DataFrame(rows, columns=[c for c in LOG_COLUMNS if c != "time_unix"])
    times = pd.to_datetime(df["time"], errors="coerce", utc=True, format="ISO8601")
    unix = (times - pd.Timestamp("1970-01-01", tz="UTC")).dt.total_seconds()
    df.insert(3, "time_unix", unix.astype(float))
    return df, prev


def _inherit(later: pd.DataFrame, head: dict[str, Any]) -> None:
    """Give the leading continuation rows of ``later`` the header that precedes them."""
    if head["time"] is None and head["level"] is None or later.empty:
        return
    lead = (
        int(later["continuation"].to_numpy().argmin())
        if not later["continuation"].all()
        else len(later)
    )
    if lead:
        idx = later.index[:lead]
        later.loc[idx, "time"] = head["time"]
        later.loc[idx, "level"] = head["level"]
        later.loc[idx, "logger"] = head["logger"]
        t = pd.to_datetime(pd.Series([head["time"]]), errors="coerce", utc=True, format="ISO8601")
        later.loc[idx, "time_unix"] = float(
            (t - pd.Timestamp("1970-01-01", tz="UTC")).dt.total_seconds().iloc[0]
        )


def read_head(fh: BinaryIO, size: int, keep: Keep, *, max_bytes: int) -> pd.DataFrame:
    """Every matching line from the start, reading at most max_bytes."""
    parts, prev, line_no, done = [], None, 1, 0
    for off, block in read_forward(fh, 0):
        df, prev = parse_lines(block, base_offset=off, first_line_no=line_no, prev=prev)
        line_no += len(df)
        parts.append(keep(df))
        done = off + len(block)
        if done >= max_bytes and done < size:
            break
    out = _concat(parts)
    if done < size:
        out.attrs["truncated"] = (
            f"read only the first {_mib(done)} of {_mib(size)}; ask for a tail, or narrow the "
            "time range"
        )
    return out


def read_tail(fh: BinaryIO, end: int, n: int, keep: Keep, *, max_bytes: int) -> pd.DataFrame:
    """The last ``n`` matching lines before byte ``end``, reading backwards (at most
    max_bytes); line numbers only when the start of the file was reached."""
    blocks: list[pd.DataFrame] = []  # the latest first
    matched = scanned = 0
    first = end
    for off, block in read_backward(fh, end):
        df, head = parse_lines(block, base_offset=off, first_line_no=None)
        if blocks:
            _inherit(blocks[-1], head)
            matched += int(keep.mask(blocks[-1]).sum())
        blocks.append(df)
        first, scanned = off, scanned + len(block)
        settled = df if off == 0 else df[~_leading_continuations(df)]
        if n == 0 or matched + int(keep.mask(settled).sum()) >= n or scanned >= max_bytes:
            break
    whole = _concat(blocks[::-1])
    if first == 0 and len(whole):
        whole["line_no"] = range(1, len(whole) + 1)
    out = keep(whole)
    out = out.iloc[max(len(out) - n, 0) :] if n else out.iloc[:0]
    out = out.reset_index(drop=True)
    if first > 0 and len(out) < n:
        out.attrs["truncated"] = (
            f"searched only the last {_mib(end - first)} of {_mib(end)} for matching lines"
        )
    return out


def _leading_continuations(df: pd.DataFrame) -> pd.Series:
    cont = df["continuation"].astype(bool)
    return cont & (cont.cumprod().astype(bool))


def _concat(parts: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [p for p in parts if len(p)] or parts[:1]
    if not parts:
        df, _ = parse_lines(b"", base_offset=0, first_line_no=None)
        return df
    return (
        pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0].reset_index(drop=True)
    )


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB" if n >= 1 << 20 else f"{n} bytes"
