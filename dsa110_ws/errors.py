"""The workspace's exception hierarchy.

Every error the package raises on purpose derives from :class:`WorkspaceError` and
also from the nearest built-in exception, so ``except LookupError`` and friends keep
working.  A message says what was asked, what is wrong and what to try.
"""

from __future__ import annotations

import re

__all__ = [
    "WorkspaceError",
    "NotFoundError",
    "InvalidQueryError",
    "DataUnavailableError",
    "CorruptFileError",
    "FileMissingError",
    "SchemaMismatchError",
    "DatabaseBusyError",
    "NotPermittedError",
    "OptionalDependencyError",
    "ConfigurationError",
    "one_line",
    "mask_secrets",
    "as_schema_error",
]


class WorkspaceError(Exception):
    """Base class of every error raised on purpose by ``dsa110_ws``."""


class NotFoundError(WorkspaceError, LookupError):
    """A row, product or source that was asked for does not exist."""


class InvalidQueryError(WorkspaceError, ValueError):
    """A query or parameter is malformed (bad date, unknown column, negative radius, ...)."""


class ConfigurationError(InvalidQueryError):
    """A setting is malformed or points somewhere unusable."""


class DataUnavailableError(WorkspaceError, OSError):
    """A product file is missing, unreadable or corrupt."""


class CorruptFileError(DataUnavailableError):
    """A product file exists but its content is damaged: cut short, larger than it may
    decompress to, or not the format its name says (re-copy or re-create it)."""


class FileMissingError(DataUnavailableError):
    """A file the request names (often one the pipeline database lists) is not on disk."""


class SchemaMismatchError(WorkspaceError, LookupError):
    """The pipeline database lacks a table or column the request needs (an older schema)."""

    def __init__(self, message: str, *, table: str | None = None, column: str | None = None):
        super().__init__(message)
        self.table = table
        self.column = column


class DatabaseBusyError(WorkspaceError, TimeoutError):
    """The pipeline database stayed locked for longer than the busy timeout."""


class NotPermittedError(WorkspaceError, PermissionError):
    """A write while writes are off, or a path outside the configured roots."""


class OptionalDependencyError(WorkspaceError, ImportError):
    """A feature needs a package that is not installed."""


def as_schema_error(exc: BaseException, where: str) -> BaseException:
    """``exc`` as the :class:`SchemaMismatchError` it means when it is a ``KeyError`` naming
    a column of the pipeline's schema (a view read a table that lacks that column);
    otherwise ``exc`` itself.  ``where`` names the view, e.g. ``"the QA panel"``."""
    if not (isinstance(exc, KeyError) and len(exc.args) == 1 and isinstance(exc.args[0], str)):
        return exc
    from dsa110_ws.models import PIPELINE_TABLES

    col = exc.args[0]
    tables = [t for t, spec in PIPELINE_TABLES.items() if col in spec.column_names]
    if not tables:
        return exc
    return SchemaMismatchError(
        f"The pipeline database lacks column {col!r} (of {', '.join(tables[:3])} in the "
        f"pipeline's schema) that {where} needs; the database is of an older or different "
        "schema: point PIPELINE_DB at a current pipeline.sqlite3.",
        table=tables[0],
        column=col,
    )


_URL_PASSWORD = re.compile(r"(\b[a-zA-Z][\w+.-]*://[^/\s:@]*:)([^@\s/]+)@")
_KEY_PASSWORD = re.compile(r"(\bpass(?:word)?\s*=\s*)('[^']*'|\"[^\"]*\"|[^&\s;]+)", re.I)


def mask_secrets(text: str) -> str:
    """``text`` with passwords in URLs (``scheme://user:secret@``) and in key=value forms
    (``password=secret``, a libpq conninfo or URL query) replaced by ``***``."""
    return _KEY_PASSWORD.sub(r"\1***", _URL_PASSWORD.sub(r"\1***@", str(text)))


def one_line(exc: BaseException) -> str:
    """Render an exception as one readable line, for status bars and CLI output (secrets
    masked)."""
    text = mask_secrets(" ".join(str(exc).split()))
    name = type(exc).__name__
    if not text:
        return name
    return text if isinstance(exc, WorkspaceError) else f"{name}: {text}"
