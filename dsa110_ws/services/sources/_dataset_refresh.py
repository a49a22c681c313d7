"""Building the photometry dataset from SQLite, and refreshing it exactly and incrementally.

A refresh compares the database with what the manifest says the dataset holds, cheapest
check first, and reads from SQLite only what it must:

1. **identity**: the manifest recorded the database file's identity (stat of the file
   and its ``-wal``, kept only when the refresh that wrote it read a settled database:
   unchanged during the read and not written in the :data:`SETTLE_S` before it) and it is
   unchanged: nothing to do, no SQL at all.
2. **appends**: in one read transaction, ``COUNT(*)`` and ``MAX(id)`` (index-only).  Rows
   with an ``id`` above the manifest's are new: read and added.  When the count shows
   nothing else happened (rows now = rows before + rows added; ids never reused, which
   ``AUTOINCREMENT`` guarantees) the refresh is done: a commit that touched no
   photometry (a job heartbeat) costs these two lookups and no photometry row.
3. **ids**: when rows went away (deleted, or rewritten under new ids), the
   ``(image_path, id)`` pairs of every row (the ``image_path`` index) are fingerprinted
   per image (count, min, max and sum of ids) and compared with the same fingerprint of
   the dataset's rows; the images whose rows differ are *changed*: their old rows are
   dropped and their current rows read.
4. **full**: every row is read and the bits of its stored values hashed, per image, as
   are the dataset's (Parquet keeps SQLite's bits); an image whose hash differs changed
   (this finds ``UPDATE``s of rows in place, which no count or id shows).  Runs when asked (``full=True``), when ids may be reused (no
   ``AUTOINCREMENT``), and when the last one is older than ``[sources]
   dataset_full_check_hours``.

Why step 4 is not an SQL aggregate run on every refresh: on the 10^7-row scale state,
``SELECT image_path, COUNT(*), MAX(id), SUM(id), TOTAL(flux_jy * w)... GROUP BY
image_path`` took 30-120 s (more than reading every row through ADBC), and float sums can
miss a change in the last bits; reading the rows and hashing their bits is both faster
and exact.  The result of every refresh equals a full rebuild of the same database state
(the tests check it), up to in-place updates between full checks.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from dsa110_ws.services.sources import _dataset_files as files
from dsa110_ws.services.sources._dataset_files import Manifest

if TYPE_CHECKING:
    import pyarrow as pa

    from dsa110_ws.repositories.photometry_arrow import PhotometryReader

__all__ = ["Progress", "build", "refresh"]

#: ``progress(stage, done, total)``; ``total`` may be 0 when unknown.
Progress = Callable[[str, int, int], None]


def _quiet(stage: str, done: int, total: int) -> None:
    return None


def _concat(tables: Iterable[pa.Table], empty: pa.Table) -> pa.Table:
    import pyarrow as pa

    parts = [t for t in tables if t.num_rows]
    return pa.concat_tables(parts) if parts else empty


def _read_all(reader: PhotometryReader, total: int, stage: str, progress: Progress, **kw: Any):
    done, parts = 0, []
    progress(stage, 0, total)
    for t in reader.read(**kw):
        parts.append(t)
        done += t.num_rows
        progress(stage, done, max(total, done))
    return parts


def _empty(columns: list[str]) -> pa.Table:
    import pyarrow as pa

    types = {"id": pa.int64(), "source_id": pa.string(), "image_path": pa.string()}
    return pa.table({c: pa.array([], type=types.get(c, pa.float64())) for c in columns})


# -- writing a version -----------------------------------------------------------------
def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:  # a filesystem without hard links
        shutil.copy2(src, dst)


class _Writer:
    """Writes version ``version`` of the dataset under ``root``."""

    def __init__(self, root: Path, version: int, n_partitions: int):
        self.root, self.version, self.n = root, version, n_partitions
        self.vdir = root / f"v{version:06d}"
        if self.vdir.exists():  # left by a killed refresh: never referenced
            shutil.rmtree(self.vdir)
        self.seq = 0

    def reserve(self, n: int) -> int:
        """The first of ``n`` fragment numbers kept for writers in threads."""
        first, self.seq = self.seq, self.seq + n
        return first

    def new(self, p: int, table: pa.Table, seq: int | None = None) -> dict[str, Any]:
        """A new fragment of partition ``p`` (``seq``: a number from :meth:`reserve`)."""
        if seq is None:
            seq = self.reserve(1)
        name = f"f{self.version:06d}-{seq:04d}.parquet"
        files.write_fragment(self.vdir / f"part-{p:03d}" / name, table)
        return {"file": name, "rows": int(table.num_rows)}

    def keep(self, old_root: Path, old_dir: str, p: int, frag: dict[str, Any]) -> dict[str, Any]:
        sub = f"part-{p:03d}"
        _link(old_root / old_dir / sub / frag["file"], self.vdir / sub / frag["file"])
        return dict(frag)

    def path(self, p: int, frag: dict[str, Any]) -> Path:
        return self.vdir / f"part-{p:03d}" / frag["file"]


def _compact(w: _Writer, p: int, frags: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Merge the newest two fragments while the newer is at least as large."""
    import pyarrow.parquet as pq

    while len(frags) >= 2 and frags[-1]["rows"] >= frags[-2]["rows"]:
        a, b = frags[-2], frags[-1]
        both = _concat([pq.read_table(w.path(p, a)), pq.read_table(w.path(p, b))], _empty([]))
        merged = [t for _, t in files.partition_rows(both, 1)]
        for f in (a, b):
            w.path(p, f).unlink()
        frags = frags[:-2] + [w.new(p, merged[0])]
    return frags


