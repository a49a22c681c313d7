"""What happened in the task queue on the demo's last day, as a plan (pure Python, no database).

:class:`QueueDay` holds the inputs shared with the SQLite demo (its night, frozen clock, MS
paths and the MS / ingestion states it shows); :func:`plan_day` turns them into
:class:`TaskPlan` records (every attempt a worker made: who claimed it when, how long it ran,
how it ended), the workflow, the schedules and the ingestion groups.  ``queue_day`` replays the
plan through the queue's stored functions.  Times are Unix seconds on the demo's timeline.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dsa110_ws.errors import InvalidQueryError

__all__ = [
    "QueueDay",
    "TaskPlan",
    "Attempt",
    "DayPlan",
    "plan_day",
    "check_plan",
    "TASK_NAMES",
    "WORKERS",
    "GROUP_ERROR",
    "lock_error",
]

#: Every task name the pipeline's workers run (DESIGN 3b); the DLQ holds "dead-letter" copies.
TASK_NAMES = (
    "ingest-subband",
    "normalize-group",
    "convert-group",
    "scan-ingestion-directory",
    "convert-uvh5-to-ms",
    "calibration-solve",
    "calibration-apply",
    "imaging",
    "validation",
    "crossmatch",
    "photometry",
    "catalog-setup",
    "organize-files",
    "housekeeping",
    "create-mosaic",
    "mosaic-pipeline",
    "mosaic-nightly",
    "pipeline-job",
    "pipeline-run",
    "backup-database",
    "backup-caltables",
    "storage-reconciliation",
    "health-check",
    "session-cleanup",
    "data-retention-cleanup",
)

#: Two workers, named as the pipeline names them: ``<hostname>-<8 hex digits>``.
WORKERS = ("lxd110h17-5c1e9a07", "lxd110h23-e83b2f4d")

#: Execution time ranges (s) per task name.
EXEC_S = {
    "ingest-subband": (0.4, 3.0),
    "normalize-group": (4, 20),
    "convert-group": (240, 420),
    "scan-ingestion-directory": (1, 6),
    "convert-uvh5-to-ms": (240, 420),
    "calibration-solve": (300, 700),
    "calibration-apply": (60, 180),
    "imaging": (600, 1500),
    "validation": (20, 60),
    "crossmatch": (10, 40),
    "photometry": (30, 120),
    "catalog-setup": (20, 60),
    "organize-files": (5, 30),
    "housekeeping": (10, 60),
    "create-mosaic": (900, 2400),
    "mosaic-pipeline": (1800, 3300),
    "mosaic-nightly": (60, 200),
    "pipeline-job": (120, 600),
    "pipeline-run": (20, 90),
    "backup-database": (5, 40),
    "backup-caltables": (30, 120),
    "storage-reconciliation": (60, 300),
    "health-check": (1, 5),
    "session-cleanup": (0.2, 2),
    "data-retention-cleanup": (30, 200),
}

#: The SQLite demo's failed ingestion group fails with this (its ingestion_groups.error_message).
GROUP_ERROR = "normalize: subband files disagree on integration time"
TIMEOUT_ERROR = (
    "TimeoutError: {name} exceeded timeout_sec={timeout} and was killed after {timeout} s"
)
DISK_ERROR = "OSError: [Errno 28] No space left on device: '/data/backups/caltables/{night}'"
TARGET_CHAIN = ("calibration-apply", "imaging", "validation", "crossmatch", "photometry")
STANDARD_CHAIN = (
    "catalog-setup",
    "convert-uvh5-to-ms",
    "calibration-solve",
    "calibration-apply",
    "imaging",
    "validation",
    "crossmatch",
    "photometry",
)


def lock_error(ms_path: str) -> str:
    """casacore's message when another process holds an MS's table lock."""
    return (
        f"RuntimeError: Error (Resource temporarily unavailable) when acquiring lock on "
        f"{ms_path}/table.lock"
    )


def _unix(stamp: str) -> float:
    return datetime.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()


@dataclasses.dataclass(frozen=True)
class QueueDay:
    """The SQLite demo's facts the queue must agree with (keys as in its ``truth.json``)."""

    night: str
    now_unix: float
    ms_paths: tuple[str, ...]  # tonight's imaged MS; group id = file stem
    reprocess_ms_paths: tuple[str, ...]  # the night before's MS, reprocessed today
    ms_states: Mapping  # {"stuck": [...], "failed": [...], "in_progress": [...]}
    incomplete_groups: tuple[Mapping, ...]  # [{"group_id", "missing_subbands", "age_minutes"}]
    failed_groups: tuple[str, ...]
    dec_deg: float = 37.0

    def __post_init__(self) -> None:
        if not self.ms_paths:
            raise InvalidQueryError(
                "QueueDay needs at least one MS path of the night; build it "
                "with QueueDay.for_demo() or QueueDay.from_truth()."
            )

    @property
    def data_root(self) -> Path:
        """``<root>`` of ``<root>/ms/<night>/<stamp>.ms``."""
        return Path(self.ms_paths[0]).parents[2]

    @classmethod
    def from_truth(cls, truth: Mapping) -> QueueDay:
        """From a demo state's truth dict (``load_truth(demo_dir)``)."""
        missing = {
            "nights",
            "now_unix",
            "measurement_sets",
            "ms_states",
            "incomplete_groups",
            "failed_groups",
        } - set(truth)
        if missing:
            raise InvalidQueryError(
                f"The demo truth lacks {sorted(missing)}; regenerate the demo "
                "state (dsa110-ws demo DIR --overwrite)."
            )
        nights = list(truth["nights"])
        by_night: dict[str, list[str]] = {}
        for m in truth["measurement_sets"]:
            by_night.setdefault(Path(m["path"]).parent.name, []).append(m["path"])
        prev = by_night.get(nights[-2], []) if len(nights) > 1 else []
        return cls(
            nights[-1],
            float(truth["now_unix"]),
            tuple(sorted(by_night.get(nights[-1], []))),
            tuple(sorted(prev)),
            truth["ms_states"],
            tuple(truth["incomplete_groups"]),
            tuple(truth["failed_groups"]),
        )

    @classmethod
    def for_demo(
        cls,
        data_root: str | Path = "/stage/dsa110-contimg",
        *,
        night: str = "2026-11-14",
        per_night: int = 8,
    ) -> QueueDay:
        """What ``make_demo_state(end_night=night, per_night=per_night)`` would hold, computed by
        the demo's own planners without writing anything."""
        import numpy as np

        from dsa110_ws.demo import ops, products
        from dsa110_ws.demo.sky import DEC0_DEG, plan_snapshots

        root = Path(data_root)
        snaps = plan_snapshots(night, 2, per_night)
        plans = products.plan_images(snaps, root, np.random.default_rng(0))  # paths only
        now = snaps[-1].mid_unix + 3 * 3600.0  # frozen as make_demo_state freezes it
        x_ms, _, x_truth = ops.extra_ms_rows(root, now, DEC0_DEG)
        ingest = ops.ingestion_rows(plans, x_ms, root, now)[3]
        paths = {
            n: tuple(str(p.ms_path) for p in plans if p.snap.night == n)
            for n in {s.night for s in snaps}
        }
        prev = min(paths)
        return cls(
            night,
            now,
            paths[night],
            paths[prev] if prev != night else (),
            x_truth,
            tuple(ingest["incomplete_groups"]),
            tuple(ingest["failed_groups"]),
            DEC0_DEG,
        )


