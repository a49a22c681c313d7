"""Helpers shared by the queue tests (imported as ``_queue_helpers``; ``conftest`` holds the
fixtures)."""

from __future__ import annotations

import contextlib
import itertools
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROCS = Path(__file__).with_name("_queue_procs.py")
TEMPLATE = "absurd_template"
#: A throw-away server need not survive an OS crash (a killed server still loses nothing).
FAST = {"fsync": "off", "full_page_writes": "off"}
_counter = itertools.count()


def admin_url(cluster) -> str:
    return cluster.conninfo.replace(f"/{cluster.dbname}?", "/postgres?")


@contextlib.contextmanager
def new_database(cluster, template: str = TEMPLATE):
    """A fresh database copied from ``template`` (default: empty schema ``absurd``) on
    ``cluster`` (libpq URL), dropped on exit."""
    from dsa110_ws.demo.queue.db import connect

    name = f"qtest_{os.getpid()}_{next(_counter)}"
    with connect(admin_url(cluster), autocommit=True) as con:
        con.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield cluster.conninfo.replace(f"/{cluster.dbname}?", f"/{name}?")
    finally:
        with connect(admin_url(cluster), autocommit=True) as con:
            con.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def spawn_helper(*args: str) -> subprocess.Popen:
    """Run ``_queue_procs.py`` in another Python process (stdin/stdout pipes, text)."""
    path = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    return subprocess.Popen(
        [sys.executable, str(PROCS), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": path},
    )


def digest(url: str) -> dict[str, str]:
    """md5 of every table of schema ``absurd``, rows in a fixed order (reads change nothing)."""
    from dsa110_ws.demo.queue.db import connect

    with connect(url, autocommit=True) as con:
        tables = [
            r[0]
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'absurd' "
                "ORDER BY table_name"
            )
        ]
        return {
            t: con.execute(
                f"SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY "
                f"x::text), '')) FROM absurd.{t} AS x"
            ).fetchone()[0]
            for t in tables
        }
