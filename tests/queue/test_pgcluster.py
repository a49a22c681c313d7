"""The embedded server's life cycle: crash recovery, concurrent starts, stale files, the PATH
fallback, URL forms."""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

import psutil
import pytest
from _queue_helpers import FAST, spawn_helper

from dsa110_ws.demo.queue.cluster import find_binaries, socket_dir_for, start_cluster
from dsa110_ws.demo.queue.db import connect, ensure_database, to_conninfo, to_sqlalchemy_url
from dsa110_ws.errors import (
    ConfigurationError,
    DataUnavailableError,
    OptionalDependencyError,
    WorkspaceError,
)


@pytest.fixture()
def scratch():
    """A private, empty cluster directory (short, under /tmp), removed afterwards."""
    base = Path(tempfile.mkdtemp(prefix="dsa110-pgc-", dir="/tmp"))
    yield base / "cluster"
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def made():
    """A cluster directory initialised once (server stopped) for tests that start it again;
    each of them leaves it stopped."""
    base = Path(tempfile.mkdtemp(prefix="dsa110-pgm-", dir="/tmp"))
    start_cluster(base / "cluster", settings=FAST).stop(force=True)
    yield base / "cluster"
    shutil.rmtree(base, ignore_errors=True)


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait_gone(pid: int) -> None:
    deadline = time.monotonic() + 30
    while not _gone(pid):
        assert time.monotonic() < deadline, f"process {pid} did not go away"
        time.sleep(0.05)


def test_a_killed_server_restarts_in_the_same_directory(made):
    scratch = made
    first = start_cluster(scratch, settings=FAST)
    ensure_database(first.url)
    with connect(first.url, autocommit=True) as con:
        tid = con.execute("SELECT absurd.spawn_task('q', 'imaging', '{}')").fetchone()[0]
    os.kill(first.pid, signal.SIGKILL)
    _wait_gone(first.pid)
    assert (scratch / "pgdata" / "postmaster.pid").exists()  # stale files left behind
    assert (socket_dir_for(scratch) / ".s.PGSQL.5432.lock").exists()
    second = start_cluster(scratch, settings=FAST)
    try:
        assert second.started and second.pid != first.pid
        with connect(second.url) as con:  # the committed row survived crash recovery
            assert con.execute(
                "SELECT status FROM absurd.tasks WHERE task_id = %s", (tid,)
            ).fetchone() == ("pending",)
    finally:
        second.stop(force=True)
    assert not second.is_running()


def test_a_stale_pid_file_naming_a_live_other_process_is_cleared(made):
    scratch = made
    pid_file = scratch / "pgdata" / "postmaster.pid"
    assert not pid_file.exists()
    # a crashed server's pid file whose pid now belongs to another program (here: us)
    pid_file.write_text(f"{os.getpid()}\n{scratch / 'pgdata'}\n0\n5432\n/tmp\n\n0 0\nready\n")
    again = start_cluster(scratch, settings=FAST)
    try:
        assert again.started and again.pid != os.getpid() and again.is_running()
    finally:
        again.stop(force=True)


def test_two_processes_starting_one_directory_share_one_server(scratch):
    procs = [spawn_helper("start", str(scratch)) for _ in range(2)]
    try:
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        first_lines = [json.loads(p.stdout.readline()) for p in procs]
        assert len({r["pid"] for r in first_lines}) == 1  # one server, one initdb
        assert sorted(r["started"] for r in first_lines) == [False, True]
        pid = first_lines[0]["pid"]
        assert not list(scratch.glob("pgdata.init-*"))
        for p in procs:
            p.stdin.close()
            p.wait(timeout=60)
            assert p.returncode == 0, p.stderr.read()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    _wait_gone(pid)  # the last process to leave stopped it
    assert not (scratch / "pgdata" / "postmaster.pid").exists()


def test_stop_leaves_the_server_to_its_other_users(made):
    a = start_cluster(made, settings=FAST)
    b = start_cluster(made)  # a second handle in this process
    assert not b.started and b.pid == a.pid
    a.stop()
    assert b.is_running()
    b.stop()
    assert not a.is_running()


