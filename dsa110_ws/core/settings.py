"""Typed settings sections: the TOML tables (``[qa.image]``, ``[health]``, ...) as validated models.

Each table of the settings file is one frozen pydantic model with ``extra="forbid"``: an
unknown key or a value of the wrong type fails when settings load, with a message naming
the key, the file and the expected type (see :func:`dsa110_ws.config.load_settings`).
Services receive their own section, never the whole settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "Section",
    "QAImageSettings",
    "QACalSettings",
    "QAMSSettings",
    "OperationsSettings",
    "HealthCheckSpec",
    "HealthSettings",
    "CalibrationSettings",
    "SourcesSettings",
    "ReportsSettings",
    "QueueSettings",
    "DashboardSettings",
    "ProductsSettings",
    "WallSettings",
    "Sections",
    "SECTION_MODELS",
]


class Section(BaseModel):
    """Base of every settings section: frozen, unknown keys refused, finite numbers only."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, allow_inf_nan=False, validate_default=True
    )


class QAImageSettings(Section):
    """``[qa.image]``: thresholds of image QA (a DSA-110 5-minute snapshot reaches about
    1 mJy/beam)."""

    rms_warn_jy: float = Field(
        0.002, gt=0, description="Warn when the robust rms exceeds this, Jy/beam."
    )
    rms_max_jy: float = Field(
        0.005, gt=0, description="Grade bad when the robust rms exceeds this, Jy/beam."
    )
    dynamic_range_min: float = Field(50.0, ge=0, description="Warn when peak / rms is below this.")
    blanked_fraction_max: float = Field(
        0.05,
        ge=0,
        le=1,
        description="Grade bad when more "
        "than this fraction of the plane is blank (NaN/inf); "
        "raise it for primary-beam-corrected images.",
    )
    beam_min_pixels: float = Field(
        2.0, ge=0, description="Grade bad when the beam minor axis (FWHM) spans fewer pixels."
    )
    beam_axis_ratio_max: float = Field(
        3.0, ge=1, description="Grade bad when BMAJ / BMIN exceeds this (a very elongated beam)."
    )
    island_sigma: float = Field(
        5.0, gt=0, description="Islands are counted above median + island_sigma x rms."
    )
    n_islands_min: float = Field(
        1.0,
        ge=0,
        description="Warn when fewer islands are found (an empty field, or failed calibration).",
    )
    peer_window_hours: float = Field(
        12.0,
        gt=0,
        description="Peer QA (w.qa.peers): an image's peers were observed within this many "
        "hours of it...",
    )
    peer_dec_tolerance_deg: float = Field(
        1.0, gt=0, description="... with an image centre within this many degrees of Dec."
    )
    peer_min_count: float = Field(
        4.0, ge=1, description="Peer QA: an image with fewer peers than this is not compared."
    )
    peer_z_warn: float = Field(
        4.0,
        gt=0,
        description="Peer QA: warn when an image's rms, beam axis or island count lies more "
        "than this many robust sigmas (1.4826 x MAD of its peers) from its peers' median.",
    )
    peer_z_max: float = Field(
        6.0, gt=0, description="Peer QA: grade bad beyond this many robust sigmas."
    )
    peer_sigma_floor: float = Field(
        0.05,
        ge=0,
        description="Peer QA: the robust sigma is at least this fraction of the peers' median "
        "(peers that agree too well, e.g. identical beams, do not make small differences "
        "outliers).",
    )


