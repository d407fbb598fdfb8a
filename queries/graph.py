"""The causation graph of one event, as data and as text (Mermaid, Graphviz dot).

``causation_graph`` walks up (why: the event's ancestors) or down (effects: its descendants)
through the lineage helpers, then asks for every lineage edge among the events kept, so an
event with two parents (a FILL ``caused_by`` its ORDER and ``priced_by`` a BAR) shows both.
Large graphs are cut: no deeper than ``max_depth`` edges, at most ``max_children`` per event
and ``max_nodes`` in all; ``CausationGraph.note`` says how many events each cut left out.
Edges always point from cause to effect, whichever way the walk went.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import orjson
import pyarrow as pa

from eventstore.errors import QueryError

from .lineage import MAX_DEPTH, ancestors, descendants
from .refs import resolve_event
from .sql_files import fetch_table
from .store_access import StoreLike, opened
from .units import duration, number

Direction = Literal["up", "down"]
GraphFormat = Literal["mermaid", "dot"]
KEY_FIELDS = (
    "symbol", "side", "quantity", "qty", "price", "close", "equity", "position", "strength",
)  # fmt: skip
"""Payload fields shown on a node, in this order, when present (then other scalars)."""
FIELDS_SHOWN = 3
TYPE_COLORS = {
    "BAR": "#dbe9f6",
    "SIGNAL": "#fdf2c4",
    "ORDER": "#fde0c5",
    "FILL": "#d5efd5",
    "PORTFOLIO_UPDATE": "#e6dcf2",
}
OTHER_COLOR = "#eeeeee"
CAUSED_BY = "caused_by"


@dataclass(frozen=True, slots=True)
class GraphNode:
    """One event: its id, type, source, a few payload fields, depth (edges from the start
    event) and latency (ms from creation until its last handler returned; None if unknown)."""

    event_id: str
    seq: int
    event_type: str
    source: str | None
    fields: tuple[tuple[str, str], ...]
    depth: int
    latency_ms: float | None
    via_id: str | None
    """The neighbour it was reached from (toward the start event); None for the start."""

    def lines(self) -> list[str]:
        """The node's label, line by line."""
        lines = [
            f"{one_line(self.event_type)} {self.event_id}",
            one_line(self.source or "(no source)"),
        ]
        if self.fields:
            lines.append(" ".join(f"{k}={v}" for k, v in self.fields))
        if self.latency_ms is not None:
            lines.append(f"done in {duration(self.latency_ms)}")
        return lines


@dataclass(frozen=True, slots=True)
class GraphEdge:
    parent_id: str
    child_id: str
    kind: str


@dataclass(frozen=True)
class CausationGraph:
    """Events around ``start_id`` and the lineage edges among them."""

    start_id: str
    direction: Direction
    nodes: list[GraphNode]
    edges: list[GraphEdge]
    left_out: dict[str, int]
    """Events not shown, by the cut that removed them: ``depth``, ``width``, ``size``."""
    max_depth: int
    max_children: int
    max_nodes: int

    @property
    def title(self) -> str:
        what = "why" if self.direction == "up" else "effects of"
        return f"{what} {self.start_id}"

    @property
    def note(self) -> str:
        """What the cuts left out, in one sentence; empty when nothing was."""
        total = sum(self.left_out.values())
        if not total:
            return ""
        reasons = []
        if self.left_out.get("depth"):
            reasons.append(f"{self.left_out['depth']} deeper than {self.max_depth} edges")
        if self.left_out.get("width"):
            reasons.append(f"{self.left_out['width']} past the first {self.max_children} per event")
        if self.left_out.get("size"):
            reasons.append(f"{self.left_out['size']} past the first {self.max_nodes} events")
        return f"{total} more event(s) not shown: {', '.join(reasons)}"


