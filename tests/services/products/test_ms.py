"""w.ms against the demo's truth and MS written here: summary, chunked flag statistics,
quick-looks, antenna layout, caching and broken inputs."""

from __future__ import annotations

import json
import os
import shutil

import matplotlib
import numpy as np
import pytest
from casacore import tables  # a missing casacore must fail, not skip

from dsa110_ws.demo.array_geometry import OVRO_HEIGHT_M, OVRO_LAT_DEG, OVRO_LON_DEG, dsa110_layout
from dsa110_ws.demo.ms_writer import write_ms
from dsa110_ws.errors import DataUnavailableError, InvalidQueryError, NotPermittedError

matplotlib.use("Agg")

EXACT_KEYS = (
    "n_rows",
    "n_antennas",
    "n_antennas_with_data",
    "antenna_names",
    "time_start_mjd",
    "time_end_mjd",
    "integration_s",
    "scans",
    "correlations",
    "flag_fraction",
    "flag_fraction_cross",
    "flag_fraction_per_antenna",
)
WIDTH = 0.244140625e6 * 8


def _copy(src, root, name="copy.ms"):
    dst = root / name
    shutil.copytree(src, dst)
    return dst


def _write(root, name="own.ms", **kw):
    names, itrf, _ = dsa110_layout(6, seed=1)
    args = dict(
        antenna_names=names,
        antenna_itrf_m=itrf,
        times_mjd_s=61000.5 * 86400 + 10.0 * np.arange(8),
        integration_s=10.0,
        spw_freqs_hz=[1.30e9 + WIDTH * np.arange(8), 1.40e9 + WIDTH * np.arange(8)],
        field_name="F",
        field_ra_deg=200.0,
        field_dec_deg=-10.0,
        rng=np.random.default_rng(7),
    )
    args.update(kw)
    return root / name, write_ms(root / name, **args)


def test_summary_equals_what_the_generator_wrote(workspace, truth):
    for ms in truth["measurement_sets"][::10]:
        d = workspace.ms.summary(ms["path"]).to_dict()
        for key in EXACT_KEYS:
            assert d[key] == ms[key], key
        assert len(d["fields"]) == 1 and d["fields"][0]["name"] == ms["fields"][0]["name"]
        assert d["fields"][0]["ra_deg"] == pytest.approx(ms["fields"][0]["ra_deg"], abs=1e-9)
        assert d["fields"][0]["dec_deg"] == pytest.approx(ms["fields"][0]["dec_deg"], abs=1e-9)
        for got, want in zip(d["spws"], ms["spws"], strict=True):
            assert (got["n_channels"], got["freq_min_hz"], got["freq_max_hz"]) == (
                want["n_channels"],
                want["freq_min_hz"],
                want["freq_max_hz"],
            )
        assert d["time_scale"] == "UTC" and d["telescope"] == ms["telescope"]
        assert d["data_columns"] == ["DATA"] and d["warnings"] == []
        assert d["size_bytes"] == sum(
            p.stat().st_size
            for p in __import__("pathlib").Path(ms["path"]).rglob("*")
            if p.is_file() and p.name != "table.lock"
        )
        json.dumps(d, allow_nan=False)


def test_flag_stats_are_exact(workspace, truth):
    ms = truth["measurement_sets"][5]
    fs = workspace.ms.flag_stats(ms["path"])
    assert (fs.n_visibilities, fs.n_flagged) == (ms["n_visibilities"], ms["n_flagged"])
    assert fs.flag_fraction == ms["flag_fraction"]
    assert fs.flag_fraction_cross == ms["flag_fraction_cross"]
    assert fs.flag_fraction_per_antenna == ms["flag_fraction_per_antenna"]
    assert fs.per_spw["flag_fraction"].tolist() == ms["flag_fraction_per_spw"]
    assert list(fs.fully_flagged_antennas) == ms["antennas_fully_flagged"] == ["8"]
    chans = fs.per_channel
    assert set(chans.loc[chans["flag_fraction"] == 1.0, "channel"]) == {10, 11, 12}
    assert chans["freq_hz"].iloc[0] == ms["spws"][0]["freq_min_hz"]
    assert fs.per_scan["scan_number"].tolist() == ms["scans"]