def _drop_rows(w: _Writer, p: int, frag: dict[str, Any], drop: set) -> dict[str, Any] | None:
    """``frag`` without the rows of the images in ``drop`` (None: nothing left)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    path = w.path(p, frag)
    img = pq.read_table(path, columns=["image_path"]).column("image_path")
    named = [x for x in drop if x is not None]
    hit = pc.is_in(img, value_set=pa.array(named, type=pa.string()))
    hit = pc.fill_null(hit, None in drop)
    if not pc.any(hit).as_py():
        return frag
    kept = pq.read_table(path).filter(pc.invert(hit))
    path.unlink()
    return w.new(p, kept) if kept.num_rows else None


def write_version(
    root: Path,
    old: Manifest | None,
    version: int,
    n_partitions: int,
    added: pa.Table,
    drop: set,
    progress: Progress,
) -> list[list[dict[str, Any]]]:
    """Version ``version``: ``old``'s fragments (hard-linked, or rewritten without the rows
    of the images in ``drop``) plus one new fragment per partition for ``added``."""
    w = _Writer(root, version, n_partitions)
    parts: list[list[dict[str, Any]]] = [[] for _ in range(n_partitions)]
    if old is not None:
        for p, frags in enumerate(old.partitions):
            for frag in frags:
                kept: dict[str, Any] | None = w.keep(root, old.dirname, p, frag)
                if drop and kept is not None:
                    kept = _drop_rows(w, p, kept, drop)
                if kept is not None:
                    parts[p].append(kept)
            progress("writing", p + 1, n_partitions)
    for p, table in files.partition_rows(added, n_partitions):
        parts[p].append(w.new(p, table))
    for p in range(n_partitions):
        parts[p] = _compact(w, p, parts[p])
        w.vdir.joinpath(f"part-{p:03d}").mkdir(parents=True, exist_ok=True)
    return parts


# -- build and refresh -------------------------------------------------------------------
def _settled(before: dict[str, Any], after: dict[str, Any], started: float) -> bool:
    return before == after and started - files.newest_mtime(before) / 1e9 > files.SETTLE_S


def _finish(
    root: Path,
    db_path: Path,
    reader: PhotometryReader,
    ext: dict[str, Any],
    parts: list[list[dict[str, Any]]],
    per_image: pd.DataFrame,
    version: int,
    before: dict[str, Any],
    started: float,
    full_check: float,
    report: dict[str, Any],
) -> Manifest:
    after = files.db_identity(db_path)
    settled = _settled(before, after, started)
    man = Manifest(
        version=version,
        database=str(db_path),
        columns=list(reader.columns),
        n_partitions=len(parts),
        partitions=parts,
        n_rows=int(ext["n_rows"]),
        max_id=int(ext["max_id"]),
        identity=before if settled else None,
        refreshed_at=time.time(),
        last_full_check=full_check,
        last_refresh={**report, "settled": settled, "seconds": time.time() - started},
    )
    files.save_counts(root / man.images_file, per_image)
    files.publish(root, man)
    return man


def build(
    root: Path,
    db_path: Path,
    reader: PhotometryReader,
    *,
    n_partitions: int,
    version: int,
    progress: Progress = _quiet,
    chunk_rows: int = 20_000_000,
) -> Manifest:
    """Read every row (in one transaction) and write the dataset from scratch."""
    import pyarrow as pa

    before, started = files.db_identity(db_path), time.time()
    w = _Writer(root, version, n_partitions)
    parts: list[list[dict[str, Any]]] = [[] for _ in range(n_partitions)]

    pending: list[pa.Table] = []
    counts: list[pd.DataFrame] = []
    held = done = 0
    with reader:
        ext = reader.extent()

        def flush() -> None:
            table = pa.concat_tables(pending)
            pending.clear()
            counts.append(files.image_counts(table))
            progress("writing", 0, n_partitions)
            first = w.reserve(n_partitions)
            with ThreadPoolExecutor(2) as pool:  # Parquet encoding releases the GIL
                futures = [
                    (p, pool.submit(w.new, p, part, first + p))
                    for p, part in files.partition_rows(table, n_partitions)
                ]
                for k, (p, fut) in enumerate(futures):
                    parts[p].append(fut.result())
                    progress("writing", k + 1, len(futures))

        progress("reading", 0, ext["n_rows"])
        for t in reader.read():
            pending.append(t)
            held += t.num_rows
            done += t.num_rows
            progress("reading", done, max(done, ext["n_rows"]))
            if held >= chunk_rows:
                flush()
                held = 0
        if pending:
            flush()
    for p in range(n_partitions):
        parts[p] = _compact(w, p, parts[p])
        w.vdir.joinpath(f"part-{p:03d}").mkdir(parents=True, exist_ok=True)
    per_image = files.add_counts(*counts)
    report = {
        "mode": "build",
        "driver": reader.driver,
        "rows_read": done,
        "rows_checked": 0,
        "rows_dropped": 0,
        "images_added": len(per_image),
        "images_changed": 0,
        "images_removed": 0,
    }
    ext = {**ext, "n_rows": done}
    return _finish(
        root, db_path, reader, ext, parts, per_image, version, before, started, started, report
    )


def _changed(old: pd.DataFrame, new: pd.DataFrame, cols: list[str]) -> set:
    """Images whose fingerprint columns ``cols`` differ (or exist on one side only)."""
    a = old.assign(_k=old["image_path"].fillna("\0none")).set_index("_k")[cols]
    b = new.assign(_k=new["image_path"].fillna("\0none")).set_index("_k")[cols]
    a, b = a.align(b, join="outer")
    diff = (a != b).any(axis=1) | a.isna().any(axis=1) | b.isna().any(axis=1)
    return {None if k == "\0none" else k for k in diff.index[diff.to_numpy()]}


def _dataset_table(root: Path, man: Manifest, columns: list[str] | None) -> pa.Table:
    """The rows the dataset holds now (``columns``; all when None)."""
    import pyarrow.dataset as pads

    paths = [str(p) for part in man.files(root) for p in part]
    if not paths:
        return _empty(columns or man.columns)
    return pads.dataset(paths, format="parquet").to_table(columns=columns)


def refresh(
    root: Path,
    db_path: Path,
    reader: PhotometryReader,
    man: Manifest,
    *,
    full: bool,
    full_check_hours: float,
    progress: Progress = _quiet,
) -> Manifest:
    """Bring ``man``'s dataset up to the database's current state (see module doc)."""
    import pyarrow.compute as pc

    before, started = files.db_identity(db_path), time.time()
    cols = list(reader.columns)
    with reader:
        ext = reader.extent()
        due = full_check_hours >= 0 and started - man.last_full_check > full_check_hours * 3600
        mode = "full" if (full or due or not ext["ids_never_reused"]) else "appends"
        grew = ext["max_id"] > man.max_id
        new = _concat(
            _read_all(
                reader,
                ext["max_id"] - man.max_id,
                "reading new rows",
                progress,
                after_id=man.max_id,
            )
            if grew
            else [],
            _empty(cols),
        )
        checked, drop, reread, lost = 0, set(), _empty(cols), 0
        if mode == "full":
            old_rows = _concat(
                _read_all(reader, man.n_rows, "checking every row", progress, upto_id=man.max_id),
                _empty(cols),
            )
            checked = old_rows.num_rows
            held = files.fingerprints(_dataset_table(root, man, None), cols)
            drop = _changed(held, files.fingerprints(old_rows, cols), list(files.FP_COLUMNS[1:]))
            lost = _rows_of(held, drop)
            reread = _take_images(old_rows, drop)
            del old_rows
        elif ext["n_rows"] != man.n_rows + new.num_rows:
            mode = "ids"
            ids = reader.image_ids()
            ids = ids.filter(pc.less_equal(ids.column("id"), man.max_id))
            checked = ids.num_rows
            held = files.fingerprints(_dataset_table(root, man, ["image_path", "id"]))
            drop = _changed(held, files.fingerprints(ids), ["n", "min_id", "max_id", "sum_id"])
            lost = _rows_of(held, drop)
            if drop:
                reread = _concat(
                    reader.read(image_paths=sorted(drop, key=str), upto_id=man.max_id), _empty(cols)
                )
    held_counts = files.load_counts(root / man.images_file)
    new_counts = files.image_counts(new) if new.num_rows else held_counts.iloc[:0]
    new_imgs = set(new_counts["image_path"])
    known = new_imgs & set(held_counts["image_path"])
    added = _concat([reread, new], _empty(cols))
    now_imgs = set(pc.unique(reread.column("image_path")).to_pylist()) if reread.num_rows else set()
    report = {
        "mode": mode,
        "driver": reader.driver,
        "rows_read": int(added.num_rows),
        "rows_checked": int(checked),
        "rows_dropped": int(lost),
        "images_added": len(new_imgs - known - drop),
        "images_changed": len((new_imgs & known) | (drop & (now_imgs | new_imgs))),
        "images_removed": len(drop - now_imgs - new_imgs),
    }
    touched = bool(added.num_rows or drop)
    version = man.version + 1 if touched else man.version
    parts = (
        write_version(root, man, version, man.n_partitions, added, drop, progress)
        if touched
        else man.partitions
    )
    full_at = started if mode == "full" else man.last_full_check
    kept = held_counts[~_is_in(held_counts["image_path"], drop)]
    per_image = files.add_counts(kept, files.image_counts(added)) if touched else held_counts
    return _finish(
        root, db_path, reader, ext, parts, per_image, version, before, started, full_at, report
    )


def _is_in(paths: pd.Series, images: set) -> pd.Series:
    return paths.isin([i for i in images if i is not None]) | (paths.isna() & (None in images))


def _rows_of(fp: pd.DataFrame, images: set) -> int:
    return int(fp.loc[_is_in(fp["image_path"], images), "n"].sum())


def _take_images(table: pa.Table, images: set) -> pa.Table:
    import pyarrow as pa
    import pyarrow.compute as pc

    named = [x for x in images if x is not None]
    hit = pc.is_in(table.column("image_path"), value_set=pa.array(named, type=pa.string()))
    return table.filter(pc.fill_null(hit, None in images))
