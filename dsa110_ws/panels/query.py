"""Deep links: a dashboard's parameters from its page's URL query string.

Voila puts the query string of the page in the kernel's ``QUERY_STRING`` environment
variable, so ``operations.ipynb?night=2026-11-10&job_id=12`` can open the view a report,
an alert or a chat message points at.
"""

from __future__ import annotations

import os
import urllib.parse
from typing import Any

from dsa110_ws.errors import InvalidQueryError

__all__ = ["from_query"]


def from_query(query: str | None = None, **defaults: Any) -> dict[str, Any]:
    """``defaults`` overridden by the same names in the URL query string.

    Each value is converted to its default's type (``int``, ``float``, ``bool`` or text; a
    ``None`` default takes the text).  ``query`` defaults to the page's ``QUERY_STRING``;
    names not in ``defaults`` (e.g. Voila's ``token``) are ignored.  A ``+`` is taken
    literally (source names hold one, ``J103255.8+363112``); a space is ``%20``.

    Raises
    ------
    InvalidQueryError
        A value that is not of its parameter's type (e.g. ``job_id=abc``).
    """
    text = os.environ.get("QUERY_STRING", "") if query is None else query
    out = dict(defaults)
    pairs = urllib.parse.parse_qsl(text.lstrip("?").replace("+", "%2B"))
    for name, value in pairs:
        if name not in defaults:
            continue
        default = defaults[name]
        try:
            if isinstance(default, bool):
                out[name] = value.strip().lower() in ("1", "true", "yes", "on")
            elif isinstance(default, int):
                out[name] = int(value)
            elif isinstance(default, float):
                out[name] = float(value)
            else:
                out[name] = value
        except ValueError:
            kind = type(default).__name__
            raise InvalidQueryError(
                f"URL parameter {name}={value!r} is not a valid {kind}; fix the link."
            ) from None
    return out
