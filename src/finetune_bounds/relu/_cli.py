"""``finetune-bounds relu``: NTK theory (and optionally training) for a ReLU fine-tuning task.

A thin adapter over the ``relu`` family (spec §4–5): the options become family parameters
(``--example NAME`` → ``relu._family.EXAMPLES[NAME]``; ``--source/--target [--covariance]`` →
``data = "files"`` with ``source_file`` …; ``--n`` → the inner axis ``n``), the cell runs through
:func:`finetune_bounds.sweep.run` — the runner of sweeps and of the report, so the numbers are
theirs — and a table of the main result (test MAE per route, fine-tuned and from scratch, with
the complexity) is printed from the frame it returns. ``--eps`` runs a second cell with
``mode = "sample_complexity"`` and the inner axis ``eps`` and prints n*(ε) per route. The
``--output`` records hold every quantity of the cells.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import InvalidInputError
from .theory import DEFAULT_CONSTANT, DEFAULT_DELTA

#: theory designs of the sample-complexity cell: min(--draws, this) (a search over n ≤ --n-max)
_SC_DRAWS = 3


def register(subparsers: Any) -> None:
    """Add the ``relu`` subcommand."""
    from .._cli_common import add_run_arguments
    from ._family import EXAMPLES
    from ._tasks import LABEL_FUNCTIONS

    p = subparsers.add_parser(
        "relu",
        help="two-layer ReLU network in the NTK regime: complexity, bounds, kernel limit, training",
        description=(
            "Fine-tuning a two-layer ReLU network (first layer trained, antisymmetric init) from a "
            "linear source teacher θ_S to a target teacher θ_T (spec §4). Prints, per n, the "
            "data-dependent complexity rᵀH⁻¹r, the generalisation bound "
            "√(2rᵀH⁻¹r/n) + C√(log(n/(λ₀δ))/n), its worst-case forms and the test risk of the "
            "kernel (infinite-width) limit, averaged over random designs; with --train also the "
            "trained network (mean ± standard error over seeds). MAE = mean min(|f − y|, 1). "
            "Runs the 'relu' family through the sweep's runner: 'finetune-bounds run relu' and "
            "the report give the same numbers for the same parameters."
        ),
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--example", choices=tuple(EXAMPLES),
                     help="built-in task: synthetic teachers or digits")
    src.add_argument("--source", metavar="FILE", help="source teacher θ_S (.npy/.csv vector)")
    p.add_argument("--target", metavar="FILE", help="target teacher θ_T (.npy/.csv vector)")
    p.add_argument(
        "--covariance",
        metavar="FILE",
        help="inputs x = z/‖z‖ with z ~ N(0, Σ) (default: uniform on the sphere)",
    )
    p.add_argument("--n", type=int, nargs="+", default=[10, 20, 50], help="target sample sizes")
    p.add_argument("--width", type=int, default=2000, help="hidden width m (even)")
    p.add_argument("--train", action="store_true", help="also train the network (numpy GD)")
    p.add_argument("--seeds", type=int, default=5, help="training seeds (--train)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the synthetic teachers and of the theory designs "
                        "(task_seed and theory_seed; 0)")
    p.add_argument("--draws", type=int, default=10, help="random designs averaged in theory rows")
    p.add_argument("--n-test", type=int, default=1000, help="test inputs per draw")
    p.add_argument(
        "--delta", type=float, default=DEFAULT_DELTA, help="confidence δ of the bound (0, 1)"
    )
    p.add_argument(
        "--constant", type=float, default=DEFAULT_CONSTANT, help="constant C of the bound"
    )
    p.add_argument("--ridge", type=float, default=0.0, help="explicit Gram regularisation")
    p.add_argument(
        "--eps", type=float, nargs="+", default=None,
        help=f"also print n*(ε) for these MAE targets (over min(--draws, {_SC_DRAWS}) designs)",
    )
    p.add_argument("--n-max", type=int, default=1000, help="largest n searched for n*(ε)")
    p.add_argument("--d", type=int, default=None, help="dimension of --example synthetic (20)")
    p.add_argument(
        "--delta-norm", type=float, default=None, help="‖θ_T − θ_S‖ of --example synthetic (0.5)"
    )
    p.add_argument("--source-task", choices=sorted(LABEL_FUNCTIONS), default=None,
                   help="digits source label function (value)")
    p.add_argument("--target-task", choices=sorted(LABEL_FUNCTIONS), default=None,
                   help="digits target label function (large)")
    p.add_argument(
        "--labels",
        choices=("teacher", "direct"),
        default=None,
        help="digits target labels: least-squares teacher (default) or the label function",
    )
    add_run_arguments(p)
    p.set_defaults(func=run)


def _task_params(args: argparse.Namespace) -> dict[str, Any]:
    """The family parameters of the task: an example (with its overrides) or the files."""
    from .._validation import positive_int
    from ._family import EXAMPLES

    if args.example is not None and (args.target or args.covariance):
        raise InvalidInputError("--target/--covariance go with --source, not with --example")
    if args.example is None:
        if args.target is None:
            raise InvalidInputError("--source needs --target")
        params = {"data": "files", "source_file": args.source, "target_file": args.target,
                  "covariance_file": args.covariance or ""}
    else:
        params = dict(EXAMPLES[args.example])
    overrides = {
        "d": (args.d, "synthetic"), "delta_norm": (args.delta_norm, "synthetic"),
        "source_task": (args.source_task, "digits"), "target_task": (args.target_task, "digits"),
        "labels": (args.labels, "digits"),
    }
    for key, (value, data) in overrides.items():
        if value is None:
            continue
        if params["data"] != data:
            flag = "--" + key.replace("_", "-")
            raise InvalidInputError(f"{flag} goes with --example {data}")
        params[key] = positive_int(value, "--d") if key == "d" else value
    return params


def run(args: argparse.Namespace) -> int:
    """Options → family parameters → the runner → the tables (n*(ε) in a second cell)."""
    import numpy as np

    from .._cli_common import (
        check_output,
        finish,
        render_table,
        resolve,
        run_family,
        summary_of,
    )
    from .._validation import positive_int
    from ._family import task_from_params

    ns = sorted({positive_int(v, "--n") for v in args.n})
    seeds = positive_int(args.seeds, "--seeds") if args.train else 0
    output = check_output(args.output)
    params = {
        **_task_params(args),
        "width": args.width,
        "n_test": args.n_test,
        "delta": args.delta,
        "constant": args.constant,
        "ridge": args.ridge,
        "theory_draws": args.draws,
        "task_seed": args.seed,
        "theory_seed": args.seed,
    }
    if args.n_max < 1:  # checked even without --eps: a bad value is an error wherever it is
        raise InvalidInputError(f"--n-max must be ≥ 1, got {args.n_max}")
    # the shared caps of command-line numbers (finite, |x| ≤ 1e100; see docs/limits.md)
    from .._cli_common import parse_float

    for e in args.eps or ():
        parse_float(e, "--eps", positive=True)
    if args.delta_norm is not None:
        parse_float(args.delta_norm, "--delta-norm")
    sc_params = None
    if args.eps:
        sc_params = {**params, "mode": "sample_complexity", "n_max": args.n_max,
                     "theory_draws": max(1, min(args.draws, _SC_DRAWS))}
        resolve("relu", {**sc_params, "eps": args.eps[0]})  # bad values stop before any run
    task = task_from_params(resolve("relu", params))
    print(f"task: {getattr(task, 'name', 'teachers')}, d = {task.dim}, "
          f"‖θ_S‖ = {np.linalg.norm(task.source):.3g}, ‖Δ‖ = {np.linalg.norm(task.delta):.3g}, "
          f"δ = {args.delta:g}, C = {args.constant:g}"
          + (f", width = {args.width}, seeds = {seeds}" if args.train else ""))
    result = run_family("relu", args, params=params, axes={"n": ns}, seeds=seeds)
    runs = [result]
    if len(result.frame):
        curve = summary_of(result.frame, ["n"])
        print("test MAE = mean min(|f − y|, 1); bound: data-dependent √(2rᵀH⁻¹r/n) + "
              "C√(log(n/(λ₀δ))/n); mean over the theory designs"
              + (", empirical: mean ± s.e. over seeds" if seeds else ""))
        print("\n".join(render_table(curve, ["n"], _curve_columns(), ["n"])))
    if sc_params is not None and not result.failures:
        sc = run_family("relu", args, params=sc_params, axes={"eps": list(args.eps)})
        runs.append(sc)
        if len(sc.frame):
            print(f"\nsample complexity n*(ε): the first n whose MAE is ≤ ε (mean over "
                  f"{sc_params['theory_draws']} designs; inf = not reached within --n-max):")
            table = summary_of(sc.frame, ["eps"])
            print("\n".join(render_table(table, ["eps"], _sc_columns(args.constant), ["ε"])))
    return finish(runs, output)


def _curve_columns() -> list[Any]:
    """The main result per n: the test MAE by route (theory, bound, trained network) for the
    fine-tuned and the from-scratch start, and the complexity rᵀH⁻¹r."""
    from .._cli_common import Column

    cols = []
    for start, name in (("pretrained", "fine-tuned"), ("scratch", "scratch")):
        cols += [
            Column(f"MAE {name}", "theory (NTK limit)", "mae", "theory", "ntk_limit",
                   start=start),
            Column(f"MAE {name}", "bound", "mae", "bound", "data_dependent", start=start),
            Column(f"MAE {name}", "trained network", "mae", "empirical", "network",
                   start=start),
        ]
    return [
        *cols,
        Column("MAE zero-shot", "theory", "mae", "theory", "zero_shot"),
        Column("rᵀH⁻¹r fine-tuned", "theory", "complexity", "theory", "data_dependent",
               start="pretrained"),
        Column("rᵀH⁻¹r scratch", "theory", "complexity", "theory", "data_dependent",
               start="scratch"),
    ]


def _sc_columns(constant: float) -> list[Any]:
    """n*(ε) per route (integers; a mean over designs as mean ± s.e.)."""
    from .._cli_common import Column

    cols = []
    for start, name in (("pretrained", "fine-tuned"), ("scratch", "scratch")):
        cols += [
            Column(f"n* {name}", "theory (NTK limit)", "sample_complexity", "theory",
                   "ntk_limit", start=start, integer=True),
            Column(f"n* {name}", "bound", "sample_complexity", "bound", "data_dependent",
                   start=start, integer=True),
            Column(f"n* {name}", "bound (worst case)", "sample_complexity", "bound",
                   "worst_case", start=start, integer=True),
            Column(f"n* {name}", f"rate (C = {constant:g})", "sample_complexity", "bound",
                   "rate", start=start, integer=True),
        ]
    return cols
