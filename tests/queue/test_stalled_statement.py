"""A query the server accepts and then stalls (a lock another session holds) ends at the
queue's statement timeout with one line, never a hang; the next read works."""

from __future__ import annotations

import threading

import pytest

import dsa110_ws
from dsa110_ws.demo.queue.db import connect
from dsa110_ws.errors import DatabaseBusyError


def test_a_statement_stalled_behind_a_lock_ends_at_the_timeout(
    demo_dir, tmp_path, day_url, monkeypatch
):
    settings = tmp_path / "settings.toml"
    text = (demo_dir / "settings.toml").read_text()
    text = text.replace(
        'pipeline_db = "pipeline.sqlite3"', f'pipeline_db = "{demo_dir}/pipeline.sqlite3"'
    )
    text = text.replace('data_roots = ["data"]', f'data_roots = ["{demo_dir}/data"]')
    text = text.replace('log_roots = ["logs"]', f'log_roots = ["{demo_dir}/logs"]')
    settings.write_text(text + "\n[queue]\nstatement_timeout_s = 0.5\n")
    w = dsa110_ws.connect(settings, state_dir=tmp_path / "st", queue_url=day_url)
    held, release = threading.Event(), threading.Event()

    def hold_the_lock() -> None:  # another session: an exclusive lock in an open transaction
        with connect(day_url) as other:
            other.execute("LOCK TABLE absurd.tasks IN ACCESS EXCLUSIVE MODE")
            held.set()
            release.wait(60)
            other.rollback()

    t = threading.Thread(target=hold_the_lock, daemon=True)
    t.start()
    try:
        assert held.wait(30)
        with pytest.raises(DatabaseBusyError) as err:
            w.tasks.forget()
            w.tasks.stats()
        msg = str(err.value)
        assert "\n" not in msg and "0.5 s" in msg and "statement_timeout_s" in msg
    finally:
        release.set()
        t.join(30)
    w.tasks.forget()
    stats = w.tasks.stats()  # the lock released: the same workspace reads again
    assert int(stats["total"].sum()) > 0
    w.close()
