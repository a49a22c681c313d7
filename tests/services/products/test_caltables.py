"""w.cal and w.qa.cal: solve types in the registry's names, solutions, QA statistics against a
direct numpy computation on the written values, the demo truth and the real CASA table."""

from __future__ import annotations

import json
import shutil

import matplotlib
import numpy as np
import pytest
from casacore import tables  # a missing casacore must fail, not skip

import dsa110_ws
from dsa110_ws.demo.array_geometry import dsa110_layout
from dsa110_ws.demo.cal_writer import (
    make_bandpass_solutions,
    make_delay_solutions,
    make_gain_solutions,
    write_caltable,
)
from dsa110_ws.errors import (
    DataUnavailableError,
    InvalidQueryError,
    NotFoundError,
    NotPermittedError,
)
from dsa110_ws.services.products.caltables import REGISTRY_TYPES

matplotlib.use("Agg")

WIDTH = 0.244140625e6 * 8
SPWS = [1.311e9 + WIDTH * np.arange(16), 1.405e9 + WIDTH * np.arange(16)]


def _write(root, name, sol, *, n_ant=6, spws=None, n_times=1):
    names, itrf, _ = dsa110_layout(n_ant, seed=3)
    freqs = spws or [f[:1] for f in SPWS]
    truth = write_caltable(
        root / name,
        vis_cal=sol["vis_cal"],
        par_type=sol["par_type"],
        times_mjd_s=61000.2 * 86400 + 60.0 * np.arange(n_times),
        antenna_names=names,
        antenna_itrf_m=itrf,
        spw_freqs_hz=freqs,
        params=sol["params"],
        flags=sol["flags"],
        snr=sol["snr"],
        refant=0,
        field_name="3C286",
        field_ra_deg=202.78,
        field_dec_deg=30.51,
        ms_name="x.ms",
    )
    return root / name, truth


def _direct(params, flags, snr):
    """The QA statistics computed directly with numpy on the written arrays (standard
    deviations with N - 1, as casacore's statistics and CASA's calstat)."""
    good = ~flags
    amp = np.abs(params[good].astype(complex))
    phase = np.angle(params[good].astype(complex))
    r = np.abs(np.mean(np.exp(1j * phase)))
    return {
        "amp_median": np.median(amp),
        "amp_std": np.std(amp, ddof=1),
        "amp_mad": np.median(np.abs(amp - np.median(amp))),
        "phase_median_deg": np.median(np.degrees(phase)),
        "phase_scatter_all_deg": np.degrees(np.sqrt(-2 * np.log(r))),
        "snr_median": np.median(snr[good]),
        "flag_fraction": flags.mean(),
    }


def test_solve_types_use_the_registry_names(workspace, truth):
    """DESIGN section 5: the old backend's caltable type names never matched the registry's."""
    registry = workspace.repos.caltables.find(limit=None)
    seen = set()
    for row in registry.itertuples():
        if row.status != "active":
            continue
        assert workspace.cal.solve_type(row.path) == row.table_type
        seen.add(row.table_type)
    assert seen == {"K", "BP", "GA", "GP"} and seen <= set(REGISTRY_TYPES)
    for t in truth["calibration"]["caltables"]:
        assert workspace.cal.load(t["path"]).table_type == t["table_type"]


def test_table_keywords_win_over_a_contradicting_suffix(scratch_ws, scratch_root, truth):
    bp = next(t["path"] for t in truth["calibration"]["caltables"] if t["table_type"] == "BP")
    shutil.copytree(bp, scratch_root / "mislabelled_kcal")
    shutil.copytree(bp, scratch_root / "night_bacal")
    shutil.copytree(bp, scratch_root / "bandpass.B0")
    assert scratch_ws.cal.solve_type(scratch_root / "mislabelled_kcal") == "BP"  # B Jones, not K
    assert scratch_ws.cal.solve_type(scratch_root / "night_bacal") == "BA"  # suffix refines B
    assert scratch_ws.cal.solve_type(scratch_root / "bandpass.B0") == "BP"


def test_unsuffixed_gain_tables_are_told_apart_by_their_solutions(scratch_ws, scratch_root):
    rng = np.random.default_rng(0)
    g = make_gain_solutions(3, 2, 6, rng=rng)
    phase_only = dict(g, params=np.exp(1j * np.angle(g["params"])))
    amp_only = dict(g, params=np.abs(g["params"]).astype(np.complex64))
    p1, _ = _write(scratch_root, "g_phase.G", phase_only, n_times=3)
    p2, _ = _write(scratch_root, "g_amp.G", amp_only, n_times=3)
    assert scratch_ws.cal.solve_type(p1) == "GP"
    assert scratch_ws.cal.solve_type(p2) == "GA"


