"""Connections to the task-queue database and its schema: URL forms, create-if-missing, apply.

Every function here takes the database URL in either form: libpq's
(``postgresql://user@host/db`` or ``postgresql://postgres@/db?host=/socket/dir``, what
``ABSURD_DATABASE_URL`` holds) or SQLAlchemy's (``postgresql+psycopg://...``).
"""

from __future__ import annotations

import contextlib
import re
from importlib import resources
from urllib.parse import urlsplit, urlunsplit

from dsa110_ws.errors import ConfigurationError, DataUnavailableError

__all__ = [
    "to_conninfo",
    "to_sqlalchemy_url",
    "connect",
    "ensure_database",
    "apply_schema",
    "schema_sql",
    "QUEUE",
    "DLQ_QUEUE",
]

#: The pipeline queue and its dead-letter queue (``ABSURD_QUEUE_NAME``, ``ABSURD_DLQ_QUEUE_NAME``).
QUEUE = "dsa110-pipeline"
DLQ_QUEUE = f"{QUEUE}-dlq"

_SCHEMA_LOCK = 0x0A5B_0D11  # pg_advisory_xact_lock key: one schema application at a time


def to_conninfo(url: str) -> str:
    """The libpq form of ``url`` (drops a SQLAlchemy ``+driver`` suffix)."""
    parts = urlsplit(str(url))
    scheme = parts.scheme.split("+", 1)[0]
    if scheme not in ("postgresql", "postgres"):
        raise ConfigurationError(
            f"Not a PostgreSQL URL: {url!r}; expected "
            "postgresql://user@host/dbname (or postgresql+psycopg://...)."
        )
    return urlunsplit(("postgresql", *parts[1:]))


def to_sqlalchemy_url(url: str) -> str:
    """The SQLAlchemy form of ``url`` (psycopg 3 driver)."""
    return to_conninfo(url).replace("postgresql://", "postgresql+psycopg://", 1)


def _dbname(url: str) -> str:
    name = urlsplit(to_conninfo(url)).path.lstrip("/")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\-]{0,62}", name):
        raise ConfigurationError(f"The URL {url!r} names no usable database; end it with /dbname.")
    return name


def connect(url: str, *, autocommit: bool = False, timeout_s: float = 10.0):
    """An open psycopg connection (the caller closes it, e.g. ``with connect(url) as con``)."""
    import psycopg

    try:
        return psycopg.connect(
            to_conninfo(url), autocommit=autocommit, connect_timeout=max(int(timeout_s), 1)
        )
    except psycopg.OperationalError as exc:
        raise DataUnavailableError(
            f"Cannot connect to the task-queue database {url}: {' '.join(str(exc).split())}; "
            "is the server running (see dsa110_ws.demo.queue.cluster.start_cluster)?"
        ) from exc


def schema_sql() -> str:
    """The text of ``absurd.sql`` (the deployment's schema, shipped with the package)."""
    return (
        resources.files("dsa110_ws.demo.queue").joinpath("absurd.sql").read_text(encoding="utf-8")
    )


def apply_schema(con) -> None:
    """Create schema ``absurd`` on an open connection (idempotent; commits).

    Serialised with an advisory lock, so concurrent callers cannot race on ``IF NOT EXISTS``.
    """
    with con.transaction():
        con.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        con.execute(schema_sql())
    if not con.autocommit:
        con.commit()


def ensure_database(url: str, *, schema: bool = True) -> str:
    """Create the database ``url`` names if it is missing and (by default) its schema.

    Parameters
    ----------
    url
        Database URL (libpq or SQLAlchemy form); its user must be allowed to create databases.
    schema
        Also apply ``absurd.sql`` (harmless when already applied).

    Returns
    -------
    str
        ``url`` in libpq form.
    """
    from psycopg import errors, sql

    name = _dbname(url)
    admin = urlunsplit(urlsplit(to_conninfo(url))._replace(path="/postgres"))
    with connect(admin, autocommit=True) as con:
        if not con.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            with contextlib.suppress(errors.DuplicateDatabase):  # a concurrent caller's
                con.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    if schema:
        with connect(url) as con:
            apply_schema(con)
    return to_conninfo(url)
