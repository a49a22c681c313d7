"""Light curves, postage stamps, reference-source normalisation and export on the demo."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from astropy.time import Time

from dsa110_ws.errors import InvalidQueryError, NotFoundError, NotPermittedError


@pytest.fixture(scope="module")
def ese(truth):
    return truth["sources"]["ese"][0]


def test_lightcurve_in_observation_order_although_inserted_shuffled(ws, ese, truth):
    lc = ws.sources.lightcurve(ese["source_id"])
    assert lc["mjd"].is_monotonic_increasing and lc["time_utc"].is_monotonic_increasing
    assert not lc["id"].is_monotonic_increasing  # the demo inserts rows out of order
    assert set(lc["image_path"]) <= {t["path"] for t in truth["images"]}
    expected = sorted(t["mid_mjd"] for t in truth["images"] if t["path"] in set(lc["image_path"]))
    np.testing.assert_allclose(lc["mjd"], expected, rtol=0, atol=1e-9)
    assert lc.attrs["flux_column"] == "normalized_flux_jy"
    np.testing.assert_array_equal(lc["flux_jy"], lc["normalized_flux_jy"])
    assert {"mjd", "flux_jy", "flux_err_jy", "image_path", "time_utc"} <= set(lc.columns)
    t = Time(lc["mjd"].to_numpy(), format="mjd")
    assert (abs(lc["time_utc"].map(pd.Timestamp.timestamp).to_numpy() - t.unix) < 1e-3).all()


def test_raw_lightcurve_keeps_the_gain_error(ws, ese, truth):
    raw = ws.sources.lightcurve(ese["source_id"], normalised=False)
    gain = {t["path"]: t["gain"] for t in truth["images"]}
    ok = raw["flux_jy"].notna()
    ratio = raw.loc[ok, "flux_jy"] / raw.loc[ok, "normalized_flux_jy"]
    np.testing.assert_allclose(ratio, raw.loc[ok, "image_path"].map(gain), rtol=1e-9)
    assert raw.attrs["flux_column"] == "flux_jy"


@pytest.mark.parametrize(
    "start,end",
    [
        ("2026-11-07", "2026-11-10"),
        (61351.0, 61354.0),
        (Time("2026-11-07T00:00:00", scale="utc"), Time(61354.0, format="mjd")),
    ],
)
def test_time_range_as_iso_mjd_or_time(ws, ese, start, end):
    lc = ws.sources.lightcurve(ese["source_id"], start=start, end=end)
    assert len(lc) == 6 and lc["mjd"].min() >= 61351.0 and lc["mjd"].max() < 61354.0
    with pytest.raises(InvalidQueryError, match="before its start"):
        ws.sources.lightcurve(ese["source_id"], start=end, end=start)


def test_unknown_source_is_not_found(ws):
    with pytest.raises(NotFoundError, match="J000000"):
        ws.sources.lightcurve("J000000.0+000000")
    with pytest.raises(NotFoundError):
        ws.sources.get("J000000.0+000000")
    with pytest.raises(NotFoundError):
        ws.sources.lightcurve("J000000.0+000000", start="2026-11-06")
    empty = ws.sources.lightcurve(ws.sources.catalog().id[0], start="2020-01-01", end="2020-01-02")
    assert empty.empty


def test_reference_normalisation_recovers_the_image_gains(ws, truth):
    nrm = ws.sources.normalisation()
    c = nrm.corrections.set_index("image_path")
    gains = pd.Series({t["path"]: t["gain"] for t in truth["images"]})
    bad = {t["path"] for t in truth["images"] if t["bad_reason"]}
    assert c["ok"].all() and (c["n_refs"] >= 3).all() and c["mjd"].is_monotonic_increasing
    ratio = c["correction"] / gains.reindex(c.index)
    ratio /= ratio.median()  # the overall scale is arbitrary
    good = ~c.index.isin(bad)
    assert np.abs(ratio[good] - 1).max() < 0.003  # raw gains scatter by 2 %
    assert np.abs(ratio - 1).max() < 0.01
    assert gains.std() > 0.015
    pull = (ratio - 1) * gains.reindex(c.index) / c["correction_err"]
    assert 0.3 < pull[good].std() < 3  # the quoted errors are the right size
    variables = {v["source_id"] for v in truth["sources"]["variables"]}
    assert not variables & set(nrm.references["source_id"])  # variables rejected
    assert len(nrm.references) >= 50


def test_reference_normalised_lightcurve(ws, truth):
    nrm = ws.sources.normalisation()
    sid = truth["sources"]["variables"][2]["source_id"]
    lc = ws.sources.lightcurve(sid, normalised="reference", normalisation=nrm)
    assert lc.attrs["flux_column"] == "reference"
    ok = lc["flux_jy"].notna()
    np.testing.assert_allclose(
        lc.loc[ok, "flux_jy"] * lc.loc[ok, "correction"], lc.loc[ok, "raw_flux_jy"], rtol=1e-12
    )
    assert (
        lc.loc[ok, "flux_err_jy"] > lc.loc[ok, "raw_flux_err_jy"] / lc.loc[ok, "correction"]
    ).all()
    # close to the pipeline's own normalised flux (both remove the gain), up to the scale
    r = lc.loc[ok, "flux_jy"] / lc.loc[ok, "normalized_flux_jy"]
    assert r.std() / r.mean() < 0.005


def test_stamps_share_one_scale_and_follow_the_source(ws, ese):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from astropy import units as u

    strip = ws.sources.stamps(ese["source_id"], size=6 * u.arcmin, max_epochs=5)
    assert len(strip) >= 5 and not strip.skipped  # 5 spread, plus the dip epochs
    assert all(d.shape == (18, 18) for d in strip.data)  # 6 arcmin at 20 arcsec/px
    assert np.all(np.diff(strip.mjd) > 0)
    pooled = np.concatenate([d.ravel() for d in strip.data])
    assert strip.vmin <= np.nanpercentile(pooled, 1.0) + 1e-12
    centre = np.array([d[8:10, 8:10].max() for d in strip.data])
    lc = ws.sources.lightcurve(ese["source_id"], normalised=False).set_index("image_path")
    flux = lc.loc[strip.image_path, "raw_flux_jy"].to_numpy()
    assert np.corrcoef(centre, flux)[0, 1] > 0.9  # the dip is visible in the pixels
    axes = ws.sources.plot_stamps(strip)
    images = [ax.images[0] for ax in axes if ax.images]
    assert len(images) == len(strip)
    assert {im.get_clim() for im in images} == {(strip.vmin, strip.vmax)}
    assert all(im.origin == "lower" for im in images)
    ax = ws.sources.plot_lightcurve(ese["source_id"])
    assert len(ax.lines) + len(ax.collections) > 0 and "mJy" in ax.get_ylabel()
    plt.close("all")


def _dip_nights(ese) -> set[str]:
    """Every UTC night from the first to the last of the truth's dip nights."""
    first, last = (pd.Timestamp(n) for n in ese["dip_nights"][:1] + ese["dip_nights"][-1:])
    return {d.strftime("%Y-%m-%d") for d in pd.date_range(first, last, freq="D")}