def test_the_path_fallback_and_a_version_mismatch(scratch):
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl is None:
        pytest.skip("no PostgreSQL on PATH")
    path_bins = find_binaries(Path(pg_ctl).resolve().parent)
    cluster = start_cluster(scratch, bin_dir=path_bins.bin_dir, settings=FAST)
    try:
        ensure_database(cluster.url)  # uuid-ossp is used where the server ships it
        with connect(cluster.url) as con:
            assert (
                con.execute("SELECT absurd.spawn_task('q', 't', '{}')").fetchone()[0].version == 4
            )
    finally:
        cluster.stop(force=True)
    wheel = find_binaries()
    if wheel.major != path_bins.major:
        with pytest.raises(DataUnavailableError, match=f"PostgreSQL {path_bins.major}"):
            start_cluster(scratch)


def test_a_directory_without_postgres_programs_is_an_optional_dependency_error(tmp_path):
    with pytest.raises(OptionalDependencyError, match="pg_ctl"):
        find_binaries(tmp_path)


def test_the_socket_stays_short_for_a_long_data_directory(tmp_path):
    deep = tmp_path / ("x" * 60) / ("y" * 60)
    assert len(str(deep)) > 107
    assert len(str(socket_dir_for(deep) / ".s.PGSQL.5432")) < 60
    assert socket_dir_for(deep) == socket_dir_for(deep / ".." / deep.name)


def test_url_forms_work_with_psycopg_and_sqlalchemy(pg_server):
    import sqlalchemy

    assert pg_server.url.startswith("postgresql+psycopg://")
    assert to_conninfo(pg_server.url) == pg_server.conninfo
    assert to_sqlalchemy_url(pg_server.conninfo) == pg_server.url
    engine = sqlalchemy.create_engine(pg_server.url)
    try:
        with engine.connect() as c:
            assert (
                c.execute(sqlalchemy.text("SELECT current_database()")).scalar() == pg_server.dbname
            )
    finally:
        engine.dispose()


def test_bad_urls_and_missing_servers_are_typed_errors(tmp_path):
    with pytest.raises(ConfigurationError, match="Not a PostgreSQL URL"):
        to_conninfo("sqlite:///x.db")
    with pytest.raises(DataUnavailableError, match="Cannot connect") as info:
        connect(f"postgresql://postgres@/nope?host={tmp_path}", timeout_s=2)
    assert isinstance(info.value, WorkspaceError) and isinstance(info.value, OSError)


def test_a_program_under_a_directory_closed_to_the_service_account(tmp_path):
    """PostgreSQL runs as its own user when we are root: a program it cannot reach (a
    checkout under a 0700 home) is one clear error, and make_traversable opens the way."""
    import os
    import stat

    from dsa110_ws.demo.queue._state import make_traversable, run_program, service_account
    from dsa110_ws.errors import DataUnavailableError

    account = service_account()
    if os.geteuid() == 0:
        assert account is not None
    else:  # an ordinary user runs PostgreSQL as itself: nothing to be closed to
        assert account is None
        return
    closed = tmp_path / "home"
    (closed / "bin").mkdir(parents=True)
    prog = closed / "bin" / "initdb"
    prog.write_text("#!/bin/sh\necho ran as $(id -u)\n")
    prog.chmod(0o755)
    closed.chmod(0o700)
    with pytest.raises(DataUnavailableError) as err:
        run_program(str(prog), [], account, 30)
    msg = str(err.value)
    assert "\n" not in msg and "chmod o+x" in msg and str(prog) in msg
    make_traversable(prog.parent, account)
    assert closed.stat().st_mode & stat.S_IXOTH  # traverse only: not readable by others
    assert not closed.stat().st_mode & stat.S_IROTH
    res = run_program(str(prog), [], account, 30)
    assert res.returncode == 0 and res.stdout.strip() == f"ran as {account[0]}"