def causation_graph(
    store: StoreLike,
    event_id: str,
    *,
    direction: str = "up",
    max_depth: int = 6,
    max_children: int = 6,
    max_nodes: int = 40,
) -> CausationGraph:
    """The causation graph of ``event_id``: ``up`` its ancestors (why it happened), ``down``
    its descendants (what it caused), cut as the module docstring says."""
    if direction not in ("up", "down"):
        raise QueryError(f"unknown direction {direction!r}: use up (why) or down (effects)")
    if min(max_depth, max_children, max_nodes) < 1:
        raise QueryError("graph limits must be at least 1: raise --depth / --width")
    with opened(store) as db:
        ref = resolve_event(db, event_id)
        walk = ancestors if direction == "up" else descendants
        table = walk(db, ref.event_id, max_depth=MAX_DEPTH)
        nodes, left_out = _cut(table, max_depth, max_children, max_nodes)
        seqs = [n.seq for n in nodes]
        edges = fetch_table(
            db,
            "edges_among",
            {
                "run_id": ref.run.run_id,
                "id_prefix": ref.run.id_prefix,
                "seqs": seqs,
                "low": min(seqs),
                "high": max(seqs),
            },
        )
    return CausationGraph(
        start_id=ref.event_id,
        direction=direction,  # type: ignore[arg-type]
        nodes=nodes,
        edges=[GraphEdge(r["parent_id"], r["child_id"], r["kind"]) for r in edges.to_pylist()],
        left_out=left_out,
        max_depth=max_depth,
        max_children=max_children,
        max_nodes=max_nodes,
    )


def _cut(
    table: pa.Table, max_depth: int, max_children: int, max_nodes: int
) -> tuple[list[GraphNode], dict[str, int]]:
    """Keep events breadth-first from the start (the first row) within the limits; count
    what each limit left out, whole subtrees at a time."""
    rows = table.to_pylist()
    below: dict[str | None, list[dict[str, Any]]] = {}
    for row in rows:
        if row["depth"]:
            below.setdefault(row["via_id"], []).append(row)
    for siblings in below.values():
        siblings.sort(key=lambda r: r["seq"])

    def size(row: dict[str, Any]) -> int:
        return 1 + sum(size(child) for child in below.get(row["event_id"], []))

    start = next(r for r in rows if r["depth"] == 0)
    kept: list[dict[str, Any]] = [start]
    left_out = {"depth": 0, "width": 0, "size": 0}
    frontier = [start]
    while frontier:
        following: list[dict[str, Any]] = []
        for row in frontier:
            for rank, child in enumerate(below.get(row["event_id"], [])):
                if child["depth"] > max_depth:
                    left_out["depth"] += size(child)
                elif rank >= max_children:
                    left_out["width"] += size(child)
                elif len(kept) >= max_nodes:
                    left_out["size"] += size(child)
                else:
                    kept.append(child)
                    following.append(child)
        frontier = following
    return [_node(row) for row in kept], left_out


def _node(row: dict[str, Any]) -> GraphNode:
    done = row["processed_ns"]
    return GraphNode(
        event_id=row["event_id"],
        seq=int(row["seq"]),
        event_type=row["event_type"],
        source=row["source"],
        fields=key_fields(row["payload"]),
        depth=int(row["depth"]),
        latency_ms=None if done is None else (done - row["created_ns"]) / 1e6,
        via_id=row["via_id"],
    )


def key_fields(payload: str | None, limit: int = FIELDS_SHOWN) -> tuple[tuple[str, str], ...]:
    """Up to ``limit`` short scalar fields of a payload, the usual trading ones first."""
    if not payload:
        return ()
    value = orjson.loads(payload)
    if not isinstance(value, dict):
        return (("value", _short(value)),)
    scalars = {k: v for k, v in value.items() if isinstance(v, str | int | float | bool)}
    order = [k for k in KEY_FIELDS if k in scalars] + [k for k in scalars if k not in KEY_FIELDS]
    return tuple((one_line(k), _short(scalars[k])) for k in order[:limit])


def _short(value: object, width: int = 16) -> str:
    text = (
        number(value)
        if isinstance(value, int | float) and not isinstance(value, bool)
        else one_line(str(value))
    )
    return text if len(text) <= width else text[: width - 1] + "…"


