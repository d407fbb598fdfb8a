"""Draws a ``CausationGraph`` with matplotlib, so SVG and PNG need no Graphviz binary.

Layout is a tidy tree over the walk (each event under the neighbour it was reached from):
leaves take consecutive columns, a parent sits over the middle of its children, causes above
effects. Edges of the graph that are not tree edges (a second parent) are drawn too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .graph import CAUSED_BY, OTHER_COLOR, TYPE_COLORS, CausationGraph

if TYPE_CHECKING:  # matplotlib is imported when a graph is drawn, not by every query
    from matplotlib.figure import Figure

EDGE_STYLES: dict[str, dict[str, Any]] = {
    "caused_by": {"color": "#333333", "linestyle": "-"},
    "priced_by": {"color": "#d62728", "linestyle": "--"},
}
OTHER_EDGE: dict[str, Any] = {"color": "#1f77b4", "linestyle": ":"}
_COLUMN_INCHES = 2.5
_ROW_INCHES = 1.3


def layout(graph: CausationGraph) -> dict[str, tuple[float, float]]:
    """(x, y) of every event: y is the row (causes higher), x the tidy-tree column."""
    below: dict[str, list[str]] = {}
    for node in graph.nodes:
        if node.via_id is not None:
            below.setdefault(node.via_id, []).append(node.event_id)
    depth = {n.event_id: n.depth for n in graph.nodes}
    deepest = max(depth.values())
    column: dict[str, float] = {}
    next_leaf = 0.0

    def place(event_id: str) -> float:
        nonlocal next_leaf
        children = below.get(event_id, [])
        if not children:
            column[event_id] = next_leaf
            next_leaf += 1
        else:
            xs = [place(child) for child in children]
            column[event_id] = (min(xs) + max(xs)) / 2
        return column[event_id]

    place(graph.start_id)
    # Walking up, the start event is the lowest effect; walking down, the highest cause.
    row = {e: (d if graph.direction == "up" else deepest - d) for e, d in depth.items()}
    return {e: (column[e], float(row[e])) for e in column}


def draw_graph(graph: CausationGraph) -> Figure:
    """The graph as a figure: one box per event coloured by type (the start event outlined
    thick), arrows from cause to effect styled by edge kind, a legend and the cut's note."""
    where = layout(graph)
    columns = max(x for x, _ in where.values()) + 1
    rows = max(y for _, y in where.values()) + 1
    width = min(max(columns * _COLUMN_INCHES, 5.0), 40.0)
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, rows * _ROW_INCHES + 1.2), layout="constrained")
    ax = figure.subplots()
    ax.set_axis_off()
    ax.set_xlim(-0.6, columns - 0.4)
    ax.set_ylim(-0.6, rows - 0.4)
    boxes = {}
    for node in graph.nodes:
        x, y = where[node.event_id]
        boxes[node.event_id] = ax.text(
            x,
            y,
            "\n".join(node.lines()),
            ha="center",
            va="center",
            fontsize=7,
            zorder=3,
            bbox={
                "boxstyle": "round,pad=0.4",
                "facecolor": TYPE_COLORS.get(node.event_type, OTHER_COLOR),
                "edgecolor": "#222222",
                "linewidth": 2.2 if node.event_id == graph.start_id else 0.8,
            },
        )
    kinds: list[str] = []
    for edge in graph.edges:
        if edge.kind not in kinds:
            kinds.append(edge.kind)
        style = EDGE_STYLES.get(edge.kind, OTHER_EDGE)
        parent, child = boxes[edge.parent_id], boxes[edge.child_id]
        ax.annotate(
            "",
            xy=where[edge.child_id],
            xytext=where[edge.parent_id],
            zorder=2,
            arrowprops={
                "arrowstyle": "-|>",
                "color": style["color"],
                "linestyle": style["linestyle"],
                "linewidth": 1.2,
                "patchA": parent.get_bbox_patch(),
                "patchB": child.get_bbox_patch(),
                "shrinkA": 2,
                "shrinkB": 2,
            },
        )
        if edge.kind != CAUSED_BY:
            (x0, y0), (x1, y1) = where[edge.parent_id], where[edge.child_id]
            ax.text(
                (x0 + x1) / 2,
                (y0 + y1) / 2,
                edge.kind,
                fontsize=6,
                color=style["color"],
                ha="center",
                va="center",
                zorder=4,
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5},
            )
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], label=kind, linewidth=1.2, **EDGE_STYLES.get(kind, OTHER_EDGE))
        for kind in kinds
    ]
    if handles:
        ax.legend(handles=handles, loc="upper right", fontsize=7, title="edge", title_fontsize=7)
    figure.suptitle(f"{graph.title} (arrows: cause → effect)", fontsize=9)
    if graph.note:
        figure.supxlabel(graph.note, fontsize=7, color="#555555")
    return figure
