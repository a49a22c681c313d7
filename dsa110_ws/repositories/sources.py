"""The source catalogue: the ``sources`` table when filled, else derived from photometry."""

from __future__ import annotations

import pandas as pd

from dsa110_ws.errors import NotFoundError
from dsa110_ws.models import Record
from dsa110_ws.repositories._base import DEFAULT_LIMIT, Repository, finish
from dsa110_ws.repositories.photometry import cone_select

__all__ = ["SourceRepository"]

# As the pipeline does when its sources table is empty: group photometry by source_id.
# Positions are inverse-variance weighted by the flux error (rows with no usable error
# weigh 1); mjd is the observation time.
_DERIVED = """
SELECT source_id AS id, source_id AS name,
       SUM(ra_deg * w) / SUM(w) AS ra_deg, SUM(dec_deg * w) / SUM(w) AS dec_deg,
       NULL AS catalog_match, NULL AS source_type,
       MIN(mjd) AS first_detected_mjd, MAX(mjd) AS last_detected_mjd,
       COUNT(*) AS detection_count, AVG(flux_jy) AS mean_flux_jy,
       MAX(nvss_flux_mjy) AS nvss_flux_mjy
FROM (SELECT source_id, ra_deg, dec_deg, mjd, flux_jy, nvss_flux_mjy,
             CASE WHEN flux_err_jy > 0 THEN 1.0 / (flux_err_jy * flux_err_jy) ELSE 1.0 END AS w
      FROM photometry WHERE source_id IS NOT NULL{extra})
GROUP BY source_id
"""


class SourceRepository(Repository):
    """Sources: rows of ``sources`` when that table has any, else derived from photometry.

    ``df.attrs["derived"]`` says which was used.
    """

    table = "sources"
    order = "id"

    @property
    def derived(self) -> bool:
        """True when the catalogue comes from photometry (the sources table is absent or empty)."""
        if not self.db.has_table("sources"):
            return True
        return self.db.scalar("SELECT COUNT(*) FROM (SELECT 1 FROM sources LIMIT 1)") == 0

    def _derived_query(
        self, extra: str = "", params: dict | None = None, limit: int | None = DEFAULT_LIMIT
    ) -> pd.DataFrame:
        self.db.columns("photometry")
        sql = _DERIVED.format(extra=extra) + " ORDER BY source_id"
        p = dict(params or {})
        if limit is not None:
            sql += " LIMIT :_limit"
            p["_limit"] = limit + 1
        df = finish(self.db.query(sql, p), table="sources (derived from photometry)", limit=limit)
        df.attrs["derived"] = True
        return df

    def find(
        self, *, source_id: str | list[str] | None = None, limit: int | None = DEFAULT_LIMIT
    ) -> pd.DataFrame:
        """The catalogue (optionally only some ids)."""
        if self.derived:
            if source_id is None:
                return self._derived_query(limit=limit)
            ids = [source_id] if isinstance(source_id, str) else list(source_id)
            marks = ", ".join(f":s{i}" for i in range(len(ids))) or "NULL"
            return self._derived_query(
                f" AND source_id IN ({marks})", {f"s{i}": v for i, v in enumerate(ids)}, limit=limit
            )
        df = self._select(self.where().eq("id", source_id), limit=limit)
        df.attrs["derived"] = False
        return df

    def get(self, key: str) -> Record:
        df = self.find(source_id=str(key), limit=1)
        if df.empty:
            raise NotFoundError(
                f"No source with id {key!r} (neither in sources nor in photometry)."
            )
        return self.record_type.from_row(df.iloc[0].to_dict())

    def cone(
        self, ra_deg: float, dec_deg: float, radius_deg: float, *, limit: int | None = DEFAULT_LIMIT
    ) -> pd.DataFrame:
        """Sources within ``radius_deg``, nearest first, with exact ``sep_deg``."""
        if not self.derived:
            return cone_select(self, ra_deg, dec_deg, radius_deg, limit=limit)
        from dsa110_ws.repositories.photometry import PhotometryRepository

        near = PhotometryRepository(self.db, clock=self._clock).cone(
            ra_deg, dec_deg, radius_deg * 1.05 + 1e-3, limit=None
        )
        ids = sorted(set(near["source_id"].dropna()))
        if not ids:
            return finish(
                self._derived_query(" AND 0", limit=None).assign(sep_deg=[]),
                table="sources",
                limit=limit,
            )
        df = self.find(source_id=ids, limit=None)
        from dsa110_ws.core.skymath import angular_sep_deg

        df["sep_deg"] = angular_sep_deg(ra_deg, dec_deg, df["ra_deg"], df["dec_deg"])
        df = df[df["sep_deg"] <= radius_deg].sort_values("sep_deg").reset_index(drop=True)
        out = finish(df if limit is None else df.iloc[: limit + 1], table="sources", limit=limit)
        out.attrs["derived"] = True
        return out