@dataclasses.dataclass
class Attempt:
    worker: str
    claimed: float
    finished: float | None  # None: still running
    error: str | None = None  # None and finished: completed


@dataclasses.dataclass
class TaskPlan:
    name: str
    params: dict
    created: float
    priority: int = 0
    timeout_sec: int | None = None
    max_retries: int = 3
    attempts: list[Attempt] = dataclasses.field(default_factory=list)
    retried_at_end: bool = False  # failed, then retried: pending again at "now"
    cancelled_at: float | None = None
    deps: tuple[int, ...] = ()  # indices (in DayPlan.tasks) of tasks it depends on
    in_workflow: bool = False
    tag: str | None = None

    @property
    def end(self) -> float:
        last = self.attempts[-1] if self.attempts else None
        return last.finished if last and last.finished else self.created

    @property
    def status(self) -> str:
        if self.cancelled_at is not None:
            return "cancelled"
        if not self.attempts or self.retried_at_end:
            return "pending"
        last = self.attempts[-1]
        return "claimed" if last.finished is None else "failed" if last.error else "completed"

    @property
    def exhausted(self) -> bool:
        return self.status == "failed" and len(self.attempts) >= self.max_retries


@dataclasses.dataclass
class DayPlan:
    day: QueueDay
    tasks: list[TaskPlan]
    workflow: dict
    schedules: list[dict]
    groups: list[dict]


