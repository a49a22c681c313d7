"""Executed notebook -> self-contained HTML without code cells or prompts.

The HTML loads nothing from anywhere: nbconvert's ``lab`` template is extended by one
that empties the blocks which would fetch require.js, MathJax, Mermaid or the widget
manager from a CDN (a report is read offline, on a site without internet), and every
image is embedded.  ``tests/browser`` opens the result with every non-local request
blocked and asserts none was attempted.
"""

from __future__ import annotations

import os
from pathlib import Path

from dsa110_ws.core.atomic import atomic_write

__all__ = ["render_html", "has_error_output", "OFFLINE_TEMPLATE"]

#: The template every report is rendered with: ``lab`` without anything fetched.
OFFLINE_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block extra_css -%}
<style type="text/css">
body.jp-Notebook { font-size: 15px; }
main { max-width: 1500px; margin: 0 auto; }
table.dsa-report { border-collapse: collapse; margin: 6px 0 14px 0; }
table.dsa-report caption { text-align: left; font-weight: 600; padding: 2px 0; }
table.dsa-report th, table.dsa-report td { padding: 3px 8px; border-bottom: 1px solid #d8dee4; }
.jp-RenderedHTMLCommon table.dsa-report th { text-align: left; }
</style>
{%- endblock extra_css -%}
"""


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
    import jinja2
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(nb_path), as_version=4)
    exporter = HTMLExporter(
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
        template_name="lab",
        template_file="dsa110_offline.html.j2",
        extra_loaders=[jinja2.DictLoader({"dsa110_offline.html.j2": OFFLINE_TEMPLATE})],
    )
    body, _ = exporter.from_notebook_node(
        _strip_for_html(nb), resources={"metadata": {"name": title}}
    )
    return atomic_write(html_path, body)
