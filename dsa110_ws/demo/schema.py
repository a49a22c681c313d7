"""DDL of the pipeline database, built from :data:`dsa110_ws.models.PIPELINE_TABLES`."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from dsa110_ws.models import PIPELINE_TABLES

__all__ = ["create_schema", "INDEXES"]

#: Indexes the demo creates (the pipeline's own lookups, plus the cone-search box index).
INDEXES = [
    "CREATE INDEX IF NOT EXISTS idx_images_ms_path ON images(ms_path)",
    "CREATE INDEX IF NOT EXISTS idx_images_created_at ON images(created_at)",
    "CREATE INDEX IF NOT EXISTS idx_ms_index_mid_mjd ON ms_index(mid_mjd)",
    "CREATE INDEX IF NOT EXISTS idx_ms_index_stage ON ms_index(stage)",
    "CREATE INDEX IF NOT EXISTS idx_photometry_source ON photometry(source_id, mjd)",
    "CREATE INDEX IF NOT EXISTS idx_photometry_image ON photometry(image_path)",
    "CREATE INDEX IF NOT EXISTS idx_photometry_dec_ra ON photometry(dec_deg, ra_deg)",
    "CREATE INDEX IF NOT EXISTS idx_photometry_ra_dec ON photometry(ra_deg, dec_deg)",
    "CREATE INDEX IF NOT EXISTS idx_image_qa_ms_path ON image_qa(ms_path)",
    "CREATE INDEX IF NOT EXISTS idx_image_qa_image_path ON image_qa(image_path)",
    "CREATE INDEX IF NOT EXISTS idx_caltables_set ON caltables(set_name, order_index)",
    "CREATE INDEX IF NOT EXISTS idx_jobs_status ON jobs(status, created_at)",
    "CREATE INDEX IF NOT EXISTS idx_batch_items_batch ON batch_job_items(batch_id)",
    "CREATE INDEX IF NOT EXISTS idx_hdf5_group ON hdf5_files(group_id)",
    "CREATE INDEX IF NOT EXISTS idx_ingestion_subbands_group ON ingestion_subbands(group_id)",
    # as the pipeline's schema.sql has them (the workspace's health check asks for them)
    "CREATE INDEX IF NOT EXISTS idx_jobs_created ON jobs(created_at DESC)",
    "CREATE INDEX IF NOT EXISTS idx_cal_qa_ms_path ON calibration_qa(ms_path)",
    "CREATE INDEX IF NOT EXISTS idx_cal_applied_ms ON calibration_applied(ms_path)",
    "CREATE INDEX IF NOT EXISTS idx_ese_source ON ese_candidates(source_id)",
]

_UNIQUE = {"images": ["path"], "caltables": ["path"]}


def table_ddl(name: str) -> str:
    spec = PIPELINE_TABLES[name]
    cols = []
    for col, typ in spec.columns:
        piece = f"{col} {typ}"
        if col == spec.key:
            piece += " PRIMARY KEY" + (" AUTOINCREMENT" if typ == "INTEGER" else "")
        elif col in _UNIQUE.get(name, []):
            piece += " UNIQUE"
        cols.append(piece)
    return f"CREATE TABLE IF NOT EXISTS {name} (\n    " + ",\n    ".join(cols) + "\n)"


def create_schema(
    con: sqlite3.Connection, *, tables: Iterable[str] | None = None, indexes: bool = True
) -> None:
    """Create the pipeline tables (all, or only ``tables``) and the demo's indexes."""
    names = list(PIPELINE_TABLES) if tables is None else list(tables)
    for name in names:
        con.execute(table_ddl(name))
    if indexes:
        for stmt in INDEXES:
            table = stmt.split(" ON ")[1].split("(")[0]
            if table in names:
                con.execute(stmt)
