"""The pipeline schema as data, and frozen record types for single rows.

``PIPELINE_TABLES`` is the one description of the DSA-110 pipeline database that the
rest of the package uses: the repositories check requests against it, the demo
generator builds its DDL from it and the records below are made from it.  Column
names are the pipeline's own; nothing is renamed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

__all__ = ["TableSpec", "PIPELINE_TABLES", "Record", "RECORD_TYPES", "record_type"]


@dataclasses.dataclass(frozen=True)
class TableSpec:
    """One pipeline table: its columns (name, SQL type), primary key and Unix-time columns."""

    name: str
    columns: tuple[tuple[str, str], ...]
    key: str | None
    record: str

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c for c, _ in self.columns)

    @property
    def unix_time_columns(self) -> tuple[str, ...]:
        """REAL columns holding Unix seconds (docs/pipeline-data.md)."""
        names = {
            "processed_at",
            "stage_updated_at",
            "created_at",
            "started_at",
            "finished_at",
            "completed_at",
            "applied_at",
            "measured_at",
            "timestamp",
            "flagged_at",
            "investigated_at",
            "dismissed_at",
            "triggered_at",
            "acknowledged_at",
            "resolved_at",
            "updated_at",
            "transition_time",
            "indexed_at",
            "modified_time",
            "recorded_at",
            "last_measured_at",
        }
        return tuple(c for c, t in self.columns if c in names and t == "REAL")


def _cols(spec: str) -> tuple[tuple[str, str], ...]:
    out = []
    for item in spec.split(","):
        name, _, typ = item.strip().partition(" ")
        out.append((name, typ.strip() or "REAL"))
    return tuple(out)


_T = [
    (
        "ms_index",
        "path TEXT, start_mjd, end_mjd, mid_mjd, processed_at, status TEXT, stage TEXT, "
        "stage_updated_at, cal_applied INTEGER, imagename TEXT, field_name TEXT, pointing_ra_deg, "
        "pointing_dec_deg, ra_deg, dec_deg, group_id TEXT, created_at",
        "path",
        "MSRecord",
    ),
    (
        "images",
        "id INTEGER, path TEXT, ms_path TEXT, created_at, type TEXT, format TEXT, "
        "beam_major_arcsec, beam_minor_arcsec, beam_pa_deg, noise_jy, dynamic_range, pbcor INTEGER, "
        "field_name TEXT, center_ra_deg, center_dec_deg, imsize_x INTEGER, imsize_y INTEGER, "
        "cellsize_arcsec, freq_ghz, bandwidth_mhz, integration_sec",
        "id",
        "ImageRecord",
    ),
    (
        "photometry",
        "id INTEGER, source_id TEXT, image_path TEXT, ra_deg, dec_deg, nvss_flux_mjy, "
        "peak_jyb, peak_err_jyb, measured_at, snr, mjd, flux_jy, flux_err_jy, normalized_flux_jy, "
        "normalized_flux_err_jy, mosaic_path TEXT, sep_from_center_deg, local_rms, rms_jy, "
        "peak_flux_jy, quality_flag TEXT, flags INTEGER",
        "id",
        "PhotometryRecord",
    ),
    (
        "sources",
        "id TEXT, name TEXT, ra_deg, dec_deg, catalog_match TEXT, source_type TEXT, "
        "first_detected_mjd, last_detected_mjd, detection_count INTEGER",
        "id",
        "SourceRecord",
    ),
    (
        "caltables",
        "id INTEGER, set_name TEXT, path TEXT, table_type TEXT, order_index INTEGER, "
        "cal_field TEXT, refant TEXT, created_at, valid_start_mjd, valid_end_mjd, status TEXT, "
        "notes TEXT, source_ms_path TEXT, solver_command TEXT, solver_version TEXT, "
        "solver_params TEXT, quality_metrics TEXT",
        "id",
        "CaltableRecord",
    ),
    (
        "calibration_applied",
        "id INTEGER, ms_path TEXT, caltable_path TEXT, applied_at, quality, "
        "success INTEGER, error_message TEXT",
        "id",
        "CalibrationAppliedRecord",
    ),
    (
        "jobs",
        "id INTEGER, type TEXT, status TEXT, ms_path TEXT, params TEXT, logs TEXT, "
        "artifacts TEXT, created_at, started_at, finished_at",
        "id",
        "JobRecord",
    ),
    (
        "batch_jobs",
        "id INTEGER, type TEXT, created_at, status TEXT, total_items INTEGER, "
        "completed_items INTEGER, failed_items INTEGER, params TEXT",
        "id",
        "BatchJobRecord",
    ),
    (
        "batch_job_items",
        "id INTEGER, batch_id INTEGER, ms_path TEXT, job_id INTEGER, status TEXT, "
        "error TEXT, started_at, completed_at, data_id TEXT",
        "id",
        "BatchJobItemRecord",
    ),
    (
        "image_qa",
        "id INTEGER, ms_path TEXT, job_id INTEGER, image_path TEXT, rms_noise, peak_flux, "
        "dynamic_range, beam_major, beam_minor, beam_pa, num_sources INTEGER, thumbnail_path TEXT, "
        "overall_quality TEXT, timestamp",
        "id",
        "ImageQARecord",
    ),
    (
        "calibration_qa",
        "id INTEGER, ms_path TEXT, job_id INTEGER, k_metrics TEXT, bp_metrics TEXT, "
        "g_metrics TEXT, overall_quality TEXT, flags_total, timestamp, per_spw_stats TEXT",
        "id",
        "CalibrationQARecord",
    ),
    (
        "variability_stats",
        "source_id TEXT, ra_deg, dec_deg, nvss_flux_mjy, n_obs INTEGER, "
        "mean_flux_mjy, std_flux_mjy, min_flux_mjy, max_flux_mjy, chi2_nu, sigma_deviation, "
        "last_measured_at, last_mjd, updated_at, eta_metric",
        "source_id",
        "VariabilityStatsRecord",
    ),
    (
        "ese_candidates",
        "id INTEGER, source_id TEXT, flagged_at, flagged_by TEXT, significance, "
        "flag_type TEXT, notes TEXT, status TEXT, investigated_at, dismissed_at",
        "id",
        "ESECandidateRecord",
    ),
    (
        "calibration_monitoring",
        "id INTEGER, calibrator_name TEXT, ms_path TEXT, observed_flux_jy, "
        "catalog_flux_jy, flux_ratio, frequency_ghz, mjd, timestamp_iso TEXT, phase_rms_deg, amp_rms, "
        "flagged_fraction, created_at, notes TEXT",
        "id",
        "CalibrationMonitoringRecord",
    ),
    (
        "flux_monitoring_alerts",
        "id INTEGER, alert_type TEXT, severity TEXT, calibrator_name TEXT, "
        "time_window_days, flux_drift_percent, n_measurements INTEGER, message TEXT, triggered_at, "
        "acknowledged_at, acknowledged_by TEXT, resolved_at, resolution_note TEXT",
        "id",
        "FluxAlertRecord",
    ),
    (
        "image_ratings",
        "id INTEGER, image_id TEXT, rating INTEGER, comment TEXT, rater TEXT, rated_at TEXT",
        "id",
        "ImageRatingRecord",
    ),
    (
        "hdf5_files",
        "path TEXT, filename TEXT, group_id TEXT, subband_code TEXT, "
        "subband_num INTEGER, timestamp_iso TEXT, timestamp_mjd, file_size_bytes INTEGER, "
        "modified_time, indexed_at, stored INTEGER, ra_deg, dec_deg, obs_date TEXT, obs_time TEXT",
        "path",
        "HDF5FileRecord",
    ),
    (
        "ms_state",
        "ms_path TEXT, current_state TEXT, previous_state TEXT, transition_time, "
        "retry_count INTEGER, error_message TEXT, checkpoint_data TEXT, created_at",
        "ms_path",
        "MSStateRecord",
    ),
    (
        "ingestion_groups",
        "group_id TEXT, state TEXT, subband_count INTEGER, "
        "expected_subbands INTEGER, dec_deg, ra_deg, created_at, updated_at, completed_at, "
        "ms_path TEXT, error_message TEXT",
        "group_id",
        "IngestionGroupRecord",
    ),
    (
        "ingestion_subbands",
        "group_id TEXT, subband_idx INTEGER, file_path TEXT, recorded_at",
        None,
        "IngestionSubbandRecord",
    ),
]

#: Every table of the unified pipeline schema (docs/pipeline-data.md), by name.
PIPELINE_TABLES: dict[str, TableSpec] = {
    name: TableSpec(name, _cols(cols), key, rec) for name, cols, key, rec in _T
}


class Record:
    """Base of the frozen row records.  ``extra`` keeps columns a newer schema added."""

    table: ClassVar[str]

    if TYPE_CHECKING:  # the columns are made per table at run time (see record_type)

        def __getattr__(self, name: str) -> Any: ...

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Record:
        """Build a record from a row mapping; columns an older schema lacks become ``None``."""
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}  # type: ignore[arg-type]
        known = {k: _plain(row.get(k)) for k in names}
        extra = {k: _plain(v) for k, v in row.items() if k not in names}
        return cls(**known, extra=extra)  # type: ignore[call-arg]

    def to_dict(self) -> dict[str, Any]:
        """The row as a plain dict (schema columns first, then ``extra``)."""
        d = dataclasses.asdict(self)  # type: ignore[call-overload]
        extra = d.pop("extra") or {}
        return {**d, **extra}


def _plain(value: Any) -> Any:
    """numpy/pandas scalars to Python scalars; NaN/NA to None."""
    if value is None:
        return None
    try:
        import pandas as pd

        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value.item() if hasattr(value, "item") else value


def record_type(spec: TableSpec) -> type[Record]:
    """Make the frozen dataclass for one table."""
    fields: list[tuple[str, Any, Any]] = [
        (c, Any, dataclasses.field(default=None)) for c in spec.column_names
    ]
    fields.append(
        ("extra", dict, dataclasses.field(default_factory=dict, compare=False, repr=False))
    )
    cls = dataclasses.make_dataclass(
        spec.record,
        fields,
        bases=(Record,),
        frozen=True,
        namespace={"table": spec.name},
    )
    cls.__module__ = __name__
    cls.__doc__ = f"One row of the pipeline's ``{spec.name}`` table (frozen)."
    return cls


RECORD_TYPES: dict[str, type[Record]] = {n: record_type(s) for n, s in PIPELINE_TABLES.items()}
globals().update({s.record: RECORD_TYPES[n] for n, s in PIPELINE_TABLES.items()})
__all__ += [s.record for s in PIPELINE_TABLES.values()]
