"""A rows-only pipeline state at survey scale, for benchmarks.

No product files are written.  Default: 100,000 images (5-minute cadence, about a year),
100,000 sources over the DSA-110 sky with 100 epochs each (10,000,000 photometry rows),
and ms_index, ms_state, jobs, image_qa and ingestion rows to match.
"""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

import numpy as np

from dsa110_ws.demo.schema import INDEXES, create_schema

__all__ = ["make_scale_state", "make_scale_dataset"]

T0_UNIX = 1_763_000_000.0  # 2025-11-13


def _insert(con: sqlite3.Connection, table: str, cols: list[str], columns: list[Any]) -> None:
    sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
    con.executemany(
        sql, zip(*[c.tolist() if isinstance(c, np.ndarray) else c for c in columns], strict=True)
    )


def make_scale_state(
    out_dir: str | Path,
    *,
    seed: int = 7,
    n_images: int = 100_000,
    n_photometry: int = 10_000_000,
    n_sources: int | None = None,
    overwrite: bool = False,
    chunk: int = 1_000_000,
) -> dict[str, Any]:
    """Write ``pipeline.sqlite3`` and ``settings.toml`` with survey-scale row counts."""
    out = Path(out_dir).expanduser().resolve()
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{out} is not empty; pass overwrite=True to replace it.")
        foreign = {p.name for p in out.iterdir()} - {"pipeline.sqlite3", "settings.toml"}
        if foreign:  # never delete a directory the scale generator did not make
            raise FileExistsError(
                f"{out} holds files the scale generator does not write ({sorted(foreign)[:3]}): "
                "refusing to delete it; choose an empty or new directory."
            )
        shutil.rmtree(out)
    out.mkdir(parents=True)
    t_begin = time.perf_counter()
    rng = np.random.default_rng(seed)
    n_sources = n_sources or max(n_photometry // 100, 1)
    con = sqlite3.connect(out / "pipeline.sqlite3")
    con.execute("PRAGMA journal_mode = OFF")
    con.execute("PRAGMA synchronous = OFF")
    create_schema(con, indexes=False)
    idx = np.arange(n_images)
    start = T0_UNIX + 300.0 * idx
    mid_mjd = (start + 150.0) / 86400.0 + 40587.0
    ms_path = np.char.add(np.char.add("/scale/ms/", idx.astype(str)), ".ms").astype(object)
    img_path = np.char.add(np.char.add("/scale/images/", idx.astype(str)), ".fits").astype(object)
    ra_c = (150.0 + 1.2534 * idx) % 360.0
    dec_c = np.full(n_images, 37.0)
    noise = rng.lognormal(np.log(1e-3), 0.3, n_images)
    with con:
        _insert(
            con,
            "ms_index",
            [
                "path",
                "start_mjd",
                "end_mjd",
                "mid_mjd",
                "processed_at",
                "status",
                "stage",
                "stage_updated_at",
                "cal_applied",
                "ra_deg",
                "dec_deg",
                "group_id",
                "created_at",
            ],
            [
                ms_path,
                mid_mjd - 150 / 86400,
                mid_mjd + 150 / 86400,
                mid_mjd,
                start + 1800,
                ["done"] * n_images,
                ["done"] * n_images,
                start + 1800,
                [1] * n_images,
                ra_c,
                dec_c,
                idx.astype(str).astype(object),
                start + 400,
            ],
        )
        _insert(
            con,
            "ms_state",
            [
                "ms_path",
                "current_state",
                "previous_state",
                "transition_time",
                "retry_count",
                "created_at",
            ],
            [
                ms_path,
                ["done"] * n_images,
                ["imaging"] * n_images,
                start + 1800,
                [0] * n_images,
                start + 400,
            ],
        )
        _insert(
            con,
            "images",
            [
                "id",
                "path",
                "ms_path",
                "created_at",
                "type",
                "format",
                "beam_major_arcsec",
                "beam_minor_arcsec",
                "beam_pa_deg",
                "noise_jy",
                "dynamic_range",
                "pbcor",
                "center_ra_deg",
                "center_dec_deg",
                "imsize_x",
                "imsize_y",
                "cellsize_arcsec",
                "freq_ghz",
            ],
            [
                idx + 1,
                img_path,
                ms_path,
                start + 1500,
                ["5min"] * n_images,
                ["fits"] * n_images,
                [15.0] * n_images,
                [10.0] * n_images,
                [0.0] * n_images,
                noise,
                rng.uniform(50, 2000, n_images),
                [0] * n_images,
                ra_c,
                dec_c,
                [2048] * n_images,
                [2048] * n_images,
                [6.0] * n_images,
                [1.405] * n_images,
            ],
        )
        status = rng.choice(
            np.array(["done", "completed", "failed"], dtype=object), n_images, p=[0.6, 0.38, 0.02]
        )
        _insert(
            con,
            "jobs",
            ["type", "status", "ms_path", "created_at", "started_at", "finished_at", "logs"],
            [
                ["image"] * n_images,
                status,
                ms_path,
                start + 600,
                start + 620,
                start + 620 + rng.uniform(60, 600, n_images),
                np.where(status == "failed", "ERROR tclean failed", "").astype(object),
            ],
        )
        grade = rng.choice(
            np.array(["good", "warning", "bad"], dtype=object), n_images, p=[0.85, 0.1, 0.05]
        )
        _insert(
            con,
            "image_qa",
            [
                "ms_path",
                "image_path",
                "rms_noise",
                "peak_flux",
                "dynamic_range",
                "overall_quality",
                "timestamp",
            ],
            [
                ms_path,
                img_path,
                noise,
                noise * 500,
                rng.uniform(50, 2000, n_images),
                grade,
                start + 1700,
            ],
        )
        _insert(
            con,
            "ingestion_groups",
            [
                "group_id",
                "state",
                "subband_count",
                "expected_subbands",
                "dec_deg",
                "created_at",
                "updated_at",
                "completed_at",
                "ms_path",
            ],
            [
                idx.astype(str).astype(object),
                ["completed"] * n_images,
                [16] * n_images,
                [16] * n_images,
                dec_c,
                start,
                start + 300,
                start + 400,
                ms_path,
            ],
        )
    _photometry(con, rng, n_sources, n_photometry, n_images, mid_mjd, img_path, chunk)
    for stmt in INDEXES:
        con.execute(stmt)
    con.execute("ANALYZE")
    con.close()
    now = start[-1] + 3600.0
    import datetime as dt

    now_iso = dt.datetime.fromtimestamp(now, dt.UTC).isoformat()[:19]
    (out / "settings.toml").write_text(f'pipeline_db = "pipeline.sqlite3"\nnow = "{now_iso}"\n')
    return {
        "n_images": n_images,
        "n_photometry": n_photometry,
        "n_sources": n_sources,
        "seconds": time.perf_counter() - t_begin,
        "path": str(out / "pipeline.sqlite3"),
    }


def _photometry(con, rng, n_sources, n_rows, n_images, mid_mjd, img_path, chunk) -> None:
    # sources uniform on the sphere between dec -20 and +80
    z = rng.uniform(np.sin(np.radians(-20)), np.sin(np.radians(80)), n_sources)
    dec = np.degrees(np.arcsin(z))
    ra = rng.uniform(0, 360, n_sources)
    flux = 10 ** rng.uniform(-2.2, 0, n_sources)
    sid = np.char.add("S", np.arange(n_sources).astype(str)).astype(object)
    cols = [
        "source_id",
        "image_path",
        "ra_deg",
        "dec_deg",
        "nvss_flux_mjy",
        "mjd",
        "flux_jy",
        "flux_err_jy",
        "normalized_flux_jy",
        "normalized_flux_err_jy",
        "snr",
        "measured_at",
    ]
    for lo in range(0, n_rows, chunk):
        k = np.arange(lo, min(lo + chunk, n_rows))
        s = k % n_sources
        epoch = k // n_sources
        img = (s * 37 + epoch * 1009) % n_images
        err = np.full(len(k), 1e-3)
        f = flux[s] + rng.normal(0, 1e-3, len(k))
        with con:
            _insert(
                con,
                "photometry",
                cols,
                [
                    sid[s],
                    img_path[img],
                    ra[s],
                    dec[s],
                    flux[s] * 1000,
                    mid_mjd[img],
                    f,
                    err,
                    f,
                    err,
                    f / err,
                    (mid_mjd[img] - 40587.0) * 86400 + 900,
                ],
            )


def make_scale_dataset(
    out_dir: str | Path,
    *,
    n_photometry: int = 100_000_000,
    n_sources: int | None = None,
    n_images: int = 100_000,
    n_partitions: int = 64,
    seed: int = 7,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write a photometry dataset of ``n_photometry`` rows directly as Parquet, in the
    layout of the workspace's photometry dataset (``part-NNN/*.parquet``, the dataset's
    columns and types, rows sorted by source, observation time and id), for benchmarks
    at a scale SQLite would take hours to fill.  The rows follow :func:`make_scale_state`
    (the same ids, sources, images and epochs; fluxes drawn afresh); source ``S<k>`` lies
    in partition ``k % n_partitions``.  No database is written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out_dir).expanduser().resolve()
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{out} is not empty; pass overwrite=True to replace it.")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    t_begin = time.perf_counter()
    rng = np.random.default_rng(seed)
    n_sources = n_sources or max(n_photometry // 100, 1)
    n_epochs = -(-n_photometry // n_sources)
    z = rng.uniform(np.sin(np.radians(-20)), np.sin(np.radians(80)), n_sources)
    dec, ra = np.degrees(np.arcsin(z)), rng.uniform(0, 360, n_sources)
    flux = 10 ** rng.uniform(-2.2, 0, n_sources)
    mid_mjd = (T0_UNIX + 300.0 * np.arange(n_images) + 150.0) / 86400.0 + 40587.0
    images = pa.array([f"/scale/images/{i}.fits" for i in range(n_images)], type=pa.string())
    n_bytes = 0
    for p in range(n_partitions):
        src = np.arange(p, n_sources, n_partitions)
        names = np.array([f"S{s}" for s in src], dtype=object)
        by_name = np.argsort(names.astype(str), kind="stable")
        src, names = src[by_name], names[by_name]
        epoch = np.tile(np.arange(n_epochs), len(src))
        s = np.repeat(src, n_epochs)
        local = np.repeat(np.arange(len(src)), n_epochs)
        k = epoch * n_sources + s
        keep = k < n_photometry
        k, s, local, epoch = k[keep], s[keep], local[keep], epoch[keep]
        img = (s * 37 + epoch * 1009) % n_images
        mjd = mid_mjd[img]
        order = np.lexsort((k, mjd, local))
        k, s, local, img, mjd = k[order], s[order], local[order], img[order], mjd[order]
        f = flux[s] + rng.normal(0, 1e-3, len(k))
        err = np.full(len(k), 1e-3)
        table = pa.table(
            {
                "id": pa.array(k + 1, type=pa.int64()),
                "source_id": pa.DictionaryArray.from_arrays(
                    pa.array(local.astype(np.int32)), pa.array(names.tolist(), pa.string())
                ),
                "image_path": pa.DictionaryArray.from_arrays(
                    pa.array(img.astype(np.int32)), images
                ),
                "mjd": mjd,
                "obs_mjd": mjd,
                "ra_deg": ra[s],
                "dec_deg": dec[s],
                "nvss_flux_mjy": flux[s] * 1000,
                "flux_jy": f,
                "flux_err_jy": err,
                "normalized_flux_jy": f,
                "normalized_flux_err_jy": err,
            }
        )
        path = out / f"part-{p:03d}" / "f000001-000.parquet"
        path.parent.mkdir()
        pq.write_table(table, path, compression="snappy", row_group_size=1 << 20)
        n_bytes += path.stat().st_size
    return {
        "n_photometry": int(min(n_photometry, n_sources * n_epochs)),
        "n_sources": n_sources,
        "n_partitions": n_partitions,
        "bytes": n_bytes,
        "seconds": time.perf_counter() - t_begin,
        "path": str(out),
    }
