"""Forced photometry rows, including the index-friendly cone search."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from dsa110_ws.core.skymath import angular_sep_deg, radec_box
from dsa110_ws.core.time import TimeLike
from dsa110_ws.errors import InvalidQueryError
from dsa110_ws.repositories._base import DEFAULT_LIMIT, Repository, finish

__all__ = ["PhotometryRepository"]


class PhotometryRepository(Repository):
    """The ``photometry`` table: one row per source per image."""

    table = "photometry"
    order = "mjd, id"

    def find(
        self,
        *,
        source_id: str | list[str] | None = None,
        image_path: str | list[str] | None = None,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        limit: int | None = DEFAULT_LIMIT,
    ) -> pd.DataFrame:
        """Rows by source, image, or observation time (``mjd`` in [start, end)), in time order."""
        w = self.where().eq("source_id", source_id).eq("image_path", image_path)
        w.mjd_range("mjd", start, end, now=self._now)
        return self._select(w, limit=limit)

    def cone(
        self, ra_deg: float, dec_deg: float, radius_deg: float, *, limit: int | None = DEFAULT_LIMIT
    ) -> pd.DataFrame:
        """Rows within ``radius_deg`` of (ra, dec), nearest first, with exact ``sep_deg``.

        An RA/Dec box that an index on ``dec_deg`` (or ``(dec_deg, ra_deg)``) can serve
        selects candidates; the exact great-circle separation then decides.
        """
        return cone_select(self, ra_deg, dec_deg, radius_deg, limit=limit)

    def scan(
        self,
        columns: Sequence[str],
        *,
        start_mjd: float | None = None,
        end_mjd: float | None = None,
        source_id: Sequence[str] | None = None,
        chunk_rows: int = 200_000,
    ) -> pd.DataFrame:
        """Only ``columns`` of every matching row, compactly typed, for survey-wide work.

        REAL columns come back as float64 (NULL -> NaN), ``id``/``flags`` as int64 (float
        when NULLs exist), TEXT columns as ``pandas.Categorical`` (sorted categories), so
        ten million rows fit in a few hundred MB.  ``"obs_mjd"`` is the observation time:
        ``photometry.mjd``, else the mid time of the image's Measurement Set.  Rows come
        in storage order; one read transaction makes the result a consistent snapshot.

        Parameters
        ----------
        columns
            Photometry column names, plus ``"obs_mjd"``.
        start_mjd, end_mjd
            Observation-time range [start, end), MJD.
        source_id
            Only these sources (any number; queried in batches).
        chunk_rows
            Rows converted at a time (bounds the transient memory).
        """
        data = self.scan_columns(
            columns,
            start_mjd=start_mjd,
            end_mjd=end_mjd,
            source_id=source_id,
            chunk_rows=chunk_rows,
        )
        df = pd.DataFrame(data, columns=list(columns))
        df.attrs.update(table="photometry", n_rows=len(df))
        return df

    def scan_columns(
        self,
        columns: Sequence[str],
        *,
        start_mjd: float | None = None,
        end_mjd: float | None = None,
        source_id: Sequence[str] | None = None,
        chunk_rows: int = 200_000,
    ) -> dict[str, np.ndarray | pd.Categorical]:
        """:meth:`scan` as a dict of column arrays (no DataFrame, so no consolidation copy)."""
        kinds = [_kind(self.spec, c) for c in columns]
        ids = None if source_id is None else list(dict.fromkeys(str(s) for s in source_id))
        batches: list[list[str] | None] = (
            [None]
            if ids is None
            else [ids[i : i + 30_000] for i in range(0, len(ids), 30_000)] or [[]]
        )
        parts: list[list[Any]] = [[] for _ in columns]
        con = self.db.raw_connection()
        try:
            cur = con.cursor()
            cur.execute("BEGIN")  # one snapshot across batches (a live pipeline keeps writing)
            for batch in batches:
                sql, params = _scan_sql(self, columns, start_mjd, end_mjd, batch)
                cur.execute(sql, params)
                while rows := cur.fetchmany(chunk_rows):
                    for j, arr in enumerate(_convert_chunk(rows, kinds)):
                        parts[j].append(arr)
                    del rows
            cur.execute("COMMIT")
        except sqlite3.Error as exc:
            raise _db_error(self.db, exc) from None
        finally:
            con.close()
        data: dict[str, np.ndarray | pd.Categorical] = {}
        for j, (c, kind) in enumerate(zip(columns, kinds, strict=True)):
            if kind == "text":
                data[c] = _merge_text(parts[j])
            else:
                data[c] = (
                    np.concatenate(parts[j])
                    if parts[j]
                    else np.array([], dtype=np.int64 if kind == "int" else float)
                )
            parts[j] = []  # free this column's chunks before the next is joined
        return data

    def approx_rows(self) -> int:
        """A cheap row count: the largest ``id`` (index-served), else ``COUNT(*)``."""
        sql = (
            "SELECT MAX(id) FROM photometry"
            if "id" in self.columns()
            else "SELECT COUNT(*) FROM photometry"
        )
        return int(self.db.scalar(sql) or 0)

    def find_lightcurve(
        self, source_id: str, *, start_mjd: float | None = None, end_mjd: float | None = None
    ) -> pd.DataFrame:
        """Every row of one source with its observation time ``obs_mjd``, in observation order.

        ``obs_mjd`` is ``photometry.mjd``, else the image's MS mid time (never when the
        row was written); rows with neither come last.
        """
        obs = _obs_mjd_expr(self.db)
        sql = f"SELECT p.*, {obs} AS obs_mjd FROM photometry AS p WHERE p.source_id = :sid"
        params: dict[str, object] = {"sid": str(source_id)}
        if start_mjd is not None:
            sql += f" AND {obs} >= :lo"
            params["lo"] = float(start_mjd)
        if end_mjd is not None:
            sql += f" AND {obs} < :hi"
            params["hi"] = float(end_mjd)
        df = self.db.query(sql + " ORDER BY obs_mjd IS NULL, obs_mjd, p.id", params)
        df.attrs.update(table="photometry", source_id=str(source_id))
        return df


def cone_select(
    repo: Repository,
    ra_deg: float,
    dec_deg: float,
    radius_deg: float,
    *,
    limit: int | None,
    ra_col: str = "ra_deg",
    dec_col: str = "dec_deg",
) -> pd.DataFrame:
    """Shared cone search over any table with RA/Dec columns in degrees."""
    ra, dec, radius = float(ra_deg), float(dec_deg), float(radius_deg)
    if not (np.isfinite(ra) and np.isfinite(dec) and -90 <= dec <= 90):
        raise InvalidQueryError(
            f"Cone centre ({ra_deg}, {dec_deg}) is not a valid RA/Dec in degrees."
        )
    if not (0 < radius <= 180):
        raise InvalidQueryError(f"Cone radius {radius_deg} deg must be in (0, 180].")
    box = radec_box(ra % 360.0, dec, radius)
    parts = []
    # one query per RA interval (two across RA = 0), so an index on ra_deg or dec_deg serves each
    for lo, hi in box.ra_ranges or [(None, None)]:
        w = repo.where()
        w.between(dec_col, box.dec_lo, None).cmp(dec_col, "<=", box.dec_hi)
        w.between(ra_col, lo, None).cmp(ra_col, "<=", hi)
        parts.append(repo._select(w, limit=None, order=""))
    df = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
    sep = angular_sep_deg(ra, dec, df[ra_col].to_numpy(float), df[dec_col].to_numpy(float))
    df = df.assign(sep_deg=sep)
    df = df[df["sep_deg"] <= radius].sort_values("sep_deg", kind="stable").reset_index(drop=True)
    fetched = df if limit is None else df.iloc[: limit + 1]
    return finish(fetched, table=repo.table, limit=limit)


# -- survey-scale columnar reads and light curves (sources issue) ------------------------

#: Observation time of a row: photometry.mjd, else the mid time of its image's MS.
_OBS_MJD = (
    "COALESCE(p.mjd, (SELECT m.mid_mjd FROM images AS i JOIN ms_index AS m "
    "ON m.path = i.ms_path WHERE i.path = p.image_path LIMIT 1))"
)


def _obs_mjd_expr(db) -> str:
    have = db.tables()
    return _OBS_MJD if "images" in have and "ms_index" in have else "p.mjd"


def _kind(spec, column: str) -> str:
    types = dict(spec.columns)
    if column == "obs_mjd":
        return "float"
    typ = types.get(column, "REAL")
    return "text" if typ == "TEXT" else ("int" if column == "id" else "float")


def _db_error(db, exc: Exception) -> Exception:
    return db.error(exc, "reading photometry")


def _convert_chunk(rows: list[tuple], kinds: list[str]) -> list[object]:
    """One fetched chunk to per-column arrays: floats, int64 or (codes, uniques) for text."""
    block = np.array(rows, dtype=object)
    out: list[object] = []
    for j, kind in enumerate(kinds):
        col = block[:, j]
        if kind == "text":
            codes, uniques = pd.factorize(col, use_na_sentinel=True)
            out.append((codes.astype(np.int32), np.asarray(uniques, dtype=object)))
        else:
            try:
                arr = col.astype(float)
            except (TypeError, ValueError):  # loosely typed SQLite values
                arr = pd.to_numeric(pd.Series(col), errors="coerce").to_numpy(float)
            out.append(arr.astype(np.int64) if kind == "int" else arr)
    return out


def _merge_text(parts: list[tuple[np.ndarray, np.ndarray]]) -> pd.Categorical:
    """Chunk-wise factorisations to one categorical with sorted (string) categories."""
    if not parts:
        return pd.Categorical([])
    allu = np.concatenate([u for _, u in parts])
    first, uniq = pd.factorize(allu)  # a few chunks' uniques -> distinct values
    names = np.array([str(x) for x in uniq], dtype=object)
    second, cats = pd.factorize(names)  # '1' and 1 are the same id
    order = np.argsort(cats.astype(str), kind="stable")
    rank = np.empty(len(order), dtype=np.int32)
    rank[order] = np.arange(len(order), dtype=np.int32)
    lut_all = rank[second][first]
    codes, offset = [], 0
    for c, u in parts:
        lut = lut_all[offset : offset + len(u)]
        offset += len(u)
        codes.append(np.where(c >= 0, lut[np.maximum(c, 0)] if len(lut) else -1, -1))
    return pd.Categorical.from_codes(
        np.concatenate(codes).astype(np.int32), categories=np.asarray(cats, dtype=object)[order]
    )


def _scan_sql(
    repo: PhotometryRepository,
    columns: Sequence[str],
    start_mjd: float | None,
    end_mjd: float | None,
    source_id: Sequence[str] | None,
) -> tuple[str, list]:
    have = set(repo.columns())
    obs = _obs_mjd_expr(repo.db)
    mark = "?" if repo.db.engine.dialect.paramstyle == "qmark" else "%s"
    exprs = []
    for c in columns:
        if c == "obs_mjd":
            exprs.append(obs)
        elif c in have:
            exprs.append(f"p.{c}")
        else:
            raise InvalidQueryError(f"photometry has no column {c!r} (an older schema?).")
    clauses: list[str] = []
    params: list[Any] = []
    if start_mjd is not None:
        clauses.append(f"{obs} >= {mark}")
        params.append(float(start_mjd))
    if end_mjd is not None:
        clauses.append(f"{obs} < {mark}")
        params.append(float(end_mjd))
    if source_id is not None:
        ids = [str(s) for s in source_id]
        clauses.append(f"p.source_id IN ({', '.join([mark] * len(ids))})" if ids else "1 = 0")
        params.extend(ids)
    sql = f"SELECT {', '.join(exprs)} FROM photometry AS p"
    return sql + (" WHERE " + " AND ".join(clauses) if clauses else ""), params
