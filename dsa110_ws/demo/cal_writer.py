"""Write real CASA 6 calibration tables (K, B, G Jones) and make seeded demo solutions.

The layout follows what CASA 6.7 ``bandpass``/``gaincal`` write (checked against a real
``B Jones`` table): table info ``Calibration``/<VisCal>; table keywords ``ParType``, ``MSName``,
``VisCal``, ``PolBasis``, ``CASA_Version`` and links to the subtables OBSERVATION, ANTENNA, FIELD,
SPECTRAL_WINDOW and HISTORY; main columns TIME, FIELD_ID, SPECTRAL_WINDOW_ID, ANTENNA1, ANTENNA2
(the reference antenna), INTERVAL, SCAN_NUMBER, OBSERVATION_ID, CPARAM or FPARAM, PARAMERR, FLAG,
SNR, WEIGHT, all in one StandardStMan, array cells shaped ``(n_chan, n_corr)``. As in CASA's own
tables, WEIGHT exists but its cells are left undefined and the HISTORY subtable is empty.

Parameters use CASA's units: K Jones delays in nanoseconds (FPARAM), B and G Jones complex gains.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dsa110_ws.demo.ms_writer import (
    atomic_table_dir,
    fill_antenna,
    fill_field,
    fill_observation,
    fill_spectral_window,
)

__all__ = [
    "make_bandpass_solutions",
    "make_delay_solutions",
    "make_gain_solutions",
    "write_caltable",
]

_SUBTABLES = ("OBSERVATION", "ANTENNA", "FIELD", "SPECTRAL_WINDOW", "HISTORY")
_PARAM_COLUMN = {"Complex": "CPARAM", "Float": "FPARAM"}


def _caltable_desc(par_type: str) -> dict:
    """Table description of a CASA 6 calibration table's main table."""
    from casacore import tables

    def scalar(name: str, value: Any, keywords: dict | None = None) -> dict:
        return tables.makescacoldesc(
            name, value, datamanagertype="StandardStMan", datamanagergroup="MSMTAB",
            options=5, keywords=keywords or {},
        )  # fmt: skip

    def array(name: str, value: Any, valuetype: str) -> dict:
        return tables.makearrcoldesc(
            name, value, ndim=-1, valuetype=valuetype, datamanagertype="StandardStMan",
            datamanagergroup="MSMTAB",
        )  # fmt: skip

    seconds = {"QuantumUnits": ["s"]}
    param_type = "complex" if par_type == "Complex" else "float"
    return tables.maketabdesc(
        [
            scalar("TIME", 0.0, {**seconds, "MEASINFO": {"type": "epoch", "Ref": "UTC"}}),
            scalar("FIELD_ID", 0),
            scalar("SPECTRAL_WINDOW_ID", 0),
            scalar("ANTENNA1", 0),
            scalar("ANTENNA2", 0),
            scalar("INTERVAL", 0.0, seconds),
            scalar("SCAN_NUMBER", 0),
            scalar("OBSERVATION_ID", 0),
            array(_PARAM_COLUMN[par_type], 0j if param_type == "complex" else 0.0, param_type),
            array("PARAMERR", 0.0, "float"),
            array("FLAG", False, "boolean"),
            array("SNR", 0.0, "float"),
            array("WEIGHT", 0.0, "float"),
        ]
    )


def _default_paramerr(params: np.ndarray, snr: np.ndarray, par_type: str) -> np.ndarray:
    """Parameter errors ``|param| / snr`` (Complex) or ``1 / snr`` (Float); 0 where snr is 0."""
    scale = np.abs(params) if par_type == "Complex" else np.ones(params.shape)
    safe = np.where(snr > 0, snr, 1.0)
    return np.where(snr > 0, scale / safe, 0.0).astype(np.float32)


