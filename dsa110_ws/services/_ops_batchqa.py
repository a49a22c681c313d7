"""Batch QA as an operator action: create the batch rows, then run the items through the
batch runner (``w.batch``: process pool or dask), recording item states as it goes.

Every write is one audited transaction through ``perform``: the creation, the claim of
each chunk of items (running), the result of each chunk (done, or failed with the
runner's one-line reason: one bad product never stops the batch) and the final status
(done, partial or failed).  Item times are the workspace clock (``w.now()``, frozen in the
demo) plus the real time elapsed since the run started, so durations are real.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pandas as pd

from dsa110_ws._util.timeparse import night_bounds
from dsa110_ws.errors import InvalidQueryError, NotFoundError, WorkspaceError, one_line
from dsa110_ws.services._operator import ActionResult, perform
from dsa110_ws.services._ops_common import ops_setting, status_class

__all__ = ["create_batch", "run_batch", "resolve_selection"]

BATCH_TYPE = "batch_qa"


def resolve_selection(w: Any, selection: Any) -> tuple[pd.DataFrame, str]:
    """Images to QA as a DataFrame (path, ms_path) and a short description."""
    if isinstance(selection, pd.DataFrame):
        if "path" not in selection.columns:
            raise InvalidQueryError(
                "A selection DataFrame needs a 'path' column (use w.images.find(...))."
            )
        df, desc = selection, f"{len(selection)} images (DataFrame)"
    elif isinstance(selection, dict):
        df, desc = w.images.find(**selection, limit=None), f"images.find({selection})"
    elif isinstance(selection, str):
        lo, hi = night_bounds(selection, now=w.now())
        df, desc = w.images.find(start=lo, end=hi, limit=None), f"night {selection}"
    elif isinstance(selection, (list, tuple)) and all(isinstance(p, str) for p in selection):
        known = w.images.find(path=list(selection), limit=None)
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


def create_batch(w: Any, selection: Any) -> ActionResult:
    """One transaction: a pending ``batch_qa`` row and one pending item per image."""
    images, desc = resolve_selection(w, selection)
    batches, items = w.repos.batch_jobs, w.repos.batch_job_items
    now, who = float(w.now().unix), w.settings.operator
    params = json.dumps(
        {"kind": "image_qa", "selection": desc, "requested_by": who, "source": "dsa110-ws"}
    )

    def apply(con):
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

    return perform(w, action="create_batch_qa", target=desc, apply=apply)


def run_batch(
    w: Any,
    batch_id: int,
    *,
    qa: Any = None,
    mode: str = "auto",
    chunk: int | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Run the pending items of a batch; returns the final batch status and item counts.

    Items go in chunks (``chunk``, default ``[operations] batch_chunk`` = 16) through the
    batch runner ``w.batch.run("image_qa", ...)`` (process pool or dask, ``mode``); before a
    chunk its items are claimed as running, after it each becomes done or failed (with
    the reason), one transaction each way.  The batch is re-read before every chunk, so a
    cancel from elsewhere stops the run.  ``qa`` (a callable ``qa(path)``) runs the items
    in this process instead of the runner (for tests and custom checks).
    """
    batches, items = w.repos.batch_jobs, w.repos.batch_job_items
    try:
        rec = batches.get(batch_id)
    except NotFoundError:
        raise NotFoundError(f"No batch job with id {batch_id}.") from None
    if status_class(rec.status) not in {"pending", "running"}:
        raise InvalidQueryError(
            f"Batch {batch_id} is {rec.status!r}; only pending or running "
            "batches run (retry_batch_failed re-queues failed items)."
        )
    todo = items.find(batch_id=batch_id, status="pending", limit=None)
    paths = dict(zip(todo["id"].astype(int), todo["data_id"], strict=True))
    size = int(chunk or ops_setting(w, "batch_chunk", 16))
    if size < 1:
        raise InvalidQueryError(f"The batch chunk size must be at least 1 (got {size}).")
    clock = _Clock(w)
    _set_batch(w, batch_id, "running")
    ids = list(paths)
    for lo in range(0, len(ids), size):
        if status_class(batches.get(batch_id).status) == "cancelled":
            break
        started = clock.now()
        claimed = _claim(w, batch_id, ids[lo : lo + size], started)
        if not claimed:
            continue
        outcomes = _execute(w, [paths[i] for i in claimed], qa=qa, mode=mode, progress=progress)
        _finish(w, batch_id, claimed, outcomes, started)
    return _close(w, batch_id)


class _Clock:
    def __init__(self, w: Any):
        self.t0, self.base = time.monotonic(), float(w.now().unix)

    def now(self) -> float:
        return self.base + (time.monotonic() - self.t0)


def _execute(
    w: Any, paths: list[str], *, qa: Any, mode: str, progress: bool
) -> list[tuple[str, str | None, float]]:
    """(status 'done'/'failed', error, seconds) per path, in order."""
    if qa is None:
        df = w.batch.run("image_qa", paths, mode=mode, progress=progress, desc="batch QA")
        return [
            (
                "done" if st == "ok" else "failed",
                err if st != "ok" else None,
                float(sec) if sec == sec else 0.0,
            )
            for st, err, sec in zip(df["status"], df["error"], df["seconds"], strict=True)
        ]
    out = []
    for path in paths:
        t0 = time.perf_counter()
        try:
            qa(path)
            out.append(("done", None, time.perf_counter() - t0))
        except (WorkspaceError, OSError, ValueError, RuntimeError) as exc:
            out.append(("failed", one_line(exc), time.perf_counter() - t0))
    return out


def _set_batch(w: Any, bid: int, status: str) -> None:
    batches = w.repos.batch_jobs

    def apply(con):
        before = batches.get_in(con, bid)["status"]
        if status_class(before) == "pending":
            batches.set_status(con, bid, status)
        return {"status": before}, {"status": batches.get_in(con, bid)["status"]}

    perform(w, action="batch_status", target=str(bid), apply=apply)


def _claim(w: Any, bid: int, item_ids: list[int], at: float) -> list[int]:
    items = w.repos.batch_job_items
    claimed: list[int] = []

    def apply(con):
        claimed.extend(items.claim(con, bid, item_ids, at=at))
        return {"pending": list(item_ids)}, {"running": list(claimed)}

    perform(w, action="batch_items_start", target=str(bid), apply=apply)
    return claimed


def _finish(w: Any, bid: int, item_ids: list[int], outcomes: list[tuple], started: float) -> None:
    items, batches = w.repos.batch_job_items, w.repos.batch_jobs

    def apply(con):
        after = {}
        for item_id, (status, error, seconds) in zip(item_ids, outcomes, strict=True):
            items.update(con, item_id, status=status, error=error, completed_at=started + seconds)
            after[str(item_id)] = {"status": status, "error": error}
        batches.refresh_counts(con, bid)
        return {"running": list(item_ids)}, after

    perform(w, action="batch_items_finish", target=str(bid), apply=apply)


def _close(w: Any, bid: int) -> dict[str, Any]:
    batches, items = w.repos.batch_jobs, w.repos.batch_job_items
    final: dict[str, Any] = {}

    def apply(con):
        row = batches.get_in(con, bid)
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

    perform(w, action="batch_status", target=str(bid), apply=apply)
    return final
