"""Derived results shared by every process of one workspace state (the dashboards' kernels).

Each Voila viewer has a kernel of its own, and each kernel refreshes every panel on its own
timer.  Ten viewers would ask the databases ten times the same questions.  A
:class:`SharedCache` keeps what a panel derived in the workspace's state directory, keyed
on the question (the panel and its parameters) and on the state of the pipeline's database
(size and modification time of the SQLite file and of its write-ahead log), for ``ttl_s``
seconds: the first kernel of a refresh asks, the second and later ones read its answer.

* Single flight across processes: the first caller of a key holds an ``flock`` on the
  key's lock file while it computes; the others wait for it (up to ``wait_s``), then read.
  A computing process that dies releases its lock with it; the next caller computes.
* The task queue's PostgreSQL has no cheap state token, so its answers live ``ttl_s``
  (keep it below the dashboards' refresh interval; an operator's write clears the cache).
* Entries are written atomically (:func:`~dsa110_ws.core.atomic.atomic_write`) with an
  HMAC-SHA256 of their payload; a damaged entry is ignored and recomputed.  Errors are
  never cached.
* Entries are pickles, and unpickling runs code: an entry is unpickled only when its
  HMAC is right under the cache's key, a random file (``key``) readable by its owner
  only.  Whoever can write into the directory but not read the key cannot make an entry
  that is read; a key file that is not this user's own, or that others may read, turns
  sharing off (every call computes) rather than be trusted.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import pickle
import time
from collections.abc import Callable, Hashable, Iterator, Sequence
from pathlib import Path
from typing import Any

from dsa110_ws.core.atomic import atomic_write, temp_sibling

__all__ = ["SharedCache", "file_state"]

_MAGIC = b"dsa110-ws shared v2\n"
#: Bytes of the random key the entries are signed with.
KEY_BYTES = 32


def file_state(paths: Sequence[str | os.PathLike[str]]) -> tuple[tuple[int, int], ...]:
    """(size, mtime in ns) of each file (and of its ``-wal``), (0, 0) when missing: the
    token that changes whenever SQLite commits to the database."""
    out = []
    for p in paths:
        for q in (Path(p), Path(f"{p}-wal")):
            try:
                st = q.stat()
                out.append((st.st_size, st.st_mtime_ns))
            except OSError:
                out.append((0, 0))
    return tuple(out)


class SharedCache:
    """Results by key, shared through files by every process using ``root``.

    Parameters
    ----------
    root
        Directory of the entries (``<state_dir>/shared``), created on first use.
    ttl_s
        Seconds an entry is served (0 turns the cache off: every call computes).
    databases
        Files whose state is part of every key (the pipeline's SQLite).
    wait_s
        Longest wait (s) for another process computing the same key; then compute too.
    clock
        Wall-clock seconds (entries carry the time they were computed).
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        ttl_s: float,
        databases: Sequence[str | os.PathLike[str]] = (),
        wait_s: float = 60.0,
        clock: Callable[[], float] = time.time,
    ):
        self.root = Path(root)
        self.ttl_s = float(ttl_s)
        self.databases = tuple(databases)
        self.wait_s = float(wait_s)
        self._clock = clock
        self.hits = 0
        self.misses = 0
        self._key: bytes | None = None

    def key_digest(self, key: Hashable) -> str:
        """The file name stem of ``key`` under the current database state."""
        state = file_state(self.databases)
        text = repr((key, [str(p) for p in self.databases], state, self.generation()))
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def get(self, key: Hashable, fn: Callable[[], Any]) -> Any:
        """``fn()``'s result for ``key``: from the cache when fresh, else computed (once
        across processes) and stored.  ``key`` must have a stable ``repr``."""
        if self.ttl_s <= 0:
            return fn()
        self.root.mkdir(parents=True, exist_ok=True)
        if self._signing_key() is None:
            return fn()
        stem = self.key_digest(key)
        entry = self.root / f"{stem}.pkl"
        found = self._read(entry)
        if found is not None:
            self.hits += 1
            return found[0]
        with self._locked(self.root / f"{stem}.lock"):
            found = self._read(entry)  # filled by the process we waited for?
            if found is not None:
                self.hits += 1
                return found[0]
            self.misses += 1
            value = fn()
            self._write(entry, value)
        self._prune()
        return value

    def generation(self) -> tuple[int, int]:
        """Changes whenever :meth:`clear` runs (in any process): what a process keeps in
        memory on top of this cache is valid for one generation only."""
        try:
            st = (self.root / "generation").stat()
        except OSError:
            return (0, 0)
        return (st.st_ino, st.st_mtime_ns)

    def clear(self) -> int:
        """Remove every entry and start a new generation (after an operator's write: no
        process serves what it read before); returns how many entries were removed."""
        with contextlib.suppress(OSError):
            self.root.mkdir(parents=True, exist_ok=True)
            atomic_write(self.root / "generation", f"{time.time_ns()} {os.getpid()}\n")
        n = 0
        for p in self.root.glob("*.pkl") if self.root.is_dir() else ():
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
                n += 1
        return n

    # -- entries ---------------------------------------------------------------------------
    def _signing_key(self) -> bytes | None:
        """The key entries are signed with (``<root>/key``, made on first use, mode 0600);
        None when the file is not this user's own, others may read it, or it cannot be
        made or read: sharing is then off."""
        if self._key is not None:
            return self._key
        path = self.root / "key"
        if not path.exists():  # written whole, then linked into place: never seen half made
            tmp = temp_sibling(path, "new")
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(os.urandom(KEY_BYTES))
                try:
                    os.link(tmp, path)
                except FileExistsError:  # another process was first
                    pass
                except OSError:  # no hard links here: renamed (a race costs recomputing)
                    os.replace(tmp, path)
            except OSError:
                return None
            finally:
                with contextlib.suppress(OSError):
                    tmp.unlink()
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            return None
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fh.fileno())
            key = fh.read(KEY_BYTES + 1)
        if st.st_uid != os.getuid() or st.st_mode & 0o077 or len(key) != KEY_BYTES:
            return None  # another's, readable by others, or cut short: not trusted
        self._key = key
        return key

    def _mac(self, payload: bytes) -> str:
        key = self._signing_key()
        assert key is not None  # get() returns before any entry is read or written
        return hmac.new(key, payload, hashlib.sha256).hexdigest()

    def _read(self, entry: Path) -> tuple[Any] | None:
        """``(value,)`` of a fresh, intact entry; ``None`` when missing, stale or damaged."""
        try:
            data = entry.read_bytes()
        except OSError:
            return None
        if not data.startswith(_MAGIC):
            return None
        head, sep, payload = data[len(_MAGIC) :].partition(b"\n")
        try:
            meta = json.loads(head) if sep else {}
            created, digest = float(meta["created"]), str(meta["hmac"])
        except (ValueError, KeyError, TypeError):
            return None
        if not 0 <= self._clock() - created < self.ttl_s:
            return None
        if not hmac.compare_digest(self._mac(payload), digest):
            return None  # damaged, or not written by a holder of the key
        try:
            return (pickle.loads(payload),)
        except Exception:  # noqa: BLE001 - a damaged entry is recomputed, never an error
            return None

    def _write(self, entry: Path, value: Any) -> None:
        try:
            payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # noqa: BLE001 - an unpicklable result is simply not shared
            return
        meta = {"created": self._clock(), "hmac": self._mac(payload)}
        with contextlib.suppress(OSError):  # a full disk costs sharing, not the answer
            atomic_write(entry, _MAGIC + json.dumps(meta).encode() + b"\n" + payload)

    @contextlib.contextmanager
    def _locked(self, path: Path) -> Iterator[None]:
        """Hold an exclusive ``flock`` on ``path`` (waiting up to ``wait_s``); on timeout
        or an unusable lock file, go on without it."""
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            yield
            return
        try:
            deadline = time.monotonic() + self.wait_s
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.02)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _prune(self) -> None:
        """Drop entries (and idle lock files) older than ten lifetimes (at least an hour)."""
        horizon = self._clock() - max(10 * self.ttl_s, 3600.0)
        for p in self.root.iterdir():
            with contextlib.suppress(OSError):
                if p.suffix in (".pkl", ".lock") and p.stat().st_mtime < horizon:
                    p.unlink()
