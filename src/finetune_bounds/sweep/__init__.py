"""Sweeps: a TOML config → a grid of cells → an executor → a resumable SQLite store → a tidy
table. Family-agnostic: the spine knows nothing of a family's mathematics.

>>> from finetune_bounds.sweep import load_config, run_sweep          # doctest: +SKIP
>>> frame = run_sweep(load_config("configs/linear_power_law.toml").quick(),
...                   store="results", executor="processes", workers=2)  # doctest: +SKIP
>>> load_config("linear_power_law")       # a shipped config by name   # doctest: +SKIP
>>> example_configs()                     # paths of every shipped config  # doctest: +SKIP

:func:`run` is the same runner without a file: ``run("linear", params={...}, axes={"n": [...]})``.
See ``docs/sweep.md`` for the config schema, the store and running on dask, and ``docs/spine.md``
for the data flow of one cell.
"""

from __future__ import annotations

from .config import SweepConfig, example_configs, load_config
from .executors import DaskExecutor, Executor, ProcessExecutor, SerialExecutor, make_executor
from .grid import Cell, cell_key, cell_rngs
from .run import CellFailure, SweepError, SweepRun, execute_sweep, run_sweep
from .runner import run, run_config
from .store import RESULT_SCHEMA_VERSION, Store, write_frame, write_output, write_records

__all__ = [
    "RESULT_SCHEMA_VERSION",
    "Cell",
    "CellFailure",
    "DaskExecutor",
    "Executor",
    "ProcessExecutor",
    "SerialExecutor",
    "Store",
    "SweepConfig",
    "SweepError",
    "SweepRun",
    "cell_key",
    "cell_rngs",
    "example_configs",
    "execute_sweep",
    "load_config",
    "make_executor",
    "run",
    "run_config",
    "run_sweep",
    "write_frame",
    "write_output",
    "write_records",
]
