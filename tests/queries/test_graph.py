"""Causation graphs: the events and edges are the truth's, cuts say what they left out, and
the Mermaid, dot and image forms show every node and edge kind."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from eventstore.queries.output import save_figure

from eventstore import queries
from eventstore.errors import QueryError
from tests.queries.conftest import TradingStore


def test_why_graph_of_a_fill_holds_its_ancestors_and_all_their_edges(
    trading: TradingStore,
) -> None:
    truth = trading.a
    fill = truth.of_type("FILL")[0]
    graph = queries.causation_graph(trading.store, fill)
    ids = {n.event_id for n in graph.nodes}
    assert ids == set(truth.ancestors(fill))
    want = {(p, c, k) for c in ids for k, p in truth.parents[c] if p in ids}
    assert {(e.parent_id, e.child_id, e.kind) for e in graph.edges} == want
    assert {e.kind for e in graph.edges} == {"caused_by", "priced_by"}
    assert graph.note == ""


def test_effects_graph_is_cut_with_a_note_saying_what_was_left_out(
    trading: TradingStore,
) -> None:
    truth = trading.a
    bar = next(b for b in truth.of_type("BAR") if len(truth.descendants(b)) >= 4)
    everything = truth.descendants(bar)
    full = queries.causation_graph(trading.store, bar, direction="down")
    assert {n.event_id for n in full.nodes} == set(everything)
    cut = queries.causation_graph(trading.store, bar, direction="down", max_depth=1)
    assert {n.event_id for n in cut.nodes} == {e for e, d in everything.items() if d <= 1}
    left = len(everything) - len(cut.nodes)
    assert cut.left_out["depth"] == left and f"{left} more event(s) not shown" in cut.note


def test_text_forms_name_every_event_and_style_edge_kinds_apart(trading: TradingStore) -> None:
    fill = trading.a.of_type("FILL")[0]
    graph = queries.causation_graph(trading.store, fill)
    mermaid = queries.graph_text(graph, "mermaid")
    dot = queries.graph_text(graph, "dot")
    assert mermaid.splitlines()[1] == "flowchart TB"
    assert "-->|caused_by|" in mermaid and "-.->|priced_by|" in mermaid
    assert dot.startswith("digraph causation {") and dot.rstrip().endswith("}")
    assert 'label="priced_by", style=dashed' in dot
    for node in graph.nodes:
        assert node.event_id in mermaid and f'"{node.event_id}"' in dot
    with pytest.raises(QueryError, match="unknown graph format"):
        queries.graph_text(graph, "gml")


def test_graph_image_is_a_valid_svg(trading: TradingStore, tmp_path: Path) -> None:
    fill = trading.a.of_type("FILL")[0]
    figure = queries.draw_graph(queries.causation_graph(trading.store, fill))
    root = ET.parse(save_figure(figure, tmp_path / "why.svg")).getroot()
    assert root.tag.endswith("svg") and float(root.attrib["height"].rstrip("pt")) > 200


def test_unknown_event_or_direction_is_a_clear_error(trading: TradingStore) -> None:
    with pytest.raises(QueryError, match="not an event id"):
        queries.causation_graph(trading.store, "nonsense")
    with pytest.raises(QueryError, match="direction"):
        queries.causation_graph(trading.store, trading.a.ids[0], direction="sideways")


def test_labels_stay_on_one_line_whatever_the_payload_holds(tmp_path: Path) -> None:
    """A user's payload text with a newline or a tab (and a type, source or edge kind with
    quotes, brackets or a bar) went raw into the labels: the Mermaid source broke over lines
    and the image warned of glyphs its font lacks. Each label is one line, escaped."""
    import warnings
    from datetime import datetime

    from eventstore import Event, EventTracer, TracedEventBus, open_store

    store = open_store(tmp_path / "runs.duckdb")
    bus = TracedEventBus("notes")
    with EventTracer(store=store) as tracer:
        bus.set_tracer(tracer)
        note = Event('NOTE "x"', datetime(2024, 1, 2), {"text": "line1\nline2\tend", "n\tk": 1})
        bus.publish(note, source="desk|1")
        bus.publish(Event("ACK", datetime(2024, 1, 2)), parents=[("acks|reads", note)])
    graph = queries.causation_graph(store, f"{tracer.tag}-1", direction="down")
    mermaid = queries.graph_text(graph, "mermaid")
    nodes = [line.strip() for line in mermaid.splitlines() if line.strip().startswith("e")]
    assert nodes[0] == (
        f'e1["NOTE #quot;x#quot; {tracer.tag}-1<br/>desk#124;1<br/>text=line1 line2 end n k=1"]'
    )
    assert "e1 ==>|acks#124;reads| e2" in nodes
    dot = queries.graph_text(graph, "dot")
    assert "\t" not in dot and 'text=line1 line2 end n k=1"' in dot
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a glyph missing from the font
        save_figure(queries.draw_graph(graph), tmp_path / "graph.svg")
    store.close()
