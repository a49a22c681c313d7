"""One embedded PostgreSQL server for the whole session; a fresh queue database per test.

The server's directory is a short ``mkdtemp`` under /tmp (its socket lives in
``/tmp/dsa110-pg-<hash>`` anyway); each test gets ``CREATE DATABASE ... TEMPLATE`` of a
database that already has schema ``absurd``, dropped afterwards.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROCS = Path(__file__).with_name("_queue_procs.py")
TEMPLATE = "absurd_template"
_counter = itertools.count()
#: A throw-away server need not survive an OS crash (a killed server still loses nothing).
FAST = {"fsync": "off", "full_page_writes": "off"}


@pytest.fixture(scope="session")
def pg_server():
    """The session's embedded server (a ``PgCluster``); stopped at the end."""
    from dsa110_ws.demo.pgcluster import start_cluster
    from dsa110_ws.demo.queue_db import ensure_database

    base = Path(tempfile.mkdtemp(prefix="dsa110-pgtest-", dir="/tmp"))
    cluster = start_cluster(base / "cluster", dbname=TEMPLATE, settings=FAST)
    ensure_database(cluster.conninfo)
    yield cluster
    cluster.stop(force=True)
    shutil.rmtree(base, ignore_errors=True)


def _admin(cluster) -> str:
    return cluster.conninfo.replace(f"/{cluster.dbname}?", "/postgres?")


@contextlib.contextmanager
def new_database(cluster):
    """A fresh database with schema ``absurd`` on ``cluster`` (libpq URL), dropped on exit."""
    from dsa110_ws.demo.queue_db import connect

    name = f"qtest_{os.getpid()}_{next(_counter)}"
    with connect(_admin(cluster), autocommit=True) as con:
        con.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
    try:
        yield cluster.conninfo.replace(f"/{cluster.dbname}?", f"/{name}?")
    finally:
        with connect(_admin(cluster), autocommit=True) as con:
            con.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture()
def queue_url(pg_server):
    """A fresh database with schema ``absurd`` (libpq URL) for one test."""
    with new_database(pg_server) as url:
        yield url


@pytest.fixture()
def con(queue_url):
    """An autocommit psycopg connection to ``queue_url``."""
    from dsa110_ws.demo.queue_db import connect

    with connect(queue_url, autocommit=True) as c:
        yield c


def spawn_helper(*args: str) -> subprocess.Popen:
    """Run ``_queue_procs.py`` in another Python process (stdin/stdout pipes, text)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, str(PROCS), *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
