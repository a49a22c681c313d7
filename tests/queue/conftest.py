"""One embedded PostgreSQL server for the whole session; a fresh queue database per test.

The server's directory is a short ``mkdtemp`` under /tmp (its socket lives in
``/tmp/dsa110-pg-<hash>`` anyway); each test gets ``CREATE DATABASE ... TEMPLATE`` of a
database that already has schema ``absurd``, dropped afterwards.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from _queue_helpers import FAST, TEMPLATE, admin_url, new_database


@pytest.fixture(scope="session")
def pg_server():
    """The session's embedded server (a ``PgCluster``); stopped at the end."""
    from dsa110_ws.demo.queue.cluster import start_cluster
    from dsa110_ws.demo.queue.db import ensure_database

    base = Path(tempfile.mkdtemp(prefix="dsa110-pgtest-", dir="/tmp"))
    cluster = start_cluster(base / "cluster", dbname=TEMPLATE, settings=FAST)
    ensure_database(cluster.conninfo)
    yield cluster
    cluster.stop(force=True)
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture()
def queue_url(pg_server):
    """A fresh database with schema ``absurd`` (libpq URL) for one test."""
    with new_database(pg_server) as url:
        yield url


@pytest.fixture()
def con(queue_url):
    """An autocommit psycopg connection to ``queue_url``."""
    from dsa110_ws.demo.queue.db import connect

    with connect(queue_url, autocommit=True) as c:
        yield c


FILLED = "absurd_filled_day"


@pytest.fixture(scope="session")
def filled_day(pg_server, truth):
    """A database holding the demo's queue day (same night, MS paths and clock as the
    session's SQLite demo), used as a template; returns (template name, its truth)."""
    from dsa110_ws.demo.queue.day import fill_queue
    from dsa110_ws.demo.queue.db import connect
    from dsa110_ws.demo.queue.plan import QueueDay

    with connect(admin_url(pg_server), autocommit=True) as con:
        con.execute(f'DROP DATABASE IF EXISTS "{FILLED}"')
        con.execute(f'CREATE DATABASE "{FILLED}" TEMPLATE "{TEMPLATE}"')
    url = pg_server.conninfo.replace(f"/{pg_server.dbname}?", f"/{FILLED}?")
    return FILLED, fill_queue(url, day=QueueDay.from_truth(truth))


@pytest.fixture()
def day_url(pg_server, filled_day):
    """A private copy of the demo's queue day (libpq URL) that a test may change."""
    with new_database(pg_server, template=filled_day[0]) as url:
        yield url


@pytest.fixture()
def day_truth(filled_day) -> dict:
    return filled_day[1]


def _workspace(demo_dir, tmp_path, url, **overrides):
    import dsa110_ws

    return dsa110_ws.connect(
        demo_dir / "settings.toml", state_dir=tmp_path / "ws-state", queue_url=url, **overrides
    )


@pytest.fixture()
def qws(demo_dir, tmp_path, day_url):
    """A read-only workspace over the SQLite demo and a copy of its queue day."""
    w = _workspace(demo_dir, tmp_path, day_url)
    yield w
    w.close()


@pytest.fixture()
def qws_writable(demo_dir, tmp_path, day_url):
    """The same with writes allowed (the SQLite demo stays read-only: copies nothing of it)."""
    w = _workspace(demo_dir, tmp_path, day_url, allow_writes=True)
    yield w
    w.close()
