"""Forced photometry rows, including the index-friendly cone search."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from dsa110_ws._util.skymath import angular_sep_deg, radec_box
from dsa110_ws._util.timeparse import TimeLike
from dsa110_ws.errors import InvalidQueryError
from dsa110_ws.repositories._base import DEFAULT_LIMIT, Repository, finish

__all__ = ["PhotometryRepository"]


class PhotometryRepository(Repository):
    """The ``photometry`` table: one row per source per image."""

    table = "photometry"
    order = "mjd, id"

    def find(self, *, source_id: str | list[str] | None = None,
             image_path: str | list[str] | None = None, start: TimeLike = None,
             end: TimeLike = None, limit: int | None = DEFAULT_LIMIT) -> pd.DataFrame:
        """Rows by source, image, or observation time (``mjd`` in [start, end)), in time order."""
        w = self.where().eq("source_id", source_id).eq("image_path", image_path)
        w.mjd_range("mjd", start, end, now=self._now)
        return self._select(w, limit=limit)

    def cone(self, ra_deg: float, dec_deg: float, radius_deg: float, *,
             limit: int | None = DEFAULT_LIMIT) -> pd.DataFrame:
        """Rows within ``radius_deg`` of (ra, dec), nearest first, with exact ``sep_deg``.

        An RA/Dec box that an index on ``dec_deg`` (or ``(dec_deg, ra_deg)``) can serve
        selects candidates; the exact great-circle separation then decides.
        """
        return cone_select(self, ra_deg, dec_deg, radius_deg, limit=limit)

    def read_columns(self, columns: Sequence[str], *, chunk_rows: int = 500_000) -> pd.DataFrame:
        """Only ``columns`` of every row, read in chunks (for survey-wide vectorised work)."""
        have = self.columns()
        for c in columns:
            if c not in have:
                raise InvalidQueryError(f"photometry has no column {c!r}.")
        con = self.db.raw_connection()
        try:
            cur = con.cursor()
            cur.execute(f"SELECT {', '.join(columns)} FROM photometry")
            parts = []
            while rows := cur.fetchmany(chunk_rows):
                parts.append(pd.DataFrame.from_records(rows, columns=list(columns)))
        finally:
            con.close()
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(columns))


def cone_select(repo: Repository, ra_deg: float, dec_deg: float, radius_deg: float, *,
                limit: int | None, ra_col: str = "ra_deg", dec_col: str = "dec_deg") -> pd.DataFrame:
    """Shared cone search over any table with RA/Dec columns in degrees."""
    ra, dec, radius = float(ra_deg), float(dec_deg), float(radius_deg)
    if not (np.isfinite(ra) and np.isfinite(dec) and -90 <= dec <= 90):
        raise InvalidQueryError(f"Cone centre ({ra_deg}, {dec_deg}) is not a valid RA/Dec in degrees.")
    if not (0 < radius <= 180):
        raise InvalidQueryError(f"Cone radius {radius_deg} deg must be in (0, 180].")
    w = repo.where()
    box = radec_box(ra % 360.0, dec, radius)
    w.between(dec_col, box.dec_lo, None).cmp(dec_col, "<=", box.dec_hi)
    if box.ra_ranges is not None:
        ors = []
        for i, (lo, hi) in enumerate(box.ra_ranges):
            ors.append(f"({ra_col} >= :ra_lo{i} AND {ra_col} <= :ra_hi{i})")
            w.params[f"ra_lo{i}"], w.params[f"ra_hi{i}"] = lo, hi
        w.raw("(" + " OR ".join(ors) + ")")
    df = repo._select(w, limit=None, order="")
    sep = angular_sep_deg(ra, dec, df[ra_col].to_numpy(float), df[dec_col].to_numpy(float))
    df = df.assign(sep_deg=sep)
    df = df[df["sep_deg"] <= radius].sort_values("sep_deg", kind="stable").reset_index(drop=True)
    fetched = df if limit is None else df.iloc[: limit + 1]
    return finish(fetched, table=repo.table, limit=limit)
