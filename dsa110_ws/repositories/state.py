"""The workspace's own small database: audit records and cached results.

It lives in the workspace's state directory, never next to the pipeline's files, and is
the only database the workspace writes without an explicit operator setting.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd

from dsa110_ws.errors import DataUnavailableError

__all__ = ["StateDB"]

_DDL = """
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,            -- Unix seconds
    who TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    database TEXT,
    before TEXT,                 -- JSON
    after TEXT,                  -- JSON
    ok INTEGER NOT NULL DEFAULT 1,
    message TEXT
);
CREATE TABLE IF NOT EXISTS results (
    key TEXT PRIMARY KEY,        -- kind + file identity + parameters
    kind TEXT NOT NULL,
    value TEXT NOT NULL,         -- JSON
    created_at REAL NOT NULL
);
"""


class StateDB:
    """SQLite file ``workspace.sqlite3`` in the state directory (created on first use)."""

    def __init__(self, state_dir: Path):
        self.path = Path(state_dir) / "workspace.sqlite3"
        self._lock = threading.Lock()
        self._ready = False

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            con = sqlite3.connect(self.path, timeout=10.0)
        except (OSError, sqlite3.Error) as exc:
            raise DataUnavailableError(
                f"Cannot open the workspace state database {self.path}: {exc}; set "
                "DSA110_WS_STATE_DIR to a writable directory.") from None
        if not self._ready:
            with self._lock:
                con.executescript(_DDL)
                self._ready = True
        return con

    # -- audit ---------------------------------------------------------------------
    def audit(self, *, who: str, action: str, target: str | None, database: str | None,
              before: Any, after: Any, ok: bool = True, message: str | None = None) -> int:
        """Append one audit record; returns its id."""
        con = self._connect()
        try:
            with con:
                cur = con.execute(
                    "INSERT INTO audit (at, who, action, target, database, before, after, ok, message)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (time.time(), who, action, target, database,
                     json.dumps(before, default=str), json.dumps(after, default=str), int(ok),
                     message))
                return int(cur.lastrowid)
        finally:
            con.close()

    def audit_log(self, *, action: str | None = None, limit: int = 1000) -> pd.DataFrame:
        """Audit records, newest first."""
        con = self._connect()
        try:
            sql, params = "SELECT * FROM audit", []
            if action:
                sql, params = sql + " WHERE action = ?", [action]
            df = pd.read_sql_query(sql + " ORDER BY id DESC LIMIT ?", con, params=[*params, limit])
        finally:
            con.close()
        df["at_utc"] = pd.to_datetime(df["at"], unit="s", utc=True)
        return df

    # -- cached results ------------------------------------------------------------
    def get_result(self, key: str) -> Any | None:
        con = self._connect()
        try:
            row = con.execute("SELECT value FROM results WHERE key = ?", (key,)).fetchone()
        finally:
            con.close()
        return None if row is None else json.loads(row[0])

    def put_result(self, key: str, kind: str, value: Any) -> None:
        con = self._connect()
        try:
            with con:
                con.execute("INSERT OR REPLACE INTO results (key, kind, value, created_at) "
                            "VALUES (?, ?, ?, ?)", (key, kind, json.dumps(value, default=str),
                                                    time.time()))
        finally:
            con.close()

    def clear_results(self, like: str = "%") -> int:
        con = self._connect()
        try:
            with con:
                return con.execute("DELETE FROM results WHERE key LIKE ?", (like,)).rowcount
        finally:
            con.close()
