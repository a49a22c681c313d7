"""A short-lived, single-flight memo for reads that several views make at once.

One refresh of the operations dashboard asks the task queue the same questions from several
panels and the health check, in parallel threads; over a large queue each question is a
scan of the table.  ``Memo.get(key, fn)`` runs ``fn`` once for concurrent callers of the
same key and serves its result for ``ttl_s`` seconds (0 turns it off); writes call
:meth:`Memo.clear`.  Errors are never cached.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

__all__ = ["Memo"]


class Memo:
    """Results by key for ``ttl_s`` seconds; one computation per key at a time."""

    def __init__(self, ttl_s: float, *, clock: Callable[[], float] = time.monotonic):
        self.ttl_s = float(ttl_s)
        self._clock = clock
        self._lock = threading.Lock()
        self._values: dict[Hashable, tuple[float, Any]] = {}
        self._key_locks: dict[Hashable, threading.Lock] = {}
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, fn: Callable[[], Any]) -> Any:
        if self.ttl_s <= 0:
            return fn()
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:  # a second caller waits for the first, then takes its result
            now = self._clock()
            with self._lock:
                found = self._values.get(key)
            if found is not None and now - found[0] < self.ttl_s:
                self.hits += 1
                return found[1]
            self.misses += 1
            value = fn()
            with self._lock:
                self._values[key] = (self._clock(), value)
            return value

    def clear(self) -> None:
        """Forget every result (after a write)."""
        with self._lock:
            self._values.clear()
