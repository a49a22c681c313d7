"""Failures grouped by cause: an error text with its ids, paths, times and numbers normalised.

``"RuntimeError: Error (...) when acquiring lock on /data/ms/2026-11-14/a.ms/table.lock"``
and the same error on another MS are one cause, ``"RuntimeError: Error (...) when
acquiring lock on <path>"``, so forty tasks that failed the same way are one line.
"""

from __future__ import annotations

import re

import pandas as pd

__all__ = ["cause_of", "group_failures", "FAILURE_COLUMNS"]

FAILURE_COLUMNS = [
    "cause",
    "n",
    "task_names",
    "queues",
    "first_at",
    "last_at",
    "example",
    "task_ids",
]

_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"),
        "<id>",
    ),
    (
        re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?"),
        "<time>",
    ),
    (re.compile(r"""(?<![\w<])(/[^\s'":,;)\]]+)+"""), "<path>"),
    (re.compile(r"\b0x[0-9a-fA-F]+\b"), "<hex>"),
    (re.compile(r"(?<![\w<])[-+]?\d+(\.\d+)?([eE][-+]?\d+)?(?![\w>])"), "<n>"),
)


def cause_of(error: str | None) -> str:
    """The normalised first line of an error text (``"(no error text)"`` when empty)."""
    if not isinstance(error, str) or not error.strip():
        return "(no error text)"
    line = error.strip().splitlines()[0]
    for pattern, repl in _RULES:
        line = pattern.sub(repl, line)
    return " ".join(line.split())[:300]


def group_failures(failed: pd.DataFrame) -> pd.DataFrame:
    """Failed tasks (task_id, queue_name, task_name, error, completed_at) grouped by cause,
    most frequent first: cause, n, task_names, queues, first_at, last_at, example,
    task_ids."""
    if failed.empty:
        return pd.DataFrame(columns=FAILURE_COLUMNS)
    df = failed.assign(cause=[cause_of(e) for e in failed["error"]])
    rows = []
    for cause, g in df.groupby("cause", sort=False):
        g = g.sort_values("completed_at")
        rows.append(
            {
                "cause": cause,
                "n": len(g),
                "task_names": sorted(set(g["task_name"])),
                "queues": sorted(set(g["queue_name"])),
                "first_at": g["completed_at"].iloc[0],
                "last_at": g["completed_at"].iloc[-1],
                "example": str(g["error"].iloc[-1]).splitlines()[0][:300],
                "task_ids": [str(t) for t in g["task_id"]],
            }
        )
    out = pd.DataFrame(rows, columns=FAILURE_COLUMNS)
    return out.sort_values(["n", "last_at"], ascending=[False, False], ignore_index=True)