def test_flag_stats_do_not_depend_on_the_chunk_size(scratch_ws, scratch_root):
    path, want = _write(
        scratch_root,
        rfi_fraction=0.1,
        bad_antenna=2,
        missing_antenna=4,
        bad_channels=slice(0, 2),
        scan_length_integrations=3,
    )
    results = [scratch_ws.ms.flag_stats(path, chunk_rows=n, use_cache=False) for n in (1, 7, 10**6)]
    assert [r.chunk_rows for r in results] == [1, 7, 10**6]
    for r in results:
        assert (r.n_flagged, r.flag_fraction, r.flag_fraction_cross) == (
            want["n_flagged"],
            want["flag_fraction"],
            want["flag_fraction_cross"],
        )
        assert r.flag_fraction_per_antenna == pytest.approx(
            want["flag_fraction_per_antenna"], abs=1e-15
        )
        pd_per_ant = r.per_antenna.set_index("name")
        assert pd_per_ant.loc["5", "n_visibilities"] == 0  # listed in ANTENNA, no rows
        assert r.per_scan["scan_number"].tolist() == want["scans"] == [1, 2, 3]
    s = scratch_ws.ms.summary(path)
    assert s.n_antennas == 6 and s.n_antennas_with_data == 5 == want["n_antennas_with_data"]


def test_flag_row_counts_as_flagged(scratch_ws, scratch_root, truth):
    path = _copy(truth["measurement_sets"][0]["path"], scratch_root)
    with tables.table(str(path), readonly=False, ack=False) as t:
        flag = t.getcol("FLAG")
        row = int(np.flatnonzero(~flag.all(axis=(1, 2)))[0])
        newly = int((~flag[row]).sum())
        t.putcell("FLAG_ROW", row, True)
    fs = scratch_ws.ms.flag_stats(path)
    assert fs.n_flagged == truth["measurement_sets"][0]["n_flagged"] + newly


def test_quicklook_frequency_is_ascending_and_flag_masked(scratch_ws, scratch_root):
    lsb = [1.45e9 - WIDTH * np.arange(8), 1.30e9 + WIDTH * np.arange(8)]  # spw 0 descending
    path, _ = _write(scratch_root, spw_freqs_hz=lsb, bad_channels=slice(1, 3))
    q = scratch_ws.ms.quicklook(path, x="frequency", y="amp")
    df = q.to_frame()
    for (_, spw), part in df.groupby(["correlation", "spw_id"]):
        assert part["x"].is_monotonic_increasing
        f = np.sort(lsb[spw])
        np.testing.assert_array_equal(part["x"], f)
        flagged_freqs = lsb[spw][1:3]
        assert set(part.loc[part["flagged"], "x"]) == set(flagged_freqs)
    assert set(df["correlation"]) == {"XX", "YY"}
    good = df.loc[~df["flagged"], "y"]
    assert good.between(0.8, 1.2).all()  # |g_i g_j| S with 2 % gain scatter, S = 1 Jy
    yy = scratch_ws.ms.quicklook(path, x="frequency", correlation="YY").to_frame()
    assert set(yy["correlation"]) == {"YY"}
    both = df[df["correlation"] == "YY"].reset_index(drop=True)
    np.testing.assert_allclose(yy["y"], both["y"])  # the YY spectrum, labelled YY
    # independent check of one channel: scalar mean of |V| over unflagged cross rows
    with tables.table(str(path), ack=False) as t:
        vis, flag = t.getcol("DATA"), t.getcol("FLAG")
        cross = t.getcol("ANTENNA1") != t.getcol("ANTENNA2")
        spw0 = t.getcol("DATA_DESC_ID") == 0
    sel = cross & spw0 & ~flag[:, 5, 1]
    want = np.abs(vis[sel, 5, 1]).mean()
    got = yy[(yy["spw_id"] == 0) & (yy["x"] == lsb[0][5])]["y"].item()
    assert got == pytest.approx(want, rel=1e-6)


