"""w.qa.gains: per-antenna SNR, chi-squared and smoothness of successive solutions, against
the demo's self-cal table (one noisy antenna, truth.json), its regular tables, the real CASA
bandpass table, and an independent numpy computation from the table's columns."""

from __future__ import annotations

import json

import numpy as np
import pytest
from casacore import tables

import dsa110_ws


def _direct_jitter(path, axis):
    """Per antenna (amp_jitter, phase_jitter_deg, snr_median) from the columns, with plain
    loops: neighbouring solutions along ``axis``, both unflagged."""
    with tables.table(str(path), ack=False) as t:
        g, f = t.getcol("CPARAM").astype(complex), t.getcol("FLAG")
        ant, spw, time, snr = (
            t.getcol(c) for c in ("ANTENNA1", "SPECTRAL_WINDOW_ID", "TIME", "SNR")
        )
    out = {}
    for a in np.unique(ant):
        d_amp, d_ph = [], []
        rows = np.flatnonzero(ant == a)
        if axis == "time":
            for s in np.unique(spw[rows]):
                r = rows[spw[rows] == s]
                r = r[np.argsort(time[r])]
                for c in range(g.shape[1]):
                    for p in range(g.shape[2]):
                        for i, j in zip(r[:-1], r[1:], strict=True):
                            if not (f[i, c, p] or f[j, c, p]):
                                d_amp.append(abs(g[j, c, p]) - abs(g[i, c, p]))
                                d_ph.append(np.angle(g[j, c, p] / g[i, c, p]))
        else:
            for r in rows:
                for c in range(g.shape[1] - 1):
                    for p in range(g.shape[2]):
                        if not (f[r, c, p] or f[r, c + 1, p]):
                            d_amp.append(abs(g[r, c + 1, p]) - abs(g[r, c, p]))
                            d_ph.append(np.angle(g[r, c + 1, p] / g[r, c, p]))
        good = ~f[rows]
        if not d_amp:
            out[int(a)] = (np.nan, np.nan, np.nan)
            continue
        med = np.median(np.abs(g[rows][good]))
        out[int(a)] = (
            np.sqrt(np.mean(np.square(d_amp)) / 2) / med,
            np.degrees(np.sqrt(np.mean(np.square(d_ph)) / 2)),
            np.median(snr[rows][good]),
        )
    return out


def test_selfcal_table_names_its_noisy_antenna(ws, truth):
    sc = truth["selfcal"]
    r = ws.qa.gains(sc["path"])
    assert r.axis == "time" and r.has_chi2 and r.table_type == "2G"
    assert r.noisy_antennas == (sc["noisy_antenna"],)
    assert r.grade == "warning"
    for metric in ("amp_jitter", "phase_jitter_deg", "antenna_chi2", "noisy_antennas"):
        c = r.check(metric)
        assert c.verdict == "warn" and sc["noisy_antenna"] in c.reason, (metric, c.reason)
    assert r.check("antenna_snr").verdict == "pass"  # SNR ~4 passes the SNR floor of 3
    row = r.per_antenna.set_index("name").loc[sc["noisy_antenna"]]
    assert row["phase_jitter_deg"] == pytest.approx(sc["noisy"]["phase_scatter_deg"], rel=0.25)
    assert row["amp_jitter"] == pytest.approx(sc["noisy"]["amp_scatter"], rel=0.25)
    assert row["chi2_median"] == pytest.approx(sc["noisy"]["chi2"], rel=0.2)
    quiet = r.per_antenna[r.per_antenna["name"] != sc["noisy_antenna"]]
    assert (quiet["phase_jitter_deg"] < 5).all() and (quiet["amp_jitter"] < 0.05).all()


