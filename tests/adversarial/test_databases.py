"""The pipeline's SQLite database under attack and accident: opened read-only by every
route, never created, never checkpointed; every wait bounded (SQLite, the task queue's
PostgreSQL, a dask scheduler); health tells the truth; missing indexes are named."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dsa110_ws.cli import main

REPO = Path(__file__).resolve().parents[2]
SCHEMA_SQL = REPO / "tests" / "data" / "pipeline" / "schema.sql"
CLI = [sys.executable, "-m", "dsa110_ws"]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _files(db: Path) -> dict[str, str | None]:
    """Digest of the database and of its -wal/-shm/-journal (None when absent)."""
    return {
        s: _digest(Path(f"{db}{s}")) if Path(f"{db}{s}").exists() else None
        for s in ("", "-wal", "-journal")
    }


@pytest.fixture()
def env(writable_demo, tmp_path, monkeypatch):
    """The demo settings over a private copy of the database; a private state dir."""
    monkeypatch.setenv("DSA110_WS_SETTINGS", str(writable_demo / "settings.toml"))
    monkeypatch.setenv("DSA110_WS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("PIPELINE_DB", raising=False)
    return writable_demo


def _run(capsys, *args):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def _one_line_error(err: str, *needles: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and "Traceback" not in err, err
    for n in needles:
        assert n in lines[0], (n, lines[0])


def _subprocess(args, env_over: dict[str, str], timeout: float = 90.0):
    """The CLI in a process of its own (a hang fails the test by its timeout)."""
    env = {**os.environ, **env_over}
    return subprocess.run(
        [*CLI, *map(str, args)], env=env, capture_output=True, text=True, timeout=timeout
    )


# -- the database is never created, written or checkpointed by a read ---------------------------
@pytest.mark.parametrize("suffix", ["", "?mode=rwc", "?mode=rw"])
def test_a_url_to_a_missing_file_is_an_error_and_creates_nothing(
    env, tmp_path, capsys, monkeypatch, suffix
):
    missing = tmp_path / "nowhere" / "pipeline.sqlite3"
    (tmp_path / "nowhere").mkdir()
    monkeypatch.setenv("PIPELINE_DB", f"sqlite:///{missing}{suffix}")
    code, out, err = _run(capsys, "jobs")
    assert code == 1 and not out
    _one_line_error(err, str(missing), "does not exist")
    assert list((tmp_path / "nowhere").iterdir()) == []


def _wal_with_frames(db: Path) -> int:
    """Put ``db`` in WAL mode with committed rows left in its -wal (a writer that stopped
    without checkpointing, as a killed pipeline process leaves it); returns the new job id."""
    code = textwrap.dedent(f"""
        import os, sqlite3
        con = sqlite3.connect({str(db)!r}, isolation_level=None)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA wal_autocheckpoint=0")
        con.execute("UPDATE jobs SET status = status")
        cur = con.execute("INSERT INTO jobs (type, status, ms_path, created_at) "
                          "VALUES ('image', 'failed', '/wal/only.ms', 1.0e9)")
        print(cur.lastrowid, flush=True)
        os._exit(0)  # no close: no checkpoint, -wal and -shm stay
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert Path(f"{db}-wal").stat().st_size > 0
    return int(out.stdout)


@pytest.mark.parametrize("route", ["path", "url"])
def test_a_read_never_checkpoints_the_wal(env, capsys, monkeypatch, route):
    db = env / "pipeline.sqlite3"
    job = _wal_with_frames(db)
    before = _files(db)
    monkeypatch.setenv("PIPELINE_DB", str(db) if route == "path" else f"sqlite:///{db}")
    code, out, err = _run(capsys, "jobs", "--status", "failed", "--json")
    assert code == 0, err
    assert f'"id": {job}' in out.replace('"id":' + str(job), f'"id": {job}')  # read from the WAL
    assert _files(db) == before  # main file and WAL contents byte-identical, nothing deleted
    assert Path(f"{db}-shm").exists()


