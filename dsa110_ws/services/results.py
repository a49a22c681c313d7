"""Derived results the workspace computed (report figures, ...), kept in its own database.

A result is stored under a key that says exactly what it was computed from (a hash of the
data or the parameters), so a hit is always right and a changed input is simply a miss.
Shared by every process using the same state directory.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dsa110_ws.repositories.state import StateDB

__all__ = ["ResultCache"]


class ResultCache:
    """Small JSON results keyed by what they were computed from (``w.results``).

    Parameters
    ----------
    state
        The workspace's own database.
    """

    def __init__(self, state: StateDB):
        self._state = state

    def __repr__(self) -> str:
        return f"<ResultCache in {self._state.path}>"

    def get(self, key: str) -> Any | None:
        """The stored value, or ``None``."""
        return self._state.get_result(key)

    def put(self, key: str, kind: str, value: Any) -> None:
        """Store a JSON-serialisable ``value`` under ``key`` (``kind`` groups entries)."""
        self._state.put_result(key, kind, value)

    def get_or_compute(self, key: str, kind: str, compute: Callable[[], Any]) -> Any:
        """The stored value, else ``compute()`` stored and returned."""
        hit = self.get(key)
        if hit is not None:
            return hit
        value = compute()
        self.put(key, kind, value)
        return value

    def clear(self, like: str = "%") -> int:
        """Delete results whose key matches the SQL ``LIKE`` pattern; returns how many."""
        return self._state.clear_results(like)
