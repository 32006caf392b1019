"""One runner for every entry point: a family and parameter values → the sweep's cells → numbers.

:func:`run` builds the same :class:`~finetune_bounds.sweep.config.SweepConfig` a TOML file would
(``[params]``, ``[grid]``, ``[axes]``, ``seeds``) and runs it through the same executor, seeding
and store as ``finetune-bounds sweep``; the ``run`` subcommand and the family subcommands call it.
So the same family and the same parameter values give the same cells — the same content hashes,
hence the same random streams — and the same numbers whether they come from a config and the
report, from the command line or from Python.

>>> from finetune_bounds.sweep import run
>>> result = run("linear", params={"d": 50, "gd": False}, axes={"n": [5, 10]}, seeds=2)
>>> sorted(result.frame["source"].unique())
['bound', 'empirical', 'theory']
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .config import SweepConfig
from .executors import Executor
from .expr import short_repr as _r
from .run import SweepRun, execute_sweep
from .store import Store

__all__ = ["default_table", "parse_assignment", "parse_value", "run", "run_config"]


def run_config(
    family: str,
    *,
    params: Mapping[str, Any] | None = None,
    grid: Mapping[str, Sequence[Any]] | None = None,
    axes: Mapping[str, Sequence[Any]] | None = None,
    derived: Mapping[str, str] | None = None,
    seeds: int = 0,
    name: str | None = None,
    title: str = "",
) -> SweepConfig:
    """The in-memory config :func:`run` executes (validated like a TOML file).

    Raises
    ------
    ConfigError
        Unknown family or parameter, a value outside the family's constraints, a parameter set
        twice, an axis the family does not take … (one line, naming the key and the value).
    """
    if not isinstance(family, str) or not family:
        raise ConfigError(f"family must be a family name, got {family!r}")
    label = name or "run_" + re.sub(r"[^a-z0-9_]+", "_", family.lower()).strip("_")
    data: dict[str, Any] = {
        "name": label,
        "family": family,
        "seeds": seeds,
        "params": _table(params, "params"),
        "grid": {k: _values(v, f"grid.{k}") for k, v in _table(grid, "grid").items()},
        "axes": {k: _values(v, f"axes.{k}") for k, v in _table(axes, "axes").items()},
        "derived": _table(derived, "derived"),
    }
    if title:
        data["title"] = title
    return SweepConfig.from_dict(data, path=f"<run {family}>")


def _table(value: Any, name: str) -> dict[Any, Any]:
    """A mapping argument of :func:`run_config` (None: empty) as a fresh dict."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{name} must be a mapping (dict) or None, got {_r(value)}")
    return dict(value)


def _values(value: Any, name: str) -> list[Any]:
    """The values of a ``grid``/``axes`` key: a list, tuple, array … (not a string), as a list."""
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise ConfigError(f"{name} must be a list of values, got {_r(value)}")
    return list(value)


def run(
    family: str,
    *,
    params: Mapping[str, Any] | None = None,
    grid: Mapping[str, Sequence[Any]] | None = None,
    axes: Mapping[str, Sequence[Any]] | None = None,
    derived: Mapping[str, str] | None = None,
    seeds: int = 0,
    executor: str | Executor = "serial",
    workers: int | None = None,
    store: Store | str | Path | None = None,
    name: str | None = None,
    progress: bool = False,
) -> SweepRun:
    """Run a family on parameter values, exactly as a sweep of the same config would.

    Parameters
    ----------
    family : str
        A registered family (``"linear"``, ``"deep_linear"``, ``"relu"`` …).
    params : mapping, optional
        Fixed values (the config's ``[params]``).
    grid : mapping of sequences, optional
        One cell per point of the Cartesian product (``[grid]``).
    axes : mapping of sequences, optional
        Inner axes the family receives whole (``[axes]``; see ``Family.axes``).
    derived : mapping of str, optional
        Expressions (``[derived]``).
    seeds : int
        Seeds per cell for the empirical part (0: theory and bounds only).
    executor, workers, store, progress :
        As in :func:`~finetune_bounds.sweep.run_sweep` (default: serial, private in-memory
        store).
    name : str, optional
        Experiment name in the store (default ``run_<family>``).

    Returns
    -------
    SweepRun
        ``.frame`` is the tidy table; ``.failures`` the failed cells (this function does not
        raise for them: check ``failures`` or use :func:`~finetune_bounds.sweep.run_sweep`).

    Raises
    ------
    ConfigError
        Invalid family, parameters or values (before anything runs).
    """
    cfg = run_config(
        family, params=params, grid=grid, axes=axes, derived=derived, seeds=seeds, name=name
    )
    return execute_sweep(
        cfg, store=store, executor=executor, workers=workers, progress=progress
    )


# ---------------------------------------------------------------------------------------------
# command-line values
# ---------------------------------------------------------------------------------------------
def parse_value(text: str) -> Any:
    """A command-line value as TOML would read it (``3``, ``0.5``, ``inf``, ``true``,
    ``"x"``), else the bare text as a string (``power_law``)."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_assignment(text: str, *, many: bool) -> tuple[str, Any]:
    """``KEY=VALUE`` (or ``KEY=A,B,C`` when ``many``) → (key, value or list of values).

    Raises
    ------
    ConfigError
        No ``=``, an empty key or an empty value.
    """
    key, sep, value = text.partition("=")
    key = key.strip().replace("-", "_")
    if not sep or not key or not value.strip():
        form = "KEY=A,B,C" if many else "KEY=VALUE"
        raise ConfigError(f"expected {form}, got {text!r}")
    if many:
        return key, [parse_value(v.strip()) for v in value.split(",") if v.strip()]
    return key, parse_value(value.strip())


def default_table(config: SweepConfig) -> dict[str, Any]:
    """The ``[[table]]`` entry the ``run`` command prints: every quantity; rows by the grid and
    axis parameters; columns by source and method."""
    index = [*config.grid, *config.axes]
    return {"title": config.title, "index": index, "columns": ["source", "method"]}
