"""Images and their ratings."""

from __future__ import annotations

from typing import Any

import pandas as pd

from dsa110_ws.core.time import TimeLike, to_mjd
from dsa110_ws.errors import NotFoundError
from dsa110_ws.models import Record
from dsa110_ws.repositories._base import DEFAULT_LIMIT, Repository, _check_order

__all__ = ["ImageRepository", "ImageRatingRepository"]


class ImageRepository(Repository):
    """The ``images`` table.  Time filters use the observation time of the image's MS
    (``ms_index.mid_mjd``, returned as ``obs_mjd``), not when the row was written."""

    table = "images"
    order = "i.id"

    def find(
        self,
        *,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        type: str | list[str] | None = None,  # noqa: A002 - the pipeline's column name
        field_name: str | list[str] | None = None,
        dec_min_deg: float | None = None,
        dec_max_deg: float | None = None,
        noise_max_jy: float | None = None,
        noise_min_jy: float | None = None,
        ms_path: str | list[str] | None = None,
        path: str | list[str] | None = None,
        created_start: TimeLike | None = None,
        created_end: TimeLike | None = None,
        limit: int | None = DEFAULT_LIMIT,
        order: str = "obs",
    ) -> pd.DataFrame:
        """Images matching every given filter.

        Parameters
        ----------
        start, end
            Observation-time range [start, end) (ISO date, MJD, ``Time``...).
        type, field_name, ms_path, path
            Equality filters (a list means any of).
        dec_min_deg, dec_max_deg
            Declination band of the image centre, degrees.
        noise_min_jy, noise_max_jy
            Stored ``noise_jy`` bounds, Jy/beam.
        created_start, created_end
            Range on ``created_at`` (when the pipeline wrote the row).
        limit
            Row cap (``None`` for all); a truncated result warns and sets
            ``df.attrs["truncated"]``.
        order
            ``"obs"`` (observation time), ``"id"`` or ``"noise"`` (worst first).
        """
        w = self.where(alias="i")
        w.eq("type", type).eq("field_name", field_name).eq("ms_path", ms_path).eq("path", path)
        w.between("center_dec_deg", dec_min_deg, dec_max_deg)
        w.between("noise_jy", noise_min_jy, None).cmp("noise_jy", "<=", noise_max_jy)
        w.unix_range("created_at", created_start, created_end, now=self._now)
        joined = self.db.has_table("ms_index")
        obs = "m.mid_mjd" if joined else "NULL"
        if start is not None or end is not None:
            lo = None if start is None else to_mjd(start, now=self._now, what="start")
            hi = None if end is None else to_mjd(end, now=self._now, what="end")
            _check_order(lo, hi)
            # observation time from the MS; images without an MS row fall back to created_at
            expr = f"COALESCE({obs}, i.created_at / 86400.0 + 40587.0)"
            if lo is not None:
                w.raw(f"{expr} >= :obs_lo", obs_lo=lo)
            if hi is not None:
                w.raw(f"{expr} < :obs_hi", obs_hi=hi)
        orders = {
            "obs": f"{obs} IS NULL, {obs}, i.id",
            "id": "i.id",
            "noise": "i.noise_jy IS NULL, i.noise_jy DESC",
        }
        frm = "images AS i" + (" LEFT JOIN ms_index AS m ON m.path = i.ms_path" if joined else "")
        return self._select(
            w,
            limit=limit,
            order=orders.get(order, orders["obs"]),
            select=f"i.*, {obs} AS obs_mjd",
            from_=frm,
        )

    def get_by_path(self, path: str) -> Record:
        """One image by its file path; :class:`NotFoundError` if not registered."""
        return self._get_one("path", str(path))

    def types(self) -> list[str]:
        """Distinct image types present."""
        df = self.db.query("SELECT DISTINCT type FROM images WHERE type IS NOT NULL ORDER BY type")
        return df["type"].tolist()

    def _get_one(self, column: str, value: Any) -> Record:
        df = self.find(**{column: value}, limit=1) if column == "path" else None
        if df is None:
            return super()._get_one(column, value)
        if df.empty:
            raise NotFoundError(f"No image registered with path {value!r}.")
        row = {k: v for k, v in df.iloc[0].items() if not str(k).endswith("_utc")}
        return self.record_type.from_row(row)


class ImageRatingRepository(Repository):
    """The ``image_ratings`` table (operators' 1-5 ratings of images)."""

    table = "image_ratings"
    order = "id"

    def find(
        self,
        *,
        image_id: str | list[str] | None = None,
        rater: str | None = None,
        limit: int | None = DEFAULT_LIMIT,
    ) -> pd.DataFrame:
        """Ratings, optionally of given image ids or by one rater."""
        if image_id is not None and not isinstance(image_id, list):
            image_id = str(image_id)
        return self._select(self.where().eq("image_id", image_id).eq("rater", rater), limit=limit)

    def insert(
        self,
        con: Any,
        *,
        image_id: str,
        rating: int,
        comment: str | None,
        rater: str,
        rated_at: str,
    ) -> int:
        """Add one rating inside an operator transaction (``con``); returns its id."""
        import sqlalchemy as sa

        return int(
            con.execute(
                sa.text(
                    "INSERT INTO image_ratings (image_id, rating, comment, rater, rated_at) "
                    "VALUES (:image_id, :rating, :comment, :rater, :rated_at) RETURNING id"
                ),
                {
                    "image_id": str(image_id),
                    "rating": int(rating),
                    "comment": comment,
                    "rater": rater,
                    "rated_at": rated_at,
                },
            ).scalar_one()
        )
