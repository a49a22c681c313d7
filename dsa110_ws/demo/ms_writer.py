"""Write small but real CASA Measurement Sets shaped like DSA-110's.

A DSA-110 MS (as its pipeline converts them from UVH5) has one field at the meridian-transit
pointing, linear feeds (XX, YY), several spectral windows of equal width, ~12.9 s integrations and
TIME in MJD seconds (UTC). :func:`write_ms` writes such an MS with python-casacore: the standard
subtables via :func:`casacore.tables.default_ms`, DATA/FLAG in tiled storage like CASA, and a point
source at the phase centre corrupted by per-antenna gains plus noise. It returns the truth the
workspace's MS inspection must recover, computed from the very arrays written.

The subtable fillers (``fill_antenna`` ...) are shared with :mod:`dsa110_ws.demo.cal_writer`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dsa110_ws.demo.array_geometry import baseline_uvw, dsa110_layout  # noqa: F401 - re-exported

__all__ = ["CORR_CODES", "dsa110_layout", "write_ms"]

#: CASA Stokes codes for correlation products.
CORR_CODES = {"RR": 5, "RL": 6, "LR": 7, "LL": 8, "XX": 9, "XY": 10, "YX": 11, "YY": 12}
DISH_DIAMETER_M = 4.65
_AUTO_LEVEL = 20.0  # parallel-hand autocorrelation level (arbitrary, Tsys-like units)


def fill_subtable(
    path: Path, name: str, nrows: int, cols: dict[str, Any], cells: dict[str, list] | None = None
) -> None:
    """Add ``nrows`` rows to subtable ``name`` of the table at ``path`` and fill them.

    ``cols`` maps a column to a whole-column value (an array or list, or a scalar broadcast to
    every row); ``cells`` maps a column to one value per row (for variable-shape arrays).
    """
    from casacore import tables

    with tables.table(str(path / name), readonly=False, ack=False) as sub:
        sub.addrows(nrows)
        for col, value in cols.items():
            if np.isscalar(value):
                value = [value] * nrows if isinstance(value, str) else np.full(nrows, value)
            sub.putcol(col, value)
        for col, values in (cells or {}).items():
            for row, value in enumerate(values):
                sub.putcell(col, row, value)


def fill_antenna(path: Path, names: Sequence[str], itrf_m: np.ndarray) -> None:
    """Fill the ANTENNA subtable (stations ``pad<name>``, 4.65 m alt-az dishes)."""
    n = len(names)
    cols = {
        "NAME": list(names), "STATION": [f"pad{name}" for name in names],
        "POSITION": np.asarray(itrf_m, dtype=float), "OFFSET": np.zeros((n, 3)),
        "DISH_DIAMETER": DISH_DIAMETER_M, "TYPE": "GROUND-BASED", "MOUNT": "ALT-AZ",
        "FLAG_ROW": False,
    }  # fmt: skip
    fill_subtable(path, "ANTENNA", n, cols)


def channel_widths(freqs: np.ndarray, width_hz: float | None) -> np.ndarray:
    """Channel widths (Hz) from channel spacing, or ``width_hz`` for every channel if given."""
    freqs = np.asarray(freqs, dtype=float)
    if width_hz is not None:
        return np.full(freqs.size, float(width_hz))
    if freqs.size < 2:
        raise ValueError("a 1-channel spectral window needs its width: pass spw_chan_widths_hz")
    return np.gradient(freqs)


def fill_spectral_window(
    path: Path, spw_freqs_hz: Sequence[np.ndarray], widths_hz: Sequence[float | None]
) -> None:
    """Fill SPECTRAL_WINDOW (TOPO frame) with one row per spw."""
    freqs = [np.asarray(f, dtype=float) for f in spw_freqs_hz]
    chan_w = [channel_widths(f, w) for f, w in zip(freqs, widths_hz, strict=True)]
    cols = {
        "NUM_CHAN": np.array([f.size for f in freqs], np.int32),
        "REF_FREQUENCY": np.array([f[0] for f in freqs]),
        "TOTAL_BANDWIDTH": np.array([np.abs(w).sum() for w in chan_w]),
        "NAME": [f"spw{i}" for i in range(len(freqs))], "MEAS_FREQ_REF": 5,  # 5 = TOPO
        "NET_SIDEBAND": 1, "FREQ_GROUP": 0, "FREQ_GROUP_NAME": "none", "IF_CONV_CHAIN": 0,
        "FLAG_ROW": False,
    }  # fmt: skip
    abs_w = [np.abs(w) for w in chan_w]
    cells = {"CHAN_FREQ": freqs, "CHAN_WIDTH": chan_w, "EFFECTIVE_BW": abs_w, "RESOLUTION": abs_w}
    fill_subtable(path, "SPECTRAL_WINDOW", len(freqs), cols, cells)


def fill_field(path: Path, name: str, ra_deg: float, dec_deg: float, time_s: float) -> None:
    """Fill FIELD with one J2000 field; RA stored in radians wrapped to [-pi, pi) as CASA does."""
    ra_rad = (np.deg2rad(ra_deg) + np.pi) % (2 * np.pi) - np.pi
    direction = np.array([[[ra_rad, np.deg2rad(dec_deg)]]])
    cols = {
        "PHASE_DIR": direction, "DELAY_DIR": direction, "REFERENCE_DIR": direction,
        "NAME": [name], "CODE": [""], "NUM_POLY": 0, "SOURCE_ID": 0, "TIME": time_s,
        "FLAG_ROW": False,
    }  # fmt: skip
    fill_subtable(path, "FIELD", 1, cols)


def fill_observation(path: Path, telescope: str, time_range_s: tuple[float, float]) -> None:
    """Fill OBSERVATION with one row (LOG and SCHEDULE left undefined, as CASA leaves them)."""
    cols = {
        "TIME_RANGE": np.array([time_range_s], dtype=float), "TELESCOPE_NAME": [telescope],
        "OBSERVER": ["dsa110_ws demo"], "PROJECT": ["dsa110_ws_demo"], "SCHEDULE_TYPE": [""],
        "RELEASE_DATE": float(time_range_s[0]), "FLAG_ROW": False,
    }  # fmt: skip
    fill_subtable(path, "OBSERVATION", 1, cols)


def _fill_ms_only_subtables(
    path: Path, n_ant: int, n_spw: int, correlations: Sequence[str], time_s: float
) -> None:
    """Fill POLARIZATION, DATA_DESCRIPTION and FEED (one feed per antenna, all spws)."""
    feeds = _feeds(correlations)
    product = np.array([[feeds.index(c[0]), feeds.index(c[1])] for c in correlations], np.int32)
    corr_type = np.array([[CORR_CODES[c] for c in correlations]], np.int32)
    pol = {"CORR_TYPE": corr_type, "CORR_PRODUCT": product[None], "NUM_CORR": len(correlations)}
    fill_subtable(path, "POLARIZATION", 1, {**pol, "FLAG_ROW": False})
    ddesc = {"SPECTRAL_WINDOW_ID": np.arange(n_spw, dtype=np.int32), "POLARIZATION_ID": 0}
    fill_subtable(path, "DATA_DESCRIPTION", n_spw, {**ddesc, "FLAG_ROW": False})
    nf = len(feeds)
    feed = {
        "ANTENNA_ID": np.arange(n_ant, dtype=np.int32), "FEED_ID": 0, "BEAM_ID": -1,
        "SPECTRAL_WINDOW_ID": -1, "NUM_RECEPTORS": nf, "TIME": time_s, "INTERVAL": 0.0,
        "POSITION": np.zeros((n_ant, 3)), "BEAM_OFFSET": np.zeros((n_ant, nf, 2)),
        "RECEPTOR_ANGLE": np.zeros((n_ant, nf)),
        "POL_RESPONSE": np.tile(np.eye(nf, dtype=np.complex64), (n_ant, 1, 1)),
    }  # fmt: skip
    fill_subtable(path, "FEED", n_ant, feed, {"POLARIZATION_TYPE": [feeds] * n_ant})


def _feeds(correlations: Sequence[str]) -> list[str]:
    """Receptor names in correlation order, e.g. ``['X', 'Y']`` or ``['R', 'L']``."""
    order = "XYRL"
    return sorted({c[0] for c in correlations} | {c[1] for c in correlations}, key=order.index)


def _main_desc() -> dict:
    """Table description overriding DATA and FLAG to tiled storage, as CASA writes them."""
    from casacore import tables

    data = tables.makearrcoldesc(
        "DATA", 0j, ndim=2, valuetype="complex", comment="The data column",
        datamanagertype="TiledShapeStMan", datamanagergroup="TiledData",
    )  # fmt: skip
    flag = tables.makearrcoldesc(
        "FLAG", False, ndim=2, valuetype="boolean",
        comment="The data flags, array of bools with same shape as data",
        datamanagertype="TiledShapeStMan", datamanagergroup="TiledFlag",
    )  # fmt: skip
    return tables.maketabdesc([data, flag])


@contextlib.contextmanager
def atomic_table_dir(path: Path) -> Iterator[Path]:
    """Yield a temporary sibling directory to write a table into; on success move it onto
    ``path`` (replacing an old table), on failure delete it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if path.exists():
        shutil.rmtree(path)
    os.replace(tmp, path)


