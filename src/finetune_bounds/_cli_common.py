"""Pieces shared by the family subcommands (private): options → family parameters → the one
runner → a table printed from its frame.

``finetune-bounds linear``, ``deep-linear`` and ``relu`` are thin adapters: they turn options
and files into the parameters of their family (an ``--example`` is a dict of parameters from the
family's ``EXAMPLES``; files become ``covariance_file`` … parameters, see
:mod:`finetune_bounds._task_files`), run them through :func:`finetune_bounds.sweep.run` — the
runner of sweeps and of the report, so the same parameters give the same numbers everywhere — and
print a compact table from the frame it returns (summarised over seeds with
:func:`finetune_bounds.records.summarize`). ``--output`` writes the tidy records with
:func:`finetune_bounds.sweep._cli_run.write_records` (the schema of ``run --output`` and of the
store).

Every input problem raises :class:`~finetune_bounds.errors.InvalidInputError` or
:class:`~finetune_bounds.errors.ConfigError` before anything runs (one line on stderr, exit 2);
failed cells raise the runner's :class:`~finetune_bounds.sweep.SweepError` after the table of the
cells that succeeded.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._validation import nonneg_float, positive_int
from .errors import InvalidInputError
from .problems import LinearTask

__all__ = [
    "Column",
    "add_run_arguments",
    "add_task_arguments",
    "check_output",
    "concat_frames",
    "describe_task",
    "finish",
    "format_integer",
    "format_value",
    "parse_float",
    "parse_int",
    "render_pivot",
    "render_table",
    "resolve",
    "run_family",
    "summary_of",
    "task_from_args",
    "task_params",
    "warn_unconverged",
    "workers_arg",
]

#: where an example's dict of family parameters lives: ``EXAMPLES[name]``
Examples = Mapping[str, Mapping[str, Any]]



# ---------------------------------------------------------------------------------------------
# options
# ---------------------------------------------------------------------------------------------
def add_task_arguments(p: argparse.ArgumentParser, examples: Iterable[str]) -> None:
    """Add ``--example --covariance --spectrum --eigenvectors --source --target
    --noise-variance`` to a subcommand parser."""
    p.add_argument("--example", metavar="NAME", help=f"built-in task: {', '.join(examples)}")
    p.add_argument("--covariance", metavar="FILE", help="target covariance Σ (d×d, .npy/.csv)")
    p.add_argument("--spectrum", metavar="FILE", help="eigenvalues of Σ (vector, .npy/.csv)")
    p.add_argument(
        "--eigenvectors", metavar="FILE", help="eigenvectors of Σ as columns (with --spectrum)"
    )
    p.add_argument("--source", metavar="FILE", help="source teacher θ_S (vector, .npy/.csv)")
    p.add_argument("--target", metavar="FILE", help="target teacher θ_T (vector, .npy/.csv)")
    p.add_argument("--noise-variance", metavar="S2", default="0", help="label noise σ² (0)")


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """Add ``--output --executor --workers`` (passed to the runner)."""
    p.add_argument(
        "--output", metavar="FILE",
        help="also write the tidy records (.csv, .json or .parquet; the schema of 'run --output')",
    )
    p.add_argument("--executor", choices=("serial", "processes", "dask"), default="serial",
                   help="where the cells run (default serial)")
    p.add_argument("--workers", type=workers_arg, default=None,
                   help="worker processes with --executor processes/dask (default: CPUs)")


def workers_arg(text: str) -> int:
    """The argparse type of ``--workers``: an integer ≥ 1 (a usage error otherwise)."""
    try:
        v = int(str(text).strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer ≥ 1, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be an integer ≥ 1, got {v}")
    return v


def format_value(v: float | None, se: float | None = None) -> str:
    """A table cell: 4 significant digits, "± se" when a positive finite standard error is
    given, "inf" for infinities and "–" for a missing value."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if math.isinf(v):
        return "inf"
    s = f"{v:.4g}"
    if se is not None and se > 0 and math.isfinite(se):
        s += f" ± {se:.2g}"
    return s


def parse_int(text: Any, name: str, *, allow_zero: bool = False) -> int:
    """A command-line integer ≥ 1 (≥ 0 with ``allow_zero``)."""
    try:
        v = int(str(text).strip())
    except ValueError:
        raise InvalidInputError(f"{name} must be an integer, got {text!r}") from None
    return positive_int(v, name, allow_zero=allow_zero)


def parse_float(text: Any, name: str, *, positive: bool = False) -> float:
    """A finite command-line number ≥ 0 (> 0 with ``positive``) of magnitude at most
    :data:`finetune_bounds._io.MAX_ABS` (1e100: a larger value overflows float64 in the
    products of the computations and would print a table of inf)."""
    from ._io import MAX_ABS

    try:
        v = float(str(text).strip())
    except ValueError:
        raise InvalidInputError(f"{name} must be a number, got {text!r}") from None
    v = nonneg_float(v, name, positive=positive)
    if v > MAX_ABS:
        raise InvalidInputError(f"{name} must be at most {MAX_ABS:.0e}, got {v:g}")
    return v


