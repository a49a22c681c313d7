"""The Dask cluster survey-wide work runs on: the scheduler of ``DSA110_WS_DASK_SCHEDULER``
(``settings.dask_scheduler``), else a ``LocalCluster`` sized to this machine.

The local cluster has one single-threaded worker process per CPU core (``[sources]
dask_workers`` to change), each with a memory limit (``dask_memory_limit_gb``; default 80 %
of the machine's memory shared among the workers), its scheduler on 127.0.0.1 (ports,
the diagnostics one included, chosen by the system as they are bound), and is started on
first use and closed with the workspace (or at exit).  Every connection (to a scheduler, or to
the local cluster as it starts) gives up after ``dask_timeout_s`` with a
:class:`~dsa110_ws.errors.DataUnavailableError` naming the address.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from typing import Any

from dsa110_ws.errors import DataUnavailableError, OptionalDependencyError, one_line

__all__ = ["DaskCluster", "WORKER_MALLOC", "local_sizing"]

#: glibc's malloc settings of a local worker.  Dask's nanny sets the trim threshold to
#: 64 kB, which also turns off glibc's adaptive mmap threshold: every large numpy
#: temporary is then a fresh mmap, page-faulted in and unmapped again (measured: the
#: variability of 10^7 rows on two workers took 7.4 s instead of 3.0 s, with six times
#: the page faults of the same work in one process).  Freed memory up to 256 MB is kept
#: for reuse instead.
WORKER_MALLOC = {
    "MALLOC_TRIM_THRESHOLD_": str(256 * 2**20),
    "MALLOC_MMAP_THRESHOLD_": str(256 * 2**20),
}


def local_sizing(workers: int | None, memory_limit_gb: float | None) -> tuple[int, int]:
    """(workers, memory limit per worker in bytes) for a local cluster on this machine."""
    import psutil

    n = int(workers or os.cpu_count() or 1)
    per = (
        float(memory_limit_gb) * 1e9 if memory_limit_gb else 0.8 * psutil.virtual_memory().total / n
    )
    return n, int(per)


@contextlib.contextmanager
def _malloc_before_spawn() -> Iterator[None]:
    """:data:`WORKER_MALLOC` in the environment the nannies spawn their workers with.

    glibc reads these once, as a process starts: they must be in the environment the
    worker process is started with (dask's ``pre-spawn-environ``, kept by each nanny for
    its restarts too), not set by the worker after it has started (the ``env`` argument of
    a ``LocalCluster``, which had no effect).  A value already in this process's
    environment takes precedence over dask's configuration, and any local cluster started
    before in this process has left dask's own 64 kB there (its nanny writes its
    pre-spawn environment into this process to spawn): so they are set here too while the
    cluster starts, and this process's environment is restored afterwards."""
    import dask
    import distributed  # noqa: F401 - loads distributed's configuration defaults

    saved = {k: os.environ.get(k) for k in WORKER_MALLOC}
    key = "distributed.nanny.pre-spawn-environ"
    try:
        os.environ.update(WORKER_MALLOC)
        with dask.config.set({key: {**dask.config.get(key, {}), **WORKER_MALLOC}}):
            yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class DaskCluster:
    """A Dask client, connected on first use (``client()``), closed by :meth:`close`.

    Parameters
    ----------
    scheduler
        Address of a running scheduler (``tcp://host:8786``); None: a local cluster.
    workers, memory_limit_gb
        Size of the local cluster (see :func:`local_sizing`).
    timeout_s
        Seconds to connect or to start the local cluster.
    """

    def __init__(
        self,
        scheduler: str | None,
        *,
        workers: int | None = None,
        memory_limit_gb: float | None = None,
        timeout_s: float = 30.0,
    ):
        self.scheduler = scheduler or None
        self.workers, self.memory_limit = local_sizing(workers, memory_limit_gb)
        self.timeout_s = float(timeout_s)
        self._lock = threading.Lock()
        self._client: Any = None
        self._cluster: Any = None

    def __repr__(self) -> str:
        return f"<DaskCluster {self.describe()}>"

    def describe(self) -> str:
        if self.scheduler:
            return f"scheduler {self.scheduler}"
        return f"local cluster of {self.workers} workers x {self.memory_limit / 1e9:.1f} GB" + (
            " (running)" if self._client is not None else ""
        )

    def client(self) -> Any:
        """The connected ``distributed.Client`` (connecting or starting on first use)."""
        with self._lock:
            if self._client is None:
                self._client = self._connect()
                atexit.register(self.close)
            return self._client

    def _connect(self) -> Any:
        try:
            import dask
            from distributed import Client, LocalCluster
        except ImportError:
            raise OptionalDependencyError(
                "Survey-wide work on Dask needs dask.distributed: pip install "
                "'dask[distributed]' (or set [sources] dask_min_rows = -1)."
            ) from None
        timeout = f"{self.timeout_s}s"
        try:
            with dask.config.set({"distributed.comm.timeouts.connect": timeout}):
                if self.scheduler:  # asked who it is first: a silent socket is bounded
                    from dsa110_ws.services.dask_probe import probe_scheduler

                    probe_scheduler(self.scheduler, self.timeout_s)
                    return Client(self.scheduler, timeout=timeout, set_as_default=False)
                with _malloc_before_spawn():
                    self._cluster = LocalCluster(
                        n_workers=self.workers,
                        threads_per_worker=1,
                        processes=True,
                        memory_limit=self.memory_limit,
                        dashboard_address=":0",  # its HTTP server always runs: any free port
                        silence_logs=logging.ERROR,
                        host="127.0.0.1",
                    )
                return Client(self._cluster, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            self._shutdown_cluster()
            where = self.scheduler or "a local cluster"
            raise DataUnavailableError(
                f"Could not reach {where} within {self.timeout_s:g} s ({one_line(exc)}); "
                "check DSA110_WS_DASK_SCHEDULER, raise [sources] dask_timeout_s, or set "
                "[sources] dask_min_rows = -1 to compute in this process."
            ) from None

    def _shutdown_cluster(self) -> None:
        if self._cluster is not None:
            with contextlib.suppress(Exception):  # best effort on the way out
                self._cluster.close()
            self._cluster = None

    def close(self) -> None:
        """Disconnect (and stop the local cluster, if this object started one)."""
        with self._lock:
            if self._client is not None:
                with contextlib.suppress(Exception):
                    self._client.close()
                self._client = None
            self._shutdown_cluster()
