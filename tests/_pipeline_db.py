"""A pipeline database like the pipeline's own tests build: its real ``schema.sql`` (copied
in ``tests/data/pipeline/``) and the traits of its ``tests/fixtures/database_fixtures.py``.

Traits kept on purpose (each has broken a view before): the lazily created tables
(``calibration_monitoring``, ``flux_monitoring_alerts``, ``image_ratings``, ``ms_state``)
are absent; caltables use the long type names ``bandpass``/``gain``/``delay``/``flux`` and
have NULL validity windows; the ``jobs`` table is empty (its sample jobs go to
``batch_jobs``, status ``completed``); ms_index rows are ``complete``/``imaged``; few rows
of anything; product paths under ``/stage`` that do not exist here.  Times are fixed (the
pipeline's use ``utcnow()``), so the tests can say what the answers must be.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

SCHEMA = Path(__file__).parent / "data" / "pipeline" / "schema.sql"
#: The fixture's "now" (Unix seconds, 2026-11-14T12:00:00 UTC); rows are dated before it.
NOW_UNIX = 1_794_657_600.0
NOW_ISO = "2026-11-14T12:00:00"
LAZY_TABLES = ("calibration_monitoring", "flux_monitoring_alerts", "image_ratings", "ms_state")
CAL_TYPES = ("bandpass", "gain", "delay", "flux")


def make_pipeline_test_db(out_dir: Path) -> Path:
    """Write ``pipeline.sqlite3`` and ``settings.toml`` into ``out_dir``; returns the settings
    file.  The database is built by the pipeline's schema.sql, then filled like its tests."""
    out_dir.mkdir(parents=True, exist_ok=True)
    db = out_dir / "pipeline.sqlite3"
    con = sqlite3.connect(db)
    try:
        con.executescript(SCHEMA.read_text())
        base = NOW_UNIX - 600.0
        with con:
            for i in range(5):
                con.execute(
                    "INSERT INTO images (id, path, ms_path, created_at, type, beam_major_arcsec, "
                    "beam_minor_arcsec, beam_pa_deg, noise_jy, dynamic_range, pbcor, format, "
                    "field_name, center_ra_deg, center_dec_deg, imsize_x, imsize_y, "
                    "cellsize_arcsec, freq_ghz, bandwidth_mhz, integration_sec) "
                    "VALUES (?, ?, ?, ?, 'continuum', 30, 25, 45, ?, ?, 1, 'fits', ?, ?, 37, "
                    "4096, 4096, 2, 1.4, 256, 300)",
                    (
                        i + 1,
                        f"/stage/dsa110-contimg/images/obs_{i:04d}.fits",
                        f"/stage/dsa110-contimg/ms/obs_{i:04d}.ms",
                        base - i * 3600,
                        0.001 + i * 0.0001,
                        100.0 + i * 10,
                        f"field_{i}",
                        180.0 + i * 0.5,
                    ),
                )
                start = 60000.0 + i
                con.execute(
                    "INSERT INTO ms_index (path, start_mjd, end_mjd, mid_mjd, processed_at, "
                    "status, stage, stage_updated_at, cal_applied, imagename, ra_deg, dec_deg, "
                    "field_name, pointing_ra_deg, pointing_dec_deg) VALUES "
                    "(?, ?, ?, ?, ?, 'complete', 'imaged', ?, 1, ?, ?, 37, ?, ?, 37)",
                    (
                        f"/stage/dsa110-contimg/ms/obs_{i:04d}.ms",
                        start,
                        start + 0.003,
                        start + 0.0015,
                        base,
                        base,
                        f"obs_{i:04d}.fits",
                        180.0 + i * 0.5,
                        f"field_{i}",
                        180.0 + i * 0.5,
                    ),
                )
                kind = CAL_TYPES[i % len(CAL_TYPES)]
                con.execute(
                    "INSERT INTO caltables (path, table_type, set_name, cal_field, refant, "
                    "created_at, source_ms_path, status, notes, order_index) "
                    "VALUES (?, ?, ?, ?, 'ea01', ?, ?, 'active', ?, ?)",
                    (
                        f"/stage/dsa110-contimg/cal/obs_{i:04d}.{kind[:1]}cal",
                        kind,
                        f"calset_{i // 2}",
                        "3C286" if kind == "flux" else f"field_{i}",
                        base - i * 3600,
                        f"/stage/dsa110-contimg/ms/obs_{i:04d}.ms",
                        f"Test calibration table {i}",
                        i,
                    ),
                )
            for i in range(10):
                con.execute(
                    "INSERT INTO sources (id, name, ra_deg, dec_deg, catalog_match, source_type, "
                    "first_detected_mjd, last_detected_mjd, detection_count) "
                    "VALUES (?, ?, ?, ?, ?, ?, 60000, ?, ?)",
                    (
                        f"src_{i:05d}",
                        f"J1200+3700_{i}",
                        180.0 + i * 0.01,
                        37.0 + i * 0.01,
                        "NVSS" if i % 2 == 0 else None,
                        "point" if i % 3 == 0 else "extended",
                        60000.0 + i,
                        i + 1,
                    ),
                )
                con.execute(
                    "INSERT INTO photometry (id, source_id, image_path, ra_deg, dec_deg, mjd, "
                    "flux_jy, flux_err_jy, peak_jyb, peak_err_jyb, snr, local_rms) "
                    "VALUES (?, 'src_00000', ?, ?, ?, ?, ?, 0.001, ?, 0.001, ?, 0.0005)",
                    (
                        i + 1,
                        f"/stage/dsa110-contimg/images/obs_{i:04d}.fits",
                        180.0 + i * 0.001,
                        37.0 + i * 0.001,
                        60000.0 + i,
                        0.01 + i * 0.005,
                        0.012 + i * 0.005,
                        20.0 + i * 5,
                    ),
                )
            for i, status in enumerate(("pending", "running", "completed")):
                con.execute(
                    "INSERT INTO batch_jobs (id, type, created_at, status, total_items, "
                    "completed_items, failed_items, params) VALUES (?, ?, ?, ?, 10, ?, 0, ?)",
                    (
                        i + 1,
                        ("imaging", "calibration", "photometry")[i],
                        base - i * 3600,
                        status,
                        {"completed": 10, "running": 5}.get(status, 0),
                        '{"test": true}' if i % 2 == 0 else None,
                    ),
                )
    finally:
        con.close()
    settings = out_dir / "settings.toml"
    settings.write_text(
        f'pipeline_db = "pipeline.sqlite3"\ndata_roots = ["data"]\nlog_roots = ["logs"]\n'
        f'now = "{NOW_ISO}"\n'
    )
    (out_dir / "data").mkdir(exist_ok=True)
    (out_dir / "logs").mkdir(exist_ok=True)
    return settings
