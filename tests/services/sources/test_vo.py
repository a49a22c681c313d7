"""VO interoperability: the VOTable export (units, UCDs, time systems, metadata, BINARY2) read
back by astropy, and SAMP messages received by a real client through a real local hub."""

from __future__ import annotations

import io
import os

import numpy as np
import pandas as pd
import pytest

from dsa110_ws.errors import DataUnavailableError, InvalidQueryError, NotPermittedError


def _ese(truth) -> str:
    return next(v["source_id"] for v in truth["sources"]["variables"] if v["kind"] == "ese")


def _values(col) -> list:
    """A column's values as Python objects, ``None`` where masked."""
    mask = np.ma.getmaskarray(col)
    return [
        None if m else np.asarray(v).item() for v, m in zip(np.ma.getdata(col), mask, strict=True)
    ]


def _valid(path) -> bool:
    from astropy.io.votable import validate

    out = io.StringIO()
    ok = validate(str(path), output=out, xmllint=False)
    assert "no violations" in out.getvalue(), out.getvalue()
    return ok


def test_the_votable_keeps_units_ucds_times_and_metadata(ws, truth, tmp_path):
    from astropy.io.votable import parse
    from astropy.table import Table
    from astropy.time import Time

    lc = ws.sources.lightcurve(_ese(truth), forced=True)
    path = ws.sources.export(lc, tmp_path / "lc.xml")
    assert _valid(path)
    # what any VOTable reader (TOPCAT, astropy's Table.read) sees: units and UCDs per column
    plain = Table.read(path, format="votable")
    assert str(plain["flux_jy"].unit) == "Jy" and str(plain["ra_deg"].unit) == "deg"
    assert plain["dec_deg"].meta["ucd"] == "pos.eq.dec;meta.main"
    assert plain["flux_err_jy"].meta["ucd"] == "stat.error;phot.flux.density;em.radio"
    # the VOTable elements themselves: a UTC time system, metadata as PARAM/INFO
    vot = parse(str(path))
    assert vot.version == "1.4"
    table = vot.get_first_table()
    systems = {ts.ID: ts for ts in vot.iter_timesys()}
    mjd = table.get_field_by_id_or_name("mjd")
    assert systems[mjd.ref].timescale == "UTC" and float(systems[mjd.ref].timeorigin) == 2400000.5
    iso = table.get_field_by_id_or_name("time_utc")
    assert systems[iso.ref].timescale == "UTC" and iso.xtype == "timestamp"
    params = {p.name: p.value for p in table.params}
    infos = {i.name: i.value for i in table.infos}
    assert params["n_points"] == len(lc) and infos["flux_column"] == "forced"
    assert infos["source_id"] == _ese(truth)
    # the same instants, whichever time column is read (independent of our reader)
    t_mjd = Time(plain["mjd"].data, format="mjd", scale="utc")
    t_iso = Time(list(plain["time_utc"]), format="isot", scale="utc")
    assert np.max(np.abs((t_mjd - t_iso).sec)) < 1e-3


def test_the_votable_round_trips_to_the_same_qtable(ws, truth, tmp_path):
    from astropy.time import Time

    lc = ws.sources.lightcurve(_ese(truth), forced=True)
    lc.attrs.update(note=None, window=[1.5, 2.5], flag=True, fit={"eta": 1.25, "ok": False})
    expected = ws.sources.to_qtable(lc)
    back = ws.sources.load_votable(ws.sources.export(lc, tmp_path / "lc.vot"))
    assert back.meta == expected.meta == lc.attrs
    assert back.colnames == expected.colnames == list(lc.columns)
    for name in expected.colnames:
        a, b = expected[name], back[name]
        assert (a.info.meta or {}).get("ucd") == (b.info.meta or {}).get("ucd"), name
        if isinstance(a, Time):
            assert isinstance(b, Time) and b.scale == "utc" and b.format == a.format
            assert np.max(np.abs((a - b).sec)) < 1e-3, name
        elif hasattr(a, "unit") and a.unit is not None:
            assert b.unit == a.unit, name
            np.testing.assert_allclose(np.asarray(b.value), np.asarray(a.value), equal_nan=True)
        else:
            assert _values(b) == _values(a), name


