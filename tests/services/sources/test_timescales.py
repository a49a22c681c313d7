"""Two-epoch metrics per timescale (nights, weeks, any bins): the vectorised table against
a plain per-source reference, the same on every engine, and the demo's ESE dips found on
the night timescale."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest

import dsa110_ws
from dsa110_ws.errors import ConfigurationError, InvalidQueryError


def reference_timescale(f: list[float], s: list[float], t: list[float], width: float) -> dict:
    """The module doc, literally, for one source: average per bin floor(t / width)
    (weighted mean flux, error 1/sqrt(sum w), mean time), then Vs and m over consecutive
    bins; the first pair wins a tie."""
    bins: dict[int, list[int]] = defaultdict(list)
    for i, ti in enumerate(t):
        bins[math.floor(ti / width)].append(i)
    flux, err, when = [], [], []
    for key in sorted(bins):
        idx = bins[key]
        w = [1.0 / s[i] ** 2 for i in idx]
        flux.append(sum(wi * f[i] for wi, i in zip(w, idx, strict=True)) / sum(w))
        err.append(1.0 / math.sqrt(sum(w)))
        when.append(sum(t[i] for i in idx) / len(idx))
    out: dict = {"n_bins": len(flux)}
    best_vs = best_m = None
    for a in range(len(flux) - 1):
        b = a + 1
        vs = abs(flux[a] - flux[b]) / math.sqrt(err[a] ** 2 + err[b] ** 2)
        if best_vs is None or vs > best_vs[0]:
            best_vs = (vs, when[a], when[b])
        if flux[a] + flux[b] > 0:
            m = abs(2 * (flux[a] - flux[b]) / (flux[a] + flux[b]))
            if best_m is None or m > best_m[0]:
                best_m = (m, when[a], when[b])
    for name, best in (("vs", best_vs), ("m", best_m)):
        v = best or (math.nan, math.nan, math.nan)
        out[f"{name}_max"], out[f"{name}_mjd_a"], out[f"{name}_mjd_b"] = v
    return out


def usable_rows(ws, sid: str) -> tuple[list[float], list[float], list[float]]:
    rows = ws.repos.photometry.find(source_id=sid, limit=None)
    ok = rows["normalized_flux_jy"].notna() & (rows["normalized_flux_err_jy"] > 0)
    rows = rows[ok].sort_values(["mjd", "id"], kind="stable")
    return (
        rows["normalized_flux_jy"].tolist(),
        rows["normalized_flux_err_jy"].tolist(),
        rows["mjd"].tolist(),
    )


def check_against_reference(ws, table: pd.DataFrame, sids, timescales: dict) -> int:
    by_id = table.set_index("source_id")
    checked = 0
    for sid in sids:
        f, s, t = usable_rows(ws, sid)
        got = by_id.loc[sid]
        assert got["flux_column"] == "normalized_flux_jy"
        for name, width in timescales.items():
            ref = reference_timescale(f, s, t, width)
            assert got[f"n_bins_{name}"] == ref.pop("n_bins"), (sid, name)
            for key, value in ref.items():
                col = f"{key}_{name}"
                if math.isnan(value):
                    assert math.isnan(got[col]), (sid, col)
                else:
                    assert got[col] == pytest.approx(value, rel=1e-9, abs=0), (sid, col)
                    checked += 1
    return checked


def test_night_and_week_metrics_equal_a_per_source_reference(ws, truth):
    table = ws.sources.variability(preset=None, engine="sqlite")
    assert table.attrs["timescales"] == {"night": 1.0, "week": 7.0}
    names = [c for c in table.columns if c.endswith(("_night", "_week"))]
    assert names == [
        f"{m}_{ts}"
        for ts in ("night", "week")
        for m in ("n_bins", "vs_max", "vs_mjd_a", "vs_mjd_b", "m_max", "m_mjd_a", "m_mjd_b")
    ]
    rng = np.random.default_rng(16)
    special = [v["source_id"] for v in truth["sources"]["variables"]]
    special += [e["source_id"] for e in truth["sources"]["ese"]]
    sample = list(rng.choice(table["source_id"], size=30, replace=False)) + special
    assert check_against_reference(ws, table, sample, {"night": 1.0, "week": 7.0}) > 400
    # the demo observes each source about twice a night for ten nights: 10 night bins
    assert table["n_bins_night"].max() == len(truth["nights"])
    assert (table["n_bins_week"] <= 3).all() and (table["n_bins_week"] >= 2).all()


def test_any_bins_on_every_engine(writable_demo, tmp_path, truth):
    scales = {"h12": 0.5, "d3": 3.0}
    w = dsa110_ws.connect(
        writable_demo / "settings.toml",
        state_dir=tmp_path / "st",
        sections={
            "sources": {
                "variability_timescales": scales,
                "dataset_min_rows": 0,
                "dask_min_rows": -1,
            }
        },
    )
    try:
        sql = w.sources.variability(preset=None, engine="sqlite")
        here = w.sources.variability(preset=None, engine="dataset", progress=False)
        assert "vs_max_night" not in sql.columns and "vs_max_h12" in sql.columns
        for t in (sql, here):
            t.attrs.clear()
        pd.testing.assert_frame_equal(sql, here, check_exact=False, rtol=1e-9)
        sids = [v["source_id"] for v in truth["sources"]["variables"]] + list(sql["source_id"][:15])
        assert check_against_reference(w, sql, sids, scales) > 150
        none = w.sources.variability(preset=None, engine="sqlite", timescales={})
        assert not [c for c in none.columns if c.startswith("n_bins_")]
        with pytest.raises(InvalidQueryError, match="compares 'night' averages.*h12"):
            w.sources.variability(preset="moderate", engine="sqlite")  # no night columns
        flagged = w.sources.variability(preset="moderate", engine="sqlite", timescales={"night": 1})
        assert flagged.attrs["preset"]["timescale"] == "night"
    finally:
        w.close()


def test_bad_timescales_are_one_line_errors(ws, writable_demo, tmp_path):
    for bad, match in (
        ({"Night": 1.0}, "not a lower-case identifier"),
        ({"epoch": 1.0}, "single measurements"),
        ({"night": 0}, "bin width 0"),
        ({"night": "x"}, "bin width 'x'"),
    ):
        with pytest.raises(InvalidQueryError, match=match):
            ws.sources.variability(preset=None, timescales=bad)
    with pytest.raises(ConfigurationError, match="variability_timescales"):
        dsa110_ws.connect(
            writable_demo / "settings.toml",
            state_dir=tmp_path / "st",
            sections={"sources": {"variability_timescales": {"week": -7}}},
        )


def test_few_epochs_and_single_bins_give_nan(ws):
    table = ws.sources.variability(preset=None, engine="sqlite", min_epochs=19)
    few = table[table["n_epochs"] < 19]
    assert len(few) > 0
    assert few["vs_max_night"].isna().all() and few["m_mjd_b_week"].isna().all()
    assert (few["n_bins_night"] > 0).all()  # counts stay
    one_bin = ws.sources.variability(preset=None, engine="sqlite", timescales={"long": 100.0})
    assert (one_bin["n_bins_long"] == 1).all() and one_bin["vs_max_long"].isna().all()


def test_the_demo_ese_dips_are_found_on_the_night_timescale(ws, truth):
    """Each ESE dips for two or three nights between brightenings: the largest night-to-
    night change is the dip's edge (one night inside, the next or previous outside), far
    larger in m than week bins (which average the dip with the nights around it) show;
    the presets' two-epoch route uses nights and says so."""
    table = ws.sources.variability(preset="moderate")
    assert table.attrs["preset"]["timescale"] == "night"
    assert table.attrs["two_epoch"] == "vs_max_night / m_max_night (timescale 'night')"
    assert ws.sources.presets()["timescale"].tolist() == ["night"] * 3
    by_id = table.set_index("source_id")
    for ese in truth["sources"]["ese"]:
        first, last = (pd.Timestamp(d) for d in ese["dip_nights"])
        dip = {(first + pd.Timedelta(days=k)).date() for k in range((last - first).days + 1)}
        row = by_id.loc[ese["source_id"]]
        for metric in ("vs", "m"):
            a, b = (
                pd.Timestamp(row[f"{metric}_mjd_{e}_night"] - 40587, unit="D").date() for e in "ab"
            )
            assert (b - a).days == 1, (ese, metric)
            assert (a in dip) != (b in dip), (ese, metric, a, b)  # an edge of the dip
        assert row["m_max_night"] > 2 * row["m_max_week"]
        assert row["by_two_epoch"] and row["is_candidate"]
    variables = {v["source_id"] for v in truth["sources"]["variables"]}
    variables |= {e["source_id"] for e in truth["sources"]["ese"]}
    assert set(table.loc[table["is_candidate"], "source_id"]) == variables