def check_output(path: str | None) -> Path | None:
    """The ``--output`` path, checked before anything is computed."""
    if path is None:
        return None
    p = Path(path)
    from .sweep.store import OUTPUT_SUFFIXES

    if p.suffix.lower() not in OUTPUT_SUFFIXES:
        raise InvalidInputError(f"--output must end in .csv, .json or .parquet, got {p.name!r}")
    if not p.parent.is_dir():
        raise InvalidInputError(f"--output: folder does not exist: {p.parent}")
    return p


# ---------------------------------------------------------------------------------------------
# inputs → family parameters
# ---------------------------------------------------------------------------------------------
def _check_inputs(args: argparse.Namespace, examples: Iterable[str]) -> None:
    names = list(examples)
    given = [k for k in ("example", "covariance", "spectrum") if getattr(args, k)]
    if not given:
        raise InvalidInputError(
            "missing input: give --example NAME, or --covariance FILE (or --spectrum FILE) "
            "with --source FILE and --target FILE"
        )
    if len(given) > 1:
        flags = ", ".join(f"--{k}" for k in given)
        raise InvalidInputError(
            f"give only one of --example, --covariance, --spectrum (got {flags})"
        )
    if args.eigenvectors and not args.spectrum:
        raise InvalidInputError("--eigenvectors needs --spectrum")
    if args.example:
        if args.source or args.target:
            raise InvalidInputError("--source/--target cannot be combined with --example")
        if args.example not in names:
            raise InvalidInputError(
                f"--example must be one of {', '.join(names)}, got {args.example!r}"
            )


def task_params(
    args: argparse.Namespace, examples: Examples, *, switch: str
) -> tuple[dict[str, Any], str]:
    """The family parameters of the task the arguments describe, and a one-line label.

    ``--example NAME`` gives a copy of ``examples[NAME]``; files give ``{switch: "files",
    "covariance_file": …, "spectrum_file": …, "eigenvectors_file": …, "source_file": …,
    "target_file": …}``, after loading them once here so that a bad file is reported by its
    flag (``--covariance must be a square matrix …``) before anything runs.
    """
    from ._task_files import load_task_files

    _check_inputs(args, examples)
    if args.example:
        return dict(examples[args.example]), f"example {args.example}"
    load_task_files(covariance=args.covariance, spectrum=args.spectrum,
                    eigenvectors=args.eigenvectors, source=args.source, target=args.target)
    params = {
        switch: "files",
        "covariance_file": args.covariance or "",
        "spectrum_file": args.spectrum or "",
        "eigenvectors_file": args.eigenvectors or "",
        "source_file": args.source,
        "target_file": args.target,
    }
    label = f"covariance {args.covariance}" if args.covariance else f"spectrum {args.spectrum}"
    return params, label


def task_from_args(
    args: argparse.Namespace, noise: float, examples: Mapping[str, Callable[[float], LinearTask]]
) -> tuple[LinearTask, str]:
    """The :class:`LinearTask` the arguments describe (``examples``: name → builder taking the
    noise variance), with a one-line description. Files go through
    :func:`finetune_bounds._task_files.load_task_files`."""
    from ._task_files import load_task_files

    _check_inputs(args, examples)
    if args.example:
        return examples[args.example](noise), f"example {args.example}"
    task = load_task_files(covariance=args.covariance, spectrum=args.spectrum,
                           eigenvectors=args.eigenvectors, source=args.source,
                           target=args.target, noise_variance=noise)
    label = f"covariance {args.covariance}" if args.covariance else f"spectrum {args.spectrum}"
    return task, label