class QACalSettings(Section):
    """``[qa.cal]``: thresholds of calibration-table QA."""

    snr_min: float = Field(
        3.0,
        ge=0,
        description="Grade bad when the median SNR of the unflagged solutions is below this.",
    )
    flag_fraction_warn: float = Field(
        0.3, ge=0, le=1, description="Warn when more than this fraction of solutions is flagged."
    )
    flag_fraction_max: float = Field(
        0.5, ge=0, le=1, description="Grade bad when more than this fraction is flagged."
    )
    amp_min: float = Field(
        0.1,
        ge=0,
        description="Grade bad when the median gain amplitude is below this (B and G tables).",
    )
    amp_max: float = Field(
        10.0,
        gt=0,
        description="Grade bad when the median gain amplitude is above this (B and G tables).",
    )
    phase_scatter_max_deg: float = Field(
        30.0,
        gt=0,
        description="Warn when the phase "
        "scatter about each antenna's mean phase exceeds "
        "this, degrees (B and G tables).",
    )
    dead_antennas_max: float = Field(
        0.0, ge=0, description="Warn when more antennas than this have every solution flagged."
    )
    gain_snr_min: float = Field(
        3.0,
        ge=0,
        description="Gain QA (w.qa.gains): warn for an antenna whose median SNR is below this.",
    )
    gain_amp_jitter_max: float = Field(
        0.1,
        gt=0,
        description="Gain QA: warn for an antenna whose amplitude jumps between successive "
        "solutions (rms of the differences / sqrt 2, over its median amplitude) exceed this.",
    )
    gain_phase_jitter_max_deg: float = Field(
        15.0,
        gt=0,
        description="Gain QA: warn for an antenna whose phase jumps between successive "
        "solutions (rms of the wrapped differences / sqrt 2) exceed this, degrees.",
    )
    gain_chi2_max: float = Field(
        3.0,
        gt=0,
        description="Gain QA: warn for an antenna whose median chi-squared (a CHI2 column, when "
        "the table has one) exceeds this.",
    )
    noisy_antennas_max: float = Field(
        0.0, ge=0, description="Gain QA: warn when more antennas than this are noisy."
    )


class QAMSSettings(Section):
    """``[qa.ms]``: thresholds of Measurement Set QA (``w.qa.ms``, from the flags)."""

    flag_fraction_warn: float = Field(
        0.4,
        ge=0,
        le=1,
        description="Warn when more than this fraction of the cross-correlations is flagged.",
    )
    flag_fraction_max: float = Field(
        0.7, ge=0, le=1, description="Grade bad when more than this fraction is flagged."
    )
    fully_flagged_antennas_max: float = Field(
        0.25,
        ge=0,
        le=1,
        description="Warn when more than this fraction of the antennas with data has every "
        "visibility flagged.",
    )


class OperationsSettings(Section):
    """``[operations]``: operator actions and stuck-MS detection."""

    rerun_command: str | None = Field(
        None,
        description="Command run after a rerun is "
        "queued, e.g. 'dsa110-rerun --ms {ms_path} --job "
        "{job_id}' (no shell; one argument per placeholder).",
    )
    rerun_timeout_s: float = Field(
        60.0, gt=0, le=86400, description="Seconds the rerun command may run."
    )
    stuck_after_minutes: float = Field(
        120.0, ge=0, description="An MS whose state has not changed for this long is stuck."
    )
    batch_chunk: int = Field(
        16, ge=1, le=10000, description="Items a batch QA run claims at a time."
    )


_CHECK_KINDS = Literal[
    "tcp", "http", "systemd", "pidfile", "disk", "database", "freshness", "stuck", "queue"
]
_REQUIRED = {
    "tcp": ("port",),
    "http": ("url",),
    "systemd": ("unit",),
    "pidfile": ("path",),
    "disk": ("path",),
    "freshness": ("what",),
}


class HealthCheckSpec(Section):
    """One ``[[health.checks]]`` entry (a check added, or replacing a default of that name)."""

    name: str
    kind: _CHECK_KINDS
    severity: Literal["warning", "critical"] = "critical"
    timeout_s: float | None = Field(None, gt=0, le=600)
    host: str = "127.0.0.1"
    port: int | None = Field(None, ge=1, le=65535)
    url: str | None = None
    method: str = "GET"
    expect_status: list[int] | None = None
    unit: str | None = None
    path: str | None = None
    what: str | None = None
    warning_percent: float | None = Field(None, ge=0, le=100)
    critical_percent: float | None = Field(None, ge=0, le=100)
    warning_minutes: float | None = Field(None, ge=0)
    critical_minutes: float | None = Field(None, ge=0)
    write_warning_minutes: float | None = Field(None, ge=0)
    write_critical_minutes: float | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _needs(self) -> HealthCheckSpec:
        missing = [k for k in _REQUIRED.get(self.kind, ()) if getattr(self, k) is None]
        if missing:
            raise ValueError(f"a {self.kind} check needs {', '.join(missing)}")
        return self

    def as_spec(self) -> dict[str, Any]:
        """The check as the plain dict the health checks read (unset keys left out)."""
        return self.model_dump(exclude_none=True)


