"""The pipeline's SQLite file before and around SQLite: what it is, how it is opened, and
what a failure to open or read it means, in one line.

Every route to the pipeline database (a path, a ``sqlite:///`` URL, an environment
variable) ends here: the file must already exist and be a regular SQLite file (nothing is
ever created: SQLite is only asked to open it with ``mode=ro``, or ``mode=rw`` for an
operator's write, never ``rwc``), and no FIFO or device is ever opened (a FIFO would block).

Read-only readers of a WAL database (what SQLite does, measured with SQLite 3.40):

* The reader needs the ``-shm`` index and the ``-wal`` file.  When they are missing and the
  directory is writable, a ``mode=ro`` reader creates them (an empty ``-wal``, a 32 KiB
  ``-shm``) and leaves them behind: a read-only connection never checkpoints, so it never
  deletes them.  The main file and any ``-wal`` content are never changed by a reader.
* When they are missing and the directory is read-only, ``mode=ro`` cannot open the
  database ("unable to open database file"); both must exist for a reader there.
* ``immutable=1`` would read without them, but it ignores the ``-wal`` (committed rows
  missing, a wrong answer) and takes no locks (a checkpoint could change pages under a
  read): unsafe for a live pipeline, so the workspace never uses it.
* A reader of a live WAL database writes its read mark into ``-shm`` (that is how the
  writer knows not to overwrite frames being read); ``-shm`` holds no data of its own.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

from dsa110_ws.errors import DataUnavailableError

__all__ = [
    "check_sqlite_file",
    "sqlite_uri",
    "is_wal",
    "cannot_open_reason",
    "TRANSIENT_CODES",
    "retry_transient",
]

SQLITE_MAGIC = b"SQLite format 3\x00"
#: Extended result codes a reader of a live WAL database may get for a moment while a
#: writer is recovering or restarting the WAL; the read is retried within the busy timeout.
TRANSIENT_CODES = frozenset({"SQLITE_READONLY_RECOVERY", "SQLITE_READONLY_CANTINIT"})
T = TypeVar("T")


def sqlite_uri(path: Path, *, readonly: bool = True) -> str:
    """The ``file:`` URI that opens ``path`` read-only (or read-write), never creating it."""
    return f"file:{quote(str(path))}?mode={'ro' if readonly else 'rw'}"


def _read_header(path: Path, hint: str, variable: str) -> bytes:
    """The first 100 bytes, opened without blocking and only if it is a regular file."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise DataUnavailableError(
            f"Pipeline database {path} {hint} does not exist; set {variable} to the pipeline's "
            "pipeline.sqlite3, or unset it to use the demo state."
        ) from None
    except OSError as exc:
        raise DataUnavailableError(
            f"Pipeline database {path} {hint} cannot be reached: {exc.strerror or exc}"
        ) from None
    if stat.S_ISDIR(st.st_mode):
        raise DataUnavailableError(
            f"Pipeline database {path} {hint} is a directory; set {variable} to the "
            "pipeline.sqlite3 file inside it."
        )
    if not stat.S_ISREG(st.st_mode):
        raise DataUnavailableError(
            f"Pipeline database {path} {hint} is not a regular file (a FIFO, socket or "
            f"device); set {variable} to the pipeline's pipeline.sqlite3."
        )
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        try:
            return os.read(fd, 100)
        finally:
            os.close(fd)
    except OSError as exc:
        raise DataUnavailableError(
            f"Pipeline database {path} {hint} cannot be read: {exc.strerror or exc}"
        ) from None


def check_sqlite_file(path: Path, *, variable: str = "PIPELINE_DB") -> Path:
    """Check that ``path`` is an existing regular SQLite file; raise a clear error naming it."""
    path = Path(path).expanduser()
    hint = f"(from {variable})" if variable else ""
    head = _read_header(path, hint, variable)
    if head[:16] != SQLITE_MAGIC:
        what = "is empty" if not head else "is not an SQLite database"
        raise DataUnavailableError(
            f"Pipeline database {path} {hint} {what}; point {variable} at the pipeline's "
            "pipeline.sqlite3."
        )
    return path


def is_wal(path: Path) -> bool:
    """Whether the database file's header says WAL mode (read/write versions 2)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(20)
    except OSError:
        return False
    return len(head) == 20 and head[18] == 2 and head[19] == 2


def cannot_open_reason(path: Path) -> str:
    """Why SQLite may refuse to open ``path`` read-only (the likely cause, one clause)."""
    parent = path.parent
    if is_wal(path):
        missing = [s for s in ("-wal", "-shm") if not Path(f"{path}{s}").exists()]
        if missing and not os.access(parent, os.W_OK):
            return (
                f"it is in WAL mode, its directory {parent} is read-only, and SQLite cannot "
                f"read it without {' and '.join(path.name + s for s in missing)} (SQLite removes "
                "them when the pipeline's last connection closes); read it while the pipeline "
                "has it open, from a writable directory, or from a copy"
            )
    if not os.access(path, os.R_OK):
        return "this user may not read it (check its permissions)"
    return "SQLite could not open it"


def retry_transient(run: Callable[[], T], *, deadline_s: float) -> T:
    """Call ``run()``; retry it while it fails with a transient WAL-reader code, for at most
    ``deadline_s`` seconds (then the last error is raised)."""
    end = time.monotonic() + max(0.0, deadline_s)
    pause = 0.001
    while True:
        try:
            return run()
        except sqlite3.OperationalError as exc:
            code = getattr(exc, "sqlite_errorname", "")
            if code not in TRANSIENT_CODES or time.monotonic() >= end:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.05)
