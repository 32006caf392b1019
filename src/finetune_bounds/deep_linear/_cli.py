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
from typing import Any, NoReturn

import numpy as np

from .._validation import nonneg_float, positive_int
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
    p.add_argument("--example", metavar="NAME", help=f"built-in task: {', '.join(_EXAMPLES)}")
    p.add_argument("--covariance", metavar="FILE", help="target covariance Σ (d×d, .npy/.csv)")
    p.add_argument("--spectrum", metavar="FILE", help="eigenvalues of Σ (vector, .npy/.csv)")
    p.add_argument(
        "--eigenvectors", metavar="FILE", help="eigenvectors of Σ as columns (with --spectrum)"
    )
    p.add_argument("--source", metavar="FILE", help="source teacher θ_S (vector, .npy/.csv)")
    p.add_argument("--target", metavar="FILE", help="target teacher θ_T (vector, .npy/.csv)")
    p.add_argument("--noise-variance", metavar="S2", default="0", help="label noise σ² (0)")
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

    def one_line_error(message: str) -> NoReturn:
        print(f"finetune-bounds deep-linear: error: {message}", file=sys.stderr)
        sys.exit(2)

    p.error = one_line_error


def _int(text: Any, name: str, *, allow_zero: bool = False) -> int:
    try:
        v = int(str(text).strip())
    except ValueError:
        raise InvalidInputError(f"{name} must be an integer, got {text!r}") from None
    return positive_int(v, name, allow_zero=allow_zero)


def _float(text: Any, name: str) -> float:
    try:
        v = float(str(text).strip())
    except ValueError:
        raise InvalidInputError(f"{name} must be a number, got {text!r}") from None
    return nonneg_float(v, name)


def _reference_task(noise: float) -> Any:
    """Spec §3.4 setting: Σ = I, d = 100, θ_S ~ N(0, I/d), θ_T = 2θ_S + 0.3ξ (seed 0)."""
    from ..problems import Covariance, LinearTask

    rng = np.random.default_rng(0)
    d = 100
    src = rng.standard_normal(d) / math.sqrt(d)
    tgt = 2.0 * src + 0.3 * rng.standard_normal(d) / math.sqrt(d)
    return LinearTask(Covariance.isotropic(d), src, tgt, noise)


def _task(args: argparse.Namespace, noise: float) -> tuple[Any, str]:
    from .._io import load_array
    from ..linear import example_task
    from ..problems import Covariance, LinearTask

    given = [k for k in ("example", "covariance", "spectrum") if getattr(args, k)]
    if not given:
        raise InvalidInputError(
            "missing input: give --example NAME, or --covariance FILE (or --spectrum FILE) "
            "with --source FILE and --target FILE"
        )
    if len(given) > 1:
        flags = ", ".join(f"--{k}" for k in given)
        raise InvalidInputError(f"give only one of --example, --covariance, --spectrum ({flags})")
    if args.eigenvectors and not args.spectrum:
        raise InvalidInputError("--eigenvectors needs --spectrum")
    if args.example:
        if args.source or args.target:
            raise InvalidInputError("--source/--target cannot be combined with --example")
        if args.example not in _EXAMPLES:
            raise InvalidInputError(
                f"--example must be one of {', '.join(_EXAMPLES)}, got {args.example!r}"
            )
        if args.example == "reference":
            return _reference_task(noise), "example reference (spec §3.4, α = 2, ε = 0.3)"
        return example_task(args.example, noise_variance=noise), f"example {args.example}"
    missing = [f"--{k}" for k in ("source", "target") if not getattr(args, k)]
    if missing:
        raise InvalidInputError(f"missing input: {' and '.join(missing)} (θ_S and θ_T vectors)")
    if args.covariance:
        mat = load_array(args.covariance, "--covariance")
        if mat.ndim != 2 or mat.shape[0] != mat.shape[1]:
            raise InvalidInputError(f"--covariance must be a square matrix, got shape {mat.shape}")
        cov = Covariance.from_matrix(mat)
        label = f"covariance {args.covariance}"
    else:
        lam = load_array(args.spectrum, "--spectrum")
        if lam.ndim != 1 and not (lam.ndim == 2 and 1 in lam.shape):
            raise InvalidInputError(f"--spectrum must be a vector, got shape {lam.shape}")
        vec = load_array(args.eigenvectors, "--eigenvectors") if args.eigenvectors else None
        cov = Covariance.from_spectrum(lam.reshape(-1), vec)
        label = f"spectrum {args.spectrum}"
    src = load_array(args.source, "--source")
    tgt = load_array(args.target, "--target")
    for name, v in (("--source", src), ("--target", tgt)):
        if v.reshape(-1).shape[0] != cov.dim or (v.ndim > 1 and 1 not in v.shape):
            raise InvalidInputError(
                f"{name} must be a vector of length d = {cov.dim}, got shape {v.shape}"
            )
    return LinearTask(cov, src.reshape(-1), tgt.reshape(-1), noise), label


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
        }
    return out


def _fmt(v: float | None, se: float | None = None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if math.isinf(v):
        return "inf"
    s = f"{v:.4g}"
    if se is not None and se > 0 and math.isfinite(se):
        s += f" ± {se:.2g}"
    return s


def run(args: argparse.Namespace) -> int:
    """Build the task, compute the table over depths × n, print it (and n*(ε))."""
    import pandas as pd

    from .._io import write_table
    from .theory import check_depth, expected_risk, frozen_risk_floor, sample_complexity

    noise = _float(args.noise_variance, "--noise-variance")
    if args.method not in _METHODS:
        raise InvalidInputError(
            f"--method must be one of {', '.join(_METHODS)}, got {args.method!r}"
        )
    depths: list[float] = []
    for text in args.depth:
        L = check_depth(text, "--depth")
        if L not in depths:
            depths.append(L)
    k = _int(args.frozen_layers, "--frozen-layers", allow_zero=True)
    draws = _int(args.draws, "--draws")
    if draws < 2:
        raise InvalidInputError("--draws must be ≥ 2 (a standard error needs two draws)")
    seed = _int(args.seed, "--seed", allow_zero=True)
    width = _int(args.width, "--width")
    eps = None if args.eps is None else _float(args.eps, "--eps")
    if args.output is not None and not str(args.output).lower().endswith((".csv", ".json")):
        raise InvalidInputError(f"--output must end in .csv or .json, got {args.output!r}")
    ns_given = None if args.n is None else [_int(v, "--n") for v in args.n]

    task, label = _task(args, noise)
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
    if k:
        cols.append(("floor (n → ∞)", lambda r: _fmt(r["frozen_floor"])))
    body = [[f(row) for _, f in cols] for row in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, (h, _) in enumerate(cols)]
    print("  ".join(h.rjust(w) for (h, _), w in zip(cols, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for b in body:
        print("  ".join(v.rjust(w) for v, w in zip(b, widths, strict=True)))

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
