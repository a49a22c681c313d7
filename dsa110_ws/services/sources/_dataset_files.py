"""The photometry dataset on disk: layout, manifest, fragments and row fingerprints.

Layout, under ``<state_dir>/datasets/photometry/<database key>/``::

    manifest.json                   what the current version holds (written atomically)
    current -> v000007              the current version (a symlink, swapped atomically)
    images-v000007.parquet          rows per image in that version (beside it, not in it)
    v000007/part-000/f000005-000.parquet ...   the rows: exactly the current rows
    .lock                           held while a refresh writes

A version directory is never modified once the manifest names it: a refresh writes a new
one (hard links for the fragments it keeps, new files for new rows), then swaps the
manifest and the ``current`` link, then removes versions older than the previous one.  A
refresh killed midway leaves an unreferenced directory that the next refresh removes, so
a reader (or a glob over ``current``) always sees one complete version.

Rows are partitioned by a hash of ``source_id`` (CRC-32 of its UTF-8 bytes modulo the
number of partitions; rows without a source go to partition 0) and sorted by
(``source_id``, ``obs_mjd``, ``id``) within each fragment, so every source's light curve
lies in one partition.  A partition holds one fragment per refresh that added rows to
it; the newest four are merged into one while none of the three newer is smaller than
the oldest of them (so with nights of similar size three refreshes in four write only
their new rows, a partition keeps at most about 3 log4(refreshes) fragments, and a row is
rewritten about log4(refreshes) times).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dsa110_ws.core.atomic import atomic_write, temp_sibling
from dsa110_ws.errors import ConfigurationError
from dsa110_ws.services.sources._segments import group_order

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "LAYOUT_VERSION",
    "SETTLE_S",
    "Manifest",
    "db_identity",
    "digest",
    "newest_mtime",
    "load_manifest",
    "publish",
    "locked",
    "partition_rows",
    "take_rows",
    "counts_of",
    "write_fragment",
    "fingerprints",
]

LAYOUT_VERSION = 1
#: Seconds the database must have been unmodified before a refresh for the manifest to
#: trust the file's identity (stat) as proof that nothing changed since.
SETTLE_S = 2.0
TEXT = ("source_id", "image_path")


def db_identity(path: str | os.PathLike[str]) -> dict[str, Any]:
    """What makes the database "the same file": stat of the database and its ``-wal``
    (device, inode, size, mtime ns; the database's ctime too)."""
    out: dict[str, Any] = {"path": str(path)}
    for name, suffix in (("db", ""), ("wal", "-wal")):
        try:
            st = os.stat(f"{path}{suffix}")
        except FileNotFoundError:
            out[name] = None
            continue
        out[name] = [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns]
        if name == "db":  # not for -wal: SQLite re-owns it on open when run as root
            out[name].append(st.st_ctime_ns)
    return out


def newest_mtime(identity: dict[str, Any]) -> int:
    """The newest mtime (ns) of the database and its ``-wal`` in an identity."""
    return max((v[3] for v in (identity.get("db"), identity.get("wal")) if v), default=0)


def digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:20]


@dataclasses.dataclass
class Manifest:
    """What one version of the dataset holds (``manifest.json``)."""

    version: int
    database: str
    columns: list[str]
    n_partitions: int
    #: Per partition, its fragments oldest first: ``{"file": name, "rows": n}``.
    partitions: list[list[dict[str, Any]]]
    n_rows: int
    max_id: int
    #: The database's file identity when it is known to match the rows (settled), else None.
    identity: dict[str, Any] | None
    refreshed_at: float
    last_full_check: float
    last_refresh: dict[str, Any] = dataclasses.field(default_factory=dict)
    layout: int = LAYOUT_VERSION

    @property
    def dirname(self) -> str:
        return f"v{self.version:06d}"

    @property
    def images_file(self) -> str:
        """Beside the version (not in it): rows per image, ``image_path`` and ``n``."""
        return f"images-{self.dirname}.parquet"

    def files(self, root: Path) -> list[list[Path]]:
        """Fragment paths per partition."""
        base = root / self.dirname
        return [
            [base / f"part-{p:03d}" / frag["file"] for frag in frags]
            for p, frags in enumerate(self.partitions)
        ]

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1, sort_keys=True)


def load_manifest(root: Path) -> Manifest | None:
    """The current manifest, or None when absent, of another layout, or naming files that
    are not there (removed or damaged meanwhile: the dataset is rebuilt)."""
    try:
        raw = json.loads((root / "manifest.json").read_text())
        if raw.get("layout") != LAYOUT_VERSION:
            return None
        man = Manifest(**raw)
    except (OSError, ValueError, TypeError):
        return None
    paths = [p for part in man.files(root) for p in part]
    if not all(p.is_file() for p in paths) or not (root / man.images_file).is_file():
        return None
    return man