def one_line(text: str) -> str:
    """``text`` on one line of printable characters: a newline, tab or other control
    character in a user's payload, type or source would break a Mermaid or dot label (and
    has no glyph in an image), so each run of them and of spaces becomes one space."""
    if text.isprintable():
        return text
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def graph_text(graph: CausationGraph, fmt: str = "mermaid") -> str:
    """The graph as Mermaid flowchart or Graphviz dot source."""
    writers: dict[str, Callable[[CausationGraph], str]] = {"mermaid": to_mermaid, "dot": to_dot}
    if fmt not in writers:
        raise QueryError(f"unknown graph format {fmt!r}: use mermaid, dot, svg or png")
    return writers[fmt](graph)


def to_mermaid(graph: CausationGraph) -> str:
    """A Mermaid flowchart: ``caused_by`` a solid arrow, ``priced_by`` dotted, other kinds
    thick; the start event outlined; the cut's note as a node of its own."""
    ids = {n.event_id: f"e{n.seq}" for n in graph.nodes}
    out = [f"%% {graph.title}: edges point from cause to effect", "flowchart TB"]
    for node in graph.nodes:
        label = "<br/>".join(_mermaid_escape(line) for line in node.lines())
        out.append(f'    {ids[node.event_id]}["{label}"]')
    for edge in graph.edges:
        arrow = {"caused_by": "-->", "priced_by": "-.->"}.get(edge.kind, "==>")
        out.append(
            f"    {ids[edge.parent_id]} {arrow}|{_mermaid_escape(edge.kind)}| {ids[edge.child_id]}"
        )
    for event_type, color in TYPE_COLORS.items():
        members = [ids[n.event_id] for n in graph.nodes if n.event_type == event_type]
        if members:
            out.append(f"    classDef t{event_type} fill:{color},stroke:#555")
            out.append(f"    class {','.join(members)} t{event_type}")
    out.append(f"    style {ids[graph.start_id]} stroke-width:3px")
    if graph.note:
        out.append(f'    cut["{_mermaid_escape(graph.note)}"]')
        out.append("    style cut stroke-dasharray:4 3,fill:#ffffff")
    return "\n".join(out) + "\n"


def _mermaid_escape(text: str) -> str:
    return (
        text.replace("&", "#amp;")
        .replace('"', "#quot;")
        .replace("<", "#lt;")
        .replace(">", "#gt;")
        .replace("|", "#124;")  # ends an edge's label
    )


_DOT_EDGE_STYLE = {
    "caused_by": "",
    "priced_by": ', style=dashed, color="#d62728", fontcolor="#d62728"',
}
_DOT_OTHER_STYLE = ', style=dotted, color="#1f77b4", fontcolor="#1f77b4"'


def to_dot(graph: CausationGraph) -> str:
    """Graphviz dot source: ``caused_by`` solid, ``priced_by`` dashed red, other kinds
    dotted blue; the start event drawn thick; the cut's note as the graph's label."""
    out = [
        "digraph causation {",
        f'    graph [rankdir=TB, fontname="Helvetica", fontsize=10, labelloc=t, '
        f'label="{_dot_escape(graph.title)}"];',
        '    node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10];',
        '    edge [fontname="Helvetica", fontsize=9];',
    ]
    for node in graph.nodes:
        label = "\\n".join(_dot_escape(line) for line in node.lines())
        color = TYPE_COLORS.get(node.event_type, OTHER_COLOR)
        width = ", penwidth=2.5" if node.event_id == graph.start_id else ""
        out.append(f'    "{node.event_id}" [label="{label}", fillcolor="{color}"{width}];')
    for edge in graph.edges:
        style = _DOT_EDGE_STYLE.get(edge.kind, _DOT_OTHER_STYLE)
        kind = _dot_escape(edge.kind)
        out.append(f'    "{edge.parent_id}" -> "{edge.child_id}" [label="{kind}"{style}];')
    if graph.note:
        out.append(f'    cut [shape=note, style=dashed, label="{_dot_escape(graph.note)}"];')
    out.append("}")
    return "\n".join(out) + "\n"


def _dot_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
