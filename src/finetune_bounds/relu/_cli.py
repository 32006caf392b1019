"""``finetune-bounds relu``: NTK theory (and optionally training) for a ReLU fine-tuning task.

Composes library calls only (spec §4–5): :func:`~.theory.theory_curve`,
:func:`~.theory.theory_sample_complexity` and, with ``--train``,
:func:`~.simulate.simulate_cell`.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..errors import InvalidInputError
from .theory import DEFAULT_CONSTANT, DEFAULT_DELTA

_EXAMPLES = ("synthetic", "digits")


def register(subparsers: Any) -> None:
    """Add the ``relu`` subcommand."""
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
            "trained network (mean ± standard error over seeds). MAE = mean min(|f − y|, 1)."
        ),
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--example", choices=_EXAMPLES, help="built-in task: synthetic teachers or digits"
    )
    src.add_argument("--source", metavar="FILE", help="source teacher θ_S (.npy/.csv vector)")
    p.add_argument("--target", metavar="FILE", help="target teacher θ_T (.npy/.csv vector)")
    p.add_argument(
        "--covariance",
        metavar="FILE",
        help="inputs x = z/‖z‖ with z ~ N(0, Σ) (default: uniform on the sphere)",
    )
    p.add_argument("--n", type=int, nargs="+", default=[10, 20, 50], help="target sample sizes")
    p.add_argument("--width", type=int, default=2000, help="hidden width m (even; --train)")
    p.add_argument("--train", action="store_true", help="also train the network (numpy GD)")
    p.add_argument("--seeds", type=int, default=5, help="training seeds (--train)")
    p.add_argument("--seed", type=int, default=0, help="base random seed")
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
        "--eps", type=float, nargs="+", default=None, help="also print n*(ε) for these MAE targets"
    )
    p.add_argument("--n-max", type=int, default=1000, help="largest n searched for n*(ε)")
    p.add_argument("--d", type=int, default=20, help="dimension of --example synthetic")
    p.add_argument(
        "--delta-norm", type=float, default=0.5, help="‖θ_T − θ_S‖ of --example synthetic"
    )
    p.add_argument(
        "--source-task", choices=sorted(LABEL_FUNCTIONS), default="value", help="digits source"
    )
    p.add_argument(
        "--target-task", choices=sorted(LABEL_FUNCTIONS), default="large", help="digits target"
    )
    p.add_argument(
        "--labels",
        choices=("teacher", "direct"),
        default="teacher",
        help="digits target labels: least-squares teacher or the label function itself",
    )
    p.add_argument("--output", metavar="FILE", help="write the tidy records (.csv or .json)")
    p.set_defaults(func=run)


def _task(args: argparse.Namespace) -> Any:
    from .._io import load_array
    from ._tasks import ReluTask, digits_task, synthetic_task

    if args.example == "synthetic":
        return synthetic_task(args.d, delta_norm=args.delta_norm, rng=args.seed)
    if args.example == "digits":
        return digits_task(args.source_task, args.target_task, labels=args.labels)
    if args.target is None:
        raise InvalidInputError("--source needs --target")
    cov = None if args.covariance is None else load_array(args.covariance, "--covariance")
    return ReluTask.from_teachers(
        load_array(args.source, "--source"),
        load_array(args.target, "--target"),
        covariance=cov,
        name="teachers",
    )


def run(args: argparse.Namespace) -> int:
    """Compute the requested rows, print a table, optionally write the records."""
    import numpy as np

    from .._io import write_table
    from .._validation import positive_int
    from ..records import summarize, to_frame
    from .simulate import simulate_cell
    from .theory import theory_curve, theory_sample_complexity

    if args.example is not None and (args.target or args.covariance):
        raise InvalidInputError("--target/--covariance go with --source, not with --example")
    ns = [positive_int(v, "--n") for v in args.n]
    task = _task(args)
    common = {"delta": args.delta, "constant": args.constant, "ridge": args.ridge}
    rows = theory_curve(
        task, ns, draws=args.draws, seed=args.seed, n_test=args.n_test, **common
    )
    if args.train:
        seeds = positive_int(args.seeds, "--seeds")
        for n in ns:
            rngs = [np.random.default_rng(s) for s in np.random.SeedSequence([args.seed, n]).spawn(
                seeds
            )]
            rows += simulate_cell(
                task, n, args.width, rngs, n_test=args.n_test, **common
            )
    if args.eps:
        rows += theory_sample_complexity(
            task, args.eps, n_max=args.n_max, draws=max(1, min(args.draws, 3)), seed=args.seed,
            n_test=args.n_test, **common,
        )
    frame = to_frame(rows)
    print(f"task: {getattr(task, 'name', 'teachers')}, d = {task.dim}, "
          f"‖θ_S‖ = {np.linalg.norm(task.source):.3g}, ‖Δ‖ = {np.linalg.norm(task.delta):.3g}, "
          f"δ = {args.delta:g}, C = {args.constant:g}"
          + (f", width = {args.width}, seeds = {args.seeds}" if args.train else ""))
    _print_curve(frame, summarize)
    if args.eps:
        _print_sample_complexity(frame)
    if args.output:
        print(f"wrote {write_table(frame, args.output)}")
    return 0


def _fmt(mean: float, se: float, count: int) -> str:
    if count > 1:
        return f"{mean:.4g} ± {se:.2g}"
    return f"{mean:.4g}"


def _print_curve(frame: Any, summarize: Any) -> None:
    curve = frame[frame["quantity"].str.startswith(("mae", "complexity", "lambda", "kernel_gap",
                                                    "bound_ratio"))]
    curve = curve[~curve["quantity"].str.startswith("sample_complexity")]
    if curve.empty:
        return
    s = summarize(curve, by=["quantity", "source", "method", "n"])
    s["cell"] = [
        _fmt(m, e, c) for m, e, c in zip(s["mean"], s["stderr"], s["count"], strict=True)
    ]
    s["method"] = s["method"].fillna("")
    s["n"] = s["n"].astype(int)
    table = s.pivot_table(
        index=["quantity", "source", "method"], columns="n", values="cell", aggfunc="first"
    )
    print(table.to_string())


def _print_sample_complexity(frame: Any) -> None:
    sc = frame[frame["quantity"].str.startswith("sample_complexity")]
    if sc.empty:
        return
    table = sc.pivot_table(
        index=["quantity", "source", "method"], columns="eps", values="value", aggfunc="first"
    )
    print("\nsample complexity n*(ε) (mean over draws; inf = not reached within --n-max):")
    print(table.to_string())
