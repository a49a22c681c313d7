"""Gain QA per antenna: SNR, chi-squared and the smoothness of successive solutions.

Self-calibration (and any gain table solved at a short interval) is graded per antenna:

* ``snr_median``: median SNR of the antenna's unflagged solutions;
* ``chi2_median``: median of a per-solution ``CHI2`` column, when the table has one;
* ``amp_jitter``: the rms of the differences between successive unflagged amplitudes divided
  by sqrt 2, over the antenna's median amplitude -- the solution-to-solution noise as a
  fraction, insensitive to slow drifts (a steady drift of ``d`` per step adds ``d / sqrt 2``);
* ``phase_jitter_deg``: the same for phases, differences wrapped to [-180, 180) degrees.

Successive means along the table's solution axis: time (per spw, channel and correlation),
or, for a table with one solution time (a bandpass), channel.  Only pairs of neighbouring
solutions both unflagged count.  An antenna is *noisy* when any of its metrics crosses its
``[qa.cal]`` threshold (``gain_*``); antennas with every solution flagged are left to
``w.qa.cal``'s dead-antenna check.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from dsa110_ws.services.products._calqa import ungradable_reason, usable_solutions
from dsa110_ws.services.products._calsol import CalSolutions
from dsa110_ws.services.products._checks import Check, GradedMixin, cannot_grade, grade_of

__all__ = ["GainQAResult", "grade_gains", "ungradable_gains"]

_NAN = math.nan


@dataclasses.dataclass(frozen=True)
class GainQAResult(GradedMixin):
    """Gain QA of one calibration table (``w.qa.gains``); ``to_dict()`` is the JSON of
    ``dsa110-ws qa gains --json``.

    ``axis`` is the solution axis the smoothness runs along (``"time"``, ``"channel"`` or
    ``None`` when every antenna has a single solution); ``per_antenna`` a DataFrame (antenna,
    name, n_solutions, n_flagged, n_pairs, snr_median, chi2_median, amp_jitter,
    phase_jitter_deg, noisy, reasons); ``noisy_antennas`` the names of the noisy ones.
    """

    path: str
    table_type: str | None
    vis_cal: str
    axis: str | None
    n_antennas: int
    n_solutions: int
    has_chi2: bool
    noisy_antennas: tuple[str, ...]
    grade: str
    checks: tuple[Check, ...]
    per_antenna: Any = dataclasses.field(repr=False, compare=False, default=None)

    def to_dict(self) -> dict[str, Any]:
        d = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in ("checks", "per_antenna")
        }
        d["noisy_antennas"] = list(self.noisy_antennas)
        d["reasons"] = self.reasons
        d["checks"] = [c.to_dict() for c in self.checks]
        rows = [] if self.per_antenna is None else self.per_antenna.to_dict(orient="records")
        d["per_antenna"] = [
            {
                k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in r.items()
            }
            for r in rows
        ]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GainQAResult:
        import pandas as pd

        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        kw["noisy_antennas"] = tuple(kw.get("noisy_antennas") or ())
        kw["checks"] = tuple(Check.from_dict(c) for c in d.get("checks", []))
        kw["per_antenna"] = pd.DataFrame(d.get("per_antenna") or []).astype(
            {
                "amp_jitter": float,
                "phase_jitter_deg": float,
                "chi2_median": float,
                "snr_median": float,
            },
            errors="ignore",
        )
        return cls(**kw)


def solution_axis(sol: CalSolutions) -> str | None:
    """``"time"`` when some (antenna, spw) has several solution times, else ``"channel"`` when
    cells have several channels, else ``None``."""
    key = sol.antenna.astype(np.int64) * (int(sol.spw.max(initial=0)) + 1) + sol.spw
    if np.unique(key).size < key.size:
        return "time"
    return "channel" if sol.values.shape[1] > 1 else None


def _pairs(sol: CalSolutions, axis: str | None) -> tuple[np.ndarray, ...]:
    """Neighbouring solution pairs both unflagged: (antenna, d_amp, d_phase_rad, amp_ref)."""
    empty = np.empty(0)
    if axis is None or not sol.is_complex:
        return empty.astype(np.int64), empty, empty, empty
    v, good = sol.values.astype(np.complex128), usable_solutions(sol)
    if axis == "time":
        order = np.lexsort((sol.time_mjd, sol.spw, sol.antenna))
        v, good, ant, spw = v[order], good[order], sol.antenna[order], sol.spw[order]
        same = (ant[1:] == ant[:-1]) & (spw[1:] == spw[:-1])
        a, b = v[:-1][same], v[1:][same]
        ok = good[:-1][same] & good[1:][same]
        pair_ant = np.broadcast_to(ant[:-1][same][:, None, None], ok.shape)
    else:
        a, b = v[:, :-1, :], v[:, 1:, :]
        ok = good[:, :-1, :] & good[:, 1:, :]
        pair_ant = np.broadcast_to(sol.antenna[:, None, None], ok.shape)
    d_amp = (np.abs(b) - np.abs(a))[ok]
    d_phase = np.angle(b * np.conj(a))[ok]
    return pair_ant[ok].astype(np.int64), d_amp, d_phase, np.abs(a)[ok]


def _per_antenna(sol: CalSolutions, axis: str | None) -> Any:
    import pandas as pd

    n_ant = max(len(sol.antenna_names), int(sol.antenna.max(initial=-1)) + 1)
    usable = usable_solutions(sol)
    pair_ant, d_amp, d_phase, _ = _pairs(sol, axis)
    n_pairs = np.bincount(pair_ant, minlength=n_ant).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        amp_rms = np.sqrt(np.bincount(pair_ant, d_amp**2, n_ant) / n_pairs / 2)
        phase_rms = np.degrees(np.sqrt(np.bincount(pair_ant, d_phase**2, n_ant) / n_pairs / 2))
    rows = []
    for a in range(n_ant):
        sel = sol.antenna == a
        flags = sol.flags[sel]
        good = usable[sel]
        amp = np.abs(sol.values[sel][good]) if sol.is_complex else np.empty(0)
        snr = sol.snr[sel][good]
        snr = snr[np.isfinite(snr)]
        chi2 = sol.chi2[sel][good] if sol.chi2 is not None else np.empty(0)
        med = float(np.median(amp)) if amp.size else _NAN
        rows.append(
            {
                "antenna": a,
                "name": sol.antenna_names[a] if a < len(sol.antenna_names) else str(a),
                "n_solutions": int(flags.size),
                "n_flagged": int(flags.sum()),
                "n_pairs": int(n_pairs[a]),
                "snr_median": float(np.median(snr)) if snr.size else _NAN,
                "chi2_median": float(np.median(chi2)) if chi2.size else _NAN,
                "amp_jitter": float(amp_rms[a] / med) if n_pairs[a] and med > 0 else _NAN,
                "phase_jitter_deg": float(phase_rms[a]) if n_pairs[a] else _NAN,
            }
        )
    return pd.DataFrame(rows)


#: metric -> (column, threshold key, "min" or "max", words, unit, format)
_METRICS = (
    ("antenna_snr", "snr_median", "gain_snr_min", "min", "median SNR", "", ".3g"),
    ("antenna_chi2", "chi2_median", "gain_chi2_max", "max", "median chi-squared", "", ".3g"),
    ("amp_jitter", "amp_jitter", "gain_amp_jitter_max", "max", "amplitude jitter", "", ".3f"),
    (
        "phase_jitter_deg",
        "phase_jitter_deg",
        "gain_phase_jitter_max_deg",
        "max",
        "phase jitter",
        " deg",
        ".1f",
    ),
)


def _metric_check(df: Any, metric: tuple, t: dict[str, float], axis: str | None) -> Check | None:
    name, col, key, side, words, unit, fmt = metric
    values = df[col].astype(float)
    have = values.notna()
    limit = t[key]
    if not have.any():
        if name == "antenna_chi2":
            return None  # no CHI2 column (CASA writes none): nothing claimed
        if "jitter" in name and axis is None:
            return None  # the smoothness check says why
        what = "successive unflagged solutions" if "jitter" in name else f"a finite {words}"
        return cannot_grade(
            name,
            f"no antenna has {what}",
            threshold=limit,
            comparison=">=" if side == "min" else "<=",
        )
    bad = have & ((values < limit) if side == "min" else (values > limit))
    worst = float(values[have].min() if side == "min" else values[have].max())
    along = f" between successive solutions in {axis}" if "jitter" in name else ""
    comparison = ">=" if side == "min" else "<="
    if bad.any():
        listed = ", ".join(
            f"{n} ({v:{fmt}}{unit})" for n, v in zip(df["name"][bad], values[bad], strict=True)
        )
        reason = (
            f"{int(bad.sum())} antenna(s) with {words}{along} "
            f"{'below' if side == 'min' else 'above'} {limit:{fmt}}{unit}: {listed}."
        )
        return Check(name, worst, limit, comparison, "warn", reason)
    bound, within = ("lowest", "at least") if side == "min" else ("highest", "within")
    reason = (
        f"Every antenna's {words}{along} is {within} {limit:{fmt}}{unit} "
        f"({bound} {worst:{fmt}}{unit})."
    )
    return Check(name, worst, limit, comparison, "pass", reason)


def ungradable_gains(path: str, why: str) -> GainQAResult:
    """The result for a table that could not be read or graded at all: grade ``"unknown"``."""
    import pandas as pd

    return GainQAResult(
        path=str(path),
        table_type=None,
        vis_cal="",
        axis=None,
        n_antennas=0,
        n_solutions=0,
        has_chi2=False,
        noisy_antennas=(),
        grade="unknown",
        checks=(cannot_grade("readable", why, value=False, threshold=True),),
        per_antenna=pd.DataFrame(),
    )


def grade_gains(sol: CalSolutions, t: dict[str, float]) -> GainQAResult:
    """Gain QA of loaded solutions with the ``[qa.cal]`` thresholds ``t`` (unflagged, finite
    solutions only); a table that cannot be graded (see ``ungradable_reason``; also every
    solution flagged: nothing to measure here) gets one ``cannot grade`` check."""
    axis = solution_axis(sol)
    why = ungradable_reason(sol)
    if why is None and not usable_solutions(sol).any():
        why = "every solution is flagged (w.qa.cal grades the flagged fraction)"
    if why is not None:
        return dataclasses.replace(
            ungradable_gains(sol.path, why),
            table_type=sol.table_type,
            vis_cal=sol.vis_cal,
            axis=axis,
            n_solutions=int(sol.flags.size),
            has_chi2=sol.chi2 is not None,
            checks=(cannot_grade("solve_type" if sol.table_type is None else "solutions", why),),
        )
    df = _per_antenna(sol, axis)
    checks, noisy = [], np.zeros(len(df), bool)
    reasons: list[list[str]] = [[] for _ in range(len(df))]
    for metric in _METRICS:
        c = _metric_check(df, metric, t, axis)
        if c is None:
            continue
        checks.append(c)
        name, col, key, side = metric[:4]
        values = df[col].astype(float)
        bad = values.notna() & ((values < t[key]) if side == "min" else (values > t[key]))
        noisy |= bad.to_numpy()
        for i in np.flatnonzero(bad.to_numpy()):
            reasons[i].append(f"{name} {values.iloc[i]:.3g}")
    if axis is None:
        checks.append(
            Check(
                "smoothness",
                None,
                None,
                "present",
                "pass",
                "Does not apply: every antenna has a single solution (none successive to compare).",
            )
        )
    df["noisy"] = noisy
    df["reasons"] = ["; ".join(r) for r in reasons]
    names = tuple(str(n) for n in df.loc[df["noisy"], "name"])
    limit = t["noisy_antennas_max"]
    verdict = "warn" if len(names) > limit else "pass"
    said = f"{len(names)} noisy antenna(s): {', '.join(names)}." if names else "No noisy antenna."
    checks.append(Check("noisy_antennas", len(names), limit, "<=", verdict, said))
    return GainQAResult(
        path=sol.path,
        table_type=sol.table_type,
        vis_cal=sol.vis_cal,
        axis=axis,
        n_antennas=int((df["n_solutions"] > 0).sum()),
        n_solutions=int(sol.flags.size),
        has_chi2=sol.chi2 is not None,
        noisy_antennas=names,
        grade=grade_of(checks),
        checks=tuple(checks),
        per_antenna=df,
    )
