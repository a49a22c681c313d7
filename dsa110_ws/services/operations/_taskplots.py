"""Drawing a workflow's dependency graph: layers by dependency depth, coloured by status."""

from __future__ import annotations

from typing import Any

from dsa110_ws.core.severity import Severity

__all__ = ["plot_graph", "layers"]

#: Task status -> colour (the severity ladder's where it means something).
STATUS_COLOURS = {
    "completed": Severity.OK.colour,
    "failed": Severity.CRITICAL.colour,
    "claimed": "#0969da",
    "pending": Severity.UNKNOWN.colour,
    "retrying": Severity.WARNING.colour,
    "cancelled": "#8c959f",
}


def layers(nodes: list[str], edges: list[tuple[str, str]]) -> dict[str, int]:
    """Depth of each node: 0 without dependencies, else 1 + the deepest dependency's."""
    deps: dict[str, list[str]] = {n: [] for n in nodes}
    for a, b in edges:
        deps.setdefault(b, []).append(a)
    depth: dict[str, int] = {}

    def visit(n: str, seen: frozenset[str]) -> int:
        if n in depth:
            return depth[n]
        if n in seen:  # a cycle (never in a valid workflow): break it
            return 0
        d = 1 + max((visit(a, seen | {n}) for a in deps.get(n, [])), default=-1)
        depth[n] = d
        return d

    for n in nodes:
        visit(n, frozenset())
    return depth


def plot_graph(graph: dict[str, Any], ax: Any = None) -> Any:
    """Nodes placed by depth (x) and order within their layer (y), arrows for edges."""
    import matplotlib.pyplot as plt

    nodes = graph["nodes"]
    ids = list(nodes["task_id"])
    depth = layers(ids, graph["edges"])
    pos: dict[str, tuple[float, float]] = {}
    rows: dict[int, int] = {}
    for tid in ids:
        d = depth[tid]
        pos[tid] = (float(d), -float(rows.get(d, 0)))
        rows[d] = rows.get(d, 0) + 1
    if ax is None:
        width = 2.2 * (max(depth.values(), default=0) + 1)
        _, ax = plt.subplots(figsize=(max(width, 4.0), 1.0 + 0.9 * max(rows.values(), default=1)))
    for a, b in graph["edges"]:
        (x0, y0), (x1, y1) = pos[a], pos[b]
        ax.annotate(
            "",
            xy=(x1 - 0.28, y1),
            xytext=(x0 + 0.28, y0),
            arrowprops={"arrowstyle": "->", "color": "#57606a", "lw": 1},
        )
    for tid, name, status in zip(ids, nodes["task_name"], nodes["status"], strict=True):
        x, y = pos[tid]
        ax.text(
            x,
            y,
            f"{name}\n{status}",
            ha="center",
            va="center",
            fontsize=7,
            bbox={
                "boxstyle": "round,pad=0.3",
                "fc": "white",
                "ec": STATUS_COLOURS.get(str(status), "#57606a"),
                "lw": 1.5,
            },
        )
    ax.set_xlim(-0.6, max(depth.values(), default=0) + 0.6)
    ax.set_ylim(-max(rows.values(), default=1) + 0.4, 0.6)
    ax.set_axis_off()
    return ax
