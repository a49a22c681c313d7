"""Batch QA as an operator action: create the batch rows, then run the items through the
batch runner (``w.batch``: process pool or dask), recording item states as it goes.

Every write is one audited transaction through the :class:`AuditTrail`: the creation, the claim of
each chunk of items (running), the result of each chunk (done, or failed with the
runner's one-line reason: one bad product never stops the batch) and the final status
(done, partial or failed).  Item times are the workspace clock (``w.now()``, frozen in the
demo) plus the real time elapsed since the run started, so durations are real.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pandas as pd

from dsa110_ws.core.time import night_bounds
from dsa110_ws.errors import InvalidQueryError, NotFoundError, WorkspaceError, one_line
from dsa110_ws.services.operations._common import status_class

if TYPE_CHECKING:
    from dsa110_ws.core.time import Clock
    from dsa110_ws.repositories.jobs import BatchJobItemRepository, BatchJobRepository
    from dsa110_ws.services.audit import ActionResult, AuditTrail
    from dsa110_ws.services.products import BatchRunner, ImageService

__all__ = ["BatchQA", "resolve_selection"]

BATCH_TYPE = "batch_qa"


def resolve_selection(
    images: ImageService, selection: Any, *, now: Any = None
) -> tuple[pd.DataFrame, str]:
    """Images to QA as a DataFrame (path, ms_path) and a short description."""
    if isinstance(selection, pd.DataFrame):
        if "path" not in selection.columns:
            raise InvalidQueryError(
                "A selection DataFrame needs a 'path' column (use w.images.find(...))."
            )
        df, desc = selection, f"{len(selection)} images (DataFrame)"
    elif isinstance(selection, dict):
        df, desc = images.find(**selection, limit=None), f"images.find({selection})"
    elif isinstance(selection, str):
        lo, hi = night_bounds(selection, now=now)
        df, desc = images.find(start=lo, end=hi, limit=None), f"night {selection}"
    elif isinstance(selection, (list, tuple)) and all(isinstance(p, str) for p in selection):
        known = images.find(path=list(selection), limit=None)
        ms = dict(zip(known["path"], known["ms_path"], strict=True))
        df = pd.DataFrame({"path": list(selection), "ms_path": [ms.get(p) for p in selection]})
        desc = f"{len(selection)} image paths"
    else:
        raise InvalidQueryError(
            f"Cannot select images from {type(selection).__name__}; pass a DataFrame from "
            "w.images.find, a list of image paths, a dict of find filters or a night."
        )
    if df.empty:
        raise InvalidQueryError(f"The selection ({desc}) matches no images; nothing to QA.")
    ms = df["ms_path"] if "ms_path" in df.columns else df["path"]
    out = pd.DataFrame(
        {
            "path": df["path"].astype(str).to_numpy(),
            "ms_path": [
                m if isinstance(m, str) else p for m, p in zip(ms, df["path"], strict=True)
            ],
        }
    )
    return out.drop_duplicates("path", ignore_index=True), desc


class _RunClock:
    """The workspace clock plus the real time elapsed since the run started."""

    def __init__(self, base_unix: float):
        self.t0, self.base = time.monotonic(), base_unix

    def now(self) -> float:
        return self.base + (time.monotonic() - self.t0)


class BatchQA:
    """Creating and running ``batch_qa`` batches, every write audited.

    Parameters
    ----------
    audit
        The audited write path.
    batches, items
        The ``batch_jobs`` and ``batch_job_items`` repositories.
    images
        The image catalogue selections are resolved against.
    runner
        The batch runner that grades the images (process pool or dask).
    clock
        The workspace clock.
    chunk
        Items claimed and run at a time (``[operations] batch_chunk``).
    """

    def __init__(
        self,
        audit: AuditTrail,
        batches: BatchJobRepository,
        items: BatchJobItemRepository,
        *,
        images: ImageService,
        runner: BatchRunner,
        clock: Clock,
        chunk: int = 16,
    ):
        self._audit = audit
        self._batches = batches
        self._items = items
        self._images = images
        self._runner = runner
        self._clock = clock
        self._chunk = int(chunk)

    def create(self, selection: Any) -> ActionResult:
        """One transaction: a pending ``batch_qa`` row and one pending item per image."""
        images, desc = resolve_selection(self._images, selection, now=self._clock.now())
        batches, items = self._batches, self._items
        now, who = self._clock.now_unix(), self._audit.operator
        params = json.dumps(
            {"kind": "image_qa", "selection": desc, "requested_by": who, "source": "dsa110-ws"}
        )

        def apply(con: Any) -> tuple[Any, Any]:
            bid = batches.insert(
                con, type=BATCH_TYPE, created_at=now, params=params, total_items=len(images)
            )
            items.insert_many(
                con,
                bid,
                [
                    {"ms_path": m, "data_id": p, "status": "pending"}
                    for p, m in zip(images["path"], images["ms_path"], strict=True)
                ],
            )
            return {"batch": None}, {
                "batch": {
                    "id": bid,
                    "type": BATCH_TYPE,
                    "status": "pending",
                    "total_items": len(images),
                    "selection": desc,
                }
            }

        return self._audit.perform(action="create_batch_qa", target=desc, apply=apply)

    def run(
        self,
        batch_id: int,
        *,
        qa: Callable[[str], Any] | None = None,
        mode: str = "auto",
        chunk: int | None = None,
        progress: bool = False,
    ) -> dict[str, Any]:
        """Run the pending items of a batch; returns the final batch status and item counts.

        Items go in chunks (``chunk``, default ``[operations] batch_chunk``) through the
        batch runner (process pool or dask, ``mode``); before a chunk its items are claimed
        as running, after it each becomes done or failed (with the reason), one
        transaction each way.  The batch is re-read before every chunk, so a cancel from
        elsewhere stops the run.  ``qa`` (a callable ``qa(path)``) runs the items in this
        process instead of the runner (for tests and custom checks).
        """
        try:
            rec = self._batches.get(batch_id)
        except NotFoundError:
            raise NotFoundError(f"No batch job with id {batch_id}.") from None
        status = rec.status
        if status_class(status) not in {"pending", "running"}:
            raise InvalidQueryError(
                f"Batch {batch_id} is {status!r}; only pending or running "
                "batches run (retry_batch_failed re-queues failed items)."
            )
        todo = self._items.find(batch_id=batch_id, status="pending", limit=None)
        paths = dict(zip(todo["id"].astype(int), todo["data_id"], strict=True))
        size = int(chunk or self._chunk)
        if size < 1:
            raise InvalidQueryError(f"The batch chunk size must be at least 1 (got {size}).")
        clock = _RunClock(self._clock.now_unix())
        self._set_batch(batch_id, "running")
        ids = list(paths)
        for lo in range(0, len(ids), size):
            if status_class(self._batches.get(batch_id).status) == "cancelled":
                break
            started = clock.now()
            claimed = self._claim(batch_id, ids[lo : lo + size], started)
            if not claimed:
                continue
            outcomes = self._execute(
                [paths[i] for i in claimed], qa=qa, mode=mode, progress=progress
            )
            self._finish(batch_id, claimed, outcomes, started)
        return self._close(batch_id)

    def _execute(
        self, paths: list[str], *, qa: Callable[[str], Any] | None, mode: str, progress: bool
    ) -> list[tuple[str, str | None, float]]:
        """(status 'done'/'failed', error, seconds) per path, in order."""
        if qa is None:
            df = self._runner.run("image_qa", paths, mode=mode, progress=progress, desc="batch QA")
            return [
                (
                    "done" if st == "ok" else "failed",
                    err if st != "ok" else None,
                    float(sec) if sec == sec else 0.0,
                )
                for st, err, sec in zip(df["status"], df["error"], df["seconds"], strict=True)
            ]
        out: list[tuple[str, str | None, float]] = []
        for path in paths:
            t0 = time.perf_counter()
            try:
                qa(path)
                out.append(("done", None, time.perf_counter() - t0))
            except (WorkspaceError, OSError, ValueError, RuntimeError) as exc:
                out.append(("failed", one_line(exc), time.perf_counter() - t0))
        return out

    def _set_batch(self, bid: int, status: str) -> None:
        batches = self._batches

        def apply(con: Any) -> tuple[Any, Any]:
            before = batches.get_in(con, bid)["status"]  # type: ignore[index]
            if status_class(before) == "pending":
                batches.set_status(con, bid, status)
            return {"status": before}, {"status": batches.get_in(con, bid)["status"]}  # type: ignore[index]

        self._audit.perform(action="batch_status", target=str(bid), apply=apply)

    def _claim(self, bid: int, item_ids: list[int], at: float) -> list[int]:
        items = self._items
        claimed: list[int] = []

        def apply(con: Any) -> tuple[Any, Any]:
            claimed.extend(items.claim(con, bid, item_ids, at=at))
            return {"pending": list(item_ids)}, {"running": list(claimed)}

        self._audit.perform(action="batch_items_start", target=str(bid), apply=apply)
        return claimed

    def _finish(self, bid: int, item_ids: list[int], outcomes: list[tuple], started: float) -> None:
        items, batches = self._items, self._batches

        def apply(con: Any) -> tuple[Any, Any]:
            after = {}
            for item_id, (status, error, seconds) in zip(item_ids, outcomes, strict=True):
                items.update(
                    con, item_id, status=status, error=error, completed_at=started + seconds
                )
                after[str(item_id)] = {"status": status, "error": error}
            batches.refresh_counts(con, bid)
            return {"running": list(item_ids)}, after

        self._audit.perform(action="batch_items_finish", target=str(bid), apply=apply)

    def _close(self, bid: int) -> dict[str, Any]:
        batches, items = self._batches, self._items
        final: dict[str, Any] = {}

        def apply(con: Any) -> tuple[Any, Any]:
            row = batches.get_in(con, bid) or {}
            counts: dict[str, int] = {}
            for it in items.list_in(con, bid):
                c = status_class(it["status"])
                counts[c] = counts.get(c, 0) + 1
            status = row["status"]
            if (
                status_class(status) != "cancelled"
                and not counts.get("pending")
                and not counts.get("running")
            ):
                ok, bad = counts.get("success", 0), counts.get("failed", 0)
                status = "done" if bad == 0 else "failed" if ok == 0 else "partial"
                batches.set_status(con, bid, status)
            batches.refresh_counts(con, bid)
            final.update(batch_id=bid, status=status, counts=counts)
            return {"status": row["status"]}, {"status": status, "counts": counts}

        self._audit.perform(action="batch_status", target=str(bid), apply=apply)
        return final