def publish(root: Path, man: Manifest) -> None:
    """Make ``man`` current: the manifest (atomically), then the ``current`` link; then
    remove versions older than the previous one and leftovers of killed refreshes."""
    previous = load_manifest(root)
    atomic_write(root / "manifest.json", man.to_json(), fsync=True)
    link = temp_sibling(root / "current", "link")
    os.symlink(man.dirname, link)
    os.replace(link, root / "current")
    keep = {man.dirname, man.images_file}
    if previous is not None and previous.version < man.version:
        keep |= {previous.dirname, previous.images_file}
    for p in root.iterdir():
        if p.name in keep or p.name in ("manifest.json", "current", ".lock"):
            continue
        if p.name.startswith(("v", "images-", ".")):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    p.unlink()


#: Why a build's worker processes failed when the parent is an unguarded script.
UNGUARDED = (
    "The photometry dataset's build started worker processes, and they re-ran this "
    'script\'s top level: put it under `if __name__ == "__main__":`, or set [sources] '
    "dataset_build_processes = 1."
)


@contextlib.contextmanager
def locked(root: Path) -> Iterator[None]:
    """Hold the dataset's write lock (one refresh at a time, across processes).

    A build's worker process that is re-running its parent's script (a script without an
    ``if __name__ == "__main__":`` guard, re-imported by the ``spawn`` start method) would
    wait here for ever on the lock its parent holds; it is refused instead, and the parent
    reports why (:data:`UNGUARDED`)."""
    import fcntl
    import multiprocessing

    if getattr(multiprocessing.current_process(), "_inheriting", False):
        raise ConfigurationError(UNGUARDED)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# -- partitioning and sorting -------------------------------------------------------------
def text_dictionary(column: Any) -> tuple[np.ndarray, pa.Array]:
    """A string column as (int64 codes, -1 for null; the distinct values, in Arrow)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if not pa.types.is_dictionary(arr.type):
        arr = pc.dictionary_encode(arr)
    codes = pc.fill_null(arr.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, arr.dictionary


def text_codes(column: Any) -> tuple[np.ndarray, np.ndarray]:
    """A string column as (int64 codes, -1 for null; the distinct values as objects)."""
    codes, values = text_dictionary(column)
    return codes, np.asarray(values.to_pylist(), dtype=object)


def _crc_table() -> np.ndarray:
    c = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        c = np.where(c & 1, np.uint32(0xEDB88320) ^ (c >> 1), c >> 1).astype(np.uint32)
    return c


_CRC_TABLE = _crc_table()


def crc32_of(values: Any) -> np.ndarray:
    """``zlib.crc32`` of the UTF-8 bytes of each string of ``values`` (anything Arrow
    makes a string array of; a null counts as the empty string), computed for all values
    at once: one table lookup per byte position instead of a Python call per value."""
    import pyarrow as pa

    arr = values if isinstance(values, pa.Array) else pa.array(values, type=pa.string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    arr = arr.cast(pa.large_string()).fill_null("")
    n = len(arr)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + n + 1]
    data = np.frombuffer(arr.buffers()[2] or b"", dtype=np.uint8)
    start, lens = offsets[:-1], np.diff(offsets)
    crc = np.full(n, 0xFFFFFFFF, dtype=np.uint32)
    live = np.arange(n)
    for j in range(int(lens.max()) if n else 0):
        live = live[lens[live] > j]
        c = crc[live]
        crc[live] = _CRC_TABLE[(c ^ data[start[live] + j]) & 0xFF] ^ (c >> np.uint32(8))
    return crc ^ np.uint32(0xFFFFFFFF)


def bucket_of(values: Any, n_partitions: int) -> np.ndarray:
    """The partition of each source id (CRC-32 of its UTF-8 bytes, modulo)."""
    return (crc32_of(values) % np.uint32(n_partitions)).astype(np.int64)


def _ascending(column: Any) -> bool:
    """Whether an int64 Arrow column never decreases, checked chunk by chunk without
    copying it (a build reads rows in id order: the whole-column check cost 0.2 s per
    5 million rows)."""
    last = None
    for chunk in getattr(column, "chunks", [column]):
        if not len(chunk):
            continue
        a = chunk.to_numpy(zero_copy_only=not chunk.null_count)
        if (last is not None and a[0] < last) or np.any(a[1:] < a[:-1]):
            return False
        last = a[-1]
    return True


def take_rows(
    table: pa.Table, order: np.ndarray, dictionaries: Mapping[str, tuple[np.ndarray, pa.Array]]
) -> pa.Table:
    """``table``'s rows in ``order``; each text column of ``dictionaries`` (its codes and
    distinct values, from :func:`text_dictionary`) gathered from its distinct values,
    which is cheaper than gathering every row's string (0.13 s instead of 0.38 s for
    5 million source ids)."""
    import pyarrow as pa

    rows = pa.array(order)
    columns = []
    for name in table.column_names:
        if name in dictionaries:
            codes, values = dictionaries[name]
            c = codes[order]
            columns.append(values.take(pa.array(c, mask=c < 0) if np.any(c < 0) else pa.array(c)))
        else:
            columns.append(table.column(name).take(rows))
    return pa.Table.from_arrays(columns, schema=table.schema)


def partition_rows(
    table: pa.Table,
    n_partitions: int,
    dictionaries: Mapping[str, tuple[np.ndarray, pa.Array]] | None = None,
) -> Iterator[tuple[int, pa.Table]]:
    """``table`` split by partition, each part sorted by (source_id, obs_mjd, id);
    ``dictionaries``: text columns the caller has dictionary-encoded already
    (:func:`text_dictionary`), reused."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if table.num_rows == 0:
        return
    known = dict(dictionaries or {})
    if not _ascending(table.column("id")):  # ties in time keep id order
        ids = np.argsort(table.column("id").to_numpy(), kind="stable")
        table = table.take(pa.array(ids))
        known = {k: (codes[ids], values) for k, (codes, values) in known.items()}
    if "source_id" not in known:
        known["source_id"] = text_dictionary(table.column("source_id"))
    codes, values = known["source_id"]  # values ranked by UTF-8 bytes below
    n_u = len(values)
    bucket_u = (
        bucket_of(values, n_partitions) if n_partitions > 1 else np.zeros(n_u, dtype=np.int64)
    )
    rank = np.empty(n_u, dtype=np.int64)
    rank[pc.sort_indices(values).to_numpy()] = np.arange(n_u, dtype=np.int64)
    # per distinct source (bucket, rank); rows without a source (code -1, the last entry)
    # go last in partition 0
    group = np.append(bucket_u * (n_u + 1) + rank, n_u)[codes]
    obs = table.column("obs_mjd").to_numpy(zero_copy_only=False).astype(float)
    order = group_order(group, obs, stable=True)
    table = take_rows(table, order, known)
    bounds = np.searchsorted(group[order] // (n_u + 1), np.arange(n_partitions + 1))
    for p in range(n_partitions):
        if bounds[p + 1] > bounds[p]:
            yield p, table.slice(int(bounds[p]), int(bounds[p + 1] - bounds[p]))


def write_fragment(path: Path, table: pa.Table) -> None:
    """One Parquet file (dictionary-encoded text, snappy)."""
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        table,
        path,
        compression="snappy",
        use_dictionary=[c for c in TEXT if c in table.column_names],
        row_group_size=1 << 20,
        write_page_checksum=True,  # every page's CRC, verified by every read (verified())
    )


