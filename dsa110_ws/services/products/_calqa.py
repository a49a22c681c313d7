"""Calibration-table QA (docs/science.md): statistics, breakdowns, checks, the result record.

Statistics use the unflagged solutions only.  Phases are wrapped to [-180, 180) degrees; the
phase median is taken about the circular mean (so phases near +-180 do not split), and
``phase_scatter_deg`` is the circular standard deviation ``sqrt(-2 ln R)`` of the phases about
each antenna's own mean phase (per spw and correlation): arbitrary antenna phase offsets, normal
in gain tables, do not count as scatter.  ``phase_scatter_all_deg`` is the same over all phases.
``amp_mad`` is the unscaled median absolute deviation (CASA ``calstat``'s ``medabsdevmed``);
``amp_std`` and ``delay_std_ns`` are standard deviations with N - 1 in the denominator, as
casacore's statistics (``calstat``'s ``stddev``).  Unlike ``calstat``, which ignores flags, every
statistic uses the unflagged solutions only (docs/casa-conventions.md).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from dsa110_ws.services.products._calsol import CalSolutions, wrap_deg
from dsa110_ws.services.products._checks import (
    Check,
    GradedMixin,
    cannot_grade,
    grade_of,
    lower,
    upper,
)

__all__ = [
    "CalQAResult",
    "grade_caltable",
    "ungradable_caltable",
    "ungradable_reason",
    "usable_solutions",
    "circular_scatter_deg",
    "phase_median_deg",
]

_NAN = math.nan


@dataclasses.dataclass(frozen=True)
class CalQAResult(GradedMixin):
    """QA of one calibration table; ``to_dict()`` is the JSON of ``dsa110-ws qa cal --json``.

    ``per_antenna`` and ``per_spw`` are DataFrames (flag fraction, amplitude median, phase
    scatter, SNR median...); ``dead_antennas`` names the antennas whose every solution is
    flagged.  Delay (K) tables have ``delay_*_ns`` statistics and no amplitude/phase ones.
    """

    path: str
    table_type: str | None
    vis_cal: str
    n_solutions: int
    n_flagged: int
    flag_fraction: float
    amp_median: float | None
    amp_std: float | None
    amp_mad: float | None
    phase_median_deg: float | None
    phase_scatter_deg: float | None
    phase_scatter_all_deg: float | None
    delay_median_ns: float | None
    delay_std_ns: float | None
    delay_max_abs_ns: float | None
    snr_median: float | None
    dead_antennas: tuple[str, ...]
    n_antennas: int
    grade: str
    checks: tuple[Check, ...]
    per_antenna: Any = dataclasses.field(repr=False, compare=False, default=None)
    per_spw: Any = dataclasses.field(repr=False, compare=False, default=None)

    def to_dict(self) -> dict[str, Any]:
        d = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in ("checks", "per_antenna", "per_spw")
        }
        for k, v in d.items():
            if isinstance(v, float) and not math.isfinite(v):
                d[k] = None
        d["dead_antennas"] = list(self.dead_antennas)
        d["reasons"] = self.reasons
        d["checks"] = [c.to_dict() for c in self.checks]
        d["per_antenna"] = _records(self.per_antenna)
        d["per_spw"] = _records(self.per_spw)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CalQAResult:
        import pandas as pd

        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        kw["flag_fraction"] = _NAN if kw.get("flag_fraction") is None else kw["flag_fraction"]
        kw["dead_antennas"] = tuple(kw.get("dead_antennas") or ())
        kw["checks"] = tuple(Check.from_dict(c) for c in d.get("checks", []))
        kw["per_antenna"] = pd.DataFrame(d.get("per_antenna") or [])
        kw["per_spw"] = pd.DataFrame(d.get("per_spw") or [])
        return cls(**kw)


def _records(df: Any) -> list[dict[str, Any]]:
    if df is None:
        return []
    out = df.to_dict(orient="records")
    return [
        {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in r.items()}
        for r in out
    ]


def circular_scatter_deg(phase_rad: np.ndarray) -> float:
    """Circular standard deviation ``sqrt(-2 ln R)`` in degrees (NaN for no phases)."""
    if phase_rad.size == 0:
        return _NAN
    r = float(np.abs(np.mean(np.exp(1j * np.asarray(phase_rad, dtype=np.float64)))))
    return (
        math.degrees(math.sqrt(-2.0 * math.log(r)))
        if r > 0
        else math.degrees(math.sqrt(-2 * math.log(1e-300)))
    )


def phase_median_deg(phase_deg: np.ndarray) -> float:
    """Median of wrapped phases taken about their circular mean, wrapped to [-180, 180)."""
    if phase_deg.size == 0:
        return _NAN
    centre = math.degrees(float(np.angle(np.mean(np.exp(1j * np.radians(phase_deg))))))
    return float(wrap_deg(np.median(wrap_deg(phase_deg - centre)) + centre))


def _within_group_phases(sol: CalSolutions, good: np.ndarray) -> np.ndarray:
    """Phases (rad) minus the circular mean of the unflagged phases of their (antenna, spw,
    correlation) group; same shape as the solutions."""
    n_rows, n_chan, n_corr = sol.values.shape
    values = sol.values.astype(np.complex128)
    z = np.where(good, np.exp(1j * np.angle(values)), 0)
    keys = sol.antenna * (int(sol.spw.max(initial=0)) + 1) + sol.spw
    uniq, inv = np.unique(keys, return_inverse=True)
    sums = np.zeros((uniq.size, n_corr), complex)
    np.add.at(sums, inv, z.sum(axis=1))
    mean_phase = np.angle(sums)[inv]  # (n_rows, n_corr)
    return np.angle(values) - mean_phase[:, None, :]


def _stats(sol: CalSolutions, good: np.ndarray, resid: np.ndarray | None) -> dict[str, Any]:
    v = sol.values[good].astype(np.complex128 if sol.is_complex else np.float64)
    snr = sol.snr[good]
    snr = snr[np.isfinite(snr)]
    out: dict[str, Any] = {"snr_median": float(np.median(snr)) if snr.size else None}
    keys = (
        "amp_median",
        "amp_std",
        "amp_mad",
        "phase_median_deg",
        "phase_scatter_deg",
        "phase_scatter_all_deg",
        "delay_median_ns",
        "delay_std_ns",
        "delay_max_abs_ns",
    )
    out.update(dict.fromkeys(keys))
    if v.size == 0:
        return out
    if sol.is_complex and resid is not None:
        amp = np.abs(v).astype(float)
        med = float(np.median(amp))
        out.update(
            amp_median=med,
            amp_std=float(np.std(amp, ddof=1)) if amp.size > 1 else _NAN,
            amp_mad=float(np.median(np.abs(amp - med))),
            phase_median_deg=phase_median_deg(wrap_deg(np.angle(v, deg=True))),
            phase_scatter_deg=circular_scatter_deg(resid[good]),
            phase_scatter_all_deg=circular_scatter_deg(np.angle(v)),
        )
    else:
        d = v.astype(float)
        out.update(
            delay_median_ns=float(np.median(d)),
            delay_std_ns=float(np.std(d, ddof=1)) if d.size > 1 else _NAN,
            delay_max_abs_ns=float(np.max(np.abs(d))),
        )
    return out


def _breakdown(
    sol: CalSolutions,
    by: np.ndarray,
    label: str,
    names: tuple[str, ...] | None,
    resid: np.ndarray | None,
) -> Any:
    import pandas as pd

    rows = []
    usable = usable_solutions(sol)
    for key in np.unique(by):
        sel = by == key
        flags = sol.flags[sel]
        good = usable[sel]
        row: dict[str, Any] = {label: int(key)}
        if names is not None:
            row["name"] = names[key] if 0 <= key < len(names) else str(key)
        row.update(
            n_solutions=int(flags.size),
            n_flagged=int(flags.sum()),
            flag_fraction=float(flags.mean()) if flags.size else _NAN,
        )
        v, snr = sol.values[sel][good], sol.snr[sel][good]
        if sol.is_complex and resid is not None:
            row["amp_median"] = float(np.median(np.abs(v))) if v.size else _NAN
            row["phase_scatter_deg"] = circular_scatter_deg(resid[sel][good]) if v.size else _NAN
        else:
            row["delay_median_ns"] = float(np.median(v)) if v.size else _NAN
        snr = snr[np.isfinite(snr)]
        row["snr_median"] = float(np.median(snr)) if snr.size else _NAN
        row["dead"] = bool(flags.size and flags.all())
        rows.append(row)
    return pd.DataFrame(rows)


def usable_solutions(sol: CalSolutions) -> np.ndarray:
    """Solutions that are unflagged and finite (a NaN gain left unflagged is no measurement)."""
    return ~sol.flags & np.isfinite(sol.values)


def ungradable_reason(sol: CalSolutions) -> str | None:
    """Why the table cannot be graded at all, or ``None``: a solve type the pipeline does not
    register (thresholds made for K/B/G tables do not apply), no solutions, or unflagged
    solutions that are all NaN or infinite.  (Every solution flagged *is* graded: bad.)"""
    if sol.table_type is None:
        said = repr(sol.vis_cal) if sol.vis_cal else "no VisCal keyword"
        return (
            f"the solve type ({said}) is not one the pipeline registers (K, BA, BP, GA, GP, 2G, "
            "FLUX), so the QA thresholds do not apply"
        )
    if sol.flags.size == 0:
        return "the table has no solutions (0 rows)"
    good = ~sol.flags
    if good.any() and not np.isfinite(sol.values[good]).any():
        return f"every one of the {int(good.sum())} unflagged solutions is NaN or infinite"
    return None


def ungradable_caltable(path: str, why: str) -> CalQAResult:
    """The result for a table that could not be read at all (damaged): grade ``"unknown"``."""
    import pandas as pd

    stats = dict.fromkeys(
        (
            "amp_median",
            "amp_std",
            "amp_mad",
            "phase_median_deg",
            "phase_scatter_deg",
            "phase_scatter_all_deg",
            "delay_median_ns",
            "delay_std_ns",
            "delay_max_abs_ns",
            "snr_median",
        )
    )
    return CalQAResult(
        path=str(path),
        table_type=None,
        vis_cal="",
        n_solutions=0,
        n_flagged=0,
        flag_fraction=_NAN,
        **stats,
        dead_antennas=(),
        n_antennas=0,
        grade="unknown",
        checks=(cannot_grade("readable", why, value=False, threshold=True),),
        per_antenna=pd.DataFrame(),
        per_spw=pd.DataFrame(),
    )


def grade_caltable(sol: CalSolutions, t: dict[str, float]) -> CalQAResult:
    """QA of loaded solutions with thresholds ``t`` (see ``CAL_QA_DEFAULTS``); statistics
    use the unflagged, finite solutions."""
    usable = usable_solutions(sol)
    n, n_flag = int(sol.flags.size), int(sol.flags.sum())
    frac = n_flag / n if n else _NAN
    resid = _within_group_phases(sol, usable) if sol.is_complex and n else None
    stats = _stats(sol, usable, resid)
    per_ant = _breakdown(sol, sol.antenna, "antenna", sol.antenna_names, resid)
    per_spw = _breakdown(sol, sol.spw, "spw", None, resid)
    dead = tuple(per_ant.loc[per_ant["dead"], "name"].astype(str)) if len(per_ant) else ()
    why = ungradable_reason(sol)
    if why is not None:
        metric = "solve_type" if sol.table_type is None else "solutions"
        checks = [cannot_grade(metric, why)]
    else:
        n_nonfinite = int((~sol.flags).sum()) - int(usable.sum())
        checks = _checks(sol, stats, frac, n_flag, n, dead, t, n_nonfinite)
    return CalQAResult(
        path=sol.path,
        table_type=sol.table_type,
        vis_cal=sol.vis_cal,
        n_solutions=n,
        n_flagged=n_flag,
        flag_fraction=frac,
        **stats,
        dead_antennas=dead,
        n_antennas=int(len(per_ant)),
        grade=grade_of(checks),
        checks=tuple(checks),
        per_antenna=per_ant,
        per_spw=per_spw,
    )


def _checks(
    sol: CalSolutions,
    s: dict[str, Any],
    frac: float,
    n_flag: int,
    n: int,
    dead: tuple[str, ...],
    t: dict[str, float],
    n_nonfinite: int = 0,
) -> list[Check]:
    if n_flag == n:
        what = f"Every one of the {n} solutions is flagged."
        return [Check("flag_fraction", 1.0, t["flag_fraction_max"], "<=", "fail", what)]
    checks = [
        upper(
            "flag_fraction",
            frac,
            t["flag_fraction_warn"],
            t["flag_fraction_max"],
            "The flagged fraction",
            fmt=".3f",
        )
    ]
    if n_nonfinite:
        checks.append(
            Check(
                "nonfinite_solutions",
                n_nonfinite,
                0,
                "<=",
                "warn",
                f"{n_nonfinite} unflagged solution(s) are NaN or infinite (applying the table "
                "would write NaN visibilities); the statistics leave them out.",
            )
        )
    if s["snr_median"] is not None and math.isfinite(s["snr_median"]):
        checks.append(lower("snr_median", s["snr_median"], t["snr_min"], "The median SNR"))
    else:
        checks.append(
            cannot_grade(
                "snr_median",
                "the unflagged solutions have no finite SNR",
                threshold=t["snr_min"],
                comparison=">=",
            )
        )
    if sol.is_complex:
        amp = s["amp_median"]
        if amp < t["amp_min"]:
            checks.append(lower("amp_median", amp, t["amp_min"], "The median amplitude"))
        else:
            checks.append(upper("amp_median", amp, None, t["amp_max"], "The median amplitude"))
        checks.append(
            upper(
                "phase_scatter_deg",
                s["phase_scatter_deg"],
                t["phase_scatter_max_deg"],
                None,
                "The phase scatter about each antenna's mean",
                " deg",
                ".1f",
            )
        )
    n_dead = len(dead)
    verdict = "warn" if n_dead > t["dead_antennas_max"] else "pass"
    reason = (
        f"{n_dead} antenna(s) with every solution flagged: {', '.join(dead)}."
        if n_dead
        else "No antenna has every solution flagged."
    )
    checks.append(Check("dead_antennas", n_dead, t["dead_antennas_max"], "<=", verdict, reason))
    return checks
