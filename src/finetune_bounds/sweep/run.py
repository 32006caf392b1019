"""Running a sweep: config → cells → executor → store → tidy frame.

Each cell runs as one task: ``Family.theory(params, rng)`` once with the cell's theory stream
(rows get ``seed = -1``), then ``Family.simulate(params, rngs)`` once with one generator per seed
(see :mod:`finetune_bounds.sweep.grid` for how the streams are derived). The task checks the rows
it returns (source, value, ``stderr``, seed range, inner-axis values, storable fields) and never
raises: an exception becomes a failed :class:`CellResult`, which the main process logs and
records in the store. The main
process alone writes the store, one transaction per cell; finished cells are skipped on a re-run.

After every other cell is stored, :func:`run_sweep` raises :class:`SweepError` if any cell
failed; the error carries the partial frame and the failures (:func:`execute_sweep` returns
them without raising).
"""

from __future__ import annotations

import importlib
import logging
import math
import sys
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FinetuneBoundsError, InvalidInputError
from ..families import Family, family_ref
from ..records import SOURCES, check_stderr
from .cache import cache_for, using_cache
from .config import SweepConfig, load_config
from .executors import Executor, make_executor
from .grid import Cell, canonical_json, canonical_value, cell_rngs, theory_rng
from .store import Store, StoredRow

__all__ = [
    "CellFailure",
    "CellResult",
    "CellTask",
    "SweepError",
    "SweepRun",
    "execute_sweep",
    "run_cell",
    "run_sweep",
]

log = logging.getLogger("finetune_bounds.sweep")

#: seconds between two looks at cells another sweep is computing
_POLL_SECONDS = 0.5

#: record keys the sweep sets itself
_RESERVED_FIELDS = frozenset({"family", "experiment"})


# ---------------------------------------------------------------------- tasks (worker side)
@dataclass(frozen=True)
class CellTask:
    """What a worker needs to run one cell (small and picklable)."""

    family: str
    family_ref: str | Family
    schema_version: int
    key: str
    params: Mapping[str, Any]
    seeds: int
    axes: tuple[str, ...] = ()
    #: folder of the shared-step cache (beside a store on disk; None: memory only)
    cache_dir: str | None = None


@dataclass(frozen=True)
class CellResult:
    """The outcome of one cell: rows ready for the store, or an error."""

    key: str
    rows: tuple[StoredRow, ...] | None
    error: str | None = None
    traceback: str = ""
    elapsed: float = 0.0


_FAMILIES: dict[str, Family] = {}


def _load_family(ref: str | Family) -> Family:
    if isinstance(ref, Family):
        return ref
    fam = _FAMILIES.get(ref)
    if fam is None:
        mod_name, attr = ref.split(":")
        fam = getattr(importlib.import_module(mod_name), attr)
        if not isinstance(fam, Family):
            raise TypeError(f"{ref} is not a Family")
        _FAMILIES[ref] = fam
    return fam


def _axis_key(value: Any) -> Any:
    """How an axis value is matched: numbers by value (a row may say 1.0 for the axis value 1),
    anything else by its canonical JSON."""
    if isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool):
        return ("number", float(value))
    return canonical_json(canonical_value(value, "axis value"))


