"""Stored variability statistics and ESE candidates (read side, and the triage writes)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from dsa110_ws.repositories._base import DEFAULT_LIMIT, Repository

__all__ = ["VariabilityStatsRepository", "ESECandidateRepository"]


class VariabilityStatsRepository(Repository):
    """The ``variability_stats`` table as the pipeline last wrote it."""

    table = "variability_stats"
    order = "source_id"

    def find(
        self,
        *,
        source_id: str | list[str] | None = None,
        min_sigma_deviation: float | None = None,
        min_chi2_nu: float | None = None,
        limit: int | None = DEFAULT_LIMIT,
    ) -> pd.DataFrame:
        w = self.where().eq("source_id", source_id)
        w.cmp("sigma_deviation", ">=", min_sigma_deviation).cmp("chi2_nu", ">=", min_chi2_nu)
        return self._select(w, limit=limit)


class ESECandidateRepository(Repository):
    """The ``ese_candidates`` table (status: active, investigated, dismissed)."""

    table = "ese_candidates"
    order = "significance DESC, id"

    def find(
        self,
        *,
        source_id: str | list[str] | None = None,
        status: str | list[str] | None = None,
        limit: int | None = DEFAULT_LIMIT,
    ) -> pd.DataFrame:
        return self._select(
            self.where().eq("source_id", source_id).eq("status", status), limit=limit
        )

    # -- operator triage: write side, always inside services._operator.perform ------------
    def select_for_triage(
        self, con: Any, *, candidate_id: int | None = None, source_id: str | None = None
    ) -> dict[str, Any] | None:
        """One candidate row read on the write connection ``con`` (by id, else the latest
        row of ``source_id``), or ``None``."""
        if candidate_id is not None:
            return _row(
                con, "SELECT * FROM ese_candidates WHERE id = :id", {"id": int(candidate_id)}
            )
        return _row(
            con,
            "SELECT * FROM ese_candidates WHERE source_id = :sid ORDER BY id DESC LIMIT 1",
            {"sid": str(source_id)},
        )

    def set_status(
        self, con: Any, candidate_id: int, *, status: str, notes: str | None, at: float
    ) -> dict[str, Any]:
        """Set a candidate's status (and notes, and ``investigated_at``/``dismissed_at`` =
        ``at``, Unix seconds); returns the row as it now is."""
        import sqlalchemy as sa

        have = set(self.columns())
        sets = ["status = :status"] + (["notes = :notes"] if "notes" in have else [])
        stamp = {"investigated": "investigated_at", "dismissed": "dismissed_at"}.get(status)
        if stamp in have:
            sets.append(f"{stamp} = :at")
        con.execute(
            sa.text(f"UPDATE ese_candidates SET {', '.join(sets)} WHERE id = :id"),
            {"status": status, "notes": notes, "at": at, "id": int(candidate_id)},
        )
        return self.select_for_triage(con, candidate_id=candidate_id) or {}

    def insert(self, con: Any, values: dict[str, Any]) -> dict[str, Any]:
        """Add a candidate row (columns this schema lacks are left out); returns it."""
        import sqlalchemy as sa

        have = set(self.columns())
        cols = [c for c in values if c in have and c != "id"]
        sql = (
            f"INSERT INTO ese_candidates ({', '.join(cols)}) VALUES "
            f"({', '.join(':' + c for c in cols)}) RETURNING id"
        )
        new_id = con.execute(sa.text(sql), {c: values[c] for c in cols}).scalar()
        return self.select_for_triage(con, candidate_id=int(new_id)) or {}


def _row(con: Any, sql: str, params: dict[str, Any]) -> dict[str, Any] | None:
    import sqlalchemy as sa

    row = con.execute(sa.text(sql), params).mappings().first()
    return None if row is None else dict(row)
