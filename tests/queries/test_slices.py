"""The helpers that read a run a slice at a time answer exactly as they do reading it whole,
however finely it is sliced, on both backends; and they report their progress slice by slice."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pytest

from eventstore import Store, open_store, queries
from eventstore.queries import slices
from tests.conftest import BACKENDS, fresh_pg_database
from tests.queries.backtest_store import CONFIG


@dataclass
class Demo:
    store: Store
    runs: list[str]  # two seeds of the demo backtest: they diverge, and trade differently


@pytest.fixture(scope="module", params=BACKENDS)
def demo(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Demo]:
    from eventstore.backtest import BacktestContainer, load_config

    def traced(url: str) -> Iterator[Demo]:
        with open_store(url) as store:
            runs = [
                BacktestContainer(load_config(CONFIG, bars=70, seed=seed), store).run()
                for seed in (42, 43)
            ]
            yield Demo(store, [run.correlation_id or "" for run in runs])

    if request.param == "duckdb":
        yield from traced(str(tmp_path_factory.mktemp("slices") / "runs.duckdb"))
        return
    with fresh_pg_database(request.getfixturevalue("pg_server")) as url:
        yield from traced(url)


ASKED: dict[str, Callable[[Store, list[str]], Any]] = {
    "latency by type": lambda s, r: queries.latency_percentiles(s, r[:1]),
    "latency by handler, per run": lambda s, r: queries.latency_percentiles(
        s, r, by="handler", per_run=True
    ),
    "latency by source, all runs": lambda s, r: queries.latency_percentiles(s, by="source"),
    "chains": lambda s, r: queries.signal_to_fill_chains(s, r[0]),
    "chains, depth 2": lambda s, r: queries.signal_to_fill_chains(s, r[1], max_depth=2),
    "first divergence": lambda s, r: queries.first_divergence(s, r[0], r[1]),
    "a run compared with itself": lambda s, r: queries.compare_runs(s, r[1], r[1]),
    "comparison": lambda s, r: queries.compare_runs(s, r[0], r[1]),
    "analysis": lambda s, r: queries.run_analysis(s, r[1]),
}


def rows(answer: Any) -> Any:
    if isinstance(answer, pa.Table):
        return answer.to_pylist()
    if isinstance(answer, list):
        return [rows(part) for part in answer]
    if isinstance(answer, tuple):
        return tuple(rows(part) for part in answer)
    if hasattr(answer, "__dataclass_fields__"):
        return {name: rows(getattr(answer, name)) for name in answer.__dataclass_fields__}
    return answer


@pytest.mark.parametrize("question", ASKED)
@pytest.mark.parametrize("size", [2, 37])
def test_a_sliced_answer_is_the_whole_answer(
    demo: Demo, question: str, size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    ask = ASKED[question]
    whole = rows(ask(demo.store, demo.runs))
    monkeypatch.setattr(slices, "SLICE_SEQS", size)
    sliced = rows(ask(demo.store, demo.runs))
    assert whole, f"{question} answered nothing: the comparison would prove nothing"
    assert sliced == whole


def test_the_demo_runs_are_long_enough_to_slice(demo: Demo) -> None:
    events = queries.list_runs(demo.store)["events"].to_pylist()
    fills = queries.signal_to_fill_chains(demo.store, demo.runs[0]).num_rows
    assert min(events) > 37 * 7 and fills > 7


def test_progress_is_told_slice_by_slice(demo: Demo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(slices, "SLICE_SEQS", 50)
    told: list[tuple[int, int]] = []
    queries.latency_percentiles(demo.store, demo.runs, progress=lambda d, t: told.append((d, t)))
    events = sum(queries.list_runs(demo.store)["events"].to_pylist())
    total = told[0][1]
    assert total >= events // 50 and told == [(done, total) for done in range(1, total + 1)]


@pytest.mark.parametrize(
    "work",
    [
        lambda s, r, p: queries.run_analysis(s, r[0], progress=p),
        lambda s, r, p: queries.compare_runs(s, r[1], r[1], progress=p),
        lambda s, r, p: queries.signal_to_fill_chains(s, r[0], progress=p),
    ],
    ids=["analysis", "comparison", "chains"],
)
def test_progress_of_several_parts_only_grows_and_ends_whole(
    demo: Demo, work: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(slices, "SLICE_SEQS", 100)
    told: list[tuple[int, int]] = []
    work(demo.store, demo.runs, lambda d, t: told.append((d, t)))
    assert len(told) > 2
    assert len({total for _, total in told}) == 1, told
    done = [d for d, _ in told]
    assert done == sorted(done) and done[-1] == told[-1][1]


def test_unmatched_trades_can_be_cut_and_still_counted(demo: Demo) -> None:
    whole = queries.compare_runs(demo.store, demo.runs[0], demo.runs[1])
    cut = queries.compare_runs(demo.store, demo.runs[0], demo.runs[1], unmatched_limit=3)
    assert whole.unmatched.num_rows > 3
    assert cut.unmatched.to_pylist() == whole.unmatched.slice(0, 3).to_pylist()
    assert cut.unmatched_count == whole.unmatched_count == whole.unmatched.num_rows
    assert not cut.identical