def _antenna_gains(
    rng: np.random.Generator, n_ant: int, times_s: np.ndarray, freqs: np.ndarray, n_feed: int
) -> np.ndarray:
    """Complex gains ``(n_times, n_ant, n_chan, n_feed)``: 2 % amplitude scatter, random phase
    offsets, delays of a few ns and phase drifts of a few degrees per 5 minutes."""
    amp = 1.0 + 0.02 * rng.standard_normal((n_ant, 1, n_feed))
    phase0 = rng.uniform(-np.pi, np.pi, (n_ant, 1, n_feed))
    delay_s = rng.normal(0.0, 2e-9, (n_ant, 1, n_feed))
    drift_rad_s = np.deg2rad(rng.normal(0.0, 3.0, (n_ant, 1, n_feed))) / 300.0
    dt = (times_s - times_s[0])[:, None, None, None]
    dnu = (freqs - freqs.mean())[:, None]
    gains = amp * np.exp(1j * (phase0 + 2 * np.pi * delay_s * dnu + drift_rad_s * dt))
    return gains.astype(np.complex64)


def _simulate_spw(rng, gains, a1, a2, corr_feeds, opts) -> tuple[np.ndarray, np.ndarray]:
    """DATA ``(n_t, n_bl, n_chan, n_corr)`` complex64 and FLAG (bool) for one spw."""
    p_idx, q_idx = corr_feeds
    g1, g2 = gains[:, a1][..., p_idx], gains[:, a2][..., q_idx]
    parallel, auto = p_idx == q_idx, (a1 == a2)[None, :, None, None]
    flux = opts["source_flux_jy"]
    model = np.where(parallel, g1 * np.conj(g2) * flux, 0.0)
    model = np.where(auto & parallel, np.abs(g1) ** 2 * (flux + _AUTO_LEVEL), model)
    bad = opts["bad_antenna"]
    bad_rows = np.zeros(a1.shape, bool) if bad is None else (a1 == bad) | (a2 == bad)
    model[:, bad_rows] = 0.0  # a dead antenna correlates only noise
    noise = opts["noise_jy"] * rng.standard_normal((2,) + model.shape, dtype=np.float32)
    data = model + noise[0] + 1j * np.where(auto & parallel, 0.0, noise[1])  # autos are real
    flag = np.zeros(model.shape, bool)
    flag[:, bad_rows] = True
    if opts["bad_channels"] is not None:
        flag[:, :, opts["bad_channels"], :] = True
    if opts["rfi_fraction"] > 0:
        flag |= (rng.random(model.shape[:3]) < opts["rfi_fraction"])[..., None]
    return data.astype(np.complex64), flag