def _solution_truth(params, flags, snr, ant, spw, names, par_type) -> dict[str, Any]:
    """Flag and value statistics over the written solutions."""
    good = ~flags
    per_ant = {name: float(flags[ant == i].mean()) for i, name in enumerate(names)}
    truth = {
        "n_flagged": int(flags.sum()),
        "flag_fraction": int(flags.sum()) / flags.size,
        "flag_fraction_per_antenna": per_ant,
        "flag_fraction_per_spw": [float(flags[spw == s].mean()) for s in np.unique(spw)],
        "fully_flagged_antennas": [n for i, n in enumerate(names) if flags[ant == i].all()],
        "snr_median": float(np.median(snr[good])) if good.any() else float("nan"),
    }
    if par_type == "Complex" and good.any():
        truth["amp_median"] = float(np.median(np.abs(params[good])))
        truth["phase_median_deg"] = float(np.median(np.angle(params[good], deg=True)))
    elif good.any():
        truth["value_median"] = float(np.median(params[good]))
    return truth


def write_caltable(
    path: str | os.PathLike[str],
    *,
    vis_cal: str,
    par_type: str,
    times_mjd_s: np.ndarray,
    antenna_names: Sequence[str],
    antenna_itrf_m: np.ndarray,
    spw_freqs_hz: Sequence[np.ndarray],
    params: np.ndarray,
    flags: np.ndarray,
    snr: np.ndarray,
    refant: int,
    field_name: str,
    field_ra_deg: float,
    field_dec_deg: float,
    ms_name: str,
    paramerr: np.ndarray | None = None,
    spw_chan_widths_hz: Sequence[float | None] | None = None,
    interval_s: float = 0.0,
    scan_number: int = 1,
    casa_version: str = "6.7.0-31",
    telescope: str = "DSA_110",
    extra_columns: dict[str, np.ndarray] | None = None,
) -> dict[str, Any]:
    """Write a CASA 6 calibration table.

    Parameters
    ----------
    path : str or os.PathLike
        Table directory; written under a temporary sibling name, then renamed (replacing any
        old table).
    vis_cal : str
        CASA solve type, e.g. ``"K Jones"``, ``"B Jones"``, ``"G Jones"`` (keyword ``VisCal``).
    par_type : {"Float", "Complex"}
        ``"Float"`` writes FPARAM (K Jones delays, ns); ``"Complex"`` writes CPARAM.
    times_mjd_s : numpy.ndarray
        One TIME per solution interval, seconds of MJD (UTC).
    antenna_names : sequence of str
        Antenna names (ANTENNA subtable); ANTENNA1 indexes them.
    antenna_itrf_m : numpy.ndarray
        ``(n_ant, 3)`` ITRF positions, metres.
    spw_freqs_hz : sequence of numpy.ndarray
        Frequencies per spw (one channel for K and G, every channel for B), Hz.
    params, flags, snr : numpy.ndarray
        ``(n_rows, n_chan, n_corr)`` solutions, flags and SNRs; rows ordered time, spw, antenna
        (``n_rows = n_times * n_spw * n_ant``); every spw must have ``n_chan`` channels.
    refant : int
        Reference antenna index (ANTENNA2 of every row).
    field_name, field_ra_deg, field_dec_deg : str, float, float
        Calibrator field (FIELD subtable), J2000 degrees.
    ms_name : str
        Keyword ``MSName``: the MS the solutions were derived from.
    paramerr : numpy.ndarray or None, optional
        PARAMERR; default ``|param| / snr`` (Complex) or ``1 / snr`` (Float), 0 where snr is 0.
    spw_chan_widths_hz : sequence of float or None, optional
        Channel width per spw, Hz; default the channel spacing, or 0 for a 1-channel spw.
    interval_s : float, optional
        INTERVAL of every row, seconds (CASA writes 0 for ``solint='inf'``).
    scan_number : int, optional
        SCAN_NUMBER of every row.
    casa_version : str, optional
        Keyword ``CASA_Version`` (the demo mimics the pipeline's CASA).
    telescope : str, optional
        OBSERVATION TELESCOPE_NAME.
    extra_columns : dict of str to numpy.ndarray, optional
        Further float array columns (one cell per row, e.g. a per-solution ``CHI2``), added
        after CASA's own; CASA ignores columns it does not know.

    Returns
    -------
    dict
        ``path``, ``table_type`` and ``vis_cal`` (the ``VisCal`` keyword), ``par_type``,
        ``param_column``, ``n_rows``, ``n_solutions`` (rows x chan x corr), ``n_flagged``,
        ``flag_fraction``, ``flag_fraction_per_antenna``, ``flag_fraction_per_spw``,
        ``fully_flagged_antennas``, ``snr_median`` and (unflagged) ``amp_median`` /
        ``phase_median_deg`` or ``value_median``, ``refant_name``, and the arrays written:
        ``time``, ``spectral_window_id``, ``antenna1``, ``antenna2``, ``params``, ``flags``,
        ``snr``, ``paramerr``.
    """
    from casacore import tables

    if par_type not in _PARAM_COLUMN:
        raise ValueError(f"write_caltable: par_type must be 'Float' or 'Complex', got {par_type!r}")
    path, names = Path(path), list(antenna_names)
    times, freqs = np.asarray(times_mjd_s, float), [np.asarray(f, float) for f in spw_freqs_hz]
    n_t, n_spw, n_ant = times.size, len(freqs), len(names)
    n_rows = n_t * n_spw * n_ant
    dtype = np.complex64 if par_type == "Complex" else np.float32
    params, flags = np.asarray(params, dtype), np.asarray(flags, bool)
    snr = np.asarray(snr, np.float32)
    n_chan = {f.size for f in freqs}
    if (
        params.ndim != 3
        or n_chan != {params.shape[1]}
        or params.shape[0] != n_rows
        or not (params.shape == flags.shape == snr.shape)
    ):
        raise ValueError(
            f"write_caltable: params/flags/snr shapes {params.shape}/{flags.shape}/{snr.shape} "
            f"must all be ({n_rows}, n_chan, n_corr) for {n_t} times x {n_spw} spws x {n_ant} ants"
            f" and every spw must have n_chan channels (got {sorted(n_chan)})"
        )
    if paramerr is None:
        paramerr = _default_paramerr(params, snr, par_type)
    widths = spw_chan_widths_hz or [None if f.size > 1 else 0.0 for f in freqs]
    columns = {
        "TIME": np.repeat(times, n_spw * n_ant),
        "FIELD_ID": np.zeros(n_rows, np.int32),
        "SPECTRAL_WINDOW_ID": np.tile(np.repeat(np.arange(n_spw, dtype=np.int32), n_ant), n_t),
        "ANTENNA1": np.tile(np.arange(n_ant, dtype=np.int32), n_t * n_spw),
        "ANTENNA2": np.full(n_rows, refant, np.int32),
        "INTERVAL": np.full(n_rows, float(interval_s)),
        "SCAN_NUMBER": np.full(n_rows, scan_number, np.int32),
        "OBSERVATION_ID": np.zeros(n_rows, np.int32),
        _PARAM_COLUMN[par_type]: params,
        "PARAMERR": np.asarray(paramerr, np.float32),
        "FLAG": flags,
        "SNR": snr,
    }

    with atomic_table_dir(path) as tmp:
        with tables.table(str(tmp), _caltable_desc(par_type), nrow=n_rows, ack=False) as tb:
            for col, value in columns.items():
                tb.putcol(col, value)
            for col, value in (extra_columns or {}).items():
                desc = tables.makearrcoldesc(col, 0.0, ndim=-1, valuetype="float")
                tb.addcols(tables.maketabdesc([desc]))
                tb.putcol(col, np.asarray(value, np.float32))
            tb.putinfo({"type": "Calibration", "subType": vis_cal, "readme": ""})
            keywords = {
                "ParType": par_type, "MSName": str(ms_name), "VisCal": vis_cal,
                "PolBasis": "unknown", "CASA_Version": casa_version,
            }  # fmt: skip
            for name in _SUBTABLES:
                tables.default_ms_subtable(name, str(tmp / name)).close()
                keywords[name] = f"Table: {tmp / name}"
            tb.putkeywords(keywords)
        half = interval_s / 2
        fill_observation(tmp, telescope, (times[0] - half, times[-1] + half))
        fill_antenna(tmp, names, np.asarray(antenna_itrf_m, float))
        fill_field(tmp, field_name, field_ra_deg, field_dec_deg, float(times[0]))
        fill_spectral_window(tmp, freqs, widths)

    return {
        "path": str(path), "table_type": vis_cal, "vis_cal": vis_cal, "par_type": par_type,
        "param_column": _PARAM_COLUMN[par_type], "n_rows": n_rows, "n_solutions": int(flags.size),
        "refant_name": names[refant], "time": columns["TIME"],
        "spectral_window_id": columns["SPECTRAL_WINDOW_ID"], "antenna1": columns["ANTENNA1"],
        "antenna2": columns["ANTENNA2"], "params": params, "flags": flags, "snr": snr,
        "paramerr": columns["PARAMERR"],
        **_solution_truth(params, flags, snr, columns["ANTENNA1"],
                          columns["SPECTRAL_WINDOW_ID"], names, par_type),
    }  # fmt: skip


