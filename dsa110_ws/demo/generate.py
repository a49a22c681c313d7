"""Orchestration of the demo state: one call writes a complete, self-consistent pipeline
state (real SQLite, FITS, Measurement Sets, caltables, logs) and a truth file."""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

import numpy as np

from dsa110_ws.demo import calibration, ops, products
from dsa110_ws.demo.schema import create_schema
from dsa110_ws.demo.sky import (
    DEC0_DEG,
    RA0_DEG,
    SIDEREAL_DEG_PER_S,
    SNAPSHOT_S,
    make_sky,
    plan_snapshots,
)

__all__ = ["make_demo_state", "DEMO_VERSION", "DEFAULT_END_NIGHT"]

#: Bumped whenever the generator's output changes, so cached demo states are rebuilt.
#: 2: injected RFI in every MS, a self-cal table with a noisy antenna, a peer-outlier image,
#: an applied caltable missing from the registry (issue 17).
#: 3: the task queue's PostgreSQL (queue-pg/) is part of the state (issue 12).
DEMO_VERSION = 3
DEFAULT_END_NIGHT = "2026-11-14"


def insert_rows(con: sqlite3.Connection, table: str, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    cols = [c for c in rows[0] if not c.startswith("_")]
    sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
    con.executemany(sql, [tuple(r.get(c) for c in cols) for r in rows])


def variability_rows(phot: list[dict], now_unix: float) -> tuple[list, list]:
    """What the pipeline would have stored: stats per source in mJy and its ESE flags."""
    by: dict[str, list[dict]] = {}
    for r in phot:
        if r["normalized_flux_jy"] is not None:
            by.setdefault(r["source_id"], []).append(r)
    stats, cands = [], []
    for sid, rs in sorted(by.items()):
        f = np.array([r["normalized_flux_jy"] for r in rs]) * 1000.0
        e = np.array([r["normalized_flux_err_jy"] for r in rs]) * 1000.0
        n = len(f)
        mean, std = f.mean(), f.std(ddof=1) if n > 1 else 0.0
        chi2 = float(np.sum(((f - mean) / e) ** 2) / (n - 1)) if n > 1 else None
        w = 1 / e**2
        eta = (
            float(n / (n - 1) * (np.mean(w * f**2) - np.mean(w * f) ** 2 / np.mean(w)))
            if n > 1
            else None
        )
        sdev = float(max(f.max() - mean, mean - f.min()) / std) if std > 0 else None
        stats.append(
            {
                "source_id": sid,
                "ra_deg": rs[0]["ra_deg"],
                "dec_deg": rs[0]["dec_deg"],
                "nvss_flux_mjy": rs[0]["nvss_flux_mjy"],
                "n_obs": n,
                "mean_flux_mjy": mean,
                "std_flux_mjy": std,
                "min_flux_mjy": f.min(),
                "max_flux_mjy": f.max(),
                "chi2_nu": chi2,
                "sigma_deviation": sdev,
                "last_measured_at": max(r["measured_at"] for r in rs),
                "last_mjd": max(r["mjd"] for r in rs),
                "updated_at": now_unix - 3600,
                "eta_metric": eta,
            }
        )
        if chi2 is not None and chi2 > 50 and sdev is not None and sdev > 2.5:
            cands.append(
                {
                    "source_id": sid,
                    "flagged_at": now_unix - 3000,
                    "flagged_by": "pipeline",
                    "significance": sdev,
                    "flag_type": "sigma_deviation",
                    "notes": None,
                    "status": "active",
                    "investigated_at": None,
                    "dismissed_at": None,
                }
            )
    return stats, cands


def _check_end_night(end_night: str) -> None:
    import datetime as dt

    from dsa110_ws.errors import InvalidQueryError

    try:
        dt.date.fromisoformat(str(end_night))
    except ValueError:
        raise InvalidQueryError(
            f"end_night={end_night!r} is not a calendar date YYYY-MM-DD; "
            f"pass e.g. --end-night {DEFAULT_END_NIGHT}."
        ) from None


def make_demo_state(
    out_dir: str | Path,
    *,
    seed: int = 42,
    nights: int = 10,
    end_night: str = DEFAULT_END_NIGHT,
    per_night: int = 8,
    n_sources: int = 300,
    overwrite: bool = False,
    queue: bool = True,
) -> dict[str, Any]:
    """Write a complete demo pipeline state into ``out_dir``; returns the truth dict.

    Deterministic for ``(seed, nights, end_night, per_night, n_sources)``.  Layout:
    ``pipeline.sqlite3``, ``settings.toml``, ``truth.json``, ``data/`` (ms, images,
    caltables), ``logs/`` (per-run log files) and, with ``queue`` (default), ``queue-pg/``:
    the task queue's PostgreSQL cluster, filled with the same day (truth under ``"queue"``;
    its server is stopped again, and started by whoever reads the state).
    """
    if nights < 4:
        from dsa110_ws.errors import InvalidQueryError

        raise InvalidQueryError(f"The demo needs at least 4 nights (got {nights}).")
    _check_end_night(end_night)  # before anything on disk is touched
    out = Path(out_dir).expanduser().resolve()
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(
                f"{out} is not empty; pass overwrite=True (--overwrite) to replace it."
            )
        if not _is_demo_state(out):  # never delete a directory the demo did not make
            raise FileExistsError(
                f"{out} is not empty and is not a demo state (no demo truth.json): refusing "
                "to delete it; choose an empty or new directory."
            )
        from dsa110_ws.demo.queue.cluster import stop_server
        from dsa110_ws.demo.queue.day import QUEUE_DIRNAME

        stop_server(out / QUEUE_DIRNAME)  # never delete a running server's directory
        shutil.rmtree(out)
    t_begin = time.perf_counter()
    root, logs = out / "data", out / "logs"
    rng = np.random.default_rng(seed)
    snaps = plan_snapshots(end_night, nights, per_night)
    now_unix = snaps[-1].mid_unix + 3 * 3600.0  # the state is frozen 3 h after the last snapshot
    ra_end = RA0_DEG + (per_night - 1) * SNAPSHOT_S * SIDEREAL_DEG_PER_S
    sky = make_sky(
        rng,
        n_sources=n_sources,
        nights=nights,
        ra_span=(RA0_DEG - 0.5, ra_end + 0.5),
        dec_half_width=0.85,
    )
    plans = products.plan_images(snaps, root, rng)
    img_truth, phot = products.write_images_and_photometry(plans, sky, rng)
    from dsa110_ws.demo.ms_writer import dsa110_layout

    layout = dsa110_layout(10, seed=seed)
    ms_truth = products.write_measurement_sets(plans, layout, rng)
    night_names = sorted({s.night for s in snaps})
    transits = [min(s.mid_mjd for s in snaps if s.night == n) for n in night_names]
    first_ms = [str(next(p.ms_path for p in plans if p.snap.night == n)) for n in night_names]
    cal_reg, cal_qa, cal_truth = calibration.write_cal_sets(
        root, transits, night_names, first_ms, layout, rng
    )
    mon_rows, alerts, mon_truth = calibration.monitoring_rows(transits, rng)
    ms_rows, img_rows, state_rows = ops.ms_and_image_rows(plans, img_truth)
    x_ms, x_state, x_truth = ops.extra_ms_rows(root, now_unix, DEC0_DEG)
    jobs, job_truth = ops.job_rows(plans, now_unix, rng)
    batches, items, batch_truth = ops.batch_rows(plans, now_unix)
    groups, subbands, files, ingest_truth = ops.ingestion_rows(plans, x_ms, root, now_unix)
    applied = _applied_rows(plans, cal_reg, x_truth)
    prov_truth = _provenance_gap(plans, applied, root)
    selfcal_truth = _selfcal(plans, root, layout, seed)
    var_rows, ese_rows = variability_rows(phot, now_unix)
    qa_rows = _image_qa_rows(plans, img_rows, img_truth)
    phot = [phot[i] for i in rng.permutation(len(phot))]  # insertion order != observation order
    log_truth = _write_logs(logs, jobs)

    out.mkdir(parents=True, exist_ok=True)
    db_path = out / "pipeline.sqlite3"
    con = sqlite3.connect(db_path)
    try:
        con.execute("PRAGMA journal_mode = WAL")
        create_schema(con)
        with con:
            for table, rows in [
                ("ms_index", ms_rows + x_ms),
                ("images", img_rows),
                ("photometry", phot),
                ("caltables", cal_reg),
                ("calibration_applied", applied),
                ("jobs", jobs),
                ("batch_jobs", batches),
                ("batch_job_items", items),
                ("image_qa", qa_rows),
                ("calibration_qa", cal_qa),
                ("variability_stats", var_rows),
                ("ese_candidates", ese_rows),
                ("calibration_monitoring", mon_rows),
                ("flux_monitoring_alerts", alerts),
                ("image_ratings", _ratings(img_rows, now_unix)),
                ("hdf5_files", files),
                ("ms_state", state_rows + x_state),
                ("ingestion_groups", groups),
                ("ingestion_subbands", subbands),
            ]:
                insert_rows(con, table, rows)
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.execute("PRAGMA journal_mode = DELETE")
    finally:
        con.close()

    now_iso = ops.iso(now_unix)
    truth = {
        "demo_version": DEMO_VERSION,
        "seed": seed,
        "nights": night_names,
        "now": now_iso,
        "now_unix": now_unix,
        "images": img_truth,
        "measurement_sets": ms_truth,
        "sources": {
            "n_sources": n_sources,
            "n_photometry_rows": len(phot),
            "variables": [
                {
                    "source_id": str(sky.source_id[i]),
                    "kind": str(sky.kind[i]),
                    "flux_jy": float(sky.flux_jy[i]),
                    "night_factor": sky.night_factor[i].tolist(),
                }
                for i in np.flatnonzero(sky.kind != "constant")
            ],
            "ese": [
                {"source_id": sid, "dip_nights": [night_names[a], night_names[b]]}
                for sid, (a, b) in sky.ese_windows.items()
            ],
            "n_constant": int(np.sum(sky.kind == "constant")),
        },
        "calibration": {**cal_truth, **mon_truth},
        "ms_states": x_truth,
        "provenance": prov_truth,
        "selfcal": selfcal_truth,
        "peer_outliers": [t["path"] for t in img_truth if t.get("peer_outlier")],
        **job_truth,
        **batch_truth,
        **ingest_truth,
        "logs": log_truth,
        "counts": {
            "ms_index": len(ms_rows) + len(x_ms),
            "images": len(img_rows),
            "jobs_by_status": _count(jobs, "status"),
            "ms_by_stage": _count(ms_rows + x_ms, "stage"),
            "ingestion_by_state": _count(groups, "state"),
        },
        "generation_seconds": round(time.perf_counter() - t_begin, 2),
    }
    (out / "truth.json").write_text(json.dumps(truth, indent=1, default=str))
    if queue:
        from dsa110_ws.demo.queue.day import make_queue_state

        q = make_queue_state(out, seed=seed)
        truth["queue"] = {k: v for k, v in q.items() if k not in ("url", "data_dir")}
        truth["generation_seconds"] = round(time.perf_counter() - t_begin, 2)
        (out / "truth.json").write_text(json.dumps(truth, indent=1, default=str))
    (out / "settings.toml").write_text(
        "# Settings for this generated demo state (paths relative to this file).\n"
        'pipeline_db = "pipeline.sqlite3"\ndata_roots = ["data"]\nlog_roots = ["logs"]\n'
        f'now = "{now_iso}"\n'
    )
    return truth


def _is_demo_state(path: Path) -> bool:
    """Whether ``path`` holds a demo state (its truth file names a generator version)."""
    try:
        return "demo_version" in json.loads((path / "truth.json").read_text())
    except (OSError, ValueError, TypeError):
        return False


def _count(rows: list[dict], key: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in rows:
        out[str(r[key])] = out.get(str(r[key]), 0) + 1
    return out


def _applied_rows(plans, registry, x_truth) -> list[dict]:
    rows = []
    for p in plans:
        for r in registry:
            if (
                r["status"] == "active"
                and r["valid_start_mjd"] <= p.snap.mid_mjd <= r["valid_end_mjd"]
            ):
                rows.append(
                    {
                        "ms_path": str(p.ms_path),
                        "caltable_path": r["path"],
                        "applied_at": p.snap.mid_unix + 900,
                        "quality": 1.0,
                        "success": 1,
                        "error_message": None,
                    }
                )
    for f in x_truth["failed"]:
        if f["error"] and "calibration" in f["error"]:
            rows.append(
                {
                    "ms_path": f["path"],
                    "caltable_path": None,
                    "applied_at": None,
                    "quality": None,
                    "success": 0,
                    "error_message": f["error"],
                }
            )
    return rows


def _provenance_gap(plans, applied: list[dict], root: Path) -> dict:
    """One image of the second-to-last night whose MS had a caltable applied that the registry
    never recorded (and that is not on disk): its provenance has a gap.  Another image of the
    same night has a complete chain."""
    nights = sorted({p.snap.night for p in plans})
    night = nights[-2 if len(nights) > 1 else -1]
    same = [p for p in plans if p.snap.night == night]
    if len(same) < 2:
        return {}
    gap, complete = same[min(6, len(same) - 1)], same[0]
    missing = root / "caltables" / night / f"{night}_3C286_rerun_gpcal"
    applied.append(
        {
            "ms_path": str(gap.ms_path),
            "caltable_path": str(missing),
            "applied_at": gap.snap.mid_unix + 960,
            "quality": 1.0,
            "success": 1,
            "error_message": None,
        }
    )
    return {
        "complete_image": str(complete.image_path),
        "gap_image": str(gap.image_path),
        "missing_caltable": str(missing),
        "missing_from": "caltables",
    }


def _selfcal(plans, root: Path, layout: tuple, seed: int) -> dict:
    """A self-calibration gain table (not registered) for the complete image's snapshot."""
    from dsa110_ws.demo.selfcal import write_selfcal_table

    night = sorted({p.snap.night for p in plans})[-2]
    p = next(q for q in plans if q.snap.night == night)
    path = root / "caltables" / "selfcal" / f"{p.snap.stamp}_2gcal"
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_selfcal_table(
        path,
        layout=layout,
        start_mjd_s=(p.snap.start_unix / 86400.0 + 40587.0) * 86400.0,
        duration_s=SNAPSHOT_S,  # from .sky, imported at the top
        noisy_antenna=5,
        field=(f"drift_{p.snap.night}_{p.snap.index:02d}", p.snap.ra_deg, p.snap.dec_deg),
        ms_name=str(p.ms_path),
        seed=seed + 17,
    )


def _image_qa_rows(plans, img_rows, img_truth) -> list[dict]:
    rows = []
    for p, r, t in list(zip(plans, img_rows, img_truth, strict=True))[:-2]:  # last two not yet QA'd
        grade = "bad" if p.bad_reason else "good"
        rows.append(
            {
                "ms_path": r["ms_path"],
                "job_id": None,
                "image_path": r["path"],
                "rms_noise": r["noise_jy"],
                "peak_flux": t["brightest_peak_jy"],
                "dynamic_range": r["dynamic_range"],
                "beam_major": r["beam_major_arcsec"],
                "beam_minor": r["beam_minor_arcsec"],
                "beam_pa": r["beam_pa_deg"],
                "num_sources": t["n_sources"],
                "thumbnail_path": None,
                "overall_quality": grade,
                "timestamp": r["created_at"] + 120,
            }
        )
    return rows


def _ratings(img_rows, now_unix) -> list[dict]:
    return [
        {
            "image_id": str(r["id"]),
            "rating": 1 + (r["id"] * 7) % 5,
            "comment": "demo rating",
            "rater": "astronomer",
            "rated_at": ops.iso(now_unix - 86400 + r["id"]),
        }
        for r in img_rows[::9]
    ]


def _write_logs(logs: Path, jobs: list[dict]) -> dict:
    runs = {}
    for j in jobs:
        if j["status"] != "failed" and j["id"] % 25:
            continue
        run_id = f"{j['type']}-{j['id']:06d}"
        lines = [
            ("INFO", f"starting {j['type']} for {j['ms_path']}"),
            ("INFO", "reading inputs"),
            ("WARNING", "2 antennas have no data; continuing"),
        ]
        if j["status"] == "failed":
            reason = j["logs"].strip().splitlines()[-1].split(" ERROR ", 1)[-1]
            lines += [("ERROR", reason), ("INFO", "job finished with status failed")]
        else:
            lines += [("INFO", "job finished with status done")]
        start = j["started_at"] or j["created_at"]
        ops.write_log(logs / f"{run_id}.log", run_id, start, lines)
        runs[run_id] = {
            "job_id": j["id"],
            "status": j["status"],
            "n_lines": len(lines),
            "n_error": sum(1 for lv, _ in lines if lv == "ERROR"),
        }
    return runs
