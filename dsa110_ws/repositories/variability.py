"""Stored variability statistics and ESE candidates (read side)."""

from __future__ import annotations

import pandas as pd

from dsa110_ws.repositories._base import DEFAULT_LIMIT, Repository

__all__ = ["VariabilityStatsRepository", "ESECandidateRepository"]


class VariabilityStatsRepository(Repository):
    """The ``variability_stats`` table as the pipeline last wrote it."""

    table = "variability_stats"
    order = "source_id"

    def find(self, *, source_id: str | list[str] | None = None,
             min_sigma_deviation: float | None = None, min_chi2_nu: float | None = None,
             limit: int | None = DEFAULT_LIMIT) -> pd.DataFrame:
        w = self.where().eq("source_id", source_id)
        w.cmp("sigma_deviation", ">=", min_sigma_deviation).cmp("chi2_nu", ">=", min_chi2_nu)
        return self._select(w, limit=limit)


class ESECandidateRepository(Repository):
    """The ``ese_candidates`` table (status: active, investigated, dismissed)."""

    table = "ese_candidates"
    order = "significance DESC, id"

    def find(self, *, source_id: str | list[str] | None = None,
             status: str | list[str] | None = None,
             limit: int | None = DEFAULT_LIMIT) -> pd.DataFrame:
        return self._select(self.where().eq("source_id", source_id).eq("status", status),
                            limit=limit)