def verified() -> Any:
    """The Parquet format every read of the dataset uses: each page's CRC checked, so a
    file altered on disk (even to values of the right shape) fails the read
    (:func:`is_damaged`) instead of giving wrong rows."""
    import pyarrow.dataset as pads

    return pads.ParquetFileFormat(
        default_fragment_scan_options=pads.ParquetFragmentScanOptions(
            page_checksum_verification=True
        )
    )


def is_damaged(exc: BaseException) -> bool:
    """Whether a read failed because a dataset file is damaged (a page's CRC, a cut file,
    a footer that is not Parquet), as opposed to any other error."""
    import pyarrow as pa

    if not isinstance(exc, OSError | pa.ArrowException):
        return False
    text = str(exc).lower()
    return any(
        w in text
        for w in ("checksum", "crc", "parquet magic", "thrift", "unexpected end", "corrupt")
    )


# -- fingerprints --------------------------------------------------------------------------
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser on uint64 arrays (wrapping arithmetic)."""
    x = x + _GOLDEN
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _text_hash(values: np.ndarray) -> np.ndarray:
    return np.fromiter(
        (
            int.from_bytes(hashlib.blake2b(str(v).encode(), digest_size=8).digest(), "little")
            for v in values
        ),
        dtype=np.uint64,
        count=len(values),
    )


def row_hashes(table: pa.Table, columns: Sequence[str]) -> np.ndarray:
    """A 64-bit hash of each row's stored values (every bit of every float: any change
    to a stored value changes it; NULL and NaN hash alike, as SQLite stores NaN as NULL)."""
    h = _mix(table.column("id").to_numpy().astype(np.uint64))
    for k, c in enumerate(columns):
        if c in ("id", "obs_mjd"):  # obs_mjd is derived from mjd and the MS index
            continue
        if c in TEXT:
            codes, values = text_codes(table.column(c))
            lut = np.append(_text_hash(values), np.uint64(0x5DEECE66D))
            bits = lut[np.where(codes >= 0, codes, len(values))]
        else:
            vals = table.column(c).to_numpy(zero_copy_only=False).astype(np.float64)
            bits = np.where(np.isnan(vals), np.nan, vals).view(np.uint64)
        salt = np.uint64(((k + 1) * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF)
        h = _mix(h ^ _mix(bits + salt))
    return h


FP_COLUMNS = ("image_path", "n", "min_id", "max_id", "sum_id", "hash")


def _reduce(key: np.ndarray, n: np.ndarray, lo, hi, s, h) -> dict[str, np.ndarray]:
    order = np.argsort(key, kind="stable")
    k = key[order]
    starts = np.flatnonzero(np.concatenate([[True], k[1:] != k[:-1]])) if len(k) else k
    return {
        "key": k[starts],
        "n": np.add.reduceat(n[order], starts) if len(k) else n,
        "min_id": np.minimum.reduceat(lo[order], starts) if len(k) else lo,
        "max_id": np.maximum.reduceat(hi[order], starts) if len(k) else hi,
        "sum_id": np.add.reduceat(s[order], starts) if len(k) else s,
        "hash": np.add.reduceat(h[order], starts) if len(k) else h,
    }


def fingerprints(table: pa.Table, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Per image (``image_path``; None for rows without one): rows ``n``, ``min_id``,
    ``max_id``, ``sum_id`` and ``hash`` (the sum of the rows' hashes, modulo 2^64: any
    change to a stored value, and any row added or removed, changes it).  With
    ``columns=None`` only which rows exist is fingerprinted (``hash`` = 0).  Computed the
    same way from SQLite's rows and from the dataset's, whose values are SQLite's bits."""
    codes, values = text_codes(table.column("image_path"))
    ids = table.column("id").to_numpy().astype(np.int64)
    h = row_hashes(table, columns) if columns is not None else np.zeros(len(ids), dtype=np.uint64)
    key = np.where(codes >= 0, codes, len(values))
    r = _reduce(key, np.ones(len(ids), dtype=np.int64), ids, ids, ids, h)
    names = np.append(values, np.array([None], dtype=object))
    return _frame(names[r["key"]], r)


