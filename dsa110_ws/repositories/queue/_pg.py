"""The task queue's PostgreSQL database (schema ``absurd``), through SQLAlchemy Core and psycopg 3.

Every read runs in a read-only transaction with a statement timeout; connecting has a
timeout of a few seconds, so an unreachable or silent server is a
:class:`DataUnavailableError` naming the host, never a hang.  Writes (an operator's retry
or cancel, through the deployment's own functions) need ``allow_writes`` and go through
:meth:`QueueDatabase.transaction`.  Passwords never leave this object: every message and
description shows the URL masked.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import sqlalchemy as sa

from dsa110_ws.config import mask_url
from dsa110_ws.errors import (
    ConfigurationError,
    DatabaseBusyError,
    DataUnavailableError,
    NotPermittedError,
    SchemaMismatchError,
)
from dsa110_ws.repositories.querylog import QueryCounter

__all__ = ["QueueDatabase", "SCHEMA"]

SCHEMA = "absurd"


def _sqlalchemy_url(url: str) -> str:
    parts = urlsplit(str(url))
    scheme = parts.scheme.split("+", 1)[0]
    if scheme not in ("postgresql", "postgres"):
        raise ConfigurationError(
            f"The task-queue URL {mask_url(url)} is not a PostgreSQL URL; set "
            "ABSURD_DATABASE_URL to postgresql://user:password@host:port/dbname."
        )
    return "postgresql+psycopg://" + str(url).split("://", 1)[1]


def _host(url: str) -> str:
    parts = urlsplit(str(url))
    host = parts.hostname or parse_qs(parts.query).get("host", ["localhost"])[0]
    port = parts.port or parse_qs(parts.query).get("port", ["5432"])[0]
    return f"{host}:{port}"


class QueueDatabase:
    """The task queue's database: reads (read-only, time-bounded) and audited writes.

    Parameters
    ----------
    url
        PostgreSQL URL (libpq or SQLAlchemy form), ``ABSURD_DATABASE_URL``.
    connect_timeout_s, statement_timeout_s
        Bounds on reaching the server and on each statement.
    allow_writes
        Whether :meth:`transaction` may write (operator retry and cancel).
    """

    def __init__(
        self,
        url: str,
        *,
        connect_timeout_s: float = 5.0,
        statement_timeout_s: float = 10.0,
        allow_writes: bool = False,
    ):
        self.url = str(url)
        self.host = _host(self.url)
        self.allow_writes = bool(allow_writes)
        self.statement_timeout_ms = int(statement_timeout_s * 1000)
        self.connect_timeout_s = max(1, int(round(connect_timeout_s)))
        try:
            self.engine = sa.create_engine(
                _sqlalchemy_url(self.url),
                pool_pre_ping=True,
                pool_size=2,
                max_overflow=4,
                connect_args={
                    "connect_timeout": self.connect_timeout_s,
                    "application_name": "dsa110-ws",
                },
            )
        except (sa.exc.ArgumentError, ValueError) as exc:
            raise ConfigurationError(
                f"The task-queue URL {mask_url(self.url)} is unusable ({exc}); set "
                "ABSURD_DATABASE_URL to postgresql://user:password@host:port/dbname."
            ) from None
        self._lock = threading.Lock()
        self._tables: dict[str, tuple[str, ...]] | None = None
        self.queries = QueryCounter("queue")  # every read, for tests and benchmarks

    def __repr__(self) -> str:
        return f"<QueueDatabase {self.describe()}>"

    def describe(self) -> str:
        """The URL with its password masked (for messages, files and logs)."""
        return mask_url(self.url)

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    # -- errors ------------------------------------------------------------------------
    @contextlib.contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except sa.exc.OperationalError as exc:
            raise self._translate(exc, what) from None
        except sa.exc.ProgrammingError as exc:
            msg = " ".join(str(exc.orig).split())
            if "does not exist" in msg:
                raise SchemaMismatchError(
                    f"The task-queue database {self.describe()} lacks what {what} needs "
                    f"({msg.split(chr(10))[0][:200]})."
                ) from None
            raise DataUnavailableError(
                f"The task-queue database {self.describe()} failed while {what}: {msg[:300]}"
            ) from None
        except sa.exc.DBAPIError as exc:
            msg = " ".join(str(exc.orig).split())
            raise DataUnavailableError(
                f"The task-queue database {self.describe()} failed while {what}: {msg[:300]}"
            ) from None

    def _translate(self, exc: sa.exc.OperationalError, what: str) -> Exception:
        msg = " ".join(str(exc.orig).split())
        low = msg.lower()
        if "statement timeout" in low or "canceling statement" in low:
            return DatabaseBusyError(
                f"The task-queue database {self.host} did not answer {what} within "
                f"{self.statement_timeout_ms / 1000:g} s; retry, or raise [queue] "
                "statement_timeout_s."
            )
        if "password authentication failed" in low or "authentication" in low:
            return DataUnavailableError(
                f"The task-queue database at {self.host} refused the login ({msg[:160]}); fix "
                "the user or password in ABSURD_DATABASE_URL (or DSA110_WS_QUEUE_URL)."
            )
        if "does not exist" in low and "database" in low:
            return DataUnavailableError(
                f"The task-queue server at {self.host} has no such database ({msg[:160]}); fix "
                "the database name in ABSURD_DATABASE_URL."
            )
        return DataUnavailableError(
            f"Cannot reach the task-queue database at {self.host} while {what} ({msg[:200]}); "
            "is the server running, and is ABSURD_DATABASE_URL right?"
        )

    # -- schema --------------------------------------------------------------------------
    def tables(self, *, refresh: bool = False) -> dict[str, tuple[str, ...]]:
        """Tables of schema ``absurd`` and their columns (read once, cached)."""
        if self._tables is not None and not refresh:
            return self._tables
        with self._lock:
            if self._tables is None or refresh:
                df = self.read(
                    "SELECT table_name, column_name FROM information_schema.columns "
                    "WHERE table_schema = :schema ORDER BY table_name, ordinal_position",
                    {"schema": SCHEMA},
                    what="reading the queue's schema",
                    check=False,
                )
                tables: dict[str, list[str]] = {}
                for t, c in zip(df["table_name"], df["column_name"], strict=True):
                    tables.setdefault(str(t), []).append(str(c))
                if not tables:
                    raise SchemaMismatchError(
                        f"The database {self.describe()} has no schema 'absurd': it is not the "
                        "pipeline's task-queue database; point ABSURD_DATABASE_URL at the "
                        "database the Absurd workers use.",
                        table="tasks",
                    )
                self._tables = {t: tuple(c) for t, c in tables.items()}
            return self._tables

    def require(self, table: str, *, view: str) -> tuple[str, ...]:
        """The columns of ``absurd.<table>``; :class:`SchemaMismatchError` naming it if absent."""
        cols = self.tables().get(table)
        if cols is None:
            raise SchemaMismatchError(
                f"The task-queue database {self.describe()} has no table absurd.{table}, so "
                f"{view} is not available (this deployment never created it).",
                table=table,
            )
        return cols

    def has_table(self, table: str) -> bool:
        return table in self.tables()

    # -- reading -------------------------------------------------------------------------
    def read(
        self,
        sql: str,
        params: Mapping[str, Any] | None = None,
        *,
        what: str = "reading the task queue",
        check: bool = True,
    ) -> pd.DataFrame:
        """One SELECT in a read-only transaction with the statement timeout."""
        if check:
            self.tables()
        self.queries.count(sql, kind="schema" if "information_schema" in sql else "query")
        with self._errors(what), self.engine.connect() as con:
            con.exec_driver_sql("SET TRANSACTION READ ONLY")
            con.exec_driver_sql(f"SET LOCAL statement_timeout = {self.statement_timeout_ms}")
            result = con.execute(sa.text(sql), dict(params or {}))
            df = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
            con.rollback()
        return df

    def ping(self) -> float:
        """Seconds a trivial read takes (the typed errors when the server cannot answer)."""
        import time

        t0 = time.perf_counter()
        self.read("SELECT 1 AS one", what="probing the server", check=False)
        return time.perf_counter() - t0

    # -- writing -------------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self, what: str) -> Iterator[sa.Connection]:
        """One write transaction (an operator's action); refused unless writes are allowed."""
        if not self.allow_writes:
            raise NotPermittedError(
                f"Refusing to {what}: writes are off. Set DSA110_WS_ALLOW_WRITES=1 (or "
                "allow_writes=True) to enable operator actions."
            )
        with self._errors(what), self.engine.begin() as con:
            con.exec_driver_sql(f"SET LOCAL statement_timeout = {self.statement_timeout_ms}")
            yield con
