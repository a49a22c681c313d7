"""Executing a template with papermill in a kernel of this interpreter."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

__all__ = ["execute_notebook", "cell_seconds"]


def _kernel_manager_class() -> type:
    """A kernel manager that starts ``python -m ipykernel`` with *this* interpreter (the
    venv's), whatever ``python3`` kernelspec a user may have installed elsewhere."""
    from ipykernel.kernelspec import get_kernel_dict
    from jupyter_client.kernelspec import KernelSpec
    from jupyter_client.manager import AsyncKernelManager

    class ReportKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs: Any):
            import zmq

            if zmq.has("curve"):  # encrypt the loopback channels when libzmq can
                kwargs.setdefault("transport_encryption", "auto")
            super().__init__(**kwargs)

        @property
        def kernel_spec(self) -> KernelSpec:
            if self._kernel_spec is None:  # ipykernel's own spec: argv[0] = sys.executable
                self._kernel_spec = KernelSpec(**get_kernel_dict())
            return self._kernel_spec

    return ReportKernelManager


def execute_notebook(
    template: Path,
    nb_out: Path,
    parameters: dict[str, Any],
    *,
    cwd: Path,
    timeout_s: float,
    start_timeout_s: float,
    marks: dict[str, float],
) -> None:
    """papermill with the venv kernel; ``marks['ready']`` is set when the kernel is up."""
    import papermill

    def _ready(**_: Any) -> None:
        marks["ready"] = time.perf_counter()

    papermill.execute_notebook(
        str(template),
        str(nb_out),
        parameters=parameters,
        kernel_name="python3",
        cwd=str(cwd),
        progress_bar=False,
        log_output=False,
        start_timeout=max(1, math.ceil(start_timeout_s)),  # nbclient wants whole seconds
        execution_timeout=max(1, math.ceil(timeout_s)),
        kernel_manager_class=_kernel_manager_class(),
        shutdown_kernel="immediate",
        on_notebook_start=_ready,
    )


def cell_seconds(nb_path: Path) -> float:
    try:
        nb = json.loads(nb_path.read_text())
    except (OSError, ValueError):
        return 0.0
    return float(
        sum(
            (c.get("metadata", {}).get("papermill", {}).get("duration") or 0.0)
            for c in nb.get("cells", [])
        )
    )
