"""``finetune-bounds linear``: theory, bounds and trained models for linear fine-tuning.

Composes library calls only (spec ``linear-teachers.md`` §2, §5):
:func:`~finetune_bounds.linear.simulate.simulate_curve` (theory rows from
:func:`~finetune_bounds.linear.theory.expected_risk`, bounds from
:func:`~finetune_bounds.linear.theory.bounds`, empirical rows from training),
:func:`~finetune_bounds.linear.simulate.summarize_curve`,
:func:`~finetune_bounds.linear.theory.sample_complexity` and
:func:`~finetune_bounds.linear.simulate.empirical_sample_complexity`.

Every input problem raises :class:`~finetune_bounds.errors.InvalidInputError`, which the
dispatcher prints as one line (exit status 2); argparse's own errors are shortened to one line too.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, Literal

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

_EXAMPLES = ("power_law", "spiked", "digits")
_METHODS = ("deterministic", "isotropic", "monte_carlo")
#: default grid of n as fractions of rank Σ (when --n is not given)
_DEFAULT_FRACTIONS = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 1.5, 3.0)


def register(subparsers: Any) -> None:
    """Add the ``linear`` subcommand."""
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
            "[--eigenvectors FILE] together with --source FILE --target FILE (.npy or .csv)."
        ),
    )
    add_task_arguments(p, _examples())
    p.add_argument(
        "--n", nargs="+", metavar="N", default=None,
        help="sample sizes, each ≥ 1 (default: fractions of rank Σ from 0.05 to 3)",
    )
    p.add_argument("--eps", metavar="EPS", default=None, help="also print n*(ε) for this risk")
    p.add_argument(
        "--method", metavar="METHOD", default="deterministic",
        help=f"theory route: {', '.join(_METHODS)} (default: deterministic)",
    )
    p.add_argument("--draws", metavar="K", default="200", help="Monte Carlo draws (200)")
    p.add_argument("--seed", metavar="SEED", default="0", help="random seed (0)")
    p.add_argument(
        "--empirical-seeds", metavar="K", default="20",
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
    p.add_argument("--output", metavar="FILE", help="write the summary table (.csv or .json)")
    p.set_defaults(func=run)


# ---------------------------------------------------------------------------------------------
# input parsing (every problem → InvalidInputError)
# ---------------------------------------------------------------------------------------------
def _examples() -> dict[str, Callable[[float], Any]]:
    from .simulate import example_task

    return {name: partial(_example, example_task, name) for name in _EXAMPLES}


def _example(build: Callable[..., Any], name: str, noise: float) -> Any:
    return build(name, noise_variance=noise)


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


def _default_ns(rank: int) -> list[int]:
    r = max(rank, 1)
    return sorted({max(1, round(f * r)) for f in _DEFAULT_FRACTIONS})


# ---------------------------------------------------------------------------------------------
# printing
# ---------------------------------------------------------------------------------------------
def _lookup(summary: Any, q: str, src: str, meth: str, n: int) -> Any:
    sel = summary[
        (summary["quantity"] == q) & (summary["source"] == src) & (summary["method"] == meth)
        & (summary["n"] == n)
    ]
    return None if sel.empty else sel.iloc[0]


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _table(summary: Any, ns: Sequence[int], seeds: int, gd: bool, method: str) -> list[str]:
    """Rows = n; columns grouped as theory | bound | empirical | references."""

    def cell(q: str, src: str, meth: str, with_se: bool = False) -> Any:
        def f(n: int) -> str:
            row = _lookup(summary, q, src, meth, n)
            if row is None:
                return "–"
            se = None
            if with_se:
                se = float(row["stderr"])
                if src == "theory":
                    ts = row.get("theory_stderr")
                    se = None if _missing(ts) else float(ts)
            return _fmt(float(row["mean"]), se)

        return f

    def conv(n: int) -> str:
        row = _lookup(summary, "risk", "empirical", "gd", n)
        return "–" if row is None else f"{float(row['converged_fraction']):.0%}"

    cols: list[tuple[str, str, Any]] = [
        ("n", "", str),
        ("risk", "theory", cell("risk", "theory", method, True)),
        ("bias", "theory", cell("bias", "theory", method)),
        ("variance", "theory", cell("variance", "theory", method)),
        ("naive", "bound", cell("risk", "bound", "naive")),
        ("benign", "bound", cell("risk", "bound", "benign")),
        ("head_tail", "bound", cell("risk", "bound", "head_tail")),
    ]
    if seeds:
        cols.append(("risk", "empirical", cell("risk", "empirical", "closed_form", True)))
        if gd:
            cols.append(("GD risk", "empirical", cell("risk", "empirical", "gd", True)))
            cols.append(("GD conv.", "empirical", conv))
    cols += [
        ("zero-shot", "theory", cell("zero_shot", "theory", "closed_form")),
        ("from scratch", "theory", cell("from_scratch", "theory", method)),
    ]
    body = [[f(n) for _, _, f in cols] for n in ns]
    widths = [
        max(len(h), len(g), *(len(r[i]) for r in body)) for i, (h, g, _) in enumerate(cols)
    ]
    pairs = list(zip(cols, widths, strict=True))
    out = [
        "  ".join(g.center(w) if g else " " * w for (_, g, _), w in pairs).rstrip(),
        "  ".join(h.rjust(w) for (h, _, _), w in pairs),
        "  ".join("-" * w for w in widths),
    ]
    out += ["  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) for r in body]
    return out


def run(args: argparse.Namespace) -> int:
    """Build the task, compute theory/bounds/training on the n grid, print the table."""
    from .._io import write_table
    from .simulate import empirical_sample_complexity, simulate_curve, summarize_curve
    from .theory import sample_complexity

    noise = parse_float(args.noise_variance, "--noise-variance")
    if args.method not in _METHODS:
        raise InvalidInputError(
            f"--method must be one of {', '.join(_METHODS)}, got {args.method!r}"
        )
    draws = parse_int(args.draws, "--draws")
    if draws < 2:
        raise InvalidInputError("--draws must be ≥ 2 (a standard error needs two draws)")
    seed = parse_int(args.seed, "--seed", allow_zero=True)
    seeds = parse_int(args.empirical_seeds, "--empirical-seeds", allow_zero=True)
    constants = _constants(args.bound_constant)
    eps = None if args.eps is None else parse_float(args.eps, "--eps")
    if args.output is not None and not str(args.output).lower().endswith((".csv", ".json")):
        raise InvalidInputError(f"--output must end in .csv or .json, got {args.output!r}")
    if args.output is not None:  # before the computation, not after it
        from pathlib import Path

        folder = Path(args.output).parent
        if not folder.is_dir():
            raise InvalidInputError(f"--output: folder does not exist: {folder}")
    ns_given = None if args.n is None else [parse_int(v, "--n") for v in args.n]

    task, label = task_from_args(args, noise, _examples())
    cov = task.covariance
    ns = sorted(set(ns_given)) if ns_given is not None else _default_ns(cov.rank)

    frame = simulate_curve(
        task, ns, seeds=seeds, rng=seed, method="both" if args.gd else "closed_form",
        theory_method=args.method, theory_draws=draws, theory_rng=seed + 1,
        bound_constants=constants,
    )
    summary = summarize_curve(frame)

    theory_name = {
        "deterministic": "deterministic equivalent (§2.3)",
        "isotropic": "exact isotropic formula (§2.3)",
        "monte_carlo": f"Monte Carlo over {draws} Gaussian designs (§2.2, ± s.e.)",
    }[args.method]
    print(
        f"linear fine-tuning, {label}: d = {cov.dim}, rank Σ = {cov.rank}, "
        f"λ_max = {cov.operator_norm:.4g}, r₀ = tr Σ/λ_max = {cov.effective_rank:.4g}, "
        f"‖θ_S‖ = {np.linalg.norm(task.source):.4g}, ‖Δ‖ = {np.linalg.norm(task.delta):.4g}, "
        f"ΔᵀΣΔ = {float(cov.quadratic_form(task.delta)):.4g}, σ² = {task.noise_variance:g}"
    )
    emp = (
        f"; empirical: fine-tuned on Gaussian samples, {seeds} seeds, mean ± s.e."
        + (" (closed-form limit and gradient descent)" if args.gd else " (closed-form GD limit)")
        if seeds else ""
    )
    print(f"theory: {theory_name}; bounds: §2.4 (constants {constants or 'all 1'}){emp}")
    print()
    for line in _table(summary, ns, seeds, args.gd, args.method):
        print(line)

    if eps is not None:
        print()
        sc_method: Literal["deterministic", "isotropic"] = (
            "isotropic" if args.method == "isotropic" else "deterministic"
        )
        sc = sample_complexity(task, eps, method=sc_method)
        if sc.reachable:
            print(f"n*(ε = {eps:g}) theory ({sc_method}): {sc.n} (risk {_fmt(sc.risk_at_n)})")
        else:
            print(f"n*(ε = {eps:g}) theory ({sc_method}): not reachable — {sc.reason}")
        if seeds:
            es = empirical_sample_complexity(frame, eps)
            if es.reachable:
                lo = f"in ({es.previous_n}, {es.n}]" if es.previous_n is not None else f"≤ {es.n}"
                print(
                    f"n*(ε = {eps:g}) empirical (first grid n): {es.n} — true n* {lo} "
                    f"(mean risk {_fmt(es.mean_risk, es.stderr)})"
                )
            else:
                print(f"n*(ε = {eps:g}) empirical: not reachable on the grid — {es.reason}")

    if args.output:
        out = summary.rename(columns={"mean": "value"})
        path = write_table(out, args.output)
        print(f"\nwrote {path}")
    return 0
