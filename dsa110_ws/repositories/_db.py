"""Database access: the pipeline's SQLite database, read-only unless an operator writes.

SQLite is opened through a ``file:...?mode=ro`` URI with a busy timeout, so a live
pipeline writing in WAL mode is neither blocked nor modified; the file is never created
(``mode=rw`` for an operator's write, never ``rwc``) and never checkpointed by a read.
Writes (operator actions) go through :meth:`Database.transaction`, which refuses unless
writes are allowed.  What SQLite does with ``-wal``/``-shm`` for read-only readers is
described in :mod:`dsa110_ws.repositories._sqlitefile`.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from dsa110_ws.errors import (
    ConfigurationError,
    DatabaseBusyError,
    DataUnavailableError,
    NotPermittedError,
    SchemaMismatchError,
    WorkspaceError,
)
from dsa110_ws.repositories._sqlitefile import (
    TRANSIENT_CODES,
    cannot_open_reason,
    check_sqlite_file,
    retry_transient,
    sqlite_uri,
)
from dsa110_ws.repositories.querylog import QueryCounter

__all__ = ["Database", "check_sqlite_file"]


def _as_path(target: str | Path) -> Path:
    """A path, or the path of a ``sqlite:///`` URL (the one parser, in config)."""
    text = str(target)
    if "://" not in text:
        return Path(text)
    from dsa110_ws.config import sqlite_url_path

    try:
        return Path(sqlite_url_path(text))
    except ValueError as exc:
        raise ConfigurationError(f"Pipeline database {text!r}: {exc}.") from None


