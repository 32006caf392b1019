"""``finetune-bounds sweep CONFIG``: run (or resume) one experiment into a store. ``CONFIG`` is
a TOML file or the bare name of a config shipped with the package (``linear_power_law``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError

_EXPORT_SUFFIXES = (".csv", ".parquet")


def register(subparsers: Any) -> None:
    """Add the ``sweep`` subcommand."""
    p = subparsers.add_parser(
        "sweep",
        help="run a TOML sweep (theory + training over a grid) into a resumable store",
        description=(
            "Run every cell of an experiment config into <out>/results.sqlite. Finished cells are "
            "skipped, so an interrupted sweep resumes where it stopped. CONFIG is a TOML file "
            "(its *_file parameters are read relative to its folder) or the name of a config "
            "shipped with the package, e.g. linear_power_law."
        ),
    )
    p.add_argument(
        "config",
        type=Path,
        metavar="CONFIG",
        help="experiment config: a TOML file, or the name of a shipped one (e.g. linear_power_law)",
    )
    p.add_argument("--quick", action="store_true", help="apply the config's [quick] overrides")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder holding results.sqlite (default: results/, or results/quick/)",
    )
    p.add_argument(
        "--executor",
        choices=("serial", "processes", "dask"),
        default=None,
        help="where cells run (default: serial; dask when --scheduler is given)",
    )
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: CPUs)")
    p.add_argument("--scheduler", default=None, help="dask scheduler address, e.g. tcp://host:8786")
    p.add_argument("--export", type=Path, default=None, help="also write the table (.csv/.parquet)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the sweep and print a one-line summary; failed cells → SweepError (exit 2)."""
    from .config import load_config
    from .run import SweepError, execute_sweep
    from .store import write_frame

    if args.workers is not None and args.workers < 1:
        raise InvalidInputError(f"--workers must be >= 1, got {args.workers}")
    if args.export is not None and args.export.suffix.lower() not in _EXPORT_SUFFIXES:
        raise InvalidInputError(f"--export must end in .csv or .parquet, got {args.export.name!r}")
    executor = args.executor or ("dask" if args.scheduler else "serial")
    if args.scheduler and executor != "dask":
        raise InvalidInputError("--scheduler needs --executor dask")
    config = load_config(args.config)
    if args.quick:
        config = config.quick()
    out = args.out if args.out is not None else Path("results") / ("quick" if args.quick else "")
    out.mkdir(parents=True, exist_ok=True)
    result = execute_sweep(
        config,
        store=out,
        executor=executor,
        workers=args.workers,
        scheduler=args.scheduler,
        progress=not args.no_progress and sys.stderr.isatty(),
    )
    print(result.summary())  # failed cells were logged as they happened
    if args.export is not None:
        print(f"wrote {write_frame(result.frame, args.export)}")
    if result.failures:
        raise SweepError(result)
    return 0
