"""The one path every operator action (a write to the pipeline's databases) goes through.

Audit before act: an action first records its intent in the workspace's own database;
if that record cannot be written, the action does not happen.  Then it runs in one
transaction on the pipeline database (only when writes are allowed), and finally the
outcome (before, after, or the error) is recorded on the same audit row.  Write SQL itself
lives in the repositories; an action passes a function that takes the open connection.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from dsa110_ws.errors import NotPermittedError, WorkspaceError, one_line

if TYPE_CHECKING:
    from dsa110_ws.repositories import Database
    from dsa110_ws.repositories.state import StateDB

__all__ = ["ActionResult", "AuditTrail", "WritableDatabase"]


class WritableDatabase(Protocol):
    """A database an operator action writes to: the pipeline's SQLite or the task queue."""

    allow_writes: bool

    def describe(self) -> str: ...

    def transaction(self, what: str) -> contextlib.AbstractContextManager[Any]: ...


@dataclasses.dataclass(frozen=True)
class ActionResult:
    """What an operator action did (``audit_id`` is its row in the workspace's audit log)."""

    action: str
    target: str
    before: Any
    after: Any
    changed: bool
    audit_id: int | None


class AuditTrail:
    """Runs operator writes as audited transactions.

    Parameters
    ----------
    db
        The pipeline database (writes need ``allow_writes``).
    state
        The workspace's own database, where the audit records go.
    operator
        Who acts (recorded in every audit record).
    after_write
        Called after every write transaction, committed or not (the shared cache of the
        dashboards forgets what it served, so the next refresh shows the change).
    """

    def __init__(
        self,
        db: Database,
        state: StateDB,
        *,
        operator: str,
        after_write: Callable[[], Any] | None = None,
    ):
        self.db = db
        self.state = state
        self.operator = operator
        self.after_write = after_write

    def __repr__(self) -> str:
        return f"<AuditTrail operator={self.operator!r} writes={'on' if self.db.allow_writes else 'off'}>"

    def check_allowed(self, what: str, db: WritableDatabase | None = None) -> None:
        """Raise :class:`NotPermittedError` (nothing written) unless writes are allowed."""
        target = db or self.db
        if not target.allow_writes:
            where = "the task queue" if db is not None and db is not self.db else "the pipeline"
            raise NotPermittedError(
                f"Refusing to {what}: writes to {where} database are off. Set "
                "DSA110_WS_ALLOW_WRITES=1 (or allow_writes=True) to enable operator actions."
            )

    def perform(
        self,
        *,
        action: str,
        target: str,
        apply: Callable[[Any], tuple[Any, Any]],
        db: WritableDatabase | None = None,
    ) -> ActionResult:
        """Run ``apply(connection) -> (before, after)`` as one audited write transaction on
        ``db`` (default the pipeline database; the task queue's for queue actions).

        The intent is recorded first (a :class:`DataUnavailableError` from the state
        database stops the action before the database is touched); a refusal (writes off)
        and a failure are recorded too.  Any error rolls the transaction back.
        """
        target_db = db or self.db
        where = target_db.describe()
        try:
            self.check_allowed(f"{action} {target}", target_db)
        except NotPermittedError as exc:
            self.state.audit(
                who=self.operator,
                action=action,
                target=target,
                database=where,
                before=None,
                after=None,
                ok=False,
                message=one_line(exc),
            )
            raise
        audit_id = self.state.begin_audit(
            who=self.operator, action=action, target=target, database=where
        )
        try:
            with target_db.transaction(f"{action} {target}") as con:
                before, after = apply(con)
        except WorkspaceError as exc:
            self._written()
            self.state.finish_audit(audit_id, ok=False, message=one_line(exc))
            raise
        except BaseException as exc:
            self._written()
            self.state.finish_audit(audit_id, ok=False, message=f"aborted: {one_line(exc)}")
            raise
        self._written()
        self.state.finish_audit(audit_id, before=before, after=after, ok=True)
        return ActionResult(action, target, before, after, before != after, audit_id)

    def _written(self) -> None:
        if self.after_write is not None:
            with contextlib.suppress(Exception):  # forgetting a cache never fails an action
                self.after_write()

    def record(
        self,
        *,
        action: str,
        target: str,
        before: Any,
        after: Any,
        ok: bool,
        message: str | None = None,
        database: str | None = None,
    ) -> int:
        """Record an action done elsewhere (e.g. on the task queue) in the audit log."""
        return self.state.audit(
            who=self.operator,
            action=action,
            target=target,
            database=database or self.db.describe(),
            before=before,
            after=after,
            ok=ok,
            message=message,
        )
