"""Dashboards degrade honestly: when a source fails (the pipeline database, the task
queue), every panel that depends on it says so in one line where its rows would be; none
shows an empty "all clear" beside the error; a missing column is a typed line."""

from __future__ import annotations

import hashlib
import shutil
import socket
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import dsa110_ws
from dsa110_ws.panels.dashboards import OperationsDashboard
from dsa110_ws.panels.health import HealthPanel
from dsa110_ws.panels.jobs import JobMonitor
from dsa110_ws.panels.qa import QAPanel

ALL_CLEAR = (
    "No stuck Measurement Set",
    "No open alerts",
    "No group is waiting",
    "No failed groups",
    "No jobs match",
    "No checks configured",
)
DB_PARTS = ("health", "throughput", "ingest", "jobs", "qa")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _corrupt(db: Path) -> None:
    """Keep the header (the file still looks like SQLite), overwrite every page after it."""
    size = db.stat().st_size
    with open(db, "r+b") as fh:
        fh.seek(4096)
        fh.write(bytes(range(256)) * ((size - 8192) // 256))


def _texts(panel) -> list[str]:
    """Every piece of HTML/label text of a panel's widgets (nested panels included)."""
    out: list[str] = []

    def walk(widget) -> None:
        value = getattr(widget, "value", None)
        if isinstance(value, str):
            out.append(value)
        for child in getattr(widget, "children", ()):
            walk(child)

    walk(panel)
    return out


def _workspace(writable_demo, tmp_path, **over):
    return dsa110_ws.connect(writable_demo / "settings.toml", state_dir=tmp_path / "state", **over)


def _assert_degraded(panel, *needles: str, tables: bool = True) -> None:
    """One error line in the status; each table says unavailable; no all-clear text."""
    assert panel.status.level == "error", (type(panel).__name__, panel.status.message)
    line = panel.last_error
    assert line and "\n" not in line and "Traceback" not in line
    for n in needles:
        assert n in line, (n, line)
    own = panel.own_tables()
    assert all(t.unavailable for t in own), [t.unavailable for t in own]
    text = " ".join(_texts(panel))
    for clear in ALL_CLEAR:
        assert clear not in text, (type(panel).__name__, clear)
    if tables:
        assert own and "unavailable" in text


def test_the_health_panel_over_a_corrupt_database_shows_no_all_clear(writable_demo, tmp_path):
    db = writable_demo / "pipeline.sqlite3"
    _corrupt(db)
    before = _digest(db)
    w = _workspace(writable_demo, tmp_path)
    p = HealthPanel(w, background=False)
    assert p.stuck is None and p.cal is None
    assert p.status.level == "error" and "corrupt" in p.last_error
    for table in (p.stuck_table, p.flux_table, p.alerts_table):
        assert table.unavailable and "corrupt" in table.unavailable
    text = " ".join(_texts(p))
    assert "No stuck Measurement Set" not in text and "No open alerts" not in text
    db_row = p.report.to_frame().set_index("name").loc["database"]
    assert db_row["status"] == "critical"  # the checks themselves tell the truth
    w.close()
    assert _digest(db) == before


def test_the_operations_dashboard_over_a_corrupt_database(writable_demo, tmp_path):
    db = writable_demo / "pipeline.sqlite3"
    _corrupt(db)
    before = _digest(db)
    w = _workspace(writable_demo, tmp_path)
    dash = OperationsDashboard(w, background=False, auto_refresh=False)
    for name in DB_PARTS:
        part = dash.parts[name]
        if name == "health":
            assert part.status.level == "error" and "corrupt" in part.last_error
            continue
        _assert_degraded(part, "corrupt", str(db), tables=name != "throughput")
    k = dash.kpis
    assert k["stuck_ms"] == k["open_alerts"] == k["failed_jobs"] == "n/a"
    assert k["incomplete_groups"] == k["images"] == "n/a"
    assert k["health"] in ("critical", "unknown") and k["calibration"] == "unknown"
    dash.close()
    w.close()
    assert _digest(db) == before


def test_a_panel_recovers_when_its_source_does(writable_demo, tmp_path, demo_dir):
    db = writable_demo / "pipeline.sqlite3"
    good = tmp_path / "good.sqlite3"
    shutil.copy2(db, good)
    _corrupt(db)
    w = _workspace(writable_demo, tmp_path)
    p = JobMonitor(w, status="failed", background=False)
    _assert_degraded(p, "corrupt")
    shutil.copy2(good, db)
    w.db.dispose()
    p.refresh()
    assert p.status.level == "ok" and not p.last_error
    assert all(t.unavailable is None for t in p.own_tables())
    w.close()


def test_a_missing_column_is_a_typed_line_in_the_qa_panel(writable_demo, tmp_path):
    db = writable_demo / "pipeline.sqlite3"
    with sqlite3.connect(db) as con:
        con.execute("ALTER TABLE images DROP COLUMN noise_jy")
    before = _digest(db)
    w = _workspace(writable_demo, tmp_path)
    p = QAPanel(w, night="yesterday", source="stored", background=False)
    _assert_degraded(p, "noise_jy", "lacks column")
    assert "KeyError" not in p.last_error
    from dsa110_ws.errors import SchemaMismatchError

    assert isinstance(p.errors[-1], SchemaMismatchError) and p.errors[-1].column == "noise_jy"
    w.close()
    assert _digest(db) == before


def test_a_missing_table_is_a_typed_line_in_the_job_monitor(writable_demo, tmp_path):
    db = writable_demo / "pipeline.sqlite3"
    with sqlite3.connect(db) as con:
        con.execute("DROP TABLE jobs")
    w = _workspace(writable_demo, tmp_path)
    p = JobMonitor(w, status="failed", background=False)
    _assert_degraded(p, "jobs")
    w.close()


def test_without_a_jobs_table_the_headline_still_counts_images(writable_demo, tmp_path):
    """Only the job numbers go: the images KPI needs no jobs table."""
    db = writable_demo / "pipeline.sqlite3"
    w = _workspace(writable_demo, tmp_path)
    n_images = w.stats.period_summary().n_images  # the intact database's last 24 h
    w.close()
    assert n_images > 0
    with sqlite3.connect(db) as con:
        con.execute("DROP TABLE jobs")
    w = _workspace(writable_demo, tmp_path)
    dash = OperationsDashboard(w, background=False, auto_refresh=False)
    k = dash.kpis
    assert k["failed_jobs"] == k["running_jobs"] == "n/a"
    assert k["images"] == n_images
    assert not any("no table 'jobs'" in t for t in _texts(dash.status))  # the headline's line
    dash.close()
    w.close()


def test_panels_under_an_exclusive_lock_say_locked(writable_demo, tmp_path):
    db = writable_demo / "pipeline.sqlite3"
    code = textwrap.dedent(f"""
        import sqlite3, sys
        con = sqlite3.connect({str(db)!r}, isolation_level=None)
        con.execute("BEGIN EXCLUSIVE")
        print("locked", flush=True)
        sys.stdin.read()
    """)
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "locked"
        w = _workspace(writable_demo, tmp_path, busy_timeout_s=0.3)
        p = JobMonitor(w, status="failed", background=False)
        _assert_degraded(p, "locked")
        h = HealthPanel(w, background=False)
        row = h.report.to_frame().set_index("name").loc["database"]
        assert row["status"] in ("critical", "unknown") and "locked" in row["detail"]
        assert h.stuck is None and h.stuck_table.unavailable
        w.close()
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)


@pytest.fixture()
def silent_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield s.getsockname()[1]


def test_queue_panels_over_a_silent_server_say_so(writable_demo, tmp_path, silent_port):
    from dsa110_ws.panels.tasks import TaskQueuePanel
    from dsa110_ws.panels.taskviews import FailuresPanel, WorkersPanel

    url = f"postgresql://absurd@127.0.0.1:{silent_port}/dsa110_absurd"
    w = _workspace(writable_demo, tmp_path, queue_url=url)
    for cls in (TaskQueuePanel, FailuresPanel, WorkersPanel):
        p = cls(w, background=False)
        assert p.status.level == "error", (cls.__name__, p.status.message)
        assert f"127.0.0.1:{silent_port}" in p.last_error and "\n" not in p.last_error
        assert all(t.unavailable for t in p.own_tables()), cls.__name__
        p.close()
    w.close()
