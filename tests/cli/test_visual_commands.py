"""The drawing commands (plot, graph, export, report) through Typer's runner and once as a
subprocess: files written whole, output under 80 columns, bad input one line and no file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from eventstore import EventTracer, cli_visual, open_store, queries
from eventstore.cli import app
from eventstore.store.duckdb_writer import DuckDBBatchWriter
from eventstore.store.parquet import export_runs
from tests.cli.conftest import TracedFile, error_message
from tests.queries.flows import publish_ticks

runner = CliRunner()
EVENTSTORE = Path(sys.executable).parent / "eventstore"
CONFIG = Path(__file__).resolve().parents[2] / "config" / "multi_strategy_test.yaml"


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def ok(*args: str, narrow: bool = True) -> str:
    """Run a command that must succeed; its messages fit 80 columns (graph source text,
    like CSV, is for programs and is exempt)."""
    code, out, err = invoke(*args)
    assert code == 0, err or out
    assert not narrow or all(len(line) <= 80 for line in out.splitlines())
    return out


def test_plot_latency_writes_png_and_svg(
    traced_file: TracedFile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # relative output names: lines stay short
    db = str(traced_file.path)
    png = Path("latency.png")
    ok("plot", "latency", traced_file.a.run_id, traced_file.b.run_id, "-o", str(png),
       "--by", "handler", "--metric", "queue", "--db", db)  # fmt: skip
    with Image.open(png) as image:
        assert image.format == "PNG" and image.width > 500
    svg = Path("latency.svg")
    assert "wrote" in ok("plot", "latency", "-o", str(svg), "--by", "event_type", "--db", db)
    assert svg.read_text().lstrip().startswith("<?xml")


def test_graph_prints_mermaid_and_writes_dot_and_png(
    traced_file: TracedFile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # relative output names: lines stay short
    db = str(traced_file.path)
    fill = traced_file.a.of_type("FILL")[0]
    out = ok("graph", fill, "--db", db, narrow=False)
    assert out.splitlines()[1] == "flowchart TB" and fill in out
    bar = traced_file.a.of_type("BAR")[3]
    dot = Path("effects.dot")
    ok("graph", bar, "--down", "-f", "dot", "-o", str(dot), "--db", db)
    assert dot.read_text().startswith("digraph causation {")
    png = Path("why.png")
    ok("graph", fill, "--up", "-f", "png", "-o", str(png), "--db", db)
    with Image.open(png) as image:
        assert image.format == "PNG"


@pytest.mark.parametrize(
    ("name", "starts"),
    [("why.svg", b"<?xml"), ("why.png", b"\x89PNG"), ("why.gv", b"digraph causation {")],
)
def test_graph_without_format_writes_what_the_suffix_names(
    traced_file: TracedFile,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    starts: bytes,
) -> None:
    """``graph -o why.svg`` draws an SVG, as ``plot -o x.svg`` does, not Mermaid text under
    an image's name."""
    monkeypatch.chdir(tmp_path)
    fill = traced_file.a.of_type("FILL")[0]
    ok("graph", fill, "-o", name, "--db", str(traced_file.path))
    assert Path(name).read_bytes().lstrip().startswith(starts)


def test_graph_text_format_into_an_image_name_is_refused(
    traced_file: TracedFile, tmp_path: Path
) -> None:
    fill = traced_file.a.of_type("FILL")[0]
    out = tmp_path / "why.svg"
    code, _, err = invoke("graph", fill, "-f", "mermaid", "-o", str(out), "--db",
                          str(traced_file.path))  # fmt: skip
    assert code == 1 and "-f svg" in error_message(err)
    assert not out.exists()


