"""The Workspace: settings, databases, repositories and services, wired once and explicitly.

Every service is a typed lazy property built from the narrow things it needs (the
repositories it reads, its settings section, the clock, the named peer services it
calls), so a reader, a type checker and a test see the same dependency graph.  Nothing
touches a database or imports a heavy library until a property is first used.  See
``docs/architecture.md`` for the layers.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from dsa110_ws.config import Settings, load_settings

if TYPE_CHECKING:
    from astropy.time import Time

    from dsa110_ws.core.paths import PathPolicy
    from dsa110_ws.core.time import Clock
    from dsa110_ws.repositories import Database, Repositories
    from dsa110_ws.repositories.queue import QueueDatabase, QueueRepositories
    from dsa110_ws.repositories.state import StateDB
    from dsa110_ws.services.audit import AuditTrail
    from dsa110_ws.services.operations import (
        CalibrationHealthService,
        DashboardKernels,
        HealthService,
        IngestionService,
        JobService,
        LogService,
        OperatorActions,
        StatsService,
        TaskQueueService,
        WallService,
    )
    from dsa110_ws.services.products import (
        BatchRunner,
        CaltableService,
        CoverageService,
        FitsImageService,
        ImageService,
        MSService,
        ProductCache,
        ProvenanceService,
        QAService,
    )
    from dsa110_ws.services.results import ResultCache
    from dsa110_ws.services.shared import SharedCache
    from dsa110_ws.services.sources import (
        PhotometryDataset,
        SampService,
        SourceService,
        SurveyCompute,
    )

__all__ = ["Workspace", "connect"]

T = TypeVar("T")


class lazy(Generic[T]):  # noqa: N801 - used as a decorator, like functools.cached_property
    """A property built on first use, once per workspace, under the workspace's lock."""

    def __init__(self, build: Callable[[Any], T]):
        self.build = build
        self.name = build.__name__
        self.__doc__ = build.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type) -> lazy[T]: ...

    @overload
    def __get__(self, obj: object, owner: type) -> T: ...

    def __get__(self, obj: Any, owner: type) -> T | lazy[T]:
        if obj is None:
            return self
        cache = obj.__dict__
        if self.name not in cache:
            with obj._lock:
                if self.name not in cache:
                    cache[self.name] = self.build(obj)
        return cache[self.name]