class HealthSettings(Section):
    """``[health]``: which checks run and their thresholds."""

    include_defaults: bool | None = Field(
        None, description="Run DSA-110's service checks (default: yes, except in the demo state)."
    )
    data_checks: bool = Field(
        True, description="Database, disk of the data roots, freshness, stuck MS."
    )
    timeout_s: float = Field(
        3.0, gt=0, le=600, description="Seconds per check unless the check says otherwise."
    )
    disk_warning_percent: float = Field(85.0, ge=0, le=100)
    disk_critical_percent: float = Field(95.0, ge=0, le=100)
    db_write_warning_minutes: float = Field(
        30.0, ge=0, description="Only graded when the clock is not frozen."
    )
    db_write_critical_minutes: float = Field(180.0, ge=0)
    disable: list[str] = Field(default_factory=list, description="Checks dropped by name.")
    freshness_minutes: dict[str, tuple[float, float]] = Field(
        default_factory=dict,
        description="[warning, critical] minutes since the newest row, per kind (ms, image, hdf5).",
    )
    checks: list[HealthCheckSpec] = Field(default_factory=list)
    queue_failed_1h: tuple[float, float] = Field(
        (1, 10), description="[warning, critical] tasks of the queue failed in the last hour."
    )
    queue_dead_letter: tuple[float, float] = Field(
        (1, 50), description="[warning, critical] tasks in the dead-letter queue."
    )
    queue_oldest_pending_minutes: tuple[float, float] = Field(
        (30, 180), description="[warning, critical] minutes the oldest pending task has waited."
    )
    queue_stuck: tuple[float, float] = Field(
        (1, 5), description="[warning, critical] claimed tasks held past their timeout."
    )


class CalibrationSettings(Section):
    """``[calibration]``: calibration health."""

    required_types: list[str] = Field(
        default_factory=lambda: ["BP", "GA", "GP"],
        description="Caltable types a usable set must have.",
    )
    staleness_hours: tuple[float, float, float] = Field(
        (6.0, 12.0, 24.0), description="fresh / aging / stale limits, hours."
    )
    drift_percent_per_day: float = Field(
        1.0, gt=0, description="Calibrator flux drift that counts as drifting, % per day."
    )
    ratio_std_max: float = Field(
        0.05, gt=0, description="Scatter of the flux ratio that counts as unstable."
    )

    @model_validator(mode="after")
    def _ordered(self) -> CalibrationSettings:
        a, b, c = self.staleness_hours
        if not 0 <= a <= b <= c:
            raise ValueError(
                "staleness_hours must be three increasing hours [fresh, aging, "
                f"stale], not {list(self.staleness_hours)}"
            )
        return self


class SourcesSettings(Section):
    """``[sources]``: survey-wide photometry: the Parquet dataset and where it is computed."""

    dataset_min_rows: int = Field(
        1_000_000,
        ge=-1,
        description="Photometry rows from which survey-wide reads (variability, "
        "normalisation, the derived catalogue) use the Parquet dataset instead of SQLite "
        "(-1: never).",
    )
    dataset_partitions: int = Field(
        64,
        ge=1,
        le=4096,
        description="Partitions of the dataset (by a hash of source_id); changing it "
        "rebuilds the dataset.",
    )
    dataset_full_check_hours: float = Field(
        24.0,
        ge=-1,
        description="A refresh also reads every row to find rows updated in place when "
        "the last such check is older than this, hours (0: every refresh; -1: only when "
        "asked, `sources dataset --refresh --full`).",
    )
    dataset_reader: Literal["auto", "adbc", "sqlite3"] = Field(
        "auto",
        description="How the dataset reads SQLite: the ADBC driver (adbc-driver-sqlite), "
        "the standard library's sqlite3, or auto (ADBC when installed).",
    )
    dataset_build_processes: int | None = Field(
        None,
        ge=1,
        le=64,
        description="Processes that read SQLite in parallel when the dataset is built "
        "from scratch (default: one per CPU core, at most 4).",
    )
    dask_min_rows: int = Field(
        20_000_000,
        ge=-1,
        description="Dataset rows from which survey-wide work runs on Dask (the cluster "
        "of DSA110_WS_DASK_SCHEDULER, else a local cluster) instead of in this process "
        "(-1: only with a scheduler configured).",
    )
    dask_workers: int | None = Field(
        None,
        ge=1,
        le=1024,
        description="Workers of the local Dask cluster (default: one per CPU core).",
    )
    dask_memory_limit_gb: float | None = Field(
        None,
        gt=0,
        description="Memory limit per local Dask worker, GB (default: 80 % of the "
        "machine's memory shared among the workers).",
    )
    dask_timeout_s: float = Field(
        30.0,
        gt=0,
        le=600,
        description="Seconds to connect to the Dask scheduler or to start the local "
        "cluster before giving up.",
    )
    variability_timescales: dict[str, float] = Field(
        default_factory=lambda: {"night": 1.0, "week": 7.0},
        description="Timescales of the variability table's two-epoch metrics on averaged "
        "measurements: name = bin width in days (bins from MJD 0; a night is a UTC day); "
        "each adds columns vs_max_<name>, m_max_<name>... ({} for none).",
    )

    @model_validator(mode="after")
    def _timescales(self) -> SourcesSettings:
        import math
        import re

        for name, width in self.variability_timescales.items():
            if not re.fullmatch(r"[a-z][a-z0-9_]{0,31}", name) or name == "epoch":
                raise ValueError(
                    f"variability_timescales: {name!r} is not a lower-case identifier other "
                    "than 'epoch' (it becomes a column suffix, e.g. vs_max_night)"
                )
            if not (math.isfinite(width) and width > 0):
                raise ValueError(
                    f"variability_timescales: {name!r} has width {width!r}; give days > 0"
                )
        return self


