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
typed constant row (dropped after the read); a column is cast in SQL only where its
declared type does not already make SQLite return one storage class (casting every
value costs about a third of the read), and ``obs_mjd`` is filled in Arrow from a small
image -> MS mid-time table instead of a subquery per row.  A value of another type in a
column (text in a REAL column) stops an ADBC read with :class:`MixedTypesError`; the
standard library's reader casts everything and reads such a table.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import numpy as np
import pandas as pd

from dsa110_ws.errors import DataUnavailableError, SchemaMismatchError
from dsa110_ws.repositories.photometry import _db_error, _obs_mjd_expr

if TYPE_CHECKING:
    import pyarrow as pa

    from dsa110_ws.repositories._db import Database

__all__ = ["DATASET_COLUMNS", "MixedTypesError", "PhotometryReader", "adbc_available"]

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


class MixedTypesError(DataUnavailableError):
    """A photometry column holds values of more than one SQLite type (ADBC cannot read it)."""


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
        self._declared = {
            str(name): str(typ or "").upper()
            for _, name, typ, *_ in db.fetch("PRAGMA table_info(photometry)")[1]
        }
        self._mid: Any = None
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
            with contextlib.suppress(Exception):  # closing anyway
                con.rollback()
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
        # two statements: a bare COUNT(*) is SQLite's b-tree count (0.09 s at 10^7 rows),
        # where COUNT(*) beside MAX(id) in one statement scans every row (0.5 s)
        [(n,)] = self._rows("SELECT COUNT(*) FROM photometry")
        [(mx,)] = self._rows("SELECT MAX(id) FROM photometry")
        seq = self._rows(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'"
        )
        monotonic = bool(seq[0][0]) and bool(
            self._rows("SELECT COUNT(*) FROM sqlite_sequence WHERE name = 'photometry'")[0][0]
        )
        return {"n_rows": int(n), "max_id": int(mx or 0), "ids_never_reused": monotonic}

    # -- rows ----------------------------------------------------------------------------
    def _needs_cast(self, column: str) -> bool:
        """Whether SQLite may return more than one storage class for ``column`` (by its
        declared type's affinity).  The stdlib reader casts ids and text, and turns
        values that are not numbers into NaN in Python (as the SQLite scan does)."""
        if self.driver != "adbc":
            return column == "id" or column in TEXT
        typ = self._declared.get(column, "")
        if column == "id":
            return "INT" not in typ
        if column in TEXT:
            return not any(k in typ for k in ("CHAR", "CLOB", "TEXT"))
        return not any(k in typ for k in ("REAL", "FLOA", "DOUB"))

    def _select(self, columns: Sequence[str]) -> tuple[str, str]:
        """The typed header row and the row expressions, for ``columns`` (``obs_mjd``
        becomes ``mjd``, filled in Arrow by :meth:`_with_obs`)."""
        head, body = [], []
        for c in columns:
            name = "mjd" if c == "obs_mjd" else c
            cast = self._needs_cast(name)
            if name == "id":
                head.append("0 AS id")
                body.append("CAST(p.id AS INTEGER)" if cast else "p.id")
            elif name in TEXT:
                head.append(f"'' AS {name}")
                body.append(f"CAST(p.{name} AS TEXT)" if cast else f"p.{name}")
            else:
                head.append(f"0.0 AS {name}")
                body.append(f"CAST(p.{name} AS REAL)" if cast else f"p.{name}")
        return ", ".join(head), ", ".join(body)

    def _query_columns(self, columns: Sequence[str]) -> list[str]:
        """What is selected for ``columns``: ``obs_mjd`` needs ``mjd`` and ``image_path``."""
        out = [c for c in columns if c != "obs_mjd"]
        if "obs_mjd" in columns:
            out += [c for c in ("mjd", "image_path") if c not in out]
        return out

    def _mid_times(self) -> Any:
        """image path -> mid time of its MS (for rows without ``mjd``), read once."""
        import pyarrow as pa

        if self._mid is None:
            if self._obs == "p.mjd":  # no images / ms_index tables: obs_mjd is mjd
                self._mid = {}
            else:
                rows = self._rows(
                    "SELECT i.path, m.mid_mjd FROM images AS i JOIN ms_index AS m "
                    "ON m.path = i.ms_path WHERE i.path IS NOT NULL"
                )
                mid: dict[str, float] = {}
                for path, t in rows:  # the first match, as the per-row subquery's LIMIT 1
                    if path not in mid and t is not None:
                        mid[str(path)] = float(t)
                self._mid = mid
            self._mid_keys = pa.array(list(self._mid), type=pa.string())
            self._mid_vals = pa.array(list(self._mid.values()), type=pa.float64())
        return self._mid

    def _with_obs(self, table: Any, columns: Sequence[str]) -> Any:
        """``table`` with ``obs_mjd`` (``mjd``, else the MS mid time), in ``columns``' order."""
        import pyarrow.compute as pc

        if "obs_mjd" in columns:
            mjd = table.column("mjd")
            if mjd.null_count and self._mid_times():
                idx = pc.index_in(table.column("image_path"), value_set=self._mid_keys)
                mjd = pc.coalesce(mjd, pc.take(self._mid_vals, idx))
            table = table.append_column("obs_mjd", mjd)
        return table.select(list(columns))

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
        want = list(columns or self.columns)
        cols = self._query_columns(want)
        head, body = self._select(cols)
        where, params = [], []
        if after_id is not None:
            where.append("p.id > ?")
            params.append(int(after_id))
        if upto_id is not None:
            where.append("p.id <= ?")
            params.append(int(upto_id))
        base = f"SELECT {head} UNION ALL SELECT {body} FROM photometry AS p"
        queries: list[tuple[str, list[Any]]] = []
        if image_paths is None:
            queries.append((base + (" WHERE " + " AND ".join(where) if where else ""), params))
        else:
            paths = [p for p in dict.fromkeys(image_paths) if p is not None]
            if None in image_paths:
                clause = " AND ".join([*where, "p.image_path IS NULL"])
                queries.append((f"{base} WHERE {clause}", params))
            for i in range(0, len(paths), IN_BATCH):
                chunk = paths[i : i + IN_BATCH]
                clause = " AND ".join([*where, f"p.image_path IN ({', '.join('?' * len(chunk))})"])
                queries.append((f"{base} WHERE {clause}", [*params, *chunk]))
        for sql, args in queries:
            for table in self._stream(sql, args, cols, batch_rows):
                yield self._with_obs(table, want)

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
                for table in _adbc_batches(self._con, sql, params, batch_rows):
                    yield self._typed(table)
            else:
                yield from _sqlite_batches(self._con, sql, params, cols, batch_rows)
        except MixedTypesError:
            raise
        except (sqlite3.Error, OSError) as exc:
            if "Type mismatch" in str(exc):
                raise MixedTypesError(
                    f"A photometry column in {self.db.describe()} holds values of more than "
                    f"one type ({exc}); read with [sources] dataset_reader = 'sqlite3'."
                ) from None
            raise _db_error(self.db, exc) from None

    def _typed(self, table: Any) -> Any:
        """``table`` with the dataset's types, or :class:`MixedTypesError` when ADBC
        met values of several types in a column (it then returns them as text)."""
        import pyarrow as pa

        for i, name in enumerate(table.column_names):
            want = pa.int64() if name == "id" else pa.string() if name in TEXT else pa.float64()
            got = table.schema.field(i).type
            if got == want:
                continue
            if pa.types.is_integer(got) or pa.types.is_null(got):
                table = table.set_column(i, name, table.column(i).cast(want))
                continue
            raise MixedTypesError(
                f"photometry.{name} in {self.db.describe()} holds values of more than one "
                f"type (read as {got}); read with [sources] dataset_reader = 'sqlite3'."
            )
        return table


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
            try:
                vals = col.astype(float)  # None -> nan
            except (TypeError, ValueError):  # text in a REAL column: not a number
                vals = pd.to_numeric(pd.Series(col), errors="coerce").to_numpy(float)
            arrays.append(pa.array(vals, mask=np.isnan(vals), type=pa.float64()))
    return pa.table(arrays, names=cols)


def _empty(cols: Sequence[str]) -> Any:
    import pyarrow as pa

    types = {"id": pa.int64(), **{c: pa.string() for c in TEXT}}
    return pa.table({c: pa.array([], type=types.get(c, pa.float64())) for c in cols})
