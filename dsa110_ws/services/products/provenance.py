"""The provenance of an image (``w.provenance``): the chain a scientist or an operator follows
when an image looks wrong.

For one image: its catalogue row; the job that made it (an ``image`` job of its MS listing
the image among its artifacts) and that run's log excerpt (the run's log file
``<type>-<job id>.log`` under the log roots, else the job's stored ``logs``); its MS
(``ms_index``) and the MS's stage history (``ms_state`` and the MS's jobs in time order); the
caltables applied to the MS (``calibration_applied``) with their registry rows (set, type,
solve time, validity window, status) and whether each was valid at the observation; the
pointing (``ms_index`` against the image centre); and the QA verdicts of the MS, the
caltables and the image, both as the pipeline stored them (``calibration_qa``,
``image_qa``) and as the workspace grades the files (``w.qa``).  Each link names the view
that opens it; a missing link says which table (or file) lacks it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from dsa110_ws.errors import DataUnavailableError, NotFoundError, WorkspaceError, one_line
from dsa110_ws.services.products._provlinks import (
    caltable_link,
    image_link,
    job_link,
    making_job,
    ms_links,
    pointing_link,
    rank,
    severity_of,
    when,
)
from dsa110_ws.services.products._provrecords import Provenance, ProvenanceLink, gap, link

if TYPE_CHECKING:
    from dsa110_ws.core.paths import PathPolicy
    from dsa110_ws.repositories import Repositories
    from dsa110_ws.services.operations import LogService
    from dsa110_ws.services.products.qa import QAService

__all__ = ["ProvenanceService", "Provenance", "ProvenanceLink"]

#: Log lines shown in the strip's excerpt.
LOG_EXCERPT_LINES = 8


class ProvenanceService:
    """Provenance of images (``w.provenance``).

    Parameters
    ----------
    repos
        The pipeline tables it reads: ``images``, ``jobs``, ``ms_index``, ``ms_state``,
        ``calibration_applied``, ``caltables``, ``image_qa``, ``calibration_qa``.
    qa, logs, paths
        The QA service (verdicts from the files), the log service (run logs) and the path
        policy (whether product files exist inside the data roots).
    """

    def __init__(self, repos: Repositories, *, qa: QAService, logs: LogService, paths: PathPolicy):
        self._r = repos
        self._qa = qa
        self._logs = logs
        self._paths = paths

    def __repr__(self) -> str:
        return "<ProvenanceService: image(path_or_id)>"

    def image(self, path_or_id: Any, *, file_qa: bool = True) -> Provenance:
        """The provenance of one image, by catalogue id or FITS path.

        ``file_qa=False`` leaves out the QA graded from the files (only the pipeline's stored
        verdicts), which reads no pixels, visibilities or solutions.
        """
        row = self._image_row(path_or_id)
        ms_path = row.get("ms_path") if isinstance(row.get("ms_path"), str) else None
        ms = self._one(self._r.ms_index, path=ms_path) if ms_path else None
        jobs = self._frame(self._r.jobs, ms_path=ms_path) if ms_path else pd.DataFrame()
        applied = self._frame(self._r.calibration_applied, ms_path=ms_path) if ms_path else None
        job = making_job(jobs, str(row["path"]))
        links: list[ProvenanceLink] = [image_link(row, self._exists(row["path"]))]
        links.append(job_link(job, ms_path))
        links += ms_links(ms, ms_path, self._one(self._r.ms_state, ms_path=ms_path), jobs)
        cal_links, tables = self._calibration(applied, ms, ms_path)
        links += cal_links
        links.append(pointing_link(row, ms))
        links += self._qa_links(row, ms_path, tables, file_qa)
        links.append(self._log_link(job))
        iid = row.get("id")
        return Provenance(
            str(row["path"]), None if iid is None else int(iid), ms_path, tuple(links)
        )

    # -- reading --------------------------------------------------------------------------
    def _image_row(self, path_or_id: Any) -> dict[str, Any]:
        text = str(path_or_id).strip()
        if text.isdigit():
            return self._r.images.get(int(text)).to_dict()
        given = os.path.expanduser(text)
        for candidate in dict.fromkeys([given, str(Path(given).absolute())]):
            try:
                return self._r.images.get_by_path(candidate).to_dict()
            except NotFoundError:
                continue
        p = self._paths.product(
            given, what="FITS image", expect="file"
        )  # NotFound/NotPermitted if no file
        try:
            return self._r.images.get_by_path(str(p)).to_dict()
        except NotFoundError:
            return {"path": str(p), "id": None, "ms_path": None, "_unregistered": True}

    def _frame(self, repo: Any, **filters: Any) -> pd.DataFrame | None:
        """Rows of ``repo`` (``None`` when the database has no such table)."""
        if not repo.available:
            return None
        return repo.find(**filters, limit=None)

    def _one(self, repo: Any, **filters: Any) -> dict[str, Any] | None:
        df = self._frame(repo, **filters)
        if df is None or df.empty:
            return None
        return {k: v for k, v in df.iloc[-1].items() if not str(k).endswith("_utc")}

    def _exists(self, path: str) -> bool:
        try:
            self._paths.product(path)
        except WorkspaceError:
            return False
        return True

    # -- calibration ----------------------------------------------------------------------
    def _calibration(
        self, applied: pd.DataFrame | None, ms: dict | None, ms_path: str | None
    ) -> tuple[list[ProvenanceLink], list[dict[str, Any]]]:
        if ms_path is None:
            return [gap("calibration", "caltables", "images", "The image has no ms_path.")], []
        if applied is None or applied.empty:
            what = "has no such table" if applied is None else f"has no row for {ms_path}"
            return [
                gap(
                    "calibration",
                    "caltables",
                    "calibration_applied",
                    f"calibration_applied {what}.",
                )
            ], []
        mid = None if ms is None else ms.get("mid_mjd")
        links, tables = [], []
        for _, a in applied.iterrows():
            path = a.get("caltable_path")
            if not isinstance(path, str):
                err = a.get("error_message") or "no caltable path"
                links.append(link("calibration", "applycal failed", "critical", str(err)))
                continue
            reg = self._one(self._r.caltables, path=path) if self._r.caltables.available else None
            tables.append({"path": path, "registry": reg})
            links.append(caltable_link(a, reg, mid, self._exists(path)))
        return links, tables

    # -- QA -------------------------------------------------------------------------------
    def _qa_links(
        self, row: dict, ms_path: str | None, tables: list[dict], file_qa: bool
    ) -> list[ProvenanceLink]:
        out = [self._image_qa(row, file_qa)]
        if ms_path:
            out.append(self._ms_qa(ms_path, file_qa))
        if tables:
            out.append(self._cal_qa(tables, file_qa))
        return out

    def _grade(self, fn: Any, *args: Any) -> tuple[str, str]:
        """(grade, words) of a QA call; ``unknown`` with the reason when it cannot run."""
        try:
            r = fn(*args)
        except WorkspaceError as exc:
            return "unknown", f"not graded ({one_line(exc)})"
        reasons = "; ".join(r.reasons[:2])
        return r.grade, r.grade + (f" ({reasons})" if reasons else "")

    def _image_qa(self, row: dict, file_qa: bool) -> ProvenanceLink:
        stored = (
            self._one(self._r.image_qa, image_path=row["path"])
            if self._r.image_qa.available
            else None
        )
        grades, parts = [], []
        if stored is not None:
            grades.append(stored.get("overall_quality"))
            parts.append(
                f"pipeline: {_stored_grade(stored)} (image_qa, {when(stored.get('timestamp'))})"
            )
        if file_qa:
            g, words = self._grade(self._qa.image, row["path"])
            grades.append(g)
            parts.append(f"from the pixels: {words}")
        status = max((str(severity_of(g)) for g in grades), key=rank, default="unknown")
        kw = {"view": "image", "key": row["path"], "cli": f"dsa110-ws qa image {row['path']}"}
        if stored is None:
            return gap(
                "qa",
                "image QA",
                "image_qa",
                "image_qa has no row for this image; " + "; ".join(parts),
                **kw,
            )
        return link("qa", "image QA", status, "; ".join(parts), **kw)

    def _ms_qa(self, ms_path: str, file_qa: bool) -> ProvenanceLink:
        stored = (
            self._one(self._r.calibration_qa, ms_path=ms_path)
            if self._r.calibration_qa.available
            else None
        )
        parts, grades = [], []
        if stored is not None:
            grades.append(stored.get("overall_quality"))
            parts.append(f"pipeline: {_stored_grade(stored)} (calibration_qa)")
        if file_qa:
            g, words = self._grade(self._qa.ms, ms_path)
            grades.append(g)
            parts.append(f"from the flags: {words}")
        status = max((str(severity_of(g)) for g in grades), key=rank, default="unknown")
        kw = {"view": "ms", "key": ms_path, "cli": f"dsa110-ws ms summary {ms_path}"}
        return link("qa", "MS QA", status, "; ".join(parts) or "not graded (file QA off)", **kw)

    def _cal_qa(self, tables: list[dict], file_qa: bool) -> ProvenanceLink:
        parts, grades = [], []
        sources = {t["registry"].get("source_ms_path") for t in tables if t["registry"]} - {None}
        for src in sorted(sources):
            stored = (
                self._one(self._r.calibration_qa, ms_path=src)
                if self._r.calibration_qa.available
                else None
            )
            if stored is not None:
                grades.append(stored.get("overall_quality"))
                parts.append(
                    f"pipeline: {_stored_grade(stored)} (calibration_qa of {Path(src).name})"
                )
        if file_qa:
            for t in tables:
                reg = t["registry"] or {}
                g, _ = (
                    self._grade(self._qa.cal, t["path"])
                    if self._exists(t["path"])
                    else ("unknown", "")
                )
                grades.append(g)
                parts.append(f"{reg.get('table_type') or Path(t['path']).name}: {g}")
        status = max((str(severity_of(g)) for g in grades), key=rank, default="unknown")
        first = tables[0]["path"]
        kw = {"view": "cal", "key": first, "cli": f"dsa110-ws qa cal {first}"}
        return link("qa", "caltable QA", status, "; ".join(parts) or "not graded", **kw)

    # -- log ------------------------------------------------------------------------------
    def _log_link(self, job: dict | None) -> ProvenanceLink:
        if job is None:
            return gap("log", "run log", "jobs", "No job made this image, so no run log.")
        run_id = f"{job.get('type')}-{int(job['id']):06d}"
        try:
            lines = self._logs.tail(run_id, LOG_EXCERPT_LINES)["raw"].tolist()
            where = f"log file {run_id}.log"
            kw = {"view": "log", "key": run_id, "cli": f"dsa110-ws logs {run_id}"}
        except DataUnavailableError:
            stored = str(job.get("logs") or "").strip().splitlines()
            if not stored:
                return gap(
                    "log",
                    "run log",
                    "jobs",
                    f"No log file {run_id}.log under the log roots and job {job['id']}'s logs are empty.",
                )
            lines, where = (
                stored[-LOG_EXCERPT_LINES:],
                f"jobs.logs of job {job['id']} (no log file {run_id}.log)",
            )
            kw = {"view": "job", "key": str(job["id"]), "cli": f"dsa110-ws jobs show {job['id']}"}
        errors = sum(" ERROR " in f" {x} " for x in lines)
        return link(
            "log", "run log", "warning" if errors else "ok", where, data={"lines": lines}, **kw
        )


def _stored_grade(stored: dict[str, Any]) -> str:
    """The grade a stored QA row gives, in words: a row whose ``overall_quality`` is NULL
    (or blank) says "not graded", never "None"."""
    grade = stored.get("overall_quality")
    return str(grade) if isinstance(grade, str) and grade.strip() else "not graded"
