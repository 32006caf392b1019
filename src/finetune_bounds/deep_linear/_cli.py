"""``finetune-bounds deep-linear``: fine-tuning deep linear networks from pretrained weights.

A thin adapter over the ``deep_linear`` family (spec ``linear-teachers.md`` §3): the options
become family parameters (``--example NAME`` → ``deep_linear._family.EXAMPLES[NAME]``; files →
``teachers = "files"`` with ``covariance_file`` …; ``--depth`` → the inner axis ``depth``;
``--n`` → one cell per n), the cells run through :func:`finetune_bounds.sweep.run` — the runner of
sweeps and of the report, so the numbers are theirs — and the table is printed from the frame it
returns. ``--eps`` adds :func:`~finetune_bounds.deep_linear.sample_complexity` of the fixed task.

Every input problem raises :class:`~finetune_bounds.errors.InvalidInputError` or
:class:`~finetune_bounds.errors.ConfigError` before anything runs (one line on stderr, exit 2).
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from .._cli_common import Column, format_value, parse_float, parse_int
from ..errors import InvalidInputError

_METHODS = ("closed_form", "cvxpy", "ode", "gd")
_DEFAULT_FRACTIONS = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9)


def register(subparsers: Any) -> None:
    """Add the ``deep-linear`` subcommand."""
    from .._cli_common import add_run_arguments, add_task_arguments
    from ._family import EXAMPLES

    p = subparsers.add_parser(
        "deep-linear",
        help="deep linear networks fine-tuned from balanced pretrained weights",
        description=(
            "Fine-tuning a depth-L linear network from balanced pretrained weights with "
            "end-to-end vector θ_S on n Gaussian target samples x ~ N(0, Σ) labelled by θ_T "
            "(spec linear-teachers §3). Prints, per n and depth, the mean risk of the closed-form "
            "limit w = P_Xθ_T + c_L P_⊥θ_S over --draws designs (± standard error), the mean "
            "c_L, the zero-shot risk and the bound max(R_1, R_∞); with --method cvxpy|ode|gd "
            "also the risk of that route (the implicit-bias program, the end-to-end gradient "
            "flow, a real layered network trained by GD) over --seeds designs and its distance "
            "to the closed form. Depth 'inf' is the infinite-depth limit. Inputs: --example "
            "NAME, or --covariance FILE / --spectrum FILE [--eigenvectors FILE] together with "
            "--source FILE --target FILE (.npy/.csv). Runs the 'deep_linear' family through the "
            "sweep's runner: 'finetune-bounds run deep_linear' and the report give the same "
            "numbers for the same parameters."
        ),
    )
    add_task_arguments(p, EXAMPLES)
    p.add_argument(
        "--depth", nargs="+", metavar="L", default=["1", "2", "3", "inf"],
        help="depths, each an integer ≥ 1 or 'inf' (default: 1 2 3 inf; the axis depth)",
    )
    p.add_argument(
        "--frozen-layers", metavar="K", default="0",
        help="freeze the first K layers at their pretrained values (§3.5; default 0)",
    )
    p.add_argument(
        "--n", nargs="+", metavar="N", default=None,
        help="sample sizes, each ≥ 1, one cell each (default: fractions 0.05 … 0.9 of rank Σ)",
    )
    p.add_argument(
        "--method", metavar="METHOD", default="closed_form",
        help=f"route for the fine-tuned predictor: {', '.join(_METHODS)} (default closed_form)",
    )
    p.add_argument("--draws", metavar="K", default="200",
                   help="Monte Carlo designs of the closed-form rows (200; theory_draws)")
    p.add_argument("--seeds", metavar="S", default=None,
                   help="designs (seeds) the --method route runs on (default: --draws for "
                        "cvxpy/ode/gd, 0 for closed_form)")
    p.add_argument("--seed", metavar="SEED", default="0",
                   help="seed of the Monte Carlo designs of the closed-form rows (0; theory_seed)")
    p.add_argument("--width", metavar="H", default="8", help="hidden width for --method gd (8)")
    p.add_argument("--eps", metavar="EPS", default=None, help="also print n*(ε) per depth")
    add_run_arguments(p)
    p.set_defaults(func=run)


def _depths(texts: list[str]) -> list[float | int]:
    from .theory import check_depth

    out: list[float | int] = []
    for text in texts:
        L = check_depth(text, "--depth")
        value = int(L) if math.isfinite(L) else math.inf
        if value not in out:
            out.append(value)
    return out


def _columns(method: str, frozen: bool) -> list[Column]:
    cols = [
        Column("E[R_L] closed form", "theory", "risk", "theory", "closed_form"),
        Column("mean γ" if frozen else "mean c_L", "theory", "coefficient", "theory",
               "closed_form", errors=False),
        Column("zero-shot", "theory", "zero_shot", "theory", "closed_form", errors=False),
        Column("max(R_1, R_∞)", "bound", "risk", "bound", "max_linear_infinite"),
        Column("frozen floor (n → ∞)", "bound", "risk", "bound", "frozen_floor"),
        Column(f"E[R_L] {method}", "empirical", "risk", "empirical", method),
    ]
    if method != "closed_form":
        cols.append(Column("‖w − w_cf‖/‖w_cf‖", "empirical", f"{method}_vs_closed_form",
                           "empirical", method))
    if method == "gd":
        cols.append(Column("GD converged", "empirical", "converged", "empirical", "gd",
                           percent=True))
    return cols


def run(args: argparse.Namespace) -> int:
    """Options → family parameters → one cell per n through the runner → the table."""
    from .._cli_common import (
        check_output,
        describe_task,
        finish,
        render_table,
        resolve,
        run_family,
        summary_of,
        task_params,
        warn_unconverged,
    )
    from ._family import EXAMPLES, task_from_params

    noise = parse_float(args.noise_variance, "--noise-variance")
    if args.method not in _METHODS:
        raise InvalidInputError(
            f"--method must be one of {', '.join(_METHODS)}, got {args.method!r}"
        )
    depths = _depths(args.depth)
    k = parse_int(args.frozen_layers, "--frozen-layers", allow_zero=True)
    too_shallow = [f"{L:g}" for L in depths if k >= L]
    if k > 0 and too_shallow:
        raise InvalidInputError(
            f"--frozen-layers {k} leaves nothing to fine-tune at depth {', '.join(too_shallow)}: "
            "freeze fewer layers than the depth"
        )
    if k > 0 and args.method in ("cvxpy", "ode"):
        raise InvalidInputError(
            f"--method {args.method} solves full fine-tuning; with --frozen-layers use "
            "closed_form or gd"
        )
    if args.method == "gd" and any(math.isinf(L) for L in depths):
        raise InvalidInputError("--method gd needs finite depths (a real network)")
    draws = parse_int(args.draws, "--draws")
    if draws < 2:
        raise InvalidInputError("--draws must be ≥ 2 (a standard error needs two draws)")
    seeds = (
        parse_int(args.seeds, "--seeds", allow_zero=True) if args.seeds is not None
        else (0 if args.method == "closed_form" else draws)
    )
    eps = None if args.eps is None else parse_float(args.eps, "--eps")
    output = check_output(args.output)
    ns_given = None if args.n is None else [parse_int(v, "--n") for v in args.n]

    task_p, label = task_params(args, EXAMPLES, switch="teachers")
    params: dict[str, Any] = {
        **task_p,
        "noise_variance": noise,
        "frozen_layers": k,
        "theory_draws": draws,
        "theory_seed": parse_int(args.seed, "--seed", allow_zero=True),
        "methods": args.method,
        "width": parse_int(args.width, "--width"),
    }
    task = task_from_params(resolve("deep_linear", {**params, "depth": depths[0]}))
    r = max(task.covariance.rank, 1)
    ns = sorted(set(ns_given or {max(1, round(f * r)) for f in _DEFAULT_FRACTIONS}))

    route = "" if args.method == "closed_form" else f"; {args.method} on {seeds} designs"
    frozen = f", first {k} layer(s) frozen (§3.5)" if k else ""
    print(f"deep linear fine-tuning, {label}: {describe_task(task)}")
    print(f"closed form (§3.2): mean ± s.e. over {draws} Gaussian designs (theory_seed "
          f"{params['theory_seed']}){route}{frozen}")
    print()
    result = run_family("deep_linear", args, params=params, grid={"n": ns},
                        axes={"depth": depths}, seeds=seeds)
    frame = result.frame
    if len(frame):
        summary = summary_of(frame, ["n", "depth"])
        print("\n".join(render_table(summary, ["n", "depth"], _columns(args.method, k > 0),
                                    ["n", "depth L"])))
        warn_unconverged(summary)
    if eps is not None:
        _print_eps(task, eps, depths, draws, params["theory_seed"], k)
    return finish(result, output)


def _print_eps(task: Any, eps: float, depths: list[Any], draws: int, seed: int, k: int) -> None:
    from .theory import sample_complexity

    print()
    for L in depths:
        sc = sample_complexity(task, eps, L, draws=draws, rng=seed, frozen_layers=k)
        name = "inf" if math.isinf(L) else str(int(L))
        if sc.reachable:
            print(
                f"n*(ε = {eps:g}), depth {name}: {sc.n} "
                f"(E[R_L] = {format_value(sc.risk_at_n, sc.stderr_at_n)}; nested designs)"
            )
        else:
            print(f"n*(ε = {eps:g}), depth {name}: {sc.reason}")
