"""The store contract, once per backend (a DuckDB file, a PostgreSQL database): opening creates
the schema, a traced run round-trips, the writer takes many batches, crashed runs are marked,
and bad uses are clear errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from datetime import datetime

import pytest
import sqlalchemy as sa

from eventstore import Event, EventTracer, Store, TracedEventBus, open_store
from eventstore.errors import StoreError
from eventstore.store.schema import SCHEMA_REVISION
from tests.queries.flows import CLOSES, trace_trading

VIEWS = {"events", "lineage_edges", "deliveries"}
TABLES = {"alembic_version", "runs", "run_names", "run_events", "run_edges", "run_deliveries"}


def test_opening_creates_the_schema(backend_url: str) -> None:
    with open_store(backend_url) as store:
        with store.connect() as conn:
            inspector = sa.inspect(conn)
            assert set(inspector.get_table_names()) == TABLES
            assert set(inspector.get_view_names()) == VIEWS
        revision = store.fetch_records("SELECT version_num FROM alembic_version", {})
        assert revision == [{"version_num": SCHEMA_REVISION}]
    with open_store(backend_url, read_only=True) as reader:  # opens again, changes nothing
        assert reader.read_only
        assert reader.fetch_records("SELECT count(*) AS n FROM runs", {}) == [{"n": 0}]


def test_a_traced_run_round_trips_through_many_batches(backend_store: Store) -> None:
    truth = trace_trading(backend_store, CLOSES * 3, batch_size=3)
    rows = backend_store.fetch_records(
        "SELECT event_id, event_type, causation_id FROM events WHERE run_id = :run ORDER BY seq",
        {"run": truth.run_id},
    )
    assert [r["event_id"] for r in rows] == sorted(truth.ids, key=truth.seq)
    assert {r["event_id"]: r["event_type"] for r in rows} == truth.types
    edges = backend_store.fetch_records(
        "SELECT child_id, kind, parent_id FROM lineage_edges WHERE run_id = :run",
        {"run": truth.run_id},
    )
    stored = {(e["child_id"], e["kind"], e["parent_id"]) for e in edges}
    assert stored == {
        (child, kind, parent)
        for child, parents in truth.parents.items()
        for kind, parent in parents
    }
    (run,) = backend_store.fetch_records(
        "SELECT status, event_count FROM runs WHERE run_id = :run", {"run": truth.run_id}
    )
    assert run == {"status": "completed", "event_count": len(truth.ids)}
    # Every event was dispatched within the run, so every end_seq arrived (many by update).
    (ends,) = backend_store.fetch_records(
        "SELECT count(*) AS open_ends FROM events WHERE run_id = :run AND end_seq IS NULL",
        {"run": truth.run_id},
    )
    assert ends == {"open_ends": 0}


AWKWARD = [
    {"text": 'a "quoted", comma\nand a newline', "empty": ""},
    {"unicode": "Ωμέγα ✓ 日本", "nested": {"list": [1, 2.5, None, True]}},
    {"percent": "100% %(name)s :name $1", "backslash": "C:\\temp\\x"},
]


def test_payloads_names_and_errors_keep_every_character(backend_store: Store) -> None:
    bus = TracedEventBus("awkward", on_handler_error="log")

    def refuse(event: Event) -> None:
        raise ValueError('refused: "quotes", commas, and\na newline')

    bus.subscribe('ÉVÉNEMENT, "x"', refuse)
    with EventTracer(store=backend_store, batch_size=2, background=False) as tracer:
        bus.set_tracer(tracer)
        for payload in AWKWARD:
            bus.publish(Event('ÉVÉNEMENT, "x"', datetime(2024, 1, 2), payload), "Stratégie,β")
    rows = backend_store.fetch_records(
        "SELECT event_type, source, payload FROM events WHERE run_id = :run ORDER BY seq",
        {"run": tracer.correlation_id},
    )
    assert [json.loads(r["payload"]) for r in rows] == AWKWARD
    assert {(r["event_type"], r["source"]) for r in rows} == {('ÉVÉNEMENT, "x"', "Stratégie,β")}
    errors = backend_store.fetch_records(
        "SELECT error FROM deliveries WHERE run_id = :run", {"run": tracer.correlation_id}
    )
    assert errors == [{"error": 'ValueError: refused: "quotes", commas, and\na newline'}] * 3


def test_a_read_only_store_refuses_to_trace(backend_url: str) -> None:
    open_store(backend_url).close()
    with (
        open_store(backend_url, read_only=True) as reader,
        pytest.raises(StoreError, match="read-only"),
    ):
        reader.batch_writer()


def test_a_run_id_is_stored_once(backend_store: Store) -> None:
    with EventTracer("run-twice", store=backend_store, background=False):
        pass
    with (
        pytest.raises(StoreError, match="already in this store"),
        EventTracer("run-twice", store=backend_store, background=False),
    ):
        pass


def test_bounds_a_forgotten_parent_left_short_are_recomputed_when_the_run_ends(
    backend_store: Store,
) -> None:
    """The late event names a parent that left the tracer's ring (ring_size=2): the parent's
    ancestors' ends could not be raised while the run went, and the late event got root 1.
    At the run's end the writer recomputes both from the stored lineage: exact again."""
    bus = TracedEventBus("ring")
    bus.subscribe("ROOT", lambda e: bus.publish(Event("CHILD", e.timestamp)))
    at = datetime(2024, 1, 2)
    with EventTracer(store=backend_store, ring_size=2, batch_size=2) as tracer:
        bus.set_tracer(tracer)
        for _ in range(4):
            bus.publish(Event("TICK", at))  # 1-4
        bus.publish(Event("ROOT", at))  # 5, and its CHILD 6
        for _ in range(4):
            bus.publish(Event("TICK", at))  # 7-10
        bus.publish(Event("LATE", at), caused_by=f"{tracer.tag}-6")  # 11
    assert not tracer.lineage_exact  # the recorder lost track of 6's ancestors
    (run,) = backend_store.fetch_records(
        "SELECT run_no, lineage_exact FROM runs WHERE run_id = :run", {"run": tracer.correlation_id}
    )
    assert run["lineage_exact"]
    rows = backend_store.fetch_records(
        "SELECT seq, root_seq, end_seq FROM run_events WHERE run_no = :run_no ORDER BY seq",
        {"run_no": run["run_no"]},
    )
    chain = {5: (5, 11), 6: (5, 11), 11: (5, 11)}  # ROOT -> CHILD -> LATE
    assert [(r["seq"], r["root_seq"], r["end_seq"]) for r in rows] == [
        (seq, *chain.get(seq, (seq, seq))) for seq in range(1, 12)
    ]


