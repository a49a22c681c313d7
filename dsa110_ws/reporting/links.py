"""Links from a report to the dashboard view of the same night.

The dashboards read their parameters from the URL's query string; a report links to
``<[reports] dashboard_url>?night=YYYY-MM-DD`` (any query the configured URL already has,
such as a Voila token, is kept).  Parameters a link may carry: ``night`` (a UTC day,
``YYYY-MM-DD``); the dashboards also read ``source_id``, ``image_id`` and ``job_id``.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["dashboard_link", "NIGHT_PARAMETER"]

#: The query parameter naming the observing night (a UTC day).
NIGHT_PARAMETER = "night"
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def dashboard_link(base: str | None, night: str | None) -> str | None:
    """``base`` with ``night=YYYY-MM-DD`` in its query string; ``None`` without a base URL
    or without a night (a report over a window that is not one UTC day)."""
    if not base or not night or not _DAY.match(night):
        return None
    parts = urlsplit(base)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "night"]
    query.append((NIGHT_PARAMETER, night))
    return urlunsplit(parts._replace(query=urlencode(query)))
