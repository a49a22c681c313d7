"""The vectorised variability table against a plain per-source reference computation,
and the handling of awkward rows (one epoch, NaN flux, bad errors, no time, mixed
normalisation) on a small hand-made pipeline database."""

from __future__ import annotations

import math
import sqlite3
from fractions import Fraction

import numpy as np
import pytest

import dsa110_ws
from dsa110_ws.demo.schema import create_schema


@pytest.fixture(scope="module")
def table(ws):
    return ws.sources.variability(preset=None)


def reference_metrics(f: list[float], s: list[float], t: list[float]) -> dict[str, float]:
    """docs/science.md, literally, one source at a time (exact rational arithmetic for
    the sums, so the reference itself has no rounding to speak of)."""
    order = sorted(range(len(t)), key=lambda i: t[i])
    f, s, t = [f[i] for i in order], [s[i] for i in order], [t[i] for i in order]
    n = len(f)
    F = [Fraction(x) for x in f]
    w = [1 / Fraction(x) ** 2 for x in s]
    mean = sum(F) / n
    var = sum((x - mean) ** 2 for x in F) / (n - 1)
    std = math.sqrt(var)
    eta = Fraction(n, n - 1) * (
        sum(wi * x * x for wi, x in zip(w, F, strict=True)) / n
        - (sum(wi * x for wi, x in zip(w, F, strict=True)) / n) ** 2 / (sum(w) / n)
    )
    chi2 = sum(((x - mean) / Fraction(e)) ** 2 for x, e in zip(F, s, strict=True)) / (n - 1)
    dev = max(abs(max(F) - mean), abs(min(F) - mean))
    vs = [abs(f[i] - f[i + 1]) / math.sqrt(s[i] ** 2 + s[i + 1] ** 2) for i in range(n - 1)]
    m = [abs(2 * (f[i] - f[i + 1]) / (f[i] + f[i + 1])) for i in range(n - 1)]
    k_vs, k_m = int(np.argmax(vs)), int(np.argmax(m))
    return {
        "n_epochs": n,
        "mean_flux_jy": float(mean),
        "std_flux_jy": std,
        "v": std / float(mean),
        "eta": float(eta),
        "chi2_nu": float(chi2),
        "sigma_deviation": float(dev) / std,
        "vs_max": vs[k_vs],
        "m_max": m[k_m],
        "vs_mjd_a": t[k_vs],
        "vs_mjd_b": t[k_vs + 1],
        "m_mjd_a": t[k_m],
        "m_mjd_b": t[k_m + 1],
        "min_flux_jy": min(f),
        "max_flux_jy": max(f),
    }


def test_metrics_equal_a_per_source_reference(ws, table, truth):
    rng = np.random.default_rng(11)
    variables = [v["source_id"] for v in truth["sources"]["variables"]]
    sample = list(rng.choice(table["source_id"], size=40, replace=False)) + variables
    by_id = table.set_index("source_id")
    for sid in sample:
        rows = ws.repos.photometry.find(source_id=sid, limit=None)
        ok = rows["normalized_flux_jy"].notna() & (rows["normalized_flux_err_jy"] > 0)
        ref = reference_metrics(
            rows.loc[ok, "normalized_flux_jy"].tolist(),
            rows.loc[ok, "normalized_flux_err_jy"].tolist(),
            rows.loc[ok, "mjd"].tolist(),
        )
        got = by_id.loc[sid]
        assert got["flux_column"] == "normalized_flux_jy"
        assert got["n_epochs"] == ref.pop("n_epochs")
        assert got["n_rejected"] == int((~ok).sum())
        for key, value in ref.items():
            assert got[key] == pytest.approx(value, rel=1e-9, abs=0), (sid, key)


def test_every_source_has_a_row_and_counts_add_up(table, truth):
    a = table.attrs
    assert len(table) == truth["sources"]["n_sources"] == a["n_sources"]
    assert a["n_rows_read"] == truth["sources"]["n_photometry_rows"]
    assert a["n_rows_used"] + a["n_rows_rejected"] == a["n_rows_read"]
    assert a["n_rows_rejected"] == a["n_rows_nan_flux"] > 0  # the NaN-region image
    assert table["n_epochs"].sum() == a["n_rows_used"]
    assert a["n_sources_normalised"] == len(table) and a["n_sources_raw"] == 0
    assert table["source_id"].is_monotonic_increasing
    assert (table["vs_mjd_a"] < table["vs_mjd_b"]).all()
    assert table["vs_pair"].tolist() == list(zip(table["vs_mjd_a"], table["vs_mjd_b"], strict=True))


def test_pairs_are_consecutive_in_observation_time(ws, table, truth):
    sid = truth["sources"]["ese"][0]["source_id"]
    lc = ws.sources.lightcurve(sid)
    row = table.set_index("source_id").loc[sid]
    times = lc.loc[lc["flux_jy"].notna(), "mjd"].to_numpy()
    k = int(np.flatnonzero(np.isclose(times, row["vs_mjd_a"], rtol=0, atol=1e-9))[0])
    assert times[k + 1] == pytest.approx(row["vs_mjd_b"], abs=1e-9)


def test_time_range_limits_the_epochs(ws, truth):
    nights = truth["nights"]
    sub = ws.sources.variability(start=nights[2], end=nights[5], preset=None)
    assert 0 < sub["n_epochs"].max() <= 6  # two snapshots a night, three nights
    assert sub["first_mjd"].min() >= ws.sources.lightcurve(sub.source_id[0]).mjd.min()
    mjd_lo = dsa110_ws.core.time.to_mjd(nights[2])
    assert (sub["first_mjd"].dropna() >= mjd_lo).all()


