"""Sky coverage against the demo's pointings (truth.json), astropy's own WCS footprints and
angular separations, and mocpy's FITS reader."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import warnings

import numpy as np
import pytest

from dsa110_ws.errors import InvalidQueryError, NotPermittedError

NIGHT = "2026-11-13"


def _night_images(truth, night=NIGHT):
    return [i for i in truth["images"] if i["night"] == night]


def _astropy_area_deg2(images, rng, n=40_000):
    """Monte Carlo area of the union of the images' footprints, by astropy's
    ``WCS.footprint_contains`` (an oracle independent of the MOC)."""
    from astropy.coordinates import SkyCoord
    from astropy.io import fits
    from astropy.wcs import WCS, FITSFixedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        wcss = [WCS(fits.getheader(i["path"])).celestial for i in images]
    for w, i in zip(wcss, images, strict=True):
        w.pixel_shape = (fits.getheader(i["path"])["NAXIS1"],) * 2
    ra = np.array([i["center_ra_deg"] for i in images])
    dec0 = images[0]["center_dec_deg"]
    lo_ra, hi_ra, lo_dec, hi_dec = ra.min() - 2, ra.max() + 2, dec0 - 1.5, dec0 + 1.5
    # uniform on the sphere inside the box
    u = rng.uniform(np.sin(np.radians(lo_dec)), np.sin(np.radians(hi_dec)), n)
    pts = SkyCoord(rng.uniform(lo_ra, hi_ra, n), np.degrees(np.arcsin(u)), unit="deg")
    inside = np.zeros(n, dtype=bool)
    for w in wcss:
        inside |= w.footprint_contains(pts)
    box = np.radians(hi_ra - lo_ra) * (np.sin(np.radians(hi_dec)) - np.sin(np.radians(lo_dec)))
    return inside.mean() * box * (180 / np.pi) ** 2, inside.mean()


def test_a_nights_coverage_matches_its_pointings(ws, truth):
    from astropy import units as u

    images = _night_images(truth)
    cov = ws.coverage.night(NIGHT)
    assert len(cov.footprints) == len(images) and set(cov.footprints["source"]) == {"wcs"}
    ra = np.array([i["center_ra_deg"] for i in images])
    dec = np.array([i["center_dec_deg"] for i in images])
    assert cov.moc.contains_lonlat(ra * u.deg, dec * u.deg).all()
    # 1.2 deg north and south of each pointing is beyond the 2.13 deg images' edges
    assert not cov.moc.contains_lonlat(ra * u.deg, (dec + 1.2) * u.deg).any()
    assert not cov.moc.contains_lonlat(ra * u.deg, (dec - 1.2) * u.deg).any()
    area, _ = _astropy_area_deg2(images, np.random.default_rng(5))
    assert cov.area_deg2 == pytest.approx(area, rel=0.03)
    decs = cov.declinations
    assert decs["dec_deg"].tolist() == [pytest.approx(37.0)] and decs["n_images"].tolist() == [8]
    half_ra = 384 * 20 / 3600 / 2 / np.cos(np.radians(37.0))
    assert decs["ra_covered_deg"][0] == pytest.approx(np.ptp(ra) + 2 * half_ra, abs=1e-3)
    mids = sorted(i["mid_mjd"] for i in images)
    from dsa110_ws.core.time import mjd_to_iso

    assert decs["first_utc"][0] == mjd_to_iso(mids[0])
    assert decs["last_utc"][0] == mjd_to_iso(mids[-1])


def test_table_and_pointing_footprints_agree_with_the_wcs(ws, truth):
    wcs = ws.coverage.night(NIGHT)
    table = ws.coverage.night(NIGHT, footprint="table")
    assert set(table.footprints["source"]) == {"table"}
    differ = wcs.moc.symmetric_difference(table.moc)
    assert differ.sky_fraction < 0.01 * wcs.moc.sky_fraction
    cones = ws.coverage.night(NIGHT, footprint="pointings", fov_radius_deg=1.0)
    assert len(cones.footprints) == len(_night_images(truth))
    assert cones.declinations["dec_deg"].tolist() == [pytest.approx(37.0)]
    # eight 1-degree cones one degree apart: inside the images' union, not larger
    assert cones.moc.difference(wcs.moc).sky_fraction < 0.02 * cones.moc.sky_fraction
    everything = ws.coverage.window("2026-11-01", "2026-11-20")
    assert len(everything.footprints) == len(truth["images"])
    assert everything.declinations["n_images"].tolist() == [len(truth["images"])]


def test_an_unreadable_image_falls_back_to_its_table_geometry(writable_demo, truth, tmp_path):
    import dsa110_ws

    first = _night_images(truth)[0]["path"]
    con = sqlite3.connect(writable_demo / "pipeline.sqlite3")
    with con:
        con.execute("UPDATE images SET path = ? WHERE path = ?", (first + ".moved", first))
    con.close()
    w = dsa110_ws.connect(writable_demo / "settings.toml", state_dir=tmp_path / "st")
    cov = w.coverage.night(NIGHT)
    assert cov.summary()["n_from_table"] == 1 and cov.summary()["n_from_wcs"] == 7
    assert len(cov.footprints) == 8
    w.close()


def test_images_and_sources_inside_a_region_or_a_moc(ws, truth):
    from astropy import units as u
    from astropy.coordinates import SkyCoord
    from regions import CircleSkyRegion, RectangleSkyRegion

    centre = SkyCoord(152.0, 37.0, unit="deg")
    region = CircleSkyRegion(centre, radius=1.0 * u.deg)
    inside = ws.coverage.images(region)
    sep = SkyCoord(
        [i["center_ra_deg"] for i in truth["images"]],
        [i["center_dec_deg"] for i in truth["images"]],
        unit="deg",
    ).separation(centre)
    expected = {i["path"] for i, s in zip(truth["images"], sep.deg, strict=True) if s < 1.0}
    assert set(inside["path"]) == expected and expected
    overlap = ws.coverage.images("icrs; circle(152, 37, 1d)", how="overlap")
    assert set(inside["path"]) < set(overlap["path"])
    # sources: a circle region gives the cone search's sources
    within = ws.sources.within("icrs; circle(152, 37, 1d)", limit=None)
    cone = ws.sources.cone((152.0, 37.0), 1.0, limit=None)
    assert set(within["id"]) == set(cone["id"]) and len(cone) > 10
    # a rectangle 2 deg x 1 deg (in its tangent plane), checked by separation along axes
    rect = RectangleSkyRegion(centre, width=2 * u.deg, height=1 * u.deg)
    got = ws.sources.within(rect, limit=None)
    cat = ws.sources.catalog(limit=None)
    dra = (cat["ra_deg"] - 152.0) * np.cos(np.radians(cat["dec_deg"]))
    sure_in = (np.abs(dra) < 0.98) & (np.abs(cat["dec_deg"] - 37.0) < 0.49)
    sure_out = (np.abs(dra) > 1.02) | (np.abs(cat["dec_deg"] - 37.0) > 0.51)
    assert set(cat["id"][sure_in]) <= set(got["id"])
    assert not set(cat["id"][sure_out]) & set(got["id"])
    # a night's MOC holds every source its images measured
    moc_sources = ws.sources.within(ws.coverage.night(NIGHT).moc, limit=None)
    assert len(moc_sources) == len(cat)


def test_the_moc_file_round_trips_and_is_written_only_outside(ws, demo_dir, tmp_path):
    from mocpy import MOC

    cov = ws.coverage.night(NIGHT)
    path = ws.coverage.write_moc(cov, tmp_path / "night.fits")
    assert MOC.from_fits(path) == cov.moc
    with pytest.raises(InvalidQueryError, match="exists"):
        ws.coverage.write_moc(cov, path)
    with pytest.raises(NotPermittedError):
        ws.coverage.write_moc(cov, demo_dir / "data" / "night.fits")
    assert len(ws.sources.within(path, limit=None)) == len(ws.sources.within(cov.moc, limit=None))
    with pytest.raises(InvalidQueryError):
        ws.coverage.window("2026-11-13", "2026-11-14", footprint="guess")
    with pytest.raises(InvalidQueryError):
        ws.sources.within("this is not a region")


def test_coverage_maps_draw_the_moc(ws):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import PolyCollection

    cov = ws.coverage.night(NIGHT)
    for kind in ("allsky", "strip"):
        ax = ws.coverage.plot(cov, kind=kind)
        cells = [c for c in ax.collections if isinstance(c, PolyCollection)]
        assert len(cells) == 1 and len(cells[0].get_paths()) > 50
        assert "Dec +37.0°" in ax.get_title() and "8 footprints" in ax.get_title()
        plt.close(ax.figure)


def _cli(*args, env):
    return subprocess.run(
        [sys.executable, "-m", "dsa110_ws.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=300,
    )


def test_the_coverage_command(demo_dir, truth, tmp_path):
    env = {
        "DSA110_WS_SETTINGS": str(demo_dir / "settings.toml"),
        "DSA110_WS_STATE_DIR": str(tmp_path / "st"),
    }
    out = _cli("coverage", "--night", NIGHT, "--json", "--moc", str(tmp_path / "m.fits"), env=env)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["n_footprints"] == 8 and data["declinations"][0]["dec_deg"] == 37.0
    assert os.path.exists(data["moc_file"])
    text = _cli("coverage", "--night", NIGHT, env=env)
    assert text.returncode == 0 and "Dec +37.00: 8 footprints" in text.stdout
    bad = _cli("coverage", "--night", NIGHT, "--moc", str(demo_dir / "data" / "m.fits"), env=env)
    lines = bad.stderr.strip().splitlines()
    assert bad.returncode == 1 and len(lines) == 1 and "never writes" in lines[0]


def test_declination_strips_and_ra_coverage_by_exact_arithmetic():
    import pandas as pd

    from dsa110_ws.services.products.coverage import declination_strips, ra_covered_deg

    # disjoint, overlapping and wrapping intervals (degrees of RA)
    assert ra_covered_deg(np.array([10.0, 30.0]), np.array([5.0, 5.0])) == pytest.approx(20.0)
    assert ra_covered_deg(np.array([10.0, 14.0]), np.array([5.0, 5.0])) == pytest.approx(14.0)
    assert ra_covered_deg(np.array([359.0, 2.0]), np.array([2.0, 2.0])) == pytest.approx(7.0)
    assert ra_covered_deg(np.arange(0.0, 360.0, 10.0), np.full(36, 6.0)) == pytest.approx(360.0)
    fp = pd.DataFrame(
        {
            "center_ra_deg": [100.0, 101.0, 200.0, 100.0],
            "center_dec_deg": [37.0, 37.02, 37.01, 55.0],
            "obs_mjd": [61000.5, 61000.6, 61000.7, 61000.8],
        }
    )
    strips = declination_strips(fp, np.full(4, 1.0))
    assert strips["dec_deg"].tolist() == [37.01, 55.0]
    assert strips["n_images"].tolist() == [3, 1]
    assert strips["ra_covered_deg"].tolist() == [pytest.approx(5.0), pytest.approx(2.0)]
    assert strips["last_utc"][0] == "2025-11-21T16:48:00"  # MJD 61000.7