class ReportsSettings(Section):
    """``[reports]``: where reports are published."""

    out_dir: Path | None = Field(
        None, description="Output root of `report run` (default <state_dir>/reports)."
    )
    dashboard_url: str | None = Field(
        None,
        description="URL of the operations dashboard as readers of the reports reach it "
        "(e.g. http://ops-host:8866/voila/render/operations.ipynb); each nightly report "
        "and the index link to `<dashboard_url>?night=YYYY-MM-DD`. Unset: no links.",
    )


class QueueSettings(Section):
    """``[queue]``: the task-queue views."""

    stuck_after_s: float = Field(
        3600.0,
        gt=0,
        description="A claimed task without its own timeout_sec is stuck after this many seconds.",
    )
    statement_timeout_s: float = Field(
        10.0, gt=0, le=600, description="Statement timeout of every queue read."
    )
    connect_timeout_s: float = Field(
        5.0, gt=0, le=60, description="Seconds to reach the queue's PostgreSQL server."
    )
    cache_s: float = Field(
        5.0,
        ge=0,
        le=300,
        description="Seconds a queue read is shared by the views refreshing together "
        "(0: never); an operator's retry or cancel clears it.",
    )


class DashboardSettings(Section):
    """``[dashboard]``: the Voila dashboards under many viewers."""

    shared_s: float = Field(
        20.0,
        ge=0,
        le=600,
        description="Seconds a panel's refreshed data is shared by every viewer's kernel "
        "(0: never); a change of the pipeline's database ends it sooner. Keep it below the "
        "refresh interval.",
    )
    max_kernels: int = Field(
        16,
        ge=0,
        le=1000,
        description="Most dashboard kernels (viewers, plus the preheated one) at once; the "
        "viewer over the limit gets a page saying so (0: no limit). About 0.2 GB each.",
    )
    cull_idle_s: float = Field(
        300.0,
        ge=30,
        le=86400,
        description="Seconds after which the kernel of a page nobody has open any more is "
        "shut down (a closed tab shuts its kernel at once).",
    )
    preheat: bool = Field(
        True,
        description="Keep one operations-dashboard kernel started and executed ahead of the "
        "next viewer (faster first paint; costs one idle kernel).",
    )


class ProductsSettings(Section):
    """``[products]``: bounds on what reading a product file may cost."""

    max_decompressed_mb: float = Field(
        1024.0,
        gt=0,
        le=1_048_576,
        description="A compressed FITS image (gzip, bzip2, xz, zip, tile-compressed) whose "
        "pixels would take more than this many MB once decompressed is refused before it is "
        "decompressed (a decompression bomb).",
    )
    max_cutout_pixels: int = Field(
        16_777_216,
        ge=1,
        le=1 << 40,
        description="A cutout of more pixels than this (rows x columns; default 4096 x 4096) "
        "is refused before anything is allocated.",
    )