def _check_rows(
    rows: Any, origin: str, seeds: int | None, axes: Mapping[str, Sequence[Any]] | None = None
) -> list[StoredRow]:
    """Validate a family's records and turn them into store rows.

    ``seeds`` is None for theory rows (no seed allowed, stored as -1), else the number of
    generators passed to ``simulate`` (every row needs ``0 <= seed < seeds``). ``axes`` maps each
    inner axis of the cell to its values: every row must carry one of them.
    """
    axis_sets = {k: {_axis_key(v) for v in vs} for k, vs in (axes or {}).items()}
    if not isinstance(rows, Sequence) or isinstance(rows, str | bytes):
        raise InvalidInputError(
            f"{origin} must return a list of records, got {type(rows).__name__}"
        )
    out = []
    for j, rec in enumerate(rows):
        where = f"{origin} record {j}"
        if not isinstance(rec, Mapping):
            raise InvalidInputError(f"{where} is not a mapping: {rec!r}")
        quantity, source = rec.get("quantity"), rec.get("source")
        if not isinstance(quantity, str) or not quantity:
            raise InvalidInputError(f"{where}: 'quantity' must be a non-empty string")
        if source not in SOURCES:
            raise InvalidInputError(f"{where} ({quantity}): source must be one of {SOURCES}")
        try:
            value = float(rec["value"])
        except (KeyError, TypeError, ValueError):
            raise InvalidInputError(f"{where} ({quantity}): 'value' must be a number") from None
        if math.isnan(value):
            raise InvalidInputError(f"{where} ({quantity}): value is NaN")
        bad = sorted(_RESERVED_FIELDS & set(rec))
        if bad:
            raise InvalidInputError(f"{where} ({quantity}): the sweep sets {bad} itself")
        for axis, allowed in axis_sets.items():
            if axis not in rec:
                raise InvalidInputError(
                    f"{where} ({quantity}): a cell with inner axis {axis!r} must label every row "
                    f"with its {axis} value"
                )
            try:
                text = _axis_key(rec[axis])
            except TypeError as exc:
                raise InvalidInputError(f"{where} ({quantity}): {exc}") from None
            if text not in allowed:
                raise InvalidInputError(
                    f"{where} ({quantity}): {axis} = {rec[axis]!r} is not a value of the axis"
                )
        seed_raw = rec.get("seed")
        if seeds is None:
            if seed_raw not in (None, -1):
                raise InvalidInputError(f"{where} ({quantity}): theory rows carry no seed")
            seed = -1
        else:
            try:
                seed = int(seed_raw)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                raise InvalidInputError(
                    f"{where} ({quantity}): simulate rows need an integer 'seed'"
                ) from None
            if seed != seed_raw or not 0 <= seed < seeds:
                raise InvalidInputError(
                    f"{where} ({quantity}): seed {seed_raw!r} is not in range({seeds})"
                )
        fields = {}
        for k, v in rec.items():
            if k in ("quantity", "source", "value", "seed"):
                continue
            try:
                cv = canonical_value(v, f"{where}.{k}")
            except TypeError as exc:
                raise InvalidInputError(str(exc)) from None
            if isinstance(cv, list | dict):
                raise InvalidInputError(f"{where}.{k}: record fields must be scalars")
            if k == "stderr" and cv is not None:
                cv = check_stderr(cv, f"{where} ({quantity})")
            fields[str(k)] = cv
        out.append(StoredRow(quantity, str(source), seed, value, canonical_json(fields)))
    return out


def run_cell(task: CellTask) -> CellResult:
    """Run one cell (theory once, simulate once with all seeds); never raises."""
    t0 = time.perf_counter()
    try:
        fam = _load_family(task.family_ref)
        if fam.schema_version != task.schema_version:
            raise InvalidInputError(
                f"family {fam.name!r} has schema_version {fam.schema_version} on this worker, "
                f"{task.schema_version} in the sweep (mismatched installs?)"
            )
        axes = {k: list(task.params[k]) for k in task.axes}
        with using_cache(cache_for(task.cache_dir)):
            theory_rows = fam.theory(dict(task.params), theory_rng(task.key))
            rows = _check_rows(theory_rows, f"{fam.name}.theory", None, axes)
            if fam.simulate is not None and task.seeds > 0:
                rngs = cell_rngs(task.key, task.seeds)
                sim = fam.simulate(dict(task.params), rngs)
                rows += _check_rows(sim, f"{fam.name}.simulate", task.seeds, axes)
        return CellResult(task.key, tuple(rows), elapsed=time.perf_counter() - t0)
    except Exception as exc:
        return CellResult(
            task.key,
            None,
            error=f"{type(exc).__name__}: {exc}",
            traceback=traceback.format_exc(),
            elapsed=time.perf_counter() - t0,
        )