def resolve(family: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The family's resolved parameters (defaults ← params ← derive), checked.

    Raises
    ------
    ConfigError
        A value outside its constraint, a bad file … (one line).
    """
    from .families import get_family

    return get_family(family).resolve(dict(params))


def describe_task(task: LinearTask) -> str:
    """``d = …, rank Σ = …, λ_max = …, r₀ = …, ‖θ_S‖ = …, ‖Δ‖ = …, ΔᵀΣΔ = …, σ² = …``."""
    cov = task.covariance
    return (
        f"d = {cov.dim}, rank Σ = {cov.rank}, λ_max = {cov.operator_norm:.4g}, "
        f"r₀ = tr Σ/λ_max = {cov.effective_rank:.4g}, ‖θ_S‖ = {np.linalg.norm(task.source):.4g}, "
        f"‖Δ‖ = {np.linalg.norm(task.delta):.4g}, "
        f"ΔᵀΣΔ = {float(cov.quadratic_form(task.delta)):.4g}, σ² = {task.noise_variance:g}"
    )


# ---------------------------------------------------------------------------------------------
# the runner
# ---------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _quiet_sweep_log() -> Iterator[None]:
    """A failed cell is reported once, by the SweepError line (not also by the sweep's log
    warning, which Python would print on stderr when no logging is configured)."""
    log = logging.getLogger("finetune_bounds.sweep")
    handler = logging.NullHandler()
    log.addHandler(handler)
    try:
        yield
    finally:
        log.removeHandler(handler)


def run_family(
    family: str,
    args: argparse.Namespace,
    *,
    params: Mapping[str, Any],
    grid: Mapping[str, Sequence[Any]] | None = None,
    axes: Mapping[str, Sequence[Any]] | None = None,
    seeds: int = 0,
) -> Any:
    """Check the config (errors before anything runs), print a one-line note on stderr and run
    it with :func:`finetune_bounds.sweep.run` (``args.executor``, ``args.workers``).

    Returns
    -------
    SweepRun
    """
    import finetune_bounds.sweep as sweep

    config = sweep.run_config(family, params=params, grid=grid, axes=axes, seeds=seeds)
    cells = len(config.cell_specs())
    curve = "".join(f", {len(v)} value{'s' if len(v) != 1 else ''} of {k}"
                    for k, v in (axes or {}).items())
    print(
        f"computing {cells} cell{'s' if cells != 1 else ''} of {family}{curve}, {seeds} "
        f"seed{'s' if seeds != 1 else ''} …",
        file=sys.stderr, flush=True,
    )
    with _quiet_sweep_log():
        return sweep.run(family, params=params, grid=grid, axes=axes, seeds=seeds,
                         executor=args.executor, workers=args.workers,
                         progress=sys.stderr.isatty())  # a bar of the cells, on a terminal


def finish(results: Any, output: Path | None) -> int:
    """Write ``--output`` (the tidy records of one run, or of several runs one after the other)
    and raise the runner's SweepError for the first run with failed cells (after the tables of
    the cells that succeeded were printed)."""
    from .sweep import SweepError
    from .sweep.store import write_output

    runs = list(results) if isinstance(results, list | tuple) else [results]
    if output is not None:
        print(f"\nwrote {write_output(concat_frames([r.frame for r in runs]), output)}")
    for r in runs:
        if r.failures:
            raise SweepError(r)
    return 0


def concat_frames(frames: Sequence[Any]) -> Any:
    """Tidy frames one after the other; an integer column missing from some frame stays an
    integer column (pandas' nullable ``Int64``) instead of turning into floats."""
    import pandas as pd

    if len(frames) == 1:
        return frames[0]
    ints = {c for f in frames for c in f.columns if pd.api.types.is_integer_dtype(f[c])}
    out = pd.concat(frames, ignore_index=True)
    for c in ints:
        if pd.api.types.is_float_dtype(out[c]) or out[c].dtype == object:
            out[c] = out[c].astype("Int64")
    return out


# ---------------------------------------------------------------------------------------------
# printing from the frame
# ---------------------------------------------------------------------------------------------
def summary_of(frame: Any, index: Sequence[str]) -> Any:
    """:func:`~finetune_bounds.records.summarize` by quantity, source, method and ``index``
    (mean, standard error over seeds, count; a single theory row keeps its own ``stderr``)."""
    from .records import summarize

    keys = [c for c in ("quantity", "source", "method", "start", *index) if c in frame.columns]
    return summarize(frame, by=keys)


@dataclass(frozen=True)
class Column:
    """One table column: the summary rows of (quantity, source, method)."""

    header: str
    group: str
    quantity: str
    source: str
    method: str | None = None
    errors: bool = True  # show "± stderr"
    percent: bool = False  # a 0/1 quantity's mean as a percentage
    start: str | None = None  # the rows' ``start`` field (pretrained | scratch), if any
    integer: bool = False  # an integer quantity (n*): integral means printed as integers


def format_integer(v: float | None, se: float | None = None) -> str:
    """A cell of an integer quantity (n*, iterations): the integer when the value is integral,
    else a mean over draws as "mean ± se" (3 significant digits; "(mean)" without a standard
    error); "inf" for infinities and "–" for a missing value."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if math.isinf(v):
        return "inf"
    if float(v).is_integer() and not (se is not None and se > 0 and math.isfinite(se)):
        return str(int(v))
    if se is not None and se > 0 and math.isfinite(se):
        return f"{v:.3g} ± {se:.2g}"
    return f"{v:.3g} (mean)"


def _index_text(v: Any) -> str:
    if isinstance(v, float | np.floating):
        if math.isinf(v):
            return "inf"
        if float(v).is_integer():
            return str(int(v))
        return f"{float(v):g}"
    if isinstance(v, np.integer):
        return str(int(v))
    return str(v)


def _method(v: Any) -> Any:
    """A method/start field as a key: None when missing (NaN/NA in a frame)."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    try:
        import pandas as pd

        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return v


def _lines(
    headers: list[str], groups: list[str], body: list[list[str]], left: int = 0
) -> list[str]:
    """Aligned text: an optional group line, the headers, a rule, the body (the first ``left``
    columns left-aligned, the others right-aligned)."""
    widths = [max(len(h), len(g), *(len(r[i]) for r in body)) for i, (h, g) in
              enumerate(zip(headers, groups, strict=True))]

    def line(values: list[str]) -> str:
        return "  ".join(v.ljust(w) if i < left else v.rjust(w)
                         for i, (v, w) in enumerate(zip(values, widths, strict=True))).rstrip()

    out = []
    if any(groups):
        out.append("  ".join(g.center(w) if g else " " * w
                             for g, w in zip(groups, widths, strict=True)).rstrip())
    out += [line(headers), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in body]
    return out


def render_table(
    summary: Any,
    index: Sequence[str],
    columns: Sequence[Column],
    index_headers: Sequence[str] | None = None,
) -> list[str]:
    """Rows = the values of ``index``; a column per :class:`Column` that has any value (mean ±
    standard error where there is one); a group line (theory | bound | empirical) on top.
    ``index_headers``: the headers of the index columns (default: the index names)."""
    cells: dict[tuple[Any, ...], Any] = {}
    for row in summary.to_dict(orient="records"):
        key = (row["quantity"], row["source"], _method(row.get("method")),
               _method(row.get("start")), *(row[k] for k in index))
        cells[key] = row
    points = sorted({tuple(r[k] for k in index) for r in summary.to_dict(orient="records")})

    def text(col: Column, point: tuple[Any, ...]) -> str | None:
        row = cells.get((col.quantity, col.source, col.method, col.start, *point))
        if row is None:
            return None
        if col.percent:
            return f"{float(row['mean']):.0%}"
        if col.integer:
            return format_integer(float(row["mean"]), float(row["stderr"]))
        return format_value(float(row["mean"]), float(row["stderr"]) if col.errors else None)

    kept = [c for c in columns if any(text(c, pt) is not None for pt in points)]
    body = [[_index_text(v) for v in pt] + [text(c, pt) or "–" for c in kept] for pt in points]
    groups = ["" for _ in index] + [c.group for c in kept]
    heads = list(index_headers) if index_headers is not None else list(index)
    return _lines([*heads, *(c.header for c in kept)], groups, body)


def render_pivot(summary: Any, column: str, quantities: Callable[[str], bool]) -> list[str]:
    """Rows = (quantity, start, source and method) for the quantities ``quantities`` accepts,
    named from :mod:`finetune_bounds.report.labels`; columns = the values of ``column``; cells
    mean ± standard error (integer quantities as integers when integral)."""
    from .report.labels import (
        INTEGER_QUANTITIES,
        column_label,
        quantity_label,
        source_label,
        value_label,
    )

    rows = [r for r in summary.to_dict(orient="records") if quantities(str(r["quantity"]))]
    if not rows:
        return []
    values = sorted({r[column] for r in rows})

    def label(r: Mapping[str, Any]) -> tuple[str, str, str]:
        start = _method(r.get("start"))
        name = quantity_label(r["quantity"]) + (f", {value_label('start', start)}" if start
                                                 else "")
        return (name, source_label(r["source"], _method(r.get("method"))), "")

    labels = sorted({label(r) for r in rows})
    cells = {(*label(r), r[column]): r for r in rows}
    body = []
    for lab in labels:
        line = list(lab)
        for v in values:
            r = cells.get((*lab, v))
            fmt = format_integer if r is not None and r["quantity"] in INTEGER_QUANTITIES \
                else format_value
            line.append("–" if r is None else fmt(float(r["mean"]), float(r["stderr"])))
        body.append(line[:2] + line[3:])
    symbol = column_label(column).split(" (")[0]
    headers = ["quantity", "source", *(f"{symbol} = {_index_text(v)}" for v in values)]
    return _lines(headers, ["" for _ in headers], body, left=2)


def warn_unconverged(summary: Any) -> None:
    """A warning on stderr when some gradient-descent runs did not reach their tolerance."""
    conv = summary[(summary["quantity"] == "converged") & (summary["mean"] < 1.0)]
    if len(conv):
        print(
            f"warning: gradient descent did not converge on some runs in {len(conv)} row(s); "
            "their risks are those of the unconverged networks (see the converged column)",
            file=sys.stderr,
        )
