"""Parameter sweeps: one traced backtest per point of a grid, run on worker processes or a
``dask.distributed`` cluster, every run stored in one database (``run_sweep``)."""

from eventstore.sweep.grid import GridPoint, Sweep, load_sweep
from eventstore.sweep.result import METRICS, SweepResult, SweepRun, SweepStopped
from eventstore.sweep.runner import run_sweep

__all__ = [
    "METRICS",
    "GridPoint",
    "Sweep",
    "SweepResult",
    "SweepRun",
    "SweepStopped",
    "load_sweep",
    "run_sweep",
]
