"""The database layer: read-only access beside a live writer, old schemas, a locked file."""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import shutil
import sqlite3
from pathlib import Path

import pytest

import dsa110_ws
from dsa110_ws.demo.schema import create_schema
from dsa110_ws.errors import (
    ConfigurationError,
    DatabaseBusyError,
    NotPermittedError,
    SchemaMismatchError,
)
from dsa110_ws.repositories import Database


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _writer(db: str, rounds: int, in_txn, reader_done, progress) -> None:
    """A pipeline-like writer that, each round, opens a write transaction, inserts a job and
    then waits for the reader to finish a read before it commits: every read of the test
    happens while this process holds an open write transaction. ``progress`` counts commits."""
    con = sqlite3.connect(db, timeout=10, isolation_level=None)
    con.execute("PRAGMA journal_mode = WAL")
    for _ in range(rounds):
        con.execute("BEGIN IMMEDIATE")
        con.execute(
            "INSERT INTO jobs (type, status, created_at) VALUES ('image', 'running', ?)",
            (1.8e9,),
        )
        in_txn.set()
        if not reader_done.wait(60):
            con.execute("ROLLBACK")
            break
        reader_done.clear()
        con.execute("COMMIT")
        with progress.get_lock():
            progress.value += 1
    con.close()


def test_reads_succeed_while_a_pipeline_process_writes_in_wal_mode(tmp_path, demo_dir):
    """Each read runs while the writer holds an uncommitted insert (the writer's progress is
    observed between reads): reads neither block nor see uncommitted rows, and they see
    each commit once it is made."""
    db = tmp_path / "pipeline.sqlite3"
    shutil.copy2(demo_dir / "pipeline.sqlite3", db)
    w = dsa110_ws.connect(pipeline_db=db, state_dir=tmp_path / "st")
    before = w.repos.jobs.count()
    ctx = mp.get_context("spawn")
    in_txn, reader_done, progress = ctx.Event(), ctx.Event(), ctx.Value("i", 0)
    rounds = 5
    proc = ctx.Process(target=_writer, args=(str(db), rounds, in_txn, reader_done, progress))
    proc.start()
    observed = []
    try:
        for _ in range(rounds):
            assert in_txn.wait(60), "the writer never opened its transaction"
            committed = progress.value  # the writer is inside its transaction now
            n = w.repos.jobs.count()
            assert len(w.repos.jobs.find(status="failed")) == 4
            assert progress.value == committed and in_txn.is_set()  # still uncommitted
            observed.append((committed, n))
            in_txn.clear()  # only the reader clears it, so the next wait is for a new round
            reader_done.set()
    finally:
        reader_done.set()
        proc.join(60)
    assert proc.exitcode == 0 and progress.value == rounds
    # during the reads the writer had made 0, 1, ... commits, and each read saw exactly them
    assert observed == [(i, before + i) for i in range(rounds)]
    assert w.repos.jobs.count() == before + rounds
    w.close()


def test_the_workspace_never_modifies_the_database_file(tmp_path, demo_dir):
    db = tmp_path / "pipeline.sqlite3"
    shutil.copy2(demo_dir / "pipeline.sqlite3", db)
    digest, mtime = _sha(db), db.stat().st_mtime_ns
    w = dsa110_ws.connect(pipeline_db=db, state_dir=tmp_path / "st")
    for name in ("images", "jobs", "photometry", "caltables", "ms_index"):
        getattr(w.repos, name).find(limit=None)
    w.repos.photometry.cone(153.0, 37.0, 1.0, limit=None)
    w.repos.sources.find(limit=None)
    with (
        pytest.raises(NotPermittedError, match="DSA110_WS_ALLOW_WRITES"),
        w.db.transaction("test a write"),
    ):
        pass
    with pytest.raises(sqlite3.OperationalError):  # even a raw write on the reader is refused
        w.db._reader().execute("DELETE FROM jobs")
    w.close()
    assert _sha(db) == digest and db.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("pipeline")) == [
        "pipeline.sqlite3"
    ]


def test_a_database_lacking_tables_fails_only_those_repositories(tmp_path):
    db = tmp_path / "old.sqlite3"
    con = sqlite3.connect(db)
    create_schema(con, tables=["images", "ms_index", "jobs"])
    con.execute("ALTER TABLE jobs RENAME TO jobs_old")
    con.execute("CREATE TABLE jobs (id INTEGER PRIMARY KEY, type TEXT, created_at REAL)")
    con.execute("INSERT INTO images (path, type, created_at) VALUES ('/x.fits', '5min', 1.8e9)")
    con.commit()
    con.close()
    w = dsa110_ws.connect(pipeline_db=db, state_dir=tmp_path / "st")
    assert list(w.images.find()["path"]) == ["/x.fits"]
    with pytest.raises(SchemaMismatchError, match="ese_candidates") as err:
        w.repos.ese_candidates.find()
    assert err.value.table == "ese_candidates"
    with pytest.raises(SchemaMismatchError, match="status") as err:
        w.repos.jobs.find(status="failed")  # the column is missing in this older table
    assert err.value.column == "status"
    assert w.repos.jobs.find(type="image").empty  # filters on columns it has still work
    counts = w.repos.row_counts()
    assert counts["images"] == 1 and counts["photometry"] is None
    assert not w.repos.photometry.available


def test_a_locked_database_raises_database_busy_after_the_timeout(tmp_path):
    db = tmp_path / "locked.sqlite3"
    con = sqlite3.connect(db)
    create_schema(con, tables=["jobs"])
    con.commit()
    con.execute("BEGIN EXCLUSIVE")  # rollback-journal mode: readers are blocked
    try:
        d = Database(db, busy_timeout_s=0.2)
        with pytest.raises(DatabaseBusyError, match="locked"):
            d.scalar("SELECT COUNT(*) FROM jobs")
    finally:
        con.rollback()
        con.close()
    assert Database(db, busy_timeout_s=0.2).scalar("SELECT COUNT(*) FROM jobs") == 0


def test_a_sqlite_url_is_opened_read_only_as_its_path(tmp_path, demo_dir, truth):
    """PIPELINE_DB may be a sqlite:/// URL (as the pipeline's own settings write it): it is
    the same read-only file route; any other database URL is refused at start-up."""
    db = tmp_path / "pipeline.sqlite3"
    shutil.copy2(demo_dir / "pipeline.sqlite3", db)
    w = dsa110_ws.connect(pipeline_db=f"sqlite:///{db}", state_dir=tmp_path / "st")
    try:
        assert w.db.path == db.resolve()
        failed = w.repos.jobs.find(status="failed")
        assert sorted(failed["id"]) == sorted(f["id"] for f in truth["failed_jobs"])
        with pytest.raises(NotPermittedError), w.db.transaction("probe"):
            pass
    finally:
        w.close()
    with pytest.raises(ConfigurationError, match="postgresql:// URLs are not supported"):
        dsa110_ws.connect(pipeline_db="postgresql://u@localhost/db", state_dir=tmp_path / "s")
