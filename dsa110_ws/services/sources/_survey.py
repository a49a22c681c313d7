"""Survey-wide work over the photometry dataset's partitions, in this process or on Dask.

Which engine runs (``engine="auto"``): SQLite for a database with fewer than ``[sources]
dataset_min_rows`` photometry rows (or with it at -1); else the dataset, computed on
Dask when a scheduler is configured (``DSA110_WS_DASK_SCHEDULER``) or the dataset has at
least ``dask_min_rows`` rows, else partition by partition in this process.  Every engine
gives the same table (the tests compare them to 1e-9): the per-partition functions of
:mod:`dsa110_ws.services.sources._partitions` run unchanged here and on a worker, and the
results are put in ``source_id`` order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dsa110_ws.errors import InvalidQueryError, one_line
from dsa110_ws.services.sources import _dataset_files as dsfiles
from dsa110_ws.services.sources import _partitions
from dsa110_ws.services.sources._dataset import ProgressArg, make_progress
from dsa110_ws.services.sources._dataset_files import bucket_of
from dsa110_ws.services.sources._timescales import DEFAULT_TIMESCALES
from dsa110_ws.services.sources._variability import FluxArrays, add_pairs, compute_metrics

if TYPE_CHECKING:
    from dsa110_ws.core.settings import SourcesSettings
    from dsa110_ws.services.sources._cluster import DaskCluster
    from dsa110_ws.services.sources._dataset import PhotometryDataset
    from dsa110_ws.services.sources._dataset_files import Manifest
    from dsa110_ws.services.sources._normalise import Normalisation

__all__ = ["ENGINES", "SurveyCompute"]

ENGINES = ("auto", "sqlite", "dataset", "dask")
#: attrs of a variability table that add up over partitions.
_SUMMED = (
    "n_rows_read",
    "n_rows_no_source",
    "n_rows_no_time",
    "n_rows_nan_flux",
    "n_rows_bad_error",
    "n_rows_uncorrected",
    "n_sources_normalised",
    "n_sources_raw",
    "n_sources_partly_normalised",
    "n_sources",
    "n_with_metrics",
    "n_too_few_epochs",
    "n_rows_used",
    "n_rows_rejected",
)


def _rebuilt_once(method: Callable[..., Any]) -> Callable[..., Any]:
    """Run a survey-wide product; when a dataset file turns out damaged (a page's CRC, a
    cut file), build the dataset again from the database and run it once more."""
    import functools

    @functools.wraps(method)
    def wrapper(self: SurveyCompute, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:
            if not dsfiles.is_damaged(exc):
                raise
            self.dataset.rebuild(reason=one_line(exc))
            return method(self, *args, **kwargs)

    return wrapper


class SurveyCompute:
    """Runs per-partition work over the dataset and combines it (used by ``w.sources``).

    Parameters
    ----------
    dataset
        The photometry dataset.
    settings
        ``[sources]``: ``dataset_min_rows``, ``dask_min_rows``.
    cluster
        The Dask cluster (connected only when Dask runs).
    """

    def __init__(self, dataset: PhotometryDataset, settings: SourcesSettings, cluster: DaskCluster):
        self.dataset = dataset
        self._settings = settings
        self.cluster = cluster

    def __repr__(self) -> str:
        return f"<SurveyCompute over {self.dataset.path} ({self.cluster.describe()})>"

    def engine(self, requested: str, approx_rows: Callable[[], int]) -> str:
        """The engine a survey-wide read uses (see module doc)."""
        if requested not in ENGINES:
            raise InvalidQueryError(f"engine={requested!r} is not one of {ENGINES}.")
        if requested != "auto":
            return requested
        s = self._settings
        if s.dataset_min_rows < 0:
            return "sqlite"
        n = approx_rows()
        if n < s.dataset_min_rows:
            return "sqlite"
        if self.cluster.scheduler or (s.dask_min_rows >= 0 and n >= s.dask_min_rows):
            return "dask"
        return "dataset"

    # -- running ---------------------------------------------------------------------
    def _partitions(self, man: Manifest, source_ids: Sequence[str] | None) -> list[list[str]]:
        parts = [[str(p) for p in part] for part in man.files(self.dataset.root)]
        if source_ids is not None:
            want = set(bucket_of(np.asarray(list(source_ids), dtype=object), man.n_partitions))
            parts = [p if i in want else [] for i, p in enumerate(parts)]
        return [p for p in parts if p]

    def run(
        self,
        fn: Callable[..., Any],
        parts: list[list[str]],
        kwargs: dict[str, Any],
        *,
        engine: str,
        progress: ProgressArg = False,
        desc: str = "partitions",
    ) -> list[Any]:
        """``fn(files, **kwargs)`` for every partition, in partition order."""
        update, close = make_progress(progress, unit="partition")
        try:
            if engine == "dask":
                return self._run_dask(fn, parts, kwargs, update, desc)
            out = []
            for i, files in enumerate(parts):
                out.append(fn(files, **kwargs))
                update(desc, i + 1, len(parts))
            return out
        finally:
            close()

    def _run_dask(self, fn, parts, kwargs, update, desc) -> list[Any]:
        from distributed import as_completed

        client = self.cluster.client()
        big = {k: client.scatter(v, broadcast=True) for k, v in kwargs.items() if _is_big(v)}
        kw = {**kwargs, **big}
        futures = [client.submit(fn, files, **kw, pure=False) for files in parts]
        index = {f.key: i for i, f in enumerate(futures)}
        out: list[Any] = [None] * len(futures)
        try:
            for n, fut in enumerate(as_completed(futures, loop=client.loop), start=1):
                out[index[fut.key]] = fut.result()
                update(desc, n, len(futures))
        except BaseException:  # interrupted or failed: leave nothing running
            client.cancel(futures)
            raise
        return out

    # -- the survey-wide products -----------------------------------------------------
    @_rebuilt_once
    def variability(
        self,
        *,
        engine: str,
        flux: str,
        min_epochs: int,
        start_mjd: float | None,
        end_mjd: float | None,
        source_ids: Sequence[str] | None,
        normalisation: Normalisation | None,
        progress: ProgressArg = False,
        timescales: Mapping[str, float] = DEFAULT_TIMESCALES,
    ) -> pd.DataFrame:
        """The variability table from the dataset (same columns and attrs as from SQLite)."""
        man = self.dataset.ensure(progress=progress)
        return self.variability_of(
            self._partitions(man, source_ids),
            engine=engine,
            have=man.columns,
            flux=flux,
            min_epochs=min_epochs,
            start_mjd=start_mjd,
            end_mjd=end_mjd,
            source_ids=source_ids,
            normalisation=normalisation,
            progress=progress,
            timescales=timescales,
        )

    def variability_of(
        self,
        parts: list[list[str]],
        *,
        engine: str,
        have: Sequence[str],
        flux: str = "auto",
        min_epochs: int = 2,
        start_mjd: float | None = None,
        end_mjd: float | None = None,
        source_ids: Sequence[str] | None = None,
        normalisation: Normalisation | None = None,
        progress: ProgressArg = False,
        timescales: Mapping[str, float] = DEFAULT_TIMESCALES,
    ) -> pd.DataFrame:
        """The variability table over the Parquet files ``parts`` (one list per partition,
        every source's rows in one partition, columns ``have``)."""
        kwargs = dict(
            flux=flux,
            have=list(have),
            min_epochs=min_epochs,
            start_mjd=start_mjd,
            end_mjd=end_mjd,
            source_ids=None if source_ids is None else [str(s) for s in source_ids],
            normalisation=normalisation,
            timescales=dict(timescales),
        )
        tables = self.run(
            _partitions.variability_part,
            parts,
            kwargs,
            engine=engine,
            progress=progress,
            desc="variability",
        )
        out = _combine_tables(tables, "source_id")
        if not len(out.columns):  # an empty dataset: the empty table, with its columns
            out = compute_metrics(_no_rows(), min_epochs=min_epochs, timescales=timescales)
        else:
            add_pairs(out)
        attrs: dict[str, Any] = {}
        for t in tables:
            for k, v in t.attrs.items():
                attrs[k] = attrs.get(k, 0) + v if k in _SUMMED else v
        if not tables:
            attrs = {k: 0 for k in _SUMMED} | {
                "flux": flux,
                "start_mjd": start_mjd,
                "end_mjd": end_mjd,
                "min_epochs": min_epochs,
            }
        out.attrs.update(attrs)
        return out

    @_rebuilt_once
    def catalogue(self, *, engine: str, progress: ProgressArg = False) -> pd.DataFrame:
        """The catalogue derived from photometry, one row per source, ``id`` order."""
        man = self.dataset.ensure(progress=progress)
        parts = self._partitions(man, None)
        frames = self.run(
            _partitions.catalogue_part,
            parts,
            {"have": man.columns},
            engine=engine,
            progress=progress,
            desc="catalogue",
        )
        return _combine_tables(frames, "id")

    @_rebuilt_once
    def normalisation(
        self,
        *,
        engine: str,
        start_mjd: float | None,
        end_mjd: float | None,
        progress: ProgressArg = False,
        **params: Any,
    ) -> Normalisation:
        """The reference normalisation from the dataset: candidate reference rows and per
        image observation times gathered from the partitions, then one solve."""
        from dsa110_ws.services.sources._normalise import solve_codes

        man = self.dataset.ensure(progress=progress)
        kw = {
            "snr_min": params.get("snr_min", 30.0),
            "min_epochs": params.get("min_epochs", 3),
            "start_mjd": start_mjd,
            "end_mjd": end_mjd,
        }
        got = self.run(
            _partitions.reference_part,
            self._partitions(man, None),
            kw,
            engine=engine,
            progress=progress,
            desc="normalisation",
        )
        rows = pd.concat([r for r, _ in got], ignore_index=True) if got else None
        times = pd.concat([t for _, t in got], ignore_index=True) if got else None
        if rows is None or times is None:
            rows = pd.DataFrame(
                {"id": [], "source_id": [], "image_path": [], "flux_jy": [], "flux_err_jy": []}
            )
            times = pd.DataFrame({"image_path": [], "obs_mjd": [], "n": []})
        rows = rows.sort_values("id", kind="stable")  # SQLite's row order
        images, image_mjd = _image_medians(times)
        sources = np.asarray(sorted(set(rows["source_id"])), dtype=object)
        src = pd.Index(sources).get_indexer(rows["source_id"]).astype(np.int64)
        img = pd.Index(images).get_indexer(rows["image_path"]).astype(np.int64)
        return solve_codes(
            src,
            img,
            rows["flux_jy"].to_numpy(float),
            rows["flux_err_jy"].to_numpy(float),
            source_names=sources,
            image_names=images,
            image_mjd=image_mjd,
            **params,
        )


def _no_rows() -> FluxArrays:
    z = np.zeros(0)
    return FluxArrays(np.zeros(0, dtype=object), z.astype(np.int64), z, z, z, z.astype(object))


def _is_big(value: Any) -> bool:
    return value is not None and not isinstance(value, (str, int, float, bool, list, tuple))


def _combine_tables(tables: list[pd.DataFrame], key: str) -> pd.DataFrame:
    if not tables:
        return pd.DataFrame()
    tables = [t for t in tables if len(t)] or tables[:1]
    out = pd.concat(tables, ignore_index=True) if len(tables) > 1 else tables[0].copy()
    out.attrs.clear()
    order = np.argsort(out[key].to_numpy().astype(str), kind="stable")
    return out.iloc[order].reset_index(drop=True)


def _image_medians(times: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per image (sorted), the median of its rows' observation times (NaN last), from
    (image, time, count) triples: what a median over every row gives."""
    if times.empty:
        return np.zeros(0, dtype=object), np.zeros(0)
    t = times.groupby(["image_path", "obs_mjd"], dropna=False, sort=False)["n"].sum()
    t = t.reset_index()
    images = np.asarray(sorted(set(t["image_path"])), dtype=object)
    code = pd.Index(images).get_indexer(t["image_path"]).astype(np.int64)
    val = t["obs_mjd"].to_numpy(float)
    cnt = t["n"].to_numpy(np.int64)
    rank = np.empty(len(val), dtype=np.int64)
    rank[np.argsort(val, kind="stable")] = np.arange(len(val))  # NaN last
    order = np.argsort(code * len(val) + rank, kind="stable")
    code, val, cnt = code[order], val[order], cnt[order]
    total = np.bincount(code, weights=cnt, minlength=len(images)).astype(np.int64)
    end = np.cumsum(cnt)  # cumulative within everything; offset per image
    first = np.searchsorted(code, np.arange(len(images)))
    base = np.concatenate([[0], end])[first]

    def kth(k: np.ndarray) -> np.ndarray:
        return val[np.searchsorted(end, base + k, side="right")]

    return images, 0.5 * (kth((total - 1) // 2) + kth(total // 2))