class _Planner:
    """Adds tasks with their attempts; workers take turns, times drawn from ``EXEC_S``."""

    def __init__(self, day: QueueDay, seed: int):
        self.day, self.rng = day, random.Random(seed)
        self.tasks: list[TaskPlan] = []
        self._turn = 0

    def worker(self) -> str:
        self._turn += 1
        return WORKERS[self._turn % len(WORKERS)]

    def add(
        self,
        name: str,
        params: dict,
        created: float,
        *,
        outcomes: Sequence = (None,),
        priority: int = 0,
        timeout: int | None = None,
        retry_gap_s: float = 900.0,
        not_before: float | None = None,
        **extra,
    ) -> TaskPlan:
        """A task and its attempts: each outcome is None (completed), an error (failed) or
        "running" (claimed, never finished); ``()`` leaves it pending.  The first claim comes
        after ``not_before`` (e.g. when its dependencies finished); a timed-out attempt runs
        for exactly its timeout."""
        task = TaskPlan(name, params, created, priority, timeout, **extra)
        t = max(created, not_before or created)
        for k, outcome in enumerate(outcomes):
            t += self.rng.uniform(0.3, 8.0) if k == 0 else retry_gap_s * self.rng.uniform(0.8, 1.2)
            run = None if outcome == "running" else self.rng.uniform(*EXEC_S[name])
            if isinstance(outcome, str) and outcome.startswith("TimeoutError"):
                run = float(timeout or 3600)
            task.attempts.append(
                Attempt(
                    self.worker(),
                    t,
                    None if run is None else t + run,
                    None if outcome in (None, "running") else outcome,
                )
            )
            t += run or 0.0
        self.tasks.append(task)
        return task

    def chain(
        self,
        names: Sequence[str],
        start: float,
        params: dict,
        outcomes: Mapping[str, Sequence] | None = None,
        **kwargs,
    ) -> list[TaskPlan]:
        """One task after another, each created when the previous one finished."""
        out, t = [], start
        for name in names:
            task = self.add(
                name,
                params,
                t,
                outcomes=(outcomes or {}).get(name, (None,)),
                timeout=3600 if name in ("imaging", "convert-group") else None,
                **kwargs,
            )
            out.append(task)
            if task.status != "completed":
                break
            t = task.end + self.rng.uniform(0.5, 4.0)
        return out


def plan_day(day: QueueDay, *, seed: int = 42) -> DayPlan:
    """The whole day: ingestion, processing chains, maintenance, reprocessing, a workflow."""
    from dsa110_ws.demo.queue.sched import plan_schedules

    p = _Planner(day, seed)
    groups = _plan_ingestion(p)
    _plan_processing(p)
    _plan_reprocessing(p)
    _plan_on_demand(p)
    schedules = plan_schedules(p)
    workflow = _plan_workflow(p)
    plan = DayPlan(day, p.tasks, workflow, schedules, groups)
    check_plan(plan)
    return plan


def _group_specs(day: QueueDay) -> list[tuple[str, list[int], str]]:
    """(group_id, subbands present, fate) for every group of the day."""
    specs = [(Path(m).stem, list(range(16)), "imaged") for m in day.ms_paths]
    fates = {"stuck": "stuck", "failed": "cal-failed", "in_progress": "in-progress"}
    for key, fate in fates.items():
        for m in day.ms_states.get(key, []):
            specs.append((Path(m["path"]).stem, list(range(16)), f"{fate}:{m['state']}"))
    for g in day.incomplete_groups:
        have = [i for i in range(16) if i not in set(g["missing_subbands"])]
        specs.append((g["group_id"], have, "collecting"))
    specs += [(gid, list(range(16)), "group-failed") for gid in day.failed_groups]
    return sorted(specs)


