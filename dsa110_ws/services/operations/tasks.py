"""``w.tasks``: the pipeline's task queue (Absurd, PostgreSQL): what waits, runs, failed, is stuck.

Reads come from :mod:`dsa110_ws.repositories.queue`; "now" is the workspace clock.  The
operator actions (retry, cancel) go through the deployment's own functions, audited in
the workspace's state database like every other write, so the deployment's rules decide:
a refused action says the task's actual status.  Without a configured queue every view
raises :class:`QueueNotConfigured` (one line: set ABSURD_DATABASE_URL).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
import warnings
from typing import TYPE_CHECKING, Any

import pandas as pd

from dsa110_ws.core.settings import QueueSettings
from dsa110_ws.core.time import TimeLike, parse_duration, unix_to_datetime
from dsa110_ws.errors import (
    ConfigurationError,
    InvalidQueryError,
    NotFoundError,
    WorkspaceError,
)
from dsa110_ws.repositories import DEFAULT_LIMIT, TruncatedResultWarning
from dsa110_ws.services.memo import Memo
from dsa110_ws.services.operations._failures import group_failures
from dsa110_ws.services.operations._taskrecords import TaskInfo, refusal
from dsa110_ws.services.shared import SharedCache

if TYPE_CHECKING:
    from dsa110_ws.core.time import Clock
    from dsa110_ws.repositories.queue import QueueRepositories
    from dsa110_ws.services.audit import ActionResult, AuditTrail
    from dsa110_ws.services.operations.jobs import JobService

__all__ = ["TaskQueueService", "QueueNotConfigured", "TaskInfo", "NOT_CONFIGURED"]

NOT_CONFIGURED = "task queue not configured: set ABSURD_DATABASE_URL"
LOG_EXCERPT_LINES = 15
_STATUSES = ("pending", "claimed", "completed", "failed", "cancelled", "retrying")


class QueueNotConfigured(ConfigurationError):
    """No task-queue database is configured (ABSURD_DATABASE_URL / DSA110_WS_QUEUE_URL)."""


def parse_task_id(task_id: Any) -> str:
    """A task id as the canonical UUID text; anything else is refused."""
    try:
        return str(uuid.UUID(str(task_id).strip()))
    except (ValueError, AttributeError, TypeError):
        raise InvalidQueryError(
            f"Task id {str(task_id)[:60]!r} is not a UUID (e.g. 3f2a1c9e-...-0123456789ab); "
            "list tasks with `dsa110-ws tasks list`."
        ) from None


class TaskQueueService:
    """The task queue's views and the operator's retry and cancel (``w.tasks``).

    Parameters
    ----------
    repos
        The queue database's repositories, or ``None`` when no queue is configured.
    audit
        The audited write path (retry, cancel).
    clock
        The workspace clock.
    queue, dlq
        The pipeline's queue and its dead-letter queue.
    settings
        ``[queue]``: ``stuck_after_s`` for tasks without their own timeout.
    jobs
        The pipeline's jobs (SQLite): a task's detail gains the log of the newest job on
        its Measurement Set.
    """

    def __init__(
        self,
        repos: QueueRepositories | None,
        *,
        audit: AuditTrail,
        clock: Clock,
        queue: str,
        dlq: str,
        settings: QueueSettings | None = None,
        jobs: JobService | None = None,
        shared: SharedCache | None = None,
    ):
        self._repos = repos
        self._jobs = jobs
        self._audit = audit
        self._clock = clock
        self.queue = queue
        self.dlq = dlq
        self._settings = settings or QueueSettings()
        #: reads shared by the views refreshing together ([queue] cache_s)
        self.memo = Memo(self._settings.cache_s)
        #: the same reads shared with the other processes over this state (the
        #: dashboards' kernels), for as long
        self.shared = shared

    def __repr__(self) -> str:
        where = self._repos.db.describe() if self._repos is not None else "not configured"
        return f"<TaskQueueService {where}: stats, list, show, stuck, failures, retry, cancel>"

    @property
    def configured(self) -> bool:
        """Whether a task-queue database is configured."""
        return self._repos is not None

    @property
    def connect_timeout_s(self) -> float:
        """How long a connection attempt may wait (0 when no queue is configured)."""
        return float(self._repos.db.connect_timeout_s) if self._repos is not None else 0.0

    def _r(self) -> QueueRepositories:
        if self._repos is None:
            raise QueueNotConfigured(NOT_CONFIGURED + " (or DSA110_WS_QUEUE_URL).")
        return self._repos

    def describe(self) -> str:
        """Where the queue is (URL with the password masked), or that it is not configured."""
        return self._repos.db.describe() if self._repos is not None else NOT_CONFIGURED

    def _shared(self, key: Any, fn: Any) -> pd.DataFrame:
        """``fn()`` through the memo (and the cross-process cache); each caller gets its own
        copy of the frame."""
        if self.shared is not None:
            cache, read = self.shared, fn
            where = ("task queue", self.describe(), self.queue, self.dlq, key)
            fn = lambda: cache.get(where, read)  # noqa: E731
            key = (key, cache.generation())  # a write in any process ends this memo too
        return self.memo.get(key, fn).copy()

    def forget(self) -> None:
        """Drop the shared reads (this process's and the other kernels'): the next views
        read the queue again."""
        self.memo.clear()
        if self.shared is not None:
            self.shared.clear()

    def _now(self) -> dt.datetime:
        return unix_to_datetime(self._clock.now_unix())

    def _since(self, since: TimeLike | None, default: str) -> dt.datetime:
        if since is None:
            since = f"{default} ago"
        elif isinstance(since, str) and not since.strip().endswith("ago"):
            try:
                parse_duration(since)
                since = f"{since} ago"
            except InvalidQueryError:
                pass
        return unix_to_datetime(self._clock.time(since, what="since").unix)

    # -- views ---------------------------------------------------------------------------
    def stats(self) -> pd.DataFrame:
        """Per queue (the pipeline's and its dead-letter queue always, with any other queue
        present): pending, claimed, completed, failed, cancelled, retrying, total, as
        ``absurd.get_queue_stats`` counts them."""
        repos = self._r()
        return self._shared("stats", lambda: repos.tasks.queue_stats([self.queue, self.dlq]))

    def list(
        self,
        *,
        queue: str | None = None,
        status: str | list[str] | None = None,
        name: str | None = None,
        worker: str | None = None,
        since: TimeLike | None = None,
        until: TimeLike | None = None,
        limit: int | None = DEFAULT_LIMIT,
    ) -> pd.DataFrame:
        """Tasks newest first, filtered by queue, status, task name, worker and creation
        time (``since`` may be a duration: "6h")."""
        statuses = [status] if isinstance(status, str) else status
        for s in statuses or ():
            if s not in _STATUSES:
                raise InvalidQueryError(f"Unknown task status {s!r}; use one of {_STATUSES}.")
        start = None if since is None else self._since(since, "24h")
        end = None if until is None else unix_to_datetime(self._clock.time(until).unix)
        return self._r().tasks.find(
            queue=queue,
            status=statuses,
            task_name=name,
            worker=worker,
            start=start,
            end=end,
            limit=limit,
        )

    def show(self, task_id: Any) -> TaskInfo:
        """One task whole: params, result, error, attempts, timings, depends_on, workflow."""
        repos = self._r()
        tid = parse_task_id(task_id)
        row = repos.tasks.get(tid)
        if row is None:
            raise NotFoundError(f"No task {tid} in {self.describe()}.")
        info = TaskInfo.from_row(row, now=self._now())
        return self._with_log(info) if self._jobs is not None and info.ms_path else info

    def _with_log(self, info: TaskInfo) -> TaskInfo:
        """The task with the last lines of the newest pipeline job on its MS (the jobs table
        is another database: when it cannot be read, the task is shown without)."""
        assert self._jobs is not None
        try:
            with warnings.catch_warnings():  # only the newest job is wanted
                warnings.simplefilter("ignore", TruncatedResultWarning)
                jobs = self._jobs.find(ms_path=info.ms_path, limit=1)
        except WorkspaceError:
            return info
        if jobs.empty:
            return info
        logs = jobs["logs"].iloc[0] if "logs" in jobs.columns else None
        lines = str(logs).splitlines()[-LOG_EXCERPT_LINES:] if isinstance(logs, str) else []
        return dataclasses.replace(
            info, job_id=int(jobs["id"].iloc[0]), log_excerpt="\n".join(lines) or None
        )

    def stuck(self, *, limit: int | None = DEFAULT_LIMIT) -> pd.DataFrame:
        """Claimed tasks held longer than their own ``timeout_sec`` (else ``[queue]
        stuck_after_s``), oldest first, with ``age_s`` and ``limit_s``."""
        repos, now = self._r(), self._now()
        return self._shared(
            ("stuck", limit),
            lambda: repos.tasks.stuck(
                now=now, default_timeout_s=self._settings.stuck_after_s, limit=limit
            ),
        )

    def dead_letter(self, *, limit: int | None = DEFAULT_LIMIT) -> pd.DataFrame:
        """The dead-letter queue's tasks and the failed tasks that used every retry."""
        return self._r().tasks.dead_letter(dlq=self.dlq, limit=limit)

    def workers(self, *, since: TimeLike | None = None) -> pd.DataFrame:
        """Every worker seen since ``since`` (default 24 h): running tasks, last claim,
        done, failed and failure rate (failed / (done + failed))."""
        repos, start, now = self._r(), self._since(since, "24h"), self._now()
        df = self._shared(("workers", since), lambda: repos.tasks.workers(start=start, now=now))
        finished = df["done"] + df["failed"]
        df["failure_rate"] = (df["failed"] / finished).where(finished > 0)
        return df

    def failures(self, *, since: TimeLike | None = None) -> pd.DataFrame:
        """Failed tasks of the window (default 24 h) grouped by cause: cause, n,
        task_names, queues, first_at, last_at, example, task_ids; most frequent first."""
        rows = self._failed_rows(since)
        out = group_failures(rows)
        out.attrs.update(truncated=bool(rows.attrs.get("truncated")), n_failed=len(rows))
        return out

    def _failed_rows(self, since: TimeLike | None) -> pd.DataFrame:
        """Failed tasks finished in [since (default 24 h ago), now), shared for a moment."""
        repos, start, now = self._r(), self._since(since, "24h"), self._now()
        key = ("failed", str(since) if since is not None else "24h")
        return self._shared(key, lambda: repos.tasks.failed(start=start, end=now))

    def durations(self, *, since: TimeLike | None = None) -> pd.DataFrame:
        """Wait and execution time percentiles (p50/p90/p99, s) per task name over the
        window (default 24 h)."""
        return self._r().tasks.durations(start=self._since(since, "24h"), end=self._now())

    def workflows(self, *, limit: int | None = 100) -> pd.DataFrame:
        """Workflows newest first with their progress (``progress`` = completed / total)."""
        df = self._r().workflows.find(limit=limit)
        total = df["n_tasks"].where(df["n_tasks"] > 0)
        return df.assign(progress=(df["n_completed"] / total).fillna(0.0))

    def workflow_graph(self, workflow_id: Any) -> dict[str, Any]:
        """One workflow's dependency graph: ``nodes`` (task_id, task_name, status) and
        ``edges`` (dependency -> dependent), tasks in creation order."""
        tasks = self._r().workflows.tasks(parse_task_id(workflow_id))
        if tasks.empty:
            raise NotFoundError(f"No tasks of workflow {workflow_id} in {self.describe()}.")
        ids = {str(t) for t in tasks["task_id"]}
        edges = [
            (str(d), str(t))
            for t, deps in zip(tasks["task_id"], tasks["depends_on"], strict=True)
            for d in (deps or [])
            if str(d) in ids
        ]
        nodes = tasks[["task_id", "task_name", "status", "worker_id"]].assign(
            task_id=[str(t) for t in tasks["task_id"]]
        )
        return {"nodes": nodes, "edges": edges}

    def plot_workflow(self, workflow_id: Any, ax: Any = None) -> Any:
        """The dependency graph drawn in layers (a task right of what it waits for),
        coloured by status; returns the Axes."""
        from dsa110_ws.services.operations._taskplots import plot_graph

        return plot_graph(self.workflow_graph(workflow_id), ax)

    def schedules(self) -> pd.DataFrame:
        """Schedules with their next run and whether one is overdue (workspace clock)."""
        return self._r().schedules.find(now=self._now())

    def failed_count(self, *, since: TimeLike | None = None) -> int:
        """Tasks of the pipeline's queue that failed since ``since`` (default 1 h)."""
        start = self._since(since, "1h")
        if start >= self._since(None, "24h"):  # within the day's failures, read once anyway
            day = self._failed_rows(None)
            if not day.attrs.get("truncated"):
                done = pd.to_datetime(day["completed_at"], utc=True)
                return int(((day["queue_name"] == self.queue) & (done >= start)).sum())
        return self._r().tasks.count(
            queue=self.queue,
            status="failed",
            finished_since=start,
            finished_before=self._now(),
        )

    def failed_times(self) -> pd.Series:
        """Completion times (Unix seconds) of this queue's tasks that failed in the last
        24 h: the day's failures, read once and shared (as :meth:`failed_count` reads them)."""
        day = self._failed_rows(None)
        done = pd.to_datetime(day["completed_at"], utc=True)[day["queue_name"] == self.queue]
        epoch = pd.Timestamp(0, unit="s", tz="UTC")
        return (done - epoch).dt.total_seconds().reset_index(drop=True)

    def oldest_pending_s(self) -> float | None:
        """How long (s) the oldest never-claimed pending task of the pipeline's queue has
        waited (retried tasks left out: when they were retried is not recorded)."""
        t = self._r().tasks.oldest_pending(self.queue)
        return None if t is None else (self._now() - t.to_pydatetime()).total_seconds()

    def summary(
        self, *, stats: pd.DataFrame | None = None, stuck: pd.DataFrame | None = None
    ) -> dict[str, Any]:
        """The headline numbers of the pipeline's queue: pending, running (claimed), failed
        in the last hour, stuck (any queue), dead_letter (tasks in the DLQ).  ``stats`` and
        ``stuck`` already read by the caller are reused."""
        stats = (self.stats() if stats is None else stats).set_index("queue_name")
        stuck = self.stuck(limit=None) if stuck is None else stuck
        main = stats.loc[self.queue] if self.queue in stats.index else None
        return {
            "pending": int(main["pending"]) if main is not None else 0,
            "running": int(main["claimed"]) if main is not None else 0,
            "failed_1h": self.failed_count(since="1h"),
            "stuck": len(stuck),
            "dead_letter": int(stats.loc[self.dlq, "total"]) if self.dlq in stats.index else 0,
        }

    # -- operator actions ----------------------------------------------------------------
    def retry(self, task_id: Any) -> ActionResult:
        """Retry a failed or cancelled task through ``absurd.retry_task`` (only while
        ``attempt < max_retries``); a refusal names the task's actual status."""
        return self._act(task_id, "retry", lambda t, con: self._r().tasks.retry_in(con, t))

    def cancel(self, task_id: Any) -> ActionResult:
        """Cancel a pending task through ``absurd.cancel_task``; a refusal names its status."""
        return self._act(task_id, "cancel", lambda t, con: self._r().tasks.cancel_in(con, t))

    def _act(self, task_id: Any, verb: str, call: Any) -> ActionResult:
        repos = self._r()
        tid = parse_task_id(task_id)

        def apply(con: Any) -> tuple[Any, Any]:
            before = repos.tasks.state_in(con, tid)
            if before is None:
                raise NotFoundError(f"No task {tid} in {self.describe()}; nothing to {verb}.")
            if not call(tid, con):
                # why: the state now (another operator or worker may have just changed it:
                # the deployment's function waited for that row and then refused)
                now = repos.tasks.state_in(con, tid) or before
                raise InvalidQueryError(refusal(verb, tid, now))
            return _plain(before), _plain(repos.tasks.state_in(con, tid))

        try:
            return self._audit.perform(action=f"task_{verb}", target=tid, apply=apply, db=repos.db)
        finally:
            self.forget()  # what the views show next is read again

    def retry_failures(self, cause: str, *, since: TimeLike | None = None) -> dict[str, Any]:
        """Retry every task of one failure group (a ``cause`` of :meth:`failures`): one
        action; returns how many were retried and, for the others, why not."""
        groups = self.failures(since=since)
        match = groups[groups["cause"] == cause]
        if match.empty:
            raise NotFoundError(f"No failures with cause {cause[:80]!r} in the window.")
        retried: list[str] = []
        refused: dict[str, str] = {}
        for tid in match["task_ids"].iloc[0]:
            try:
                self.retry(tid)
                retried.append(tid)
            except (InvalidQueryError, NotFoundError) as exc:
                refused[tid] = str(exc)
        return {
            "cause": cause,
            "n_retried": len(retried),
            "n_refused": len(refused),
            "retried": retried,
            "refused": refused,
        }


def _plain(row: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if row is None else {k: (str(v) if k == "task_id" else v) for k, v in row.items()}
