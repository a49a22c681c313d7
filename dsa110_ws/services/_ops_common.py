"""Shared helpers of the operations services: status classes, time windows, log lines."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from typing import Any

from dsa110_ws._util.timeparse import TimeLike, to_time
from dsa110_ws.errors import InvalidQueryError

__all__ = [
    "SUCCESS",
    "FAILED",
    "ACTIVE",
    "PENDING",
    "CANCELLED",
    "MS_STAGES",
    "MS_TERMINAL",
    "status_class",
    "window",
    "shift",
    "as_seconds",
    "duration_s",
    "parse_log_line",
    "failure_reason",
    "json_list",
    "json_dict",
    "ops_setting",
    "LEVELS",
    "iso_utc",
]

#: Stored job/item statuses that mean success.  Batch jobs end in 'done', older jobs in
#: 'completed': both count (the old backend counted only 'completed').
SUCCESS = frozenset({"done", "completed", "success", "succeeded"})
FAILED = frozenset({"failed", "error"})
ACTIVE = frozenset({"running", "started"})
PENDING = frozenset({"pending", "queued"})
CANCELLED = frozenset({"cancelled", "canceled"})

#: The MS state machine in order (DESIGN.md section 3).
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


def window(
    now: Any,
    start: TimeLike = None,
    end: TimeLike = None,
    *,
    default: dt.timedelta = dt.timedelta(hours=24),
) -> tuple[Any, Any]:
    """Resolve [start, end) to astropy ``Time``; defaults: end = now, start = end - default.

    Relative words ('yesterday', 'now') are taken relative to ``now`` (the workspace clock).
    """
    hi = now if end is None else to_time(end, now=now, what="end")
    lo = (
        shift(hi, -default.total_seconds())
        if start is None
        else to_time(start, now=now, what="start")
    )
    if hi < lo:
        raise InvalidQueryError(
            f"The window end {hi.isot} is before its start {lo.isot}; swap them."
        )
    return lo, hi


def shift(t: Any, seconds: float) -> Any:
    """``t`` moved by ``seconds``, computed in Unix seconds.

    (Astropy ``Time`` arithmetic in UTC consults the leap-second table, which may try to
    update itself from the network; the workspace never needs that precision.)
    """
    from astropy.time import Time

    return Time(float(t.unix) + float(seconds), format="unix", scale="utc")


def as_seconds(value: Any, *, what: str) -> float:
    """A duration (``timedelta`` or an astropy time ``Quantity``) in seconds."""
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if hasattr(value, "unit") and hasattr(value, "to_value"):
        from astropy import units as u

        try:
            return float(value.to_value(u.s))
        except u.UnitConversionError:
            raise InvalidQueryError(f"{what} {value} is not a duration.") from None
    raise InvalidQueryError(
        f"{what}={value!r} has no unit: pass a datetime.timedelta or an astropy Quantity such "
        "as 2 * u.hour."
    )


def duration_s(started: Any, finished: Any) -> float | None:
    """finished - started in seconds, or None when either is missing."""
    try:
        a, b = float(started), float(finished)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(a) or math.isnan(b) else b - a


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


def ops_setting(workspace: Any, key: str, default: Any) -> Any:
    """A value from the settings table ``[operations]``, else ``default``."""
    return workspace.settings.section("operations").get(key, default)


def iso_utc(unix: float) -> str:
    """Unix seconds as an ISO UTC string with milliseconds (the pipeline's log format)."""
    t = dt.datetime.fromtimestamp(float(unix), dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