class Database:
    """The pipeline database: engine, schema introspection and query helpers.

    Parameters
    ----------
    target
        Path of the SQLite file (``pipeline.sqlite3``), or a ``sqlite:///`` URL of it.
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
        statement_timeout_s: float = 600.0,
    ):
        self.busy_timeout_s = float(busy_timeout_s)
        self.statement_timeout_s = float(statement_timeout_s)
        self.allow_writes = bool(allow_writes)
        self._lock = threading.Lock()
        self._local = threading.local()
        #: every thread's reader, with a weak reference to its thread (closed once it ends)
        self._readers: list[tuple[weakref.ref[threading.Thread], sqlite3.Connection]] = []
        self._tables: dict[str, tuple[str, ...]] | None = None
        self._write_engine: sa.Engine | None = None
        self.queries = QueryCounter("pipeline")  # every read, for tests and benchmarks
        self.path: Path = check_sqlite_file(_as_path(target), variable=variable).resolve()
        self.url = f"sqlite:///{self.path}"
        self.engine = self._sqlite_engine(readonly=True)

    # -- engines -------------------------------------------------------------------
    def _sqlite_engine(self, *, readonly: bool) -> sa.Engine:
        timeout = self.busy_timeout_s

        def creator() -> sqlite3.Connection:
            return self._connect(readonly=readonly, timeout=timeout)

        return sa.create_engine(
            "sqlite://", creator=creator, poolclass=sa.pool.QueuePool, pool_size=4, max_overflow=4
        )

    def _connect(self, *, readonly: bool, timeout: float) -> sqlite3.Connection:
        """A new connection: ``mode=ro`` (or ``rw``, never creating the file), a busy
        timeout of ``timeout`` seconds, and ``query_only`` when read-only."""
        con = sqlite3.connect(
            sqlite_uri(self.path, readonly=readonly),
            uri=True,
            timeout=timeout,
            check_same_thread=False,
            isolation_level=None,
        )
        con.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        if readonly:
            con.execute("PRAGMA query_only = 1")
        return con

    def _reader(self) -> sqlite3.Connection:
        """This thread's read-only SQLite connection (the fast path for small queries).

        Readers of threads that have ended are closed here, so short-lived threads (the
        health checks' pool, panel workers) never pile up open connections."""
        con: sqlite3.Connection | None = getattr(self._local, "con", None)
        if con is None:
            try:
                con = self._connect(readonly=True, timeout=self.busy_timeout_s)
            except sqlite3.Error as exc:
                raise self.error(exc, "opening it") from None
            self._local.con = con
            with self._lock:
                alive = []
                for ref, other in self._readers:
                    thread = ref()
                    if thread is None or not thread.is_alive():
                        with contextlib.suppress(sqlite3.Error):
                            other.close()
                    else:
                        alive.append((ref, other))
                alive.append((weakref.ref(threading.current_thread()), con))
                self._readers = alive
        return con

    @property
    def open_readers(self) -> int:
        """How many per-thread reader connections are open (for tests and diagnostics)."""
        return len(self._readers)

    def dispose(self) -> None:
        """Close every pooled connection."""
        with self._lock:
            for _, con in self._readers:
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

    # -- errors ------------------------------------------------------------------------
    def error(
        self, exc: BaseException, what: str, *, busy_s: float | None = None
    ) -> WorkspaceError:
        """The one-line typed error for a failure of SQLite (or of SQLAlchemy over it)
        while ``what``: locked, being recovered, a hot journal, an older schema, unopenable
        (with the likely reason) or corrupt."""
        orig = getattr(exc, "orig", None) or exc
        msg = " ".join(str(orig).split())
        code = str(getattr(orig, "sqlite_errorname", "") or "")
        where = f"The pipeline database {self.describe()}"
        waited = self.busy_timeout_s if busy_s is None else busy_s
        if code.startswith("SQLITE_BUSY") or "database is locked" in msg:
            return DatabaseBusyError(
                f"{where} stayed locked by another process for more than {waited:g} s while "
                f"{what}; retry, or raise DSA110_WS_BUSY_TIMEOUT."
            )
        if code in TRANSIENT_CODES:
            return DatabaseBusyError(
                f"{where} was being recovered by its writer for more than {waited:g} s while "
                f"{what}; retry."
            )
        if code == "SQLITE_READONLY_ROLLBACK":
            return DataUnavailableError(
                f"{where} cannot be read while {what}: it has a hot journal "
                f"({self.path.name}-journal) left by a pipeline process that stopped "
                "mid-write, which only a writer may roll back; it becomes readable once the "
                "pipeline opens it again."
            )
        if "no such column" in msg or "no such table" in msg:
            name = msg.split(":", 1)[1].strip() if ":" in msg else None
            return SchemaMismatchError(
                f"{where} lacks what {what} needs ({msg}).",
                table=name if "no such table" in msg else None,
                column=name if "no such column" in msg else None,
            )
        if code.startswith("SQLITE_CANTOPEN") or "unable to open" in msg:
            return DataUnavailableError(
                f"{where} cannot be opened while {what} ({msg}): {cannot_open_reason(self.path)}."
            )
        if code.startswith("SQLITE_CORRUPT") or code == "SQLITE_NOTADB" or "malformed" in msg:
            return DataUnavailableError(
                f"{where} is corrupt ({msg}) while {what}; restore it from a backup or "
                "recover it into a new file (sqlite3 .recover)."
            )
        return DataUnavailableError(f"{where} failed while {what}: {msg}")

    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except (sa.exc.DBAPIError, sqlite3.Error) as exc:
            raise self.error(exc, what) from None

    # -- reading -----------------------------------------------------------------------
    def fetch(
        self, sql: str, params: Mapping[str, Any] | None = None
    ) -> tuple[list[str], list[tuple]]:
        """Run one parameterised SELECT (``:name`` parameters); return (columns, rows).

        Runs on a per-thread read-only DB-API connection (no per-call engine overhead).
        A reader of a live WAL database that meets the writer recovering it retries for
        up to the busy timeout.
        """
        self.queries.count(sql)
        args = dict(params or {})
        con = self._reader()
        limit = self.statement_timeout_s if self.statement_timeout_s > 0 else float("inf")
        deadline = time.monotonic() + limit
        # why: SQLite has no statement timeout; its progress handler, called every N virtual
        # machine steps, interrupts a statement that has run past the deadline (0: no limit)
        if limit != float("inf"):
            con.set_progress_handler(lambda: int(time.monotonic() > deadline), 100_000)
        try:
            cur = con.execute(sql, args)
            rows = cur.fetchall()
        except sqlite3.Error as exc:
            if time.monotonic() > deadline and "interrupt" in str(exc).lower():
                raise DatabaseBusyError(
                    f"A query of {self.describe()} ran longer than {self.statement_timeout_s:g} "
                    "s and was stopped; narrow the window or filters, or raise "
                    "DSA110_WS_STATEMENT_TIMEOUT (statement_timeout_s)."
                ) from None
            if getattr(exc, "sqlite_errorname", "") not in TRANSIENT_CODES:
                raise self.error(exc, "running a query") from None

            def again() -> tuple[sqlite3.Cursor, list[Any]]:
                c = con.execute(sql, args)
                return c, c.fetchall()

            try:
                cur, rows = retry_transient(again, deadline_s=self.busy_timeout_s)
            except sqlite3.Error as exc2:
                raise self.error(exc2, "running a query") from None
        finally:
            con.set_progress_handler(None, 0)
        return [d[0] for d in cur.description], rows

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """Run one parameterised SELECT and return a DataFrame (columns as the SQL names them)."""
        cols, rows = self.fetch(sql, params)
        return frame(cols, rows)

    def scalar(self, sql: str, params: Mapping[str, Any] | None = None) -> Any:
        """Run a query returning one value."""
        _, rows = self.fetch(sql, params)
        return rows[0][0] if rows else None

    def probe(self, *, timeout_s: float | None = None) -> float:
        """Seconds one real read takes on a fresh read-only connection.

        It reads the schema (page 1 and the schema table), so a lock held by another
        process, a file SQLite cannot open and a corrupt header all raise their typed
        error; it waits at most ``timeout_s`` (default the busy timeout) on a lock.
        """
        wait = self.busy_timeout_s if timeout_s is None else min(timeout_s, self.busy_timeout_s)
        t0 = time.perf_counter()
        try:
            con = self._connect(readonly=True, timeout=wait)
            try:
                retry_transient(
                    lambda: con.execute(
                        "SELECT COUNT(*), MAX(rootpage) FROM sqlite_master"
                    ).fetchone(),
                    deadline_s=wait,
                )
            finally:
                con.close()
        except sqlite3.Error as exc:
            raise self.error(exc, "probing it", busy_s=wait) from None
        return time.perf_counter() - t0

    def ping(self) -> float:
        """Seconds one real read takes (see :meth:`probe`)."""
        return self.probe()

    def indexes(self) -> dict[str, list[tuple[str, ...]]]:
        """Each table's usable indexes as column tuples, in index order (primary-key and
        UNIQUE indexes included; partial indexes left out; an expression ends a tuple)."""
        _, rows = self.fetch(
            "SELECT m.name, il.name, ii.seqno, ii.name FROM sqlite_master AS m "
            "JOIN pragma_index_list(m.name) AS il JOIN pragma_index_info(il.name) AS ii "
            "WHERE m.type = 'table' AND il.partial = 0 ORDER BY 1, 2, 3"
        )
        cols: dict[tuple[str, str], list[str | None]] = {}
        for table, index, _, column in rows:
            cols.setdefault((table, index), []).append(column)
        out: dict[str, list[tuple[str, ...]]] = {}
        for (table, _), names in cols.items():
            usable = names[: names.index(None)] if None in names else names
            if usable:
                out.setdefault(table, []).append(tuple(str(c) for c in usable))
        return out

    def raw_connection(self) -> Any:
        """A pooled DB-API connection (for streaming large column reads); close it after use."""
        self.queries.count("raw connection")
        with self._errors("opening it"):
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
