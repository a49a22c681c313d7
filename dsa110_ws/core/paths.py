"""Paths: confining reads to the configured roots, and refusing writes into the pipeline's.

:class:`PathPolicy` is the one place that decides which files the workspace may open
(product files inside the data roots, logs inside the log roots) and where it may write
(anywhere except the data roots, the log roots and the pipeline database's directory).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from dsa110_ws.errors import (
    DataUnavailableError,
    FileMissingError,
    InvalidQueryError,
    NotPermittedError,
    WorkspaceError,
)

__all__ = ["confine", "is_inside", "check_kind", "file_sha256", "OutputRegistry", "PathPolicy"]

_SPECIAL = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def check_kind(path: Path, *, what: str, expect: str = "any") -> None:
    """Refuse what is not a file or directory before anything opens it (a FIFO would block
    a reader forever, a device never ends); ``expect`` "file" or "dir" narrows further."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # missing: the caller's existence check says so
    for test, name in _SPECIAL:
        if test(mode):
            raise NotPermittedError(
                f"Refusing to open {what} {path}: it is {name}, not a file; point at the "
                "file itself."
            )
    if expect == "file" and not stat.S_ISREG(mode):
        raise InvalidQueryError(
            f"The {what} {path} is a directory, not a file; give the file's path."
        )
    if expect == "dir" and not stat.S_ISDIR(mode):
        raise InvalidQueryError(
            f"The {what} {path} is a file, not a directory (a casacore table is a directory)."
        )


def is_inside(path: Path, root: Path) -> bool:
    """Whether resolved ``path`` is ``root`` or lies below it (both already resolved)."""
    return path == root or root in path.parents


def _usable(path: object, what: str) -> Path:
    if path is None or str(path).strip() == "" or "\x00" in str(path):
        raise InvalidQueryError(f"No usable {what} path was given ({path!r}).")
    return Path(os.path.expanduser(str(path)))


def confine(
    path: str | os.PathLike[str],
    roots: Sequence[Path],
    *,
    what: str = "product file",
    variable: str = "DSA110_WS_DATA_ROOTS",
    must_exist: bool = True,
    expect: str = "any",
) -> Path:
    """Resolve ``path`` (following symlinks) and check it lies inside one of ``roots``.

    With no roots configured every path is allowed.  Raises :class:`NotPermittedError`
    for a path outside the roots (a symlink that escapes them included) and
    :class:`FileMissingError` (a :class:`DataUnavailableError`) for a missing path when ``must_exist``; FIFOs, sockets
    and devices are refused, and ``expect`` ("file", "dir") the other kind (see
    :func:`check_kind`).
    """
    raw = _usable(path, what)
    resolved = raw.resolve()
    if roots:
        resolved_roots = [Path(r).resolve() for r in roots]
        if not any(is_inside(resolved, r) for r in resolved_roots):
            shown = os.pathsep.join(str(r) for r in roots)
            raise NotPermittedError(
                f"Refusing to open {what} {raw}: it resolves to {resolved}, outside the data "
                f"roots ({shown}). Add its directory to {variable} if it should be readable."
            )
    if must_exist and not resolved.exists():
        raise FileMissingError(f"The {what} {raw} does not exist (moved or deleted?).")
    check_kind(resolved, what=what, expect=expect)
    return resolved


