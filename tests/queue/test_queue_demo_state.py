"""make_queue_state over a real (small) SQLite demo state: the two databases agree, and the
server can be started again later from the demo directory alone."""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

import pytest

from dsa110_ws.demo.queue.day import make_queue_state, queue_url_for, start_queue_server
from dsa110_ws.demo.queue.db import connect
from dsa110_ws.demo.queue.plan import QueueDay
from tests.browser.conftest import served_port, start_dashboard

PER_NIGHT = 2


@pytest.fixture(scope="module")
def small_demo():
    from dsa110_ws.demo import make_demo_state

    base = Path(tempfile.mkdtemp(prefix="dsa110-qdemo-", dir="/tmp"))
    truth = make_demo_state(base / "demo", nights=4, per_night=PER_NIGHT, n_sources=30, queue=False)
    queue = make_queue_state(base / "demo")
    yield base / "demo", truth, queue
    shutil.rmtree(base, ignore_errors=True)


def test_the_queue_day_is_computed_exactly_as_the_demo_wrote_it(small_demo):
    demo, truth, _ = small_demo
    from_truth = QueueDay.from_truth(truth)
    assert from_truth == QueueDay.for_demo(
        demo / "data", night=truth["nights"][-1], per_night=PER_NIGHT
    )
    assert from_truth.data_root == demo / "data"


def test_make_queue_state_leaves_a_stopped_server_that_starts_again(small_demo):
    demo, _, queue = small_demo
    assert queue["url"] == queue_url_for(demo)
    assert not (demo / "queue-pg" / "pgdata" / "postmaster.pid").exists()
    cluster = start_queue_server(demo)
    try:
        assert cluster.conninfo == queue_url_for(demo)
        with connect(cluster.url) as con:
            got = dict(
                con.execute(
                    "SELECT status, count(*) FROM absurd.tasks WHERE queue_name = "
                    "'dsa110-pipeline' GROUP BY 1"
                ).fetchall()
            )
        assert got == queue["counts"]["dsa110-pipeline"]
    finally:
        cluster.stop()


def test_both_databases_tell_the_same_story(small_demo):
    demo, truth, queue = small_demo
    lite = sqlite3.connect(f"file:{demo / 'pipeline.sqlite3'}?mode=ro", uri=True)
    try:
        night_ms = {
            r[0]
            for r in lite.execute(
                "SELECT path FROM ms_index WHERE stage = 'done' AND path LIKE ?",
                (f"%/{truth['nights'][-1]}/%",),
            )
        }
        failed = {
            r[0]: r[1]
            for r in lite.execute(
                "SELECT group_id, error_message FROM ingestion_groups WHERE state = 'failed'"
            )
        }
        missing = {g["group_id"]: g["missing_subbands"] for g in truth["incomplete_groups"]}
        stuck_ms = truth["ms_states"]["stuck"][0]["path"]
    finally:
        lite.close()
    cluster = start_queue_server(demo)
    try:
        with connect(cluster.url) as con:
            pg_ms = {
                r[0]
                for r in con.execute(
                    "SELECT ms_path FROM absurd.ingestion_groups WHERE state = 'completed'"
                )
            }
            pg_failed = dict(
                con.execute(
                    "SELECT group_id, error_message FROM "
                    "absurd.ingestion_groups WHERE state = 'failed'"
                )
            )
            stuck = con.execute(
                "SELECT params->'inputs'->>'ms_path' FROM absurd.tasks WHERE task_id = %s",
                (queue["stuck"][0]["task_id"],),
            ).fetchone()[0]
    finally:
        cluster.stop()
    assert night_ms and night_ms <= pg_ms
    assert pg_failed == failed
    assert queue["ingestion"]["missing_subbands"] == missing
    assert stuck == stuck_ms


def _postmaster(demo) -> int | None:
    from dsa110_ws.demo.queue._state import is_our_postmaster, read_postmaster

    pgdata = demo / "queue-pg" / "pgdata"
    info = read_postmaster(pgdata)
    return info["pid"] if info and is_our_postmaster(info["pid"], pgdata) else None


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _dashboard(demo, tmp_path):
    # no queue URL inherited: the command starts the demo's own PostgreSQL
    return start_dashboard(demo, tmp_path / "state", unset=["DSA110_WS_QUEUE_URL"])


@pytest.mark.slow
def test_the_dashboard_starts_the_demo_queue_and_stops_it_on_sigterm(small_demo, tmp_path):
    import signal

    demo = small_demo[0]
    assert _postmaster(demo) is None
    proc = _dashboard(demo, tmp_path)
    try:
        _, printed = served_port(proc)  # printed once Voila listens
        pid = _postmaster(demo)
        assert pid is not None  # the command started the queue's server
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    out = printed + rest
    assert "task queue: postgresql://postgres@/dsa110_absurd" in out
    assert _postmaster(demo) is None  # and stopped it on the way out


@pytest.mark.slow
def test_a_killed_dashboard_leaves_nothing_that_blocks_the_next_start(small_demo, tmp_path):
    import signal

    demo = small_demo[0]
    proc = _dashboard(demo, tmp_path)
    try:
        port, _ = served_port(proc)  # printed once Voila listens
        assert _postmaster(demo) is not None
        import os

        os.killpg(proc.pid, signal.SIGKILL)  # the command and its Voila, no clean-up at all
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    # Voila went with the command that started it: nothing holds the port any more
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _listening(port):
        time.sleep(0.2)
    assert not _listening(port)
    assert _postmaster(demo) is not None  # the orphaned server still runs ...
    import os
    import subprocess
    import sys

    env = dict(
        os.environ,
        DSA110_WS_SETTINGS=str(demo / "settings.toml"),
        DSA110_WS_STATE_DIR=str(tmp_path / "state2"),
    )
    env.pop("DSA110_WS_QUEUE_URL", None)
    out = subprocess.run(
        [sys.executable, "-m", "dsa110_ws.cli", "tasks", "stats"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0 and "dsa110-pipeline" in out.stdout, out.stderr  # ... joined,
    assert _postmaster(demo) is None  # and, the last live user, stopped on its way out
