"""The individual health checks.  Each takes a check spec (a dict from the settings or the
defaults) and returns ``(status, detail, value)``; timing and error capture happen in
:mod:`dsa110_ws.services.operations.health`.

Statuses: ``ok``, ``warning``, ``critical``, ``unknown``.  A spec's ``severity`` (default
``critical``) is what a failed service check reports, so optional services can be marked
``warning``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from dsa110_ws.core.severity import Severity, worst
from dsa110_ws.errors import WorkspaceError, one_line

__all__ = ["CHECKS"]

Outcome = tuple[str, str, dict[str, Any]]
#: Minutes a newest row may lie after "now" (clock skew between machines) before it is odd.
FUTURE_TOLERANCE_MIN = 5.0


def _fail(spec: dict[str, Any]) -> str:
    sev = str(spec.get("severity", "critical")).lower()
    return sev if sev in ("warning", "critical") else "critical"


def check_tcp(spec: dict[str, Any], ctx: Any) -> Outcome:
    host, port = str(spec.get("host", "127.0.0.1")), int(spec["port"])
    try:
        with socket.create_connection((host, port), timeout=float(spec["timeout_s"])):
            pass
    except TimeoutError:
        return _fail(spec), f"{host}:{port} did not answer within {spec['timeout_s']:g} s", {}
    except OSError as exc:
        return _fail(spec), f"{host}:{port} refused or unreachable ({exc.strerror or exc})", {}
    return "ok", f"{host}:{port} accepts connections", {}


def check_http(spec: dict[str, Any], ctx: Any) -> Outcome:
    url = str(spec["url"])
    if not url.startswith(("http://", "https://")):
        return "unknown", f"not an http(s) URL: {url!r}", {}
    # no proxies: a health check must reach the host itself, not an HTTP_PROXY
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    req = urllib.request.Request(
        url,
        method=str(spec.get("method", "GET")).upper(),
        headers={"User-Agent": "dsa110-ws-health"},
    )
    try:
        with opener.open(req, timeout=float(spec["timeout_s"])) as resp:
            code = int(resp.status)
            resp.read(65536)
    except urllib.error.HTTPError as exc:
        code = int(exc.code)
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return _fail(spec), f"{url}: no response ({reason})", {}
    expect = spec.get("expect_status")
    good = (code in [int(x) for x in expect]) if expect else 200 <= code < 400
    status = "ok" if good else _fail(spec)
    return status, f"{url} answered HTTP {code}", {"http_status": code}


def check_systemd(spec: dict[str, Any], ctx: Any) -> Outcome:
    unit = str(spec["unit"])
    exe = shutil.which("systemctl")
    if exe is None:
        return "unknown", f"systemctl is not available here, so {unit} cannot be checked", {}
    try:
        proc = subprocess.run(
            [exe, "is-active", unit],
            capture_output=True,
            text=True,
            timeout=float(spec["timeout_s"]),
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return "unknown", f"systemctl is-active {unit} timed out", {}
    except OSError as exc:
        return "unknown", f"systemctl could not run: {exc}", {}
    state = (proc.stdout.strip().splitlines() or [""])[0]
    if state == "active":
        return "ok", f"{unit} is active", {"state": state}
    if state in {"activating", "reloading", "deactivating"}:
        return "warning", f"{unit} is {state}", {"state": state}
    if state in {"inactive", "failed"}:
        return _fail(spec), f"{unit} is {state}", {"state": state}
    why = " ".join((proc.stderr or state or f"exit status {proc.returncode}").split())
    return "unknown", f"state of {unit} unknown: {why[:200]}", {"state": state or None}


def check_pidfile(spec: dict[str, Any], ctx: Any) -> Outcome:
    path = Path(os.path.expanduser(str(spec["path"])))
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return _fail(spec), f"pidfile {path} does not exist (process not started?)", {}
    except OSError as exc:
        return "unknown", f"pidfile {path} cannot be read: {exc}", {}
    try:
        pid = int(text.split()[0])
    except (ValueError, IndexError):
        return _fail(spec), f"pidfile {path} holds no process id ({text[:40]!r})", {}
    if pid <= 0:
        return _fail(spec), f"pidfile {path} holds an invalid pid {pid}", {}
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return _fail(spec), f"stale pidfile {path}: process {pid} is not running", {"pid": pid}
    except PermissionError:
        pass  # it exists, owned by someone else
    return "ok", f"process {pid} from {path} is running", {"pid": pid}


def check_disk(spec: dict[str, Any], ctx: Any) -> Outcome:
    path = Path(os.path.expanduser(str(spec["path"])))
    try:
        usage = shutil.disk_usage(path)
    except OSError as exc:
        return "critical", f"{path} is not reachable: {exc.strerror or exc}", {}
    denom = usage.used + usage.free  # as df reports Use%: blocks reserved for root excluded
    percent = 100.0 * usage.used / denom if denom else 0.0
    warn, crit = float(spec["warning_percent"]), float(spec["critical_percent"])
    status = "critical" if percent >= crit else "warning" if percent >= warn else "ok"
    value = {
        "path": str(path),
        "used_percent": percent,
        "total_bytes": usage.total,
        "used_bytes": usage.used,
        "free_bytes": usage.free,
    }
    return (
        status,
        (
            f"{path}: {percent:.1f}% used, {usage.free / 1e9:.1f} GB free "
            f"(warning {warn:g}%, critical {crit:g}%)"
        ),
        value,
    )


def check_database(spec: dict[str, Any], ctx: Any) -> Outcome:
    """A real read on a fresh connection (a lock held elsewhere, an unopenable or corrupt
    file raise, and the health service reports critical), then the age of the last write."""
    db = ctx.db
    query_ms = db.probe(timeout_s=float(spec["timeout_s"])) * 1000.0
    value: dict[str, Any] = {"query_ms": query_ms, "database": db.describe()}
    if db.path is None:
        return "ok", f"{db.describe()} answers ({query_ms:.0f} ms); last write unknown", value
    mtimes = [p.stat().st_mtime for p in (db.path, Path(f"{db.path}-wal")) if p.exists()]
    last = max(mtimes)
    age_min = (time.time() - last) / 60.0  # file times are wall-clock times
    value.update(last_write_unix=last, minutes_since_write=age_min)
    detail = f"{db.path.name} answers ({query_ms:.0f} ms); last written {age_min:.0f} min ago"
    if ctx.frozen_clock:
        return "ok", detail + " (clock frozen: write age not graded)", value
    warn, crit = spec.get("write_warning_minutes"), spec.get("write_critical_minutes")
    if crit is not None and age_min >= float(crit):
        return "critical", detail, value
    if warn is not None and age_min >= float(warn):
        return "warning", detail, value
    return "ok", detail, value


def check_indexes(spec: dict[str, Any], ctx: Any) -> Outcome:
    """The indexes the workspace's queries rely on that the database lacks, with the
    ``CREATE INDEX`` statements an operator can run (the workspace never adds them)."""
    from dsa110_ws.repositories import missing_indexes

    missing = missing_indexes(ctx.db)
    if not missing:
        return "ok", "every index the workspace's queries rely on is present", {"missing": []}
    value = {
        "missing": [m.label for m in missing],
        "sql": [m.create_sql for m in missing],
    }
    needs = ", ".join(f"{m.label} ({m.why})" for m in missing)
    return (
        str(spec.get("severity", "warning")),
        f"{len(missing)} index(es) the workspace's queries rely on are missing, so those "
        f"views scan whole tables: {needs}; an operator can run: {' '.join(value['sql'])}",
        value,
    )


def check_freshness(spec: dict[str, Any], ctx: Any) -> Outcome:
    what = str(spec["what"])
    newest = ctx.newest().get(what)
    if newest is None:
        return "unknown", f"no {what} rows (or no such table) to judge freshness by", {}
    age_min = (ctx.now_unix - newest) / 60.0
    label = {"ms": "Measurement Set", "image": "image", "hdf5": "HDF5 file"}.get(what, what)
    if age_min < -FUTURE_TOLERANCE_MIN:  # a row from the future: the clock or the data is wrong
        return (
            "unknown",
            f"newest {label} is dated {-age_min:.0f} min after the workspace clock's now: "
            "check the clock (settings 'now') or the rows' created_at",
            {"minutes_since_newest": age_min, "newest_unix": newest},
        )
    warn, crit = float(spec["warning_minutes"]), float(spec["critical_minutes"])
    status = "critical" if age_min >= crit else "warning" if age_min >= warn else "ok"
    stalled = " - pipeline stalled?" if status == "critical" else ""
    return (
        status,
        (
            f"newest {label} written {age_min:.0f} min ago (warning {warn:g}, "
            f"critical {crit:g} min){stalled}"
        ),
        {"minutes_since_newest": age_min, "newest_unix": newest},
    )


def check_stuck(spec: dict[str, Any], ctx: Any) -> Outcome:
    df = ctx.jobs.stuck()
    if df.empty:
        return "ok", "no MS stuck in a processing state", {"n_stuck": 0}
    oldest = float(df["minutes_since_change"].max())
    return (
        str(spec.get("severity", "warning")),
        f"{len(df)} MS stuck (oldest unchanged for {oldest:.0f} min)",
        {"n_stuck": len(df), "paths": df["path"].tolist()},
    )


def _grade(value: float, limits: Any) -> Severity:
    warn, crit = (float(x) for x in limits)
    if value >= crit:
        return Severity.CRITICAL
    return Severity.WARNING if value >= warn else Severity.OK


def check_queue(spec: dict[str, Any], ctx: Any) -> Outcome:
    """The task queue: reachable, failures in the last hour, DLQ size, oldest pending task,
    stuck tasks, each against its [warning, critical] limits; an unreachable server is
    critical (nothing gets processed)."""
    tasks = ctx.tasks
    try:
        stats = tasks.stats()
    except WorkspaceError as exc:
        return "critical", f"task queue unreachable: {one_line(exc)}", {}
    stuck = tasks.stuck(limit=None)
    summary = tasks.summary(stats=stats, stuck=stuck)
    waited = tasks.oldest_pending_s()
    waited_min = 0.0 if waited is None else max(waited, 0.0) / 60.0
    graded = {
        "failed_1h": _grade(summary["failed_1h"], spec["failed_1h"]),
        "dead_letter": _grade(summary["dead_letter"], spec["dead_letter"]),
        "oldest_pending_minutes": _grade(waited_min, spec["oldest_pending_minutes"]),
        "stuck": _grade(summary["stuck"], spec["stuck"]),
    }
    bad = [k for k, v in graded.items() if v is not Severity.OK]
    detail = (
        f"{summary['failed_1h']} failed in 1 h, DLQ {summary['dead_letter']}, oldest pending "
        + ("none" if waited is None else f"{waited_min:.0f} min")
        + f", {summary['stuck']} stuck, {summary['pending']} pending, "
        f"{summary['running']} running" + (f" (over limit: {', '.join(bad)})" if bad else "")
    )
    value = {**summary, "oldest_pending_minutes": None if waited is None else waited_min}
    value["graded"] = {k: v.value for k, v in graded.items()}
    return worst(graded.values()).value, detail, value


CHECKS = {
    "tcp": check_tcp,
    "http": check_http,
    "systemd": check_systemd,
    "pidfile": check_pidfile,
    "disk": check_disk,
    "database": check_database,
    "indexes": check_indexes,
    "freshness": check_freshness,
    "stuck": check_stuck,
    "queue": check_queue,
}
