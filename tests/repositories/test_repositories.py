"""Every repository over the generated demo database, checked against the truth file."""

from __future__ import annotations

import sqlite3

import numpy as np
import pandas as pd
import pytest

import dsa110_ws
from dsa110_ws.errors import InvalidQueryError, NotFoundError
from dsa110_ws.models import ImageRecord, MSRecord
from dsa110_ws.repositories import TruncatedResultWarning


def test_row_counts_match_the_truth(workspace, truth):
    counts = workspace.repos.row_counts()
    assert counts["images"] == len(truth["images"])
    assert counts["ms_index"] == truth["counts"]["ms_index"]
    assert counts["photometry"] == truth["sources"]["n_photometry_rows"]
    assert all(v is not None for v in counts.values())


def test_images_find_by_observation_time_type_dec_and_noise(workspace, truth):
    night = truth["nights"][3]
    df = workspace.images.find(start=night, end=f"{night}T23:59:59.999")
    expected = {t["path"] for t in truth["images"] if t["night"] == night}
    assert set(df["path"]) == expected
    assert df["obs_mjd"].is_monotonic_increasing
    assert "created_at_utc" in df.columns and "created_at" in df.columns
    assert set(workspace.images.find(type="5min", limit=None)["type"]) == {"5min"}
    assert workspace.images.find(type="pbcor").empty
    assert workspace.images.find(dec_min_deg=38.0).empty
    assert len(workspace.images.find(dec_min_deg=36.5, dec_max_deg=37.5, limit=None)) == len(
        truth["images"]
    )
    noisy = workspace.images.find(noise_min_jy=5e-3, limit=None)
    bad = [t["path"] for t in truth["images"] if t["bad_reason"] == "high_noise"]
    assert list(noisy["path"]) == bad


def test_images_get_by_id_and_path_round_trip(workspace, truth):
    path = truth["images"][5]["path"]
    rec = workspace.images.get_by_path(path)
    assert isinstance(rec, ImageRecord) and rec.path == path
    again = workspace.images.get(rec.id)
    assert again == rec
    with pytest.raises(NotFoundError):
        workspace.images.get(999_999)
    with pytest.raises(NotFoundError):
        workspace.images.get_by_path("/nope.fits")
    with pytest.raises(AttributeError):
        rec.path = "x"  # frozen


def test_limit_truncates_and_says_so(workspace):
    with pytest.warns(TruncatedResultWarning, match="limit=5"):
        df = workspace.images.find(limit=5)
    assert len(df) == 5 and df.attrs["truncated"] is True
    full = workspace.images.find(limit=None)
    assert full.attrs["truncated"] is False and len(full) > 5
    with pytest.raises(InvalidQueryError):
        workspace.images.find(limit=-1)


@pytest.mark.parametrize("evil", ["x' OR '1'='1", "'; DROP TABLE images; --", "%", "_"])
def test_sql_metacharacters_are_just_data(workspace, evil):
    assert workspace.images.find(field_name=evil).empty
    assert workspace.repos.jobs.find(status=evil).empty
    assert workspace.repos.images.count() > 0  # still there


def test_ms_index_filters(workspace, truth):
    stuck = truth["ms_states"]["stuck"][0]["path"]
    assert stuck in set(workspace.repos.ms_index.find(stage="imaging", status="running")["path"])
    rec = workspace.repos.ms_index.get(truth["images"][0]["ms_path"])
    assert isinstance(rec, MSRecord) and rec.stage == "done"
    by_stage = workspace.repos.ms_index.find(limit=None)["stage"].value_counts().to_dict()
    assert by_stage == truth["counts"]["ms_by_stage"]
    night = truth["nights"][0]
    df = workspace.repos.ms_index.find(start=night, end=truth["nights"][1])
    assert len(df) == sum(1 for t in truth["images"] if t["night"] == night)
    assert set(workspace.repos.ms_index.find(group_id=rec.group_id)["path"]) == {rec.path}


def test_ms_state_changed_before(workspace, truth):
    now = workspace.now().unix
    old = workspace.repos.ms_state.find(current_state="imaging", changed_before=now - 4 * 3600)
    assert list(old["ms_path"]) == [truth["ms_states"]["stuck"][0]["path"]]


