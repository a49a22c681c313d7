"""Shared helpers of the operations services: status classes, the MS state machine, log lines.

(Times, windows and durations are :mod:`dsa110_ws.core.time`.)
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

__all__ = [
    "SUCCESS",
    "FAILED",
    "ACTIVE",
    "PENDING",
    "CANCELLED",
    "MS_STAGES",
    "MS_TERMINAL",
    "status_class",
    "parse_log_line",
    "failure_reason",
    "json_list",
    "json_dict",
    "LEVELS",
]

#: Stored job/item statuses that mean success.  Batch jobs end in 'done', older jobs in
#: 'completed': both count (the old backend counted only 'completed').
SUCCESS = frozenset({"done", "completed", "success", "succeeded"})
FAILED = frozenset({"failed", "error"})
ACTIVE = frozenset({"running", "started"})
PENDING = frozenset({"pending", "queued"})
CANCELLED = frozenset({"cancelled", "canceled"})

#: The MS state machine in order (docs/pipeline-data.md).
MS_STAGES = (
    "pending",
    "converting",
    "converted",
    "flagging_rfi",
    "solving_cal",
    "applying_cal",
    "imaging",
    "done",
)
#: States in which an MS is not expected to move on by itself.
MS_TERMINAL = ("done", "completed", "failed", "error")

LEVELS = {
    "DEBUG": 10,
    "INFO": 20,
    "WARNING": 30,
    "WARN": 30,
    "ERROR": 40,
    "CRITICAL": 50,
    "FATAL": 50,
}


def status_class(status: Any) -> str:
    """'success', 'failed', 'running', 'pending', 'cancelled' or 'other' for a stored status."""
    s = str(status).strip().lower() if status is not None else ""
    for name, group in (
        ("success", SUCCESS),
        ("failed", FAILED),
        ("running", ACTIVE),
        ("pending", PENDING),
        ("cancelled", CANCELLED),
    ):
        if s in group:
            return name
    return "other"


_LINE = re.compile(
    r"^(?P<time>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?)"
    r"\s+(?:-\s+)?(?P<level>DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL|FATAL)\b\s*(?:-\s+)?"
    r"(?P<rest>.*)$"
)
# a logger name such as ``dsa110.pipeline[run-1]:`` (needs a dot or a bracket, so that a
# message like ``bandpass: ...`` is not mistaken for one)
_LOGGER = re.compile(r"^(?P<logger>[A-Za-z_][\w.-]*(?:\[[^\]]*\])?):\s+(?P<msg>.*)$")


def parse_log_line(line: str) -> dict[str, Any] | None:
    """Split ``ISO-time LEVEL [logger:] message``; None when the line has no such header."""
    m = _LINE.match(line.rstrip("\r\n"))
    if m is None:
        return None
    rest = m.group("rest")
    logger = None
    lm = _LOGGER.match(rest)
    if lm and ("." in lm.group("logger") or "[" in lm.group("logger")):
        logger, rest = lm.group("logger"), lm.group("msg")
    level = m.group("level").upper()
    return {
        "time": m.group("time").replace(" ", "T").replace(",", "."),
        "level": "WARNING" if level == "WARN" else "CRITICAL" if level == "FATAL" else level,
        "logger": logger,
        "message": rest,
    }


def failure_reason(logs: Any) -> str | None:
    """The message of the last ERROR/CRITICAL line of a job's ``logs`` text, if any."""
    if not isinstance(logs, str) or not logs:
        return None
    for line in reversed(logs.splitlines()):
        parsed = parse_log_line(line)
        if parsed and LEVELS[parsed["level"]] >= LEVELS["ERROR"]:
            return parsed["message"].strip() or None
    return None


def json_list(text: Any) -> list[Any]:
    """A JSON list column as a list ([] when empty or malformed; a bare string -> [it])."""
    if text is None or (isinstance(text, float) and math.isnan(text)) or text == "":
        return []
    try:
        value = json.loads(text) if isinstance(text, str) else text
    except ValueError:
        return [text]
    return list(value) if isinstance(value, (list, tuple)) else [value]


def json_dict(text: Any) -> dict[str, Any]:
    """A JSON object column as a dict ({} when empty; {'_raw': text} when malformed)."""
    if text is None or (isinstance(text, float) and math.isnan(text)) or text == "":
        return {}
    try:
        value = json.loads(text) if isinstance(text, str) else text
    except ValueError:
        return {"_raw": text}
    return dict(value) if isinstance(value, dict) else {"_value": value}
