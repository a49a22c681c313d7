"""Severity: the one answer to "how bad is it?", for health, QA, reports, dashboards and the CLI.

One ladder, best to worst::

    ok < unknown < warning < critical

``unknown`` (a probe that could not run, a value that could not be measured) ranks above
``ok``: it needs a look, and it never counts as good news.  Every other vocabulary the
pipeline or the workspace uses maps onto it here and nowhere else: QA grades
(good / warning / bad), check verdicts (pass / warn / fail), calibration staleness
(fresh / aging / stale / critical) and the pipeline's stored ``overall_quality`` words.
The exit codes follow the monitoring-plugin convention (0 ok, 1 warning, 2 critical,
3 unknown); the colours are the one palette of panels and reports.
"""

from __future__ import annotations

import enum
import html
from collections.abc import Iterable

__all__ = [
    "Severity",
    "worst",
    "from_grade",
    "from_verdict",
    "from_staleness",
    "from_quality",
    "COLOURS",
    "BACKGROUNDS",
    "NEUTRAL_COLOUR",
    "badge_html",
]


class Severity(enum.StrEnum):
    """A rung of the ladder; compares by rank (``Severity.OK < Severity.CRITICAL``)."""

    OK = "ok"
    UNKNOWN = "unknown"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 (ok) to 3 (critical)."""
        return _ORDER.index(self)

    @property
    def exit_code(self) -> int:
        """0 ok, 1 warning, 2 critical, 3 unknown (the monitoring-plugin convention)."""
        return _EXIT[self]

    @property
    def colour(self) -> str:
        """Foreground colour of this severity (text, badges, tiles)."""
        return COLOURS[self]

    @property
    def background(self) -> str:
        """Pale background for a table row of this severity ('' for ok and unknown)."""
        return BACKGROUNDS.get(self, "")

    @classmethod
    def parse(cls, value: str | Severity | None) -> Severity:
        """A severity from its name, or from any vocabulary this module maps; ``unknown``
        for ``None`` and for words it does not know."""
        if isinstance(value, Severity):
            return value
        if value is None:
            return cls.UNKNOWN
        word = str(value).strip().lower()
        for table in (_BY_NAME, _GRADES, _VERDICTS, _STALENESS, _QUALITY):
            if word in table:
                return table[word]
        return cls.UNKNOWN

    def _cmp(self, other: object) -> int:
        if not isinstance(other, Severity):
            return NotImplemented
        return self.rank - other.rank

    def __lt__(self, other: object) -> bool:
        return self._cmp(other) < 0

    def __le__(self, other: object) -> bool:
        return self._cmp(other) <= 0

    def __gt__(self, other: object) -> bool:
        return self._cmp(other) > 0

    def __ge__(self, other: object) -> bool:
        return self._cmp(other) >= 0


_ORDER = (Severity.OK, Severity.UNKNOWN, Severity.WARNING, Severity.CRITICAL)
_EXIT = {Severity.OK: 0, Severity.WARNING: 1, Severity.CRITICAL: 2, Severity.UNKNOWN: 3}
_BY_NAME = {s.value: s for s in Severity}
_GRADES = {"good": Severity.OK, "warning": Severity.WARNING, "bad": Severity.CRITICAL}
_VERDICTS = {"pass": Severity.OK, "warn": Severity.WARNING, "fail": Severity.CRITICAL}
_STALENESS = {"fresh": Severity.OK, "aging": Severity.WARNING, "stale": Severity.WARNING}
#: The pipeline's own ``overall_quality`` words (image_qa, calibration_qa).
_QUALITY = {
    "excellent": Severity.OK,
    "good": Severity.OK,
    "ok": Severity.OK,
    "pass": Severity.OK,
    "fair": Severity.WARNING,
    "marginal": Severity.WARNING,
    "warn": Severity.WARNING,
    "poor": Severity.CRITICAL,
    "bad": Severity.CRITICAL,
    "fail": Severity.CRITICAL,
    "failed": Severity.CRITICAL,
    "error": Severity.CRITICAL,
}

#: Foreground colours (WCAG AA on white), one per severity.
COLOURS: dict[Severity, str] = {
    Severity.OK: "#1a7f37",
    Severity.UNKNOWN: "#57606a",
    Severity.WARNING: "#9a6700",
    Severity.CRITICAL: "#cf222e",
}
#: Row backgrounds; ok and unknown rows are not tinted.
BACKGROUNDS: dict[Severity, str] = {Severity.WARNING: "#fff8c5", Severity.CRITICAL: "#ffebe9"}
#: Colour of a number that has no thresholds: shown, never judged.
NEUTRAL_COLOUR = "#24292f"


def worst(values: Iterable[str | Severity | None], *, empty: Severity = Severity.OK) -> Severity:
    """The worst severity among ``values`` (``empty`` when there are none)."""
    found = [Severity.parse(v) for v in values]
    return max(found, key=lambda s: s.rank) if found else empty


def from_grade(grade: str | None) -> Severity:
    """QA grade (good / warning / bad) to severity; anything else is unknown."""
    return _GRADES.get(str(grade).lower(), Severity.UNKNOWN) if grade else Severity.UNKNOWN


def from_verdict(verdict: str | None) -> Severity:
    """Check verdict (pass / warn / fail) to severity; anything else is unknown."""
    return _VERDICTS.get(str(verdict).lower(), Severity.UNKNOWN) if verdict else Severity.UNKNOWN


def from_staleness(staleness: str | None) -> Severity:
    """Calibration staleness (fresh / aging / stale / critical) to severity."""
    if staleness == "critical":
        return Severity.CRITICAL
    return _STALENESS.get(str(staleness), Severity.UNKNOWN)


def from_quality(quality: str | None) -> Severity:
    """The pipeline's stored ``overall_quality`` word to severity (unknown words: unknown)."""
    return (
        _QUALITY.get(str(quality).strip().lower(), Severity.UNKNOWN)
        if quality
        else (Severity.UNKNOWN)
    )


def badge_html(severity: str | Severity | None, text: str | None = None) -> str:
    """A coloured badge (white text on the severity's colour) for panels and reports."""
    sev = Severity.parse(severity)
    label = html.escape(text if text is not None else sev.value.upper())
    return (
        f"<span class='dsa-badge dsa-badge-{sev.value}' style='color:white;"
        f"background:{sev.colour};border-radius:4px;padding:0 6px'>{label}</span>"
    )
