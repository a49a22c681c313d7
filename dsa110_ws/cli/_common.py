"""Helpers shared by the CLI modules."""

from __future__ import annotations

import json
import math
from typing import Any

import click

__all__ = ["workspace", "echo_json", "to_jsonable"]


def workspace():
    """The workspace from the environment/settings (the demo when nothing is configured).

    Commands print their own "(first N shown ...)" line, so the repositories' truncation
    warning is silenced here."""
    import warnings

    import dsa110_ws
    from dsa110_ws.repositories import TruncatedResultWarning

    warnings.simplefilter("ignore", TruncatedResultWarning)

    return dsa110_ws.connect()


def to_jsonable(obj: Any) -> Any:
    """Python/numpy/pandas values to JSON-safe ones (NaN -> null)."""
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [to_jsonable(v) for v in obj]
    if hasattr(obj, "to_dict") and hasattr(obj, "columns"):  # DataFrame
        return [to_jsonable(r) for r in obj.to_dict(orient="records")]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    if obj is not None and not isinstance(obj, (str, int, float, bool)):
        try:
            import pandas as pd

            if pd.isna(obj):
                return None
        except (TypeError, ValueError):
            pass
        return str(obj)
    return obj


def echo_json(obj: Any) -> None:
    click.echo(json.dumps(to_jsonable(obj), indent=2, sort_keys=False))