DYING_RUN = textwrap.dedent(
    """
    import os, sys
    from datetime import datetime
    from eventstore import Event, EventTracer, TracedEventBus, open_store
    store = open_store(sys.argv[1])
    tracer = EventTracer(store=store, batch_size=10, background=False).start()
    bus = TracedEventBus("b"); bus.set_tracer(tracer)
    for i in range(25):
        bus.publish(Event("BAR", datetime(2024, 1, 2), {"i": i}))
    print(tracer.correlation_id, flush=True)
    if sys.argv[2] == "wait":
        sys.stdin.read()  # alive, run open, until the test kills it
    os._exit(0)  # dies without closing the run
    """
)


def test_a_run_whose_process_died_is_marked_crashed(backend_url: str) -> None:
    open_store(backend_url).close()
    done = subprocess.run(
        [sys.executable, "-c", DYING_RUN, backend_url, "exit"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    run_id = done.stdout.strip()
    with open_store(backend_url, read_only=True) as reader:  # the first to look marks it
        rows = reader.fetch_records("SELECT run_id, status, event_count, error FROM runs", {})
    assert rows == [
        {
            "run_id": run_id,
            "status": "crashed",
            "event_count": 20,  # two whole batches; the five in the buffer died with it
            "error": "the tracing process ended without closing the run",
        }
    ]


DYING_AFTER_A_LATE_PARENT = textwrap.dedent(
    """
    import os, sys
    from datetime import datetime
    from eventstore import Event, EventTracer, TracedEventBus, open_store
    at = datetime(2024, 1, 2)
    store = open_store(sys.argv[1])
    tracer = EventTracer(store=store, ring_size=2, batch_size=2, background=False).start()
    bus = TracedEventBus("b"); bus.set_tracer(tracer)
    bus.subscribe("ROOT", lambda e: bus.publish(Event("CHILD", at)))
    bus.publish(Event("ROOT", at))  # 1, its CHILD 2
    for _ in range(4):
        bus.publish(Event("TICK", at))  # 3-6
    bus.publish(Event("LATE", at), caused_by=tracer.tag + "-2")  # 7
    assert not tracer.lineage_exact
    tracer.flush()
    os._exit(0)  # dies without closing the run
    """
)


def test_a_crashed_run_gets_exact_bounds_from_what_it_stored(backend_url: str) -> None:
    """The recorder's word that a named parent's ancestors had left memory dies with its
    process: marking the run crashed recomputes its bounds instead of leaving them short."""
    open_store(backend_url).close()
    subprocess.run(
        [sys.executable, "-c", DYING_AFTER_A_LATE_PARENT, backend_url],
        check=True,
        timeout=120,
    )
    with open_store(backend_url, read_only=True) as reader:
        (run,) = reader.fetch_records("SELECT status, lineage_exact, event_count FROM runs", {})
        rows = reader.fetch_records("SELECT seq, root_seq, end_seq FROM run_events ORDER BY seq")
    assert run == {"status": "crashed", "lineage_exact": True, "event_count": 7}
    chain = {1: (1, 7), 2: (1, 7), 7: (1, 7)}  # ROOT -> CHILD -> LATE
    assert [(r["seq"], r["root_seq"], r["end_seq"]) for r in rows] == [
        (seq, *chain.get(seq, (seq, seq))) for seq in range(1, 8)
    ]


def test_a_live_writer_on_a_shared_server_is_not_marked_crashed(pg_url: str) -> None:
    """On a server, other processes open the store while a run is written: the run stays
    ``running`` as long as its writer's session lives, and is crashed once it is gone."""
    open_store(pg_url).close()
    writer = subprocess.Popen(
        [sys.executable, "-c", DYING_RUN, pg_url, "wait"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None
        run_id = writer.stdout.readline().strip()
        with open_store(pg_url) as store:  # a read-write open, as another worker's would be
            assert store.mark_crashed_runs() == 0
            status = store.fetch_records("SELECT run_id, status FROM runs", {})
        assert status == [{"run_id": run_id, "status": "running"}]
    finally:
        os.kill(writer.pid, signal.SIGKILL)
        writer.communicate()
    with open_store(pg_url) as store:
        status = store.fetch_records("SELECT status, event_count FROM runs", {})
    assert status == [{"status": "crashed", "event_count": 20}]


def _as_owner(pg_url: str, *statements: str) -> None:
    import psycopg

    conninfo = sa.make_url(pg_url).set(drivername="postgresql")
    with psycopg.connect(conninfo.render_as_string(hide_password=False), autocommit=True) as c:
        for statement in statements:
            c.execute(statement)


def test_a_database_this_user_may_not_create_tables_in_names_the_grant(pg_url: str) -> None:
    _as_owner(
        pg_url,
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
        "REVOKE CREATE ON SCHEMA public FROM pg_database_owner",
    )
    with sa.create_engine(sa.make_url(pg_url).set(drivername="postgresql+psycopg")).connect() as c:
        may_create = c.execute(sa.text("SELECT has_schema_privilege('public', 'CREATE')"))
        if may_create.scalar():  # before PostgreSQL 15 a superuser owns the schema
            pytest.skip("this server's schema public can't be closed to its database's owner")
    user = sa.make_url(pg_url).username
    with pytest.raises(StoreError) as error:
        open_store(pg_url)
    message = str(error.value)
    assert "permission denied for schema public" in message
    assert f"GRANT CREATE ON SCHEMA public TO {user}" in message
    assert "Traceback" not in message and "[SQL:" not in message


def test_a_store_this_user_may_only_read_is_read_but_not_traced_into(pg_url: str) -> None:
    with open_store(pg_url) as store, EventTracer(store=store, name="kept"):
        pass
    _as_owner(pg_url, "REVOKE INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public FROM PUBLIC")
    _as_owner(
        pg_url, "REVOKE INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public FROM CURRENT_USER"
    )
    user = sa.make_url(pg_url).username
    with pytest.raises(StoreError, match="permission denied for table runs") as error:
        open_store(pg_url)
    assert f"ON ALL TABLES IN SCHEMA public TO {user}" in str(error.value)
    with open_store(pg_url, read_only=True) as store:
        assert store.fetch_records("SELECT name FROM runs", {}) == [{"name": "kept"}]


def test_a_server_that_takes_no_writes_says_so(pg_url: str) -> None:
    name = sa.make_url(pg_url).database
    _as_owner(pg_url, f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    with pytest.raises(StoreError, match=r"read-only transaction.*takes no writes"):
        open_store(pg_url)


def test_a_connection_lost_under_a_query_is_our_error_and_the_next_query_reconnects(
    pg_url: str,
) -> None:
    """A server restart (or an administrator ending the session) between two questions of a
    long-lived store: the query says what happened, then the store connects again."""
    with open_store(pg_url) as store:
        with EventTracer(store=store, name="kept") as tracer:
            bus = TracedEventBus("b")
            bus.set_tracer(tracer)
            for minute in range(3):
                bus.publish(Event("BAR", datetime(2024, 1, 2, 9, minute)))
        (session,) = store.fetch_records("SELECT pg_backend_pid() AS pid", {})
        _as_owner(pg_url, f"SELECT pg_terminate_backend({int(session['pid'])})")
        with pytest.raises(StoreError, match=r"lost the connection to .*check that the server"):
            store.fetch_arrow("SELECT count(*) AS n FROM events")
        assert store.fetch_records("SELECT count(*) AS n FROM events", {}) == [{"n": 3}]
        stream = store.stream_arrow("SELECT seq FROM events ORDER BY seq", batch_size=1)
        assert next(stream).column("seq").to_pylist() == [1]
        (streaming,) = store.fetch_records(
            "SELECT pid FROM pg_stat_activity WHERE query LIKE '%eventstore_stream%' "
            "AND pid <> pg_backend_pid() AND datname = current_database()",
            {},
        )
        _as_owner(pg_url, f"SELECT pg_terminate_backend({int(streaming['pid'])})")
        with pytest.raises(StoreError, match="lost the connection to "):
            list(stream)


def test_an_unreachable_server_is_a_clear_error() -> None:
    with pytest.raises(
        StoreError, match=r"cannot connect to .*nobody:\*\*\*@127.0.0.1:1/runs"
    ) as error:
        open_store("postgresql+psycopg://nobody:secret@127.0.0.1:1/runs")
    assert "check that the server runs" in str(error.value) and "secret" not in str(error.value)


def test_the_password_never_shows(pg_url: str) -> None:
    # The URL's own password, else one a server with trust authentication does not check.
    password = sa.make_url(pg_url).password or "s3cret"
    url = sa.make_url(pg_url).set(password=password).render_as_string(hide_password=False)
    with open_store(url) as store:
        assert password not in store.url and password not in repr(store)


def test_other_databases_are_refused_by_name() -> None:
    with pytest.raises(StoreError, match="mysql databases are not supported"):
        open_store("mysql://user@host/db")
