"""The generated demo state opens in native readers and matches its truth file."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest


def test_every_fits_image_matches_the_truth(truth):
    from astropy.io import fits
    from astropy.wcs import WCS

    for t in truth["images"]:
        with fits.open(t["path"]) as hdul:
            h, data = hdul[0].header, hdul[0].data
        assert data.shape == (1, 1, 384, 384) and h["BUNIT"] == "Jy/beam"
        assert WCS(h).celestial.wcs.ctype[0] == "RA---SIN"
        assert h["CRVAL1"] == pytest.approx(t["center_ra_deg"])
        if t["beam"] is None:
            assert "BMAJ" not in h
        else:
            assert h["BMAJ"] * 3600 == pytest.approx(t["beam"][0])
            assert h["BMIN"] * 3600 == pytest.approx(t["beam"][1])
        plane = data[0, 0]
        if t["bad_reason"] == "nan_region":
            assert np.isnan(plane).any()
        else:
            assert np.isfinite(plane).all()
            # noise far from sources: the corner is empty sky in most images
            assert np.std(plane[:40, :40]) == pytest.approx(t["noise_jy"], rel=0.3)


def test_every_measurement_set_and_caltable_opens_in_casacore(truth):
    from casacore.tables import table

    for t in truth["measurement_sets"][:10]:
        with table(t["path"], ack=False) as ms:
            assert ms.nrows() == t["n_rows"]
            flags = ms.getcol("FLAG")
            assert flags.mean() == pytest.approx(t["flag_fraction"], abs=0)
        with table(t["path"] + "/ANTENNA", ack=False) as ant:
            assert list(ant.getcol("NAME")) == t["antenna_names"]
    for c in truth["calibration"]["caltables"]:
        with table(c["path"], ack=False) as tb:
            assert tb.getkeyword("VisCal") == c["vis_cal"]
            assert tb.getcol("FLAG").mean() == pytest.approx(c["flag_fraction"], abs=0)


def test_database_rows_agree_with_the_files(demo_dir, truth):
    con = sqlite3.connect(f"file:{demo_dir / 'pipeline.sqlite3'}?mode=ro", uri=True)
    paths = {r[0] for r in con.execute("SELECT path FROM images")}
    assert paths == {t["path"] for t in truth["images"]}
    ms = {r[0] for r in con.execute("SELECT ms_path FROM images")}
    assert ms <= {r[0] for r in con.execute("SELECT path FROM ms_index")}
    phot_images = {r[0] for r in con.execute("SELECT DISTINCT image_path FROM photometry")}
    assert phot_images <= paths
    # photometry times are the images' observation times, not insertion times
    bad = con.execute(
        "SELECT COUNT(*) FROM photometry p JOIN images i ON i.path = p.image_path "
        "JOIN ms_index m ON m.path = i.ms_path WHERE abs(p.mjd - m.mid_mjd) > 1e-9"
    ).fetchone()[0]
    assert bad == 0
    con.close()


def test_generation_is_deterministic_for_a_seed(tmp_path, demo_dir):
    from dsa110_ws.demo import make_demo_state

    truth = make_demo_state(tmp_path / "again", nights=4, n_sources=40, per_night=3, queue=False)
    again = make_demo_state(tmp_path / "again2", nights=4, n_sources=40, per_night=3, queue=False)
    for t in (truth, again):
        t.pop("generation_seconds")
    as_text = json.dumps(truth, default=str).replace(str(tmp_path / "again"), "X")
    assert as_text == json.dumps(again, default=str).replace(str(tmp_path / "again2"), "X")


def test_scale_state_writes_rows_only(tmp_path):
    from dsa110_ws.demo import make_scale_state

    info = make_scale_state(tmp_path / "scale", n_images=500, n_photometry=20_000)
    con = sqlite3.connect(info["path"])
    assert con.execute("SELECT COUNT(*) FROM photometry").fetchone()[0] == 20_000
    assert con.execute("SELECT COUNT(*) FROM images").fetchone()[0] == 500
    assert con.execute("SELECT COUNT(DISTINCT source_id) FROM photometry").fetchone()[0] == 200
    con.close()
    assert sorted(p.name for p in (tmp_path / "scale").iterdir()) == [
        "pipeline.sqlite3",
        "settings.toml",
    ]


def test_issue17_additions_are_in_the_files(demo_dir, truth):
    """Injected RFI (strong, flagged), the self-cal table (CHI2, one noisy antenna), the
    applied caltable missing from registry and disk, and the peer outlier's noise."""
    from casacore.tables import table

    from dsa110_ws.demo.generate import DEMO_VERSION

    assert truth["demo_version"] == DEMO_VERSION == 3
    ms = truth["measurement_sets"][0]
    burst = next(b for b in ms["rfi"] if len(b["integrations"]) < 12)
    with table(ms["path"], ack=False) as t:
        data, flag = t.getcol("DATA"), t.getcol("FLAG")
        a1, a2, dd = t.getcol("ANTENNA1"), t.getcol("ANTENNA2"), t.getcol("DATA_DESC_ID")
        time = t.getcol("TIME")
    times = np.unique(time)
    rows = (a1 != a2) & (dd == burst["spw"]) & np.isin(time, times[burst["integrations"]])
    rows &= (a1 != 7) & (a2 != 7)  # the dead antenna's rows hold noise only
    cell = data[rows][:, burst["channels"], :]
    assert (
        np.abs(cell).min() > 0.5 * burst["amplitude_jy"] and flag[rows][:, burst["channels"]].all()
    )
    sc = truth["selfcal"]
    with table(sc["path"], ack=False) as t:
        chi2, ant = t.getcol("CHI2"), t.getcol("ANTENNA1")
        names = list(table(sc["path"] + "/ANTENNA", ack=False).getcol("NAME"))
    noisy = ant == names.index(sc["noisy_antenna"])
    assert np.median(chi2[noisy]) > 4 and np.median(chi2[~noisy]) < 1.5
    con = sqlite3.connect(f"file:{demo_dir / 'pipeline.sqlite3'}?mode=ro", uri=True)
    missing = truth["provenance"]["missing_caltable"]
    assert (
        con.execute("SELECT COUNT(*) FROM caltables WHERE path = ?", (missing,)).fetchone()[0] == 0
    )
    assert (
        con.execute(
            "SELECT COUNT(*) FROM calibration_applied WHERE caltable_path = ?", (missing,)
        ).fetchone()[0]
        == 1
    )
    con.close()
    assert not Path(missing).exists()
    (outlier,) = truth["peer_outliers"]
    im = next(i for i in truth["images"] if i["path"] == outlier)
    assert im["peer_outlier"] and im["bad_reason"] is None and im["noise_jy"] == 1.85e-3
