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

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from dsa110_ws.services.sources import _dataset_files as files
from dsa110_ws.services.sources._dataset_files import Manifest
from dsa110_ws.services.sources._dataset_write import write_version

if TYPE_CHECKING:
    import pyarrow as pa

    from dsa110_ws.repositories.photometry_arrow import PhotometryReader

__all__ = ["Progress", "refresh", "finish"]

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


# -- build and refresh -------------------------------------------------------------------
def _settled(before: dict[str, Any], after: dict[str, Any], started: float) -> bool:
    return before == after and started - files.newest_mtime(before) / 1e9 > files.SETTLE_S


def finish(
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
    return pads.dataset(paths, format=files.verified()).to_table(columns=columns)


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
    new_counts = files.image_counts(new) if new.num_rows else files.empty_counts()
    new_paths = new_counts.column("image_path")
    # image sets as Arrow (10^5 images a night at survey scale); only the small ones
    # (images seen before, images to drop) become Python sets
    known = set(
        new_paths.filter(pc.is_in(new_paths, value_set=held_counts["image_path"])).to_pylist()
    )
    drop_in_new = _members(drop, new_paths)
    added = _concat([reread, new], _empty(cols))
    now_imgs = set(pc.unique(reread.column("image_path")).to_pylist()) if reread.num_rows else set()
    report = {
        "mode": mode,
        "driver": reader.driver,
        "rows_read": int(added.num_rows),
        "rows_checked": int(checked),
        "rows_dropped": int(lost),
        "images_added": new_counts.num_rows - len(known | drop_in_new),
        "images_changed": len(known | (drop & (now_imgs | drop_in_new))),
        "images_removed": len(drop - now_imgs - drop_in_new),
    }
    touched = bool(added.num_rows or drop)
    version = man.version + 1 if touched else man.version
    parts = (
        write_version(root, man, version, man.n_partitions, added, drop, progress)
        if touched
        else man.partitions
    )
    full_at = started if mode == "full" else man.last_full_check
    per_image = held_counts
    if touched:
        kept = held_counts.filter(pc.invert(_in_images(held_counts["image_path"], drop)))
        # a night's new images are in no kept count: stacked, not summed
        per_image = files.add_counts(
            kept, files.image_counts(added), disjoint=not (known or now_imgs)
        )
    return finish(
        root, db_path, reader, ext, parts, per_image, version, before, started, full_at, report
    )


def _in_images(paths: Any, images: set) -> Any:
    """Arrow mask: each of ``paths`` is one of ``images`` (``None`` in it: null paths)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    named = pa.array([i for i in images if i is not None], type=pa.string())
    return pc.fill_null(pc.is_in(paths, value_set=named, skip_nulls=True), None in images)


def _members(images: set, paths: Any) -> set:
    """Those of ``images`` that are among ``paths`` (an Arrow column; null is ``None``)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not images:
        return set()
    cand = pa.array(list(images), type=pa.string())
    hit = pc.is_in(cand, value_set=paths).to_pylist()
    return {i for i, h in zip(cand.to_pylist(), hit, strict=True) if h}


def _rows_of(fp: pd.DataFrame, images: set) -> int:
    import pyarrow as pa

    paths = pa.array(fp["image_path"].to_numpy(object), type=pa.string())
    mask = _in_images(paths, images).to_numpy(zero_copy_only=False)
    return int(fp["n"].to_numpy()[mask].sum())


def _take_images(table: pa.Table, images: set) -> pa.Table:
    import pyarrow as pa
    import pyarrow.compute as pc

    named = [x for x in images if x is not None]
    hit = pc.is_in(table.column("image_path"), value_set=pa.array(named, type=pa.string()))
    return table.filter(pc.fill_null(hit, None in images))
