"""Confining file access to the configured roots."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from dsa110_ws.errors import DataUnavailableError, InvalidQueryError, NotPermittedError

__all__ = ["confine", "is_inside"]


def is_inside(path: Path, root: Path) -> bool:
    """Whether resolved ``path`` is ``root`` or lies below it (both already resolved)."""
    return path == root or root in path.parents


def confine(path: str | os.PathLike[str], roots: Sequence[Path], *, what: str = "product file",
            variable: str = "DSA110_WS_DATA_ROOTS", must_exist: bool = True) -> Path:
    """Resolve ``path`` (following symlinks) and check it lies inside one of ``roots``.

    With no roots configured every path is allowed.  Raises :class:`NotPermittedError`
    for a path outside the roots (a symlink that escapes them included) and
    :class:`DataUnavailableError` for a missing path when ``must_exist``.
    """
    if path is None or str(path).strip() == "" or "\x00" in str(path):
        raise InvalidQueryError(f"No usable {what} path was given ({path!r}).")
    raw = Path(os.path.expanduser(str(path)))
    resolved = raw.resolve()
    if roots:
        resolved_roots = [Path(r).resolve() for r in roots]
        if not any(is_inside(resolved, r) for r in resolved_roots):
            shown = os.pathsep.join(str(r) for r in roots)
            raise NotPermittedError(
                f"Refusing to open {what} {raw}: it resolves to {resolved}, outside the data "
                f"roots ({shown}). Add its directory to {variable} if it should be readable.")
    if must_exist and not resolved.exists():
        raise DataUnavailableError(f"The {what} {raw} does not exist (moved or deleted?).")
    return resolved
