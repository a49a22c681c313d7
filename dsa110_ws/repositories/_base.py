"""Shared machinery of the repositories: filters, row limits, records."""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

import pandas as pd

from dsa110_ws.core.time import TimeLike, to_mjd, to_unix
from dsa110_ws.errors import InvalidQueryError, NotFoundError, SchemaMismatchError
from dsa110_ws.models import PIPELINE_TABLES, RECORD_TYPES, Record
from dsa110_ws.repositories._db import Database, frame

if TYPE_CHECKING:
    from dsa110_ws.core.time import Clock

__all__ = ["Repository", "Where", "TruncatedResultWarning", "DEFAULT_LIMIT"]

#: Rows a ``find`` returns unless told otherwise.
DEFAULT_LIMIT = 1000


class TruncatedResultWarning(UserWarning):
    """A ``find`` hit its ``limit``: more rows match than were returned."""


class Where:
    """A WHERE clause built from validated column names and bound parameters only."""

    def __init__(self, table: str, columns: Iterable[str], *, alias: str | None = None):
        self.table = table
        self.columns = set(columns)
        self.prefix = f"{alias}." if alias else ""
        self.clauses: list[str] = []
        self.params: dict[str, Any] = {}

    def copy(self) -> Where:
        """An independent copy (narrowing it leaves this one as it is)."""
        out = Where(self.table, (), alias=None)
        out.columns, out.prefix = self.columns, self.prefix
        out.clauses, out.params = list(self.clauses), dict(self.params)
        return out

    def _col(self, col: str) -> str:
        if col not in self.columns:
            raise SchemaMismatchError(
                f"Table {self.table!r} has no column {col!r} (an older schema?), so it cannot be "
                "filtered on.",
                table=self.table,
                column=col,
            )
        return self.prefix + col

    def _param(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    def eq(self, col: str, value: Any) -> Where:
        """``col = value``; a list or tuple means ``IN``; ``None`` adds nothing."""
        if value is None:
            return self
        if isinstance(value, (list, tuple, set, frozenset, pd.Index, pd.Series)):
            values = list(value)
            if not values:
                self.clauses.append("1 = 0")
                return self
            marks = ", ".join(self._param(v) for v in values)
            self.clauses.append(f"{self._col(col)} IN ({marks})")
        else:
            self.clauses.append(f"{self._col(col)} = {self._param(value)}")
        return self

    def cmp(self, col: str, op: str, value: Any) -> Where:
        """``col op value`` for op in <, <=, >, >=; ``None`` adds nothing."""
        if value is None:
            return self
        if op not in {"<", "<=", ">", ">=", "!="}:
            raise InvalidQueryError(f"Unsupported comparison {op!r}.")
        self.clauses.append(f"{self._col(col)} {op} {self._param(value)}")
        return self

    def between(self, col: str, lo: Any, hi: Any) -> Where:
        """``lo <= col < hi`` (either bound optional)."""
        self.cmp(col, ">=", lo)
        return self.cmp(col, "<", hi)

    def unix_range(self, col: str, start: TimeLike, end: TimeLike, now: Any = None) -> Where:
        lo = None if start is None else to_unix(start, now=now, what="start")
        hi = None if end is None else to_unix(end, now=now, what="end")
        _check_order(lo, hi)
        return self.between(col, lo, hi)

    def mjd_range(self, col: str, start: TimeLike, end: TimeLike, now: Any = None) -> Where:
        lo = None if start is None else to_mjd(start, now=now, what="start")
        hi = None if end is None else to_mjd(end, now=now, what="end")
        _check_order(lo, hi)
        return self.between(col, lo, hi)

    def is_null(self, col: str, null: bool | None) -> Where:
        if null is not None:
            self.clauses.append(f"{self._col(col)} IS {'' if null else 'NOT '}NULL")
        return self

    def raw(self, clause: str, **params: Any) -> Where:
        """A fixed SQL fragment written in code (never from user input) with bound params."""
        self.clauses.append(clause)
        self.params.update(params)
        return self

    def sql(self) -> str:
        return (" WHERE " + " AND ".join(self.clauses)) if self.clauses else ""


def _check_order(lo: float | None, hi: float | None) -> None:
    if lo is not None and hi is not None and hi < lo:
        raise InvalidQueryError("The end of the time range is before its start; swap them.")


def finish(
    df: pd.DataFrame, *, table: str, limit: int | None, truncated: bool | None = None
) -> pd.DataFrame:
    """Cut ``df`` (fetched with ``limit + 1`` rows) to ``limit`` and record truncation.

    A truncated result sets ``df.attrs["truncated"]`` and warns with
    :class:`TruncatedResultWarning` (Python shows each such warning once per call site).
    """
    if truncated is None:
        truncated = limit is not None and len(df) > limit
        if truncated:
            df = df.iloc[:limit].copy()
    if truncated:
        warnings.warn(
            f"{table}: more rows match than limit={limit}; the result is truncated "
            "(pass a larger limit= or narrow the filters).",
            TruncatedResultWarning,
            stacklevel=4,
        )
    df.attrs.update(table=table, limit=limit, truncated=truncated)
    return df


#: The largest row limit accepted (beyond it, ask for everything with ``limit=None``).
MAX_LIMIT = 100_000_000


def check_limit(limit: int | None) -> int | None:
    """``limit`` checked: ``None`` (every row) or an integer from 0 to :data:`MAX_LIMIT`."""
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise InvalidQueryError(f"limit must be a non-negative integer or None, not {limit!r}.")
    if limit > MAX_LIMIT:
        raise InvalidQueryError(
            f"limit {limit} is larger than {MAX_LIMIT:,}; pass limit=None for every row."
        )
    return limit


class Repository:
    """Base of the per-table repositories.

    Subclasses set ``table`` and ``order``; ``find`` methods build a :class:`Where` and
    call :meth:`_select`.  Every query is parameterised; column names come from code or
    are checked against the table's real columns.
    """

    table: ClassVar[str]
    order: ClassVar[str] = ""

    def __init__(self, db: Database, *, clock: Clock | None = None):
        self.db = db
        self.spec = PIPELINE_TABLES[self.table]
        self._clock = clock
        # relative dates ("yesterday") are read on a frozen clock; else on the real time
        self._now = clock.now() if clock is not None and clock.frozen else None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} table={self.table!r} available={self.available}>"

    @property
    def available(self) -> bool:
        """Whether the table exists in this database."""
        return self.db.has_table(self.table)

    @property
    def record_type(self) -> type[Record]:
        return RECORD_TYPES[self.table]

    def columns(self) -> tuple[str, ...]:
        """The table's real columns (SchemaMismatchError naming the table when absent)."""
        return self.db.columns(self.table)

    def where(self, alias: str | None = None) -> Where:
        return Where(self.table, self.columns(), alias=alias)

    def _select(
        self,
        where: Where | None = None,
        *,
        limit: int | None = DEFAULT_LIMIT,
        order: str | None = None,
        select: str = "*",
        from_: str | None = None,
    ) -> pd.DataFrame:
        limit = check_limit(limit)
        where = where or self.where()
        order = self.order if order is None else order
        sql = f"SELECT {select} FROM {from_ or self.table}{where.sql()}"
        if order:
            sql += f" ORDER BY {order}"
        params = dict(where.params)
        if limit is not None:
            sql += " LIMIT :_limit"
            params["_limit"] = limit + 1
        cols, rows = self.db.fetch(sql, params)
        truncated = limit is not None and len(rows) > limit
        if truncated:
            rows = rows[:limit]
        df = frame(cols, rows, unix_columns=self.spec.unix_time_columns)
        return finish(df, table=self.table, limit=limit, truncated=truncated)

    def count(self, where: Where | None = None) -> int:
        """Number of rows matching ``where`` (all rows by default)."""
        where = where or self.where()
        return int(self.db.scalar(f"SELECT COUNT(*) FROM {self.table}{where.sql()}", where.params))

    def binned(
        self,
        column: str,
        *,
        lo: float,
        hi: float,
        width: float,
        where: Where | None = None,
        by: str | None = None,
    ) -> pd.DataFrame:
        """Rows per bin of the numeric ``column`` (in its stored unit: Unix seconds or MJD)
        over [lo, hi): bin k is [lo + k * width, lo + (k + 1) * width).

        Columns: bin (k), n, and ``by`` when given (one row per bin and value of ``by``);
        empty bins have no row.  ``where`` narrows the rows further (it is not changed).
        """
        if not width > 0 or not hi > lo:
            raise InvalidQueryError("Bins need a positive width and end > start.")
        w = where.copy() if where is not None else self.where()
        col = w._col(column)
        w.between(column, float(lo), float(hi))
        params = {**w.params, "_lo": float(lo), "_w": float(width)}
        group = "" if by is None else f", {w._col(by)}"
        return self.db.query(
            f"SELECT CAST(({col} - :_lo) / :_w AS INTEGER) AS bin{group}, COUNT(*) AS n "
            f"FROM {self.table}{w.sql()} GROUP BY bin{group} ORDER BY bin",
            params,
        )

    def max_of(self, column: str, where: Where | None = None) -> float | None:
        """The largest value of the numeric ``column`` among the rows ``where`` selects
        (``None`` when there is none)."""
        w = where or self.where()
        got = self.db.scalar(f"SELECT MAX({w._col(column)}) FROM {self.table}{w.sql()}", w.params)
        return None if got is None else float(got)

    def _get_one(self, column: str, value: Any) -> Record:
        df = self._select(self.where().eq(column, value), limit=1, order="")
        if df.empty:
            raise NotFoundError(f"No {self.table} row with {column} = {value!r}.")
        row = {k: v for k, v in df.iloc[0].items() if not str(k).endswith("_utc")}
        return self.record_type.from_row(row)

    def get(self, key: Any) -> Record:
        """One row by primary key, as a frozen record; :class:`NotFoundError` if absent."""
        if self.spec.key is None:
            raise InvalidQueryError(f"Table {self.table!r} has no primary key; use find().")
        return self._get_one(self.spec.key, key)
