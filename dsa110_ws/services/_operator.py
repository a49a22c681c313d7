"""The one path every operator action (a write to the pipeline database) goes through.

An action runs in one transaction on the pipeline database, only when writes are
allowed, and leaves an audit record (who, when, what, before and after) in the
workspace's own database, whether it succeeded or not.  Write SQL itself lives in the
repositories; an action passes a function that takes the open connection.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from dsa110_ws.errors import WorkspaceError, one_line

__all__ = ["ActionResult", "perform"]


@dataclasses.dataclass(frozen=True)
class ActionResult:
    """What an operator action did."""

    action: str
    target: str
    before: Any
    after: Any
    changed: bool
    audit_id: int | None


def perform(workspace: Any, *, action: str, target: str,
            apply: Callable[[Any], tuple[Any, Any]]) -> ActionResult:
    """Run ``apply(connection) -> (before, after)`` as one audited write transaction.

    Raises :class:`NotPermittedError` (without touching the pipeline database) when writes
    are off; the refusal is audited too.  Any error rolls the transaction back.
    """
    db = workspace.db
    who = workspace.settings.operator
    try:
        with db.transaction(f"{action} {target}") as con:
            before, after = apply(con)
    except WorkspaceError as exc:  # refused (NotPermittedError) or failed: audited, rolled back
        workspace.state.audit(who=who, action=action, target=target, database=db.describe(),
                              before=None, after=None, ok=False, message=one_line(exc))
        raise
    audit_id = workspace.state.audit(who=who, action=action, target=target,
                                     database=db.describe(), before=before, after=after)
    return ActionResult(action, target, before, after, before != after, audit_id)
