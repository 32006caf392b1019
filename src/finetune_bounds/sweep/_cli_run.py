"""``finetune-bounds run FAMILY --set k=v --grid k=a,b --axis k=a,b --seeds S``.

Builds an in-memory config and runs it through :func:`finetune_bounds.sweep.run` — the same
cells, seeding and executor as ``finetune-bounds sweep`` and the report — then prints the table
the report would print for it. No mathematics here.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..errors import ConfigError, InvalidInputError


def register(subparsers: Any) -> None:
    """Add the ``run`` subcommand."""
    from .._cli_common import workers_arg

    p = subparsers.add_parser(
        "run",
        help="run any family on parameter values (the sweep's runner, no config file)",
        description=(
            "Run a model family on the given parameter values through the same runner, seeding "
            "and executors as 'sweep' and 'report', and print the report's table of the result: "
            "the same parameters give the same numbers everywhere. --set fixes a value, --grid "
            "sweeps one cell per value, --axis gives the family a whole curve in one cell (shared "
            "draws). Values are read as TOML (3, 0.5, inf, true, \"text\") or else as text. "
            "'--params' lists the family's parameters, defaults and admissible values."
        ),
    )
    p.add_argument("family", help="family name (e.g. linear, deep_linear, relu)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="fix a parameter (repeatable)")
    p.add_argument("--grid", dest="grids", action="append", default=[], metavar="KEY=A,B,C",
                   help="one cell per value (repeatable: Cartesian product)")
    p.add_argument("--axis", dest="axes", action="append", default=[], metavar="KEY=A,B,C",
                   help="an inner axis: one curve per cell (the family must take it as an axis)")
    p.add_argument("--seeds", default="0", metavar="S",
                   help="seeds per cell for the empirical part (default 0: theory and bounds)")
    p.add_argument("--executor", choices=("serial", "processes", "dask"), default="serial",
                   help="where cells run (default serial)")
    p.add_argument("--workers", type=workers_arg, default=None,
                   help="worker processes (default: CPUs)")
    p.add_argument("--store", type=Path, default=None,
                   help="keep results in this folder's results.sqlite (resumable; default: memory)")
    p.add_argument("--quantities", default=None, metavar="Q1,Q2",
                   help="only these quantities in the printed table (all are in --output)")
    p.add_argument("--output", type=Path, default=None, metavar="FILE",
                   help="also write the tidy records (.csv, .json or .parquet)")
    p.add_argument("--params", action="store_true",
                   help="list the family's parameters, defaults and admissible values, and exit")
    p.set_defaults(func=main)


def _parse(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    from .runner import parse_assignment

    out: list[dict[str, Any]] = [{}, {}, {}]
    for slot, (items, many) in enumerate(((args.sets, False), (args.grids, True),
                                          (args.axes, True))):
        for text in items:
            key, value = parse_assignment(text, many=many)
            if any(key in d for d in out):
                raise ConfigError(f"{key!r} is given more than once")
            out[slot][key] = value
    return out[0], out[1], out[2]


def _seeds(text: str) -> int:
    try:
        seeds = int(text)
    except ValueError:
        raise InvalidInputError(f"--seeds must be an integer ≥ 0, got {text!r}") from None
    if seeds < 0:
        raise InvalidInputError(f"--seeds must be an integer ≥ 0, got {seeds}")
    return seeds


def _print_params(name: str) -> None:
    from ..families import get_family

    fam = get_family(name)
    print(f"{fam.name}: {fam.description}")
    width = max((len(k) for k in fam.defaults), default=4)
    for key, default in fam.defaults.items():
        rule = fam.constraints.get(key)
        axis = "  [axis]" if key in fam.axes else ""
        text = f"  {key:<{width}}  default {default!r}"
        print(text + (f"; {rule.describe()}" if rule else "") + axis)


def main(args: argparse.Namespace) -> int:
    """Run the family, print the table; failed cells → exit 2 after printing what succeeded."""
    from .._cli_common import check_output
    from ..report.tables import build_table
    from .run import SweepError
    from .runner import default_table, run_config
    from .store import write_output

    if args.params:
        _print_params(args.family)
        return 0
    check_output(args.output)  # before anything is computed
    params, grid, axes = _parse(args)
    config = run_config(args.family, params=params, grid=grid, axes=axes, seeds=_seeds(args.seeds))
    from .run import execute_sweep

    store = None
    if args.store is not None:
        args.store.mkdir(parents=True, exist_ok=True)
        store = args.store
    result = execute_sweep(
        config, store=store, executor=args.executor, workers=args.workers,
        progress=sys.stderr.isatty(),
    )
    if len(result.frame):
        spec = default_table(config)
        if args.quantities:
            spec["quantities"] = [q.strip() for q in args.quantities.split(",") if q.strip()]
        table = build_table(result.frame, spec, where=f"run {args.family}")
        print(table.to_text())
        for note in table.notes:
            print(note)
    if args.output is not None:
        print(f"wrote {write_output(result.frame, args.output)}")
    if result.failures:
        raise SweepError(result)
    return 0
