"""The report templates: where they are, and their generated ``parameters`` cells."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from dsa110_ws.reporting.params import (
    PARAM_MODELS,
    ReportParameterError,
    ReportParams,
    validate_params,
)

__all__ = ["TEMPLATES", "TITLES", "template_path", "parameters_cell", "params_from_namespace"]

#: report kind -> template file name in ``reports/``
TEMPLATES: dict[str, str] = {"qa": "nightly_qa.ipynb", "stats": "stats.ipynb"}
TITLES: dict[str, str] = {"qa": "DSA-110 nightly QA", "stats": "DSA-110 pipeline statistics"}


def template_path(kind: str, template: str | os.PathLike[str] | None = None) -> Path:
    """The template notebook of a report kind: ``template`` when given, else the one
    shipped with the package (``dsa110_ws.report_templates``: ``reports/`` of the
    repository, installed into the wheel), found with :mod:`importlib.resources`."""
    if template is not None:
        path = Path(template).expanduser().resolve()
        hint = "check --template"
    else:
        import importlib.resources

        path = Path(str(importlib.resources.files("dsa110_ws.report_templates"))) / TEMPLATES[kind]
        hint = "the installation is incomplete: reinstall dsa110-ws, or pass --template PATH"
    if not path.is_file():
        raise ReportParameterError(f"Report template {path} does not exist; {hint}.")
    return path


def _type_name(annotation: Any) -> str:
    for name, typ in (("int", int), ("float", float), ("bool", bool)):
        if annotation is typ:
            return name
    return "str"


def parameters_cell(kind: str) -> str:
    """Source of a template's ``parameters`` cell, generated from the model (one
    ``name: type = value  # help`` line per parameter, then the runner's own)."""
    model = PARAM_MODELS[kind]
    lines = [
        f"# Parameters: validated by dsa110_ws.reporting.params.{model.__name__} "
        "before the report runs (see reports/README.md)."
    ]
    for name, field in model.model_fields.items():
        default = "" if field.default is None else field.default
        value = json.dumps(default) if isinstance(default, str) else repr(default)
        lines.append(f"{name}: {_type_name(field.annotation)} = {value}  # {field.description}")
    lines.append(
        'metrics_path: str = ""  # set by the runner: where metrics.json is written '
        "(empty: not written)"
    )
    return "\n".join(lines)


def params_from_namespace(kind: str, namespace: dict[str, Any]) -> ReportParams:
    """Validate the parameters a template's namespace holds (its ``parameters`` cell after
    papermill's injection)."""
    names = PARAM_MODELS[kind].model_fields
    return validate_params(kind, {k: namespace[k] for k in names if k in namespace})