def test_metrics_equal_a_direct_computation(ws, truth):
    path = truth["selfcal"]["path"]
    r = ws.qa.gains(path).per_antenna.set_index("antenna")
    for a, (amp, phase, snr) in _direct_jitter(path, "time").items():
        assert r.loc[a, "amp_jitter"] == pytest.approx(amp, rel=1e-6)  # complex64 cells
        assert r.loc[a, "phase_jitter_deg"] == pytest.approx(phase, rel=1e-9, abs=1e-9)
        assert r.loc[a, "snr_median"] == pytest.approx(snr, rel=1e-6)


def test_the_demo_sets_have_no_noisy_antenna(ws, truth):
    for t in truth["calibration"]["caltables"][:8]:
        r = ws.qa.gains(t["path"])
        assert r.noisy_antennas == () and r.grade == "good", (t["path"], r.reasons)
        assert r.axis == {"K": None, "BP": "channel", "GA": "time", "GP": "time"}[t["table_type"]]


def test_thresholds_come_from_qa_cal(ws, truth):
    path = truth["selfcal"]["path"]
    strict = ws.qa.gains(path, thresholds={"gain_phase_jitter_max_deg": 0.5})
    assert len(strict.noisy_antennas) > 1
    lenient = ws.qa.gains(
        path,
        thresholds={"gain_phase_jitter_max_deg": 90, "gain_amp_jitter_max": 1, "gain_chi2_max": 10},
    )
    assert lenient.noisy_antennas == () and lenient.grade == "good"
    assert lenient.check("phase_jitter_deg").threshold == 90


def test_json_round_trip_and_cache(ws, truth):
    path = truth["selfcal"]["path"]
    first = ws.qa.gains(path, use_cache=False)
    d = first.to_dict()
    json.dumps(d, allow_nan=False)
    assert {"axis", "noisy_antennas", "checks", "per_antenna", "grade"} <= set(d)
    again = ws.qa.gains(path)  # from the cache
    assert again.noisy_antennas == first.noisy_antennas and again.checks == first.checks


def test_plot_marks_the_noisy_antenna(ws, truth):
    import matplotlib.pyplot as plt

    sc = truth["selfcal"]
    ax = ws.qa.plot_gains(sc["path"], y="phase")
    try:
        red = [line for line in ax.get_lines() if line.get_color() == "#cf222e"]
        assert len(red) == 1 and red[0].get_label() == f"{sc['noisy_antenna']} (noisy)"
        assert len(ax.get_lines()) == sc["n_antennas"]
        assert ax.get_xlabel().startswith("time")
    finally:
        plt.close(ax.figure)


def test_the_casa_bandpass_table(demo_dir, casa_samples, state_dir):
    """NGC 5921's bandpass (one solution per antenna): smoothness along the 63 channels,
    antenna 23 without data left out, no CHI2 column, the reference antenna's phases 0."""
    w = dsa110_ws.connect(
        demo_dir / "settings.toml", state_dir=state_dir, data_roots=[str(casa_samples)]
    )
    path = casa_samples / "vla_ngc5921_bandpass.B0"
    try:
        r = w.qa.gains(path)
        assert r.axis == "channel" and not r.has_chi2 and r.n_antennas == 28
        assert r.noisy_antennas == () and r.grade == "good"
        per = r.per_antenna.set_index("antenna")
        direct = _direct_jitter(path, "channel")
        for a, (amp, phase, snr) in direct.items():
            if np.isnan(amp):
                assert np.isnan(per.loc[a, "amp_jitter"]) and per.loc[a, "n_pairs"] == 0
                continue
            assert per.loc[a, "amp_jitter"] == pytest.approx(amp, rel=1e-6)  # complex64 cells
            assert per.loc[a, "phase_jitter_deg"] == pytest.approx(phase, rel=1e-9, abs=1e-6)
            assert per.loc[a, "snr_median"] == pytest.approx(snr, rel=1e-6)
        assert per.set_index("name").loc["23", "n_pairs"] == 0  # the antenna without data
        assert per.set_index("name").loc["15", "phase_jitter_deg"] < 1e-5  # refant '15'
    finally:
        w.close()
