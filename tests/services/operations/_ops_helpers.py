"""Plain helpers shared by the operations-service tests (independent SQLite reads, file
hashes, workspaces over a demo directory)."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any


def rows(db: Path, query: str, params: tuple = ()) -> list[tuple]:
    """Run a query with the standard library, independently of the package."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return con.execute(query, params).fetchall()
    finally:
        con.close()


def execute(db: Path, *statements: tuple[str, tuple]) -> None:
    """Modify a private copy of a demo database (test setup only)."""
    con = sqlite3.connect(db)
    try:
        with con:
            for sql, params in statements:
                con.execute(sql, params)
    finally:
        con.close()


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def connect(directory: Path, state_dir: Path, **overrides: Any):
    import dsa110_ws

    return dsa110_ws.connect(Path(directory) / "settings.toml", state_dir=state_dir, **overrides)
