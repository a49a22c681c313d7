"""Service and data health: configurable checks with timeouts, run concurrently.

Configuration lives in the settings table ``[health]``::

    [health]
    include_defaults = true        # DSA-110 service checks (not in the demo state)
    data_checks = true             # database, its indexes, disk of the data roots, freshness,
                                   # stuck MS
    timeout_s = 3.0                # per check, unless the check says otherwise
    disk_warning_percent = 85
    disk_critical_percent = 95
    db_write_warning_minutes = 30  # only graded when the clock is not frozen
    db_write_critical_minutes = 180
    disable = ["redis"]            # drop checks by name
    [health.freshness_minutes]     # [warning, critical] minutes since the newest row
    ms = [60, 360]
    image = [120, 360]
    hdf5 = [30, 120]
    queue_failed_1h = [1, 10]      # task queue (when one is configured): [warning, critical]
    queue_dead_letter = [1, 50]
    queue_oldest_pending_minutes = [30, 180]
    queue_stuck = [1, 5]
    [[health.checks]]              # added; one with a default's name replaces it
    name = "api"
    kind = "http"                  # tcp | http | systemd | pidfile | disk
    url = "http://127.0.0.1:8000/api/health"
    severity = "warning"           # what a failure reports (default critical)

One overall status: critical if any check is critical, else warning if any is, else ok
(``unknown`` results, e.g. systemd units on a machine without systemctl, do not count).
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import threading
import time
from typing import TYPE_CHECKING, Any

import pandas as pd

from dsa110_ws.core.settings import HealthCheckSpec, HealthSettings
from dsa110_ws.core.severity import Severity, worst
from dsa110_ws.errors import InvalidQueryError, WorkspaceError, one_line
from dsa110_ws.services.operations._checks import CHECKS

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from dsa110_ws.core.time import Clock
    from dsa110_ws.repositories import Database
    from dsa110_ws.repositories.ingest import HDF5FileRepository
    from dsa110_ws.repositories.ms import MSIndexRepository
    from dsa110_ws.services.operations.jobs import JobService
    from dsa110_ws.services.operations.tasks import TaskQueueService

__all__ = ["HealthService", "CheckResult", "HealthReport", "DSA110_SERVICE_CHECKS"]

#: DSA-110's pipeline services (dsa110-contimg ops/systemd): the streaming converter is
#: essential; the old REST API and its Redis cache are reported as warnings only.
DSA110_SERVICE_CHECKS: tuple[dict[str, Any], ...] = (
    {"name": "streaming-converter", "kind": "systemd", "unit": "contimg-stream.service"},
    {
        "name": "api-service",
        "kind": "systemd",
        "unit": "contimg-api.service",
        "severity": "warning",
    },
    {
        "name": "api-http",
        "kind": "http",
        "url": "http://127.0.0.1:8000/api/health",
        "severity": "warning",
    },
    {"name": "redis", "kind": "tcp", "host": "127.0.0.1", "port": 6379, "severity": "warning"},
)
_FRESHNESS = {"ms": (60.0, 360.0), "image": (120.0, 360.0), "hdf5": (30.0, 120.0)}


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """One check: status is ok | warning | critical | unknown; latency in milliseconds."""

    name: str
    kind: str
    status: str
    detail: str
    latency_ms: float
    value: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class HealthReport:
    """All check results and the overall status, at ``at`` (ISO UTC, the workspace clock)."""

    status: str
    checks: tuple[CheckResult, ...]
    at: str

    @property
    def exit_code(self) -> int:
        """0 ok, 1 warning, 2 critical, 3 unknown (for cron and monitoring)."""
        return Severity.parse(self.status).exit_code

    def counts(self) -> dict[str, int]:
        out = {"ok": 0, "warning": 0, "critical": 0, "unknown": 0}
        for c in self.checks:
            out[c.status] += 1
        return out

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [dataclasses.asdict(c) for c in self.checks],
            columns=["name", "kind", "status", "detail", "latency_ms", "value"],
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "at": self.at,
            "counts": self.counts(),
            "checks": [dataclasses.asdict(c) for c in self.checks],
        }

    def __getitem__(self, name: str) -> CheckResult:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)


class _Context:
    """What the checks share: the database, the clock, one cached freshness query, the
    stuck-MS view."""

    def __init__(
        self,
        db: Database,
        ms_index: MSIndexRepository,
        hdf5: HDF5FileRepository,
        jobs: JobService,
        clock: Clock,
        tasks: TaskQueueService | None = None,
    ):
        self.db = db
        self.jobs = jobs
        self.tasks = tasks
        self._ms_index = ms_index
        self._hdf5 = hdf5
        self.now_unix = clock.now_unix()
        self.frozen_clock = clock.frozen
        self._lock = threading.Lock()
        self._newest: dict[str, float | None] | None = None

    def newest(self) -> dict[str, float | None]:
        with self._lock:
            if self._newest is None:
                out = dict(self._ms_index.newest_created()) if self._ms_index.available else {}
                out.setdefault("ms", None)
                out.setdefault("image", None)
                out["hdf5"] = self._hdf5.newest()["indexed_at"] if self._hdf5.available else None
                self._newest = out
            return self._newest


class HealthService:
    """``w.health``: run the configured checks (``w.health.check()``).

    Parameters
    ----------
    db
        The pipeline database (probed by the database check).
    ms_index, hdf5_files
        Repositories the freshness checks read.
    jobs
        The job service (stuck MS).
    clock
        The workspace clock.
    settings
        ``[health]``.
    data_roots
        Disks to check.
    is_demo
        The demo state does not run DSA-110's service checks by default.
    tasks
        The task queue: checked ("task-queue") when one is configured.
    """

    def __init__(
        self,
        db: Database,
        ms_index: MSIndexRepository,
        hdf5_files: HDF5FileRepository,
        *,
        jobs: JobService,
        clock: Clock,
        settings: HealthSettings | None = None,
        data_roots: Sequence[Path] = (),
        is_demo: bool = False,
        tasks: TaskQueueService | None = None,
    ):
        self._tasks = tasks
        self._db = db
        self._ms_index = ms_index
        self._hdf5 = hdf5_files
        self._jobs = jobs
        self._clock = clock
        self._cfg = settings or HealthSettings()
        self._data_roots = tuple(data_roots)
        self._is_demo = is_demo

    def __repr__(self) -> str:
        return "<HealthService: checks, check, disk_usage, missing_indexes>"

    def checks(self) -> list[dict[str, Any]]:
        """The effective check specs (defaults, data checks, configured; timeouts filled)."""
        cfg = self._cfg
        specs: dict[str, dict[str, Any]] = {}
        include = cfg.include_defaults if cfg.include_defaults is not None else not self._is_demo
        if include:
            for s in DSA110_SERVICE_CHECKS:
                specs[s["name"]] = HealthCheckSpec.model_validate(s).as_spec()
        if cfg.data_checks:
            for s in self._data_checks():
                specs[s["name"]] = s
        if self._tasks is not None and self._tasks.configured:
            specs["task-queue"] = {
                "name": "task-queue",
                "kind": "queue",
                "failed_1h": cfg.queue_failed_1h,
                "dead_letter": cfg.queue_dead_letter,
                "oldest_pending_minutes": cfg.queue_oldest_pending_minutes,
                "stuck": cfg.queue_stuck,
                # why: longer than a connection attempt, so a silent server is reported by
                # the connect error that names its host, not by the check's own time limit
                "timeout_s": max(cfg.timeout_s, self._tasks.connect_timeout_s + 2.0),
            }
        for spec in cfg.checks:
            specs[spec.name] = spec.as_spec()
        for name in cfg.disable:
            specs.pop(str(name), None)
        return [{**s, "timeout_s": s.get("timeout_s") or cfg.timeout_s} for s in specs.values()]

    def _data_checks(self) -> list[dict[str, Any]]:
        cfg = self._cfg
        out: list[dict[str, Any]] = [
            {
                "name": "database",
                "kind": "database",
                "write_warning_minutes": cfg.db_write_warning_minutes,
                "write_critical_minutes": cfg.db_write_critical_minutes,
            },
            {"name": "indexes", "kind": "indexes", "severity": "warning"},
        ]
        for root in self._data_roots:
            out.append(
                {
                    "name": f"disk:{root}",
                    "kind": "disk",
                    "path": str(root),
                    "warning_percent": cfg.disk_warning_percent,
                    "critical_percent": cfg.disk_critical_percent,
                }
            )
        fresh = {**{k: tuple(v) for k, v in _FRESHNESS.items()}, **cfg.freshness_minutes}
        for what, (w_min, c_min) in fresh.items():
            out.append(
                {
                    "name": f"freshness:{what}",
                    "kind": "freshness",
                    "what": what,
                    "warning_minutes": float(w_min),
                    "critical_minutes": float(c_min),
                }
            )
        out.append({"name": "stuck-ms", "kind": "stuck", "severity": "warning"})
        return out

    def check(
        self, *, names: list[str] | None = None, kinds: list[str] | None = None
    ) -> HealthReport:
        """Run the checks (optionally only some names/kinds) concurrently.

        Each check gets its ``timeout_s``; one that raises reports ``unknown`` with the
        reason (``critical`` for the database check: an unreadable database is an outage).
        """
        every = self.checks()
        unknown = sorted(set(names or ()) - {s["name"] for s in every})
        if unknown:
            raise InvalidQueryError(
                f"No health check named {', '.join(map(repr, unknown))}; the checks are "
                f"{', '.join(s['name'] for s in every)} (see `dsa110-ws health`)."
            )
        specs = [
            s
            for s in every
            if (names is None or s["name"] in names) and (kinds is None or s["kind"] in kinds)
        ]
        ctx = _Context(
            self._db, self._ms_index, self._hdf5, self._jobs, self._clock, tasks=self._tasks
        )
        results: list[CheckResult | None] = [None] * len(specs)
        if specs:
            pool = cf.ThreadPoolExecutor(
                max_workers=min(16, len(specs)), thread_name_prefix="dsa110-health"
            )
            futures = {pool.submit(_run_one, s, ctx): i for i, s in enumerate(specs)}
            deadline = max(float(s["timeout_s"]) for s in specs) + 2.0
            done, _ = cf.wait(futures, timeout=deadline)
            for fut, i in futures.items():
                results[i] = (
                    fut.result()
                    if fut in done
                    else CheckResult(
                        specs[i]["name"],
                        specs[i]["kind"],
                        "unknown",
                        f"did not finish within {deadline:g} s",
                        deadline * 1000.0,
                    )
                )
            pool.shutdown(wait=False, cancel_futures=True)
        final = tuple(r for r in results if r is not None)
        return HealthReport(
            status=worst([r.status for r in final], empty=Severity.UNKNOWN).value,
            checks=final,
            at=self._clock.now().isot,
        )

    def missing_indexes(self) -> pd.DataFrame:
        """Indexes the workspace's queries rely on that the pipeline database lacks:
        table, columns, why, create_sql (statements an operator can run; the workspace
        never writes the pipeline's schema)."""
        from dsa110_ws.repositories import missing_indexes

        return pd.DataFrame(
            [
                {"table": m.table, "columns": m.columns, "why": m.why, "create_sql": m.create_sql}
                for m in missing_indexes(self._db)
            ],
            columns=["table", "columns", "why", "create_sql"],
        )

    def disk_usage(self) -> pd.DataFrame:
        """Disk usage of each data root: path, used_percent, total/used/free bytes, status."""
        rep = self.check(kinds=["disk"])
        rows = [{**c.value, "status": c.status, "detail": c.detail} for c in rep.checks]
        return pd.DataFrame(
            rows,
            columns=[
                "path",
                "used_percent",
                "total_bytes",
                "used_bytes",
                "free_bytes",
                "status",
                "detail",
            ],
        )


def _run_one(spec: dict[str, Any], ctx: _Context) -> CheckResult:
    t0 = time.perf_counter()
    try:
        status, detail, value = CHECKS[spec["kind"]](spec, ctx)
    except (WorkspaceError, OSError, ValueError, KeyError, TypeError) as exc:
        status = "critical" if spec["kind"] == "database" else "unknown"
        detail, value = f"check failed: {one_line(exc)}", {}
    latency = (time.perf_counter() - t0) * 1000.0
    return CheckResult(str(spec["name"]), str(spec["kind"]), status, detail, latency, value)
