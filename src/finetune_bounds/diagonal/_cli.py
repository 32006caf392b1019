"""``finetune-bounds diagonal``: fine-tuning diagonal linear networks (spec
``diagonal-networks.md``).

Three modes:

- ``finetune-bounds diagonal [--alpha …] [scales] [task]`` — the learning curve: a thin adapter
  over the ``diagonal`` family (the options become family parameters; ``--alpha`` and
  ``--lambda-pt`` are its inner axes ``alpha`` and ``lambda_pt``). The cell runs through
  :func:`finetune_bounds.sweep.run` — the runner of sweeps and of the report, so ``--output`` holds
  the records of ``finetune_bounds.run("diagonal", …)`` with the same parameters — and the table
  (theory error per α; with ``--empirical-seeds`` the gradient-descent error, mean ± s.e.) is
  printed from the frame it returns, under a header line with the regime (ℓ, PD, label I–IV) of
  each λ_PT.
- ``finetune-bounds diagonal regime`` — ℓ, PD and the regime label of one or several settings
  (:func:`~finetune_bounds.diagonal.regime_measures`, milliseconds).
- ``finetune-bounds diagonal solve --x X --y Y --beta-pt B`` — the fine-tuning implicit bias on
  given data: c_FT from the pretrained β (:func:`~finetune_bounds.diagonal.c_finetune`) and the
  minimum-Σq interpolant (:func:`~finetune_bounds.diagonal.min_q_interpolant`, dual Newton).

Every option but ``--output --executor --workers`` defaults to "not given"
(``argparse.SUPPRESS``), so that the options of one mode given with another (``diagonal regime
--alpha 0.3``) are reported instead of ignored; the scales ``--c-pt --lambda-pt --gamma-ft`` may
stand before or after the mode. Every input problem raises
:class:`~finetune_bounds.errors.InvalidInputError` or :class:`~finetune_bounds.errors.ConfigError`
before anything runs (one line on stderr, exit 2).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from .._cli_common import Column, format_value, parse_float, parse_int
from ..errors import ConvergenceError, InvalidInputError

__all__ = ["curve_params", "load_problem", "register", "run", "run_regime", "run_solve"]

#: α grid of the curve when --alpha is not given
_DEFAULT_ALPHAS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 0.9)
_MODES = ("regime", "solve")
_REGIME_MEANING = {
    "I": "rich, PT-independent",
    "II": "lazy, PT-dependent",
    "III": "lazy, PT-independent",
    "IV": "rich, PT-dependent",
}
#: family parameter → option, for the scalar options of the curve
_CURVE_SCALARS: dict[str, str] = {
    "omega": "--omega",
    "gamma_ft": "--gamma-ft",
    "c_pt": "--c-pt",
    "rho_pt": "--rho-pt",
    "rho_ft": "--rho-ft",
    "a_pt": "--a-pt",
    "noise_variance": "--noise-variance",
    "gd_lr": "--gd-lr",
    "gd_tol": "--gd-tol",
}
#: option dests each mode accepts (the others, when given, are an error)
_SCALES = {"c_pt", "lambda_pt", "gamma_ft"}
_CURVE_DESTS = {
    *_CURVE_SCALARS, "alpha", "lambda_pt", "start", "empirical_seeds", "d", "empirical",
    "gd_max_steps", "output", "executor", "workers",
}
_REGIME_DESTS = {*_SCALES, "beta_pt_size", "beta_ft_size"}
_SOLVE_DESTS = {*_SCALES, "x", "y", "beta_pt_file", "tol", "max_iter", "beta_output"}
_NOT_OPTIONS = {"command", "func", "mode"}

_EPILOG = """\
examples:
  finetune-bounds diagonal --alpha 0.05 0.1 0.3 --omega 0.5 --lambda-pt -0.99 --gamma-ft 0 \\
      --c-pt 1e-3
  finetune-bounds diagonal --alpha 0.1 0.3 --empirical-seeds 3 --d 200 --output curve.csv
  finetune-bounds diagonal regime --c-pt 1e-3 --lambda-pt -0.99 0 --gamma-ft 0
  finetune-bounds diagonal solve --x X.npy --y y.npy --beta-pt b.npy --c-pt 1e-3 \\
      --lambda-pt 0 --gamma-ft 0 --output beta.npy