class Workspace:
    """Entry point of the package: ``w = dsa110_ws.connect()``.

    Products: ``w.images`` (the image catalogue), ``w.fits``, ``w.qa``, ``w.ms``,
    ``w.cal``, ``w.provenance``, ``w.batch``, ``w.cache``, ``w.coverage``.  Sources:
    ``w.sources``, ``w.samp``, ``w.dataset`` (the photometry as Parquet), ``w.survey``
    (survey-wide work over it, here or on Dask).  Operations: ``w.jobs``, ``w.actions``, ``w.ingest``,
    ``w.tasks``, ``w.logs``, ``w.health``, ``w.calhealth``, ``w.stats``.
    Underneath: ``w.repos.<table>`` (one repository per pipeline table), ``w.db``,
    ``w.state`` (the workspace's own database), ``w.clock`` and ``w.paths``.
    """

    def __init__(self, settings: Settings | None = None):
        self.settings = settings if settings is not None else load_settings()
        self._lock = threading.RLock()
        self._queue_server: Any = None  # the demo's embedded PostgreSQL, when started here

    def __repr__(self) -> str:
        kind = "demo" if self.settings.is_demo else "pipeline"
        return f"<Workspace {kind} state {self.settings.database_target}>"

    def __dir__(self) -> list[str]:
        names = {n for n, v in vars(type(self)).items() if isinstance(v, lazy)}
        return sorted(names | {"settings", "now", "open_path", "open_log_path", "close"})

    # -- infrastructure --------------------------------------------------------------
    @lazy
    def clock(self) -> Clock:
        """The workspace clock (frozen at ``settings.now`` in the demo)."""
        from dsa110_ws.core.time import Clock

        return Clock(self.settings.now)

    @lazy
    def db(self) -> Database:
        """The pipeline database (SQLite, opened read-only; one engine per workspace)."""
        from dsa110_ws.errors import ConfigurationError
        from dsa110_ws.repositories import Database

        s = self.settings
        if s.pipeline_db is None:
            raise ConfigurationError(
                "No pipeline database configured: set PIPELINE_DB, or use dsa110_ws.connect() "
                "for the demo state."
            )
        return Database(
            s.pipeline_db,
            busy_timeout_s=s.busy_timeout_s,
            allow_writes=s.allow_writes,
            statement_timeout_s=s.statement_timeout_s,
        )

    @lazy
    def repos(self) -> Repositories:
        """One repository per pipeline table."""
        from dsa110_ws.repositories import Repositories

        return Repositories(self.db, clock=self.clock)

    @lazy
    def state(self) -> StateDB:
        """The workspace's own database (audit records, cached results)."""
        from dsa110_ws.repositories.state import StateDB

        return StateDB(self.settings.state_dir)

    @lazy
    def paths(self) -> PathPolicy:
        """Where the workspace may read (the roots) and write (never among the pipeline's)."""
        policy: PathPolicy = self.settings.path_policy(registry=self.state)
        return policy

    @lazy
    def queue_db(self) -> QueueDatabase | None:
        """The task queue's PostgreSQL (``None`` when not configured).  Over the demo state
        its embedded server is started here (or joined, when already running)."""
        from dsa110_ws.repositories.queue import QueueDatabase

        s = self.settings
        url = s.queue_url
        if url is None and s.is_demo and s.settings_file is not None:
            url = self._demo_queue_url(Path(s.settings_file).parent)
        if url is None:
            return None
        sec = s.sections.queue
        return QueueDatabase(
            url,
            connect_timeout_s=sec.connect_timeout_s,
            statement_timeout_s=sec.statement_timeout_s,
            allow_writes=s.allow_writes,
        )

    def _demo_queue_url(self, demo_dir: Path) -> str | None:
        from dsa110_ws.demo.queue.day import QUEUE_DIRNAME, start_queue_server

        if not (demo_dir / QUEUE_DIRNAME).is_dir():
            return None
        self._queue_server = start_queue_server(demo_dir)
        return str(self._queue_server.conninfo)

    @lazy
    def queue_repos(self) -> QueueRepositories | None:
        """The task queue's repositories (``None`` when no queue is configured)."""
        from dsa110_ws.repositories.queue import QueueRepositories

        return None if self.queue_db is None else QueueRepositories(self.queue_db)

    @lazy
    def audit(self) -> AuditTrail:
        """The one path of every operator write: one transaction, audited."""
        from dsa110_ws.services.audit import AuditTrail

        return AuditTrail(
            self.db, self.state, operator=self.settings.operator, after_write=self.shared.clear
        )

    @lazy
    def shared(self) -> SharedCache:
        """Derived results shared by every process over this state (the dashboards'
        kernels): ``<state_dir>/shared``, keyed on the pipeline database's state."""
        from dsa110_ws.services.shared import SharedCache

        s = self.settings
        return SharedCache(
            Path(s.state_dir) / "shared",
            ttl_s=s.sections.dashboard.shared_s,
            databases=[s.pipeline_db] if s.pipeline_db is not None else [],
        )

    @lazy
    def results(self) -> ResultCache:
        """Derived results (report figures...) in the workspace's own database."""
        from dsa110_ws.services.results import ResultCache

        return ResultCache(self.state)

    # -- products ----------------------------------------------------------------------
    @lazy
    def cache(self) -> ProductCache:
        """Derived products (thumbnails, QA, MS summaries) keyed by file identity."""
        from dsa110_ws.services.products import ProductCache

        return ProductCache(Path(self.settings.state_dir) / "products")

    @lazy
    def images(self) -> ImageService:
        """The pipeline's image catalogue: find, get, types, stored QA grades."""
        from dsa110_ws.services.products import ImageService

        r = self.repos
        return ImageService(r.images, r.image_qa, r.calibration_applied)

    @lazy
    def fits(self) -> FitsImageService:
        """FITS images: header, plane, statistics, thumbnails, cutouts, plots."""
        from dsa110_ws.services.products import FitsImageService

        return FitsImageService(self.paths, self.cache, self.settings.sections.products)

    @lazy
    def cal(self) -> CaltableService:
        """Calibration tables: solutions, solve type, plots, the registry."""
        from dsa110_ws.services.products import CaltableService

        # why: the files are readable without a pipeline database; only the registry needs it
        registry = self.repos.caltables if self.settings.pipeline_db is not None else None
        return CaltableService(self.paths, registry)

    @lazy
    def qa(self) -> QAService:
        """Image and caltable QA graded from the files."""
        from dsa110_ws.services.products import QAService

        sec = self.settings.sections
        return QAService(
            self.paths,
            self.fits,
            self.cal,
            self.cache,
            image_settings=sec.qa_image,
            cal_settings=sec.qa_cal,
            ms=self.ms,
            ms_settings=sec.qa_ms,
        )

    @lazy
    def provenance(self) -> ProvenanceService:
        """The chain behind an image: job, MS and its stages, caltables, pointing, QA, log."""
        from dsa110_ws.services.products import ProvenanceService

        return ProvenanceService(self.repos, qa=self.qa, logs=self.logs, paths=self.paths)

    @lazy
    def ms(self) -> MSService:
        """Measurement Sets: summary, flags, quick-looks, the index."""
        from dsa110_ws.services.products import MSService

        index = self.repos.ms_index if self.settings.pipeline_db is not None else None
        return MSService(self.paths, self.cache, index)

    @lazy
    def batch(self) -> BatchRunner:
        """Batch work over many products (process pool or Dask)."""
        from dsa110_ws.services.products import BatchRunner

        return BatchRunner(self.settings, Workspace)

    @lazy
    def coverage(self) -> CoverageService:
        """Sky coverage per night or window (MOC, declinations), images inside an area."""
        from dsa110_ws.services.products import CoverageService

        r = self.repos
        return CoverageService(r.images, r.ms_index, paths=self.paths, clock=self.clock)

    # -- sources -------------------------------------------------------------------------
    @lazy
    def dataset(self) -> PhotometryDataset:
        """The photometry as a Parquet dataset in the state dir, refreshed incrementally."""
        from dsa110_ws.services.sources import PhotometryDataset

        return PhotometryDataset(self.db, self.settings.state_dir, self.settings.sections.sources)

    @lazy
    def survey(self) -> SurveyCompute:
        """Survey-wide work over the dataset's partitions (here, or on Dask)."""
        from dsa110_ws.services.sources import DaskCluster, SurveyCompute

        sec = self.settings.sections.sources
        cluster = DaskCluster(
            self.settings.dask_scheduler,
            workers=sec.dask_workers,
            memory_limit_gb=sec.dask_memory_limit_gb,
            timeout_s=sec.dask_timeout_s,
        )
        return SurveyCompute(self.dataset, sec, cluster)

    @lazy
    def sources(self) -> SourceService:
        """Sources, light curves, variability, ESE candidates, normalisation, export."""
        from dsa110_ws.services.sources import SourceService

        r = self.repos
        return SourceService(
            photometry=r.photometry,
            catalogue=r.sources,
            stored_stats=r.variability_stats,
            candidates=r.ese_candidates,
            survey=self.survey,
            settings=self.settings.sections.sources,
            fits=self.fits,
            images=self.images,
            batch=self.batch,
            cache=self.cache,
            audit=self.audit,
            paths=self.paths,
            clock=self.clock,
        )

    @lazy
    def samp(self) -> SampService:
        """Send tables and positions to TOPCAT, Aladin or DS9 through a SAMP hub."""
        from dsa110_ws.services.sources import SampService

        return SampService(self.paths, Path(self.settings.state_dir) / "samp")

    # -- operations ----------------------------------------------------------------------
    @lazy
    def jobs(self) -> JobService:
        """Jobs, batches and per-MS progress, as the pipeline stored them."""
        from dsa110_ws.services.operations import JobService

        r = self.repos
        return JobService(
            r.jobs,
            r.batch_jobs,
            r.batch_job_items,
            r.ms_index,
            r.ms_state,
            clock=self.clock,
            settings=self.settings.sections.operations,
        )

    @lazy
    def actions(self) -> OperatorActions:
        """Operator actions (writes; only with writes allowed, audited)."""
        from dsa110_ws.services.operations import OperatorActions

        r = self.repos
        return OperatorActions(
            self.audit,
            jobs=r.jobs,
            ms_index=r.ms_index,
            batch_jobs=r.batch_jobs,
            batch_job_items=r.batch_job_items,
            alerts=r.flux_monitoring_alerts,
            ratings=r.image_ratings,
            images=self.images,
            batch=self.batch,
            clock=self.clock,
            settings=self.settings.sections.operations,
        )

    @lazy
    def tasks(self) -> TaskQueueService:
        """The pipeline's task queue (Absurd): counts, tasks, stuck, failures, workers,
        workflows, schedules; retry and cancel."""
        from dsa110_ws.services.operations import TaskQueueService
        from dsa110_ws.services.shared import SharedCache

        s = self.settings
        return TaskQueueService(
            self.queue_repos,
            audit=self.audit,
            clock=self.clock,
            queue=s.queue_name,
            dlq=s.dead_letter_queue,
            settings=s.sections.queue,
            jobs=self.jobs,
            shared=SharedCache(Path(s.state_dir) / "shared", ttl_s=s.sections.queue.cache_s),
        )

    @lazy
    def ingest(self) -> IngestionService:
        """Subband-group ingestion (the queue's tables, else the pipeline's) and UVH5 files."""
        from dsa110_ws.services.operations import IngestionService

        r, q = self.repos, self.queue_repos
        return IngestionService(
            r.ingestion_groups,
            r.ingestion_subbands,
            r.hdf5_files,
            queue=None if q is None else q.ingestion,
            clock=self.clock,
        )

    @lazy
    def logs(self) -> LogService:
        """Per-run pipeline log files under the log roots."""
        from dsa110_ws.services.operations import LogService

        return LogService(self.paths, clock=self.clock)

    @lazy
    def calhealth(self) -> CalibrationHealthService:
        """Calibration health: validity, staleness, gaps, calibrator flux monitoring."""
        from dsa110_ws.services.operations import CalibrationHealthService

        r = self.repos
        return CalibrationHealthService(
            r.caltables,
            r.calibration_monitoring,
            r.flux_monitoring_alerts,
            clock=self.clock,
            settings=self.settings.sections.calibration,
        )

    @lazy
    def health(self) -> HealthService:
        """Service and data health checks."""
        from dsa110_ws.services.operations import HealthService

        r = self.repos
        return HealthService(
            self.db,
            r.ms_index,
            r.hdf5_files,
            jobs=self.jobs,
            clock=self.clock,
            settings=self.settings.sections.health,
            data_roots=self.settings.data_roots,
            is_demo=self.settings.is_demo,
            tasks=self.tasks,
        )

    @lazy
    def kernels(self) -> DashboardKernels:
        """The dashboards' kernels over this state and their memory."""
        from dsa110_ws.services.operations import DashboardKernels

        s = self.settings
        return DashboardKernels(
            Path(s.state_dir) / "kernels", max_kernels=s.sections.dashboard.max_kernels
        )

    @lazy
    def stats(self) -> StatsService:
        """Counts, throughput, success rates, QA distributions and period summaries."""
        from dsa110_ws.services.operations import StatsService

        r = self.repos
        return StatsService(
            r.ms_index,
            r.jobs,
            r.batch_jobs,
            r.ingestion_groups,
            r.image_qa,
            jobs=self.jobs,
            health=self.health,
            clock=self.clock,
        )

    @lazy
    def wall(self) -> WallService:
        """The operations wall's tiles: fixed last-24-h numbers with severities and trends."""
        from dsa110_ws.services.operations import WallService

        return WallService(
            stats=self.stats,
            jobs=self.jobs,
            health=self.health,
            calhealth=self.calhealth,
            ingest=self.ingest,
            tasks=self.tasks,
            ms_index=self.repos.ms_index,
            job_rows=self.repos.jobs,
            image_qa=self.repos.image_qa,
            settings=self.settings.sections.wall,
            clock=self.clock,
        )

    # -- conveniences ---------------------------------------------------------------------
    def now(self) -> Time:
        """The workspace clock's time (``settings.now`` when frozen, else the real time)."""
        return self.clock.now()

    def open_path(
        self, path: str | Path, *, what: str = "product file", must_exist: bool = True
    ) -> Path:
        """Resolve a product path and check it lies inside the data roots."""
        return self.paths.product(path, what=what, must_exist=must_exist)

    def open_log_path(self, path: str | Path, *, must_exist: bool = True) -> Path:
        """Resolve a log path and check it lies inside the log roots."""
        return self.paths.log(path, must_exist=must_exist)

    def close(self) -> None:
        """Release database connections, the Dask cluster if one was started, and leave the
        demo's queue server."""
        if "survey" in self.__dict__:
            self.survey.cluster.close()
        if "db" in self.__dict__:
            self.db.dispose()
        queue_db = self.__dict__.get("queue_db")
        if queue_db is not None:
            queue_db.dispose()
        if self._queue_server is not None:
            self._queue_server.stop()
            self._queue_server = None