def test_export_perfetto_holds_every_delivery(
    traced_file: TracedFile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # relative output names: lines stay short
    out_file = Path("run.json")
    out = ok("export", traced_file.a.run_id, "--perfetto", str(out_file), "-q",
             "--db", str(traced_file.path))  # fmt: skip
    trace = json.loads(out_file.read_text())
    slices = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    with_rows = queries.run_sql(
        traced_file.path,
        f"SELECT count(*) AS n FROM deliveries WHERE run_id = '{traced_file.a.run_id}'",
    )
    assert len(slices) == with_rows["n"][0].as_py()
    assert f"{len(slices)} slices" in out


def test_export_perfetto_says_how_to_cut_a_trace_too_large_to_open(
    traced_file: TracedFile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    args = ("export", traced_file.a.run_id, "--perfetto", "run.json", "-q",
            "--db", str(traced_file.path))  # fmt: skip
    assert "note:" not in ok(*args)
    size = Path("run.json").stat().st_size
    monkeypatch.setattr(cli_visual, "PERFETTO_LARGE_BYTES", size - 1)  # as if it were huge
    out = ok(*args)
    assert "opens slowly in ui.perfetto.dev" in out
    assert "--from-ms/--to-ms or --limit" in out


def test_export_perfetto_writes_at_most_a_default_number_of_deliveries(
    traced_file: TracedFile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    db, run = str(traced_file.path), traced_file.a.run_id
    every = queries.write_perfetto(db, run, "every.json")  # the library writes them all
    monkeypatch.setattr(cli_visual, "PERFETTO_DEFAULT_LIMIT", every.slices // 2)  # a huge run
    out = ok("export", run, "--perfetto", "capped.json", "-q", "--db", db)
    assert f"wrote the first {every.slices // 2:,} of {every.slices:,} deliveries" in out
    assert "--limit 0 every delivery" in out
    assert len(json.loads(Path("capped.json").read_text())["traceEvents"]) < len(
        json.loads(Path("every.json").read_text())["traceEvents"]
    )
    out = ok("export", run, "--perfetto", "all.json", "--limit", "0", "-q", "--db", db)
    assert "note" not in out and Path("all.json").read_bytes() == Path("every.json").read_bytes()


def test_export_perfetto_limit_0_means_all_and_an_empty_window_is_an_error(
    traced_file: TracedFile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    db, run = str(traced_file.path), traced_file.a.run_id
    every = ok("export", run, "--perfetto", "all.json", "-q", "--db", db)
    unlimited = ok("export", run, "--perfetto", "limit0.json", "--limit", "0", "-q", "--db", db)
    assert unlimited.replace("limit0.json", "all.json") == every and "note" not in unlimited
    span = queries.run_sql(
        traced_file.path,
        "SELECT min(received_ns) AS first_ns, max(processed_ns) AS last_ns FROM deliveries "
        f"WHERE run_id = '{run}'",
    ).to_pylist()[0]
    code, out, err = invoke("export", run, "--perfetto", "late.json", "--from-ms", "100000",
                            "--to-ms", "200000", "--db", db)  # fmt: skip
    assert code == 1 and not Path("late.json").exists(), out
    assert "the window [100000, 200000) ms starts past the end of the run" in err
    first_ms, last_ms = (f"{span[k] / 1e6:.3f}".rstrip("0").rstrip(".") for k in span)
    assert f"deliveries run from {first_ms} to {last_ms} ms after it began" in err, err
    code, _, err = invoke("export", run, "--perfetto", "early.json", "--to-ms", "0.000001",
                          "--db", db)  # fmt: skip
    assert code == 1 and "no delivery of the run falls in the window [0, 0.000001) ms" in err


def test_report_writes_one_html_file(
    traced_file: TracedFile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # relative output names: lines stay short
    report = Path("report.html")
    ok("report", traced_file.a.run_id, "--compare", traced_file.b.run_id, "-o", str(report),
       "-q", "--db", str(traced_file.path))  # fmt: skip
    text = report.read_text()
    assert text.startswith("<!DOCTYPE html>") and "First divergence" in text


@pytest.mark.parametrize(
    "args",
    [
        ["plot", "latency", "no-such-run", "-o", "{tmp}/x.png"],
        ["plot", "latency", "--metric", "wall", "-o", "{tmp}/x.png"],
        ["plot", "latency", "--by", "colour", "-o", "{tmp}/x.png"],
        ["plot", "latency", "-o", "{tmp}/x.gif"],
        ["plot", "latency", "-o", "{tmp}/missing/x.png"],
        ["plot", "equity", "-o", "{tmp}/x.png"],
        ["graph", "zzzz-1"],
        ["graph", "{fill}", "-f", "gml"],
        ["graph", "{fill}", "-f", "png"],
        ["graph", "{fill}", "--up", "--down"],
        ["export", "latest"],
        ["export", "no-such-run", "--perfetto", "{tmp}/x.json"],
        ["export", "latest", "--perfetto", "{tmp}/missing/x.json"],
        ["export", "latest", "--perfetto", "{tmp}/x.json", "--limit", "-1"],
        ["export", "latest", "--perfetto", "{tmp}/x.json", "--from-ms", "1e5", "--to-ms", "2e5"],
        ["report", "no-such-run", "-o", "{tmp}/x.html"],
        ["report", "latest", "-o", "{tmp}"],
        ["report", "latest", "-o", "{tmp}/r.pdf"],
    ],
)
def test_bad_input_is_one_line_and_no_file(
    traced_file: TracedFile, tmp_path: Path, args: list[str]
) -> None:
    fill = traced_file.a.of_type("FILL")[0]
    argv = [a.format(tmp=tmp_path, fill=fill) for a in args]
    code, out, err = invoke(*argv, "--db", str(traced_file.path))
    assert code == 1, out
    assert error_message(err) and "Traceback" not in out
    assert list(tmp_path.iterdir()) == []


def test_a_report_named_as_another_format_is_refused_with_its_html_name(
    traced_file: TracedFile, tmp_path: Path
) -> None:
    code, _, err = invoke("report", "latest", "-o", str(tmp_path / "r.pdf"), "--db",
                          str(traced_file.path))  # fmt: skip
    assert code == 1
    assert f"name it {tmp_path / 'r.html'}" in error_message(err)


@pytest.mark.parametrize(
    ("args", "example"),
    [
        (["report", "latest", "-o", "{tmp}"], "report.html"),
        (["export", "latest", "--perfetto", "{tmp}"], "run.json"),
        (["graph", "{fill}", "-f", "dot", "-o", "{tmp}"], "graph.dot"),
        (["graph", "{fill}", "-o", "{tmp}"], "graph.mmd"),
    ],
)
def test_a_folder_given_as_the_output_suggests_a_file_of_its_kind(
    traced_file: TracedFile, tmp_path: Path, args: list[str], example: str
) -> None:
    fill = traced_file.a.of_type("FILL")[0]
    argv = [a.format(tmp=tmp_path, fill=fill) for a in args]
    code, _, err = invoke(*argv, "--db", str(traced_file.path))
    assert code == 1
    assert error_message(err) == (
        f"error: {tmp_path} is a directory: give a file name, e.g. {tmp_path / example}"
    )


@pytest.mark.parametrize(
    "args",
    [
        ["export", "latest", "--perfetto", "{out}.json"],
        ["report", "latest", "-o", "{out}.html"],
        ["plot", "latency", "-o", "{out}.png"],
    ],
)
def test_a_missing_output_folder_is_named_without_an_option_the_command_lacks(
    traced_file: TracedFile, tmp_path: Path, args: list[str]
) -> None:
    """``export --perfetto`` has no ``-o``: the fix names the folder, not an option."""
    out = tmp_path / "missing" / "out"
    code, _, err = invoke(*[a.format(out=out) for a in args], "--db", str(traced_file.path))
    assert code == 1
    message = error_message(err)
    assert message.startswith(f"error: cannot write {out}.")
    assert message.endswith(": its folder does not exist: choose a writable folder")
    assert " -o" not in err


def test_report_runs_as_a_real_command(traced_file: TracedFile, tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    env = {**os.environ, "COLUMNS": "80"}
    done = subprocess.run(
        [str(EVENTSTORE), "report", "latest", "-o", str(report), "--db", str(traced_file.path)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"wrote {report}") and report.stat().st_size > 10_000
    bad = subprocess.run(
        [str(EVENTSTORE), "graph", "zz-1", "--db", str(traced_file.path)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert bad.returncode == 1 and error_message(bad.stderr, width=80).startswith("error: no run")


def test_report_and_equity_of_a_backtest_that_made_no_trades(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # relative output names: lines stay short
    ok("run", "-c", str(CONFIG), "--bars", "5", "--db", "s.duckdb", "-q")
    assert ok("report", "--db", "s.duckdb", "-o", "s.html").startswith("wrote s.html")
    text = Path("s.html").read_text()
    assert "no SIGNAL → FILL chains: the run has no FILL events" in text
    assert "no causation graph" in text and "no trades: equity stayed" in text
    assert "wrote" in ok("plot", "equity", "--db", "s.duckdb", "-o", "equity.png")
    with Image.open("equity.png") as image:
        assert image.format == "PNG"


def test_latest_is_an_option_like_everywhere_else(
    traced_file: TracedFile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's `plot latency --latest …`; a run id and --latest together are refused."""
    monkeypatch.chdir(tmp_path)
    db = str(traced_file.path)
    ok("plot", "latency", "--latest", "--by", "handler", "-o", "latency.png", "--db", db)
    assert Path("latency.png").stat().st_size > 0
    ok("export", "--latest", "--perfetto", "run.json", "-q", "--db", db)
    assert json.loads(Path("run.json").read_text())["traceEvents"]
    ok("report", "--latest", "-o", "report.html", "-q", "--db", db)
    code, _, err = invoke("plot", "equity", traced_file.a.run_id, "--latest", "--db", db)
    assert code == 1 and err.startswith("error: give run ids or --latest, not both")


def test_export_perfetto_of_a_run_still_running_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dataset exported while runs went holds them as they were: one with nothing stored is
    one line and exit 1, one with some stored is written with a note that it is partial."""
    monkeypatch.chdir(tmp_path)  # relative output names: lines stay short
    with open_store("runs.duckdb") as store:
        with EventTracer("empty", store=store) as tracer:
            publish_ticks(tracer, 3)  # in segment files, none loaded yet
            export_runs(store, "lake", ["empty"])
        writer = DuckDBBatchWriter(store.cursor())  # stores each batch as it is handed over
        with EventTracer("some", store=writer, background=False) as tracer:
            publish_ticks(tracer, 3)
            export_runs(store, "lake", ["some"])
    code, out, err = invoke("export", "empty", "--perfetto", "empty.json", "--db", "lake")
    assert (code, out) == (1, "")
    assert error_message(err).startswith(
        "error: run empty is still running and none of its deliveries is stored yet: "
    )
    assert not Path("empty.json").exists()
    out = ok("export", "some", "--perfetto", "some.json", "--db", "lake")
    assert out.splitlines()[1:] == [
        "note: run some is still running: this trace holds what is stored so far;",
        "  export it again once it has ended",
    ]
    assert json.loads(Path("some.json").read_text())["metadata"]["slices"] == 3