def test_quicklook_time_and_baseline(workspace, truth):
    ms = truth["measurement_sets"][0]
    q = workspace.ms.quicklook(ms["path"], x="time", y="phase", correlation="YY")
    n_cross = ms["n_rows"] - ms["n_integrations"] * len(ms["spws"]) * ms["n_antennas"]
    assert q.x.size == n_cross and set(q.correlation) == {"YY"}
    assert q.x.min() == pytest.approx(ms["time_start_mjd"], abs=1e-9)
    assert q.x.max() == pytest.approx(ms["time_end_mjd"], abs=1e-9)
    ok = q.y.compressed()
    assert ok.min() >= -180 and ok.max() < 180
    n_bad = 9 * ms["n_integrations"] * len(ms["spws"])  # cross baselines of antenna '8'
    assert int(np.ma.getmaskarray(q.y).sum()) == n_bad
    b = workspace.ms.quicklook(ms["path"], x="baseline", include_autos=True)
    assert b.x.size == ms["n_rows"] * 2 and b.x.max() == pytest.approx(ms["uvw_max_m"], rel=1e-6)
    assert b.x.min() == 0.0  # autocorrelations
    limited = workspace.ms.quicklook(ms["path"], x="time", max_rows=100)
    assert limited.n_rows_read <= 100
    with pytest.raises(InvalidQueryError, match="No correlation"):
        workspace.ms.quicklook(ms["path"], correlation="RR")
    with pytest.raises(InvalidQueryError):
        workspace.ms.quicklook(ms["path"], x="uvwave")
    with pytest.raises(InvalidQueryError, match="CORRECTED_DATA"):
        workspace.ms.quicklook(ms["path"], column="CORRECTED_DATA")


def test_plots_return_axes(workspace, truth):
    import matplotlib.pyplot as plt

    ms = truth["measurement_sets"][0]["path"]
    for ax in (
        workspace.ms.plot_quicklook(ms, x="frequency"),
        workspace.ms.plot_antenna_layout(ms, mark=["8"]),
    ):
        assert ax.get_xlabel() and ax.get_ylabel()
        plt.close(ax.figure)


def test_antenna_layout_in_local_metres(workspace, truth):
    from astropy import units as u
    from astropy.coordinates import EarthLocation

    _, _, enu = dsa110_layout(10, seed=truth["seed"])
    ovro = EarthLocation.from_geodetic(
        OVRO_LON_DEG * u.deg, OVRO_LAT_DEG * u.deg, OVRO_HEIGHT_M * u.m
    )
    ms = truth["measurement_sets"][0]["path"]
    df = workspace.ms.antenna_layout(ms, reference=ovro)
    np.testing.assert_allclose(df[["east_m", "north_m"]].to_numpy(), enu, atol=1e-3)
    np.testing.assert_allclose(df["up_m"], 0.0, atol=1e-3)
    centroid = workspace.ms.antenna_layout(ms)
    assert centroid.attrs["reference"] == "centroid of the antennas"
    np.testing.assert_allclose(centroid["east_m"].mean(), 0.0, atol=1e-6)
    np.testing.assert_allclose(np.ptp(centroid["east_m"]), np.ptp(enu[:, 0]), rtol=1e-4)


def test_summary_is_cached_and_a_changed_ms_recomputed(scratch_ws, scratch_root, truth):
    path = _copy(truth["measurement_sets"][0]["path"], scratch_root)
    first = scratch_ws.ms.summary(path)
    assert scratch_ws.ms.summary(path) == first
    assert {"ms.summary", "ms.flags"} <= set(scratch_ws.cache.stats()["by_kind"])
    with tables.table(str(path), readonly=False, ack=False) as t:
        t.putcol("FLAG", np.ones_like(t.getcol("FLAG")))
    for p in path.rglob("table.f*"):  # coarse file-system clocks: make the change visible
        st = p.stat()
        os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert scratch_ws.ms.summary(path).flag_fraction == 1.0
    meta = scratch_ws.ms.summary(path, flags=False)
    assert meta.flag_fraction is None and meta.n_rows == first.n_rows