def test_caltables_by_set_type_status_and_validity(workspace, truth):
    gap = truth["calibration"]["coverage_gap_mjd"]
    mid_gap = (gap[0] + gap[1]) / 2
    assert workspace.repos.caltables.find(valid_at=mid_gap, status="active").empty
    at_image = truth["images"][0]["mid_mjd"]
    valid = workspace.repos.caltables.find(valid_at=at_image, status="active")
    assert sorted(valid["table_type"]) == ["BP", "GA", "GP", "K"]
    assert list(valid.sort_values("order_index")["table_type"]) == ["K", "BP", "GA", "GP"]
    s = truth["calibration"]["active_sets"][0]
    assert len(workspace.repos.caltables.find(set_name=s)) == 4
    assert set(workspace.repos.caltables.find(status="retired")["set_name"]) == set(
        truth["calibration"]["retired_sets"]
    )
    sets = workspace.repos.caltables.sets()
    assert set(truth["calibration"]["active_sets"]) <= set(sets["set_name"])
    row = workspace.repos.caltables.get_by_path(valid.iloc[0]["path"])
    assert row.set_name == valid.iloc[0]["set_name"]
    applied = workspace.repos.calibration_applied.find(ms_path=truth["images"][0]["ms_path"])
    assert set(applied["caltable_path"]) == set(valid["path"])
    assert len(workspace.repos.calibration_applied.find(success=False)) == 1


def test_photometry_by_source_image_and_time_order(workspace, truth):
    sid = truth["sources"]["ese"][0]["source_id"]
    lc = workspace.repos.photometry.find(source_id=sid, limit=None)
    assert len(lc) >= 2 * len(truth["nights"]) - 2
    assert lc["mjd"].is_monotonic_increasing
    assert not lc["id"].is_monotonic_increasing  # inserted out of order, returned in time order
    img = truth["images"][0]["path"]
    assert (
        len(workspace.repos.photometry.find(image_path=img, limit=None))
        == truth["images"][0]["n_sources"]
    )


def test_photometry_approx_rows_without_and_with_an_id_column(workspace, tmp_path):
    repo = workspace.repos.photometry
    assert repo.approx_rows() == repo.count() > 0  # the demo's ids run 1..N
    db = tmp_path / "noid.sqlite3"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE photometry (source_id TEXT, mjd REAL, flux_jy REAL)")
    con.executemany("INSERT INTO photometry VALUES (?, ?, ?)", [("a", 1.0, 1.0)] * 7)
    con.commit()
    con.close()
    w = dsa110_ws.connect(pipeline_db=str(db), state_dir=str(tmp_path / "st"))
    assert w.repos.photometry.approx_rows() == 7
    w.close()


def test_photometry_cone_search_is_exact(workspace):
    all_rows = workspace.repos.photometry.scan(["id", "ra_deg", "dec_deg"])
    ra0, dec0, r = 153.0, 37.2, 0.4
    from astropy.coordinates import SkyCoord

    c = SkyCoord(all_rows["ra_deg"].to_numpy(), all_rows["dec_deg"].to_numpy(), unit="deg")
    sep = c.separation(SkyCoord(ra0, dec0, unit="deg")).deg
    expected = set(all_rows["id"][sep <= r])
    got = workspace.repos.photometry.cone(ra0, dec0, r, limit=None)
    assert set(got["id"]) == expected and len(expected) > 0
    assert got["sep_deg"].is_monotonic_increasing
    np.testing.assert_allclose(np.sort(got["sep_deg"]), np.sort(sep[sep <= r]), atol=1e-9)
    with pytest.raises(InvalidQueryError):
        workspace.repos.photometry.cone(10, 95, 1)
    with pytest.raises(InvalidQueryError):
        workspace.repos.photometry.cone(10, 10, -1)


def test_cone_across_ra_zero(tmp_path):
    import sqlite3

    from dsa110_ws.demo.schema import create_schema
    from dsa110_ws.repositories import Database
    from dsa110_ws.repositories.photometry import PhotometryRepository

    db = tmp_path / "p.sqlite3"
    con = sqlite3.connect(db)
    create_schema(con, tables=["photometry"])
    con.executemany(
        "INSERT INTO photometry (source_id, ra_deg, dec_deg) VALUES (?, ?, ?)",
        [("a", 359.9, 10.0), ("b", 0.1, 10.0), ("c", 180.0, 10.0)],
    )
    con.commit()
    con.close()
    got = PhotometryRepository(Database(db)).cone(0.0, 10.0, 0.5)
    assert sorted(got["source_id"]) == ["a", "b"]


def test_sources_derived_from_photometry(workspace, truth):
    repo = workspace.repos.sources
    assert repo.derived  # the demo leaves the sources table empty, like the pipeline
    df = repo.find(limit=None)
    assert len(df) == truth["sources"]["n_sources"] and df.attrs["derived"]
    sid = truth["sources"]["variables"][0]["source_id"]
    rec = repo.get(sid)
    lc = workspace.repos.photometry.find(source_id=sid, limit=None)
    assert rec.detection_count == len(lc)
    assert rec.first_detected_mjd == pytest.approx(lc["mjd"].min())
    near = repo.cone(rec.ra_deg, rec.dec_deg, 0.05)
    assert near.iloc[0]["id"] == sid and near.iloc[0]["sep_deg"] < 1e-6
    with pytest.raises(NotFoundError):
        repo.get("J000000.0+000000")