def test_ese_stamps_draw_every_epoch_on_the_sources_own_range(ws, ese):
    """The injected ESE (truth.json): every epoch is drawn, the dip epochs whatever the
    subset, and the colour scale spans the source's own minimum-to-maximum peak flux, so
    the dip is darker than the rest instead of saturating with them."""
    from astropy import units as u

    from dsa110_ws.core.time import mjd_to_utc

    lc = ws.sources.lightcurve(ese["source_id"], normalised=False)
    peaks = lc["peak_jyb"].to_numpy(float)
    strip = ws.sources.stamps(ese["source_id"], size=6 * u.arcmin)
    assert len(strip) == strip.n_epochs == lc["image_path"].nunique() == 20
    assert strip.vmin <= peaks.min() and strip.vmax >= peaks.max()
    nights = [t.strftime("%Y-%m-%d") for t in mjd_to_utc(strip.mjd)]
    dips = _dip_nights(ese)
    assert dips <= set(nights)
    centre = np.array([d[8:10, 8:10].max() for d in strip.data])
    in_dip = np.array([n in dips for n in nights])
    span = strip.vmax - strip.vmin
    # the dip stamps' source is at least a fifth of the colour range darker than the others
    assert centre[~in_dip].min() - centre[in_dip].max() > 0.2 * span
    few = ws.sources.stamps(ese["source_id"], size=6 * u.arcmin, max_epochs=3)
    few_nights = {t.strftime("%Y-%m-%d") for t in mjd_to_utc(few.mjd)}
    assert dips <= few_nights and few.n_epochs == 20 and len(few) < 20


def test_export_csv_and_votable_round_trip(ws, ese, tmp_path, demo_dir, truth):
    from astropy.io.votable import parse as parse_votable
    from astropy.table import Table

    lc = ws.sources.lightcurve(ese["source_id"])
    csv = ws.sources.export(lc, tmp_path / "lc.csv")
    back = pd.read_csv(csv)
    np.testing.assert_array_equal(back["flux_jy"].to_numpy(), lc["flux_jy"].to_numpy())
    np.testing.assert_array_equal(back["mjd"].to_numpy(), lc["mjd"].to_numpy())
    table = ws.sources.variability()
    vot = ws.sources.export(table, tmp_path / "var.xml")
    t = Table.read(vot, format="votable")
    assert len(t) == len(table) and str(t["mean_flux_jy"].unit) == "Jy"
    assert str(t["vs_mjd_a"].unit) == "d"
    # the table's attrs travel as PARAMs; their counts agree with the truth file
    params = {p.name: p.value for p in parse_votable(vot).get_first_table().params}
    assert params["n_rows_read"] == truth["sources"]["n_photometry_rows"] == 5440
    assert params["n_sources"] == truth["sources"]["n_sources"] == len(t)
    np.testing.assert_allclose(np.asarray(t["eta"], float), table["eta"].to_numpy(), rtol=1e-15)
    assert list(t["source_id"]) == list(table["source_id"])
    with pytest.raises(InvalidQueryError, match="exists"):
        ws.sources.export(table, vot, format="votable")
    with pytest.raises(NotPermittedError):
        ws.sources.export(lc, demo_dir / "data" / "lc.csv")
    with pytest.raises(InvalidQueryError):
        ws.sources.export(lc, tmp_path / "x.fits", format="fits")
