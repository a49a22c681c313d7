"""The dashboards' kernels: which are running over this state and how much memory each holds.

Every Voila viewer of a dashboard has a kernel of its own (about 0.2 GB).  A dashboard built
inside a kernel registers the kernel's process id in ``<state_dir>/kernels/<pid>.json``;
:meth:`DashboardKernels.list` reads the registrations, drops those whose process is gone,
and measures each live one from ``/proc`` (resident set, and proportional set: shared
library pages counted once across kernels).  ``dsa110-ws health`` prints the result.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from dsa110_ws.core.atomic import atomic_write

__all__ = ["DashboardKernels", "KernelInfo", "process_memory_mib"]

_MIB = 1024.0 * 1024.0


@dataclass(frozen=True)
class KernelInfo:
    """One live dashboard kernel (memory in MiB; ``None`` where ``/proc`` cannot tell)."""

    pid: int
    dashboard: str
    started_unix: float
    rss_mib: float | None
    pss_mib: float | None


def process_memory_mib(pid: int) -> tuple[float | None, float | None]:
    """(RSS, PSS) of process ``pid`` in MiB from ``/proc`` (``None`` each when unknown)."""
    rss = pss = None
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024 / _MIB
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss = int(line.split()[1]) * 1024 / _MIB
    return rss, pss


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):  # a zombie (culled, not yet reaped) is gone
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


class DashboardKernels:
    """Registrations of the dashboards' kernels in ``root`` (``<state_dir>/kernels``).

    Parameters
    ----------
    root
        Directory of the registrations (created on first registration).
    max_kernels
        The configured limit (``[dashboard] max_kernels``; 0: none), for the report.
    """

    def __init__(self, root: str | os.PathLike[str], *, max_kernels: int = 0):
        self.root = Path(root)
        self.max_kernels = int(max_kernels)

    def register(self, dashboard: str, *, pid: int | None = None) -> Path:
        """Record that process ``pid`` (default: this one) shows ``dashboard``."""
        pid = os.getpid() if pid is None else int(pid)
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / f"{pid}.json"
        entry = {"pid": pid, "dashboard": dashboard, "started_unix": time.time()}
        atomic_write(path, json.dumps(entry))
        return path

    def list(self) -> list[KernelInfo]:
        """The live registered kernels, measured now (stale registrations removed)."""
        out = []
        for path in sorted(self.root.glob("*.json")) if self.root.is_dir() else ():
            try:
                entry = json.loads(path.read_text())
                pid = int(entry["pid"])
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if not _alive(pid):
                with contextlib.suppress(OSError):
                    path.unlink()
                continue
            rss, pss = process_memory_mib(pid)
            out.append(
                KernelInfo(
                    pid,
                    str(entry.get("dashboard", "?")),
                    float(entry.get("started_unix", 0)),
                    rss,
                    pss,
                )
            )
        return out

    def summary(self) -> dict:
        """Count, total and per-kernel memory (MiB) and the limit, as plain data."""
        kernels = self.list()
        rss = [k.rss_mib for k in kernels if k.rss_mib is not None]
        pss = [k.pss_mib for k in kernels if k.pss_mib is not None]
        return {
            "n_kernels": len(kernels),
            "max_kernels": self.max_kernels,
            "total_rss_mib": round(sum(rss), 1),
            "total_pss_mib": round(sum(pss), 1) if pss else None,
            "kernels": [asdict(k) for k in kernels],
        }

    def describe(self) -> str:
        """One line for ``dsa110-ws health``."""
        s = self.summary()
        limit = f"limit {s['max_kernels']}" if s["max_kernels"] else "no limit"
        if not s["n_kernels"]:
            return f"dashboard kernels: none running ({limit})"
        each = ", ".join(
            f"{k['dashboard']} pid {k['pid']} {k['rss_mib']:.0f}" if k["rss_mib"] else "?"
            for k in s["kernels"]
        )
        pss = f", PSS {s['total_pss_mib']:.0f} MiB" if s["total_pss_mib"] is not None else ""
        return (
            f"dashboard kernels: {s['n_kernels']} running ({limit}), RSS {s['total_rss_mib']:.0f} "
            f"MiB total{pss}; each (MiB RSS): {each}"
        )