class OutputRegistry(Protocol):
    """What the workspace wrote (its state database): who may replace a file."""

    def record_output(self, path: Path, sha256: str, size: int) -> None: ...

    def output_sha256(self, path: Path) -> str | None: ...


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's content, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class PathPolicy:
    """Where the workspace may read and write.

    Parameters
    ----------
    data_roots
        Product files (MS, caltables, FITS) must resolve inside one of these (none: any).
    log_roots
        Per-run log files must resolve inside one of these.
    protected
        Further paths owned by the pipeline that are never written (the pipeline
        database's file and directory).
    registry
        What the workspace wrote: an existing file is replaced only when it is there
        unchanged (and only with ``force``).  Without one, existing files are never replaced.
    """

    def __init__(
        self,
        data_roots: Sequence[Path] = (),
        log_roots: Sequence[Path] = (),
        protected: Sequence[Path] = (),
        registry: OutputRegistry | None = None,
    ):
        self.data_roots = tuple(Path(r) for r in data_roots)
        self.log_roots = tuple(Path(r) for r in log_roots)
        self.protected = tuple(Path(p) for p in protected)
        self.registry = registry

    def __repr__(self) -> str:
        return f"<PathPolicy data_roots={len(self.data_roots)} log_roots={len(self.log_roots)}>"

    def product(
        self,
        path: str | os.PathLike[str],
        *,
        what: str = "product file",
        must_exist: bool = True,
        expect: str = "any",
    ) -> Path:
        """A product path, resolved and confined to the data roots (never a FIFO or device;
        ``expect`` "file" for FITS, "dir" for casacore tables)."""
        return confine(path, self.data_roots, what=what, must_exist=must_exist, expect=expect)

    def log(self, path: str | os.PathLike[str], *, must_exist: bool = True) -> Path:
        """A log path, resolved and confined to the log roots; a regular file."""
        return confine(
            path,
            self.log_roots,
            what="log file",
            variable="DSA110_WS_LOG_ROOTS",
            must_exist=must_exist,
            expect="file",
        )

    def output(
        self, path: str | os.PathLike[str], *, what: str = "output file", force: bool = False
    ) -> Path:
        """Where the workspace may write ``path``: resolved, refused
        (:class:`NotPermittedError`) inside a data root, a log root or a protected path
        of the pipeline's; an existing file only with ``force`` and only if the workspace
        wrote it and it is unchanged since; parent directories are created."""
        target = _usable(path, what).resolve()
        self._check_roots(target, what)
        if target.exists() or target.is_symlink():
            self._may_replace(target, what, force)
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def output_dir(self, path: str | os.PathLike[str], *, what: str = "output folder") -> Path:
        """A folder the workspace may write into (created): never among the pipeline's
        files (:class:`NotPermittedError`), never an existing file."""
        target = _usable(path, what).resolve()
        self._check_roots(target, what)
        if target.exists() and not target.is_dir():
            raise InvalidQueryError(f"The {what} {target} is a file; give a folder.")
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataUnavailableError(
                f"Cannot create the {what} {target}: {exc.strerror or exc}; choose a writable "
                "folder."
            ) from None
        return target

    def write(
        self,
        path: str | os.PathLike[str],
        data: bytes,
        *,
        what: str = "output file",
        force: bool = False,
    ) -> Path:
        """Write ``data`` to ``path`` (checked by :meth:`output`) atomically and remember
        it as the workspace's; returns the resolved path."""
        from dsa110_ws.core.atomic import atomic_write

        target = self.output(path, what=what, force=force)
        atomic_write(target, data)
        self.record(target)
        return target

    def record(self, target: Path) -> None:
        """Remember ``target`` (just written by the workspace) as the workspace's.  When the
        state database cannot take the record the file stays unowned: it can then never be
        replaced by the workspace (the safe side), and the write itself stands."""
        if self.registry is None or not target.is_file():
            return
        with contextlib.suppress(WorkspaceError, OSError):
            self.registry.record_output(target, file_sha256(target), target.stat().st_size)

    def _may_replace(self, target: Path, what: str, force: bool) -> None:
        if target.is_dir() and not target.is_symlink():
            raise InvalidQueryError(f"The {what} {target} is a directory; give a file name.")
        if not force:
            raise InvalidQueryError(
                f"The {what} {target} exists; pass --force (force=True) to replace it."
            )
        known = None if self.registry is None else self.registry.output_sha256(target)
        if target.is_symlink() or known is None or known != file_sha256(target):
            raise NotPermittedError(
                f"Refusing to replace {target}: the workspace did not write it (or it has "
                "changed since), so it may be someone else's. Choose another file name."
            )

    def _check_roots(self, target: Path, what: str) -> None:
        for kind, roots in (
            ("data root", self.data_roots),
            ("log root", self.log_roots),
            ("pipeline path", self.protected),
        ):
            for root in roots:
                r = Path(root).resolve()
                if is_inside(target, r):
                    raise NotPermittedError(
                        f"Refusing to write {what} {target}: it lies inside the {kind} {root}, "
                        "and the workspace never writes among the pipeline's files. Choose "
                        "another directory."
                    )
