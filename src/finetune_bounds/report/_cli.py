"""``finetune-bounds report``: run (or reuse) every experiment and write the HTML report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..errors import ConfigError, InvalidInputError

#: what runs when --config is not given: the example configs shipped with the package
DEFAULT_CONFIGS = "the example configs shipped with finetune-bounds"


def register(subparsers: Any) -> None:
    """Add the ``report`` subcommand."""
    p = subparsers.add_parser(
        "report",
        help="run every experiment config and write tables, figures and an HTML report",
        description=(
            "Run (or reuse from the store) every experiment of the given configs (default: "
            f"{DEFAULT_CONFIGS}, from any folder) and write Markdown/CSV/LaTeX tables, PNG/SVG "
            "figures and index.html into the output folder. Pass --config PATH (repeatable) "
            "for your own configs, or the bare name of a shipped one (e.g. linear_power_law)."
        ),
    )
    p.add_argument(
        "--quick", action="store_true", help="apply each config's [quick] overrides (minutes)"
    )
    p.add_argument(
        "--config",
        type=Path,
        action="append",
        default=None,
        metavar="PATH",
        help=(
            "experiment config (TOML file, or the name of a shipped one such as "
            f"linear_power_law); repeatable (default: {DEFAULT_CONFIGS})"
        ),
    )
    p.add_argument(
        "--out", type=Path, default=None, help="output folder (default: reports/ or reports/quick/)"
    )
    p.add_argument(
        "--executor",
        choices=("serial", "processes", "dask"),
        default="serial",
        help="where cells run (default: serial)",
    )
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: CPUs)")
    p.add_argument(
        "--store",
        type=Path,
        default=None,
        help="results store (default: <out>/results.sqlite); finished cells are reused",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def find_configs() -> list[Path]:
    """The default configs: :func:`~finetune_bounds.sweep.example_configs` (sorted), whatever
    the current folder."""
    from ..sweep.config import example_configs

    found = example_configs()
    if not found:
        raise ConfigError(
            "no experiment configs: the installed package ships none (finetune_bounds/configs "
            "is empty); pass --config PATH"
        )
    return _without_missing_extras(found)


#: families that need an optional extra: family → (module to import, extra)
_EXTRAS = {"nonlinear": ("torch", "torch")}


def _without_missing_extras(paths: list[Path]) -> list[Path]:
    """Leave out (with a note on stderr) the shipped experiments whose family needs an extra
    that is not installed (the nonlinear family needs PyTorch)."""
    import importlib.util
    import tomllib

    keep: list[Path] = []
    left_out: dict[str, list[str]] = {}
    for path in paths:
        try:
            family = tomllib.loads(path.read_text(encoding="utf-8")).get("family")
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            family = None  # load_config reports it properly
        need = _EXTRAS.get(str(family))
        if need is not None and importlib.util.find_spec(need[0]) is None:
            left_out.setdefault(need[1], []).append(path.stem)
        else:
            keep.append(path)
    for extra, names in left_out.items():
        print(f"finetune-bounds report: note: {len(names)} experiment(s) left out ("
              f"{', '.join(names)}): they need pip install \"finetune-bounds[{extra}]\"",
              file=sys.stderr)
    return keep


def _config_arg(value: Path) -> Path:
    """``--config`` value: a file, or the shipped config of that bare name."""
    from ..sweep.config import _shipped, example_configs

    if value.is_file():
        return value
    shipped = _shipped(str(value))
    if shipped is not None:
        return shipped
    names = ", ".join(c.stem for c in example_configs()) or "none"
    raise ConfigError(
        f"{value}: config file not found (nor a shipped config of that name; shipped: {names})"
    )


def run(args: argparse.Namespace) -> int:
    """Build the report, print where it is and a summary table."""
    from .build import build_report

    if args.workers is not None and args.workers < 1:
        raise InvalidInputError(f"--workers must be >= 1, got {args.workers}")
    configs = [_config_arg(c) for c in args.config] if args.config else find_configs()
    out = args.out if args.out is not None else Path("reports") / ("quick" if args.quick else "")
    result = build_report(
        configs,
        out,
        quick=args.quick,
        store=args.store,
        executor=args.executor,
        workers=args.workers,
        progress=not args.no_progress and sys.stderr.isatty(),
    )
    print(result.summary())
    notes = [f"  {e.name}: {n}" for e in result.experiments for f in e.figures for n in f.notes]
    if notes:
        print("figure notes:")
        print("\n".join(notes))
    print(f"report: {result.html}")
    return 0
