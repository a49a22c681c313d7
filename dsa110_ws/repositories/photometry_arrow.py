"""Photometry as Arrow: the reads the photometry dataset is built and refreshed from.

One :class:`PhotometryReader` is one read transaction on the pipeline database (a
consistent view while the pipeline keeps writing): its row count, its largest ``id``,
the rows after an ``id``, the rows of some images, and the ``(image_path, id)`` pairs
that say which rows exist.  Rows come as ``pyarrow`` tables with the pipeline's column
names (plus ``obs_mjd``, the observation time: ``photometry.mjd``, else the mid time of
the image's Measurement Set).

Driver: the ADBC SQLite driver (``adbc-driver-sqlite``, an Apache Arrow project) reads
straight into Arrow, several times faster than Python's ``sqlite3``; where it is not
installed, the standard library's ``sqlite3`` is used (same rows, same types, slower).
ADBC infers a column's type from the first rows it sees, so every query starts with one
typed constant row (dropped after the read) and casts each column.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import numpy as np

from dsa110_ws.errors import SchemaMismatchError
from dsa110_ws.repositories.photometry import _db_error, _obs_mjd_expr

if TYPE_CHECKING:
    import pyarrow as pa

    from dsa110_ws.repositories._db import Database

__all__ = ["DATASET_COLUMNS", "PhotometryReader", "adbc_available"]

#: Columns of the photometry dataset, in order (those the database has; ``obs_mjd`` derived).
DATASET_COLUMNS = (
    "id",
    "source_id",
    "image_path",
    "mjd",
    "obs_mjd",
    "ra_deg",
    "dec_deg",
    "nvss_flux_mjy",
    "flux_jy",
    "flux_err_jy",
    "normalized_flux_jy",
    "normalized_flux_err_jy",
)
TEXT = ("source_id", "image_path")
#: Image paths per ``IN (...)`` query (SQLite's variable limit is far above this).
IN_BATCH = 5000


def adbc_available() -> bool:
    """Whether the ADBC SQLite driver can be imported."""
    try:
        import adbc_driver_sqlite.dbapi  # noqa: F401
    except ImportError:
        return False
    return True


class PhotometryReader:
    """One read transaction over ``photometry``, yielding Arrow (use as a context manager).

    Parameters
    ----------
    db
        The pipeline database (its path and busy timeout are used; opened read-only).
    driver
        ``"auto"`` (ADBC when installed, else ``sqlite3``), ``"adbc"`` or ``"sqlite3"``.
    """

    def __init__(self, db: Database, *, driver: str = "auto"):
        self.db = db
        if driver not in ("auto", "adbc", "sqlite3"):
            raise ValueError(f"driver must be 'auto', 'adbc' or 'sqlite3', not {driver!r}")
        self.driver = ("adbc" if adbc_available() else "sqlite3") if driver == "auto" else driver
        have = set(db.columns("photometry"))
        if "id" not in have:
            raise SchemaMismatchError(
                f"photometry in {db.describe()} has no id column, which the photometry "
                "dataset keys its rows on; survey-wide reads go to SQLite instead.",
                table="photometry",
                column="id",
            )
        self.columns = tuple(c for c in DATASET_COLUMNS if c == "obs_mjd" or c in have)
        self._obs = _obs_mjd_expr(db)
        self._con: Any = None

    def __repr__(self) -> str:
        return f"<PhotometryReader of {self.db.describe()} via {self.driver}>"

    # -- the transaction --------------------------------------------------------------
    def __enter__(self) -> PhotometryReader:
        uri = f"file:{quote(str(self.db.path))}?mode=ro"
        ms = int(self.db.busy_timeout_s * 1000)
        try:
            if self.driver == "adbc":
                import adbc_driver_sqlite.dbapi as adbc

                self._con = adbc.connect(uri)  # autocommit off: one transaction
                cur = self._con.cursor()
                cur.execute(f"PRAGMA busy_timeout = {ms}")
                cur.fetchall()
                cur.close()
            else:
                self._con = sqlite3.connect(uri, uri=True, timeout=self.db.busy_timeout_s)
                self._con.isolation_level = None
                self._con.execute(f"PRAGMA busy_timeout = {ms}")
                self._con.execute("PRAGMA query_only = 1")
                self._con.execute("BEGIN")
        except (sqlite3.Error, OSError) as exc:
            raise _db_error(self.db, exc) from None
        return self

    def __exit__(self, *exc: object) -> None:
        con, self._con = self._con, None
        if con is not None:
            try:
                con.rollback()
            except Exception:  # noqa: BLE001 - closing anyway
                pass
            con.close()

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        try:
            cur = self._con.cursor()
            cur.execute(sql, tuple(params))
            out = cur.fetchall()
            cur.close()
        except (sqlite3.Error, OSError) as exc:
            raise _db_error(self.db, exc) from None
        return [tuple(r) for r in out]

    # -- cheap facts -------------------------------------------------------------------
    def extent(self) -> dict[str, Any]:
        """``n_rows`` (``COUNT(*)``, served by the smallest index), ``max_id`` and whether
        ids are never reused (``AUTOINCREMENT``: a ``sqlite_sequence`` row for photometry)."""
        [(n, mx)] = self._rows("SELECT COUNT(*), MAX(id) FROM photometry")
        seq = self._rows(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'"
        )
        monotonic = bool(seq[0][0]) and bool(
            self._rows("SELECT COUNT(*) FROM sqlite_sequence WHERE name = 'photometry'")[0][0]
        )
        return {"n_rows": int(n), "max_id": int(mx or 0), "ids_never_reused": monotonic}

    # -- rows ----------------------------------------------------------------------------
    def _select(self, columns: Sequence[str]) -> tuple[str, str]:
        """The typed header row and the row expressions, for ``columns``."""
        head, body = [], []
        for c in columns:
            expr = self._obs if c == "obs_mjd" else f"p.{c}"
            if c == "id":
                head.append("0 AS id")
                body.append("CAST(p.id AS INTEGER)")
            elif c in TEXT:
                head.append(f"'' AS {c}")
                body.append(f"CAST({expr} AS TEXT)")
            else:
                head.append(f"0.0 AS {c}")
                body.append(f"CAST({expr} AS REAL)")
        return ", ".join(head), ", ".join(body)

    def read(
        self,
        *,
        after_id: int | None = None,
        upto_id: int | None = None,
        image_paths: Sequence[str | None] | None = None,
        columns: Sequence[str] | None = None,
        batch_rows: int = 500_000,
    ) -> Iterator[pa.Table]:
        """Rows with ``after_id < id <= upto_id`` (either bound optional), or of the images
        ``image_paths`` (``None`` in it: rows without an image), as Arrow tables of up to
        about ``batch_rows`` rows each, in ``id`` order within each query."""
        cols = list(columns or self.columns)
        head, body = self._select(cols)
        where, params = [], []
        if after_id is not None:
            where.append("p.id > ?")
            params.append(int(after_id))
        if upto_id is not None:
            where.append("p.id <= ?")
            params.append(int(upto_id))
        base = f"SELECT {head} UNION ALL SELECT {body} FROM photometry AS p"
        if image_paths is None:
            sql = base + (" WHERE " + " AND ".join(where) if where else "")
            yield from self._stream(sql, params, cols, batch_rows)
            return
        paths = [p for p in dict.fromkeys(image_paths) if p is not None]
        if None in image_paths:
            clause = " AND ".join([*where, "p.image_path IS NULL"])
            yield from self._stream(f"{base} WHERE {clause}", params, cols, batch_rows)
        for i in range(0, len(paths), IN_BATCH):
            chunk = paths[i : i + IN_BATCH]
            marks = ", ".join("?" * len(chunk))
            clause = " AND ".join([*where, f"p.image_path IN ({marks})"])
            yield from self._stream(f"{base} WHERE {clause}", [*params, *chunk], cols, batch_rows)

    def image_ids(self) -> pa.Table:
        """``(image_path, id)`` of every row: which rows exist (a scan of the
        ``image_path`` index where there is one; no flux is read)."""
        import pyarrow as pa

        sql = (
            "SELECT '' AS image_path, 0 AS id UNION ALL "
            "SELECT CAST(p.image_path AS TEXT), CAST(p.id AS INTEGER) FROM photometry AS p"
        )
        parts = list(self._stream(sql, [], ["image_path", "id"], 2_000_000))
        return pa.concat_tables(parts) if parts else _empty(["image_path", "id"])

    def _stream(
        self, sql: str, params: Sequence[Any], cols: list[str], batch_rows: int
    ) -> Iterator[pa.Table]:
        try:
            if self.driver == "adbc":
                yield from _adbc_batches(self._con, sql, params, batch_rows)
            else:
                yield from _sqlite_batches(self._con, sql, params, cols, batch_rows)
        except (sqlite3.Error, OSError) as exc:
            raise _db_error(self.db, exc) from None


def _adbc_batches(con: Any, sql: str, params: Sequence[Any], batch_rows: int) -> Iterator[Any]:
    import pyarrow as pa

    cur = con.cursor()
    try:
        cur.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(batch_rows)})
        cur.execute(sql, tuple(params))
        reader = cur.fetch_record_batch()
        first = True
        for batch in reader:
            if first:  # the typed header row
                batch, first = batch.slice(1), False
            if batch.num_rows:
                yield pa.Table.from_batches([batch])
    finally:
        cur.close()


def _sqlite_batches(
    con: sqlite3.Connection, sql: str, params: Sequence[Any], cols: list[str], batch_rows: int
) -> Iterator[Any]:
    cur = con.execute(sql, tuple(params))
    cur.fetchone()  # the typed header row
    while rows := cur.fetchmany(batch_rows):
        yield _to_arrow(rows, cols)


def _to_arrow(rows: list[tuple], cols: list[str]) -> Any:
    """Python rows to an Arrow table with the dataset's types (the stdlib fallback)."""
    import pyarrow as pa

    block = np.array(rows, dtype=object).reshape(len(rows), len(cols))
    arrays = []
    for j, c in enumerate(cols):
        col = block[:, j]
        if c in TEXT:
            arrays.append(pa.array(col, type=pa.string()))
        elif c == "id":
            arrays.append(pa.array(col.astype(np.int64), type=pa.int64()))
        else:
            mask = np.equal(col, None)
            vals = np.where(mask, 0.0, col).astype(float)
            arrays.append(pa.array(vals, mask=mask, type=pa.float64()))
    return pa.table(arrays, names=cols)


def _empty(cols: Sequence[str]) -> Any:
    import pyarrow as pa

    types = {"id": pa.int64(), **{c: pa.string() for c in TEXT}}
    return pa.table({c: pa.array([], type=types.get(c, pa.float64())) for c in cols})