def _flags_and_snr(
    shape: tuple[int, ...],
    n_ant: int,
    rng: np.random.Generator,
    *,
    flag_fraction: float,
    dead_antenna: int | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random flags (with SNR < 3, as CASA's ``minsnr`` would flag) and SNR 20-100; a dead
    antenna has every solution flagged with SNR 0. Also returns the dead-antenna row mask."""
    snr = rng.uniform(20.0, 100.0, shape)
    flags = rng.random(shape) < flag_fraction
    snr[flags] = rng.uniform(0.5, 3.0, int(flags.sum()))
    dead = np.zeros(shape[0], bool)
    if dead_antenna is not None:
        dead = np.arange(shape[0]) % n_ant == dead_antenna
        flags[dead], snr[dead] = True, 0.0
    return flags, snr, dead


def make_delay_solutions(
    n_times: int, n_spws: int, n_antennas: int, *, n_corr: int = 2, refant: int = 0,
    delay_rms_ns: float = 3.0, flag_fraction: float = 0.0, dead_antenna: int | None = None,
    rng: np.random.Generator | int = 0,
) -> dict[str, Any]:  # fmt: skip
    """Make K Jones solutions: per-antenna delays of a few ns (0 at the reference antenna).

    Parameters
    ----------
    n_times, n_spws, n_antennas : int
        Solution intervals, spectral windows and antennas (rows = product, ordered that way).
    n_corr : int, optional
        Correlations (receptors) per solution.
    refant : int, optional
        Reference antenna (delay exactly 0).
    delay_rms_ns : float, optional
        Scatter of the antenna delays, ns (each spw adds 0.05 ns jitter).
    flag_fraction : float, optional
        Probability that a solution is flagged (its SNR then lies below 3).
    dead_antenna : int or None, optional
        Antenna whose every solution is flagged (FPARAM 0, SNR 0).
    rng : numpy.random.Generator or int, optional
        Generator or seed.

    Returns
    -------
    dict
        ``vis_cal`` ``"K Jones"``, ``par_type`` ``"Float"``, ``params`` (ns), ``flags``, ``snr``,
        each ``(n_times * n_spws * n_antennas, 1, n_corr)``; pass them on to :func:`write_caltable`.
    """
    rng = np.random.default_rng(rng)
    delay = rng.normal(0.0, delay_rms_ns, (1, 1, n_antennas, n_corr))
    delay = delay + rng.normal(0.0, 0.05, (n_times, n_spws, n_antennas, n_corr))
    delay -= delay[:, :, refant : refant + 1, :]
    params = delay.reshape(-1, 1, n_corr)
    flags, snr, dead = _flags_and_snr(
        params.shape, n_antennas, rng, flag_fraction=flag_fraction, dead_antenna=dead_antenna
    )
    params[dead] = 0.0
    return {"vis_cal": "K Jones", "par_type": "Float", "params": params, "flags": flags, "snr": snr}


def make_bandpass_solutions(
    n_times: int, spw_freqs_hz: Sequence[np.ndarray], n_antennas: int, *, n_corr: int = 2,
    refant: int = 0, ripple: float = 0.05, flag_fraction: float = 0.0,
    dead_antenna: int | None = None, rng: np.random.Generator | int = 0,
) -> dict[str, Any]:  # fmt: skip
    """Make B Jones solutions: amplitude ~1 with a smooth ripple, small phase slopes.

    Parameters
    ----------
    n_times : int
        Solution intervals.
    spw_freqs_hz : sequence of numpy.ndarray
        Channel frequencies per spw, Hz (all spws with the same number of channels).
    n_antennas : int
        Antennas.
    n_corr, refant, flag_fraction, dead_antenna, rng : optional
        As for :func:`make_delay_solutions`; the reference antenna has zero phase.
    ripple : float, optional
        Fractional amplitude of the standing-wave ripple across each spw.

    Returns
    -------
    dict
        ``vis_cal`` ``"B Jones"``, ``par_type`` ``"Complex"``, ``params``, ``flags``, ``snr``,
        each ``(n_times * n_spws * n_antennas, n_chan, n_corr)``.
    """
    rng = np.random.default_rng(rng)
    freqs = np.array([np.asarray(f, float) for f in spw_freqs_hz])  # (n_spw, n_chan)
    x = (freqs - freqs.mean(axis=1, keepdims=True)) / np.ptp(freqs, axis=1, keepdims=True)
    x = x[None, :, None, :, None]  # (t, spw, ant, chan, corr)
    shape = (n_times, len(freqs), n_antennas, 1, n_corr)
    period, phi = rng.uniform(0.3, 0.8, shape), rng.uniform(0, 2 * np.pi, shape)
    gain_level = rng.normal(1.0, 0.03, shape)
    amp = gain_level * (1 + ripple * np.sin(2 * np.pi * x / period + phi)) * (1 - 0.1 * x**2)
    phase = np.deg2rad(rng.normal(0, 20.0, shape) + rng.normal(0, 10.0, shape) * x)
    phase -= phase[:, :, refant : refant + 1]
    params = (amp * np.exp(1j * phase)).reshape(-1, freqs.shape[1], n_corr)
    flags, snr, dead = _flags_and_snr(
        params.shape, n_antennas, rng, flag_fraction=flag_fraction, dead_antenna=dead_antenna
    )
    params[dead] = 1.0
    return {
        "vis_cal": "B Jones",
        "par_type": "Complex",
        "params": params,
        "flags": flags,
        "snr": snr,
    }


def make_gain_solutions(
    n_times: int, n_spws: int, n_antennas: int, *, n_corr: int = 2, refant: int = 0,
    solint_s: float = 60.0, amp_scatter: float = 0.05, phase_drift_deg_per_h: float = 10.0,
    flag_fraction: float = 0.0, dead_antenna: int | None = None,
    rng: np.random.Generator | int = 0,
) -> dict[str, Any]:  # fmt: skip
    """Make G Jones solutions: amplitude ~1 +- ``amp_scatter``, phases drifting slowly in time.

    Parameters
    ----------
    n_times, n_spws, n_antennas : int
        Solution intervals, spectral windows and antennas.
    solint_s : float, optional
        Solution interval, seconds (sets how far phases drift between solutions).
    amp_scatter : float, optional
        Standard deviation of the per-antenna amplitude about 1.
    phase_drift_deg_per_h : float, optional
        Standard deviation of the per-antenna phase drift rate, deg per hour.
    n_corr, refant, flag_fraction, dead_antenna, rng : optional
        As for :func:`make_delay_solutions`; the reference antenna has zero phase.

    Returns
    -------
    dict
        ``vis_cal`` ``"G Jones"``, ``par_type`` ``"Complex"``, ``params``, ``flags``, ``snr``,
        each ``(n_times * n_spws * n_antennas, 1, n_corr)``.
    """
    rng = np.random.default_rng(rng)
    ant_shape = (1, 1, n_antennas, n_corr)
    hours = (solint_s * np.arange(n_times) / 3600.0)[:, None, None, None]
    amp = rng.normal(1.0, amp_scatter, ant_shape) + rng.normal(0, 0.005, (n_times, n_spws, 1, 1))
    phase = rng.uniform(-180, 180, ant_shape) + rng.normal(0, 2.0, (1, n_spws, n_antennas, 1))
    phase = phase + rng.normal(0, phase_drift_deg_per_h, ant_shape) * hours
    phase = np.deg2rad(phase - phase[:, :, refant : refant + 1])
    params = (amp * np.exp(1j * phase)).reshape(-1, 1, n_corr)
    flags, snr, dead = _flags_and_snr(
        params.shape, n_antennas, rng, flag_fraction=flag_fraction, dead_antenna=dead_antenna
    )
    params[dead] = 1.0
    return {
        "vis_cal": "G Jones",
        "par_type": "Complex",
        "params": params,
        "flags": flags,
        "snr": snr,
    }
