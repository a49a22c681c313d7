"""Atomic publication: folder swap, output-root lock, JSON written by replace."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dsa110_ws.core.atomic import atomic_write

__all__ = ["publish", "locked", "write_json"]


@contextlib.contextmanager
def locked(root: Path) -> Iterator[None]:
    """An exclusive lock on the output root while folders are swapped and the index written."""
    import fcntl

    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def publish(tmp: Path, final: Path) -> None:
    """Replace ``final`` by ``tmp``: old aside, new in (rolled back on error), old deleted."""
    old = None
    if final.exists():
        old = final.with_name(f".old-{final.name}-{uuid.uuid4().hex[:8]}")
        os.replace(final, old)
    try:
        os.replace(tmp, final)
    except OSError:
        if old is not None:
            os.replace(old, final)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_json(path: Path, doc: dict[str, Any]) -> None:
    """``doc`` as indented JSON, written atomically."""
    atomic_write(path, json.dumps(doc, indent=2, default=str) + "\n")
