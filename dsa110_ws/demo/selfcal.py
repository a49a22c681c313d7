"""A demo self-calibration gain table: smooth gains over a snapshot, one antenna noisy.

Self-calibration solves gains on the target field itself at a short solution interval, so a
good antenna's gains drift slowly from one solution to the next while a bad one (a loose
connector, a dish off source) jumps about.  The table is a real CASA G Jones table (CPARAM,
SNR, FLAG...) with one extra per-solution column, CHI2 (the fit's reduced chi-squared, which
some self-calibration tools store; CASA's own tables have none).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["write_selfcal_table", "SELFCAL_SOLINT_S", "NOISY"]

SELFCAL_SOLINT_S = 10.0
#: The noisy antenna's gain scatter from one solution to the next: amplitude (fraction), phase
#: (deg); a good antenna's is 1/SNR (SNR ~ 60: ~1.7 % and ~1 deg) plus a slow drift.
NOISY = {"amp_scatter": 0.2, "phase_scatter_deg": 30.0, "snr": 4.0, "chi2": 6.0}


def write_selfcal_table(
    path: Path,
    *,
    layout: tuple,
    start_mjd_s: float,
    duration_s: float,
    noisy_antenna: int,
    field: tuple[str, float, float],
    ms_name: str,
    seed: int,
) -> dict[str, Any]:
    """Write the table; returns its truth (path, noisy antenna name, solutions, solint)."""
    from dsa110_ws.demo.cal_writer import write_caltable
    from dsa110_ws.demo.products import spw_freqs

    rng = np.random.default_rng(seed)
    names, itrf, _ = layout
    n_ant, n_corr = len(names), 2
    freqs = [f[len(f) // 2 : len(f) // 2 + 1] for f in spw_freqs()]
    n_spw = len(freqs)
    n_t = max(2, int(duration_s // SELFCAL_SOLINT_S))
    t = SELFCAL_SOLINT_S * (np.arange(n_t) + 0.5)
    shape = (n_t, n_spw, n_ant, n_corr)
    tt = t[:, None, None, None]
    snr = rng.uniform(40.0, 80.0, shape)
    amp = 1.0 + 0.03 * np.sin(2 * np.pi * tt / 600.0 + rng.uniform(0, 2 * np.pi, (1, 1, n_ant, 1)))
    phase = (
        rng.uniform(-180, 180, (1, n_spw, n_ant, n_corr))
        + rng.normal(0, 20, (1, 1, n_ant, 1)) * tt / 300
    )
    amp = amp * (1 + rng.standard_normal(shape) / snr)
    phase = phase + np.degrees(rng.standard_normal(shape) / snr)
    noisy = np.s_[:, :, noisy_antenna, :]
    amp[noisy] = 1.0 + NOISY["amp_scatter"] * rng.standard_normal(amp[noisy].shape)
    phase[noisy] = phase[noisy] + NOISY["phase_scatter_deg"] * rng.standard_normal(
        phase[noisy].shape
    )
    snr[noisy] = NOISY["snr"] * rng.uniform(0.8, 1.2, snr[noisy].shape)
    phase = phase - phase[:, :, :1]  # reference antenna 0: phase 0
    params = (amp * np.exp(1j * np.radians(phase))).reshape(-1, 1, n_corr)
    chi2 = rng.normal(1.0, 0.1, shape)
    chi2[noisy] = NOISY["chi2"] * rng.uniform(0.8, 1.2, chi2[noisy].shape)
    name, ra, dec = field
    written = write_caltable(
        path,
        vis_cal="G Jones",
        par_type="Complex",
        times_mjd_s=start_mjd_s + t,
        antenna_names=names,
        antenna_itrf_m=itrf,
        spw_freqs_hz=freqs,
        params=params,
        flags=np.zeros(params.shape, bool),
        snr=snr.reshape(params.shape),
        refant=0,
        field_name=name,
        field_ra_deg=ra,
        field_dec_deg=dec,
        ms_name=ms_name,
        interval_s=SELFCAL_SOLINT_S,
        extra_columns={"CHI2": chi2.reshape(params.shape).astype(np.float32)},
    )
    return {
        "path": str(path),
        "ms_path": ms_name,
        "noisy_antenna": names[noisy_antenna],
        "n_times": n_t,
        "solint_s": SELFCAL_SOLINT_S,
        "n_antennas": n_ant,
        "table_type": written["table_type"],
        "noisy": dict(NOISY),
    }
