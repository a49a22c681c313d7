"""Demo operations rows: ms_index/ms_state, images, jobs and batches, ingestion, logs."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np

from dsa110_ws.demo.products import BANDWIDTH_HZ, CELL_ARCSEC, FREQ_HZ, NPIX, ImagePlan

__all__ = [
    "ms_and_image_rows",
    "extra_ms_rows",
    "job_rows",
    "batch_rows",
    "ingestion_rows",
    "write_log",
]

STAGES = [
    "pending",
    "converting",
    "converted",
    "flagging_rfi",
    "solving_cal",
    "applying_cal",
    "imaging",
    "done",
]


def iso(unix: float) -> str:
    return dt.datetime.fromtimestamp(unix, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]


def ms_and_image_rows(plans: list[ImagePlan], image_truth: list[dict]) -> tuple[list, list, list]:
    """ms_index, images and ms_state rows for every imaged snapshot (all stage 'done')."""
    ms_rows, img_rows, state_rows = [], [], []
    for i, (p, t) in enumerate(zip(plans, image_truth, strict=True)):
        s = p.snap
        done = s.mid_unix + 1800.0
        ms_rows.append(
            {
                "path": str(p.ms_path),
                "start_mjd": s.start_unix / 86400 + 40587.0,
                "end_mjd": (s.start_unix + 300) / 86400 + 40587.0,
                "mid_mjd": s.mid_mjd,
                "processed_at": done,
                "status": "done" if i % 3 else "completed",
                "stage": "done",
                "stage_updated_at": done,
                "cal_applied": 1,
                "imagename": str(p.image_path),
                "field_name": f"drift_{s.night}_{s.index:02d}",
                "pointing_ra_deg": s.ra_deg,
                "pointing_dec_deg": s.dec_deg,
                "ra_deg": s.ra_deg,
                "dec_deg": s.dec_deg,
                "group_id": s.stamp,
                "created_at": s.start_unix + 420.0,
            }
        )
        beam = p.beam or (None, None, None)
        noise = p.noise_jy * 1.02
        img_rows.append(
            {
                "id": i + 1,
                "path": str(p.image_path),
                "ms_path": str(p.ms_path),
                "created_at": done - 300.0,
                "type": p.type,
                "format": "fits",
                "beam_major_arcsec": beam[0],
                "beam_minor_arcsec": beam[1],
                "beam_pa_deg": beam[2],
                "noise_jy": noise,
                "dynamic_range": t["brightest_peak_jy"] / noise,
                "pbcor": 0,
                "field_name": f"drift_{s.night}_{s.index:02d}",
                "center_ra_deg": s.ra_deg,
                "center_dec_deg": s.dec_deg,
                "imsize_x": NPIX,
                "imsize_y": NPIX,
                "cellsize_arcsec": CELL_ARCSEC,
                "freq_ghz": FREQ_HZ / 1e9,
                "bandwidth_mhz": BANDWIDTH_HZ / 1e6,
                "integration_sec": 300.0,
            }
        )
        state_rows.append(
            {
                "ms_path": str(p.ms_path),
                "current_state": "done",
                "previous_state": "imaging",
                "transition_time": done,
                "retry_count": 0,
                "error_message": None,
                "checkpoint_data": None,
                "created_at": s.start_unix + 420.0,
            }
        )
    return ms_rows, img_rows, state_rows


def extra_ms_rows(root: Path, now_unix: float, dec_deg: float) -> tuple[list, list, dict]:
    """MS that are not done: in progress, one stuck, failed, errored (rows only)."""
    specs = [  # (minutes before now, stage, status, current_state, error)
        (35, "converting", "running", "converting", None),
        (50, "imaging", "running", "imaging", None),
        (400, "imaging", "running", "imaging", None),  # stuck: no change for hours
        (140, "applying_cal", "failed", "failed", "applycal: no valid calibration set for MJD"),
        (300, "flagging_rfi", "failed", "error", "AOFlagger exited with status 139 (segfault)"),
        (20, "pending", "pending", "pending", None),
    ]
    ms_rows, state_rows = [], []
    truth: dict[str, Any] = {"stuck": [], "failed": [], "in_progress": []}
    for minutes, stage, status, state, err in specs:
        t = now_unix - minutes * 60.0
        stamp = dt.datetime.fromtimestamp(t - 600, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
        path = str(root / "ms" / stamp[:10] / f"{stamp}.ms")
        mid = (t - 450) / 86400 + 40587.0
        ms_rows.append(
            {
                "path": path,
                "start_mjd": mid - 150 / 86400,
                "end_mjd": mid + 150 / 86400,
                "mid_mjd": mid,
                "processed_at": None,
                "status": status,
                "stage": stage,
                "stage_updated_at": t,
                "cal_applied": 0,
                "imagename": None,
                "field_name": f"drift_{stamp}",
                "pointing_ra_deg": None,
                "pointing_dec_deg": dec_deg,
                "ra_deg": None,
                "dec_deg": dec_deg,
                "group_id": stamp,
                "created_at": t - 300,
            }
        )
        state_rows.append(
            {
                "ms_path": path,
                "current_state": state,
                "previous_state": "converted",
                "transition_time": t,
                "retry_count": 2 if state in {"failed", "error"} else 0,
                "error_message": err,
                "checkpoint_data": None,
                "created_at": t - 300,
            }
        )
        key = "stuck" if minutes == 400 else "failed" if err else "in_progress"
        truth[key].append(
            {"path": path, "state": state, "minutes_since_change": minutes, "error": err}
        )
    return ms_rows, state_rows, truth


#: Failed jobs: type, the reason their log ends with, and how long they ran (s).
_FAILURES = [
    ("image", "tclean failed: Measurement Set has no unflagged data in spw 1", 312.0),
    ("calibrate", "bandpass: insufficient unflagged solutions for antenna 8 (SNR < 3)", 42.0),
    ("photometry", "forced photometry: image has no beam keywords (BMAJ missing)", 7.5),
    ("convert", "uvh5 to ms: subband 7 missing from group", 96.0),
]


def job_rows(
    plans: list[ImagePlan], now_unix: float, rng: np.random.Generator
) -> tuple[list, dict]:
    """Jobs in every state: convert/calibrate/image per MS, a few failed with log reasons."""
    rows: list[dict] = []
    for p in plans:
        t0 = p.snap.mid_unix + 300
        for k, jtype in enumerate(("convert", "calibrate", "image")):
            start = t0 + k * 400.0
            rows.append(
                {
                    "type": jtype,
                    "status": "done" if len(rows) % 4 else "completed",
                    "ms_path": str(p.ms_path),
                    "params": json.dumps({"stage": jtype}),
                    "logs": f"{iso(start)} INFO {jtype} finished OK\n",
                    "artifacts": json.dumps([str(p.image_path)] if jtype == "image" else []),
                    "created_at": start - 30,
                    "started_at": start,
                    "finished_at": start + float(rng.uniform(60, 380)),
                }
            )
    failed = []
    for j, (jtype, reason, ran_s) in enumerate(_FAILURES):
        start = now_unix - (j + 2) * 3600.0
        rows.append(
            {
                "type": jtype,
                "status": "failed",
                "ms_path": str(plans[-1 - j].ms_path),
                "params": json.dumps({"stage": jtype, "retry": j}),
                "logs": f"{iso(start)} INFO starting {jtype}\n{iso(start + ran_s)} ERROR {reason}\n",
                "artifacts": "[]",
                "created_at": start - 10,
                "started_at": start,
                "finished_at": start + ran_s,
            }
        )
        failed.append({"type": jtype, "reason": reason, "duration_s": ran_s})
    for status, ago in (("running", 600.0), ("running", 1500.0), ("pending", 120.0)):
        rows.append(
            {
                "type": "image",
                "status": status,
                "ms_path": None,
                "params": json.dumps({}),
                "logs": "",
                "artifacts": "[]",
                "created_at": now_unix - ago,
                "started_at": None if status == "pending" else now_unix - ago + 5,
                "finished_at": None,
            }
        )
    order = rng.permutation(len(rows))  # ids not in time order, like a real queue
    rows = [rows[i] for i in order]
    for i, r in enumerate(rows):
        r["id"] = i + 1
    for f in failed:
        f["id"] = next(
            r["id"]
            for r in rows
            if r["status"] == "failed" and r["logs"].endswith(f"ERROR {f['reason']}\n")
        )
    return rows, {"failed_jobs": failed}


def batch_rows(plans: list[ImagePlan], now_unix: float) -> tuple[list, list, dict]:
    """Batch jobs in every state with consistent item counts."""
    specs = [
        ("batch_qa", "done", ["done"] * 6),
        ("batch_thumbnails", "partial", ["done"] * 4 + ["failed"] * 2),
        ("batch_photometry", "running", ["done"] * 2 + ["running"] + ["pending"] * 3),
        ("batch_image", "failed", ["failed"] * 3),
        ("batch_qa", "cancelled", ["done"] * 2 + ["cancelled"] * 3),
        ("batch_qa", "pending", ["pending"] * 4),
    ]
    batches, items = [], []
    for b, (btype, status, states) in enumerate(specs, start=1):
        created = now_unix - (len(specs) - b + 1) * 5400.0
        batches.append(
            {
                "id": b,
                "type": btype,
                "created_at": created,
                "status": status,
                "total_items": len(states),
                "completed_items": states.count("done"),
                "failed_items": states.count("failed"),
                "params": json.dumps({"selection": "demo"}),
            }
        )
        for k, st in enumerate(states):
            p = plans[(b * 7 + k) % len(plans)]
            items.append(
                {
                    "batch_id": b,
                    "ms_path": str(p.ms_path),
                    "job_id": None,
                    "status": st,
                    "error": "QA failed: image all NaN" if st == "failed" else None,
                    "started_at": None if st == "pending" else created + 60 * k,
                    "completed_at": created + 60 * k + 30 if st in {"done", "failed"} else None,
                    "data_id": str(p.image_path),
                }
            )
    for i, it in enumerate(items):
        it["id"] = i + 1
    counts: dict[str, int] = {}
    for bt in batches:
        status = str(bt["status"])
        counts[status] = counts.get(status, 0) + 1
    return batches, items, {"batch_status_counts": counts}


def ingestion_rows(
    plans: list[ImagePlan], extra_ms: list[dict], root: Path, now_unix: float
) -> tuple[list, list, list, dict]:
    """hdf5_files, ingestion_groups and ingestion_subbands; two incomplete groups, one failed."""
    groups, subbands, files = [], [], []

    def add_group(
        group_id: str,
        t: float,
        dec: float,
        ra: float | None,
        have: list[int],
        state: str,
        ms_path: str | None,
        err: str | None = None,
    ) -> None:
        groups.append(
            {
                "group_id": group_id,
                "state": state,
                "subband_count": len(have),
                "expected_subbands": 16,
                "dec_deg": dec,
                "ra_deg": ra,
                "created_at": t,
                "updated_at": t + 20 * len(have),
                "completed_at": t + 400 if state == "completed" else None,
                "ms_path": ms_path,
                "error_message": err,
            }
        )
        for sb in have:
            fpath = str(root / "incoming" / group_id[:10] / f"{group_id}_sb{sb:02d}.hdf5")
            subbands.append(
                {
                    "group_id": group_id,
                    "subband_idx": sb,
                    "file_path": fpath,
                    "recorded_at": t + 5 * sb,
                }
            )
            files.append(
                {
                    "path": fpath,
                    "filename": Path(fpath).name,
                    "group_id": group_id,
                    "subband_code": f"sb{sb:02d}",
                    "subband_num": sb,
                    "timestamp_iso": iso(t),
                    "timestamp_mjd": t / 86400 + 40587.0,
                    "file_size_bytes": 181_000_000 + 1000 * sb,
                    "modified_time": t + 5 * sb,
                    "indexed_at": t + 5 * sb + 2,
                    "stored": 1,
                    "ra_deg": ra,
                    "dec_deg": dec,
                    "obs_date": group_id[:10],
                    "obs_time": group_id[11:19],
                }
            )

    for p in plans:
        add_group(
            p.snap.stamp,
            p.snap.start_unix,
            p.snap.dec_deg,
            p.snap.ra_deg,
            list(range(16)),
            "completed",
            str(p.ms_path),
        )
    for m in extra_ms:
        state = {"pending": "pending", "converting": "converting"}.get(m["stage"], "completed")
        add_group(
            m["group_id"], m["created_at"], m["dec_deg"], None, list(range(16)), state, m["path"]
        )
    incomplete = []
    for minutes, missing in ((15, [3, 7, 12]), (95, [15])):
        t = now_unix - minutes * 60
        gid = dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
        add_group(
            gid,
            t,
            plans[0].snap.dec_deg,
            None,
            [i for i in range(16) if i not in missing],
            "collecting",
            None,
        )
        incomplete.append({"group_id": gid, "missing_subbands": missing, "age_minutes": minutes})
    t = now_unix - 7200
    gid = dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    add_group(
        gid,
        t,
        plans[0].snap.dec_deg,
        None,
        list(range(16)),
        "failed",
        None,
        "normalize: subband files disagree on integration time",
    )
    return groups, subbands, files, {"incomplete_groups": incomplete, "failed_groups": [gid]}


def write_log(path: Path, run_id: str, start: float, lines: list[tuple[str, str]]) -> None:
    """A per-run log file in the pipeline's format: ``ISO LEVEL logger: message``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        for k, (level, msg) in enumerate(lines):
            fh.write(f"{iso(start + 7 * k)} {level:<7} dsa110.pipeline[{run_id}]: {msg}\n")