def test_qa_statistics_equal_numpy_on_the_written_values(scratch_ws, scratch_root):
    rng = np.random.default_rng(11)
    bp = make_bandpass_solutions(1, SPWS, 6, flag_fraction=0.1, dead_antenna=4, rng=rng)
    path, t = _write(scratch_root, "set_bpcal", bp, spws=SPWS)
    r = scratch_ws.qa.cal(path)
    want = _direct(t["params"], t["flags"], t["snr"])
    for key, value in want.items():
        assert getattr(r, key) == pytest.approx(value, rel=1e-6, abs=1e-9), key
    assert r.n_solutions == t["n_solutions"] == 6 * 16 * 2 * 2
    assert r.n_flagged == int(t["flags"].sum())
    assert r.dead_antennas == (t["fully_flagged_antennas"][0],) == ("5",)
    assert r.table_type == "BP" and r.grade == "warning"
    per_ant = r.per_antenna.set_index("name")
    for name, frac in t["flag_fraction_per_antenna"].items():
        assert per_ant.loc[name, "flag_fraction"] == pytest.approx(frac)
    assert r.per_spw["flag_fraction"].tolist() == pytest.approx(t["flag_fraction_per_spw"])
    # phase scatter about each antenna's own mean, per spw and correlation
    good = ~t["flags"]
    p64 = t["params"].astype(complex)
    z = np.where(good, np.exp(1j * np.angle(p64)), 0)
    ant = np.arange(t["params"].shape[0]) % 6
    spw = np.arange(t["params"].shape[0]) // 6
    resid = []
    for a in range(6):
        for s in range(2):
            rows = (ant == a) & (spw == s)
            for c in range(2):
                mean = np.angle(z[rows, :, c].sum())
                resid.append(np.angle(p64[rows, :, c])[good[rows, :, c]] - mean)
    r_within = np.abs(np.mean(np.exp(1j * np.concatenate(resid))))
    assert r.phase_scatter_deg == pytest.approx(
        np.degrees(np.sqrt(-2 * np.log(r_within))), rel=1e-6
    )


def test_delay_table_statistics(scratch_ws, scratch_root):
    k = make_delay_solutions(1, 2, 6, flag_fraction=0.2, rng=np.random.default_rng(5))
    path, t = _write(scratch_root, "set_kcal", k)
    r = scratch_ws.qa.cal(path)
    good = ~t["flags"]
    assert r.table_type == "K" and r.amp_median is None and r.phase_scatter_deg is None
    assert r.delay_median_ns == pytest.approx(float(np.median(t["params"][good])))
    assert r.delay_std_ns == pytest.approx(float(np.std(t["params"][good].astype(float), ddof=1)))
    assert r.delay_max_abs_ns == pytest.approx(float(np.abs(t["params"][good]).max()))
    assert r.flag_fraction == t["flag_fraction"]
    assert "delay_median_ns" in r.per_antenna


def test_phases_near_180_do_not_split(scratch_ws, scratch_root):
    g = make_gain_solutions(4, 1, 6, rng=np.random.default_rng(2))
    phase = np.radians(179.0 + np.random.default_rng(3).normal(0, 2.0, g["params"].shape))
    path, _ = _write(
        scratch_root,
        "wrap_gpcal",
        dict(g, params=np.exp(1j * phase)),
        spws=[SPWS[0][:1]],
        n_times=4,
    )
    r = scratch_ws.qa.cal(path)
    assert abs(abs(r.phase_median_deg) - 179.0) < 1.0  # not ~0, the linear median of +-180
    assert -180 <= r.phase_median_deg < 180
    # small scatter: the circular standard deviation equals the linear one of the unwrapped phases
    assert r.phase_scatter_all_deg == pytest.approx(np.degrees(np.std(phase)), rel=1e-3)


def test_demo_caltables_against_the_truth(workspace, truth):
    for t in truth["calibration"]["caltables"]:
        r = workspace.qa.cal(t["path"])
        assert r.flag_fraction == t["flag_fraction"] and r.n_solutions == t["n_solutions"]
        assert list(r.dead_antennas) == ([t["dead_antenna"]] if t["dead_antenna"] else [])
        w = t["writer"]
        assert r.snr_median == pytest.approx(w["snr_median"], rel=1e-6)
        if "amp_median" in w:
            assert r.amp_median == pytest.approx(w["amp_median"], rel=1e-6)
            assert r.phase_median_deg == pytest.approx(w["phase_median_deg"], abs=1e-5)
        expected = "warning" if t["flag_fraction"] > 0.3 or t["dead_antenna"] else "good"
        assert r.grade == expected, (t["path"], r.reasons)
    noisy = next(t for t in truth["calibration"]["caltables"] if t["flag_fraction"] > 0.3)
    c = workspace.qa.cal(noisy["path"]).check("flag_fraction")
    assert c.verdict == "warn" and c.threshold == 0.3 and c.value == noisy["flag_fraction"]