def _put_blocks(ms, column: str, per_spw: list[np.ndarray]) -> None:
    """Write per-spw ``(n_t, n_bl, ...)`` arrays in row order time, spw, baseline."""
    if len({a.shape for a in per_spw}) == 1:
        stacked = np.stack(per_spw, axis=1)
        ms.putcol(column, stacked.reshape((-1,) + stacked.shape[3:]))
        return
    n_t, n_bl = per_spw[0].shape[:2]
    for t in range(n_t):
        for s, arr in enumerate(per_spw):
            ms.putcol(column, arr[t], startrow=(t * len(per_spw) + s) * n_bl, nrow=n_bl)


def _write_main(ms, times, a1, a2, uvw, data, flags, opts) -> np.ndarray:
    """Fill the main table; returns the SCAN_NUMBER of every row."""
    n_t, n_spw, n_bl = times.size, len(data), a1.size
    n_rows = n_t * n_spw * n_bl
    ms.addrows(n_rows)
    t_idx = np.repeat(np.arange(n_t), n_spw * n_bl)
    scans = 1 + t_idx // (opts["scan_length_integrations"] or n_t)
    ints = {
        "ANTENNA1": np.tile(a1, n_t * n_spw), "ANTENNA2": np.tile(a2, n_t * n_spw),
        "DATA_DESC_ID": np.tile(np.repeat(np.arange(n_spw), n_bl), n_t), "SCAN_NUMBER": scans,
        "FIELD_ID": 0, "OBSERVATION_ID": 0, "ARRAY_ID": 0, "PROCESSOR_ID": -1, "STATE_ID": -1,
        "FEED1": 0, "FEED2": 0,
    }  # fmt: skip
    for col, value in ints.items():
        ms.putcol(col, np.broadcast_to(np.asarray(value, np.int32), (n_rows,)).copy())
    for col in ("TIME", "TIME_CENTROID"):
        ms.putcol(col, times[t_idx])
    for col in ("INTERVAL", "EXPOSURE"):
        ms.putcol(col, np.full(n_rows, float(opts["integration_s"])))
    ms.putcol("UVW", np.repeat(uvw, n_spw, axis=0).reshape(n_rows, 3))
    ms.putcolkeyword("UVW", "MEASINFO", {"type": "uvw", "Ref": "J2000"})
    sigma = np.full((n_rows, data[0].shape[-1]), opts["noise_jy"], np.float32)
    ms.putcol("SIGMA", sigma)
    ms.putcol("WEIGHT", 1.0 / sigma**2)
    _put_blocks(ms, "DATA", data)
    _put_blocks(ms, "FLAG", flags)
    ms.putcol("FLAG_ROW", np.stack([f.all(axis=(2, 3)) for f in flags], axis=1).reshape(-1))
    return scans


