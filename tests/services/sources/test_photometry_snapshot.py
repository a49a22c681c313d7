"""The photometry snapshot: the same answers as reading SQLite, rebuilt whenever the
database changes, never kept from a racy read, and harmless when it cannot be written or
read back.  Every test works on a private copy of the demo database (its file times are
changed) and a private state dir."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest
from pandas.testing import assert_frame_equal

import dsa110_ws
from dsa110_ws.errors import ConfigurationError
from dsa110_ws.services.sources import _snapshot
from dsa110_ws.services.sources._segments import is_grouped_sorted
from dsa110_ws.services.sources._variability import FluxArrays, compute_metrics

ON = {"sources": {"snapshot_min_rows": 0}}
OFF = {"sources": {"snapshot_min_rows": -1}}


def age(db: Path, seconds: float = 3600.0) -> None:
    """Make the database look settled (last written ``seconds`` ago)."""
    t = time.time() - seconds
    for p in (db, Path(f"{db}-wal")):
        if p.exists():
            os.utime(p, (t, t))


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot_dirs(state: Path) -> list[Path]:
    root = state / "snapshots" / "photometry"
    return (
        sorted(p for p in root.glob("*/*") if not p.name.startswith(".")) if root.exists() else []
    )


@pytest.fixture()
def db(writable_demo) -> Path:
    path = writable_demo / "pipeline.sqlite3"
    age(path)
    return path


def connect(writable_demo: Path, state: Path, sections=ON):
    return dsa110_ws.connect(writable_demo / "settings.toml", state_dir=state, sections=sections)


def same_table(a, b) -> None:
    """Equal variability tables (attrs apart from how the rows were read)."""
    for t in (a, b):
        t.attrs.pop("snapshot", None)
    assert a.attrs == b.attrs
    a, b = a.copy(), b.copy()
    a.attrs.clear()
    b.attrs.clear()
    assert_frame_equal(a, b, check_exact=False, rtol=1e-9)


CASES = [
    {},
    {"flux": "raw"},
    {"flux": "normalized"},
    {"start": "2026-11-07", "end": "2026-11-10T12:00:00"},
    {"start": 61353.0},
    {"end": "2026-11-08"},
]


@pytest.mark.parametrize("kw", CASES, ids=[json.dumps(c) for c in CASES])
def test_snapshot_gives_the_same_table_as_sqlite(db, writable_demo, tmp_path, kw):
    sql = connect(writable_demo, tmp_path / "a", OFF)
    snap = connect(writable_demo, tmp_path / "b")
    a = sql.sources.variability(preset=None, **kw)
    b = snap.sources.variability(preset=None, **kw)
    assert a.attrs["snapshot"] == "off"
    assert b.attrs["snapshot"] == "built"
    assert len(a) > 0
    same_table(a, b)
    c = snap.sources.variability(preset=None, **kw)
    assert c.attrs["snapshot"] == "used"
    same_table(a, c)


def test_subsets_and_reference_normalisation_match(db, writable_demo, tmp_path):
    sql = connect(writable_demo, tmp_path / "a", OFF)
    snap = connect(writable_demo, tmp_path / "b")
    ids = list(sql.sources.variability(preset=None)["source_id"][[3, 40, 41, 299]])
    # no snapshot yet: a subset goes to SQLite and builds nothing
    first = snap.sources.variability(preset=None, source_ids=ids)
    assert first.attrs["snapshot"].startswith("none: a subset")
    assert snapshot_dirs(tmp_path / "b") == []
    snap.sources.variability(preset=None)  # builds
    a = sql.sources.variability(preset=None, source_ids=ids + ["NOT-A-SOURCE"])
    b = snap.sources.variability(preset=None, source_ids=ids + ["NOT-A-SOURCE"])
    assert b.attrs["snapshot"] == "used"
    assert sorted(b["source_id"]) == sorted(ids)
    same_table(a, b)
    ra = sql.sources.variability(preset=None, flux="reference")
    rb = snap.sources.variability(preset=None, flux="reference")
    same_table(ra, rb)
    na, nb = sql.sources.normalisation(), snap.sources.normalisation()
    assert_frame_equal(na.corrections, nb.corrections, check_exact=False, rtol=1e-9)
    assert_frame_equal(na.references, nb.references, check_exact=False, rtol=1e-9)


def test_pipeline_database_untouched_and_snapshot_only_in_state_dir(db, writable_demo, tmp_path):
    before = sha(db)
    listing = sorted(p.name for p in writable_demo.iterdir())
    w = connect(writable_demo, tmp_path / "st")
    w.sources.variability(preset=None)
    w.close()
    assert sha(db) == before
    assert sorted(p.name for p in writable_demo.iterdir()) == listing
    [only] = snapshot_dirs(tmp_path / "st")
    meta = json.loads((only / "meta.json").read_text())
    n_rows = sqlite3.connect(db).execute("SELECT COUNT(*) FROM photometry").fetchone()[0]
    assert meta["n_rows"] == n_rows
    assert np.load(only / "flux_jy.npy").shape == (n_rows,)


def test_a_changed_database_is_read_again_and_the_old_snapshot_dropped(db, writable_demo, tmp_path):
    w = connect(writable_demo, tmp_path / "st")
    before = w.sources.variability(preset=None).set_index("source_id")
    [old] = snapshot_dirs(tmp_path / "st")
    sid = before.index[7]
    con = sqlite3.connect(db)
    with con:
        con.execute(
            "UPDATE photometry SET flux_jy = flux_jy * 2, normalized_flux_jy = "
            "normalized_flux_jy * 2 WHERE source_id = ?",
            (sid,),
        )
    con.close()
    age(db, 600)
    after = w.sources.variability(preset=None)
    assert after.attrs["snapshot"] == "built"
    after = after.set_index("source_id")
    assert after.loc[sid, "mean_flux_jy"] == pytest.approx(
        2 * before.loc[sid, "mean_flux_jy"], rel=1e-12
    )
    other = before.index[8]
    assert after.loc[other, "mean_flux_jy"] == before.loc[other, "mean_flux_jy"]
    [new] = snapshot_dirs(tmp_path / "st")
    assert new != old


def test_uncommitted_wal_rows_are_seen_and_a_racy_read_is_not_kept(db, writable_demo, tmp_path):
    w = connect(writable_demo, tmp_path / "st")
    base = w.sources.variability(preset=None).set_index("source_id")
    sid = base.index[0]
    # a live pipeline: WAL mode, a writer that keeps its connection open (no checkpoint)
    writer = sqlite3.connect(db)
    try:
        writer.execute("PRAGMA journal_mode=WAL")
        with writer:
            writer.execute(
                "INSERT INTO photometry (source_id, image_path, mjd, flux_jy, "
                "flux_err_jy, normalized_flux_jy, normalized_flux_err_jy) "
                "VALUES (?, NULL, 61400.0, 1.0, 0.01, 1.0, 0.01)",
                (sid,),
            )
        assert Path(f"{db}-wal").exists()
        # "written just now" without depending on how soon the read starts: the file
        # system says the last write is a minute ahead of the read
        age(db, -60.0)
        racy = w.sources.variability(preset=None)
        assert racy.attrs["snapshot"].startswith("built, not kept: the database was written")
        assert racy.set_index("source_id").loc[sid, "n_epochs"] == base.loc[sid, "n_epochs"] + 1
        assert racy.set_index("source_id").loc[sid, "last_mjd"] == 61400.0
        age(db)  # the same file state, now settled: kept, then used
        assert w.sources.variability(preset=None).attrs["snapshot"] == "built"
        again = w.sources.variability(preset=None)
        assert again.attrs["snapshot"] == "used"
        assert again.set_index("source_id").loc[sid, "n_epochs"] == base.loc[sid, "n_epochs"] + 1
    finally:
        writer.close()


def test_truncated_snapshot_is_rebuilt(db, writable_demo, tmp_path):
    w = connect(writable_demo, tmp_path / "st")
    good = w.sources.variability(preset=None)
    [snap] = snapshot_dirs(tmp_path / "st")
    col = snap / "flux_jy.npy"
    col.write_bytes(col.read_bytes()[: col.stat().st_size // 2])
    again = w.sources.variability(preset=None)
    assert again.attrs["snapshot"] == "built"
    same_table(good, again)


def test_state_dir_that_cannot_hold_a_snapshot_warns_and_still_answers(db, writable_demo, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the state dir should be")
    w = connect(writable_demo, blocker)
    sql = connect(writable_demo, tmp_path / "ok", OFF)
    with pytest.warns(_snapshot.SnapshotWarning, match="snapshot_min_rows = -1"):
        table = w.sources.variability(preset=None)
    assert table.attrs["snapshot"].startswith("built, not kept:")
    same_table(sql.sources.variability(preset=None), table)


def test_below_threshold_and_bad_setting(db, writable_demo, tmp_path):
    small = connect(writable_demo, tmp_path / "st", {"sources": {"snapshot_min_rows": 10**9}})
    assert (
        small.sources.variability(preset=None)
        .attrs["snapshot"]
        .startswith("none: photometry is below")
    )
    assert snapshot_dirs(tmp_path / "st") == []
    with pytest.raises(ConfigurationError, match="snapshot_min_rows = 'lots'"):  # at start-up
        connect(writable_demo, tmp_path / "st", {"sources": {"snapshot_min_rows": "lots"}})


def test_refresh_and_status(db, writable_demo, tmp_path):
    w = connect(writable_demo, tmp_path / "st", {"sources": {"snapshot_min_rows": 10**9}})
    assert w.snapshot.status()["valid"] is False
    out = w.snapshot.refresh()  # explicit: whatever the threshold says
    assert out["action"] == "built" and out["valid"] is True
    assert out["n_rows"] == w.repos.photometry.count()
    assert out["bytes"] > 8 * out["n_rows"]
    assert w.sources.snapshot(refresh=True)["action"] == "used"


def test_presorted_rows_skip_the_sort_and_give_the_same_metrics():
    rng = np.random.default_rng(3)
    n_src, n = 50, 4000
    code = rng.integers(0, n_src, n)
    mjd = rng.uniform(61000, 61100, n)
    flux = rng.normal(1.0, 0.05, n)
    err = rng.uniform(0.01, 0.05, n)
    ids = np.array([f"S{i:02d}" for i in range(n_src)], dtype=object)
    col = np.full(n_src, "flux_jy", dtype=object)
    order = np.lexsort((mjd, code))
    assert not is_grouped_sorted(code, mjd)
    assert is_grouped_sorted(code[order], mjd[order])
    assert not is_grouped_sorted(code[order], np.where(np.arange(n) == 5, np.nan, mjd[order]))
    shuffled = compute_metrics(FluxArrays(ids, code, mjd, flux, err, col))
    ordered = compute_metrics(
        FluxArrays(ids, code[order], mjd[order], flux[order], err[order], col)
    )
    assert_frame_equal(shuffled, ordered, check_exact=False, rtol=1e-12)


def _variability_in_child(settings: str, state: str) -> str:
    w = dsa110_ws.connect(settings, state_dir=state, sections=ON)
    table = w.sources.variability(preset=None)
    return table[["source_id", "n_epochs", "eta"]].to_json()


def test_two_processes_building_at_once_agree_and_leave_one_snapshot(db, writable_demo, tmp_path):
    import concurrent.futures
    import multiprocessing

    state = tmp_path / "st"
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=ctx) as pool:
        jobs = [
            pool.submit(_variability_in_child, str(writable_demo / "settings.toml"), str(state))
            for _ in range(2)
        ]
        a, b = (j.result(timeout=300) for j in jobs)
    assert a == b
    [only] = snapshot_dirs(state)
    assert not [p for p in only.parent.iterdir() if p.name.startswith(".")]  # no leftovers
    w = connect(writable_demo, state)
    again = w.sources.variability(preset=None)
    assert again.attrs["snapshot"] == "used"
    assert again[["source_id", "n_epochs", "eta"]].to_json() == a


def test_a_snapshot_of_a_newer_database_state_is_not_pruned_by_an_older_one(
    db, writable_demo, tmp_path
):
    w = connect(writable_demo, tmp_path / "st")
    w.sources.variability(preset=None)
    [first] = snapshot_dirs(tmp_path / "st")
    meta = json.loads((first / "meta.json").read_text())
    newer = first.parent / "from-a-newer-state"
    newer.mkdir()
    future = json.loads(json.dumps(meta["identity"]))
    future["db"][3] += 10**13  # written 10,000 s after ours: newer than any state below
    (newer / "meta.json").write_text(json.dumps({**meta, "identity": future}))
    junk = first.parent / "unreadable"
    junk.mkdir()
    age(db, 900)  # our database changes: the next read writes a new snapshot and prunes
    assert w.sources.variability(preset=None).attrs["snapshot"] == "built"
    left = {p.name for p in first.parent.iterdir()}
    assert "from-a-newer-state" in left and first.name not in left and "unreadable" not in left


def test_categories_that_do_not_match_the_codes_are_not_trusted(db, writable_demo, tmp_path):
    w = connect(writable_demo, tmp_path / "st")
    good = w.sources.variability(preset=None)
    [snap] = snapshot_dirs(tmp_path / "st")
    cats = np.load(snap / "source_id.categories.npy")
    np.save(snap / "source_id.categories.npy", cats[:-5])  # loadable, but five ids short
    fresh = connect(writable_demo, tmp_path / "st")
    again = fresh.sources.variability(preset=None)
    assert again.attrs["snapshot"] == "built"
    same_table(good, again)