@pytest.mark.parametrize("route", ["path", "url"])
def test_a_read_of_a_rollback_journal_database_leaves_no_wal_or_shm(
    env, capsys, monkeypatch, route
):
    db = env / "pipeline.sqlite3"
    before = _files(db)
    monkeypatch.setenv("PIPELINE_DB", str(db) if route == "path" else f"sqlite:///{db}")
    for args in (["jobs"], ["health", "--check", "database"], ["stats"]):
        _run(capsys, *args)
    assert _files(db) == before
    assert sorted(p.name for p in env.iterdir() if p.name.startswith("pipeline.sqlite3")) == [
        "pipeline.sqlite3"
    ]


def test_the_readme_says_why_a_wal_reader_may_leave_wal_and_shm():
    text = " ".join((REPO / "README.md").read_text().split())
    assert re.search(r"-wal.{0,400}-shm|-shm.{0,400}-wal", text)
    assert "harmless" in text and "checkpoint" in text


# -- what is not a database -------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["fifo", "directory", "empty", "png", "devnull", "symlink_loop"])
def test_what_is_not_a_database_is_refused_in_one_line(env, tmp_path, kind):
    target = tmp_path / f"not-a-db-{kind}"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "directory":
        target.mkdir()
    elif kind == "empty":
        target.write_bytes(b"")
    elif kind == "png":
        target.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 200)
    elif kind == "devnull":
        target.symlink_to("/dev/null")
    else:
        target.symlink_to(target)
    res = _subprocess(["jobs"], {"PIPELINE_DB": str(target)})
    assert res.returncode == 1 and not res.stdout
    _one_line_error(res.stderr, str(target))
    expected = {
        "fifo": "not a regular file",
        "directory": "is a directory",
        "empty": "is empty",
        "png": "not an SQLite database",
        "devnull": "not a regular file",
        "symlink_loop": "cannot be reached",
    }[kind]
    assert expected in res.stderr