def _frame(paths: np.ndarray, r: dict[str, np.ndarray]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "image_path": pd.Series(paths, dtype=object),
            **{c: r[c] for c in ("n", "min_id", "max_id", "sum_id")},
            "hash": r["hash"].astype(np.uint64),
        },
        columns=list(FP_COLUMNS),
    )


def image_counts(table: pa.Table) -> pa.Table:
    """Rows per ``image_path`` (null for rows without one) of ``table``: ``image_path``,
    ``n``."""
    return counts_of(*text_dictionary(table.column("image_path")))


def counts_of(codes: np.ndarray, values: pa.Array) -> pa.Table:
    """Rows per value of a dictionary-encoded ``image_path`` (:func:`text_dictionary`;
    null for code -1): ``image_path``, ``n``."""
    import pyarrow as pa

    n = np.bincount(codes + 1, minlength=len(values) + 1)
    names = pa.concat_arrays([pa.nulls(1, pa.string()), values.cast(pa.string())])
    have = np.flatnonzero(n)
    return pa.table({"image_path": names.take(pa.array(have)), "n": pa.array(n[have], pa.int64())})


def empty_counts() -> pa.Table:
    import pyarrow as pa

    return pa.table({"image_path": pa.array([], pa.string()), "n": pa.array([], pa.int64())})


def add_counts(*tables: pa.Table, disjoint: bool = False) -> pa.Table:
    """Rows per image of the union of disjoint row sets (``disjoint``: no image is in
    two of ``tables``, so they are only stacked).  Summed in Arrow: pandas' group-by over
    10^5 Python strings took 0.45 s of a 1.5 s refresh at survey scale."""
    import pyarrow as pa

    parts = [t.select(["image_path", "n"]) for t in tables if t.num_rows]
    if not parts:
        return empty_counts()
    table = pa.concat_tables(parts)
    if disjoint or len(parts) == 1:
        return table
    out = table.group_by("image_path", use_threads=False).aggregate([("n", "sum")])
    return pa.table({"image_path": out.column("image_path"), "n": out.column("n_sum")})


def save_counts(path: Path, counts: pa.Table) -> None:
    import pyarrow.parquet as pq

    tmp = temp_sibling(path)
    pq.write_table(counts, tmp, write_page_checksum=True)
    os.replace(tmp, path)


def load_counts(path: Path) -> pa.Table:
    import pyarrow.parquet as pq

    t = pq.read_table(path, columns=["image_path", "n"], page_checksum_verification=True)
    return t.cast(empty_counts().schema)