def test_metadata_only_summary_and_its_time_range(scratch_ws, scratch_root, truth):
    ms = truth["measurement_sets"][2]
    meta = scratch_ws.ms.summary(ms["path"], flags=False)
    assert meta.scans is None and meta.n_antennas_with_data is None and meta.flag_fraction is None
    assert (meta.time_start_mjd, meta.time_end_mjd) == (ms["time_start_mjd"], ms["time_end_mjd"])
    assert meta.integration_s == ms["integration_s"] and meta.n_rows == ms["n_rows"]
    assert meta.to_dict()["scans"] is None
    # rows out of time order: the sampled order check falls back to reading all of TIME
    path = _copy(ms["path"], scratch_root, "shuffled.ms")
    with tables.table(str(path), readonly=False, ack=False) as t:
        time = t.getcol("TIME")
        order = np.random.default_rng(0).permutation(time.size)
        t.putcol("TIME", time[order])
    shuffled = scratch_ws.ms.summary(path, flags=False)
    assert (shuffled.time_start_mjd, shuffled.time_end_mjd) == (
        ms["time_start_mjd"],
        ms["time_end_mjd"],
    )


def test_zero_row_ms_is_summarised_with_a_warning(scratch_ws, scratch_root, truth):
    path = scratch_root / "zero.ms"
    # a deep copy of no rows, subtables included
    with (
        tables.table(truth["measurement_sets"][0]["path"], ack=False) as t,
        t.query("ANTENNA1 < 0") as none,
    ):
        none.copy(str(path), deep=True).close()
    s = scratch_ws.ms.summary(path)
    assert s.n_rows == 0 and s.n_antennas == 10 and s.n_antennas_with_data == 0
    assert s.time_start_mjd is None and s.scans == () and s.flag_fraction is None
    assert any("no rows" in w for w in s.warnings)
    assert json.loads(json.dumps(s.to_dict(), allow_nan=False))["flag_fraction"] is None
    assert scratch_ws.ms.quicklook(path).x.size == 0


def test_broken_ms_inputs_are_typed_errors(scratch_ws, scratch_root, truth, tmp_path):
    path = _copy(truth["measurement_sets"][0]["path"], scratch_root, "nospw.ms")
    shutil.rmtree(path / "SPECTRAL_WINDOW")
    for call in (scratch_ws.ms.flag_stats, scratch_ws.ms.quicklook):
        with pytest.raises(DataUnavailableError, match="no SPECTRAL_WINDOW subtable"):
            call(path)
    s = scratch_ws.ms.summary(path)  # the summary says what it could not read
    assert s.spws == () and s.flag_fraction is None and s.n_rows > 0
    assert any("no SPECTRAL_WINDOW subtable" in w for w in s.warnings)
    (scratch_root / "file.ms").write_text("not a table")
    (scratch_root / "empty.ms").mkdir()
    with pytest.raises(InvalidQueryError, match="is a file, not a directory"):
        scratch_ws.ms.summary(scratch_root / "file.ms")
    for bad, match in (
        (scratch_root / "empty.ms", "no table.dat"),
        (scratch_root / "gone.ms", "does not exist"),
    ):
        with pytest.raises(DataUnavailableError, match=match):
            scratch_ws.ms.summary(bad)
    outside = _copy(truth["measurement_sets"][0]["path"], tmp_path, "outside.ms")
    (scratch_root / "escape.ms").symlink_to(outside)
    for bad in (outside, scratch_root / "escape.ms"):
        with pytest.raises(NotPermittedError):
            scratch_ws.ms.summary(bad)
    cal = truth["calibration"]["caltables"][0]["path"]
    with pytest.raises(DataUnavailableError):  # a caltable is not an MS
        scratch_ws.ms.summary(cal)