def _inject_rfi(
    data: list[np.ndarray], flags: list[np.ndarray], rfi: Sequence[tuple], cross: np.ndarray
) -> None:
    """Add each burst's signal to the cross-correlations it covers and flag them."""
    for spw, chans, ints, amplitude in rfi:
        signal = np.complex64(amplitude * (1 + 1j) / np.sqrt(2))
        block = data[spw][ints, :, chans, :]
        block[:, cross] += signal
        data[spw][ints, :, chans, :] = block
        f = flags[spw][ints, :, chans, :]
        f[:, cross] = True
        flags[spw][ints, :, chans, :] = f


def _flag_truth(flags: list[np.ndarray], a1, a2, names: Sequence[str]) -> dict[str, Any]:
    """Flag statistics from per-spw FLAG arrays ``(n_t, n_bl, n_chan, n_corr)``."""
    cross = a1 != a2
    n_flag, n_vis = sum(int(f.sum()) for f in flags), sum(f.size for f in flags)
    n_flag_x = sum(int(f[:, cross].sum()) for f in flags)
    n_vis_x = sum(f[:, cross].size for f in flags)
    per_ant, fully = {}, []
    for ant, name in enumerate(names):
        touch = (a1 == ant) | (a2 == ant)
        flagged = sum(int(f[:, touch].sum()) for f in flags)
        total = sum(f[:, touch].size for f in flags)
        if total:
            per_ant[name] = flagged / total
            fully += [name] if flagged == total else []
    return {
        "n_visibilities": n_vis, "n_flagged": n_flag, "flag_fraction": n_flag / n_vis,
        "flag_fraction_cross": n_flag_x / n_vis_x if n_vis_x else float("nan"),
        "flag_fraction_per_antenna": per_ant,
        "flag_fraction_per_spw": [int(f.sum()) / f.size for f in flags],
        "antennas_fully_flagged": fully,
    }  # fmt: skip