# ---------------------------------------------------------------------- driver (main process)
@dataclass(frozen=True)
class CellFailure:
    """A cell that failed: its parameters, the error line and the worker's traceback."""

    key: str
    params: Mapping[str, Any]
    error: str
    traceback: str = ""
    #: the parameters that identify the cell in its config (those set in [params], [grid] or
    #: [derived]); the message shows these instead of every default value
    shown: tuple[str, ...] = ()

    def __str__(self) -> str:
        keys = [k for k in self.shown if k in self.params] or list(self.params)
        return f"{ {k: self.params[k] for k in keys} }: {self.error}"


@dataclass(frozen=True)
class SweepRun:
    """What :func:`execute_sweep` did.

    Attributes
    ----------
    config : SweepConfig
    frame : pandas.DataFrame
        The experiment's tidy table for this config's cells, read back from the store.
    cells, ran, skipped : int
        Cells in the config, computed now, found finished in the store.
    failures : tuple of CellFailure
    store_path : str
        The store file (``":memory:"`` for a private store).
    elapsed : float
        Wall-clock seconds.
    """

    config: SweepConfig
    frame: Any
    cells: int
    ran: int
    skipped: int
    failures: tuple[CellFailure, ...] = field(default=())
    store_path: str = ":memory:"
    elapsed: float = 0.0

    def summary(self) -> str:
        """One line: cells run / skipped / failed, rows, store."""
        return (
            f"{self.config.name}: {self.cells} cells ({self.ran} run, {self.skipped} skipped, "
            f"{len(self.failures)} failed), {len(self.frame)} rows, {self.elapsed:.1f} s"
            f" -> {self.store_path}"
        )


class SweepError(FinetuneBoundsError, RuntimeError):
    """Some cells of a sweep failed; the others are stored.

    Attributes
    ----------
    failures : tuple of CellFailure
    run : SweepRun
        The run, whose ``frame`` holds every cell that succeeded.
    """

    def __init__(self, run: SweepRun) -> None:
        self.run = run
        self.failures = run.failures
        first = "; ".join(str(f) for f in run.failures[:3])
        more = f"; … and {len(run.failures) - 3} more" if len(run.failures) > 3 else ""
        super().__init__(
            f"{len(run.failures)} of {run.cells} cells of {run.config.name!r} failed "
            f"(the others are stored in {run.store_path}): {first}{more}"
        )




def _progress_bar(enabled: bool, total: int, desc: str) -> Any:
    if not enabled or total == 0:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # optional
        return None
    return tqdm(total=total, desc=desc, unit="cell", file=sys.stderr, leave=False, delay=1.0)


