"""A columnar snapshot of photometry for survey-wide reads, kept in the workspace's state dir.

Why: ten million photometry rows cost about 20 s to read through Python's ``sqlite3``
(1-3 us a row, whatever the query), and the statistics after them a few seconds.  The
snapshot keeps the columns the survey-wide analyses read (:data:`COLUMNS`) as ``.npy``
files, rows sorted by (source, observation time) with per-source offsets, so a later read
is a memory map and a gather, and a subset of sources is a few slices.

Validity: a snapshot belongs to one state of the database *file*: path, device, inode,
size, mtime (ns) of the database and of its ``-wal`` file, and the database's ctime (not
the ``-wal``'s: SQLite running as root re-owns that file whenever it opens it).  Any commit changes
that identity (a WAL commit appends or rewrites frames, a checkpoint rewrites the
database), so the next read sees a mismatch and reads SQLite again: never stale rows.
A commit that lands within one timestamp tick of the read could leave mtime unchanged,
so a snapshot is only *kept* when the identity was the same before and after the read and
the newest mtime is more than :data:`SETTLE_S` older than the read's start (git's
"racy timestamp" rule).  On a database written every few seconds snapshots are built but
not kept.

When: only for an SQLite file whose photometry has at least ``[sources]
snapshot_min_rows`` rows (default 1,000,000; a negative value turns snapshots off).  A
read of every source builds a missing snapshot (it scans the whole table anyway); a read
of a subset without one goes to SQLite, whose ``source_id`` index makes that cheaper.

Layout: ``<state_dir>/snapshots/photometry/<database key>/<identity key>/`` holding
``meta.json``, one ``<column>.npy`` per column (text columns as int32 codes plus
``<column>.categories.npy``) and ``offsets.npy``.  Written to a temporary directory and
renamed into place, so a concurrent reader never sees half of one; older snapshots of
the same database are removed once a newer one is in place.  One that cannot be read
(truncated, removed meanwhile) is treated as absent.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dsa110_ws.services.sources._segments import group_order

if TYPE_CHECKING:
    from dsa110_ws.core.settings import SourcesSettings
    from dsa110_ws.repositories import Database
    from dsa110_ws.repositories.photometry import PhotometryRepository

__all__ = [
    "COLUMNS",
    "SETTLE_S",
    "Snapshot",
    "SnapshotWarning",
    "PhotometrySnapshot",
    "db_identity",
]

#: The columns kept (those the table has; ``obs_mjd`` is the observation time).
COLUMNS = (
    "source_id",
    "image_path",
    "obs_mjd",
    "flux_jy",
    "flux_err_jy",
    "normalized_flux_jy",
    "normalized_flux_err_jy",
)
TEXT = ("source_id", "image_path")
VERSION = 2
#: Seconds the database must have been unmodified before a read for its snapshot to be kept.
SETTLE_S = 2.0


class SnapshotWarning(UserWarning):
    """A snapshot could not be written (the read itself succeeded, from SQLite)."""


def db_identity(path: str | os.PathLike[str]) -> dict[str, Any]:
    """What makes the database "the same file": stat of the database and its ``-wal``."""
    out: dict[str, Any] = {"path": str(path)}
    for name, suffix in (("db", ""), ("wal", "-wal")):
        try:
            st = os.stat(f"{path}{suffix}")
        except FileNotFoundError:
            out[name] = None
            continue
        out[name] = [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns]
        if name == "db":  # not for -wal: SQLite re-owns it on open when run as root (new ctime)
            out[name].append(st.st_ctime_ns)
    return out


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:20]


@dataclasses.dataclass
class Snapshot:
    """Sorted photometry columns; rows of source code k are ``offsets[k]:offsets[k+1]``,
    rows without a source id follow ``offsets[-1]``."""

    arrays: dict[str, np.ndarray]  # float64, or int32 codes for TEXT columns
    categories: dict[str, np.ndarray]  # object arrays of str, sorted
    offsets: np.ndarray
    meta: dict[str, Any]
    #: (size, mtime_ns) of each file when loaded: a snapshot altered on disk is reloaded
    #: (reading a memory-mapped page of a file truncated since would kill the process).
    files: dict[Path, tuple[int, int]] = dataclasses.field(default_factory=dict)
    _dtypes: dict[str, pd.CategoricalDtype] = dataclasses.field(default_factory=dict, repr=False)

    def unchanged_on_disk(self) -> bool:
        try:
            return all(
                (st.st_size, st.st_mtime_ns) == v
                for p, v in self.files.items()
                for st in [os.stat(p)]
            )
        except OSError:
            return False

    def has(self, columns: Sequence[str]) -> bool:
        return set(columns) <= set(self.arrays)

    @functools.cached_property
    def _source_index(self) -> pd.Index:
        return pd.Index(self.categories["source_id"], dtype=object)

    def _source_rows(self, source_ids: Sequence[str]) -> np.ndarray:
        wanted = pd.unique(np.asarray([str(s) for s in source_ids], dtype=object))
        codes = self._source_index.get_indexer(wanted)
        codes = np.unique(codes[codes >= 0])
        starts, lens = self.offsets[codes], self.offsets[codes + 1] - self.offsets[codes]
        first = np.cumsum(lens) - lens
        return np.repeat(starts - first, lens) + np.arange(int(lens.sum()), dtype=np.int64)

    def select(
        self,
        columns: Sequence[str],
        *,
        start_mjd: float | None = None,
        end_mjd: float | None = None,
        source_ids: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """The rows :meth:`PhotometryRepository.scan_columns` would return, sorted by
        (source, time); text columns as categoricals of the categories present."""
        idx = None if source_ids is None else self._source_rows(source_ids)
        if start_mjd is not None or end_mjd is not None:
            obs = self.arrays["obs_mjd"] if idx is None else self.arrays["obs_mjd"][idx]
            keep = np.ones(len(obs), dtype=bool)
            with np.errstate(invalid="ignore"):
                if start_mjd is not None:
                    keep &= obs >= start_mjd
                if end_mjd is not None:
                    keep &= obs < end_mjd
            idx = np.flatnonzero(keep) if idx is None else idx[keep]
        out: dict[str, Any] = {}
        for c in columns:
            values = np.array(self.arrays[c]) if idx is None else self.arrays[c][idx]
            out[c] = self._categorical(c, values, idx is None) if c in TEXT else values
        return out

    def _categorical(self, column: str, codes: np.ndarray, every_row: bool) -> pd.Categorical:
        """Codes to a categorical; for a selection, of only the categories present (as a
        query of those rows would give), without re-validating every category each time."""
        cats = self.categories[column]
        if every_row:
            if column not in self._dtypes:
                self._dtypes[column] = pd.CategoricalDtype(cats)
            return pd.Categorical.from_codes(codes, dtype=self._dtypes[column], validate=False)
        used = np.flatnonzero(np.bincount(codes[codes >= 0], minlength=len(cats)))
        lut = np.full(len(cats) + 1, -1, dtype=np.int32)  # the last slot keeps -1 (NULL) as -1
        lut[used] = np.arange(len(used), dtype=np.int32)
        return pd.Categorical.from_codes(
            lut[codes], dtype=pd.CategoricalDtype(cats[used]), validate=False
        )


# -- build, store, load ---------------------------------------------------------------------
def _from_columns(data: dict[str, Any], identity: dict[str, Any]) -> Snapshot:
    sc = data["source_id"]
    n_src = len(sc.categories)
    key = np.asarray(sc.codes, dtype=np.int64)
    key = np.where(key < 0, n_src, key)  # rows without a source last
    order = group_order(key, data["obs_mjd"])
    arrays, cats = {}, {}
    for c, values in data.items():
        if c in TEXT:
            arrays[c] = np.asarray(values.codes, dtype=np.int32)[order]
            cats[c] = np.asarray(values.categories, dtype=object)
        else:
            arrays[c] = np.asarray(values, dtype=float)[order]
    offsets = np.searchsorted(key[order], np.arange(n_src + 1)).astype(np.int64)
    meta = {
        "version": VERSION,
        "identity": identity,
        "key": _digest(identity),
        "n_rows": int(len(order)),
        "n_sources": int(n_src),
        "columns": list(data),
        "n_categories": {c: len(v) for c, v in cats.items()},
        "built_at": time.time(),
    }
    return Snapshot(arrays, cats, offsets, meta)


def _write(root: Path, snap: Snapshot) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    final = root / snap.meta["key"]
    if not final.exists():
        tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=root))
        try:
            for c, values in snap.arrays.items():
                np.save(tmp / f"{c}.npy", values)
            for c, cats in snap.categories.items():
                np.save(tmp / f"{c}.categories.npy", cats.astype(str))
            np.save(tmp / "offsets.npy", snap.offsets)
            (tmp / "meta.json").write_text(json.dumps(snap.meta))
            os.rename(tmp, final)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            if not final.is_dir():  # not a concurrent writer's win: a real failure
                raise
    _prune(root, final, snap.meta["identity"])
    return final


def _prune(root: Path, keep: Path, identity: dict[str, Any]) -> None:
    """One snapshot per database: drop those of older database states (a slower writer
    of an older state must not remove a newer one) and abandoned temporary directories."""
    ours = _newest_mtime(identity)
    for other in root.iterdir():
        if other == keep:
            continue
        if other.name.startswith("."):
            with contextlib.suppress(OSError):
                if other.name.startswith(".build-") and time.time() - other.stat().st_mtime > 3600:
                    shutil.rmtree(other, ignore_errors=True)
            continue
        try:
            theirs = _newest_mtime(json.loads((other / "meta.json").read_text())["identity"])
        except (OSError, ValueError, KeyError, TypeError):
            theirs = -1  # unreadable: not worth keeping
        if theirs <= ours:
            shutil.rmtree(other, ignore_errors=True)


def _newest_mtime(identity: dict[str, Any]) -> int:
    return max((v[3] for v in (identity.get("db"), identity.get("wal")) if v), default=0)


def _load(where: Path, identity: dict[str, Any]) -> Snapshot | None:
    try:
        meta = json.loads((where / "meta.json").read_text())
        if meta.get("version") != VERSION or meta.get("identity") != identity:
            return None
        arrays = {
            c: np.load(where / f"{c}.npy", mmap_mode="r", allow_pickle=False).view(np.ndarray)
            for c in meta["columns"]
        }  # plain views: faster
        cats = {
            c: np.load(where / f"{c}.categories.npy", allow_pickle=False).astype(object)
            for c in TEXT
            if c in arrays
        }
        offsets = np.load(where / "offsets.npy", allow_pickle=False)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # absent, truncated or removed meanwhile: read SQLite instead
    if (
        any(len(a) != meta["n_rows"] for a in arrays.values())
        or len(offsets) != meta["n_sources"] + 1
        or any(len(v) != meta["n_categories"].get(c) for c, v in cats.items())
    ):
        return None  # written by something else, or damaged: do not trust its codes
    files = {p: (st.st_size, st.st_mtime_ns) for p in where.iterdir() for st in [p.stat()]}
    return Snapshot(arrays, cats, offsets, meta, files)


#: The snapshot last opened per database (its identity is checked on every use).
_OPEN: dict[Path, Snapshot] = {}


def _open(root: Path, identity: dict[str, Any]) -> Snapshot | None:
    snap = _OPEN.get(root)
    if snap is not None and snap.meta["identity"] == identity and snap.unchanged_on_disk():
        return snap
    snap = _load(root / _digest(identity), identity)
    if snap is None:
        _OPEN.pop(root, None)
    else:
        _OPEN[root] = snap
    return snap


# -- the entry points ---------------------------------------------------------------------
class PhotometrySnapshot:
    """The snapshot of one pipeline database's photometry (``w.snapshot``).

    Parameters
    ----------
    photometry
        The photometry repository it is built from.
    db
        The pipeline database (its file identity decides validity).
    state_dir
        The workspace's state directory (snapshots go under ``snapshots/photometry``).
    settings
        ``[sources]``: ``snapshot_min_rows``.
    """

    def __init__(
        self,
        photometry: PhotometryRepository,
        db: Database,
        state_dir: str | os.PathLike[str],
        settings: SourcesSettings,
    ):
        self._repo = photometry
        self._db_path = Path(db.path)
        self._root = Path(state_dir) / "snapshots" / "photometry" / _digest(str(self._db_path))
        self.min_rows = int(settings.snapshot_min_rows)

    def __repr__(self) -> str:
        return f"<PhotometrySnapshot of {self._db_path} in {self._root}>"

    def _build(self, identity: dict[str, Any]) -> tuple[Snapshot, str]:
        have = set(self._repo.columns())
        started = time.time()
        data = self._repo.scan_columns([c for c in COLUMNS if c == "obs_mjd" or c in have])
        snap = _from_columns(data, identity)
        del data
        snap.meta["build_seconds"] = time.time() - started
        newest = _newest_mtime(identity) / 1e9
        if db_identity(self._db_path) != identity:
            return snap, "built, not kept: the database changed during the read"
        if started - newest <= SETTLE_S:
            return snap, (
                f"built, not kept: the database was written less than {SETTLE_S:g} s before"
            )
        try:
            _write(self._root, snap)
        except OSError as exc:
            warnings.warn(
                f"Could not keep the photometry snapshot in {self._root} ({exc}); every "
                "survey-wide read will go to SQLite. Free space there, or set "
                "[sources] snapshot_min_rows = -1.",
                SnapshotWarning,
                stacklevel=4,
            )
            return snap, f"built, not kept: {exc}"
        return snap, "built"

    def read(
        self,
        columns: Sequence[str],
        *,
        start_mjd: float | None = None,
        end_mjd: float | None = None,
        source_ids: Sequence[str] | None = None,
    ) -> tuple[dict[str, Any] | None, str]:
        """Columns from the snapshot (building it when this read covers every source), or
        ``(None, why)`` when SQLite should be read directly."""
        if self.min_rows < 0:
            return None, "off"
        identity = db_identity(self._db_path)
        snap, how = _open(self._root, identity), "used"
        if snap is None:
            if source_ids is not None:
                return None, "none: a subset is read from SQLite"
            if self._repo.approx_rows() < self.min_rows:
                return None, f"none: photometry is below snapshot_min_rows ({self.min_rows:,})"
            snap, how = self._build(identity)
        if not snap.has(columns):
            return None, "none: the snapshot lacks a column this read needs"
        return snap.select(
            columns, start_mjd=start_mjd, end_mjd=end_mjd, source_ids=source_ids
        ), how

    def refresh(self) -> dict[str, Any]:
        """Build and keep the snapshot now if it is missing or stale (e.g. from cron after
        the night's photometry is written), whatever ``snapshot_min_rows`` says; then
        :meth:`status`."""
        identity = db_identity(self._db_path)
        how = "used"
        if _open(self._root, identity) is None:
            _, how = self._build(identity)
        return {**self.status(), "action": how}

    def status(self) -> dict[str, Any]:
        """Whether a snapshot matching the database exists, where, its rows and bytes."""
        out: dict[str, Any] = {
            "database": str(self._db_path),
            "min_rows": self.min_rows,
            "valid": False,
            "path": None,
            "n_stale": 0,
        }
        identity = db_identity(self._db_path)
        where = self._root / _digest(identity)
        snap = _open(self._root, identity)  # the one refresh() or a read just opened, if any
        if snap is not None:
            out.update(
                valid=True,
                path=str(where),
                n_rows=snap.meta["n_rows"],
                n_sources=snap.meta["n_sources"],
                bytes=sum(size for size, _ in snap.files.values()),
                built_at=snap.meta["built_at"],
                build_seconds=snap.meta.get("build_seconds"),
            )
        with contextlib.suppress(OSError):
            others = [
                p for p in where.parent.iterdir() if p != where and not p.name.startswith(".")
            ]
            out["n_stale"] = len(others)
        return out
