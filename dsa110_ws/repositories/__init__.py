"""Repositories: the only layer that writes SQL.  Each returns DataFrames with the
pipeline's own column names, or frozen records for single rows."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dsa110_ws.repositories._base import DEFAULT_LIMIT, Repository, TruncatedResultWarning, finish
from dsa110_ws.repositories._db import Database
from dsa110_ws.repositories.caltables import CalibrationAppliedRepository, CaltableRepository
from dsa110_ws.repositories.images import ImageRatingRepository, ImageRepository
from dsa110_ws.repositories.ingest import (
    HDF5FileRepository,
    IngestionGroupRepository,
    IngestionSubbandRepository,
)
from dsa110_ws.repositories.jobs import BatchJobItemRepository, BatchJobRepository, JobRepository
from dsa110_ws.repositories.monitoring import CalibrationMonitoringRepository, FluxAlertRepository
from dsa110_ws.repositories.ms import MSIndexRepository, MSStateRepository
from dsa110_ws.repositories.photometry import PhotometryRepository
from dsa110_ws.repositories.qa import CalibrationQARepository, ImageQARepository
from dsa110_ws.repositories.sources import SourceRepository
from dsa110_ws.repositories.variability import ESECandidateRepository, VariabilityStatsRepository

if TYPE_CHECKING:
    from dsa110_ws.core.time import Clock

__all__ = [
    "Database",
    "Repositories",
    "Repository",
    "TruncatedResultWarning",
    "DEFAULT_LIMIT",
    "finish",
]

#: Attribute name on :class:`Repositories` -> repository class (one per pipeline table).
REPOSITORY_CLASSES: dict[str, type[Repository]] = {
    "ms_index": MSIndexRepository,
    "images": ImageRepository,
    "photometry": PhotometryRepository,
    "sources": SourceRepository,
    "caltables": CaltableRepository,
    "calibration_applied": CalibrationAppliedRepository,
    "jobs": JobRepository,
    "batch_jobs": BatchJobRepository,
    "batch_job_items": BatchJobItemRepository,
    "image_qa": ImageQARepository,
    "calibration_qa": CalibrationQARepository,
    "variability_stats": VariabilityStatsRepository,
    "ese_candidates": ESECandidateRepository,
    "calibration_monitoring": CalibrationMonitoringRepository,
    "flux_monitoring_alerts": FluxAlertRepository,
    "image_ratings": ImageRatingRepository,
    "hdf5_files": HDF5FileRepository,
    "ms_state": MSStateRepository,
    "ingestion_groups": IngestionGroupRepository,
    "ingestion_subbands": IngestionSubbandRepository,
}


class Repositories:
    """One repository per pipeline table, named after the table (``repos.images``...)."""

    ms_index: MSIndexRepository
    images: ImageRepository
    photometry: PhotometryRepository
    sources: SourceRepository
    caltables: CaltableRepository
    calibration_applied: CalibrationAppliedRepository
    jobs: JobRepository
    batch_jobs: BatchJobRepository
    batch_job_items: BatchJobItemRepository
    image_qa: ImageQARepository
    calibration_qa: CalibrationQARepository
    variability_stats: VariabilityStatsRepository
    ese_candidates: ESECandidateRepository
    calibration_monitoring: CalibrationMonitoringRepository
    flux_monitoring_alerts: FluxAlertRepository
    image_ratings: ImageRatingRepository
    hdf5_files: HDF5FileRepository
    ms_state: MSStateRepository
    ingestion_groups: IngestionGroupRepository
    ingestion_subbands: IngestionSubbandRepository

    def __init__(self, db: Database, *, clock: Clock | None = None):
        self.db = db
        for name, cls in REPOSITORY_CLASSES.items():
            setattr(self, name, cls(db, clock=clock))

    def __dir__(self) -> list[str]:
        return sorted(REPOSITORY_CLASSES)

    def __repr__(self) -> str:
        return f"<Repositories over {self.db.describe()}>"

    def row_counts(self) -> dict[str, int | None]:
        """Rows per pipeline table (``None`` for tables this database lacks)."""
        have = self.db.tables()
        return {
            t: (int(self.db.scalar(f"SELECT COUNT(*) FROM {t}")) if t in have else None)
            for t in REPOSITORY_CLASSES
        }
