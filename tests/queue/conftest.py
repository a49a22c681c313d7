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
from _queue_helpers import FAST, TEMPLATE, new_database


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
