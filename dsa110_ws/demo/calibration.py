"""Demo calibration: caltable sets written as CASA tables, their registry rows, QA,
calibrator flux monitoring and its alerts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dsa110_ws.demo.products import spw_freqs

__all__ = ["CAL_TYPES", "write_cal_sets", "monitoring_rows"]

#: registry type, filename suffix, CASA VisCal, ParType
CAL_TYPES = [
    ("K", "kcal", "K Jones", "Float"),
    ("BP", "bpcal", "B Jones", "Complex"),
    ("GA", "gacal", "G Jones", "Complex"),
    ("GP", "gpcal", "G Jones", "Complex"),
]
CALIBRATOR = ("3C286", 202.7845, 30.5089)


def _solutions(
    kind: str, n_time: int, n_spw: int, n_ant: int, n_chan: int, rng: np.random.Generator
) -> np.ndarray:
    shape = (n_time * n_spw * n_ant, n_chan, 2)
    if kind == "K":
        return rng.normal(0.0, 2.5, shape)  # ns
    if kind == "BP":
        ripple = 1.0 + 0.05 * np.sin(np.linspace(0, 3 * np.pi, n_chan))[None, :, None]
        amp = ripple * rng.normal(1.0, 0.03, shape)
        phase = np.radians(rng.normal(0, 5.0, shape))
        return amp * np.exp(1j * phase)
    if kind == "GA":
        return rng.normal(1.0, 0.05, shape) + 0j
    return np.exp(1j * np.radians(rng.normal(0, 8.0, shape)))  # GP


def _one_table(
    path: Path,
    kind: str,
    suffix_info: tuple,
    set_info: dict,
    layout: tuple,
    rng: np.random.Generator,
    *,
    flag_fraction: float,
    dead_antenna: int | None,
) -> dict:
    from dsa110_ws.demo.cal_writer import write_caltable

    _, _, vis_cal, par_type = suffix_info
    names, itrf, _ = layout
    spws = spw_freqs()
    n_time = 6 if kind in {"GA", "GP"} else 1
    n_chan = len(spws[0]) if kind == "BP" else 1
    params = _solutions(kind, n_time, len(spws), len(names), n_chan, rng)
    flags = rng.random(params.shape) < flag_fraction
    ant = np.tile(np.arange(len(names)), n_time * len(spws))
    if dead_antenna is not None:
        flags[ant == dead_antenna] = True
    snr = rng.uniform(20, 100, params.shape)
    t0 = set_info["solve_mjd"] * 86400.0
    times = t0 + 60.0 * np.arange(n_time)
    t = write_caltable(
        path,
        vis_cal=vis_cal,
        par_type=par_type,
        times_mjd_s=times,
        antenna_names=names,
        antenna_itrf_m=itrf,
        spw_freqs_hz=spws if kind == "BP" else [f[len(f) // 2 : len(f) // 2 + 1] for f in spws],
        params=params,
        flags=flags,
        snr=snr,
        refant=0,
        field_name=CALIBRATOR[0],
        field_ra_deg=CALIBRATOR[1],
        field_dec_deg=CALIBRATOR[2],
        ms_name=set_info["source_ms_path"],
    )
    return {
        "path": str(path),
        "table_type": kind,
        "vis_cal": vis_cal,
        "flag_fraction": float(flags.mean()),
        "n_solutions": int(flags.size),
        "dead_antenna": None if dead_antenna is None else names[dead_antenna],
        "set_name": set_info["set_name"],
        "writer": {k: v for k, v in t.items() if isinstance(v, (int, float, str))},
    }


def write_cal_sets(
    root: Path,
    transits_mjd: list[float],
    nights: list[str],
    ms_paths: list[str],
    layout: tuple,
    rng: np.random.Generator,
) -> tuple[list, list, dict]:
    """One K/BP/GA/GP set per night; a short window leaves one coverage gap; extras for QA."""
    n = len(nights)
    gap_night = max(n // 2 - 1, 0)
    registry, cal_qa, tables = [], [], []
    gap = None
    for k, (night, t_mjd) in enumerate(zip(nights, transits_mjd, strict=True)):
        info = {
            "set_name": f"{night}_3C286",
            "solve_mjd": t_mjd - 0.1,
            "source_ms_path": ms_paths[k],
        }
        start, end = t_mjd - 0.25, t_mjd + 0.75
        if k == gap_night:
            end = t_mjd + 8 / 24.0
            gap = (end, transits_mjd[k + 1] - 0.25) if k + 1 < n else None
        for order, spec in enumerate(CAL_TYPES):
            kind, suffix = spec[0], spec[1]
            path = root / "caltables" / night / f"{night}_3C286_{suffix}"
            path.parent.mkdir(parents=True, exist_ok=True)
            ff = 0.45 if (k == 1 % n and kind == "GA") else 0.02
            dead = 4 if (k == 2 % n and kind == "BP") else None
            truth = _one_table(
                path, kind, spec, info, layout, rng, flag_fraction=ff, dead_antenna=dead
            )
            tables.append(truth)
            registry.append(
                {
                    "set_name": info["set_name"],
                    "path": str(path),
                    "table_type": kind,
                    "order_index": order,
                    "cal_field": CALIBRATOR[0],
                    "refant": layout[0][0],
                    "created_at": (t_mjd - 40587.0) * 86400.0,
                    "valid_start_mjd": start,
                    "valid_end_mjd": end,
                    "status": "active",
                    "notes": None,
                    "source_ms_path": info["source_ms_path"],
                    "solver_command": f"gaincal/bandpass ({spec[2]})",
                    "solver_version": "casa 6.7.0",
                    "solver_params": json.dumps({"refant": layout[0][0], "solint": "inf"}),
                    "quality_metrics": json.dumps({"flag_fraction": truth["flag_fraction"]}),
                }
            )
        worst = max(t["flag_fraction"] for t in tables[-4:])
        cal_qa.append(
            {
                "ms_path": info["source_ms_path"],
                "job_id": None,
                "k_metrics": json.dumps({"flag_fraction": tables[-4]["flag_fraction"]}),
                "bp_metrics": json.dumps({"flag_fraction": tables[-3]["flag_fraction"]}),
                "g_metrics": json.dumps({"flag_fraction": tables[-2]["flag_fraction"]}),
                "overall_quality": "bad" if worst > 0.3 else "good",
                "flags_total": worst,
                "timestamp": (t_mjd - 40587.0) * 86400.0 + 600,
                "per_spw_stats": None,
            }
        )
    # a superseded set: same window as the first night's, retired
    old = dict(
        registry[0],
        set_name=f"{nights[0]}_3C286_old",
        status="retired",
        path=registry[0]["path"] + "_old",
        notes="superseded by a re-solve",
    )
    registry.append(old)
    truth = {
        "caltables": tables,
        "coverage_gap_mjd": gap,
        "gap_night": nights[gap_night],
        "retired_sets": [old["set_name"]],
        "active_sets": [f"{night}_3C286" for night in nights],
    }
    return registry, cal_qa, truth


def monitoring_rows(transits_mjd: list[float], rng: np.random.Generator) -> tuple[list, list, dict]:
    """Nightly calibrator fluxes; 3C48 drifts down 2% a night and raised an alert."""
    cals = {"3C286": 14.9, "3C48": 15.7, "3C147": 22.4}
    rows = []
    for k, t in enumerate(transits_mjd):
        for j, (name, cat) in enumerate(cals.items()):
            ratio = (1.0 - 0.02 * k if name == "3C48" else 1.0) + rng.normal(0, 0.008)
            mjd = t - 0.2 + 0.05 * j
            rows.append(
                {
                    "calibrator_name": name,
                    "ms_path": None,
                    "observed_flux_jy": cat * ratio,
                    "catalog_flux_jy": cat,
                    "flux_ratio": ratio,
                    "frequency_ghz": 1.405,
                    "mjd": mjd,
                    "timestamp_iso": _iso_mjd(mjd),
                    "phase_rms_deg": float(rng.uniform(2, 6)),
                    "amp_rms": float(rng.uniform(0.01, 0.03)),
                    "flagged_fraction": float(rng.uniform(0.02, 0.08)),
                    "created_at": (mjd - 40587.0) * 86400.0 + 120,
                    "notes": None,
                }
            )
    last = (transits_mjd[-1] - 40587.0) * 86400.0
    drift = -2.0 * (len(transits_mjd) - 1)
    alerts = [
        {
            "alert_type": "flux_drift",
            "severity": "warning",
            "calibrator_name": "3C48",
            "time_window_days": float(len(transits_mjd)),
            "flux_drift_percent": drift,
            "n_measurements": len(transits_mjd),
            "message": f"3C48 flux ratio drifted {drift:.0f}% over {len(transits_mjd)} days",
            "triggered_at": last,
            "acknowledged_at": None,
            "acknowledged_by": None,
            "resolved_at": None,
            "resolution_note": None,
        },
        {
            "alert_type": "flux_jump",
            "severity": "info",
            "calibrator_name": "3C286",
            "time_window_days": 1.0,
            "flux_drift_percent": 4.1,
            "n_measurements": 2,
            "message": "3C286 flux ratio jumped 4.1% night to night",
            "triggered_at": last - 5 * 86400,
            "acknowledged_at": last - 5 * 86400 + 3600,
            "acknowledged_by": "oncall",
            "resolved_at": last - 4 * 86400,
            "resolution_note": "RFI night; re-solved",
        },
    ]
    return rows, alerts, {"drifting_calibrator": "3C48", "drift_percent": drift}


def _iso_mjd(mjd: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp((mjd - 40587.0) * 86400.0, dt.UTC).isoformat()