def _plan_ingestion(p: _Planner) -> list[dict]:
    """ingest-subband per arriving file, normalize-group and convert-group per full group."""
    groups = []
    root = p.day.data_root
    for gid, have, fate in _group_specs(p.day):
        t0 = _unix(gid)
        files = {sb: str(root / "incoming" / gid[:10] / f"{gid}_sb{sb:02d}.hdf5") for sb in have}
        ingests = [
            p.add(
                "ingest-subband",
                {"inputs": {"file_path": f, "incoming_dir": str(root / "incoming")}},
                t0 + 5 * sb + p.rng.uniform(0, 2),
                priority=5,
            )
            for sb, f in files.items()
        ]
        group: dict[str, Any] = {
            "group_id": gid,
            "fate": fate,
            "files": files,
            "ms_path": None,
            "recorded": {sb: t.end for sb, t in zip(files, ingests, strict=True)},
        }
        groups.append(group)
        if fate == "collecting":
            continue
        t = max(group["recorded"].values()) + 0.5
        inputs = {"inputs": {"group_id": gid}}
        if fate == "in-progress:pending":
            group["normalize"] = p.add("normalize-group", inputs, t, outcomes=(), priority=10)
            continue
        bad = (GROUP_ERROR,) * 3 if fate == "group-failed" else (None,)
        group["normalize"] = p.add(
            "normalize-group", inputs, t, outcomes=bad, priority=10, retry_gap_s=600
        )
        if fate != "group-failed":
            group["convert"] = _plan_convert(p, group, fate)
    return groups


def _plan_convert(p: _Planner, group: dict, fate: str) -> TaskPlan:
    gid, root = group["group_id"], p.day.data_root
    ms = str(root / "ms" / gid[:10] / f"{gid}.ms")
    group["ms_path"] = ms
    start = group["normalize"].end + p.rng.uniform(0.5, 3)
    outcomes = ("running",) if fate == "in-progress:converting" else (None,)
    return p.add(
        "convert-group",
        {"inputs": {"group_id": gid}},
        start,
        outcomes=outcomes,
        priority=10,
        timeout=3600,
    )


def _plan_processing(p: _Planner) -> None:
    """The target chain after each conversion, as the SQLite demo's MS states say it went."""
    calibrator_done = False
    for task in [t for t in p.tasks if t.name == "convert-group" and t.status == "completed"]:
        gid = task.params["inputs"]["group_id"]
        ms = str(p.day.data_root / "ms" / gid[:10] / f"{gid}.ms")
        params = {"inputs": {"ms_path": ms, "group_id": gid}}
        start = task.end + p.rng.uniform(0.5, 4)
        state = next(
            (m for rows in p.day.ms_states.values() for m in rows if m["path"] == ms), None
        )
        if state is None and not calibrator_done and ms in p.day.ms_paths:
            calibrator_done = True  # the night's first MS is the calibrator transit
            cal = p.chain(
                ("catalog-setup", "calibration-solve"),
                start,
                {"inputs": {**params["inputs"], "calibrator": "3C286"}},
            )
            start = cal[-1].end + p.rng.uniform(0.5, 4)
        tasks = p.chain(TARGET_CHAIN, start, params, _chain_outcomes(p, ms, state))
        if state is not None and ms in {m["path"] for m in p.day.ms_states.get("stuck", [])}:
            tasks[-1].tag = "stuck"


def _chain_outcomes(p: _Planner, ms: str, state: Mapping | None) -> dict:
    """Per task name: how its attempts end for this MS."""
    if state is None:  # a done MS; two needed a second attempt
        k = p.day.ms_paths.index(ms) if ms in p.day.ms_paths else -1
        if k == 1:
            return {"calibration-apply": (lock_error(ms), None)}
        if k == 3:
            return {"imaging": (TIMEOUT_ERROR.format(name="imaging", timeout=3600), None)}
        return {}
    if state["state"] in ("failed", "error"):
        return {"calibration-apply": (state["error"],) * 3}
    if state["state"] == "imaging":
        return {"imaging": ("running",)}
    return {}


