"""Counting the queries the workspace sends to its databases.

Every read of the pipeline's SQLite (:class:`~dsa110_ws.repositories.Database`) and of the
task queue's PostgreSQL (:class:`~dsa110_ws.repositories.queue.QueueDatabase`) goes through
one counter: ``db.queries.n`` counts them in this process.  When the environment variable
``DSA110_WS_QUERY_LOG`` names a file, each query also appends one short line to it
(``pid<TAB>database<TAB>kind<TAB>statement digest``; the kind is ``schema`` for
the once-per-process schema read, else ``query``), so a test or a benchmark can count the queries
of every process of a Voila server (its kernels inherit the variable) and tell a refresh
served from the shared cache from one that asked the database again.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import Counter
from pathlib import Path

__all__ = ["QUERY_LOG_ENV", "QueryCounter", "read_query_log"]

#: Environment variable naming the file every process appends its queries to.
QUERY_LOG_ENV = "DSA110_WS_QUERY_LOG"


class QueryCounter:
    """Queries sent to one database (``n``), optionally logged to ``$DSA110_WS_QUERY_LOG``.

    Parameters
    ----------
    database
        Short name of the database in the log (``"pipeline"`` or ``"queue"``).
    """

    def __init__(self, database: str):
        self.database = database
        self.n = 0
        self._lock = threading.Lock()

    def count(self, sql: str, *, kind: str = "query") -> None:
        """Count one query (and log it when the log is on; a failed log write is ignored)."""
        with self._lock:
            self.n += 1
        path = os.environ.get(QUERY_LOG_ENV)
        if not path:
            return
        digest = hashlib.sha1(" ".join(sql.split()).encode()).hexdigest()[:12]
        line = f"{os.getpid()}\t{self.database}\t{kind}\t{digest}\n".encode()
        try:  # one write(2) of a short line with O_APPEND: lines of processes never interleave
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError:
            return
        try:
            os.write(fd, line)
        except OSError:
            pass
        finally:
            os.close(fd)


def read_query_log(path: str | os.PathLike[str]) -> Counter[tuple[str, str, str]]:
    """Counts by (database, kind, statement digest) of a query log (empty when missing)."""
    p = Path(path)
    counts: Counter[tuple[str, str, str]] = Counter()
    if not p.exists():
        return counts
    for line in p.read_text().splitlines():
        parts = line.split("\t")
        if len(parts) == 4:
            counts[(parts[1], parts[2], parts[3])] += 1
    return counts
