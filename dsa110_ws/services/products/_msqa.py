"""Measurement Set QA from its flags (``w.qa.ms``): the flagged fraction of the
cross-correlations and the antennas with every visibility flagged, graded against ``[qa.ms]``."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from dsa110_ws.services.products._checks import Check, GradedMixin, cannot_grade, grade_of, upper

__all__ = ["MSQAResult", "grade_ms", "ungradable_ms"]


@dataclasses.dataclass(frozen=True)
class MSQAResult(GradedMixin):
    """QA of one MS from its flag statistics (fractions 0-1); ``to_dict()`` is JSON-ready."""

    path: str
    n_rows: int
    flag_fraction: float
    flag_fraction_cross: float
    n_antennas_with_data: int
    fully_flagged_antennas: tuple[str, ...]
    grade: str
    checks: tuple[Check, ...]

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "checks"}
        for k, v in d.items():
            if isinstance(v, float) and not math.isfinite(v):
                d[k] = None
        d["fully_flagged_antennas"] = list(self.fully_flagged_antennas)
        d["reasons"] = self.reasons
        d["checks"] = [c.to_dict() for c in self.checks]
        return d


def grade_ms(flags: Any, t: dict[str, float]) -> MSQAResult:
    """Grade :class:`FlagStats` with the ``[qa.ms]`` thresholds ``t``."""
    frac = flags.flag_fraction_cross
    if not math.isfinite(frac):
        frac = flags.flag_fraction
    checks: list[Check] = []
    if not math.isfinite(frac):
        checks.append(cannot_grade("flag_fraction_cross", "the MS has no rows (no visibilities)."))
    else:
        checks.append(
            upper(
                "flag_fraction_cross",
                frac,
                t["flag_fraction_warn"],
                t["flag_fraction_max"],
                "The flagged fraction of the cross-correlations",
                fmt=".3f",
            )
        )
    n_data = flags.n_antennas_with_data
    dead = flags.fully_flagged_antennas
    share = len(dead) / n_data if n_data else 0.0
    listed = f": {', '.join(dead)}" if dead else ""
    checks.append(
        upper(
            "fully_flagged_antennas",
            share,
            t["fully_flagged_antennas_max"],
            None,
            f"The share of antennas with every visibility flagged ({len(dead)} of {n_data}{listed})",
            fmt=".2f",
        )
    )
    return MSQAResult(
        path=flags.path,
        n_rows=flags.n_rows,
        flag_fraction=flags.flag_fraction,
        flag_fraction_cross=flags.flag_fraction_cross,
        n_antennas_with_data=n_data,
        fully_flagged_antennas=tuple(dead),
        grade=grade_of(checks),
        checks=tuple(checks),
    )


def ungradable_ms(path: str, why: str) -> MSQAResult:
    """The result for an MS whose flags could not be read: grade ``"unknown"``."""
    return MSQAResult(
        path=str(path),
        n_rows=0,
        flag_fraction=math.nan,
        flag_fraction_cross=math.nan,
        n_antennas_with_data=0,
        fully_flagged_antennas=(),
        grade="unknown",
        checks=(cannot_grade("readable", why, value=False, threshold=True),),
    )
