"""Batch work over many products: QA of a night's images, a set's caltables, a list of MS.

``w.batch.run(task, items)`` runs a task on every item -- on a local process pool by default,
on a ``dask.distributed`` cluster when ``settings.dask_scheduler`` is set -- with a progress
bar that works in terminals and notebooks (``tqdm.auto``).  Each item's outcome is a row
``item, status ('ok' or 'failed'), error, result, seconds``: one bad product is recorded with
its reason and never stops the batch.  Workers receive the workspace *settings* (picklable),
not the workspace, and build their own services with the factory the runner was given
(``dsa110_ws.Workspace``); they share the derived-product cache on disk.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import pickle
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

from dsa110_ws.errors import InvalidQueryError, one_line

if TYPE_CHECKING:
    from dsa110_ws.config import Settings
    from dsa110_ws.services.products.fits import FitsImageService
    from dsa110_ws.services.products.ms import MSService
    from dsa110_ws.services.products.qa import QAService

__all__ = ["BatchRunner", "ProductServices", "TASKS", "MODES"]

MODES = ("auto", "processes", "threads", "serial", "dask")
#: Seconds to wait for the dask scheduler before giving up.
DASK_CONNECT_TIMEOUT_S = 10.0


class ProductServices(Protocol):
    """What a worker needs to run the named tasks (a :class:`~dsa110_ws.Workspace` is one)."""

    @property
    def qa(self) -> QAService: ...

    @property
    def ms(self) -> MSService: ...

    @property
    def fits(self) -> FitsImageService: ...


#: Builds a worker's services from the (picklable) settings: ``dsa110_ws.Workspace``.
ServiceFactory = Callable[["Settings"], ProductServices]


def _image_qa(w: ProductServices, item: str, **kw: Any) -> Any:
    return w.qa.image(item, **kw)


def _cal_qa(w: ProductServices, item: str, **kw: Any) -> Any:
    return w.qa.cal(item, **kw)


def _ms_summary(w: ProductServices, item: str, **kw: Any) -> Any:
    return w.ms.summary(item, **kw)


def _ms_flag_stats(w: ProductServices, item: str, **kw: Any) -> Any:
    return w.ms.flag_stats(item, **kw)


def _thumbnail(w: ProductServices, item: str, **kw: Any) -> int:
    return len(w.fits.thumbnail(item, **kw))


def _fits_stats(w: ProductServices, item: str, **kw: Any) -> Any:
    return w.fits.stats(item, **kw)


#: Named tasks: ``name -> function(services, item, **kwargs)``.
TASKS: dict[str, Callable[..., Any]] = {
    "image_qa": _image_qa,
    "cal_qa": _cal_qa,
    "ms_summary": _ms_summary,
    "ms_flag_stats": _ms_flag_stats,
    "thumbnail": _thumbnail,
    "fits_stats": _fits_stats,
}

_WORKER_STATE: dict[str, Any] = {}


def _worker_services(build: ServiceFactory, settings: Settings) -> ProductServices:
    """One set of services per worker process, rebuilt only when the settings change."""
    if _WORKER_STATE.get("settings") != settings:
        _WORKER_STATE.update(settings=settings, services=build(settings))
    return _WORKER_STATE["services"]


Worker = tuple["ServiceFactory", "Settings"]


def run_item(
    task: str | Callable[..., Any], worker: Worker, item: Any, kwargs: dict[str, Any]
) -> tuple[str, str | None, Any, float]:
    """Run one item; returns ``(status, error, result, seconds)``.  Never raises for the item."""
    t0 = time.perf_counter()
    try:
        if isinstance(task, str):
            result = TASKS[task](_worker_services(*worker), item, **kwargs)
        else:
            result = task(item, **kwargs)
    except Exception as exc:  # noqa: BLE001 - a failed item is recorded, the batch goes on
        return "failed", one_line(exc), None, time.perf_counter() - t0
    return "ok", None, result, time.perf_counter() - t0


class BatchRunner:
    """Run a task over many products (``w.batch``)."""

    def __init__(self, settings: Settings, build: ServiceFactory):
        self._settings = settings
        self._build = build

    def __repr__(self) -> str:
        where = self._settings.dask_scheduler or "local process pool"
        return f"<BatchRunner on {where}: run, image_qa, cal_qa, ms_summaries, thumbnails>"

    @property
    def uses_dask(self) -> bool:
        """Whether ``mode="auto"`` runs on a dask cluster (a scheduler is configured)."""
        return bool(self._settings.dask_scheduler)

    def run(
        self,
        task: str | Callable[..., Any],
        items: Iterable[Any],
        *,
        mode: str = "auto",
        workers: int | None = None,
        progress: bool = True,
        desc: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Run ``task`` on every item; returns a DataFrame in the order of ``items``.

        Parameters
        ----------
        task
            A name in :data:`TASKS` (``"image_qa"``, ``"cal_qa"``, ``"ms_summary"``,
            ``"ms_flag_stats"``, ``"thumbnail"``, ``"fits_stats"``), called as
            ``w.<service>(item, **kwargs)`` in the worker, or a callable ``task(item, **kwargs)``
            (module-level, so it can be pickled, for processes and dask).
        items
            Product paths (or any picklable items for a callable), or a DataFrame with a
            ``path`` column such as ``w.images.find(night)``.
        mode
            ``"auto"`` (dask when ``settings.dask_scheduler`` is set, else processes for more
            than one item), ``"processes"``, ``"threads"``, ``"serial"`` or ``"dask"``.
        workers
            Pool size (default: CPU count, at most the number of items).
        progress
            Show a tqdm progress bar.

        Returns
        -------
        pandas.DataFrame
            ``item, status, error, result, seconds``.
        """
        if hasattr(items, "columns") and "path" in items.columns:  # e.g. w.images.find(...)
            items = items["path"]  # type: ignore[index]
        items = list(items)
        if isinstance(task, str) and task not in TASKS:
            raise InvalidQueryError(f"Unknown batch task {task!r}; known: {sorted(TASKS)}.")
        if mode not in MODES:
            raise InvalidQueryError(f"Unknown batch mode {mode!r}; use one of {MODES}.")
        if workers is not None and (not isinstance(workers, int) or workers < 1):
            raise InvalidQueryError(f"workers must be a positive integer (got {workers!r}).")
        mode = self._resolve_mode(mode, len(items))
        if mode in ("processes", "dask") and not isinstance(task, str):
            _check_picklable(task)
        label = desc or (task if isinstance(task, str) else getattr(task, "__name__", "task"))
        outcomes = self._execute(task, items, mode, workers, progress, label, kwargs)
        return _frame(items, outcomes)

    def _resolve_mode(self, mode: str, n: int) -> str:
        if mode == "auto":
            if self._settings.dask_scheduler:
                return "dask"
            return "processes" if n > 1 else "serial"
        if mode == "dask" and not self._settings.dask_scheduler:
            raise InvalidQueryError(
                "mode='dask' needs a scheduler address: set DSA110_WS_DASK_SCHEDULER "
                "(settings.dask_scheduler), e.g. tcp://scheduler:8786."
            )
        return mode

    def _execute(self, task, items, mode, workers, progress, label, kwargs) -> list[tuple]:
        from tqdm.auto import tqdm

        worker: Worker = (self._build, self._settings)
        outcomes: list[tuple | None] = [None] * len(items)
        with tqdm(total=len(items), desc=label, disable=not progress, unit="item") as bar:
            if mode == "serial" or not items:
                for i, item in enumerate(items):
                    outcomes[i] = run_item(task, worker, item, kwargs)
                    bar.update(1)
            elif mode == "dask":
                _run_dask(task, worker, items, kwargs, outcomes, bar)
            else:
                _run_pool(
                    task,
                    worker,
                    items,
                    kwargs,
                    outcomes,
                    bar,
                    mode,
                    workers or min(len(items), os.cpu_count() or 1),
                )
        return outcomes  # type: ignore[return-value]

    # -- conveniences ---------------------------------------------------------------
    def image_qa(self, paths: Iterable[str], **kwargs: Any) -> Any:
        """QA of many images: one row per image with its grade, reasons and key metrics."""
        return _flatten(
            self.run("image_qa", paths, **kwargs),
            [
                "grade",
                "rms_jy",
                "peak_jy",
                "dynamic_range",
                "n_islands",
                "blanked_fraction",
                "beam_major_arcsec",
                "beam_minor_arcsec",
                "beam_pa_deg",
            ],
        )

    def cal_qa(self, paths: Iterable[str], **kwargs: Any) -> Any:
        """QA of many caltables: one row per table with its type, grade, reasons and metrics."""
        return _flatten(
            self.run("cal_qa", paths, **kwargs),
            [
                "table_type",
                "grade",
                "flag_fraction",
                "amp_median",
                "phase_scatter_deg",
                "snr_median",
                "dead_antennas",
            ],
        )

    def ms_summaries(self, paths: Iterable[str], **kwargs: Any) -> Any:
        """Summaries of many Measurement Sets: one row per MS."""
        return _flatten(
            self.run("ms_summary", paths, **kwargs),
            [
                "n_rows",
                "n_antennas",
                "n_antennas_with_data",
                "time_start_mjd",
                "time_end_mjd",
                "integration_s",
                "flag_fraction",
                "flag_fraction_cross",
            ],
            reasons=False,
        )

    def thumbnails(self, paths: Iterable[str], **kwargs: Any) -> Any:
        """Render (and cache) thumbnails of many images; ``result`` is the PNG size in bytes."""
        return self.run("thumbnail", paths, **kwargs)


