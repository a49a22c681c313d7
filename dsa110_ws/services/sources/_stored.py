"""The pipeline's own stored variability and ESE flags: comparison and operator triage."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dsa110_ws.core.time import iso_utc
from dsa110_ws.errors import InvalidQueryError, NotFoundError

if TYPE_CHECKING:
    from dsa110_ws.repositories.sources import SourceRepository
    from dsa110_ws.repositories.variability import (
        ESECandidateRepository,
        VariabilityStatsRepository,
    )
    from dsa110_ws.services.audit import ActionResult, AuditTrail

__all__ = ["compare", "decorate", "triage", "TRIAGE_STATUSES"]

TRIAGE_STATUSES = ("investigated", "dismissed", "active")

#: stored column (variability_stats) -> (fresh column, factor to the stored unit)
_PAIRS = {
    "n_obs": ("n_epochs", 1.0),
    "mean_flux_mjy": ("mean_flux_jy", 1e3),
    "std_flux_mjy": ("std_flux_jy", 1e3),
    "min_flux_mjy": ("min_flux_jy", 1e3),
    "max_flux_mjy": ("max_flux_jy", 1e3),
    "chi2_nu": ("chi2_nu", 1.0),
    "sigma_deviation": ("sigma_deviation", 1.0),
    "eta_metric": ("eta", 1.0),
}


def _close(a: np.ndarray, b: np.ndarray, rtol: float, atol: float) -> np.ndarray:
    both_nan = np.isnan(a) & np.isnan(b)
    with np.errstate(invalid="ignore"):
        return both_nan | (np.abs(a - b) <= atol + rtol * np.maximum(np.abs(a), np.abs(b)))


def compare(
    stored_stats: VariabilityStatsRepository,
    candidates: ESECandidateRepository,
    fresh: pd.DataFrame,
    *,
    rtol: float = 1e-6,
    atol: float = 1e-9,
) -> pd.DataFrame:
    """Stored ``variability_stats`` (+ latest ``ese_candidates`` status) against ``fresh``.

    One row per source in either; for each stored metric the stored value and the fresh
    one in the stored unit (``<name>_fresh``); ``disagree`` names the metrics that differ
    beyond ``rtol``/``atol``; ``stale`` marks stored rows whose ``last_mjd`` is older than the
    newest epoch now in the photometry; ``candidate_disagreement`` is "stored only" (an
    active stored flag the fresh preset does not confirm) or "fresh only" (a fresh
    candidate the pipeline never flagged).
    """
    stored = stored_stats.find(limit=None)
    stored = stored[[c for c in stored.columns if not c.endswith("_utc")]]
    keep = ["source_id", "last_mjd", "flux_column", "is_candidate", "score", "ese_like"]
    f = fresh[
        [
            c
            for c in dict.fromkeys(["source_id", *[p for p, _ in _PAIRS.values()], *keep])
            if c in fresh.columns
        ]
    ]
    f = f.rename(columns={c: f"{c}__fresh" for c in f.columns if c != "source_id"})
    m = stored.merge(f, on="source_id", how="outer", indicator=True)
    out = pd.DataFrame(
        {
            "source_id": m["source_id"],
            "in_stored": m["_merge"] != "right_only",
            "in_fresh": m["_merge"] != "left_only",
        }
    )
    bad = np.zeros((len(m), 0), dtype=bool)
    names = []
    for col, (fcol, k) in _PAIRS.items():
        if col not in m.columns or f"{fcol}__fresh" not in m.columns:
            continue
        a = pd.to_numeric(m[col], errors="coerce").to_numpy(float)
        b = pd.to_numeric(m[f"{fcol}__fresh"], errors="coerce").to_numpy(float) * k
        out[col], out[f"{col}_fresh"] = a, b
        bad = np.column_stack(
            [
                bad,
                ~_close(a, b, rtol, atol)
                & out["in_stored"].to_numpy()
                & out["in_fresh"].to_numpy(),
            ]
        )
        names.append(col)
    out["disagree"] = [",".join(n for n, x in zip(names, row, strict=True) if x) for row in bad]
    last_s = pd.to_numeric(m.get("last_mjd"), errors="coerce")
    last_f = pd.to_numeric(m.get("last_mjd__fresh"), errors="coerce")
    out["stale"] = (last_s < last_f - 1e-9).fillna(False).to_numpy(bool)
    out["flux_column"] = m.get("flux_column__fresh")
    _candidates(candidates, out, m)
    out = out.sort_values("source_id", kind="stable").reset_index(drop=True)
    out.attrs.update(
        rtol=rtol,
        atol=atol,
        n_stored=int(out["in_stored"].sum()),
        n_fresh=int(out["in_fresh"].sum()),
        n_stored_only=int((out["in_stored"] & ~out["in_fresh"]).sum()),
        n_fresh_only=int((~out["in_stored"] & out["in_fresh"]).sum()),
        n_disagree=int((out["disagree"] != "").sum()),
        n_stale=int(out["stale"].sum()),
        disagreements_by_metric={n: int(bad[:, i].sum()) for i, n in enumerate(names)},
        n_candidate_disagreements=int(out["candidate_disagreement"].notna().sum()),
    )
    return out


def _candidates(repo: ESECandidateRepository, out: pd.DataFrame, m: pd.DataFrame) -> None:
    cands = repo.find(limit=None) if repo.available else pd.DataFrame(columns=["source_id"])
    latest = cands.sort_values("id").groupby("source_id").tail(1).set_index("source_id")
    status = out["source_id"].map(latest["status"]) if "status" in latest else None
    out["stored_candidate_id"] = out["source_id"].map(latest["id"]) if "id" in latest else None
    out["stored_status"] = status
    fresh = m.get("is_candidate__fresh")
    fresh = (
        fresh.astype("boolean").fillna(False).to_numpy(bool)
        if fresh is not None
        else np.zeros(len(out), bool)
    )
    out["is_candidate"] = fresh
    stored_active = (out["stored_status"] == "active").fillna(False).to_numpy(bool)
    never = out["stored_status"].isna().to_numpy(bool)
    labels = np.full(len(out), None, dtype=object)
    labels[fresh & never] = "fresh only"
    labels[stored_active & ~fresh] = "stored only"
    out["candidate_disagreement"] = labels


def triage(
    repo: ESECandidateRepository,
    catalogue: SourceRepository,
    audit: AuditTrail,
    target: int | str,
    status: str,
    *,
    at: float,
    note: str | None = None,
    significance: float | None = None,
) -> ActionResult:
    """Set an ESE candidate's status through the audited operator-write path.

    ``target`` is a candidate id (int) or a source id (str: its latest candidate row, or a
    new row flagged by the workspace when the pipeline never flagged it); ``at`` is the
    time of the decision (Unix seconds, the workspace clock).
    """
    if status not in TRIAGE_STATUSES:
        raise InvalidQueryError(f"status={status!r} is not one of {TRIAGE_STATUSES}.")
    repo.columns()  # SchemaMismatchError naming the table when it is missing
    by_id = isinstance(target, (int, np.integer)) and not isinstance(target, bool)
    if not by_id:
        catalogue.get(str(target))  # NotFoundError for an unknown source
    who = audit.operator
    stamp = iso_utc(at, timespec="seconds") + "Z"
    line = f"[{stamp} {who}] {status}" + (f": {note}" if note else "")

    def apply(con: Any) -> tuple[Any, Any]:
        row = (
            repo.select_for_triage(con, candidate_id=int(target))
            if by_id
            else repo.select_for_triage(con, source_id=str(target))
        )
        if row is None and by_id:
            raise NotFoundError(
                f"No ESE candidate with id {target}; list them with "
                "w.sources.ese_candidates() or w.repos.ese_candidates.find()."
            )
        if row is None:
            after = repo.insert(
                con,
                {
                    "source_id": str(target),
                    "flagged_at": at,
                    "flagged_by": f"dsa110_ws:{who}",
                    "significance": significance,
                    "flag_type": "workspace",
                    "notes": line,
                    "status": status,
                    "investigated_at": at if status == "investigated" else None,
                    "dismissed_at": at if status == "dismissed" else None,
                },
            )
            return None, after
        notes = "\n".join(x for x in (row.get("notes"), line) if x)
        return row, repo.set_status(con, int(row["id"]), status=status, notes=notes, at=at)

    what = f"candidate {int(target)}" if by_id else f"source {target}"
    return audit.perform(action=f"triage_candidate:{status}", target=what, apply=apply)


def decorate(
    cands: pd.DataFrame,
    attrs: dict,
    catalogue: SourceRepository,
    candidates: ESECandidateRepository,
) -> pd.DataFrame:
    """Candidates with their positions (``ra_deg``, ``dec_deg``) and the pipeline's latest
    stored candidate row (``stored_candidate_id``, ``stored_status``); ``attrs`` kept."""
    ids = cands["source_id"].tolist()
    pos = catalogue.find(source_id=ids, limit=None) if ids else pd.DataFrame()
    if not pos.empty:
        where = pos.set_index("id")[["ra_deg", "dec_deg"]]
        cands = cands.assign(
            ra_deg=cands["source_id"].map(where["ra_deg"]),
            dec_deg=cands["source_id"].map(where["dec_deg"]),
        )
    if ids and candidates.available:
        stored = candidates.find(source_id=ids, limit=None).sort_values("id")
        latest = stored.groupby("source_id").tail(1).set_index("source_id")
        cands = cands.assign(
            stored_candidate_id=cands["source_id"].map(latest["id"]),
            stored_status=cands["source_id"].map(latest["status"]),
        )
    cands.attrs.update(attrs)
    return cands
