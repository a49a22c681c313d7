"""The indexes the workspace's queries rely on, and which of them a database lacks.

The workspace never writes the pipeline's schema: the health check names what is missing
and the ``CREATE INDEX`` statements an operator can run (the names are the pipeline's own,
from its ``schema.sql``, where it defines one).  An index serves a need when the need's
columns are its leading columns (a primary key or UNIQUE constraint counts).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dsa110_ws.repositories._db import Database

__all__ = ["IndexNeed", "INDEX_NEEDS", "missing_indexes"]


@dataclasses.dataclass(frozen=True)
class IndexNeed:
    """An index a query relies on: ``table(columns)``, named ``name``, for ``why``.

    ``alternatives`` are other column orders that serve it as well."""

    table: str
    columns: tuple[str, ...]
    name: str
    why: str
    alternatives: tuple[tuple[str, ...], ...] = ()

    @property
    def label(self) -> str:
        """``table(col, ...)``."""
        return f"{self.table}({', '.join(self.columns)})"

    @property
    def create_sql(self) -> str:
        """The statement an operator can run to add it."""
        return f"CREATE INDEX IF NOT EXISTS {self.name} ON {self.label};"

    def served_by(self, indexes: list[tuple[str, ...]]) -> bool:
        """Whether one of ``indexes`` (column tuples) starts with these columns."""
        wanted = (self.columns, *self.alternatives)
        return any(ix[: len(cols)] == cols for ix in indexes for cols in wanted)


#: What the repositories' queries rely on at survey scale (see each ``why``).
INDEX_NEEDS: tuple[IndexNeed, ...] = (
    IndexNeed(
        "photometry",
        ("ra_deg", "dec_deg"),
        "idx_photometry_coords",
        "cone search",
        alternatives=(("dec_deg", "ra_deg"),),
    ),
    IndexNeed("photometry", ("source_id",), "idx_photometry_source", "light curves"),
    IndexNeed("photometry", ("image_path",), "idx_photometry_image", "an image's photometry"),
    IndexNeed("images", ("ms_path",), "idx_images_ms_path", "joining images to their MS"),
    IndexNeed("images", ("created_at",), "idx_images_created_at", "images in a time window"),
    IndexNeed("ms_index", ("mid_mjd",), "idx_ms_index_mid_mjd", "MS in a window, stats"),
    IndexNeed("image_qa", ("ms_path",), "idx_img_qa_ms_path", "QA joined to its MS"),
    IndexNeed("image_qa", ("image_path",), "idx_img_qa_image_path", "an image's stored QA"),
    IndexNeed("calibration_qa", ("ms_path",), "idx_cal_qa_ms_path", "an MS's calibration QA"),
    IndexNeed(
        "calibration_applied", ("ms_path",), "idx_cal_applied_ms", "caltables applied to an MS"
    ),
    IndexNeed("caltables", ("set_name",), "idx_caltables_set", "caltable sets"),
    IndexNeed("jobs", ("status",), "idx_jobs_status", "jobs by status"),
    IndexNeed("jobs", ("created_at",), "idx_jobs_created", "newest jobs first"),
    IndexNeed("batch_job_items", ("batch_id",), "idx_batch_items_batch_id", "a batch's items"),
    IndexNeed("hdf5_files", ("group_id",), "idx_hdf5_group", "a subband group's files"),
    IndexNeed("ese_candidates", ("source_id",), "idx_ese_source", "a source's ESE candidates"),
    IndexNeed(
        "ingestion_subbands",
        ("group_id",),
        "idx_ingestion_subbands_group",
        "a group's subbands",
    ),
)


def missing_indexes(db: Database) -> list[IndexNeed]:
    """The needs of :data:`INDEX_NEEDS` this database does not serve (tables or columns it
    lacks are not counted: those views are unavailable, not slow)."""
    tables = db.tables()
    have = db.indexes()
    out = []
    for need in INDEX_NEEDS:
        cols = tables.get(need.table)
        if cols is None or not set(need.columns) <= set(cols):
            continue
        if not need.served_by(have.get(need.table, [])):
            out.append(need)
    return out