def _pair(name: str, pair: tuple[float, float], *, rising: bool, top: float | None) -> None:
    """Check a [warning, critical] pair: in range and in the order the tile reads it."""
    warn, crit = pair
    hi = "" if top is None else f" and {top:g}"
    if min(warn, crit) < 0 or (top is not None and max(warn, crit) > top):
        raise ValueError(f"{name} = {list(pair)} must lie between 0{hi}")
    if rising and not warn <= crit:
        raise ValueError(
            f"{name} = {list(pair)}: critical ({crit:g}) must be at or above warning "
            f"({warn:g}), as [warning, critical]"
        )
    if not rising and not warn >= crit:
        raise ValueError(
            f"{name} = {list(pair)}: critical ({crit:g}) must be at or below warning "
            f"({warn:g}), as [warning, critical] (a lower rate is worse)"
        )


class WallSettings(Section):
    """``[wall]``: the traffic-light thresholds of the operations wall's tiles, each a
    ``[warning, critical]`` pair.  A tile turns warning at the first value and critical at
    the second (counts and fractions: at or above; the success rate: below)."""

    bad_image_fraction: tuple[float, float] = Field(
        (0.05, 0.20),
        description="[warning, critical] fraction (0-1) of the last 24 h's images with stored "
        "QA whose grade is bad.",
    )
    job_success_rate: tuple[float, float] = Field(
        (0.95, 0.80),
        description="[warning, critical] fraction (0-1) of the last 24 h's finished jobs that "
        "succeeded; warning below the first, critical below the second.",
    )
    failed_jobs: tuple[int, int] = Field(
        (1, 1), description="[warning, critical] jobs created in the last 24 h that failed."
    )
    stuck_ms: tuple[int, int] = Field(
        (1, 10),
        description="[warning, critical] MS stuck now (no state change for [operations] "
        "stuck_after_minutes).",
    )
    incomplete_groups: tuple[int, int] = Field(
        (1, 10), description="[warning, critical] subband groups still missing subbands now."
    )
    open_flux_alerts: tuple[int, int] = Field(
        (1, 5), description="[warning, critical] calibrator flux alerts not acknowledged."
    )
    queue_failed_1h: tuple[int, int] = Field(
        (1, 1), description="[warning, critical] task-queue tasks failed in the last hour."
    )
    queue_stuck: tuple[int, int] = Field(
        (1, 5), description="[warning, critical] task-queue tasks held past their timeout."
    )

    @model_validator(mode="after")
    def _ordered(self) -> WallSettings:
        _pair("bad_image_fraction", self.bad_image_fraction, rising=True, top=1.0)
        _pair("job_success_rate", self.job_success_rate, rising=False, top=1.0)
        for name in (
            "failed_jobs",
            "stuck_ms",
            "incomplete_groups",
            "open_flux_alerts",
            "queue_failed_1h",
            "queue_stuck",
        ):
            _pair(name, getattr(self, name), rising=True, top=None)
        return self


#: TOML table name (dotted) -> (attribute of :class:`Sections`, model).
SECTION_MODELS: dict[str, tuple[str, type[Section]]] = {
    "qa.image": ("qa_image", QAImageSettings),
    "qa.cal": ("qa_cal", QACalSettings),
    "qa.ms": ("qa_ms", QAMSSettings),
    "operations": ("operations", OperationsSettings),
    "health": ("health", HealthSettings),
    "calibration": ("calibration", CalibrationSettings),
    "sources": ("sources", SourcesSettings),
    "reports": ("reports", ReportsSettings),
    "queue": ("queue", QueueSettings),
    "dashboard": ("dashboard", DashboardSettings),
    "products": ("products", ProductsSettings),
    "wall": ("wall", WallSettings),
}


class Sections(BaseModel):
    """Every settings section, each validated (defaults where the file has none)."""

    model_config = ConfigDict(frozen=True)

    qa_image: QAImageSettings = Field(default_factory=QAImageSettings)
    qa_cal: QACalSettings = Field(default_factory=QACalSettings)
    qa_ms: QAMSSettings = Field(default_factory=QAMSSettings)
    operations: OperationsSettings = Field(default_factory=OperationsSettings)
    health: HealthSettings = Field(default_factory=HealthSettings)
    calibration: CalibrationSettings = Field(default_factory=CalibrationSettings)
    sources: SourcesSettings = Field(default_factory=SourcesSettings)
    reports: ReportsSettings = Field(default_factory=ReportsSettings)
    queue: QueueSettings = Field(default_factory=QueueSettings)
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings)
    products: ProductsSettings = Field(default_factory=ProductsSettings)
    wall: WallSettings = Field(default_factory=WallSettings)