# -- a hand-made database with the awkward cases ------------------------------------------


def _row(sid, mjd, f, e, nf=None, ne=None, image=None):
    return (sid, image, mjd, f, e, nf, ne)


@pytest.fixture(scope="module")
def awkward(tmp_path_factory):
    d = tmp_path_factory.mktemp("awkward")
    con = sqlite3.connect(d / "pipeline.sqlite3")
    create_schema(con)
    con.execute("INSERT INTO ms_index (path, mid_mjd) VALUES ('/x/a.ms', 61000.5)")
    con.execute("INSERT INTO images (id, path, ms_path) VALUES (1, '/x/a.fits', '/x/a.ms')")
    rows = [
        _row("A_single", 61000.0, 1.0, 0.1, 1.0, 0.1),
        _row("B_bad", 61000.0, 1.0, 0.1, 1.0, 0.1),
        _row("B_bad", 61001.0, None, None),
        _row("B_bad", 61002.0, 1.2, 0.0, 1.2, 0.0),
        _row("C_ok", 61003.0, 2.0, 0.1, 2.0, 0.1),
        _row("C_ok", 61001.0, 1.0, 0.2, 1.0, 0.2),
        _row("C_ok", None, 1.5, 0.1, 1.5, 0.1, image="/x/a.fits"),  # time from its MS
        _row("D_mixed", 61000.0, 1.0, 0.1, 1.1, 0.1),
        _row("D_mixed", 61001.0, 1.2, 0.1),
        _row("D_mixed", 61002.0, 1.4, 0.1, 1.5, 0.1),
        _row("E_raw", 61000.0, 3.0, 0.1),
        _row("E_raw", 61001.0, 3.3, 0.1),
        _row(None, 61000.0, 1.0, 0.1, 1.0, 0.1),  # no source id
        _row("F_notime", None, 1.0, 0.1, 1.0, 0.1, image="/nowhere.fits"),
        _row("F_notime", 61000.0, 1.0, 0.1, 1.0, 0.1),
    ]
    con.executemany(
        "INSERT INTO photometry (source_id, image_path, mjd, flux_jy, flux_err_jy, "
        "normalized_flux_jy, normalized_flux_err_jy) VALUES (?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    con.commit()
    con.close()
    (d / "settings.toml").write_text('pipeline_db = "pipeline.sqlite3"\n')
    w = dsa110_ws.connect(d / "settings.toml", state_dir=d / "state")
    yield w
    w.close()


def test_awkward_rows_are_counted_not_fatal(awkward):
    t = awkward.sources.variability(preset="moderate").set_index("source_id")
    a = t.attrs
    assert sorted(t.index) == ["A_single", "B_bad", "C_ok", "D_mixed", "E_raw", "F_notime"]
    assert a["n_rows_no_source"] == 1 and a["n_rows_no_time"] == 1
    assert a["n_rows_nan_flux"] == 1 and a["n_rows_bad_error"] == 1
    assert a["n_too_few_epochs"] == 3  # A (one epoch), B (one usable), F (one with a time)
    for sid in ("A_single", "B_bad", "F_notime"):
        assert t.loc[sid, "n_epochs"] == 1 and np.isnan(t.loc[sid, "v"])
        assert not t.loc[sid, "is_candidate"]
    assert t.loc["B_bad", "n_rejected"] == 2
    assert t.loc["C_ok", "n_epochs"] == 3  # the NULL-mjd row took its MS mid time
    assert t.loc["C_ok", "first_mjd"] == 61000.5
    ref = reference_metrics([1.5, 1.0, 2.0], [0.1, 0.2, 0.1], [61000.5, 61001.0, 61003.0])
    for key in ("eta", "chi2_nu", "v", "vs_max", "m_max", "vs_mjd_a", "m_mjd_b"):
        assert t.loc["C_ok", key] == pytest.approx(ref[key], rel=1e-12)


def test_flux_column_per_source_never_mixes_scales(awkward):
    t = awkward.sources.variability(preset=None).set_index("source_id")
    assert t.loc["C_ok", "flux_column"] == "normalized_flux_jy"
    assert t.loc["D_mixed", "flux_column"] == "flux_jy"  # one row lacked a normalised value
    assert t.loc["D_mixed", "mean_flux_jy"] == pytest.approx(1.2)
    assert t.loc["E_raw", "flux_column"] == "flux_jy"
    assert t.attrs["n_sources_partly_normalised"] == 1
    raw = awkward.sources.variability(flux="raw", preset=None).set_index("source_id")
    assert (raw["flux_column"] == "flux_jy").all()
    norm = awkward.sources.variability(flux="normalized", preset=None).set_index("source_id")
    assert norm.loc["D_mixed", "n_epochs"] == 2 and norm.loc["E_raw", "n_epochs"] == 0


def test_lightcurve_uses_the_ms_time_when_mjd_is_missing(awkward):
    lc = awkward.sources.lightcurve("C_ok")
    assert list(lc["mjd"]) == [61000.5, 61001.0, 61003.0]
    assert lc["time_utc"].iloc[0].isoformat().startswith("2025-")
    assert lc.attrs["flux_column"] == "normalized_flux_jy"
