"""``finetune-bounds deep-linear``: fine-tuning deep linear networks from pretrained weights.

Composes library calls only (spec ``linear-teachers.md`` §3): for each depth L and sample size n,
the Monte Carlo mean of the risk of the fine-tuned predictor over Gaussian designs — by the
closed form (:func:`~finetune_bounds.deep_linear.expected_risk`), or per draw by the cvxpy
program, the gradient-flow ODE or a real layered network trained by GD — with optional frozen
early layers (§3.5) and sample complexities n*(ε) (:func:`~finetune_bounds.deep_linear.
sample_complexity`). Inputs are those of ``finetune-bounds linear``.

Every input problem raises :class:`~finetune_bounds.errors.InvalidInputError` (one stderr line,
exit status 2 via the dispatcher); argparse's own errors are shortened to one line too.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from .._cli_common import (
    add_task_arguments,
    parse_float,
    parse_int,
    task_from_args,
)
from .._cli_common import (
    format_value as _fmt,
)
from ..errors import InvalidInputError

_EXAMPLES = ("reference", "power_law", "spiked", "digits")
_METHODS = ("closed_form", "cvxpy", "ode", "gd")
_DEFAULT_FRACTIONS = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9)


def register(subparsers: Any) -> None:
    """Add the ``deep-linear`` subcommand."""
    p = subparsers.add_parser(
        "deep-linear",
        help="deep linear networks fine-tuned from balanced pretrained weights",
        description=(
            "Fine-tuning a depth-L linear network from balanced pretrained weights with "
            "end-to-end vector θ_S on n Gaussian target samples x ~ N(0, Σ) labelled by θ_T "
            "(spec linear-teachers §3). Prints, per depth and n, the mean risk over --draws "
            "designs (± standard error) of the predictor the network converges to, computed by "
            "--method (closed_form: w = P_Xθ_T + c_L P_⊥θ_S; cvxpy: the implicit-bias program; "
            "ode: the end-to-end gradient flow; gd: a real layered network trained by GD), the "
            "mean c_L, and the linear (L = 1) risk on the same designs. Depth 'inf' is the "
            "infinite-depth limit. Inputs: --example NAME, or --covariance FILE / --spectrum "
            "FILE [--eigenvectors FILE] together with --source FILE --target FILE (.npy/.csv)."
        ),
    )
    add_task_arguments(p, _examples())
    p.add_argument(
        "--depth", nargs="+", metavar="L", default=["1", "2", "3", "inf"],
        help="depths, each an integer ≥ 1 or 'inf' (default: 1 2 3 inf)",
    )
    p.add_argument(
        "--frozen-layers", metavar="K", default="0",
        help="freeze the first K layers at their pretrained values (§3.5; default 0)",
    )
    p.add_argument(
        "--n", nargs="+", metavar="N", default=None,
        help="sample sizes, each ≥ 1 (default: fractions 0.05 … 0.9 of rank Σ)",
    )
    p.add_argument(
        "--method", metavar="METHOD", default="closed_form",
        help=f"route for the fine-tuned predictor: {', '.join(_METHODS)} (default closed_form)",
    )
    p.add_argument("--draws", metavar="K", default="200", help="Monte Carlo designs (200)")
    p.add_argument("--seed", metavar="SEED", default="0", help="random seed (0)")
    p.add_argument("--width", metavar="H", default="8", help="hidden width for --method gd (8)")
    p.add_argument("--eps", metavar="EPS", default=None, help="also print n*(ε) per depth")
    p.add_argument("--output", metavar="FILE", help="write the table (.csv or .json)")
    p.set_defaults(func=run)


def _reference_task(noise: float) -> Any:
    """Spec §3.4 setting: Σ = I, d = 100, θ_S ~ N(0, I/d), θ_T = 2θ_S + 0.3ξ (seed 0)."""
    from ..problems import Covariance, LinearTask

    rng = np.random.default_rng(0)
    d = 100
    src = rng.standard_normal(d) / math.sqrt(d)
    tgt = 2.0 * src + 0.3 * rng.standard_normal(d) / math.sqrt(d)
    return LinearTask(Covariance.isotropic(d), src, tgt, noise)


def _examples() -> dict[str, Callable[[float], Any]]:
    from ..linear import example_task

    out: dict[str, Callable[[float], Any]] = {"reference": _reference_task}
    for name in _EXAMPLES[1:]:
        out[name] = partial(_example, example_task, name)
    return out


def _example(build: Callable[..., Any], name: str, noise: float) -> Any:
    return build(name, noise_variance=noise)


def _route_risks(
    task: Any, n: int, depths: list[float], method: str, draws: int, seed: int, k: int,
    width: int,
) -> dict[float, dict[str, float]]:
    """Per-draw predictors by a non-closed-form route; risk mean ± s.e. and distance to the
    closed form, per depth (the same designs for every depth)."""
    from . import simulate as sim
    from .theory import _batch_predictors, _stderr, solve_predictor

    rng = np.random.default_rng(seed)
    cov = task.covariance
    x = np.stack([cov.sample(n, rng) for _ in range(draws)])
    y = x @ task.target
    if task.noise_variance > 0:
        y = y + math.sqrt(task.noise_variance) * rng.standard_normal(y.shape)
    src = np.broadcast_to(task.source, (draws, task.dim))
    w_cf = _batch_predictors(np.array(src), x, y, depths, frozen_layers=k)
    out: dict[float, dict[str, float]] = {}
    for j, L in enumerate(depths):
        converged = 1.0
        if method == "gd":
            if math.isinf(L):
                raise InvalidInputError("--method gd needs finite depths (a real network)")
            if k >= L:
                w = np.array(src)
            else:
                weights = sim.balanced_weights(np.array(src), int(L), width)
                res = sim.train(weights, x, y, frozen_layers=k,
                                target_norm=np.linalg.norm(w_cf[:, j], axis=1))
                w = res.predictor
                converged = float(np.mean(res.converged))
        else:
            if k > 0:
                raise InvalidInputError(
                    f"--method {method} solves full fine-tuning; with --frozen-layers use "
                    "closed_form or gd"
                )
            w = np.stack([
                solve_predictor(x[i], y[i], task.source, L, method, strict=True).predictor  # type: ignore[arg-type]
                for i in range(draws)
            ])
        risks = np.asarray(cov.quadratic_form(w - task.target))
        dist = np.linalg.norm(w - w_cf[:, j], axis=1) / np.maximum(
            np.linalg.norm(w_cf[:, j], axis=1), 1e-300
        )
        out[L] = {
            "risk_route": float(risks.mean()),
            "risk_route_stderr": float(_stderr(risks)),
            "distance_to_closed_form": float(dist.mean()),
            "converged_fraction": converged,
        }
    return out


def run(args: argparse.Namespace) -> int:
    """Build the task, compute the table over depths × n, print it (and n*(ε))."""
    import pandas as pd

    from .._io import write_table
    from .theory import check_depth, expected_risk, frozen_risk_floor, sample_complexity

    noise = parse_float(args.noise_variance, "--noise-variance")
    if args.method not in _METHODS:
        raise InvalidInputError(
            f"--method must be one of {', '.join(_METHODS)}, got {args.method!r}"
        )
    depths: list[float] = []
    for text in args.depth:
        L = check_depth(text, "--depth")
        if L not in depths:
            depths.append(L)
    k = parse_int(args.frozen_layers, "--frozen-layers", allow_zero=True)
    too_shallow = [f"{L:g}" for L in depths if k >= L]
    if k > 0 and too_shallow:
        raise InvalidInputError(
            f"--frozen-layers {k} leaves nothing to fine-tune at depth {', '.join(too_shallow)}: "
            "freeze fewer layers than the depth"
        )
    draws = parse_int(args.draws, "--draws")
    if draws < 2:
        raise InvalidInputError("--draws must be ≥ 2 (a standard error needs two draws)")
    seed = parse_int(args.seed, "--seed", allow_zero=True)
    width = parse_int(args.width, "--width")
    eps = None if args.eps is None else parse_float(args.eps, "--eps")
    if args.output is not None and not str(args.output).lower().endswith((".csv", ".json")):
        raise InvalidInputError(f"--output must end in .csv or .json, got {args.output!r}")
    ns_given = None if args.n is None else [parse_int(v, "--n") for v in args.n]

    task, label = task_from_args(args, noise, _examples())
    cov = task.covariance
    r = max(cov.rank, 1)
    ns = (
        sorted(set(ns_given)) if ns_given is not None
        else sorted({max(1, round(f * r)) for f in _DEFAULT_FRACTIONS})
    )
    rows = []
    for n in ns:
        linear = expected_risk(task, n, 1, draws=draws, rng=seed)
        routes = (
            _route_risks(task, n, depths, args.method, draws, seed, k, width)
            if args.method != "closed_form" else {}
        )
        for L in depths:
            cf = expected_risk(task, n, L, draws=draws, rng=seed, frozen_layers=k)
            row: dict[str, Any] = {
                "depth": L, "n": n, "frozen_layers": k, "method": args.method,
                "risk": cf.risk, "risk_stderr": cf.risk_stderr,
                "coefficient": cf.coefficient, "linear_risk": linear.risk, "draws": draws,
            }
            if routes:
                row.update(routes[L])
            if k:
                row["frozen_floor"] = frozen_risk_floor(task, L, k)
            rows.append(row)
    frame = pd.DataFrame(rows)

    zs = float(cov.quadratic_form(task.delta))
    ns_, nt_ = float(np.linalg.norm(task.source)), float(np.linalg.norm(task.target))
    cos = float(task.source @ task.target) / max(ns_ * nt_, 1e-300)
    print(
        f"deep linear fine-tuning, {label}: d = {cov.dim}, rank Σ = {cov.rank}, "
        f"‖θ_S‖ = {ns_:.4g}, ‖θ_T‖ = {nt_:.4g}, cos(θ_S, θ_T) = {cos:.4g}, "
        f"zero-shot ΔᵀΣΔ = {zs:.4g}, σ² = {task.noise_variance:g}"
    )
    what = "closed form (§3.2)" if args.method == "closed_form" else (
        f"{args.method} per draw (closed form beside it)"
    )
    frozen = f", first {k} layer(s) frozen (§3.5)" if k else ""
    print(f"risk: mean ± s.e. over {draws} Gaussian designs (seed {seed}); route: {what}{frozen}")
    print()
    cols: list[tuple[str, Any]] = [
        ("depth", lambda r: "inf" if math.isinf(r["depth"]) else str(int(r["depth"]))),
        ("n", lambda r: str(r["n"])),
        ("E[R_L] closed form", lambda r: _fmt(r["risk"], r["risk_stderr"])),
        ("mean γ" if k else "mean c_L", lambda r: _fmt(r["coefficient"])),
        ("E[R_1] linear", lambda r: _fmt(r["linear_risk"])),
    ]
    if args.method != "closed_form":
        frame = frame.rename(
            columns={"risk_route": f"risk_{args.method}",
                     "risk_route_stderr": f"risk_{args.method}_stderr"}
        )
        cols += [
            (f"E[R_L] {args.method}", lambda r: _fmt(r["risk_route"], r["risk_route_stderr"])),
            ("‖w − w_cf‖/‖w_cf‖", lambda r: _fmt(r["distance_to_closed_form"])),
        ]
        if args.method == "gd":
            cols.append(("GD converged", lambda r: f"{r['converged_fraction']:.0%}"))
    if k:
        cols.append(("floor (n → ∞)", lambda r: _fmt(r["frozen_floor"])))
    body = [[f(row) for _, f in cols] for row in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, (h, _) in enumerate(cols)]
    print("  ".join(h.rjust(w) for (h, _), w in zip(cols, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for b in body:
        print("  ".join(v.rjust(w) for v, w in zip(b, widths, strict=True)))

    unconverged = [r for r in rows if r.get("converged_fraction", 1.0) < 1.0]
    if unconverged:
        print(
            f"warning: gradient descent did not converge on some designs in {len(unconverged)} "
            "row(s); their risks are those of the unconverged networks (see GD converged)",
            file=sys.stderr,
        )

    if eps is not None:
        print()
        for L in depths:
            sc = sample_complexity(task, eps, L, draws=draws, rng=seed, frozen_layers=k)
            name = "inf" if math.isinf(L) else str(int(L))
            if sc.reachable:
                print(
                    f"n*(ε = {eps:g}), depth {name}: {sc.n} "
                    f"(E[R_L] = {_fmt(sc.risk_at_n, sc.stderr_at_n)})"
                )
            else:
                print(f"n*(ε = {eps:g}), depth {name}: {sc.reason}")

    if args.output:
        path = write_table(frame, args.output)
        print(f"\nwrote {path}")
    return 0