_announced = False


def connect(settings_file: str | Path | None = None, **overrides: Any) -> Workspace:
    """Build a :class:`Workspace` from arguments, the environment and the settings file.

    When no database is configured anywhere, the demo state is used: it is generated on
    first use into a per-user data directory (said once, on stderr).

    Parameters
    ----------
    settings_file
        TOML settings file (default ``$DSA110_WS_SETTINGS``).
    **overrides
        Settings fields (see ``dsa110_ws.config.FIELDS``) that win over everything else.
    """
    w = Workspace(resolve_settings(settings_file, **overrides))
    w.db  # noqa: B018 - fail early, with the path named, when the database is unusable
    return w


def resolve_settings(settings_file: str | Path | None = None, **overrides: Any) -> Settings:
    """The settings :func:`connect` uses: as given, else the demo state's (generated on
    first use); a generated demo state is marked ``is_demo``."""
    global _announced
    settings = load_settings(settings_file, **overrides)
    if settings.pipeline_db is None:
        from dsa110_ws.demo import ensure_demo

        demo_dir, generated = ensure_demo(settings.demo_dir)
        if not _announced or generated:
            verb = "generated" if generated else "using"
            print(
                f"dsa110_ws: no PIPELINE_DB configured; {verb} the demo state in {demo_dir}",
                file=sys.stderr,
            )
            _announced = True
        settings = load_settings(demo_dir / "settings.toml", **overrides)
        return dataclasses.replace(settings, is_demo=True)
    if settings.settings_file and (settings.settings_file.parent / "truth.json").exists():
        return dataclasses.replace(settings, is_demo=True)  # a demo state opened by its file
    return settings
