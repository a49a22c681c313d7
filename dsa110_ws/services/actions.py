"""Operator actions: the only writes to the pipeline database.

Each action is one transaction through :func:`dsa110_ws.services._operator.perform`
(refused with :class:`NotPermittedError`, the database untouched, unless writes are
allowed), is idempotent where that makes sense (cancelling a cancelled batch, acknowledging
an acknowledged alert, rerunning an MS that already has a pending rerun change nothing),
and leaves an audit record (who, when, what, before, after) in ``w.state``.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pandas as pd

from dsa110_ws.errors import InvalidQueryError, NotFoundError
from dsa110_ws.services._operator import ActionResult, perform
from dsa110_ws.services._ops_command import CommandResult, render_command, run_command
from dsa110_ws.services._ops_common import FAILED, PENDING, iso_utc, ops_setting, status_class
from dsa110_ws.services.jobs import parse_job_id

__all__ = ["OperatorActions", "ActionResult", "RERUN_JOB_TYPE"]

RERUN_JOB_TYPE = "pipeline_rerun"
DEFAULT_COMMAND_TIMEOUT_S = 60.0


class OperatorActions:
    """``w.actions``: rerun, cancel, retry, batch QA, alerts, image ratings."""

    def __init__(self, workspace: Any):
        self._w = workspace

    @property
    def _r(self):
        return self._w.repos

    def _now_unix(self) -> float:
        return float(self._w.now().unix)

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
        job = self._w.repos.jobs.get(jid)  # NotFoundError when there is no such job
        return self._rerun(job.ms_path, reason=reason, rerun_of=job.to_dict(), run=run_command)

    def _rerun(
        self, ms_path: str | None, *, reason: str | None, rerun_of: dict | None, run: bool
    ) -> ActionResult:
        jobs, now, who = self._r.jobs, self._now_unix(), self._w.settings.operator
        target = ms_path if ms_path is not None else f"job {rerun_of['id']}"

        def apply(con):
            if (
                ms_path is not None
                and self._r.ms_index.available
                and self._r.ms_index.get_in(con, ms_path) is None
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

        result = perform(self._w, action="rerun", target=str(target), apply=apply)
        template = ops_setting(self._w, "rerun_command", None)
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
        timeout = float(ops_setting(self._w, "rerun_timeout_s", DEFAULT_COMMAND_TIMEOUT_S))
        cmd = run_command(argv, timeout_s=timeout)
        jobs, now = self._r.jobs, self._now_unix()
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

        perform(self._w, action="rerun_command", target=str(job["id"]), apply=apply)
        return cmd

    # -- batches -------------------------------------------------------------------------
    def cancel_batch(self, batch_id: int | str) -> ActionResult:
        """Cancel a pending or running batch: it and its pending items become 'cancelled'.

        Cancelling a cancelled batch changes nothing; a finished batch (done, failed,
        partial) cannot be cancelled (:class:`InvalidQueryError`).
        """
        bid = parse_job_id(batch_id, what="batch id")
        batches, items = self._r.batch_jobs, self._r.batch_job_items

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

        return perform(self._w, action="cancel_batch", target=str(bid), apply=apply)

    def retry_batch_failed(self, batch_id: int | str) -> ActionResult:
        """Put a batch's failed items back to 'pending' (errors and times cleared) and the
        batch to 'pending'; no failed items -> nothing changes.  Cancelled batches refuse."""
        bid = parse_job_id(batch_id, what="batch id")
        batches, items = self._r.batch_jobs, self._r.batch_job_items

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

        return perform(self._w, action="retry_batch_failed", target=str(bid), apply=apply)

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
        from dsa110_ws.services._ops_batchqa import create_batch, run_batch

        result = create_batch(self._w, selection)
        if run:
            bid = result.after["batch"]["id"]
            final = run_batch(self._w, bid, mode=mode, progress=progress)
            result = dataclasses.replace(result, after={**result.after, "run": final})
        return result

    def run_batch_qa(
        self, batch_id: int | str, *, mode: str = "auto", progress: bool = False
    ) -> dict[str, Any]:
        """Run the pending items of a ``batch_qa`` job with ``w.batch`` (image QA), in
        chunks, recording item states (running, then done or failed) as it goes."""
        from dsa110_ws.services._ops_batchqa import run_batch

        return run_batch(
            self._w, parse_job_id(batch_id, what="batch id"), mode=mode, progress=progress
        )

    # -- alerts and ratings --------------------------------------------------------------
    def acknowledge_alert(self, alert_id: int | str, *, by: str | None = None) -> ActionResult:
        """Acknowledge a flux-monitoring alert (no change if it already is)."""
        aid = parse_job_id(alert_id, what="alert id")
        who, now, repo = (
            by or self._w.settings.operator,
            self._now_unix(),
            self._r.flux_monitoring_alerts,
        )

        def apply(con):
            before = _alert(con, repo, aid)
            repo.acknowledge(con, aid, by=who, at_unix=now)
            return before, _alert(con, repo, aid)

        return perform(self._w, action="acknowledge_alert", target=str(aid), apply=apply)

    def resolve_alert(self, alert_id: int | str, *, note: str | None = None) -> ActionResult:
        """Resolve an alert with a note (acknowledging it too); no change if resolved."""
        aid = parse_job_id(alert_id, what="alert id")
        who, now, repo = self._w.settings.operator, self._now_unix(), self._r.flux_monitoring_alerts

        def apply(con):
            before = _alert(con, repo, aid)
            repo.resolve(con, aid, note=note, by=who, at_unix=now)
            return before, _alert(con, repo, aid)

        return perform(self._w, action="resolve_alert", target=str(aid), apply=apply)

    def rate_image(
        self, image_id: int | str, rating: int, comment: str | None = None
    ) -> ActionResult:
        """Record the operator's 1-5 rating of an image (a new ``image_ratings`` row)."""
        iid = parse_job_id(image_id, what="image id")
        if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
            raise InvalidQueryError(f"A rating is an integer from 1 to 5, not {rating!r}.")
        who, at = self._w.settings.operator, iso_utc(self._now_unix())
        repo = self._r.image_ratings

        def apply(con):
            self._w.images.get(iid)  # NotFoundError for an unknown image
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

        return perform(self._w, action="rate_image", target=str(iid), apply=apply)

    def audit_log(self, *, action: str | None = None, limit: int = 100) -> pd.DataFrame:
        """The workspace's audit records (newest first)."""
        return self._w.state.audit_log(action=action, limit=limit)


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