def write_ms(
    path: str | os.PathLike[str],
    *,
    antenna_names: Sequence[str],
    antenna_itrf_m: np.ndarray,
    times_mjd_s: np.ndarray,
    integration_s: float,
    spw_freqs_hz: Sequence[np.ndarray],
    field_name: str,
    field_ra_deg: float,
    field_dec_deg: float,
    rng: np.random.Generator,
    correlations: Sequence[str] = ("XX", "YY"),
    include_autos: bool = True,
    bad_antenna: int | None = None,
    missing_antenna: int | None = None,
    bad_channels: slice | None = None,
    rfi_fraction: float = 0.0,
    rfi: Sequence[tuple[int, slice, slice, float]] = (),
    scan_length_integrations: int | None = None,
    spw_chan_widths_hz: Sequence[float | None] | None = None,
    source_flux_jy: float = 1.0,
    noise_jy: float = 0.05,
    telescope: str = "DSA_110",
) -> dict[str, Any]:
    """Write a Measurement Set with one field, a point source at its centre and known flags.

    Rows are ordered by time, then spw, then baseline (``ant1 <= ant2``). DATA holds
    ``g_i conj(g_j) S + noise`` with per-antenna gains ``g`` (phases, ns delays, slow drifts).

    Parameters
    ----------
    path : str or os.PathLike
        MS directory; written under a temporary sibling name, then renamed (replacing an old one).
    antenna_names : sequence of str
        Antenna names, one per ANTENNA row.
    antenna_itrf_m : numpy.ndarray
        ``(n_ant, 3)`` ITRF positions, metres.
    times_mjd_s : numpy.ndarray
        Integration centres, seconds of MJD (UTC), as DSA-110 writes TIME.
    integration_s : float
        Integration time (INTERVAL, EXPOSURE), seconds.
    spw_freqs_hz : sequence of numpy.ndarray
        Channel centre frequencies per spectral window, Hz.
    field_name : str
        FIELD name.
    field_ra_deg, field_dec_deg : float
        Phase centre, J2000 degrees.
    rng : numpy.random.Generator
        Generator for gains, noise and random flags.
    correlations : sequence of str, optional
        Correlation names among ``CORR_CODES``.
    include_autos : bool, optional
        Write autocorrelation rows.
    bad_antenna : int or None, optional
        Antenna index whose every row is fully flagged (and holds noise only).
    missing_antenna : int or None, optional
        Antenna index listed in ANTENNA but without rows in the main table.
    bad_channels : slice or None, optional
        Channels flagged in every row of every spw.
    rfi_fraction : float, optional
        Probability of a random flag per (row, channel), all correlations together.
    rfi : sequence of (spw, channels, integrations, amplitude), optional
        Injected interference: ``amplitude`` (Jy, real and imaginary parts each
        ``amplitude / sqrt 2``) added to every cross-correlation of those channels and
        integrations (slices) of that spw, which are then flagged, as a flagger would.
    scan_length_integrations : int or None, optional
        SCAN_NUMBER (from 1) increments every this many integrations; None means one scan.
    spw_chan_widths_hz : sequence of float or None, optional
        Channel width per spw, Hz; default is the channel spacing (required for 1-channel spws).
    source_flux_jy, noise_jy : float, optional
        Point-source flux and per-component visibility noise (also SIGMA), Jy.
    telescope : str, optional
        OBSERVATION TELESCOPE_NAME.

    Returns
    -------
    dict
        Truth computed from the written arrays: ``path``, ``n_rows``, ``n_antennas``,
        ``n_antennas_with_data`` (distinct ANTENNA1/ANTENNA2), ``antenna_names``, ``n_baselines``,
        ``n_integrations``, ``fields`` [{name, ra_deg, dec_deg}], ``spws`` [{n_channels,
        freq_min_hz, freq_max_hz, ref_frequency_hz, chan_width_hz}], ``time_start_mjd``,
        ``time_end_mjd`` (first/last TIME / 86400, UTC), ``integration_s``, ``scans``,
        ``correlations``, ``corr_types``, ``telescope``, ``uvw_max_m``, ``n_visibilities``,
        ``n_flagged``, ``flag_fraction``, ``flag_fraction_cross``, ``flag_fraction_per_antenna``
        ({name: fraction over rows touching it}), ``flag_fraction_per_spw``,
        ``antennas_fully_flagged``.
    """
    from casacore import tables

    path, names = Path(path), list(antenna_names)
    itrf, times = np.asarray(antenna_itrf_m, float), np.asarray(times_mjd_s, float)
    freqs = [np.asarray(f, dtype=float) for f in spw_freqs_hz]
    widths = list(spw_chan_widths_hz) if spw_chan_widths_hz is not None else [None] * len(freqs)
    unknown = [c for c in correlations if c not in CORR_CODES]
    if unknown or itrf.shape != (len(names), 3):
        raise ValueError(f"write_ms: bad correlations {unknown} or positions shape {itrf.shape}")
    a1, a2 = np.triu_indices(len(names), 0 if include_autos else 1)
    keep = (a1 != missing_antenna) & (a2 != missing_antenna)
    a1, a2 = a1[keep], a2[keep]
    opts = {
        "source_flux_jy": source_flux_jy, "noise_jy": noise_jy, "bad_antenna": bad_antenna,
        "bad_channels": bad_channels, "rfi_fraction": rfi_fraction,
        "scan_length_integrations": scan_length_integrations, "integration_s": integration_s,
    }  # fmt: skip
    feeds = _feeds(correlations)
    corr_feeds = tuple(np.array([feeds.index(c[k]) for c in correlations]) for k in (0, 1))
    sims = [
        _simulate_spw(rng, _antenna_gains(rng, len(names), times, f, len(feeds)), a1, a2,
                      corr_feeds, opts) for f in freqs
    ]  # fmt: skip
    data, flags = [s[0] for s in sims], [s[1] for s in sims]
    _inject_rfi(data, flags, rfi, a1 != a2)
    uvw = baseline_uvw(itrf, a1, a2, times, field_ra_deg, field_dec_deg)

    with atomic_table_dir(path) as tmp, tables.default_ms(str(tmp), _main_desc()) as ms:
        fill_antenna(tmp, names, itrf)
        fill_spectral_window(tmp, freqs, widths)
        fill_field(tmp, field_name, field_ra_deg, field_dec_deg, float(times[0]))
        half = integration_s / 2
        fill_observation(tmp, telescope, (times[0] - half, times[-1] + half))
        _fill_ms_only_subtables(tmp, len(names), len(freqs), correlations, float(times[0]))
        scans = _write_main(ms, times, a1, a2, uvw, data, flags, opts)

    spws = [
        {"n_channels": int(f.size), "freq_min_hz": float(f.min()), "freq_max_hz": float(f.max()),
         "ref_frequency_hz": float(f[0]), "chan_width_hz": channel_widths(f, w)}
        for f, w in zip(freqs, widths, strict=True)
    ]  # fmt: skip
    return {
        "path": str(path), "n_rows": int(scans.size), "n_antennas": len(names),
        "n_antennas_with_data": int(np.union1d(a1, a2).size), "antenna_names": names,
        "n_baselines": int(a1.size), "n_integrations": int(times.size),
        "fields": [{"name": field_name, "ra_deg": float(field_ra_deg) % 360.0,
                    "dec_deg": float(field_dec_deg)}],
        "spws": spws, "time_start_mjd": float(times[0] / 86400.0),
        "time_end_mjd": float(times[-1] / 86400.0), "integration_s": float(integration_s),
        "scans": sorted({int(s) for s in scans}), "correlations": list(correlations),
        "corr_types": [CORR_CODES[c] for c in correlations], "telescope": telescope,
        "uvw_max_m": float(np.sqrt((uvw[..., :2] ** 2).sum(-1)).max()),
        **_flag_truth(flags, a1, a2, names),
    }  # fmt: skip
