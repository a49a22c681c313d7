"""How the reports write numbers: percentages, thresholds, sky positions.

One place, so the metrics table, the "needs attention" block, the trends and the index
page say the same thing the same way: fractions and rates as percentages (a success rate
is "97.5%", never 0.975), missing values blank, sky positions in degrees to 1e-6 deg
(3.6 mas, finer than any DSA-110 position) beside their sexagesimal form.
"""

from __future__ import annotations

from typing import Any

from dsa110_ws.core.coordtext import deg_text, sexagesimal

__all__ = [
    "is_fraction",
    "value_text",
    "threshold_text",
    "breach_op",
    "deg_text",
    "sexagesimal",
    "missing",
]

#: Metric names whose unitless value is a fraction of 1 (shown as a percentage).
_FRACTION_SUFFIXES = ("_fraction", "_fraction_cross", "_rate")


def missing(value: Any) -> bool:
    """``None``, NaN or pandas' missing markers."""
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN, pd.NA raises
    except (TypeError, ValueError):
        return False


def is_fraction(name: str, unit: str = "") -> bool:
    """Whether a metric (by its name and unit) is a fraction of 1, shown in percent."""
    return not unit and name.endswith(_FRACTION_SUFFIXES)


def value_text(value: Any, *, name: str = "", unit: str = "") -> str:
    """A metric value for people: fractions in percent, counts as integers, others to four
    significant digits with their unit; blank when missing."""
    if missing(value):
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if is_fraction(name, unit) and isinstance(value, (int, float)):
        return f"{100 * value:.1f}%"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and not unit):
        text = f"{int(value)}"
    elif isinstance(value, float):
        text = f"{value:.4g}"
    else:
        text = str(value)
    return f"{text} {unit}" if unit else text


def breach_op(metric: dict[str, Any]) -> str:
    """How a metric's value breaches its thresholds: ``≥``/``≤``, or ``>``/``<`` when
    ``strict`` (the ``[qa.*]`` settings' convention: "more than this")."""
    up = metric.get("higher_is_worse", True)
    if metric.get("strict"):
        return ">" if up else "<"
    return "≥" if up else "≤"


def threshold_text(metric: dict[str, Any]) -> str:
    """``"warning ≥ 10.0%, critical ≥ 25.0%"`` for a metric dict (``>`` when the metric is
    ``strict``); ``""`` without thresholds."""
    op = breach_op(metric)
    name, unit = str(metric.get("name", "")), str(metric.get("unit") or "")
    parts = [
        f"{k} {op} {value_text(metric[k], name=name, unit=unit)}"
        for k in ("warning", "critical")
        if not missing(metric.get(k))
    ]
    return ", ".join(parts)