def test_large_tables_are_binary2_and_still_round_trip(ws, tmp_path):

    n = 10_000
    rng = np.random.default_rng(1)
    times = pd.Series(pd.date_range("2026-11-01", periods=n, freq="5min", tz="UTC"))
    times[3] = pd.NaT
    df = pd.DataFrame(
        {
            "source_id": [f"S{i:05d}" for i in range(n)],
            "ra_deg": rng.uniform(0, 360, n),
            "dec_deg": rng.uniform(-30, 90, n),
            "flux_jy": rng.normal(0.01, 0.001, n),
            "mjd": 61345.0 + np.arange(n) / 288.0,
            "time_utc": times,
            "n_epochs": pd.array(rng.integers(1, 50, n), dtype="Int64"),
        }
    )
    df.loc[5, "n_epochs"] = pd.NA
    path = ws.sources.export(df, tmp_path / "big.xml")
    text = path.read_text()
    assert "<BINARY2>" in text and "<TABLEDATA>" not in text
    assert _valid(path)
    back = ws.sources.load_votable(path)
    np.testing.assert_allclose(back["flux_jy"].value, df["flux_jy"])
    np.testing.assert_allclose(back["mjd"].mjd, df["mjd"], rtol=0, atol=1e-9)
    assert back["time_utc"].mask[3] and not back["time_utc"].mask[4]
    assert back["n_epochs"].mask[5] and int(back["n_epochs"][6]) == int(df["n_epochs"][6])
    small = ws.sources.export(df.head(10), tmp_path / "small.xml", serialization="binary2")
    assert "<BINARY2>" in small.read_text()
    forced_text = ws.sources.export(df, tmp_path / "text.xml", serialization="tabledata")
    assert "<TABLEDATA>" in forced_text.read_text()


def test_export_refuses_what_it_cannot_do(ws, demo_dir, tmp_path):
    df = pd.DataFrame({"ra_deg": [1.0]})
    with pytest.raises(InvalidQueryError, match="serialization"):
        ws.sources.export(df, tmp_path / "x.xml", serialization="fits")
    with pytest.raises(NotPermittedError):
        ws.sources.export(df, demo_dir / "data" / "x.xml")
    with pytest.raises(DataUnavailableError):
        ws.sources.load_votable(tmp_path / "missing.xml")
    (tmp_path / "junk.xml").write_text("not xml")
    with pytest.raises(DataUnavailableError, match="VOTable"):
        ws.sources.load_votable(tmp_path / "junk.xml")


# -- SAMP: a real hub and a real receiving client (the samp_hub fixture, tests/conftest.py) --
def test_samp_sends_a_table_and_a_position_to_a_client(ws, truth, samp_hub):
    from urllib.parse import urlparse
    from urllib.request import url2pathname

    got, events = samp_hub
    status = ws.samp.status()
    assert status["hub"] and any(c["name"] == "receiver" and c["tables"] for c in status["clients"])
    lc = ws.sources.lightcurve(_ese(truth))
    sent = ws.samp.send(lc, name="an ESE light curve")
    assert events["table.load.votable"].wait(10)
    params = got["table.load.votable"]
    assert sent["recipients"] == ["receiver"] and params["name"] == "an ESE light curve"
    table = ws.sources.load_votable(url2pathname(urlparse(params["url"]).path))
    assert len(table) == len(lc) and list(table["source_id"]) == list(lc["source_id"])
    np.testing.assert_allclose(table["flux_jy"].value, lc["flux_jy"])

    rec = ws.sources.get(_ese(truth))
    ws.samp.point_at((rec.ra_deg, rec.dec_deg))
    assert events["coord.pointAt.sky"].wait(10)
    point = got["coord.pointAt.sky"]
    assert float(point["ra"]) == pytest.approx(rec.ra_deg, abs=1e-12)
    assert float(point["dec"]) == pytest.approx(rec.dec_deg, abs=1e-12)
    with pytest.raises(DataUnavailableError, match="named 'topcat'"):
        ws.samp.send(lc, to="topcat")


def test_samp_without_a_hub_says_what_to_start(ws, tmp_path, monkeypatch):
    monkeypatch.setenv("SAMP_HUB", f"std-lockurl:{(tmp_path / 'no-hub').as_uri()}")
    with pytest.raises(DataUnavailableError) as err:
        ws.samp.send(pd.DataFrame({"ra_deg": [1.0]}))
    message = str(err.value)
    assert "No SAMP hub is running" in message and "TOPCAT" in message and "\n" not in message
    assert ws.samp.status()["hub"] is False
    assert not os.listdir(tmp_path) or "no-hub" not in os.listdir(tmp_path)