def _check_picklable(task: Callable[..., Any]) -> None:
    try:
        pickle.dumps(task)
    except (pickle.PicklingError, AttributeError, TypeError) as exc:
        raise InvalidQueryError(
            f"Batch task {task!r} cannot be sent to worker processes ({exc}); define it at module "
            "level, or use mode='threads' or mode='serial'."
        ) from None


def _pool(mode: str, workers: int) -> cf.Executor:
    if mode == "threads":
        return cf.ThreadPoolExecutor(max_workers=workers)
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    return cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx)


def _run_pool(task, worker, items, kwargs, outcomes, bar, mode, workers) -> None:
    pool = _pool(mode, workers)
    try:
        futures = {
            pool.submit(run_item, task, worker, item, kwargs): i for i, item in enumerate(items)
        }
        for fut in cf.as_completed(futures):
            i = futures[fut]
            try:
                outcomes[i] = fut.result()
            except Exception as exc:  # noqa: BLE001 - a dead worker fails its item only
                outcomes[i] = ("failed", f"worker failed: {one_line(exc)}", None, float("nan"))
            bar.update(1)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _run_dask(task, worker, items, kwargs, outcomes, bar) -> None:
    try:
        from distributed import as_completed
    except ImportError:
        from dsa110_ws.errors import OptionalDependencyError

        raise OptionalDependencyError(
            "A dask scheduler is configured but dask.distributed is not installed: "
            "pip install 'dask[distributed]'."
        ) from None
    from dsa110_ws.services.dask_probe import connect_client

    client = connect_client(worker[1].dask_scheduler, DASK_CONNECT_TIMEOUT_S)
    try:
        futures = {
            client.submit(run_item, task, worker, item, kwargs, pure=False): i
            for i, item in enumerate(items)
        }
        for fut in as_completed(list(futures), loop=client.loop):
            i = futures[fut]
            try:
                outcomes[i] = fut.result()
            except Exception as exc:  # noqa: BLE001 - a lost worker fails its item only
                outcomes[i] = ("failed", f"dask worker failed: {one_line(exc)}", None, float("nan"))
            bar.update(1)
    finally:
        client.close()


def _frame(items: list[Any], outcomes: list[tuple]) -> Any:
    import pandas as pd

    return pd.DataFrame(
        {
            "item": items,
            "status": [o[0] for o in outcomes],
            "error": [o[1] for o in outcomes],
            "result": [o[2] for o in outcomes],
            "seconds": [o[3] for o in outcomes],
        }
    )


def _flatten(df: Any, fields: list[str], *, reasons: bool = True) -> Any:
    """Add ``fields`` of each result (``None`` for failed rows) and ``reasons`` as columns."""
    for name in fields:
        df[name] = [getattr(r, name, None) if r is not None else None for r in df["result"]]
    if reasons:
        df["reasons"] = ["; ".join(r.reasons) if r is not None else None for r in df["result"]]
    cols = ["item", "status", "error", *fields] + (["reasons"] if reasons else [])
    return df[[*cols, "result", "seconds"]]
