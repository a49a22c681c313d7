"""w.health against real loopback services started by the tests."""

from __future__ import annotations

import http.server
import os
import socket
import stat
import subprocess
import sys
import threading

import pytest
from _ops_helpers import connect, rows

from dsa110_ws.errors import ConfigurationError


class _Handler(http.server.BaseHTTPRequestHandler):
    code = 200

    def do_GET(self):  # noqa: N802 - http.server's naming
        body = b"ok" if self.code == 200 else b"broken"
        self.send_response(self.code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _http_server(code: int):
    handler = type(f"H{code}", (_Handler,), {"code": code})
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


@pytest.fixture()
def services(tmp_path):
    """A TCP listener, HTTP 200 and 500 servers, a closed port, a stale and a live pidfile,
    and a listener that accepts but never answers HTTP."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    ok, broken = _http_server(200), _http_server(500)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    stale, live = tmp_path / "stale.pid", tmp_path / "live.pid"
    stale.write_text(f"{child.pid}\n")
    live.write_text(str(os.getpid()))
    yield {
        "tcp": listener.getsockname()[1],
        "silent": silent.getsockname()[1],
        "closed": closed_port,
        "http_ok": f"http://127.0.0.1:{ok.server_address[1]}/health",
        "http_500": f"http://127.0.0.1:{broken.server_address[1]}/health",
        "stale": str(stale),
        "live": str(live),
        "missing": str(tmp_path / "none.pid"),
    }
    for srv in (ok, broken):
        srv.shutdown()
        srv.server_close()
    listener.close()
    silent.close()


def _ws(demo_dir, state_dir, checks, **health):
    cfg = {
        "include_defaults": False,
        "data_checks": False,
        "timeout_s": 2.0,
        "checks": checks,
        "disable": ["task-queue"],  # only the checks under test
        **health,
    }
    return connect(demo_dir, state_dir, sections={"health": cfg})


def test_checks_against_real_loopback_services(demo_dir, state_dir, services, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # a proxy must not be used
    checks = [
        {"name": "tcp-up", "kind": "tcp", "host": "127.0.0.1", "port": services["tcp"]},
        {"name": "tcp-closed", "kind": "tcp", "host": "127.0.0.1", "port": services["closed"]},
        {"name": "http-200", "kind": "http", "url": services["http_ok"]},
        {"name": "http-500", "kind": "http", "url": services["http_500"]},
        {
            "name": "http-silent",
            "kind": "http",
            "url": f"http://127.0.0.1:{services['silent']}/",
            "timeout_s": 0.5,
        },
        {"name": "pid-live", "kind": "pidfile", "path": services["live"]},
        {"name": "pid-stale", "kind": "pidfile", "path": services["stale"]},
        {"name": "pid-missing", "kind": "pidfile", "path": services["missing"]},
    ]
    w = _ws(demo_dir, state_dir, checks)
    try:
        rep = w.health.check()
    finally:
        w.close()
    status = {c.name: c.status for c in rep.checks}
    assert status == {
        "tcp-up": "ok",
        "tcp-closed": "critical",
        "http-200": "ok",
        "http-500": "critical",
        "http-silent": "critical",
        "pid-live": "ok",
        "pid-stale": "critical",
        "pid-missing": "critical",
    }
    assert rep["http-200"].value["http_status"] == 200
    assert rep["http-500"].value["http_status"] == 500 and "HTTP 500" in rep["http-500"].detail
    assert "stale pidfile" in rep["pid-stale"].detail
    assert rep.status == "critical" and rep.exit_code == 2
    assert all(c.latency_ms >= 0 for c in rep.checks)
    assert list(rep.to_frame().columns) == [
        "name",
        "kind",
        "status",
        "detail",
        "latency_ms",
        "value",
    ]


def test_severity_warning_and_overall_status(demo_dir, state_dir, services):
    checks = [
        {"name": "up", "kind": "tcp", "port": services["tcp"]},
        {"name": "optional", "kind": "tcp", "port": services["closed"], "severity": "warning"},
    ]
    w = _ws(demo_dir, state_dir, checks)
    try:
        rep = w.health.check()
        only_up = w.health.check(names=["up"])
    finally:
        w.close()
    assert rep.status == "warning" and rep.exit_code == 1
    assert only_up.status == "ok" and only_up.exit_code == 0 and len(only_up.checks) == 1


def test_systemd_units_with_systemctl_and_without(demo_dir, state_dir, tmp_path, monkeypatch):
    fake = tmp_path / "bin" / "systemctl"
    fake.parent.mkdir()
    fake.write_text(
        '#!/bin/sh\ncase "$2" in\n good.service) echo active; exit 0;;\n'
        " starting.service) echo activating; exit 3;;\n"
        " *) echo failed; exit 3;;\nesac\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    checks = [
        {"name": u, "kind": "systemd", "unit": f"{u}.service"} for u in ("good", "starting", "bad")
    ]
    monkeypatch.setenv("PATH", str(fake.parent))
    w = _ws(demo_dir, state_dir, checks)
    try:
        with_ctl = {c.name: c.status for c in w.health.check().checks}
        monkeypatch.setenv("PATH", str(tmp_path / "empty"))
        without = {c.name: c.status for c in w.health.check().checks}
    finally:
        w.close()
    assert with_ctl == {"good": "ok", "starting": "warning", "bad": "critical"}
    assert without == {"good": "unknown", "starting": "unknown", "bad": "unknown"}


def test_disk_thresholds(demo_dir, state_dir):
    st = os.statvfs(demo_dir / "data")
    used = (st.f_blocks - st.f_bfree) * st.f_frsize
    percent = 100.0 * used / (used + st.f_bavail * st.f_frsize)
    checks = [
        {
            "name": n,
            "kind": "disk",
            "path": str(demo_dir / "data"),
            "warning_percent": w_,
            "critical_percent": c_,
        }
        for n, w_, c_ in (
            ("roomy", percent + 5, percent + 10),
            ("warn", percent - 5, percent + 10),
            ("crit", percent - 10, percent - 5),
        )
    ]
    checks.append(
        {
            "name": "gone",
            "kind": "disk",
            "path": str(demo_dir / "nope"),
            "warning_percent": 85,
            "critical_percent": 95,
        }
    )
    w = _ws(demo_dir, state_dir, checks)
    try:
        rep = w.health.check()
    finally:
        w.close()
    assert {c.name: c.status for c in rep.checks} == {
        "roomy": "ok",
        "warn": "warning",
        "crit": "critical",
        "gone": "critical",
    }
    assert rep["roomy"].value["used_percent"] == pytest.approx(percent, abs=0.5)


def test_default_data_checks_on_the_demo(workspace, demo_dir, truth):
    rep = workspace.health.check()
    names = {c.name for c in rep.checks}
    assert "streaming-converter" not in names  # the demo state has no services to check
    assert {
        "database",
        "freshness:ms",
        "freshness:image",
        "freshness:hdf5",
        "stuck-ms",
        f"disk:{demo_dir / 'data'}",
    } <= names
    db = demo_dir / "pipeline.sqlite3"
    now = truth["now_unix"]
    newest_img = rows(db, "SELECT MAX(created_at) FROM images")[0][0]
    newest_ms = rows(db, "SELECT MAX(created_at) FROM ms_index")[0][0]
    newest_h5 = rows(db, "SELECT MAX(indexed_at) FROM hdf5_files")[0][0]
    for name, newest, (warn, crit) in (
        ("freshness:image", newest_img, (120, 360)),
        ("freshness:ms", newest_ms, (60, 360)),
        ("freshness:hdf5", newest_h5, (30, 120)),
    ):
        age = (now - newest) / 60.0
        c = rep[name]
        assert c.value["minutes_since_newest"] == pytest.approx(age, abs=1e-3)
        assert c.status == ("critical" if age >= crit else "warning" if age >= warn else "ok")
    assert rep["stuck-ms"].status == "warning" and rep["stuck-ms"].value["n_stuck"] == 1
    assert rep["database"].status == "ok"
    assert rep.status == "warning"


def test_a_stalled_pipeline_is_critical(demo_dir, state_dir, truth):
    # the same data seen 8 hours later: nothing new was written since
    from dsa110_ws.core.time import to_time

    later = to_time(truth["now_unix"] + 8 * 3600).isot
    w = connect(demo_dir, state_dir, now=later)
    try:
        rep = w.health.check(kinds=["freshness"])
    finally:
        w.close()
    assert {c.status for c in rep.checks} == {"critical"}
    assert all("stalled" in c.detail for c in rep.checks)


def test_defaults_and_configuration_errors(demo_dir, state_dir):
    w = connect(
        demo_dir, state_dir, sections={"health": {"include_defaults": True, "disable": ["redis"]}}
    )
    try:
        names = {s["name"] for s in w.health.checks()}
    finally:
        w.close()
    assert {"streaming-converter", "api-service", "api-http"} <= names and "redis" not in names
    cases = [
        ([{"name": "x", "kind": "ping"}], "checks.0.kind = 'ping'"),
        ([{"name": "x", "kind": "tcp"}], "a tcp check needs port"),
        ([{"kind": "tcp"}], "checks.0.name"),
        ([{"name": "x", "kind": "tcp", "port": 7, "prot": 7}], "unknown key 'checks.0.prot'"),
    ]
    for bad, needle in cases:  # refused when the settings load, before any check runs
        with pytest.raises(ConfigurationError, match="table \\[health\\]") as err:
            _ws(demo_dir, state_dir, bad)
        assert needle in str(err.value)


def test_an_older_schema_degrades_to_not_available(tmp_path):
    """Without ms_state, images, hdf5 files, caltables or batches: fallbacks or clear errors."""
    import sqlite3

    import dsa110_ws
    from dsa110_ws.demo.schema import create_schema
    from dsa110_ws.errors import SchemaMismatchError

    db = tmp_path / "old.sqlite3"
    con = sqlite3.connect(db)
    create_schema(con, tables=["ms_index", "jobs", "ingestion_groups"])
    now = 1794678800.0
    con.execute(
        "INSERT INTO ms_index (path, mid_mjd, stage, status, stage_updated_at, "
        "created_at) VALUES ('/a.ms', ?, 'imaging', 'running', ?, ?)",
        (now / 86400 + 40587 - 0.01, now - 5 * 3600, now - 5 * 3600),
    )
    con.execute(
        "INSERT INTO ingestion_groups (group_id, state, subband_count, "
        "expected_subbands, created_at) VALUES ('g1', 'collecting', 12, 16, ?)",
        (now - 600,),
    )
    con.commit()
    con.close()
    w = dsa110_ws.connect(
        pipeline_db=str(db),
        state_dir=str(tmp_path / "s"),
        now="2026-11-14T17:53:20",
        sections={"health": {"include_defaults": False}},
    )
    try:
        stuck = w.jobs.stuck()  # from ms_index.stage_updated_at
        assert list(stuck["path"]) == ["/a.ms"]
        assert stuck["minutes_since_change"].iloc[0] == pytest.approx(300.0)
        inc = w.ingest.incomplete()  # from subband_count: which indices are missing is unknown
        assert list(inc["group_id"]) == ["g1"] and inc["missing_subbands"].iloc[0] is None
        rep = w.health.check()
        assert rep["freshness:image"].status == "unknown"
        assert rep["freshness:hdf5"].status == "unknown"
        assert rep["freshness:ms"].status == "warning" and rep["database"].status == "ok"
        assert w.stats.counts()["ms_by_stage"] == {"imaging": 1}
        with pytest.raises(SchemaMismatchError, match="caltables"):
            w.calhealth.health()
        with pytest.raises(SchemaMismatchError, match="batch_jobs"):
            w.jobs.batches()
    finally:
        w.close()