@pytest.mark.parametrize("damage", ["truncated", "garbage_pages"])
def test_a_damaged_database_is_one_line_naming_the_damage(env, capsys, monkeypatch, damage):
    db = env / "pipeline.sqlite3"
    size = db.stat().st_size
    with open(db, "r+b") as fh:
        if damage == "truncated":
            fh.truncate(size // 3)
        else:
            fh.seek(4096)
            fh.write(bytes(range(256)) * ((size - 8192) // 256))
    before = _digest(db)
    code, out, err = _run(capsys, "jobs")
    assert code == 1
    _one_line_error(err, str(db))
    assert "corrupt" in err or "malformed" in err
    assert _digest(db) == before


def test_a_missing_table_is_a_schema_mismatch(env, capsys):
    db = env / "pipeline.sqlite3"
    with sqlite3.connect(db) as con:
        con.execute("DROP TABLE jobs")
    before = _digest(db)
    code, _, err = _run(capsys, "jobs")
    assert code == 1
    _one_line_error(err, "jobs")
    assert _digest(db) == before


# -- locks and unopenable files: bounded waits, health tells the truth --------------------------
@pytest.fixture()
def exclusive_lock(env):
    """Another process holding BEGIN EXCLUSIVE on the (rollback-journal) database."""
    db = env / "pipeline.sqlite3"
    code = textwrap.dedent(f"""
        import sqlite3, sys, time
        con = sqlite3.connect({str(db)!r}, isolation_level=None)
        con.execute("BEGIN EXCLUSIVE")
        print("locked", flush=True)
        sys.stdin.read()
    """)
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "locked"
    yield db
    proc.stdin.close()
    proc.wait(timeout=30)


def test_a_read_under_an_exclusive_lock_gives_up_within_the_busy_timeout(exclusive_lock):
    before = _digest(exclusive_lock)
    res = _subprocess(["jobs"], {"DSA110_WS_BUSY_TIMEOUT": "0.5"})
    assert res.returncode == 1 and not res.stdout
    _one_line_error(res.stderr, "locked", "0.5 s", "DSA110_WS_BUSY_TIMEOUT")
    assert _digest(exclusive_lock) == before


def test_health_never_says_ok_under_an_exclusive_lock(exclusive_lock):
    res = _subprocess(
        ["health", "--check", "database", "--json"], {"DSA110_WS_BUSY_TIMEOUT": "0.5"}
    )
    import json

    rep = json.loads(res.stdout)
    db = next(c for c in rep["checks"] if c["name"] == "database")
    assert db["status"] in ("critical", "unknown") and "locked" in db["detail"]
    assert rep["status"] in ("critical", "unknown") and res.returncode in (2, 3)


def _hot_journal(db: Path) -> None:
    """A writer killed mid-transaction with pages already spilled to the main file."""
    code = textwrap.dedent(f"""
        import os, sqlite3
        con = sqlite3.connect({str(db)!r}, isolation_level=None)
        con.execute("PRAGMA cache_size=1")
        con.execute("BEGIN")
        con.execute("UPDATE photometry SET flux_jy = flux_jy * 3")
        os._exit(0)
    """)
    subprocess.run([sys.executable, "-c", code], check=True)
    assert Path(f"{db}-journal").stat().st_size > 0


def test_a_hot_journal_is_named_and_left_for_the_writer(env):
    db = env / "pipeline.sqlite3"
    _hot_journal(db)
    before = _files(db)
    res = _subprocess(["jobs"], {})
    assert res.returncode == 1
    _one_line_error(res.stderr, "hot journal", "pipeline.sqlite3-journal")
    assert _files(db) == before  # never rolled back by a reader
    res = _subprocess(["health", "--check", "database"], {})
    assert res.returncode == 2 and "hot journal" in res.stdout


UNSHARE = shutil.which("unshare")


def _in_readonly_mount(directory: Path, args: list[str], env_over: dict[str, str]):
    """Run the CLI with ``directory`` bind-mounted read-only (a private mount namespace)."""
    script = (
        f"mount --bind {directory} {directory} && "
        f"mount -o remount,ro,bind {directory} && exec {' '.join(CLI)} " + " ".join(args)
    )
    return subprocess.run(
        [UNSHARE, "-m", "sh", "-c", script],
        env={**os.environ, **env_over},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _wal_without_sidecars(db: Path) -> None:
    with sqlite3.connect(db) as con:
        con.execute("PRAGMA journal_mode=WAL")
    assert not Path(f"{db}-wal").exists()  # removed by the last connection's close


def test_a_wal_database_in_a_read_only_directory_is_critical_not_ok(env):
    db = env / "pipeline.sqlite3"
    _wal_without_sidecars(db)
    before = _files(db)
    res = _in_readonly_mount(env, ["health", "--check", "database"], {})
    assert res.returncode == 2, res.stdout + res.stderr
    assert "overall: CRITICAL" in res.stdout
    line = next(ln for ln in res.stdout.splitlines() if "database" in ln)
    assert "critical" in line and "read-only" in line and "-shm" in line
    assert _files(db) == before


def test_a_wal_database_in_a_read_only_directory_fails_a_read_in_one_line(env):
    db = env / "pipeline.sqlite3"
    _wal_without_sidecars(db)
    res = _in_readonly_mount(env, ["jobs"], {})
    assert res.returncode == 1 and not res.stdout
    _one_line_error(res.stderr, "cannot be opened", "read-only")


# -- indexes: named with the statements to run; never created by the workspace ---------------
def _schema_db(path: Path) -> Path:
    with sqlite3.connect(path) as con:
        con.executescript(SCHEMA_SQL.read_text())
    return path


def _schema_has(table: str, cols: tuple[str, ...]) -> bool:
    """Whether schema.sql defines an index on ``table`` starting with ``cols`` (its text)."""
    text = SCHEMA_SQL.read_text()
    for m in re.finditer(r"CREATE (?:UNIQUE )?INDEX[^;]*? ON (\w+)\s*\(([^)]*)\)", text):
        names = tuple(c.split()[0] for c in m.group(2).split(","))
        if m.group(1) == table and names[: len(cols)] == cols:
            return True
    return False


def test_health_names_the_indexes_the_real_schema_lacks(tmp_path, monkeypatch):
    import dsa110_ws
    from dsa110_ws.repositories import INDEX_NEEDS

    db = _schema_db(tmp_path / "pipeline.sqlite3")
    before = _digest(db)
    w = dsa110_ws.connect(
        None, pipeline_db=db, state_dir=tmp_path / "state", data_roots=[], log_roots=[]
    )
    missing = w.health.missing_indexes()
    with sqlite3.connect(db) as con:
        tables = {
            r[0]: {c[1] for c in con.execute(f"PRAGMA table_info({r[0]})")}
            for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
    expected = {
        (n.table, n.columns)
        for n in INDEX_NEEDS
        if n.table in tables
        and set(n.columns) <= tables[n.table]
        and not any(_schema_has(n.table, c) for c in (n.columns, *n.alternatives))
    }
    assert {
        (t, tuple(c)) for t, c in zip(missing["table"], missing["columns"], strict=True)
    } == expected
    assert ("photometry", ("ra_deg", "dec_deg")) not in expected  # the schema has it
    rep = w.health.check(names=["indexes"])
    w.close()
    if expected:
        assert rep.status == "warning"
        detail = rep.to_frame()["detail"].iloc[0]
        assert all(s in detail for s in missing["create_sql"])
    assert _digest(db) == before  # the workspace never adds them


def test_a_database_without_the_coordinate_index_is_told_how_to_add_it(tmp_path):
    import dsa110_ws

    db = _schema_db(tmp_path / "pipeline.sqlite3")
    with sqlite3.connect(db) as con:
        con.execute("DROP INDEX idx_photometry_coords")
        con.execute("DROP INDEX idx_images_ms_path")
    before = _digest(db)
    w = dsa110_ws.connect(
        None, pipeline_db=db, state_dir=tmp_path / "state", data_roots=[], log_roots=[]
    )
    rep = w.health.check(names=["indexes"])
    detail = rep.to_frame()["detail"].iloc[0]
    w.close()
    assert rep.status == "warning" and rep.exit_code == 1
    assert "photometry(ra_deg, dec_deg)" in detail and "images(ms_path)" in detail
    sql = re.findall(r"CREATE INDEX IF NOT EXISTS \w+ ON \w+\([^)]*\);", detail)
    assert "CREATE INDEX IF NOT EXISTS idx_photometry_coords ON photometry(ra_deg, dec_deg);" in sql
    assert _digest(db) == before
    with sqlite3.connect(db) as con:  # the operator runs them: the check is then satisfied
        for s in sql:
            con.execute(s)
    w = dsa110_ws.connect(
        None, pipeline_db=db, state_dir=tmp_path / "state", data_roots=[], log_roots=[]
    )
    assert w.health.check(names=["indexes"]).status == "ok"
    w.close()


# -- the task queue's PostgreSQL and a dask scheduler that never answer -----------------------
@pytest.fixture()
def silent_server():
    """A loopback socket that accepts connections and never answers."""
    code = textwrap.dedent("""
        import socket, sys
        s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(64)
        print(s.getsockname()[1], flush=True)
        held = []
        while True:
            held.append(s.accept()[0])
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    port = int(proc.stdout.readline())
    yield port
    proc.kill()
    proc.wait(timeout=30)


@pytest.fixture()
def not_dask_server():
    """A loopback server that answers every connection as an HTTP server does."""
    code = textwrap.dedent("""
        import socket, threading
        s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(64)
        print(s.getsockname()[1], flush=True)
        def answer(c):
            try:
                c.recv(64)
                c.sendall(b"HTTP/1.1 400 Bad Request\\r\\nContent-Length: 0\\r\\n\\r\\n" + b"x" * 4096)
            except OSError:
                pass
        while True:
            threading.Thread(target=answer, args=(s.accept()[0],), daemon=True).start()
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    port = int(proc.stdout.readline())
    yield port
    proc.kill()
    proc.wait(timeout=30)


@pytest.mark.parametrize(
    "args", [["tasks", "stats"], ["tasks", "list"], ["health", "--check", "task-queue"]]
)
def test_a_silent_queue_server_is_one_line_within_the_connect_timeout(env, silent_server, args):
    url = f"postgresql://absurd@127.0.0.1:{silent_server}/dsa110_absurd"
    before = _digest(env / "pipeline.sqlite3")
    res = _subprocess(args, {"ABSURD_DATABASE_URL": url}, timeout=60)
    assert res.returncode in (1, 2, 3)
    if res.returncode == 1:  # tasks: one line naming the server and the timeout
        _one_line_error(res.stderr, f"127.0.0.1:{silent_server}", "timeout")
    else:  # health: critical (unreachable), naming the server: the check outlasts a connect
        line = next(ln for ln in res.stdout.splitlines() if "task-queue" in ln)
        assert res.returncode == 2 and "critical" in line.lower(), line
        assert f"127.0.0.1:{silent_server}" in line and "timeout" in line, line
    assert _digest(env / "pipeline.sqlite3") == before


def test_jobs_never_waits_on_a_silent_queue(env, silent_server):
    url = f"postgresql://absurd@127.0.0.1:{silent_server}/dsa110_absurd"
    res = _subprocess(["jobs", "--limit", "3"], {"ABSURD_DATABASE_URL": url}, timeout=60)
    assert res.returncode == 0 and "showing the newest 3" in res.stdout + res.stderr


@pytest.mark.parametrize("server", ["silent", "not_dask", "refused"])
def test_a_dask_scheduler_that_is_not_there_is_a_typed_line(demo_dir, tmp_path, request, server):
    import dsa110_ws
    from dsa110_ws.errors import DataUnavailableError
    from dsa110_ws.services.products import batch

    port = {
        "silent": lambda: request.getfixturevalue("silent_server"),
        "not_dask": lambda: request.getfixturevalue("not_dask_server"),
        "refused": lambda: 1,
    }[server]()
    address = f"tcp://127.0.0.1:{port}"
    w = dsa110_ws.connect(
        demo_dir / "settings.toml", state_dir=tmp_path / "state", dask_scheduler=address
    )
    old = batch.DASK_CONNECT_TIMEOUT_S
    batch.DASK_CONNECT_TIMEOUT_S = 2.0
    try:
        with pytest.raises(DataUnavailableError) as info:
            w.batch.run("image_qa", ["/nowhere.fits"], mode="dask", progress=False)
    finally:
        batch.DASK_CONNECT_TIMEOUT_S = old
        w.close()
    msg = str(info.value)
    assert len(msg.splitlines()) == 1 and address in msg and "DSA110_WS_DASK_SCHEDULER" in msg
    assert {
        "silent": "no answer within 2 s",
        "not_dask": "did not answer as dask does",
        "refused": "cannot connect",
    }[server] in msg


# -- settings that point somewhere absurd ----------------------------------------------------
@pytest.mark.parametrize(
    "value", ["postgresql://u:p@127.0.0.1/x", "sqlite:///a\x00b", "mysql:///pipeline"]
)
def test_a_pipeline_db_that_is_not_a_sqlite_path_is_a_settings_error(env, value):
    res = _subprocess(["jobs"], {"PIPELINE_DB": value.replace("\x00", "%00")})
    assert res.returncode == 1 and not res.stdout
    _one_line_error(res.stderr)
    assert "p@" not in res.stderr


def test_the_survey_cluster_gives_up_on_a_silent_scheduler(silent_server):
    from dsa110_ws.errors import DataUnavailableError
    from dsa110_ws.services.sources import DaskCluster

    cluster = DaskCluster(scheduler=f"tcp://127.0.0.1:{silent_server}", timeout_s=2.0)
    with pytest.raises(DataUnavailableError) as info:
        cluster.client()
    msg = str(info.value)
    assert len(msg.splitlines()) == 1 and "no answer within 2 s" in msg
    assert f"127.0.0.1:{silent_server}" in msg
    cluster.close()


def test_a_query_that_runs_too_long_is_stopped_with_one_line(env, tmp_path):
    """SQLite has no statement timeout of its own: a query past statement_timeout_s is
    interrupted (a typed error naming the setting), and the connection works afterwards."""
    import dsa110_ws
    from dsa110_ws.errors import DatabaseBusyError

    before = _digest(env / "pipeline.sqlite3")
    w = dsa110_ws.connect(env / "settings.toml", state_dir=tmp_path / "st", statement_timeout_s=0.5)
    endless = (
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"
    )
    try:
        with pytest.raises(DatabaseBusyError, match="statement_timeout_s") as err:
            w.db.fetch(endless)
        # (the recursive count never ends: an answer at all means it was stopped)
        assert "\n" not in str(err.value) and "0.5 s" in str(err.value)
        assert w.db.scalar("SELECT count(*) FROM images") > 0  # the reader still works
    finally:
        w.close()
    assert _digest(env / "pipeline.sqlite3") == before
