"""The derived-product cache: thumbnails, QA results and MS summaries the workspace computed.

Entries live in the workspace's state directory (``<state_dir>/products/<kind>/``), never next
to the pipeline's files.  An entry is found by ``(kind, source path, parameters)`` and is valid
only while the source's *identity* -- resolved path, size and modification time in
nanoseconds (for a table directory: total size and newest file, ignoring casacore's
``table.lock``) -- is what it was when the entry was written; a changed file is recomputed and
its entry replaced.  Each entry is one file written atomically (a short JSON header followed by
the payload), so worker processes can share the cache without locks.

An entry is verified before it is used: its header records the payload's length and SHA-256,
and an entry whose header is not a JSON object of a sane length (a header claiming 2^62
bytes), whose payload is cut short or altered, or whose value no longer decodes into the
result it stands for, is a miss -- recomputed and replaced by ``get_or_compute``, deleted by
``prune`` -- never an error and never a wrong answer.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar, cast

from dsa110_ws.core.atomic import atomic_write
from dsa110_ws.errors import DataUnavailableError, InvalidQueryError

__all__ = ["ProductCache", "FileIdentity", "file_identity"]

T = TypeVar("T")
#: Bumped when the meaning of cached values changes, so old entries are ignored (2: peak_jy is
#: the maximum pixel, as CASA; the fitted peak is peak_fit_jy; 3: payload length and SHA-256
#: in the header).
CACHE_VERSION = 3
_MAGIC = b"DSA110WS-CACHE2\n"
#: The longest header an entry may claim (bytes): headers are a few hundred bytes.
_MAX_HEADER = 1 << 20
_IGNORED = {"table.lock"}


@dataclasses.dataclass(frozen=True)
class FileIdentity:
    """What makes a product file "the same file": resolved path, bytes and newest mtime (ns)."""

    path: str
    size: int
    mtime_ns: int


def file_identity(path: str | os.PathLike[str]) -> FileIdentity:
    """Identity of a file, or of a directory product (an MS or caltable) from its files.

    Raises :class:`DataUnavailableError` when the path does not exist.
    """
    p = Path(path).resolve()
    try:
        st = p.stat()
    except OSError as exc:
        raise DataUnavailableError(f"Cannot stat product {p}: {exc.strerror or exc}.") from None
    if not p.is_dir():
        return FileIdentity(str(p), int(st.st_size), int(st.st_mtime_ns))
    size, newest = 0, 0
    for entry in _walk_files(p):
        est = entry.stat(follow_symlinks=False)
        size += est.st_size
        newest = max(newest, est.st_mtime_ns)
    return FileIdentity(str(p), size, newest)


def _walk_files(root: Path) -> Iterator[os.DirEntry]:
    stack = [root]
    while stack:
        with os.scandir(stack.pop()) as it:
            for entry in it:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                elif entry.name not in _IGNORED:
                    yield entry


def _canonical(params: Mapping[str, Any] | None) -> str:
    try:
        return json.dumps(dict(params or {}), sort_keys=True, default=str, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise InvalidQueryError(f"Cache parameters must be JSON-like: {exc}") from None


class ProductCache:
    """Derived products keyed by file identity and parameters (``w.cache``).

    Parameters
    ----------
    root
        Directory of the entries (``<state_dir>/products``).
    """

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"<ProductCache {self.root}>"

    # -- keys --------------------------------------------------------------------------
    def _entry_path(self, kind: str, path: str, params: Mapping[str, Any] | None) -> Path:
        if not kind or not kind.replace(".", "").replace("_", "").isalnum():
            raise InvalidQueryError(f"Cache kind {kind!r} must be a short word like 'thumbnail'.")
        digest = hashlib.sha256(f"{kind}\n{path}\n{_canonical(params)}".encode()).hexdigest()
        return self.root / kind / digest[:2] / f"{digest}.entry"

    # -- read / write ------------------------------------------------------------------
    def get(
        self, kind: str, path: str | os.PathLike[str], params: Mapping[str, Any] | None = None
    ) -> bytes | Any | None:
        """The cached value, or ``None`` when absent or the source file has changed since."""
        ident = file_identity(path)
        entry = self._entry_path(kind, ident.path, params)
        try:
            meta, payload = _read_entry(entry)
            if (
                meta.get("identity") != dataclasses.asdict(ident)
                or meta.get("version") != CACHE_VERSION
            ):
                return None
            return payload if meta.get("encoding") == "bytes" else json.loads(payload)
        except (OSError, ValueError, UnicodeDecodeError):
            return None  # damaged, cut short, of another shape: a miss

    def put(
        self,
        kind: str,
        path: str | os.PathLike[str],
        params: Mapping[str, Any] | None,
        value: bytes | Any,
        *,
        identity: FileIdentity | None = None,
    ) -> None:
        """Store ``value`` (bytes, or anything JSON-serialisable) for this file and parameters.

        ``identity`` is the source's identity when the value was computed (default: now); pass
        the one taken *before* computing so a file rewritten meanwhile is not cached as new.
        """
        ident = identity or file_identity(path)
        entry = self._entry_path(kind, ident.path, params)
        is_bytes = isinstance(value, (bytes, bytearray, memoryview))
        payload = bytes(value) if is_bytes else json.dumps(value, default=str).encode()
        meta = {
            "version": CACHE_VERSION,
            "kind": kind,
            "identity": dataclasses.asdict(ident),
            "params": json.loads(_canonical(params)),
            "created_at": time.time(),
            "encoding": "bytes" if is_bytes else "json",
        }
        _write_entry(entry, meta, payload)

    def get_or_compute(
        self,
        kind: str,
        path: str | os.PathLike[str],
        params: Mapping[str, Any] | None,
        compute: Callable[[], T],
        *,
        encode: Callable[[T], Any] | None = None,
        decode: Callable[[Any], T] | None = None,
        use_cache: bool = True,
    ) -> T:
        """Return the cached value or compute, store and return it.

        ``encode``/``decode`` convert between the returned object and its stored form (bytes or
        JSON-like); ``use_cache=False`` recomputes and refreshes the entry.
        """
        if use_cache:
            hit = self.get(kind, path, params)
            if hit is not None:
                try:
                    return decode(hit) if decode else cast(T, hit)
                except (KeyError, TypeError, ValueError, AttributeError, IndexError):
                    pass  # a verified entry of another shape (an older layout): recompute
        ident = file_identity(path)
        value = compute()
        with contextlib.suppress(OSError):  # a read-only cache must not break the computation
            self.put(kind, path, params, encode(value) if encode else value, identity=ident)
        return value

    # -- housekeeping ----------------------------------------------------------------
    def entries(self) -> Iterator[tuple[Path, dict[str, Any]]]:
        """Every entry file with its header (kind, identity, params, created_at)."""
        if not self.root.is_dir():
            return
        for entry in sorted(self.root.rglob("*.entry")):
            with contextlib.suppress(OSError, ValueError):
                yield entry, _read_entry(entry, header_only=True)[0]

    def stats(self) -> dict[str, Any]:
        """Entry counts and bytes on disk, in total and per kind."""
        by_kind: dict[str, dict[str, int]] = {}
        for entry, meta in self.entries():
            k = by_kind.setdefault(meta.get("kind", "?"), {"n_entries": 0, "bytes": 0})
            k["n_entries"] += 1
            k["bytes"] += entry.stat().st_size
        return {
            "root": str(self.root),
            "n_entries": sum(k["n_entries"] for k in by_kind.values()),
            "bytes": sum(k["bytes"] for k in by_kind.values()),
            "by_kind": by_kind,
        }

    def clear(self, pattern: str | None = None, *, kind: str | None = None) -> int:
        """Delete entries whose source path matches the glob ``pattern`` (all when ``None``),
        optionally only of one ``kind``; returns the number deleted."""
        n = 0
        for entry, meta in list(self.entries()):
            source = meta.get("identity", {}).get("path", "")
            if kind is not None and meta.get("kind") != kind:
                continue
            if pattern is not None and not fnmatch.fnmatchcase(source, pattern):
                continue
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()
                n += 1
        return n

    def damaged(self) -> list[Path]:
        """Entry files that fail verification (cut short, altered, of another layout)."""
        out = []
        for entry in sorted(self.root.rglob("*.entry")) if self.root.is_dir() else ():
            try:
                _read_entry(entry)
            except ValueError:
                out.append(entry)
            except OSError:
                continue
        return out

    def prune(self) -> int:
        """Delete entries whose source file changed or disappeared, and entries that fail
        verification; returns the number deleted."""
        n = 0
        for entry in self.damaged():
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()
                n += 1
        for entry, meta in list(self.entries()):
            ident = meta.get("identity", {})
            try:
                current = dataclasses.asdict(file_identity(ident.get("path", "")))
            except DataUnavailableError:
                current = None
            if current != ident or meta.get("version") != CACHE_VERSION:
                with contextlib.suppress(FileNotFoundError):
                    entry.unlink()
                    n += 1
        return n


def _write_entry(entry: Path, meta: dict[str, Any], payload: bytes) -> None:
    entry.parent.mkdir(parents=True, exist_ok=True)
    meta = {**meta, "payload_bytes": len(payload), "payload_sha256": _sha256(payload)}
    header = json.dumps(meta, default=str).encode()
    atomic_write(entry, _MAGIC + len(header).to_bytes(8, "little") + header + payload)


def _sha256(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def _read_entry(entry: Path, *, header_only: bool = False) -> tuple[dict[str, Any], bytes]:
    """``(header, payload)`` of a verified entry; :class:`ValueError` saying what is wrong when
    the file is not one (wrong magic, a header length beyond the file or ``_MAX_HEADER``, a
    header that is not a JSON object, a payload of another length or checksum)."""
    with open(entry, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if fh.read(len(_MAGIC)) != _MAGIC:
            raise ValueError(f"not a cache entry of this version: {entry}")
        n = int.from_bytes(fh.read(8), "little")
        room = size - len(_MAGIC) - 8
        if not 0 < n <= min(room, _MAX_HEADER):
            raise ValueError(f"cache entry {entry} claims a {n}-byte header ({room} bytes follow)")
        try:
            meta = json.loads(fh.read(n))
        except RecursionError:
            raise ValueError(f"cache entry {entry} has a header nested too deep") from None
        want = meta.get("payload_bytes") if isinstance(meta, dict) else None
        if type(want) is not int or not isinstance(meta.get("payload_sha256"), str):
            raise ValueError(f"cache entry {entry} has a header of another shape")
        if room - n != want:
            raise ValueError(f"cache entry {entry} holds {room - n} payload bytes of {want}")
        if header_only:
            return meta, b""
        payload = fh.read(want)
    if _sha256(payload) != meta["payload_sha256"]:
        raise ValueError(f"cache entry {entry} fails its checksum")
    return meta, payload
