"""QA grading records (thresholds: the settings sections ``[qa.image]`` and ``[qa.cal]``).

A grade is never a bare word: every result carries its checks, one :class:`Check` per metric
with the value, the threshold it was compared with, the verdict and a sentence saying why.
The grade is ``"bad"`` if any check failed, ``"warning"`` if any warned, ``"unknown"`` if a
metric could not be measured (its check's verdict is ``"unknown"`` and its reason starts
``"cannot grade: "``), else ``"good"``: the order of the severity ladder (critical, warning,
unknown, ok), so what could not be measured is never reported as good.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from dsa110_ws.core.settings import QACalSettings, QAImageSettings

__all__ = ["Check", "grade_of", "cannot_grade", "IMAGE_QA_DEFAULTS", "CAL_QA_DEFAULTS"]

VERDICTS = ("pass", "warn", "fail", "unknown")
#: The prefix of the reason of every check that could not be measured.
CANNOT_GRADE = "cannot grade: "


def _defaults(model: Any) -> dict[str, tuple[float, str]]:
    return {n: (float(f.default), f.description or "") for n, f in model.model_fields.items()}


#: ``[qa.image]`` thresholds: name -> (default, meaning) (from :class:`QAImageSettings`).
IMAGE_QA_DEFAULTS: dict[str, tuple[float, str]] = _defaults(QAImageSettings)
#: ``[qa.cal]`` thresholds: name -> (default, meaning) (from :class:`QACalSettings`).
CAL_QA_DEFAULTS: dict[str, tuple[float, str]] = _defaults(QACalSettings)


@dataclasses.dataclass(frozen=True)
class Check:
    """One graded metric: ``value`` compared with ``threshold`` by ``comparison`` (the
    condition for passing: ``'<='``, ``'>='``, ``'present'``...), the ``verdict`` (pass, warn or
    fail) and the ``reason`` in words."""

    metric: str
    value: Any
    threshold: Any
    comparison: str
    verdict: str
    reason: str

    @property
    def measured(self) -> bool:
        """Whether the metric could be measured (verdict other than ``"unknown"``)."""
        return self.verdict != "unknown"

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for k in ("value", "threshold"):
            if isinstance(d[k], float) and not math.isfinite(d[k]):
                d[k] = None
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Check:
        kw: dict[str, Any] = {f.name: d.get(f.name) for f in dataclasses.fields(cls)}
        return cls(**kw)


class GradedMixin:
    """``reasons`` and ``check(metric)`` for results holding a ``checks`` tuple."""

    checks: tuple[Check, ...]

    @property
    def reasons(self) -> list[str]:
        """Reasons of the checks that did not pass (worst first)."""
        order = {"fail": 0, "warn": 1, "unknown": 2}
        bad = sorted(
            (c for c in self.checks if c.verdict != "pass"), key=lambda c: order.get(c.verdict, 2)
        )
        return [c.reason for c in bad]

    def check(self, metric: str) -> Check:
        """The check of one metric (``KeyError`` if it was not graded)."""
        for c in self.checks:
            if c.metric == metric:
                return c
        raise KeyError(f"No check {metric!r}; graded: {[c.metric for c in self.checks]}")


def grade_of(checks: list[Check] | tuple[Check, ...]) -> str:
    """``'bad'`` if any check failed, ``'warning'`` if any warned, ``'unknown'`` if any could
    not be measured (or there are no checks), else ``'good'``."""
    verdicts = {c.verdict for c in checks}
    if "fail" in verdicts:
        return "bad"
    if "warn" in verdicts:
        return "warning"
    return "unknown" if "unknown" in verdicts or not verdicts else "good"


def cannot_grade(
    metric: str, why: str, *, value: Any = None, threshold: Any = None, comparison: str = "measured"
) -> Check:
    """The check of a metric that could not be measured: verdict ``"unknown"``, reason
    ``"cannot grade: <why>"``."""
    return Check(metric, value, threshold, comparison, "unknown", CANNOT_GRADE + why)


def upper(
    metric: str,
    value: float,
    warn: float | None,
    fail: float | None,
    what: str,
    unit: str = "",
    fmt: str = ".3g",
) -> Check:
    """Check a metric that must stay at or below ``warn`` (warning) and ``fail`` (bad)."""
    shown = f"{what} is {value:{fmt}}{unit}"
    if fail is not None and value > fail:
        return Check(
            metric, value, fail, "<=", "fail", f"{shown}, above the limit {fail:{fmt}}{unit}."
        )
    if warn is not None and value > warn:
        return Check(metric, value, warn, "<=", "warn", f"{shown}, above {warn:{fmt}}{unit}.")
    limit = warn if warn is not None else fail
    return Check(metric, value, limit, "<=", "pass", f"{shown}, within {limit:{fmt}}{unit}.")


def lower(
    metric: str,
    value: float,
    limit: float,
    what: str,
    *,
    verdict: str = "fail",
    unit: str = "",
    fmt: str = ".3g",
) -> Check:
    """Check a metric that must stay at or above ``limit``."""
    shown = f"{what} is {value:{fmt}}{unit}"
    if not value >= limit:
        return Check(
            metric, value, limit, ">=", verdict, f"{shown}, below the minimum {limit:{fmt}}{unit}."
        )
    return Check(metric, value, limit, ">=", "pass", f"{shown}, at least {limit:{fmt}}{unit}.")
