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
    message TEXT,
    outcome TEXT                 -- pending (intent recorded), done, failed, refused
);
CREATE TABLE IF NOT EXISTS outputs (
    path TEXT PRIMARY KEY,       -- resolved path of a file the workspace wrote
    sha256 TEXT NOT NULL,        -- of the content written
    size INTEGER NOT NULL,
    written_at REAL NOT NULL     -- Unix seconds
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

    def __getstate__(self) -> dict[str, Any]:  # picklable for process pools and Dask
        return {"path": self.path}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.path = state["path"]
        self._lock = threading.Lock()
        self._ready = False

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            con = sqlite3.connect(self.path, timeout=10.0)
        except (OSError, sqlite3.Error) as exc:
            raise DataUnavailableError(
                f"Cannot open the workspace state database {self.path}: {exc}; set "
                "DSA110_WS_STATE_DIR to a writable directory."
            ) from None
        if not self._ready:
            with self._lock:
                try:
                    con.executescript(_DDL)
                    cols = {r[1] for r in con.execute("PRAGMA table_info(audit)")}
                    if "outcome" not in cols:  # a state database from before outcomes
                        con.execute("ALTER TABLE audit ADD COLUMN outcome TEXT")
                except sqlite3.Error as exc:
                    con.close()
                    raise DataUnavailableError(
                        f"The workspace state database {self.path} is unusable ({exc}); set "
                        "DSA110_WS_STATE_DIR to a writable directory or move the file aside."
                    ) from None
                self._ready = True
        return con

    # -- audit ---------------------------------------------------------------------
    def _write(self, sql: str, params: tuple) -> int:
        con = self._connect()
        try:
            with con:
                cur = con.execute(sql, params)
                return int(cur.lastrowid or 0) if sql.startswith("INSERT") else cur.rowcount
        except sqlite3.Error as exc:
            raise DataUnavailableError(
                f"Cannot write the audit record to {self.path} ({exc}); nothing was done. Set "
                "DSA110_WS_STATE_DIR to a writable directory."
            ) from None
        finally:
            con.close()

    def audit(
        self,
        *,
        who: str,
        action: str,
        target: str | None,
        database: str | None,
        before: Any,
        after: Any,
        ok: bool = True,
        message: str | None = None,
    ) -> int:
        """Append one complete audit record; returns its id."""
        return self._write(
            "INSERT INTO audit (at, who, action, target, database, before, after, ok, message, "
            "outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                time.time(),
                who,
                action,
                target,
                database,
                json.dumps(before, default=str),
                json.dumps(after, default=str),
                int(ok),
                message,
                "done" if ok else "refused",
            ),
        )

    def begin_audit(
        self, *, who: str, action: str, target: str | None, database: str | None
    ) -> int:
        """Record the intent of an action (outcome 'pending'); returns the record's id.

        Raises :class:`DataUnavailableError` when it cannot be written: the caller must
        then not act.
        """
        return self._write(
            "INSERT INTO audit (at, who, action, target, database, ok, outcome) "
            "VALUES (?, ?, ?, ?, ?, 0, 'pending')",
            (time.time(), who, action, target, database),
        )

    def finish_audit(
        self,
        audit_id: int,
        *,
        before: Any = None,
        after: Any = None,
        ok: bool,
        message: str | None = None,
    ) -> None:
        """Record the outcome of an action whose intent :meth:`begin_audit` recorded."""
        self._write(
            "UPDATE audit SET before = ?, after = ?, ok = ?, message = ?, outcome = ? WHERE id = ?",
            (
                json.dumps(before, default=str),
                json.dumps(after, default=str),
                int(ok),
                message,
                "done" if ok else "failed",
                int(audit_id),
            ),
        )

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

    # -- files the workspace wrote ---------------------------------------------------
    def record_output(self, path: Path, sha256: str, size: int) -> None:
        """Remember that the workspace wrote ``path`` with this content."""
        self._write(
            "INSERT OR REPLACE INTO outputs (path, sha256, size, written_at) VALUES (?, ?, ?, ?)",
            (str(path), sha256, int(size), time.time()),
        )

    def output_sha256(self, path: Path) -> str | None:
        """The checksum of what the workspace last wrote at ``path`` (``None``: never)."""
        con = self._connect()
        try:
            row = con.execute("SELECT sha256 FROM outputs WHERE path = ?", (str(path),)).fetchone()
        except sqlite3.Error:
            return None
        finally:
            con.close()
        return None if row is None else str(row[0])

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
                con.execute(
                    "INSERT OR REPLACE INTO results (key, kind, value, created_at) "
                    "VALUES (?, ?, ?, ?)",
                    (key, kind, json.dumps(value, default=str), time.time()),
                )
        finally:
            con.close()

    def clear_results(self, like: str = "%") -> int:
        con = self._connect()
        try:
            with con:
                return con.execute("DELETE FROM results WHERE key LIKE ?", (like,)).rowcount
        finally:
            con.close()
