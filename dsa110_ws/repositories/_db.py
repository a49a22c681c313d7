"""Database access: the pipeline's SQLite database, read-only unless an operator writes.

SQLite is opened through a ``file:...?mode=ro`` URI with a busy timeout, so a live
pipeline writing in WAL mode is neither blocked nor modified.  Writes (operator actions)
go through :meth:`Database.transaction`, which refuses unless writes are allowed.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pandas as pd
import sqlalchemy as sa

from dsa110_ws.errors import (
    DatabaseBusyError,
    DataUnavailableError,
    NotPermittedError,
    SchemaMismatchError,
)
from dsa110_ws.repositories.querylog import QueryCounter

__all__ = ["Database", "check_sqlite_file"]

_SQLITE_MAGIC = b"SQLite format 3\x00"


def check_sqlite_file(path: Path, *, variable: str = "PIPELINE_DB") -> Path:
    """Check that ``path`` is an existing SQLite file; raise a clear error naming it."""
    path = Path(path).expanduser()
    hint = f"(from {variable})" if variable else ""
    if not path.exists():
        raise DataUnavailableError(
            f"Pipeline database {path} {hint} does not exist; set {variable} to the pipeline's "
            "pipeline.sqlite3, or unset it to use the demo state."
        )
    if path.is_dir():
        raise DataUnavailableError(
            f"Pipeline database {path} {hint} is a directory; set {variable} to the "
            "pipeline.sqlite3 file inside it."
        )
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise DataUnavailableError(
            f"Pipeline database {path} {hint} cannot be read: {exc}"
        ) from None
    if head != _SQLITE_MAGIC:
        raise DataUnavailableError(
            f"Pipeline database {path} {hint} is not an SQLite database; point {variable} at "
            "the pipeline's pipeline.sqlite3."
        )
    return path


class Database:
    """The pipeline database: engine, schema introspection and query helpers.

    Parameters
    ----------
    target
        Path of the SQLite file (``pipeline.sqlite3``).
    busy_timeout_s
        Seconds SQLite waits on a lock before :class:`DatabaseBusyError`.
    allow_writes
        Whether :meth:`transaction` may open a writable connection.
    """

    def __init__(
        self,
        target: str | Path,
        *,
        busy_timeout_s: float = 5.0,
        allow_writes: bool = False,
        variable: str = "PIPELINE_DB",
    ):
        self.busy_timeout_s = float(busy_timeout_s)
        self.allow_writes = bool(allow_writes)
        self._lock = threading.Lock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._tables: dict[str, tuple[str, ...]] | None = None
        self._write_engine: sa.Engine | None = None
        self.queries = QueryCounter("pipeline")  # every read, for tests and benchmarks
        self.path: Path = check_sqlite_file(Path(target), variable=variable).resolve()
        self.url = f"sqlite:///{self.path}"
        self.engine = self._sqlite_engine(readonly=True)

    # -- engines -------------------------------------------------------------------
    def _sqlite_engine(self, *, readonly: bool) -> sa.Engine:
        uri = f"file:{quote(str(self.path))}" + ("?mode=ro" if readonly else "")
        timeout = self.busy_timeout_s

        def creator() -> sqlite3.Connection:
            return self._sqlite_connect(uri, timeout, readonly)

        return sa.create_engine(
            "sqlite://", creator=creator, poolclass=sa.pool.QueuePool, pool_size=4, max_overflow=4
        )

    @staticmethod
    def _sqlite_connect(uri: str, timeout: float, readonly: bool) -> sqlite3.Connection:
        con = sqlite3.connect(
            uri, uri=True, timeout=timeout, check_same_thread=False, isolation_level=None
        )
        con.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        if readonly:
            con.execute("PRAGMA query_only = 1")
        return con

    def _reader(self) -> sqlite3.Connection:
        """This thread's read-only SQLite connection (the fast path for small queries)."""
        con: sqlite3.Connection | None = getattr(self._local, "con", None)
        if con is None:
            con = self._sqlite_connect(
                f"file:{quote(str(self.path))}?mode=ro", self.busy_timeout_s, True
            )
            self._local.con = con
            with self._lock:
                self._readers.append(con)
        return con

    def dispose(self) -> None:
        """Close every pooled connection."""
        for con in self._readers:
            with contextlib.suppress(sqlite3.Error):
                con.close()
        self._readers = []
        self._local = threading.local()
        self.engine.dispose()
        if self._write_engine is not None:
            self._write_engine.dispose()

    # -- introspection ---------------------------------------------------------------
    def tables(self, *, refresh: bool = False) -> dict[str, tuple[str, ...]]:
        """Map of table name to its column names, read once and cached (do not modify)."""
        if self._tables is not None and not refresh:
            return self._tables
        with self._lock:
            if self._tables is None or refresh:
                self.queries.count("schema", kind="schema")
                with self._errors("reading the schema"):
                    insp = sa.inspect(self.engine)
                    self._tables = {
                        t: tuple(c["name"] for c in insp.get_columns(t))
                        for t in insp.get_table_names()
                    }
            return self._tables

    def has_table(self, table: str) -> bool:
        return table in self.tables()

    def columns(self, table: str) -> tuple[str, ...]:
        """Columns of ``table``; :class:`SchemaMismatchError` naming it when absent."""
        cols = self.tables().get(table)
        if cols is None:
            raise SchemaMismatchError(
                f"The pipeline database {self.describe()} has no table {table!r}; this database "
                "predates it, so this view is not available.",
                table=table,
            )
        return cols

    def describe(self) -> str:
        """The database's path, for messages."""
        return str(self.path)

    # -- reading -----------------------------------------------------------------------
    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except sa.exc.OperationalError as exc:
            msg = str(exc.orig) if exc.orig is not None else str(exc)
            if "locked" in msg or "busy" in msg:
                raise DatabaseBusyError(
                    f"The pipeline database {self.describe()} stayed locked for more than "
                    f"{self.busy_timeout_s:g} s while {what}; retry, or raise "
                    "DSA110_WS_BUSY_TIMEOUT."
                ) from None
            if "no such column" in msg or "no such table" in msg:
                raise SchemaMismatchError(
                    f"The pipeline database {self.describe()} lacks what {what} needs ({msg})."
                ) from None
            raise DataUnavailableError(
                f"The pipeline database {self.describe()} failed while {what}: {msg}"
            ) from None
        except sa.exc.DatabaseError as exc:
            raise DataUnavailableError(
                f"The pipeline database {self.describe()} failed while {what}: {exc.orig}"
            ) from None

    def fetch(
        self, sql: str, params: Mapping[str, Any] | None = None
    ) -> tuple[list[str], list[tuple]]:
        """Run one parameterised SELECT (``:name`` parameters); return (columns, rows).

        Runs on a per-thread read-only DB-API connection (no per-call engine overhead).
        """
        self.queries.count(sql)
        try:
            cur = self._reader().execute(sql, dict(params or {}))
            rows = cur.fetchall()
        except sqlite3.OperationalError as exc:
            with self._errors("running a query"):
                raise sa.exc.OperationalError(sql, params, exc) from None
            raise  # pragma: no cover - _errors always raises
        except sqlite3.DatabaseError as exc:
            with self._errors("running a query"):
                raise sa.exc.DatabaseError(sql, params, exc) from None
            raise  # pragma: no cover
        return [d[0] for d in cur.description], rows

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """Run one parameterised SELECT and return a DataFrame (columns as the SQL names them)."""
        cols, rows = self.fetch(sql, params)
        return frame(cols, rows)

    def scalar(self, sql: str, params: Mapping[str, Any] | None = None) -> Any:
        """Run a query returning one value."""
        _, rows = self.fetch(sql, params)
        return rows[0][0] if rows else None

    def ping(self) -> float:
        """Seconds one trivial query takes (raises the usual typed errors if it fails)."""
        import time

        t0 = time.perf_counter()
        self.scalar("SELECT 1")
        return time.perf_counter() - t0

    def raw_connection(self) -> Any:
        """A pooled DB-API connection (for streaming large column reads); close it after use."""
        self.queries.count("raw connection")
        return self.engine.raw_connection()

    # -- writing -----------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self, what: str) -> Iterator[sa.Connection]:
        """One write transaction on the pipeline database, for an explicit operator action.

        Raises :class:`NotPermittedError` unless writes are allowed; the database is not
        touched in that case.
        """
        if not self.allow_writes:
            raise NotPermittedError(
                f"Refusing to {what}: writes to the pipeline database are off. Set "
                "DSA110_WS_ALLOW_WRITES=1 (or allow_writes=True) to enable operator actions."
            )
        if self._write_engine is None:
            self._write_engine = self._sqlite_engine(readonly=False)
        with self._errors(what), self._write_engine.connect() as con:
            # take the write lock up front: one consistent result under races
            con.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.exec_driver_sql("ROLLBACK")
                raise
            else:
                con.exec_driver_sql("COMMIT")


def frame(
    cols: list[str], rows: list[tuple], *, unix_columns: tuple[str, ...] = ()
) -> pd.DataFrame:
    """Rows to a DataFrame, adding ``<col>_utc`` (naive datetime64, UTC) for Unix-second columns."""
    if not rows:
        df = pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
        for c in unix_columns:
            if c in df.columns:
                df[f"{c}_utc"] = pd.Series(dtype="datetime64[ms]")
        return df
    data: dict[str, Any] = dict(zip(cols, map(list, zip(*rows, strict=True)), strict=True))
    for c in unix_columns:
        if c in data:
            a = np.array([np.nan if v is None else v for v in data[c]], dtype="float64")
            data[f"{c}_utc"] = (a * 1e3).astype("datetime64[ms]")
    return pd.DataFrame(data)