def test_jobs_batches_and_items(workspace, truth):
    failed = workspace.repos.jobs.find(status="failed")
    assert sorted(failed["id"]) == sorted(f["id"] for f in truth["failed_jobs"])
    counts = workspace.repos.jobs.find(limit=None)["status"].value_counts().to_dict()
    assert counts == truth["counts"]["jobs_by_status"]
    assert workspace.repos.jobs.get(int(failed.iloc[0]["id"])).status == "failed"
    b = workspace.repos.batch_jobs.find(limit=None)
    assert b["status"].value_counts().to_dict() == truth["batch_status_counts"]
    partial = b[b["status"] == "partial"].iloc[0]
    items = workspace.repos.batch_jobs.items(int(partial["id"]))
    assert len(items) == partial["total_items"]
    assert (items["status"] == "failed").sum() == partial["failed_items"]


def test_qa_variability_monitoring_ratings_ingest_tables(workspace, truth):
    r = workspace.repos
    bad = {t["path"] for t in truth["images"] if t["bad_reason"]}
    assert set(r.image_qa.find(overall_quality="bad")["image_path"]) == bad
    assert len(r.calibration_qa.find(limit=None)) == len(truth["nights"])
    assert r.variability_stats.count() == truth["sources"]["n_sources"]
    variables = {v["source_id"] for v in truth["sources"]["variables"]}
    stored = set(r.ese_candidates.find(status="active")["source_id"])
    assert stored and stored <= variables  # the pipeline's own (incomplete) flags
    drift = truth["calibration"]["drifting_calibrator"]
    mon = r.calibration_monitoring.find(calibrator_name=drift)
    assert len(mon) == len(truth["nights"]) and mon["mjd"].is_monotonic_increasing
    open_alerts = r.flux_monitoring_alerts.find(acknowledged=False)
    assert list(open_alerts["calibrator_name"]) == [drift]
    assert len(r.flux_monitoring_alerts.find(resolved=True)) == 1
    assert not r.image_ratings.find().empty
    assert r.image_ratings.find(image_id=1)["rating"].between(1, 5).all()
    inc = {g["group_id"] for g in truth["incomplete_groups"]}
    assert set(r.ingestion_groups.find(state="collecting")["group_id"]) == inc
    g = truth["incomplete_groups"][0]
    have = set(r.ingestion_subbands.find(group_id=g["group_id"])["subband_idx"])
    assert set(range(16)) - have == set(g["missing_subbands"])
    per_night = r.hdf5_files.per_night()
    assert per_night["n_files"].sum() == r.hdf5_files.count()
    assert (
        r.ingestion_groups.counts_by_state().set_index("state")["n"].to_dict()
        == truth["counts"]["ingestion_by_state"]
    )


def test_binned_leaves_the_callers_where_as_it_was(workspace):
    """One Where reused for two bin ranges: each result is that range's alone (the bin
    range was added to the caller's Where, so the second call counted rows in both)."""
    repo = workspace.repos.ms_index
    done = workspace.db.query("SELECT created_at FROM ms_index WHERE status = 'done'")
    mid, span = float(done["created_at"].median()), 3 * 86400
    where = repo.where().eq("status", "done")
    sql, params = where.sql(), dict(where.params)
    for lo in (mid - span, mid):
        got = repo.binned("created_at", lo=lo, hi=lo + span, width=3600, where=where)
        fresh = repo.where().eq("status", "done")
        want = repo.binned("created_at", lo=lo, hi=lo + span, width=3600, where=fresh)
        assert int(got["n"].sum()) == int(want["n"].sum()) > 0
        pd.testing.assert_frame_equal(got, want)
    assert (where.sql(), where.params) == (sql, params)


def test_records_round_trip_through_to_dict(workspace):
    df = workspace.repos.jobs.find(status="failed")
    rec = workspace.repos.jobs.get(int(df.iloc[0]["id"]))
    again = type(rec).from_row(rec.to_dict())
    assert again == rec and isinstance(rec.to_dict()["id"], int)


def test_bad_time_input_is_an_invalid_query(workspace):
    with pytest.raises(InvalidQueryError, match="2026-13-40"):
        workspace.images.find(start="2026-13-40")
    with pytest.raises(InvalidQueryError, match="before its start"):
        workspace.repos.jobs.find(start="2026-11-10", end="2026-11-01")
    with pytest.raises(InvalidQueryError, match="Cannot tell"):
        workspace.images.find(start=12345)
    assert isinstance(
        workspace.images.find(start=pd.Timestamp("2026-11-01", tz="UTC")), pd.DataFrame
    )
