"""Atomic writes: a reader sees the old file or the new one, never half of either.

The one implementation of the temp-file-then-rename dance, used by the product cache,
the reports (metrics, HTML, index) and the photometry dataset's manifest.  The temporary file lives
in the target's directory (same filesystem, so ``os.replace`` is atomic), carries the
process id and a counter in its name (concurrent writers never share one), and is removed
when the write fails.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = ["atomic_write", "atomic_open", "temp_sibling"]

_counter = itertools.count()


def temp_sibling(path: Path, tag: str = "tmp") -> Path:
    """A hidden temporary name beside ``path``, unique to this process and call."""
    return path.with_name(f".{path.name}.{tag}-{os.getpid()}-{next(_counter)}")


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike[str],
    mode: str = "wb",
    *,
    encoding: str | None = None,
    fsync: bool = False,
) -> Iterator[IO]:
    """Open a temporary file beside ``path``; on a clean exit it replaces ``path``.

    ``mode`` is ``"wb"`` or ``"w"`` (text, ``encoding`` default UTF-8).  On an error the
    temporary file is removed and ``path`` is untouched.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_open writes only ('w' or 'wb'), not {mode!r}")
    target = Path(path)
    tmp = temp_sibling(target)
    try:
        kw = {} if mode == "wb" else {"encoding": encoding or "utf-8"}
        with open(tmp, mode, **kw) as fh:  # type: ignore[call-overload]
            yield fh
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def atomic_write(
    path: str | os.PathLike[str], data: bytes | str, *, encoding: str = "utf-8", fsync: bool = False
) -> Path:
    """Write ``data`` (bytes, or text in ``encoding``) to ``path`` atomically."""
    with atomic_open(path, "wb", fsync=fsync) as fh:
        fh.write(data.encode(encoding) if isinstance(data, str) else data)
    return Path(path)
