"""``finetune-bounds linear``: theory, bounds and trained models for linear fine-tuning.

A thin adapter over the ``linear`` family (spec ``linear-teachers.md`` §2, §5): the options
become family parameters (``--example NAME`` → ``linear._family.EXAMPLES[NAME]``; files →
``spectrum = "files"`` with ``covariance_file`` …; ``--n`` → the inner axis ``n``), one cell runs
through :func:`finetune_bounds.sweep.run` — the runner of sweeps and of the report, so the numbers
are theirs — and the table is printed from the frame it returns. ``--eps`` adds
:func:`~finetune_bounds.linear.theory.sample_complexity` and
:func:`~finetune_bounds.linear.simulate.empirical_sample_complexity` (on the frame).

Every input problem raises :class:`~finetune_bounds.errors.InvalidInputError` or
:class:`~finetune_bounds.errors.ConfigError` before anything runs (one line on stderr, exit 2).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any, Literal

from .._cli_common import Column, format_value, parse_float, parse_int
from ..errors import InvalidInputError

_METHODS = ("auto", "deterministic", "isotropic", "monte_carlo", "weights")
#: default grid of n as fractions of rank Σ (when --n is not given)
_DEFAULT_FRACTIONS = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 1.5, 3.0)


def register(subparsers: Any) -> None:
    """Add the ``linear`` subcommand."""
    from .._cli_common import add_run_arguments, add_task_arguments
    from ._family import EXAMPLES

    p = subparsers.add_parser(
        "linear",
        help="linear regression from a linear source teacher: theory, bounds, training",
        description=(
            "Fine-tuning linear regression from a source teacher θ_S to a target teacher θ_T "
            "with Gaussian inputs x ~ N(0, Σ) (spec linear-teachers §2). Prints, per n, the "
            "expected risk (deterministic equivalent, exact isotropic formula or Monte Carlo) "
            "with its bias and variance, the §2.4 bounds (naive, benign, head/tail) and the "
            "empirical risk of actually fine-tuning on sampled data (mean ± standard error over "
            "seeds). Inputs: --example NAME, or --covariance FILE / --spectrum FILE "
            "[--eigenvectors FILE] together with --source FILE --target FILE (.npy or .csv). "
            "Runs the 'linear' family through the sweep's runner: 'finetune-bounds run linear' "
            "and the report give the same numbers for the same parameters."
        ),
    )
    add_task_arguments(p, EXAMPLES)
    p.add_argument(
        "--n", nargs="+", metavar="N", default=None,
        help="sample sizes, each ≥ 1 (default: fractions of rank Σ from 0.05 to 3)",
    )
    p.add_argument("--eps", metavar="EPS", default=None, help="also print n*(ε) for this risk")
    p.add_argument(
        "--method", metavar="METHOD", default="auto",
        help=f"theory route: {', '.join(_METHODS)} (default: auto — the deterministic "
        "equivalent where its calibrated error is ≤ 1 %%, else the per-coordinate Monte Carlo)",
    )
    p.add_argument("--draws", metavar="K", default="200",
                   help="Monte Carlo draws of --method monte_carlo (200; parameter mc_draws)")
    p.add_argument("--task-seed", metavar="SEED", default=None,
                   help="seed of θ_S and Δ of the power_law/spiked examples (0; task_seed)")
    p.add_argument("--seed", default=None, help=argparse.SUPPRESS)  # removed: see run()
    p.add_argument(
        "--empirical-seeds", "--seeds", dest="empirical_seeds", metavar="K", default="20",
        help="training runs per n for the empirical columns (20; 0 = theory only)",
    )
    p.add_argument(
        "--gd", action="store_true",
        help="also fine-tune by iterative gradient descent (default: its closed-form limit)",
    )
    p.add_argument(
        "--bound-constant", metavar="NAME=VALUE", action="append", default=[],
        help="constant of a bound family: naive, benign or head_tail (repeatable; default 1)",
    )
    add_run_arguments(p)
    p.set_defaults(func=run)


def _constants(items: Sequence[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or name not in ("naive", "benign", "head_tail"):
            raise InvalidInputError(
                f"--bound-constant expects NAME=VALUE with NAME in naive, benign, head_tail; "
                f"got {item!r}"
            )
        out[name] = parse_float(value, f"--bound-constant {name}")
    return out


def _columns(method: str, constants: dict[str, float] | None = None) -> list[Column]:
    """theory | bound | rate | empirical | references (columns without values are left out).
    The benign and head/tail "bounds" are rates with a free constant C: grouped as rates."""
    c = constants or {}
    return [
        Column("risk", "theory", "risk", "theory", method, start="pretrained"),
        Column("bias", "theory", "bias", "theory", method, errors=False),
        Column("variance", "theory", "variance", "theory", method, errors=False),
        Column("naive", "bound", "risk", "bound", "naive", start="pretrained"),
        Column(f"benign (C = {c.get('benign', 1.0):g})", "rate", "risk", "bound", "benign",
               start="pretrained"),
        Column(f"head/tail (C = {c.get('head_tail', 1.0):g})", "rate", "risk", "bound",
               "head_tail", start="pretrained"),
        Column("risk", "empirical", "risk", "empirical", "closed_form", start="pretrained"),
        Column("GD risk", "empirical", "risk", "empirical", "gd", start="pretrained"),
        Column("GD conv.", "empirical", "converged", "empirical", "gd", percent=True),
        Column("zero-shot", "theory", "zero_shot", "theory", "closed_form"),
        Column("from scratch", "theory", "risk", "theory", method, errors=False, start="scratch"),
    ]


def run(args: argparse.Namespace) -> int:
    """Options → family parameters → one cell through the runner → the table (and n*(ε))."""
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
    from ._family import EXAMPLES, build_task

    if args.seed is not None:
        raise InvalidInputError(
            "--seed was removed: the empirical seeds now derive from the cell's parameters, as "
            "in sweeps (use --task-seed for θ_S and Δ of the synthetic examples)"
        )
    params: dict[str, Any] = {
        "noise_variance": parse_float(args.noise_variance, "--noise-variance"),
        "gd": bool(args.gd),
    }
    if args.method not in _METHODS:
        raise InvalidInputError(
            f"--method must be one of {', '.join(_METHODS)}, got {args.method!r}"
        )
    params["theory_method"] = args.method
    draws = parse_int(args.draws, "--draws")
    if draws < 2:
        raise InvalidInputError("--draws must be ≥ 2 (a standard error needs two draws)")
    if args.method == "monte_carlo":
        params["mc_draws"] = draws
    seeds = parse_int(args.empirical_seeds, "--empirical-seeds", allow_zero=True)
    constants = _constants(args.bound_constant)
    params.update({f"bound_{k}": v for k, v in constants.items()})
    if args.task_seed is not None:
        params["task_seed"] = parse_int(args.task_seed, "--task-seed", allow_zero=True)
    eps = None if args.eps is None else parse_float(args.eps, "--eps")
    output = check_output(args.output)
    ns_given = None if args.n is None else [parse_int(v, "--n") for v in args.n]

    task_p, label = task_params(args, EXAMPLES, switch="spectrum")
    params = {**task_p, **params}
    task = build_task(resolve("linear", params))
    cov = task.covariance
    if args.method == "isotropic" and not cov.is_isotropic:
        raise InvalidInputError(
            f"--method isotropic needs Σ ∝ I; this covariance has eigenvalues in "
            f"[{cov.eigenvalues[-1]:.3g}, {cov.eigenvalues[0]:.3g}] — use deterministic"
        )
    r = max(cov.rank, 1)
    ns = sorted(set(ns_given or {max(1, round(f * r)) for f in _DEFAULT_FRACTIONS}))

    theory_name = {
        "auto": "deterministic equivalent (§2.3) where its calibrated error is ≤ 1 %, else "
                "Monte Carlo of the per-coordinate weights to 1 % (route and accuracy per n)",
        "deterministic": "deterministic equivalent (§2.3)",
        "isotropic": "exact isotropic formula (§2.3)",
        "monte_carlo": f"Monte Carlo over {draws} Gaussian designs (§2.2, ± s.e.)",
        "weights": "Monte Carlo of the per-coordinate weights to 1 % (unbiased, ± s.e.)",
    }[args.method]
    emp = (
        f"; empirical: fine-tuned on Gaussian samples, {seeds} seeds, mean ± s.e."
        + (" (closed-form limit and gradient descent)" if args.gd else " (closed-form GD limit)")
        if seeds else ""
    )
    print(f"linear fine-tuning, {label}: {describe_task(task)}")
    print(f"theory: {theory_name}; bounds: §2.4 (constants {constants or 'all 1'}){emp}")
    print()
    result = run_family("linear", args, params=params, axes={"n": ns}, seeds=seeds)
    frame = result.frame
    if len(frame):
        summary = summary_of(frame, ["n"])
        print("\n".join(render_table(summary, ["n"], _columns(args.method, constants))))
        warn_unconverged(summary)
        if args.method == "auto":
            _print_routes(frame)
    if eps is not None:
        _print_eps(task, frame, eps, args.method, seeds)
    return finish(result, output)


def _print_routes(frame: Any) -> None:
    """One line per route of ``--method auto``: which n it served and their stated accuracy."""
    rows = frame[(frame["quantity"] == "risk") & (frame["source"] == "theory")
                 & (frame["start"] == "pretrained")]
    if "route" not in rows.columns or rows.empty:
        return
    for route, grp in rows.groupby("route", sort=True):
        ns = ", ".join(str(int(v)) for v in sorted(grp["n"]))
        worst = float(grp["rel_error"].max())
        what = {"weights": "Monte Carlo of the per-coordinate weights (± s.e. shown)",
                "deterministic": "deterministic equivalent",
                "isotropic": "exact isotropic formulas"}.get(str(route), str(route))
        acc = "exact" if worst == 0 else f"stated relative accuracy ≤ {100 * worst:.2g} %"
        if worst == 0:
            what = "closed form (Σ ∝ I or n ≥ rank Σ)"
        print(f"theory at n = {ns}: {what}, {acc}")


def _print_eps(task: Any, frame: Any, eps: float, method: str, seeds: int) -> None:
    from .simulate import empirical_sample_complexity
    from .theory import sample_complexity

    print()
    sc_method: Literal["auto", "deterministic", "isotropic"] = (
        method if method in ("isotropic", "deterministic") else "auto"  # type: ignore[assignment]
    )
    sc = sample_complexity(task, eps, method=sc_method)
    if sc.reachable:
        acc = "exact" if sc.rel_error == 0 else f"± {100 * sc.rel_error:.2g} %"
        via = f"{sc.method}, auto" if sc_method == "auto" else sc.method
        print(f"n*(ε = {eps:g}) theory ({via}): {sc.n} "
              f"(risk {format_value(sc.risk_at_n)}, {acc})")
    else:
        print(f"n*(ε = {eps:g}) theory ({sc.method}): not reachable — {sc.reason}")
    if not seeds or not len(frame) or not (frame["source"] == "empirical").any():
        return
    es = empirical_sample_complexity(frame, eps)
    if es.reachable:
        lo = f"in ({es.previous_n}, {es.n}]" if es.previous_n is not None else f"≤ {es.n}"
        print(
            f"n*(ε = {eps:g}) empirical (first grid n): {es.n} — true n* {lo} "
            f"(mean risk {format_value(es.mean_risk, es.stderr)})"
        )
    else:
        print(f"n*(ε = {eps:g}) empirical: not reachable on the grid — {es.reason}")