See 'finetune-bounds diagonal regime --help' and 'finetune-bounds diagonal solve --help'.
"""


def register(subparsers: Any) -> None:
    """Add the ``diagonal`` subcommand (and its modes ``regime`` and ``solve``)."""
    from .._cli_common import add_run_arguments

    sup = argparse.SUPPRESS
    p = subparsers.add_parser(
        "diagonal",
        help="diagonal linear networks: exact error, regimes I–IV, implicit-bias solutions",
        description=_wrap(
            "Fine-tuning a two-layer diagonal linear network pretrained from a balanced "
            "initialisation of absolute scale c_PT and relative layer scale λ_PT ∈ [−1, 1] "
            "(λ_PT < 0: smaller early layer), readout re-initialised at γ_FT (spec "
            "diagonal-networks). Without a mode: the exact high-dimensional error (replica fixed "
            "point, spec §3) at each α = n/d, for a task with ω, ρ_PT, ρ_FT, a_PT, σ², and the "
            "regime (ℓ, PD, label I–IV) of the setting; with --empirical-seeds N also the error "
            "of gradient descent on d-dimensional data (mean ± standard error over seeds). Runs "
            "the 'diagonal' family through the sweep's runner: 'finetune-bounds run diagonal' "
            "and the report give the same numbers for the same parameters."
        ),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--alpha", nargs="+", metavar="A", default=sup,
                   help="α = n/d values, each > 0 (default: 0.05 0.1 0.2 0.3 0.4 0.5 0.7 0.9; "
                        "the axis alpha)")
    _add_scales(p, several_lambdas=True)
    p.add_argument("--omega", metavar="W", default=sup,
                   help="ω: fraction of the fine-tuning support shared with pretraining (0.5)")
    p.add_argument("--rho-pt", metavar="R", default=sup, help="ρ_PT: pretraining sparsity (0.1)")
    p.add_argument("--rho-ft", metavar="R", default=sup, help="ρ_FT: fine-tuning sparsity (0.1)")
    p.add_argument("--a-pt", metavar="A", default=sup,
                   help="|β_PT| on the pretraining support (1)")
    p.add_argument("--noise-variance", metavar="S2", default=sup, help="label noise σ² (0)")
    p.add_argument("--start", choices=("pretrained", "scratch"), default=sup,
                   help="fine-tune from the pretrained network (default) or train from the "
                        "pretraining initialisation on the target only (scratch baseline)")
    p.add_argument("--empirical-seeds", "--seeds", dest="empirical_seeds", metavar="K",
                   default=sup, help="training runs per α (0 = theory only, the default)")
    p.add_argument("--d", metavar="D", default=sup, help="dimension of the empirical runs (500)")
    p.add_argument("--empirical", choices=("gd", "exact", "both"), default=sup,
                   help="empirical route: gradient descent (default), the exact min-q "
                        "interpolant, or both (with their gap)")
    p.add_argument("--gd-lr", metavar="LR", default=sup, help="GD step size, in (0, 2) (1)")
    p.add_argument("--gd-tol", metavar="TOL", default=sup,
                   help="GD stops at this fraction of the initial training loss (1e-10)")
    p.add_argument("--gd-max-steps", metavar="N", default=sup, help="GD step budget (200000)")
    add_run_arguments(p)
    p.set_defaults(func=run)

    modes = p.add_subparsers(dest="mode", metavar="[regime | solve]",
                             title="modes (default, without a mode: the α curve)")
    r = modes.add_parser(
        "regime",
        help="ℓ, PD and the regime label I–IV of one or several settings",
        description=_wrap(
            "The ℓ-order of the fine-tuning penalty, its pretraining dependence PD and the regime "
            "label (spec §4: I rich & PT-independent, II lazy & PT-dependent, III lazy & "
            "PT-independent, IV rich & PT-dependent; lazy ⇔ ℓ ≥ 1.5, PT-dependent ⇔ PD ≤ −0.1) "
            "at representative magnitudes |β_PT|, |β_FT| (default 1, the RMS size of a teacher "
            "coefficient). One row per combination of the given values."
        ),
        epilog=(
            "example:\n  finetune-bounds diagonal regime --c-pt 1e-3 --lambda-pt -0.99 0 "
            "--gamma-ft 0\n"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_scales(r, several_lambdas=True, several=True)
    r.add_argument("--beta-pt", dest="beta_pt_size", metavar="B", default=sup,
                   help="representative |β_PT| (1)")
    r.add_argument("--beta-ft", dest="beta_ft_size", metavar="B", default=sup,
                   help="representative |β_FT| (1)")
    r.set_defaults(func=run_regime)

    s = modes.add_parser(
        "solve",
        help="the implicit-bias solution (minimum-Σq interpolant) for given data",
        description=_wrap(
            "The interpolant gradient descent converges to when fine-tuning from the pretrained "
            "weights β_PT (spec §2): c_FT,i = c_PT(1 + λ_PT)(1 + √(1 + (β_PT,i/c_PT)²)) + "
            "γ_FT²/2, then argmin Σ_i q(β_i; c_FT,i) subject to Xβ = y by Newton's method on the "
            "dual. Prints the solver's residual ‖Xβ − y‖/‖y‖ and iterations, norms of β and a "
            "summary of the per-coordinate ℓ-order and PD; --output writes β. Files: .npy or "
            ".csv (a text table may start with one header row)."
        ),
        epilog=(
            "example:\n  finetune-bounds diagonal solve --x X.npy --y y.npy --beta-pt b.npy "
            "--c-pt 1e-3 \\\n      --lambda-pt 0 --gamma-ft 0 --output beta.npy\n"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument("--x", metavar="FILE", default=sup, help="design X (n × d)")
    s.add_argument("--y", metavar="FILE", default=sup, help="labels y (vector of length n)")
    s.add_argument("--beta-pt", dest="beta_pt_file", metavar="FILE", default=sup,
                   help="pretrained weights β_PT (vector of length d)")
    _add_scales(s, several_lambdas=False)
    s.add_argument("--tol", metavar="TOL", default=sup,
                   help="tolerance on the residual ‖Xβ − y‖/‖y‖ (1e-10)")
    s.add_argument("--max-iter", metavar="N", default=sup, help="Newton-step budget (100)")
    s.add_argument("--output", dest="beta_output", metavar="FILE", default=sup,
                   help="write β (.npy, .csv: one value a line, .json: β with the diagnostics)")
    s.set_defaults(func=run_solve)


def _wrap(text: str) -> str:
    """A description for the raw formatter (which keeps the examples' line breaks)."""
    import textwrap

    return textwrap.fill(text, width=79, break_on_hyphens=False)


def _add_scales(
    p: argparse.ArgumentParser, *, several_lambdas: bool, several: bool = False
) -> None:
    sup = argparse.SUPPRESS
    multi = "+" if several else None
    p.add_argument("--c-pt", metavar="C", default=sup, nargs=multi,
                   help="absolute pretraining scale c_PT > 0 (1e-3)")
    p.add_argument("--lambda-pt", metavar="L", default=sup, nargs="+" if several_lambdas else None,
                   help="relative layer scale λ_PT in [−1, 1] (0; write −1e-3 as -0.001)"
                        + ("; several values: one row each (the axis lambda_pt)"
                           if several_lambdas else ""))
    p.add_argument("--gamma-ft", metavar="G", default=sup, nargs=multi,
                   help="readout re-initialisation scale γ_FT ≥ 0 (0)")


# ---------------------------------------------------------------------------------------------
# options
# ---------------------------------------------------------------------------------------------
def _number(text: Any, flag: str, lo: float | None = None, hi: float | None = None) -> float:
    """A finite number in [lo, hi] (either end optional)."""
    try:
        v = float(str(text).strip())
    except ValueError:
        raise InvalidInputError(f"{flag} must be a number, got {text!r}") from None
    if not math.isfinite(v):
        raise InvalidInputError(f"{flag} must be finite, got {text!r}")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        rng = (f"in [{lo:g}, {hi:g}]" if lo is not None and hi is not None
               else f"≥ {lo:g}" if lo is not None else f"≤ {hi:g}")
        raise InvalidInputError(f"{flag} must be {rng}, got {v:g}")
    return v


#: the options of add_run_arguments keep their defaults (not SUPPRESS): given = changed
_RUN_DEFAULTS: dict[str, Any] = {"output": None, "executor": "serial", "workers": None}


def _given(args: argparse.Namespace) -> set[str]:
    return {k for k, v in vars(args).items()
            if k not in _NOT_OPTIONS and not (k in _RUN_DEFAULTS and v == _RUN_DEFAULTS[k])}


def _check_mode(args: argparse.Namespace, allowed: set[str], mode: str) -> None:
    """Options that belong to another mode are an error (not silently ignored); a mode name
    swallowed by a many-valued option (``--alpha 0.1 regime``) says to put the mode first."""
    for key, value in vars(args).items():
        for v in value if isinstance(value, list) else []:
            if str(v).strip() in _MODES:
                flag = "--" + key.replace("_", "-")
                raise InvalidInputError(
                    f"{flag} must be a number, got {v!r}: put the mode first "
                    f"('finetune-bounds diagonal {str(v).strip()} …')"
                )
    extra = sorted(_given(args) - allowed)
    if extra:
        flags = ", ".join("--" + k.replace("_", "-") for k in extra)
        where = f"'diagonal {mode}'" if mode else "the α curve ('diagonal' without a mode)"
        verb = "does" if len(extra) == 1 else "do"
        raise InvalidInputError(f"{flags} {verb} not go with {where} (see --help)")


def _one(values: Any, flag: str) -> Any:
    """The single value of an option that may have been given several (``nargs='+'``)."""
    if isinstance(values, list):
        if len(values) != 1:
            raise InvalidInputError(f"{flag} takes one value here, got {len(values)}")
        return values[0]
    return values


def _lambda(text: Any, flag: str = "--lambda-pt") -> float:
    return _number(text, flag, -1.0, 1.0)


def _positive(text: Any, flag: str) -> float:
    return parse_float(text, flag, positive=True)


def _f3(v: Any) -> str:
    """Three decimals, without a "-0.000" for a tiny negative value."""
    text = f"{float(v):.3f}"
    return "0.000" if text == "-0.000" else text


def _regime_text(m: Any) -> str:
    return (f"ℓ = {_f3(m.ell)}, PD = {_f3(m.pd)}, {m.regime} "
            f"({_REGIME_MEANING[str(m.regime)]})")


# ---------------------------------------------------------------------------------------------
# mode 1: the α curve through the runner
# ---------------------------------------------------------------------------------------------
def curve_params(args: argparse.Namespace) -> tuple[dict[str, Any], list[float], list[float], int]:
    """(family parameters, α values, λ_PT values, seeds) of the options; only the options
    given become parameters (the family's defaults fill the rest)."""
    g = vars(args)
    params: dict[str, Any] = {}
    checks = {
        "omega": lambda v, f: _number(v, f, 0.0, 1.0),
        "gamma_ft": lambda v, f: parse_float(v, f),
        "c_pt": _positive,
        "rho_pt": lambda v, f: _number(v, f, 0.0, 1.0),
        "rho_ft": lambda v, f: _number(v, f, 0.0, 1.0),
        "a_pt": lambda v, f: parse_float(v, f),
        "noise_variance": lambda v, f: parse_float(v, f),
        "gd_lr": _positive,
        "gd_tol": _positive,
    }
    for key, flag in _CURVE_SCALARS.items():
        if key in g:
            params[key] = checks[key](_one(g[key], flag), flag)
    for key in ("rho_pt", "rho_ft"):
        if key in params and params[key] == 0:
            raise InvalidInputError(f"{_CURVE_SCALARS[key]} must be > 0, got 0")
    if "gd_lr" in params and params["gd_lr"] >= 2:
        raise InvalidInputError(f"--gd-lr must be in (0, 2), got {params['gd_lr']:g}")
    if "gd_tol" in params and params["gd_tol"] >= 1:
        raise InvalidInputError(f"--gd-tol must be in (0, 1), got {params['gd_tol']:g}")
    for key in ("start", "empirical"):
        if key in g:
            params[key] = g[key]
    if "d" in g:
        params["d"] = parse_int(g["d"], "--d")
    if "gd_max_steps" in g:
        params["gd_max_steps"] = parse_int(g["gd_max_steps"], "--gd-max-steps")
    alphas = sorted({_positive(v, "--alpha") for v in g.get("alpha", _DEFAULT_ALPHAS)})
    lams = sorted({_lambda(v) for v in g.get("lambda_pt", [0.0])})
    seeds = parse_int(g.get("empirical_seeds", 0), "--empirical-seeds", allow_zero=True)
    return params, alphas, lams, seeds


def _columns(start: str) -> list[Column]:
    return [
        Column("error", "theory", "error", "theory", "replica", errors=False, start=start),
        Column("GD error", "empirical", "error", "empirical", "gd", start=start),
        Column("GD conv.", "empirical", "converged", "empirical", "gd", percent=True,
               start=start),
        Column("GD steps", "empirical", "iterations", "empirical", "gd", errors=False, start=start),
        Column("min-q error", "empirical", "error", "empirical", "exact", start=start),
        Column("GD vs min-q", "empirical", "gd_vs_exact", "empirical", "gd",
               start=start),
    ]


def run(args: argparse.Namespace) -> int:
    """Mode 1: options → family parameters → one cell through the runner → the table."""
    import sys

    from .._cli_common import check_output, finish, render_table, run_family, summary_of
    from ..families import get_family
    from ._bias import regime_measures

    _check_mode(args, _CURVE_DESTS, "")
    params, alphas, lams, seeds = curve_params(args)
    output = check_output(args.output)
    # checked (constraints, feasibility of the task, λ_PT = −1 with γ_FT = 0) before anything runs
    full = get_family("diagonal").resolve({**params, "alpha": alphas, "lambda_pt": lams},
                                          axes=("alpha", "lambda_pt"))
    start = str(full["start"])
    print(
        f"diagonal network, task ω = {full['omega']:g}, ρ_PT = {full['rho_pt']:g}, "
        f"ρ_FT = {full['rho_ft']:g}, a_PT = {full['a_pt']:g}, σ² = {full['noise_variance']:g}; "
        f"scales c_PT = {full['c_pt']:g}, γ_FT = {full['gamma_ft']:g}; start {start}"
    )
    if start == "scratch":
        m = regime_measures(float(full["c_pt"]), -0.5, 0.0, beta_pt=0.0)
        print(f"regime (|β_FT| = 1; from scratch c = c_PT, λ_PT irrelevant): {_regime_text(m)}")
    else:
        for lam in lams:
            m = regime_measures(float(full["c_pt"]), lam, float(full["gamma_ft"]))
            print(f"regime (|β_PT| = |β_FT| = 1) at λ_PT = {lam:g}: {_regime_text(m)}")
    route = {"gd": "gradient descent",
             "exact": "the exact min-q interpolant (implicit bias, §2)",
             "both": "gradient descent and the exact min-q interpolant (GD vs min-q = "
                     "‖β_GD − β_min-q‖/‖β_min-q‖)"}[str(full["empirical"])]
    emp = (f"; empirical: {route} on d = {full['d']}, {seeds} seeds, mean ± s.e."
           if seeds else "")
    print(f"theory: exact high-dimensional error (1/d)‖β̂ − β*‖² (replica fixed point, §3){emp}")
    print()
    # one λ_PT is a parameter, several are the inner axis (the natural runner call either way)
    axes: dict[str, list[float]] = {"alpha": alphas}
    if len(lams) > 1:
        axes["lambda_pt"] = lams
    elif "lambda_pt" in vars(args):
        params["lambda_pt"] = lams[0]
    result = run_family("diagonal", args, params=params, axes=axes, seeds=seeds)
    frame = result.frame
    if len(frame):
        index = ["lambda_pt", "alpha"] if len(lams) > 1 else ["alpha"]
        summary = summary_of(frame, index)
        print("\n".join(render_table(summary, index, _columns(start))))
        theory = frame[(frame["source"] == "theory") & (frame["quantity"] == "error")]
        flags = theory["converged"].dropna() if "converged" in theory.columns else []
        if len(flags) and not all(bool(v) for v in flags):
            print("warning: the replica fixed point did not converge at some α; those errors "
                  "are the last iterate's", file=sys.stderr)
        conv = summary[(summary["quantity"] == "converged") & (summary["mean"] < 1.0)]
        if len(conv):
            print(f"warning: gradient descent did not reach --gd-tol on some runs in {len(conv)} "
                  "row(s) (see GD conv.; raise --gd-max-steps)", file=sys.stderr)
    return finish(result, output)


# ---------------------------------------------------------------------------------------------
# mode 2: regimes
# ---------------------------------------------------------------------------------------------
def run_regime(args: argparse.Namespace) -> int:
    """Mode 2: ℓ, PD, s, c_FT and the label of every combination of the given values."""
    import itertools

    from .._cli_common import _lines
    from ._bias import ELL_LAZY, PD_DEPENDENT, regime_measures

    _check_mode(args, _REGIME_DESTS, "regime")
    g = vars(args)

    def values(key: str, flag: str, default: float, parse: Any) -> list[float]:
        raw = g.get(key, [default])
        return sorted({parse(v, flag) for v in (raw if isinstance(raw, list) else [raw])})

    cs = values("c_pt", "--c-pt", 1e-3, _positive)
    lams = values("lambda_pt", "--lambda-pt", 0.0, _lambda)
    gammas = values("gamma_ft", "--gamma-ft", 0.0, parse_float)
    bp = parse_float(_one(g.get("beta_pt_size", 1.0), "--beta-pt"), "--beta-pt")
    bf = parse_float(_one(g.get("beta_ft_size", 1.0), "--beta-ft"), "--beta-ft")
    rows = list(itertools.product(cs, lams, gammas))
    for c, lam, gam in rows:
        if lam == -1.0 and gam == 0.0:
            raise InvalidInputError(
                f"c_FT = 0 at --lambda-pt -1 with --gamma-ft 0 (c_PT = {c:g}): a saddle gradient "
                "descent never leaves; use e.g. --lambda-pt -0.999999 with --gamma-ft 1e-6"
            )
    print(f"regime measures at |β_PT| = {bp:g}, |β_FT| = {bf:g} "
          f"(lazy: ℓ ≥ {ELL_LAZY:g}; PT-dependent: PD ≤ {PD_DEPENDENT:g})")
    body = []
    for c, lam, gam in rows:
        m = regime_measures(c, lam, gam, beta_pt=bp, beta_ft=bf)
        body.append([f"{c:g}", f"{lam:g}", f"{gam:g}", format_value(float(m.c_ft)),
                     _f3(m.ell), _f3(m.pd), _f3(m.sensitivity),
                     str(m.regime), _REGIME_MEANING[str(m.regime)]])
    headers = ["c_PT", "λ_PT", "γ_FT", "c_FT", "ℓ", "PD", "s", "regime", "meaning"]
    print("\n".join(_lines(headers, ["" for _ in headers], body)))
    return 0


# ---------------------------------------------------------------------------------------------
# mode 3: the implicit-bias solution on given data
# ---------------------------------------------------------------------------------------------
_BETA_SUFFIXES = (".npy", ".csv", ".json")


def _beta_output(path: str | None) -> Path | None:
    if path is None:
        return None
    p = Path(path)
    if p.suffix.lower() not in _BETA_SUFFIXES:
        raise InvalidInputError(f"--output must end in .npy, .csv or .json, got {p.name!r}")
    if not p.parent.is_dir():
        raise InvalidInputError(f"--output: folder does not exist: {p.parent}")
    return p


def load_problem(x: str, y: str, beta_pt: str) -> tuple[Any, Any, Any]:
    """(X, y, β_PT) from .npy/.csv files, shapes checked (messages name the flags)."""
    from .._io import load_array

    xa = load_array(x, "--x")
    if xa.ndim == 1:  # one sample
        xa = xa.reshape(1, -1)
    if xa.ndim != 2:
        raise InvalidInputError(f"--x must be a matrix (n × d), got shape {xa.shape}")
    n, d = xa.shape
    ya = load_array(y, "--y")
    if (ya.ndim > 1 and 1 not in ya.shape) or ya.ndim > 2 or ya.size != n:
        raise InvalidInputError(
            f"--y must be a vector of length n = {n} (the rows of --x), got shape {ya.shape}"
        )
    bp = load_array(beta_pt, "--beta-pt")
    if (bp.ndim > 1 and 1 not in bp.shape) or bp.ndim > 2 or bp.size != d:
        raise InvalidInputError(
            f"--beta-pt must be a vector of length d = {d} (the columns of --x), got shape "
            f"{bp.shape}"
        )
    return xa, ya.reshape(-1), bp.reshape(-1)


def _write_beta(path: Path, beta: Any, sol: Any, c_ft: Any) -> Path:
    import numpy as np

    suffix = path.suffix.lower()
    if suffix == ".npy":
        np.save(path, np.asarray(beta))
    elif suffix == ".csv":
        np.savetxt(path, np.asarray(beta), fmt="%.17g")
    else:
        info = sol.info
        doc = {
            "beta": [float(v) for v in beta],
            "c_ft": [float(v) for v in c_ft],
            "objective": sol.objective,
            "status": info.status.value,
            "iterations": int(info.iterations),
            "residual": float(info.residual),
            "tolerance": float(info.tolerance),
            "method": sol.method,
        }
        path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    return path


def run_solve(args: argparse.Namespace) -> int:
    """Mode 3: files → c_FT → the minimum-Σq interpolant → a summary (and β on --output)."""
    import numpy as np

    from ._bias import min_q_interpolant
    from ._penalty import c_finetune

    _check_mode(args, _SOLVE_DESTS, "solve")
    g = vars(args)
    missing = [f for k, f in (("x", "--x"), ("y", "--y"), ("beta_pt_file", "--beta-pt"))
               if k not in g]
    if missing:
        raise InvalidInputError(f"missing input: {' and '.join(missing)} FILE")
    c_pt = _positive(_one(g.get("c_pt", 1e-3), "--c-pt"), "--c-pt")
    lam = _lambda(_one(g.get("lambda_pt", 0.0), "--lambda-pt"))
    gam = parse_float(_one(g.get("gamma_ft", 0.0), "--gamma-ft"), "--gamma-ft")
    tol = _positive(g.get("tol", 1e-10), "--tol")
    max_iter = parse_int(g.get("max_iter", 100), "--max-iter")
    output = _beta_output(g.get("beta_output"))
    x, y, beta_pt = load_problem(g["x"], g["y"], g["beta_pt_file"])
    n, d = x.shape
    c_ft = c_finetune(beta_pt, c_pt, lam, gam)
    if not np.all(c_ft > 0):
        raise InvalidInputError(
            "c_FT = 0 (--lambda-pt -1 with --gamma-ft 0) is a saddle gradient descent never "
            "leaves: use e.g. --lambda-pt -0.999999 with --gamma-ft 1e-6"
        )
    print(f"data: X {n}×{d} ({g['x']}), y ({g['y']}), β_PT ({g['beta_pt_file']}, "
          f"‖β_PT‖ = {np.linalg.norm(beta_pt):.4g}); c_PT = {c_pt:g}, λ_PT = {lam:g}, "
          f"γ_FT = {gam:g}")
    print(f"c_FT = c_PT(1 + λ_PT)(1 + √(1 + (β_PT/c_PT)²)) + γ_FT²/2: median "
          f"{np.median(c_ft):.4g}, range [{c_ft.min():.4g}, {c_ft.max():.4g}]")
    sol = min_q_interpolant(x, y, c_ft, method="dual", tol=tol, max_iter=max_iter,
                            strict=False)
    info = sol.info
    beta = np.asarray(sol.beta)
    print(f"minimum-Σq interpolant (dual Newton): {info.status.value}, {info.iterations} "
          f"iteration(s), residual ‖Xβ − y‖/‖y‖ = {info.residual:.3g} (tolerance {tol:g}), "
          f"Σq = {format_value(sol.objective)}")
    print(f"‖β‖₂ = {np.linalg.norm(beta):.4g}, ‖β‖₁ = {np.abs(beta).sum():.4g}, "
          f"‖β − β_PT‖₂ = {np.linalg.norm(beta - beta_pt):.4g}")
    if np.all(np.isfinite(beta)):
        _print_ell(beta, beta_pt, c_ft, (c_pt, lam, gam))
    if output is not None:
        print(f"wrote {_write_beta(output, beta, sol, c_ft)}")
    if not sol.converged:
        raise ConvergenceError(
            f"the minimum-Σq interpolant did not converge: {info.status.value} after "
            f"{info.iterations} iteration(s) (residual {info.residual:.3g}, tolerance {tol:g}); "
            "raise --max-iter or --tol"
        )
    return 0


def _print_ell(beta: Any, beta_pt: Any, c_ft: Any, scales: tuple[float, float, float]) -> None:
    """ℓ(β_i/c_FT,i) and PD per coordinate, summarised (|β|²-weighted means give a label)."""
    import numpy as np

    from ._bias import ELL_LAZY as ell_lazy
    from ._bias import classify_regime, ell_order, pretraining_dependence

    c_pt, lam, gam = scales

    ell = np.asarray(ell_order(beta, c_ft), dtype=float)
    pd = np.asarray(pretraining_dependence(beta_pt, c_pt, lam, gam, beta_ft=beta), dtype=float)
    w = beta**2
    if w.sum() > 0:
        ell_w, pd_w = float(np.sum(w * ell) / w.sum()), float(np.sum(w * pd) / w.sum())
        label = str(classify_regime(ell_w, pd_w))
        weighted = (f"; |β|²-weighted means ℓ = {_f3(ell_w)}, PD = {_f3(pd_w)} → regime {label} "
                    f"({_REGIME_MEANING[label]})")
    else:
        weighted = ""
    lazy = int(np.sum(ell >= ell_lazy))
    print(f"ℓ(β_i/c_FT,i): median {_f3(np.median(ell))}, range [{_f3(ell.min())}, "
          f"{_f3(ell.max())}], lazy (ℓ ≥ {ell_lazy:g}) on {lazy} of {len(ell)} coordinates; "
          f"PD: median {_f3(np.median(pd))}{weighted}")