def _plan_reprocessing(p: _Planner) -> None:
    """An operator reprocesses the night before: one pipeline-run, a pipeline-job per MS; table
    locks (the MS were open elsewhere) fail four of them, one already retried."""
    paths = p.day.reprocess_ms_paths or p.day.ms_paths
    start = p.day.now_unix - 8.7 * 3600
    night = Path(paths[0]).parent.name
    run = p.add(
        "pipeline-run",
        {"inputs": {"mode": "reprocess", "night": night}, "requested_by": "operator"},
        start,
    )
    for k, ms in enumerate(paths):
        fails = k % 2 == 1
        p.add(
            "pipeline-job",
            {
                "inputs": {"ms_path": ms, "stages": ["calibration-apply", "imaging"]},
                "parent": "pipeline-run",
            },
            run.end + 2.0 * k,
            outcomes=(lock_error(ms),) if fails else (None,),
            retried_at_end=fails and k == 5,
            timeout=3600,
        )


def _plan_on_demand(p: _Planner) -> None:
    """An on-demand mosaic (and its duplicate, cancelled while pending)."""
    t = p.day.now_unix - 6.2 * 3600
    params = {
        "inputs": {
            "name": f"drift_{p.day.night}",
            "tier": "quicklook",
            "start_time": _unix(f"{p.day.night}T00:00:00"),
            "end_time": _unix(f"{p.day.night}T23:59:59"),
        }
    }
    p.add("mosaic-pipeline", params, t, timeout=7200)
    p.add("mosaic-pipeline", params, t + 41.0, outcomes=(), cancelled_at=t + 163.0)


def _plan_workflow(p: _Planner) -> dict:
    """A standard-pipeline DAG reprocessing tonight's last group: four steps done, imaging
    running, three waiting on it."""
    ms = p.day.ms_paths[-1]
    gid = Path(ms).stem
    params = {"inputs": {"ms_path": ms, "group_id": gid}, "chain_name": "standard-pipeline"}
    deps = {
        "convert-uvh5-to-ms": ("catalog-setup",),
        "calibration-solve": ("convert-uvh5-to-ms",),
        "calibration-apply": ("calibration-solve",),
        "imaging": ("calibration-apply",),
        "validation": ("imaging",),
        "crossmatch": ("imaging",),
        "photometry": ("validation", "crossmatch"),
    }
    index: dict[str, int] = {}
    created = p.day.now_unix - 40 * 60  # all spawned at once, each claimed after its deps
    for k, name in enumerate(STANDARD_CHAIN):
        outcomes = (None,) if k < 4 else ("running",) if name == "imaging" else ()
        after = max((p.tasks[index[d]].end for d in deps.get(name, ())), default=created)
        p.add(
            name,
            params,
            created + 0.01 * k,
            outcomes=outcomes,
            in_workflow=True,
            deps=tuple(index[d] for d in deps.get(name, ())),
            not_before=after,
            timeout=3600 if name == "imaging" else None,
        )
        index[name] = len(p.tasks) - 1
    tasks = [p.tasks[i] for i in index.values()]
    return {
        "name": "standard-pipeline",
        "created": created - 1.0,
        "description": f"Reprocess {gid} with a fresh calibration",
        "started": tasks[0].attempts[0].claimed,
        "task_indices": list(index.values()),
        "metadata": {"requested_by": "operator", "group_id": gid, "ms_path": ms},
    }


def check_plan(plan: DayPlan) -> None:
    """Every planned time lies on the demo's timeline, in order, and not after "now"."""
    now = plan.day.now_unix
    for t in plan.tasks:
        times = [t.created] + [x for a in t.attempts for x in (a.claimed, a.finished) if x]
        if t.cancelled_at:
            times.append(t.cancelled_at)
        if times != sorted(times) or times[-1] > now:
            raise InvalidQueryError(
                f"The planned {t.name} task ends after the demo's now ({times[-1]:.0f} > "
                f"{now:.0f}); give QueueDay a later now_unix or an earlier night."
            )
