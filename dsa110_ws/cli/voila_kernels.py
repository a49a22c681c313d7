"""The dashboards' Voila kernel manager: at most ``max_kernels`` kernels at once.

Voila starts one kernel per page view and has no limit of its own.  This manager (named by
``VoilaConfiguration.multi_kernel_manager_class`` in the dashboards' ``voila.json``) refuses
a kernel beyond the limit before Voila writes any of the page, so the viewer over the limit
gets Voila's error page, status 503, saying why and what to do, and the viewers already
in keep working.  Kernels being started count (a burst of requests cannot overshoot), and
so does a preheated kernel waiting for the next viewer.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from tornado.web import HTTPError
from traitlets import Integer, Unicode

__all__ = ["LimitedKernelManager"]


class LimitedKernelManager(AsyncMappingKernelManager):
    """An ``AsyncMappingKernelManager`` refusing new kernels beyond ``max_kernels``."""

    max_kernels = Integer(0, config=True, help="Most kernels running at once (0: no limit).")
    busy_message = Unicode(
        "Dashboard busy: {n} of {limit} viewer sessions are in use. Close another dashboard "
        "tab or try again in a few minutes (the operator can raise [dashboard] max_kernels).",
        config=True,
        help="Reason shown to the viewer over the limit ({n} kernels, {limit}).",
    )

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._starting = 0  # starts in progress are not in list_kernel_ids() yet
        self.refused = 0

    async def start_kernel(  # type: ignore[override]
        self, *, kernel_id: str | None = None, **kwargs: Any
    ) -> str:
        if kernel_id is None and self.max_kernels > 0:
            n = len(self.list_kernel_ids()) + self._starting
            if n >= self.max_kernels:
                self.refused += 1
                self.log.warning(
                    "Refusing a dashboard kernel: %d running or starting, limit %d",
                    n,
                    self.max_kernels,
                )
                raise HTTPError(503, reason=self.busy_message.format(n=n, limit=self.max_kernels))
        self._starting += 1
        try:
            return await super().start_kernel(kernel_id=kernel_id, **kwargs)
        finally:
            self._starting -= 1
