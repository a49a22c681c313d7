"""Operator actions: the only writes to the pipeline database.

Each action is one transaction through :func:`dsa110_ws.services.audit.perform`
(refused with :class:`NotPermittedError`, the database untouched, unless writes are
allowed), is idempotent where that makes sense (cancelling a cancelled batch, acknowledging
an acknowledged alert, rerunning an MS that already has a pending rerun change nothing),
and leaves an audit record (who, when, what, before, after) in ``w.state``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pandas as pd

from dsa110_ws.core.settings import OperationsSettings
from dsa110_ws.core.time import iso_utc
from dsa110_ws.errors import InvalidQueryError, NotFoundError
from dsa110_ws.services.audit import ActionResult
from dsa110_ws.services.operations._batchqa import BatchQA
from dsa110_ws.services.operations._command import CommandResult, render_command, run_command
from dsa110_ws.services.operations._common import FAILED, PENDING, status_class
from dsa110_ws.services.operations.jobs import parse_job_id

if TYPE_CHECKING:
    from dsa110_ws.core.time import Clock
    from dsa110_ws.repositories.images import ImageRatingRepository
    from dsa110_ws.repositories.jobs import (
        BatchJobItemRepository,
        BatchJobRepository,
        JobRepository,
    )
    from dsa110_ws.repositories.monitoring import FluxAlertRepository
    from dsa110_ws.repositories.ms import MSIndexRepository
    from dsa110_ws.services.audit import AuditTrail
    from dsa110_ws.services.products import BatchRunner, ImageService

__all__ = ["OperatorActions", "ActionResult", "RERUN_JOB_TYPE"]

RERUN_JOB_TYPE = "pipeline_rerun"


class OperatorActions:
    """``w.actions``: rerun, cancel, retry, batch QA, alerts, image ratings.

    Parameters
    ----------
    audit
        The audited write path every action goes through.
    jobs, ms_index, batch_jobs, batch_job_items, alerts, ratings
        The repositories the actions read and write.
    images
        The image catalogue (batch QA selections, ratings).
    batch
        The batch runner batch QA uses.
    clock
        The workspace clock (times of the rows written).
    settings
        ``[operations]``: the rerun command, its timeout, the batch chunk.
    """

    def __init__(
        self,
        audit: AuditTrail,
        *,
        jobs: JobRepository,
        ms_index: MSIndexRepository,
        batch_jobs: BatchJobRepository,
        batch_job_items: BatchJobItemRepository,
        alerts: FluxAlertRepository,
        ratings: ImageRatingRepository,
        images: ImageService,
        batch: BatchRunner,
        clock: Clock,
        settings: OperationsSettings | None = None,
    ):
        self._audit = audit
        self._jobs = jobs
        self._ms_index = ms_index
        self._batches = batch_jobs
        self._items = batch_job_items
        self._alerts = alerts
        self._ratings = ratings
        self._images = images
        self._clock = clock
        self._settings = settings or OperationsSettings()
        self._batch_qa = BatchQA(
            audit,
            batch_jobs,
            batch_job_items,
            images=images,
            runner=batch,
            clock=clock,
            chunk=self._settings.batch_chunk,
        )

    def __repr__(self) -> str:
        return (
            "<OperatorActions: rerun_ms, rerun_job, cancel_batch, retry_batch_failed, "
            "create_batch_qa, run_batch_qa, acknowledge_alert, resolve_alert, rate_image>"
        )

    def _now_unix(self) -> float:
        return self._clock.now_unix()

    # -- reruns --------------------------------------------------------------------------
    def rerun_ms(
        self, ms_path: str, *, reason: str | None = None, run_command: bool = True
    ) -> ActionResult:
        """Queue a rerun of one MS: a new ``jobs`` row of type ``pipeline_rerun`` (pending).

        If the MS already has a pending rerun nothing changes (``changed`` is False).  When
        ``[operations] rerun_command`` is set (and ``run_command``), the command runs after
        the commit with ``{ms_path}`` and ``{job_id}`` filled in as single arguments (no
        shell); a failing command marks the new job failed with its output as the log.
        """
        if not isinstance(ms_path, str) or not ms_path.strip():
            raise InvalidQueryError(f"rerun_ms needs an MS path, not {ms_path!r}.")
        return self._rerun(ms_path, reason=reason, rerun_of=None, run=run_command)

    def rerun_job(
        self, job_id: int | str, *, reason: str | None = None, run_command: bool = True
    ) -> ActionResult:
        """Queue a rerun of the MS a job worked on (see :meth:`rerun_ms`)."""
        jid = parse_job_id(job_id)
        job = self._jobs.get(jid)  # NotFoundError when there is no such job
        return self._rerun(job.ms_path, reason=reason, rerun_of=job.to_dict(), run=run_command)

    def _rerun(
        self, ms_path: str | None, *, reason: str | None, rerun_of: dict | None, run: bool
    ) -> ActionResult:
        jobs, now, who = self._jobs, self._now_unix(), self._audit.operator
        target = ms_path if ms_path is not None else f"job {(rerun_of or {}).get('id')}"
        template = self._settings.rerun_command
        if run and template:  # a malformed template is refused before anything is written
            render_command(
                template,
                {"ms_path": ms_path or "", "job_id": 0},
                setting="[operations] rerun_command",
            )

        def apply(con):
            if (
                ms_path is not None
                and self._ms_index.available
                and self._ms_index.get_in(con, ms_path) is None
            ):
                raise NotFoundError(f"No MS {ms_path!r} in ms_index; nothing to rerun.")
            pending = jobs.find_in(con, type=RERUN_JOB_TYPE, status="pending", ms_path=ms_path)
            if pending:
                same = {"pending_rerun_job": _jsonable(pending[0])}
                return same, same
            params = {"requested_by": who, "reason": reason, "source": "dsa110-ws"}
            if rerun_of is not None:
                params.update(rerun_of_job=rerun_of["id"], original_type=rerun_of.get("type"))
            new_id = jobs.insert(
                con,
                {
                    "type": RERUN_JOB_TYPE,
                    "status": "pending",
                    "ms_path": ms_path,
                    "params": json.dumps(params),
                    "logs": "",
                    "artifacts": "[]",
                    "created_at": now,
                },
            )
            return {"pending_rerun_job": None}, {
                "pending_rerun_job": _jsonable(jobs.get_in(con, new_id))
            }

        result = self._audit.perform(action="rerun", target=str(target), apply=apply)
        if run and result.changed and template:
            job = result.after["pending_rerun_job"]
            cmd = self._run_rerun_command(template, job)
            result = dataclasses.replace(result, after={**result.after, "command": cmd.to_dict()})
        return result

    def _run_rerun_command(self, template: str, job: dict) -> CommandResult:
        argv = render_command(
            template,
            {"ms_path": job.get("ms_path") or "", "job_id": job["id"]},
            setting="[operations] rerun_command",
        )
        cmd = run_command(argv, timeout_s=self._settings.rerun_timeout_s)
        jobs, now = self._jobs, self._now_unix()
        if cmd.ok:
            logs = f"{iso_utc(now)} INFO submitted: {cmd.command_line}\n"
            status = None
        else:
            why = cmd.error or f"exited with status {cmd.returncode}"
            detail = " ".join((cmd.stderr or cmd.stdout).split())[-500:]
            logs = (
                f"{iso_utc(now)} ERROR rerun command {why}: {cmd.command_line} {detail}".rstrip()
                + "\n"
            )
            status = "failed"

        def apply(con):
            before = jobs.get_in(con, job["id"])
            jobs.set_status(
                con,
                job["id"],
                status or before["status"],
                logs=logs,
                finished_at=now if status else None,
            )
            return {"job": _jsonable(before), "command": cmd.to_dict()}, {
                "job": _jsonable(jobs.get_in(con, job["id"]))
            }

        self._audit.perform(action="rerun_command", target=str(job["id"]), apply=apply)
        return cmd

    # -- batches -------------------------------------------------------------------------
    def cancel_batch(self, batch_id: int | str) -> ActionResult:
        """Cancel a pending or running batch: it and its pending items become 'cancelled'.

        Cancelling a cancelled batch changes nothing; a finished batch (done, failed,
        partial) cannot be cancelled (:class:`InvalidQueryError`).
        """
        bid = parse_job_id(batch_id, what="batch id")
        batches, items = self._batches, self._items

        def apply(con):
            before = _batch_state(con, batches, items, bid)
            status = before["status"]
            if status_class(status) == "cancelled":
                return before, before
            if status_class(status) not in {"pending", "running"}:
                raise InvalidQueryError(
                    f"Batch {bid} is {status!r}, already finished; only pending or running "
                    "batches can be cancelled."
                )
            items.transition(con, bid, from_status=sorted(PENDING), to_status="cancelled")
            batches.set_status(con, bid, "cancelled")
            return before, _batch_state(con, batches, items, bid)

        return self._audit.perform(action="cancel_batch", target=str(bid), apply=apply)

    def retry_batch_failed(self, batch_id: int | str) -> ActionResult:
        """Put a batch's failed items back to 'pending' (errors and times cleared) and the
        batch to 'pending'; no failed items -> nothing changes.  Cancelled batches refuse."""
        bid = parse_job_id(batch_id, what="batch id")
        batches, items = self._batches, self._items

        def apply(con):
            before = _batch_state(con, batches, items, bid)
            if status_class(before["status"]) == "cancelled":
                raise InvalidQueryError(
                    f"Batch {bid} was cancelled; create a new batch instead of retrying it."
                )
            n = items.transition(
                con, bid, from_status=sorted(FAILED), to_status="pending", reset=True
            )
            if n == 0:
                return before, before
            batches.refresh_counts(con, bid)
            if status_class(before["status"]) != "running":
                batches.set_status(con, bid, "pending")
            return before, _batch_state(con, batches, items, bid)

        return self._audit.perform(action="retry_batch_failed", target=str(bid), apply=apply)

    def create_batch_qa(
        self, selection: Any, *, run: bool = True, mode: str = "auto", progress: bool = False
    ) -> ActionResult:
        """Create a ``batch_qa`` job over images and (by default) run it.

        ``selection``: a DataFrame from ``w.images.find`` (``path`` and ``ms_path``
        columns), a list of image paths, a dict of ``w.images.find`` filters, or a night
        (``"2026-11-09"``).  One item per image (``ms_path`` = its MS, ``data_id`` = the
        image).  With ``run``, the batch is executed by the batch runner (``mode``: "auto",
        "processes", "threads", "serial" or "dask"; see :meth:`run_batch_qa`) and the
        returned ``after["run"]`` holds the final status and item counts.
        """
        result = self._batch_qa.create(selection)
        if run:
            bid = result.after["batch"]["id"]
            final = self._batch_qa.run(bid, mode=mode, progress=progress)
            result = dataclasses.replace(result, after={**result.after, "run": final})
        return result

    def run_batch_qa(
        self,
        batch_id: int | str,
        *,
        mode: str = "auto",
        progress: bool = False,
        qa: Callable[[str], Any] | None = None,
        chunk: int | None = None,
    ) -> dict[str, Any]:
        """Run the pending items of a ``batch_qa`` job with ``w.batch`` (image QA), in
        chunks (default ``[operations] batch_chunk``), recording item states (running, then
        done or failed) as it goes; ``qa(path)`` replaces the image QA (a custom check, run
        in this process)."""
        return self._batch_qa.run(
            parse_job_id(batch_id, what="batch id"),
            mode=mode,
            progress=progress,
            qa=qa,
            chunk=chunk,
        )

    # -- alerts and ratings --------------------------------------------------------------
    def acknowledge_alert(self, alert_id: int | str, *, by: str | None = None) -> ActionResult:
        """Acknowledge a flux-monitoring alert (no change if it already is)."""
        aid = parse_job_id(alert_id, what="alert id")
        who, now, repo = by or self._audit.operator, self._now_unix(), self._alerts

        def apply(con):
            before = _alert(con, repo, aid)
            repo.acknowledge(con, aid, by=who, at_unix=now)
            return before, _alert(con, repo, aid)

        return self._audit.perform(action="acknowledge_alert", target=str(aid), apply=apply)

    def resolve_alert(self, alert_id: int | str, *, note: str | None = None) -> ActionResult:
        """Resolve an alert with a note (acknowledging it too); no change if resolved."""
        aid = parse_job_id(alert_id, what="alert id")
        who, now, repo = self._audit.operator, self._now_unix(), self._alerts

        def apply(con):
            before = _alert(con, repo, aid)
            repo.resolve(con, aid, note=note, by=who, at_unix=now)
            return before, _alert(con, repo, aid)

        return self._audit.perform(action="resolve_alert", target=str(aid), apply=apply)

    def rate_image(
        self, image_id: int | str, rating: int, comment: str | None = None
    ) -> ActionResult:
        """Record the operator's 1-5 rating of an image (a new ``image_ratings`` row)."""
        iid = parse_job_id(image_id, what="image id")
        if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
            raise InvalidQueryError(f"A rating is an integer from 1 to 5, not {rating!r}.")
        who, at = self._audit.operator, iso_utc(self._now_unix())
        repo = self._ratings

        def apply(con):
            self._images.get(iid)  # NotFoundError for an unknown image
            before = {"image_id": str(iid), "rating": None}
            rid = repo.insert(
                con, image_id=str(iid), rating=rating, comment=comment, rater=who, rated_at=at
            )
            return before, {
                "image_id": str(iid),
                "rating_id": rid,
                "rating": rating,
                "comment": comment,
                "rater": who,
                "rated_at": at,
            }

        return self._audit.perform(action="rate_image", target=str(iid), apply=apply)

    def audit_log(self, *, action: str | None = None, limit: int = 100) -> pd.DataFrame:
        """The workspace's audit records (newest first)."""
        return self._audit.state.audit_log(action=action, limit=limit)


def _jsonable(row: dict | None) -> dict | None:
    if row is None:
        return None
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}


def _batch_state(con: Any, batches: Any, items: Any, bid: int) -> dict[str, Any]:
    row = batches.get_in(con, bid)
    if row is None:
        raise NotFoundError(f"No batch job with id {bid}.")
    counts: dict[str, int] = {}
    for it in items.list_in(con, bid):
        counts[str(it["status"])] = counts.get(str(it["status"]), 0) + 1
    return {
        "status": row["status"],
        "completed_items": row["completed_items"],
        "failed_items": row["failed_items"],
        "total_items": row["total_items"],
        "items": dict(sorted(counts.items())),
    }


def _alert(con: Any, repo: Any, aid: int) -> dict[str, Any]:
    row = repo.get_in(con, aid)
    if row is None:
        raise NotFoundError(f"No flux-monitoring alert with id {aid}.")
    keep = (
        "calibrator_name",
        "severity",
        "acknowledged_at",
        "acknowledged_by",
        "resolved_at",
        "resolution_note",
    )
    return {k: row.get(k) for k in keep}