def test_every_solution_flagged_is_graded_bad(scratch_ws, scratch_root):
    g = make_gain_solutions(2, 1, 6, rng=np.random.default_rng(1))
    g["flags"][:] = True
    path, _ = _write(scratch_root, "dead_gacal", g, spws=[SPWS[0][:1]], n_times=2)
    r = scratch_ws.qa.cal(path)
    assert r.grade == "bad" and r.flag_fraction == 1.0
    assert "Every one of the 24 solutions is flagged" in r.reasons[0]
    assert r.amp_median is None and len(r.dead_antennas) == 6
    json.dumps(r.to_dict(), allow_nan=False)


def test_not_a_caltable_and_other_bad_inputs(scratch_ws, scratch_root, truth, tmp_path):
    ms = truth["measurement_sets"][0]["path"]
    for call in (scratch_ws.cal.load, scratch_ws.cal.solve_type, scratch_ws.qa.cal):
        with pytest.raises(DataUnavailableError, match="not a calibration table"):
            call(ms)
    (scratch_root / "flat_gpcal").write_text("nope")
    with pytest.raises(InvalidQueryError, match="is a file"):
        scratch_ws.qa.cal(scratch_root / "flat_gpcal")
    shutil.copytree(truth["calibration"]["caltables"][0]["path"], tmp_path / "away_kcal")
    (scratch_root / "link_kcal").symlink_to(tmp_path / "away_kcal")
    with pytest.raises(NotPermittedError):
        scratch_ws.qa.cal(scratch_root / "link_kcal")


def test_registry_row(workspace, truth):
    t = truth["calibration"]["caltables"][1]
    row = workspace.cal.registry_row(t["path"])
    assert (row.set_name, row.table_type, row.path) == (t["set_name"], "BP", t["path"])
    assert row.valid_start_mjd < row.valid_end_mjd and row.source_ms_path.endswith(".ms")
    with pytest.raises(NotFoundError):
        workspace.cal.registry_row(truth["measurement_sets"][0]["path"])


def test_solutions_record(workspace, truth):
    t = next(t for t in truth["calibration"]["caltables"] if t["table_type"] == "GA")
    sol = workspace.cal.load(t["path"])
    assert sol.values.shape == (120, 1, 2) and sol.n_solutions == t["n_solutions"]
    assert sol.antenna_names == tuple(str(i) for i in range(1, 11))
    assert len(np.unique(sol.time_mjd)) == 6 and sol.time_scale == "UTC"
    assert set(sol.refant) == {0} and sol.vis_cal == "G Jones"
    df = sol.to_frame()
    assert len(df) == sol.n_solutions and {"amp", "phase_deg", "flag", "snr"} <= set(df)
    assert df["phase_deg"].between(-180, 180, inclusive="left").all()


def test_plots(workspace, truth):
    import matplotlib.pyplot as plt

    by_type = {t["table_type"]: t["path"] for t in truth["calibration"]["caltables"]}
    axes = [
        workspace.cal.plot_delays(by_type["K"]),
        workspace.cal.plot_bandpass(by_type["BP"]),
        workspace.cal.plot_gains(by_type["GP"], y="phase", antennas=["2", "3"]),
        workspace.cal.plot(by_type["GA"]),
    ]
    try:
        assert axes[0].get_ylabel() == "delay (ns)"
        assert axes[1].get_xlabel() == "frequency (GHz)"
        assert len(axes[2].lines) == 2 * 2 * 2  # two antennas x two spws x two correlations
        assert {ln.get_label().split()[0] for ln in axes[2].lines} == {"2", "3"}
        for line in axes[1].lines:
            x = line.get_xdata()
            assert np.all(np.diff(x) > 0) and 1.3 < x.min() < x.max() < 1.44
    finally:
        for ax in axes:
            plt.close(ax.figure)


def test_real_casa_bandpass_table(demo_dir, casa_samples, state_dir):
    w = dsa110_ws.connect(
        demo_dir / "settings.toml", state_dir=state_dir, data_roots=[str(casa_samples)]
    )
    path = casa_samples / "vla_ngc5921_bandpass.B0"
    with tables.table(str(path), ack=False) as t:
        params, flags, snr = t.getcol("CPARAM"), t.getcol("FLAG"), t.getcol("SNR")
    try:
        assert w.cal.solve_type(path) == "BP"
        r = w.qa.cal(path)
        assert r.n_solutions == 28 * 63 * 2 and r.n_antennas == 28
        for key, value in _direct(params, flags, snr).items():
            assert getattr(r, key) == pytest.approx(value, rel=1e-6), key
        assert r.dead_antennas == ("23",)  # the one antenna without data
        sol = w.cal.load(path)
        assert {sol.antenna_names[a] for a in sol.refant} == {"15"}  # README: refant '15'
        assert sol.freq_hz[0].size == 63 and sol.ms_name == "ngc5921.ms"
        assert r.grade == "warning" and r.check("dead_antennas").verdict == "warn"
    finally:
        w.close()
