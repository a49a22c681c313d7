"""Executed notebook -> self-contained HTML without code cells or prompts."""

from __future__ import annotations

import os
from pathlib import Path

from dsa110_ws.core.atomic import atomic_write

__all__ = ["render_html", "has_error_output"]


def has_error_output(nb) -> bool:
    """Whether any cell of an executed notebook holds an error (traceback) output."""
    return any(
        out.get("output_type") == "error"
        for cell in nb.cells
        if cell.get("cell_type") == "code"
        for out in cell.get("outputs", [])
    )


def _strip_for_html(nb):
    """A copy without stderr streams (warnings) and without the parameter cells' outputs."""
    import copy

    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        tags = set(cell.get("metadata", {}).get("tags", []))
        if tags & {"parameters", "injected-parameters"}:
            cell["outputs"] = []
            continue
        cell["outputs"] = [
            o
            for o in cell.get("outputs", [])
            if not (o.get("output_type") == "stream" and o.get("name") == "stderr")
        ]
    return nb


def render_html(
    nb_path: str | os.PathLike[str], html_path: str | os.PathLike[str], *, title: str
) -> Path:
    """Render an executed notebook to HTML with nbconvert, inputs and prompts excluded.

    Images (matplotlib PNGs, thumbnails) are embedded, so the file stands alone.
    Written to a temporary name and moved into place.
    """
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(nb_path), as_version=4)
    exporter = HTMLExporter(
        exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True, embed_images=True
    )
    body, _ = exporter.from_notebook_node(
        _strip_for_html(nb), resources={"metadata": {"name": title}}
    )
    return atomic_write(html_path, body)