def execute_sweep(
    config: SweepConfig | str | Path,
    *,
    store: Store | str | Path | None = None,
    executor: str | Executor = "serial",
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = False,
) -> SweepRun:
    """Run the unfinished cells of ``config`` and return a :class:`SweepRun` (never raises
    for failed cells; see :func:`run_sweep`). Parameters as in :func:`run_sweep`."""
    t0 = time.perf_counter()
    cfg = config if isinstance(config, SweepConfig) else load_config(config)
    fam = cfg.get_family()
    cells: list[Cell] = cfg.cell_specs()
    owns_store = not isinstance(store, Store)
    st = store if isinstance(store, Store) else Store(store)
    failures: list[CellFailure] = []
    try:
        done = st.done(cfg.name, (c.key for c in cells))
        todo = [c for c in cells if done.get(c.key, -1) < cfg.seeds]
        ran = 0
        if todo:
            ref = family_ref(cfg.family)
            axes = tuple(cfg.axes)
            cache_dir = None if st.path == ":memory:" else str(Path(st.path).with_suffix(".cache"))
            ex, owns_ex = make_executor(executor, workers=workers, scheduler=scheduler)
            bar = _progress_bar(progress, len(todo), cfg.name)
            shown = (*cfg.params, *cfg.grid, *cfg.axes, *cfg.derived)
            shared = st.path != ":memory:" and not st.readonly
            lease = st.lease() if shared else None
            try:
                pending = todo
                waited = False
                while pending:
                    if lease is None:
                        mine, elsewhere = pending, []
                    else:  # claim the free cells; cells another live sweep computes are waited for
                        keys, by_key = [c.key for c in pending], {c.key: c for c in pending}
                        got, held = lease.claim(cfg.name, keys, cfg.seeds)
                        mine = [by_key[k] for k in got]
                        elsewhere = [by_key[k] for k in held]
                        if bar is not None:
                            bar.update(len(pending) - len(got) - len(held))
                    if elsewhere and not waited:
                        log.warning(
                            "%s: %d cell(s) are being computed by another sweep writing %s; "
                            "waiting for them", cfg.name, len(elsewhere), st.path,
                        )
                        waited = True
                    tasks = [
                        CellTask(fam.name, ref, fam.schema_version, c.key, c.params, cfg.seeds,
                                 axes, cache_dir)
                        for c in mine
                    ]
                    for i, result in ex.imap_unordered(run_cell, tasks):
                        cell = mine[i]
                        if isinstance(result, BaseException):  # the worker itself died
                            result = CellResult(
                                cell.key, None,
                                f"worker failure: {type(result).__name__}: {result}",
                            )
                        if result.rows is None:
                            err = result.error or "unknown error"
                            failure = CellFailure(
                                cell.key, cell.columns, err, result.traceback, shown=shown
                            )
                            log.warning("%s: cell failed: %s", cfg.name, failure)
                            st.record_failure(cfg.name, cell, err, result.traceback)
                            failures.append(failure)
                        else:
                            st.write_cell(cfg.name, cell, cfg.seeds, result.rows, result.elapsed)
                            ran += 1
                        if bar is not None:
                            bar.update(1)
                    pending = elsewhere
                    if pending and not mine:
                        time.sleep(_POLL_SECONDS)
            finally:
                if lease is not None:
                    lease.close()
                if bar is not None:
                    bar.close()
                if owns_ex:
                    ex.close()
        frame = st.frame(cfg.name, cells=[c.key for c in cells], max_seeds=cfg.seeds)
        return SweepRun(
            config=cfg,
            frame=frame,
            cells=len(cells),
            ran=ran,
            skipped=len(cells) - ran - len(failures),
            failures=tuple(failures),
            store_path=st.path,
            elapsed=time.perf_counter() - t0,
        )
    finally:
        if owns_store:
            st.close()


def run_sweep(
    config: SweepConfig | str | Path,
    *,
    store: Store | str | Path | None = None,
    executor: str | Executor = "serial",
    workers: int | None = None,
    progress: bool = False,
    scheduler: str | None = None,
) -> Any:
    """Run a sweep and return its tidy table.

    Parameters
    ----------
    config : SweepConfig or path to a TOML file
    store : Store, path or None
        Where results go: a :class:`Store`, a ``.sqlite`` file, a folder (its
        ``results.sqlite``), or None for a private in-memory store. Cells already finished in
        the store (with at least ``config.seeds`` seeds) are skipped.
    executor : {"serial", "processes", "dask"} or Executor
    workers : int, optional
        Worker processes for ``"processes"`` / a local dask cluster (default: available CPUs).
    progress : bool
        Show a tqdm progress bar (if tqdm is installed).
    scheduler : str, optional
        Address of a dask scheduler (with ``executor="dask"``).

    Returns
    -------
    pandas.DataFrame
        Columns ``family, experiment, quantity, source, n, seed, value, method``, then the cell
        parameters, then the records' other fields; rows in grid order, then in the order the
        family produced them; only seeds ``< config.seeds``. The same whatever the executor,
        the worker count or an interruption and resume.

    Raises
    ------
    SweepError
        After storing every other cell, if some cells failed (``.run.frame`` holds the rest).
    ConfigError
        Invalid config, unknown executor, missing optional dependency.
    """
    run = execute_sweep(
        config,
        store=store,
        executor=executor,
        workers=workers,
        scheduler=scheduler,
        progress=progress,
    )
    if run.failures:
        raise SweepError(run)
    return run.frame
