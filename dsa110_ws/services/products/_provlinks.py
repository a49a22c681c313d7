"""Links of an image's provenance that are built from table rows alone (no service)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from dsa110_ws.core.severity import Severity
from dsa110_ws.core.time import iso_utc, mjd_to_iso
from dsa110_ws.services.products._provrecords import ProvenanceLink, gap, link

__all__ = [
    "making_job",
    "image_link",
    "job_link",
    "ms_links",
    "caltable_link",
    "pointing_link",
    "when",
    "severity_of",
    "rank",
]

_JOB_STATUS = {"done": "ok", "completed": "ok", "failed": "critical"}


def when(unix: Any) -> str | None:
    """Unix seconds as ISO UTC to the second (``None`` when missing)."""
    return None if unix is None or pd.isna(unix) else iso_utc(float(unix), timespec="seconds")


def severity_of(grade: Any) -> str:
    return str(Severity.parse(None if grade is None else str(grade)))


def rank(s: str) -> int:
    return Severity.parse(s).rank


def making_job(jobs: pd.DataFrame | None, image_path: str) -> dict | None:
    """The image job of the MS listing ``image_path`` in its artifacts (else its latest image
    job)."""
    if jobs is None or jobs.empty:
        return None
    im = jobs[jobs["type"] == "image"]
    for _, j in im.iterrows():
        try:
            arts = json.loads(j.get("artifacts") or "[]")
        except (TypeError, ValueError):
            arts = []
        if image_path in arts:
            return dict(j)
    return dict(im.sort_values("created_at").iloc[-1]) if len(im) else None


def image_link(row: dict, exists: bool) -> ProvenanceLink:
    kw = {"view": "image", "key": row["path"], "cli": f"dsa110-ws qa image {row['path']}"}
    if row.get("_unregistered"):
        return gap("image", "image", "images", f"images has no row for {row['path']}.", **kw)
    kind = row.get("type")
    kind = kind if isinstance(kind, str) and kind.strip() else None  # NULL: NaN in a frame
    detail = (
        f"image {row.get('id')} ({kind or 'no type recorded'}), "
        f"written {when(row.get('created_at'))}"
    )
    if not exists:
        return link("image", "image", "critical", detail + "; the file is missing", **kw)
    return link("image", "image", "ok", detail, data={"id": row.get("id"), "type": kind}, **kw)


def job_link(job: dict | None, ms_path: str | None) -> ProvenanceLink:
    if job is None:
        what = f"has no image job for {ms_path}" if ms_path else "cannot be searched (no ms_path)"
        return gap("job", "job", "jobs", f"jobs {what}.")
    status = _JOB_STATUS.get(str(job.get("status")), "unknown")
    detail = f"job {int(job['id'])} ({job.get('type')}) {job.get('status')}, {when(job.get('started_at'))} to {when(job.get('finished_at'))}"
    return link(
        "job",
        "job",
        status,
        detail,
        view="job",
        key=str(int(job["id"])),
        cli=f"dsa110-ws jobs show {int(job['id'])}",
    )


def ms_links(
    ms: dict | None, ms_path: str | None, state: dict | None, jobs: Any
) -> list[ProvenanceLink]:
    if ms_path is None:
        return [gap("ms", "MS", "images", "The image row has no ms_path.")]
    kw = {"view": "ms", "key": ms_path, "cli": f"dsa110-ws ms summary {ms_path}"}
    out = []
    if ms is None:
        out.append(gap("ms", "MS", "ms_index", f"ms_index has no row for {ms_path}.", **kw))
    else:
        detail = f"{Path(ms_path).name}: stage {ms.get('stage')}, status {ms.get('status')}, observed {mjd_to_iso(ms.get('mid_mjd'))}"
        out.append(
            link(
                "ms",
                "MS",
                "ok",
                detail,
                data={"stage": ms.get("stage"), "mid_mjd": ms.get("mid_mjd")},
                **kw,
            )
        )
    history = [
        f"{j['type']} {j['status']} {when(j.get('finished_at') or j.get('created_at'))}"
        for _, j in (
            jobs.sort_values("created_at").iterrows() if jobs is not None and len(jobs) else []
        )
    ]
    if state is None:
        out.append(
            gap(
                "stages",
                "stage history",
                "ms_state",
                "ms_state has no row for this MS; jobs: " + ("; ".join(history) or "none"),
                **kw,
            )
        )
        return out
    now = f"state {state.get('current_state')} (from {state.get('previous_state')}) at {when(state.get('transition_time'))}"
    if state.get("retry_count"):
        now += f", {state.get('retry_count')} retries"
    err = state.get("error_message")
    status = "critical" if state.get("current_state") in ("failed", "error") else "ok"
    detail = "; ".join([*history, now] + ([f"error: {err}"] if isinstance(err, str) else []))
    out.append(link("stages", "stage history", status, detail, data={"jobs": history}, **kw))
    return out


def caltable_link(applied: Any, reg: dict | None, mid_mjd: Any, exists: bool) -> ProvenanceLink:
    path = str(applied["caltable_path"])
    kw = {"view": "cal", "key": path, "cli": f"dsa110-ws qa cal {path}"}
    if reg is None:
        on_disk = "" if exists else "; the file is not on disk either"
        return gap(
            "calibration",
            Path(path).name,
            "caltables",
            f"caltables has no row for {path} (applied {when(applied.get('applied_at'))}; set, "
            f"type, solve time and validity unknown){on_disk}.",
            **(kw if exists else {}),
        )
    valid = (
        reg.get("status") == "active"
        and mid_mjd is not None
        and not (isinstance(mid_mjd, float) and math.isnan(mid_mjd))
        and reg["valid_start_mjd"] <= mid_mjd <= reg["valid_end_mjd"]
    )
    detail = (
        f"{reg.get('table_type')} of set {reg.get('set_name')}, solved {when(reg.get('created_at'))}, "
        f"valid {mjd_to_iso(reg.get('valid_start_mjd'))} to {mjd_to_iso(reg.get('valid_end_mjd'))} "
        f"({reg.get('status')}; {'valid' if valid else 'NOT valid'} at the observation)"
    )
    status = "ok" if valid else "warning"
    if applied.get("success") in (0, False):
        status, detail = "critical", detail + f"; applycal failed: {applied.get('error_message')}"
    if not exists:
        status, detail = "critical", detail + "; the table is missing on disk"
    label = f"{reg.get('table_type')} {reg.get('set_name')}"
    return link(
        "calibration",
        label,
        status,
        detail,
        data={"set_name": reg.get("set_name"), "table_type": reg.get("table_type"), "valid": valid},
        **kw,
    )


def pointing_link(row: dict, ms: dict | None) -> ProvenanceLink:
    from dsa110_ws.core.skymath import angular_sep_deg

    ra, dec = (
        (None, None) if ms is None else (ms.get("pointing_ra_deg"), ms.get("pointing_dec_deg"))
    )
    cra, cdec = row.get("center_ra_deg"), row.get("center_dec_deg")
    if ra is None or dec is None or pd.isna(ra) or pd.isna(dec):
        table = "ms_index" if ms is not None or row.get("ms_path") else "images"
        return gap(
            "pointing",
            "pointing",
            table,
            "ms_index has no pointing_ra_deg/pointing_dec_deg for this MS.",
        )
    detail = f"pointing RA {ra:.4f} Dec {dec:+.4f} deg (ms_index)"
    status, data = "ok", {"pointing_ra_deg": ra, "pointing_dec_deg": dec}
    if cra is not None and cdec is not None and not (pd.isna(cra) or pd.isna(cdec)):
        sep = float(angular_sep_deg(ra, dec, cra, cdec)) * 60.0
        detail += f"; image centre {cra:.4f} {cdec:+.4f}, {sep:.2f} arcmin apart"
        status = "ok" if sep < 1.0 else "warning"
        data["separation_arcmin"] = sep
    return link("pointing", "pointing", status, detail, data=data)
