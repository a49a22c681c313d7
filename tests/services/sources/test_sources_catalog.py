"""The source catalogue: derived positions, cone search and cross-matching."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table

from dsa110_ws.errors import InvalidQueryError


@pytest.fixture(scope="module")
def cat(ws):
    return ws.sources.catalog(limit=None)


def test_catalogue_is_derived_from_photometry(ws, cat, truth):
    assert cat.attrs["derived"] and len(cat) == truth["sources"]["n_sources"]
    v = truth["sources"]["variables"][0]
    row = cat.set_index("id").loc[v["source_id"]]
    lc = ws.sources.lightcurve(v["source_id"])
    assert row["detection_count"] == len(lc)
    assert row["first_detected_mjd"] == pytest.approx(lc["mjd"].min())
    rec = ws.sources.get(v["source_id"])
    assert rec.ra_deg == pytest.approx(row["ra_deg"])


@pytest.mark.parametrize("as_skycoord", [True, False])
def test_cone_has_exact_separations(ws, cat, as_skycoord):
    centre = SkyCoord(153.0, 37.0, unit="deg")
    all_sep = centre.separation(SkyCoord(cat["ra_deg"], cat["dec_deg"], unit="deg")).deg
    pos = centre.galactic if as_skycoord else (153.0, 37.0)  # any frame converts
    got = ws.sources.cone(pos, 25 * u.arcmin, limit=None)
    expected = set(cat["id"][all_sep <= 25 / 60])
    assert set(got["id"]) == expected and len(expected) >= 5
    np.testing.assert_allclose(got["sep_deg"], np.sort(all_sep[all_sep <= 25 / 60]), atol=1e-9)
    np.testing.assert_allclose(got["sep_arcsec"], got["sep_deg"] * 3600)
    assert len(ws.sources.cone((153.0, 37.0), 25 / 60, limit=None)) == len(got)
    with pytest.raises(InvalidQueryError):
        ws.sources.cone((153.0, 37.0), 3 * u.s)
    with pytest.raises(InvalidQueryError):
        ws.sources.cone((153.0, 37.0), -1 * u.deg)
    with pytest.raises(InvalidQueryError):
        ws.sources.cone("M31", 1 * u.deg)


def test_crossmatch_a_table_of_positions(ws, cat):
    rng = np.random.default_rng(5)
    pick = cat.sample(20, random_state=3).reset_index(drop=True)
    jitter = rng.normal(0, 3, size=(20, 2)) / 3600.0  # a few arcsec
    mine = pd.DataFrame(
        {
            "name": [f"s{i}" for i in range(20)],
            "RA": pick["ra_deg"] + jitter[:, 0] / np.cos(np.radians(pick["dec_deg"])),
            "Dec": pick["dec_deg"] + jitter[:, 1],
        }
    )
    mine.loc[20] = ["far", 10.0, -30.0]
    out = ws.sources.crossmatch(mine, max_sep=20 * u.arcsec)
    assert list(out["name"]) == list(mine["name"])
    assert list(out["source_id"][:20]) == list(pick["id"])
    assert out["matched"][:20].all() and not out["matched"][20] and pd.isna(out["source_id"][20])
    expect = (
        SkyCoord(mine["RA"][:20], mine["Dec"][:20], unit="deg")
        .separation(SkyCoord(pick["ra_deg"], pick["dec_deg"], unit="deg"))
        .arcsec
    )
    np.testing.assert_allclose(out["sep_arcsec"][:20], expect, rtol=1e-6)
    assert out.attrs["n_matched"] == 20
    sc = SkyCoord(pick["ra_deg"], pick["dec_deg"], unit="deg")
    assert list(ws.sources.crossmatch(sc)["source_id"]) == list(pick["id"])
    t = Table.from_pandas(mine.rename(columns={"RA": "ra_deg", "Dec": "dec_deg"}))
    assert ws.sources.crossmatch(t, max_sep=20 * u.arcsec)["matched"].sum() == 20
    with pytest.raises(InvalidQueryError, match="RA/Dec"):
        ws.sources.crossmatch(pd.DataFrame({"x": [1.0]}))
