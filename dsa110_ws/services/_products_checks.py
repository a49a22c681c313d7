"""QA grading records and thresholds (settings sections ``[qa.image]`` and ``[qa.cal]``).

A grade is never a bare word: every result carries its checks, one :class:`Check` per metric
with the value, the threshold it was compared with, the verdict and a sentence saying why.
The grade is ``"bad"`` if any check failed, ``"warning"`` if any warned, else ``"good"``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from dsa110_ws.errors import ConfigurationError

__all__ = ["Check", "grade_of", "IMAGE_QA_DEFAULTS", "CAL_QA_DEFAULTS", "thresholds"]

VERDICTS = ("pass", "warn", "fail")

#: ``[qa.image]`` settings: name -> (default, meaning).  Demo snapshots have ~1 mJy/beam noise.
IMAGE_QA_DEFAULTS: dict[str, tuple[float, str]] = {
    "rms_warn_jy": (
        0.002,
        "Warn when the robust rms exceeds this, Jy/beam (a DSA-110 5-minute "
        "snapshot reaches about 1 mJy/beam).",
    ),
    "rms_max_jy": (0.005, "Grade bad when the robust rms exceeds this, Jy/beam."),
    "dynamic_range_min": (50.0, "Warn when peak / rms is below this."),
    "blanked_fraction_max": (
        0.05,
        "Grade bad when more than this fraction of the plane is "
        "blank (NaN/inf); raise it for primary-beam-corrected images.",
    ),
    "beam_min_pixels": (2.0, "Grade bad when the beam minor axis (FWHM) spans fewer pixels."),
    "beam_axis_ratio_max": (
        3.0,
        "Grade bad when BMAJ / BMIN exceeds this (a very elongated beam).",
    ),
    "island_sigma": (5.0, "Islands are counted above median + island_sigma x rms."),
    "n_islands_min": (
        1.0,
        "Warn when fewer islands are found (an empty field, or failed calibration).",
    ),
}

#: ``[qa.cal]`` settings: name -> (default, meaning), from DESIGN.md section 4.
CAL_QA_DEFAULTS: dict[str, tuple[float, str]] = {
    "snr_min": (3.0, "Grade bad when the median SNR of the unflagged solutions is below this."),
    "flag_fraction_warn": (0.3, "Warn when more than this fraction of solutions is flagged."),
    "flag_fraction_max": (0.5, "Grade bad when more than this fraction is flagged."),
    "amp_min": (0.1, "Grade bad when the median gain amplitude is below this (B and G tables)."),
    "amp_max": (10.0, "Grade bad when the median gain amplitude is above this (B and G tables)."),
    "phase_scatter_max_deg": (
        30.0,
        "Warn when the phase scatter about each antenna's mean "
        "phase exceeds this, degrees (B and G tables).",
    ),
    "dead_antennas_max": (0.0, "Warn when more antennas than this have every solution flagged."),
}


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

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for k in ("value", "threshold"):
            if isinstance(d[k], float) and not math.isfinite(d[k]):
                d[k] = None
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Check:
        return cls(**{f.name: d.get(f.name) for f in dataclasses.fields(cls)})


class GradedMixin:
    """``reasons`` and ``check(metric)`` for results holding a ``checks`` tuple."""

    checks: tuple[Check, ...]

    @property
    def reasons(self) -> list[str]:
        """Reasons of the checks that did not pass (worst first)."""
        order = {"fail": 0, "warn": 1}
        bad = sorted(
            (c for c in self.checks if c.verdict != "pass"), key=lambda c: order[c.verdict]
        )
        return [c.reason for c in bad]

    def check(self, metric: str) -> Check:
        """The check of one metric (``KeyError`` if it was not graded)."""
        for c in self.checks:
            if c.metric == metric:
                return c
        raise KeyError(f"No check {metric!r}; graded: {[c.metric for c in self.checks]}")


def grade_of(checks: list[Check] | tuple[Check, ...]) -> str:
    """``'bad'`` if any check failed, ``'warning'`` if any warned, else ``'good'``."""
    verdicts = {c.verdict for c in checks}
    return "bad" if "fail" in verdicts else "warning" if "warn" in verdicts else "good"


def thresholds(
    settings: Any,
    section: str,
    defaults: Mapping[str, tuple[float, str]],
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, float]:
    """Thresholds: ``defaults`` < the settings table ``section`` < ``overrides``.

    Unknown names raise :class:`ConfigurationError` (a typo must not silently fall back).
    """
    given = {**settings.section(section), **dict(overrides or {})}
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ConfigurationError(
            f"Unknown [{section}] threshold(s) {unknown}; known: {sorted(defaults)}."
        )
    out = {}
    for name, (default, _doc) in defaults.items():
        value = given.get(name, default)
        try:
            out[name] = float(value)
        except (TypeError, ValueError):
            raise ConfigurationError(
                f"[{section}] {name} = {value!r} is not a number (default {default})."
            ) from None
    return out


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
