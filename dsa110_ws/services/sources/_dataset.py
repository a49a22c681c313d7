"""``w.dataset``: the photometry of one pipeline database as a Parquet dataset.

A documented public product, kept in the workspace's state dir and refreshed exactly and
incrementally from SQLite (:mod:`dsa110_ws.services.sources._dataset_refresh`; layout in
:mod:`dsa110_ws.services.sources._dataset_files`).  ``w.sources.dataset()`` hands it to
a user::

    ds = w.sources.dataset()           # refreshed if the database changed
    ds.path                            # <state>/datasets/photometry/<key>/current
    ds.to_arrow()                      # a pyarrow.dataset.Dataset
    ds.to_dask()                       # a dask DataFrame, one partition per file

and pandas (``pd.read_parquet(ds.path)``), DuckDB (``read_parquet('<path>/*/*.parquet')``)
and polars (``pl.scan_parquet('<path>/*/*.parquet')``) read the directory directly: it
holds exactly the current rows, whatever the manifest says.

Columns (Arrow types; the pipeline's names): ``id`` int64, ``source_id`` and
``image_path`` string, ``mjd`` (as stored), ``obs_mjd`` (observation time: ``mjd``, else the
mid time of the image's Measurement Set), ``ra_deg``, ``dec_deg``, ``nvss_flux_mjy``,
``flux_jy``, ``flux_err_jy``, ``normalized_flux_jy``, ``normalized_flux_err_jy`` (float64,
NULL as null), those the database has.  Rows are partitioned by a hash of ``source_id``
and sorted by (``source_id``, ``obs_mjd``, ``id``) within each file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dsa110_ws.errors import DataUnavailableError, one_line
from dsa110_ws.services.sources import _dataset_build as build_mod
from dsa110_ws.services.sources import _dataset_files as files
from dsa110_ws.services.sources import _dataset_refresh as refresh_mod

if TYPE_CHECKING:
    from dsa110_ws.core.settings import SourcesSettings
    from dsa110_ws.repositories import Database
    from dsa110_ws.services.sources._dataset_files import Manifest

__all__ = ["PhotometryDataset", "make_progress"]

ProgressArg = bool | Callable[[str, int, int], None]


def make_progress(
    progress: ProgressArg, *, unit: str = "row"
) -> tuple[Callable[[str, int, int], None], Callable]:
    """A ``progress(stage, done, total)`` callback and a closer: tqdm bars (one per
    stage, on stderr; widgets in a notebook; shown only for work that lasts more than
    two seconds) for ``True``, nothing for ``False``; a callable is used as it is."""
    if callable(progress):
        return progress, lambda: None
    if not progress:
        return (lambda stage, done, total: None), lambda: None
    from tqdm.auto import tqdm

    bars: dict[str, Any] = {}

    def update(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            for other in bars.values():
                other.close()
            bar = bars[stage] = tqdm(
                total=total or None, desc=stage, unit=unit, leave=False, delay=2.0
            )
        if total and bar.total != total:
            bar.total = total
        bar.update(done - bar.n)  # shows only once the work has lasted `delay` seconds

    def close() -> None:
        for bar in bars.values():
            bar.close()

    return update, close


class PhotometryDataset:
    """The photometry dataset of one pipeline database (``w.dataset``).

    Parameters
    ----------
    db
        The pipeline database it is built from (read-only).
    state_dir
        The workspace's state directory (the dataset goes under ``datasets/photometry``).
    settings
        ``[sources]``: ``dataset_partitions``, ``dataset_full_check_hours``,
        ``dataset_reader``, ``dataset_build_processes``.
    """

    def __init__(self, db: Database, state_dir: str | os.PathLike[str], settings: SourcesSettings):
        self._db = db
        self._settings = settings
        self.root = Path(state_dir) / "datasets" / "photometry" / files.digest(str(db.path))
        self._man: Manifest | None = None
        #: Why the last rebuild after damage happened (None: none in this process).
        self.last_damage: str | None = None

    def __repr__(self) -> str:
        man = self.manifest()
        what = "not built" if man is None else f"{man.n_rows:,} rows, v{man.version}"
        return f"<PhotometryDataset of {self._db.describe()}: {what} at {self.path}>"

    @property
    def path(self) -> Path:
        """The directory of the current version (a stable link; glob ``*/*.parquet``)."""
        return self.root / "current"

    def manifest(self) -> Manifest | None:
        """The current manifest (None when the dataset was never built)."""
        self._man = files.load_manifest(self.root)
        return self._man

    def is_current(self) -> bool:
        """Whether the manifest's recorded file identity matches the database now
        (no SQL; False just means a refresh has to look)."""
        man = self._man if self._man is not None else self.manifest()
        return bool(
            man is not None
            and man.n_partitions == self._settings.dataset_partitions
            and man.identity is not None
            and man.identity == files.db_identity(self._db.path)
            and (self.root / man.dirname).is_dir()
        )

    # -- refresh -----------------------------------------------------------------------
    def refresh(self, *, full: bool = False, progress: ProgressArg = True) -> dict[str, Any]:
        """Bring the dataset up to the database (built on first use), then :meth:`status`.

        ``full=True`` also checks every row for in-place updates (reads them all).
        ``progress``: tqdm bars (True), none (False), or ``callback(stage, done, total)``.
        ``status()["last_refresh"]`` says what the refresh did: ``mode`` ("current",
        "appends", "ids", "full", "build"), ``rows_read`` (rows read into the dataset),
        ``rows_checked`` (rows read only to compare), images added / changed / removed,
        ``seconds``.  An interrupted refresh leaves the previous version in place.
        """
        self._update(full=full, progress=progress)
        return self.status()

    def ensure(self, *, progress: ProgressArg = False) -> Manifest:
        """The manifest of a dataset matching the database now (refreshing as needed)."""
        if not self.is_current():
            self._update(full=False, progress=progress)
        assert self._man is not None
        return self._man

    def _update(self, *, full: bool, progress: ProgressArg) -> None:
        from dsa110_ws.repositories.photometry_arrow import MixedTypesError

        s = self._settings
        callback, close = make_progress(progress)
        try:
            with files.locked(self.root):
                man = self.manifest()  # another process may have refreshed meanwhile
                if man is not None and not full and self.is_current():
                    return
                try:
                    self._man = self._write(man, full, callback, s.dataset_reader)
                except MixedTypesError:
                    if s.dataset_reader != "auto":
                        raise
                    self._man = self._write(man, full, callback, "sqlite3")
        except OSError as exc:
            if isinstance(exc, DataUnavailableError):
                raise
            raise DataUnavailableError(
                f"Could not write the photometry dataset in {self.root} ({one_line(exc)}); "
                "free space there or point DSA110_WS_STATE_DIR elsewhere, or set "
                "[sources] dataset_min_rows = -1 to read SQLite directly."
            ) from None
        finally:
            close()

    def rebuild(self, reason: str) -> Manifest:
        """Build the dataset again from the database (a file of it was found damaged:
        ``reason``); the damaged version is replaced whole, never patched."""
        s = self._settings
        callback, close = make_progress(False)
        try:
            with files.locked(self.root):
                self._man = self._write(None, True, callback, s.dataset_reader)
        finally:
            close()
        self.last_damage = reason
        return self._man

    def _write(self, man: Manifest | None, full: bool, callback: Any, driver: str) -> Manifest:
        from dsa110_ws.repositories.photometry_arrow import PhotometryReader

        s = self._settings
        reader = PhotometryReader(self._db, driver=driver)
        if (
            man is None
            or man.n_partitions != s.dataset_partitions
            or list(reader.columns) != man.columns
        ):
            return build_mod.build(
                self.root,
                self._db.path,
                reader,
                n_partitions=s.dataset_partitions,
                version=1 if man is None else man.version + 1,
                processes=s.dataset_build_processes or min(os.cpu_count() or 1, 4),
                progress=callback,
            )
        return refresh_mod.refresh(
            self.root,
            self._db.path,
            reader,
            man,
            full=full,
            full_check_hours=s.dataset_full_check_hours,
            progress=callback,
        )

    # -- what a user gets ----------------------------------------------------------------
    def files(self) -> list[list[str]]:
        """The Parquet files of the current version, per partition (refreshed first)."""
        man = self.ensure()
        return [[str(p) for p in part] for part in man.files(self.root)]

    def to_arrow(self) -> Any:
        """The current rows as a ``pyarrow.dataset.Dataset`` (refreshed first)."""
        import pyarrow.dataset as pads

        return pads.dataset([f for part in self.files() for f in part], format=files.verified())

    def to_dask(self) -> Any:
        """The current rows as a dask DataFrame (one partition per file; refreshed first)."""
        import dask.dataframe as dd

        paths = [f for part in self.files() for f in part]
        return dd.read_parquet(paths, split_row_groups=False)

    def status(self) -> dict[str, Any]:
        """Where the dataset is and what it holds: ``path``, ``rows``, ``partitions``,
        ``files``, ``bytes``, ``database``, ``state`` ("current": the database file is as
        recorded; "unchecked": it changed since, or the last refresh raced a write, so
        the next read checks SQLite), ``max_id``, ``last_refresh``..."""
        man = self.manifest()
        out: dict[str, Any] = {
            "database": str(self._db.path),
            "path": str(self.path),
            "built": man is not None,
            "last_damage": self.last_damage,
        }
        if man is None:
            return out
        paths = [p for part in man.files(self.root) for p in part]
        out.update(
            version=man.version,
            rows=man.n_rows,
            partitions=man.n_partitions,
            files=len(paths),
            bytes=sum(p.stat().st_size for p in paths),
            columns=man.columns,
            max_id=man.max_id,
            state="current" if self.is_current() else "unchecked",
            refreshed_at=man.refreshed_at,
            last_full_check=man.last_full_check,
            last_refresh=man.last_refresh,
        )
        return out
