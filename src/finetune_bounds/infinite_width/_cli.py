"""``finetune-bounds transfer``: transfer in infinite-width feature-learning networks (spec
``infinite-width-transfer.md``).

Three modes:

- ``finetune-bounds transfer curve --eigenvalues EIG --target-power V2 --n …`` — the kernel
  learning curve E_g(n) of spec §4 (:func:`~finetune_bounds.infinite_width.learning_curve`) for a
  spectrum read from ``.npy``/``.csv`` files: a table n | E_g | κ | γ̃ | 1 − γ̃.
- ``finetune-bounds transfer toy --alpha-s … --nu2 …`` — the linear toy model of transfer in the
  proportional limit (:func:`~finetune_bounds.infinite_width.toy_transfer`): E_FT, the lazy and
  rich scratch errors, the gain against the chosen baseline and its sign over the (α_s, ν₂) grid;
  with ``--phase`` a compact sign map from :func:`~finetune_bounds.infinite_width.phase_diagram`.
- ``finetune-bounds transfer run --example linear|hermite|digits`` — the protocols of spec §3
  (scratch lazy / rich, FT, JR-E, JR-I) on a generated task pair, on the particle solver
  (:func:`~finetune_bounds.infinite_width.transfer_dmft`), on finite-width networks trained by
  gradient descent (:func:`~finetune_bounds.infinite_width.transfer_network`) or both: one table of
  test errors (mean ± standard error over seeds) and transfer gains, and the stage statuses.

Every option defaults to "not given" (``argparse.SUPPRESS``; the defaults live in this module and
are stated in the help), so that an option that does not apply (``--lam-hat`` with the S-B
source, ``--degree`` without the Hermite task) is reported instead of ignored. Every input
problem raises :class:`~finetune_bounds.errors.InvalidInputError` before anything runs (one line
on stderr, exit status 2). ``--output`` writes tidy records (``.csv``, ``.json`` with NaN and
missing values as null, or ``.parquet``) with
:func:`finetune_bounds.sweep.store.write_records`.
"""

from __future__ import annotations

import argparse
import math
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._cli_common import _lines, format_value, parse_float, parse_int
from .._io import MAX_ABS
from ..errors import InvalidInputError

__all__ = ["register", "run_curve", "run_toy", "run_transfer"]

_MODES = ("curve", "toy", "run")
_EXAMPLES = ("linear", "hermite", "digits")
_SOLVERS = ("particle", "network", "both")
#: readable names of the protocols (spec §3), in canonical order
_PROTOCOL_NAMES: dict[str, str] = {
    "scratch_lazy": "scratch (lazy)",
    "scratch_rich": "scratch (rich)",
    "ft": "FT",
    "jr_e": "JR-E",
    "jr_i": "JR-I",
}
#: defaults of the ``toy`` options (SUPPRESS on the parser: "given" is "in the namespace")
_TOY_DEFAULTS: dict[str, Any] = {
    "nu1": 2.0, "source": "S-B", "s_hat": 10.0, "lam_hat": 0.5, "ridge_source": 1.0,
    "ridge_target": 0.1, "noise_source": 0.0, "noise_target": 0.0, "baseline": "lazy",
}
#: defaults of the ``run`` options
_RUN_DEFAULTS: dict[str, Any] = {
    "dim": 20, "p_source": 40, "p_target": 20, "n_test": 200, "alpha_s": 0.8, "degree": 2,
    "solver": "particle", "width": 2000, "seeds": 2, "gamma_source": 1.0, "gamma_target": 1.0,
    "ridge_source": 0.1, "ridge_hidden": 0.1, "ridge_target": 0.1, "stiffness": 1.0,
    "anchor": "init", "readout": "reset", "time_jr_i": 10.0, "activation": "relu",
    "tol": 1e-6, "max_time": 500.0, "rng": 0,
}
#: |gain| at or below this is "0" (no transfer), as in phase_diagram
_SIGN_TOL = 1e-12

_EPILOG = """\
examples:
  finetune-bounds transfer curve --eigenvalues eig.npy --target-power v2.npy --n 10 100 1000
  finetune-bounds transfer toy --alpha-s 0 0.5 1 --nu2 0.25 0.5 1 2 --nu1 2 --s-hat 10
  finetune-bounds transfer toy --alpha-s 0 0.5 1 --nu2 0.25 1 4 --source S-A --lam-hat 0.5 \\
      --phase
  finetune-bounds transfer run --example linear --solver both --width 1000 --seeds 2 \\
      --output transfer.json

See 'finetune-bounds transfer MODE --help'.
"""


def _wrap(text: str) -> str:
    """A description for the raw formatter (which keeps the examples' line breaks)."""
    return textwrap.fill(text, width=79, break_on_hyphens=False)


def register(subparsers: Any) -> None:
    """Add the ``transfer`` subcommand and its modes ``curve``, ``toy`` and ``run``.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The dispatcher's subcommand parsers.
    """
    sup = argparse.SUPPRESS
    raw = argparse.RawDescriptionHelpFormatter
    p = subparsers.add_parser(
        "transfer",
        help="infinite-width transfer: learning curves, the linear toy model, protocols",
        description=_wrap(
            "Transfer learning in infinite-width feature-learning networks (spec "
            "infinite-width-transfer): 'curve' gives the kernel learning curve E_g(n) of a "
            "spectrum (§4), 'toy' the fine-tuning and scratch errors of the linear toy model "
            "in the proportional limit and the sign of the transfer gain (§4), 'run' the "
            "protocols scratch, FT, JR-E and JR-I (§3) on a task pair, on the particle solver "
            "(infinite width) and/or finite-width networks trained by gradient descent. "
            "Errors are test MSE against the noise-free target; the transfer gain is "
            "G = E_scratch − E_transfer (> 0: positive transfer)."
        ),
        epilog=_EPILOG,
        formatter_class=raw,
    )
    p.set_defaults(func=_no_mode)
    modes = p.add_subparsers(dest="mode", metavar="{curve,toy,run}", title="modes")

    # -- curve ----------------------------------------------------------------------------------
    c = modes.add_parser(
        "curve",
        help="kernel learning curve E_g(n) from eigenvalues and target powers",
        description=_wrap(
            "Generalisation error of kernel ridge regression vs the number of samples n "
            "(Bordelon–Canatar–Pehlevan, spec §4): κ = λ + κ Σ η/(nη + κ), γ̃ = Σ nη²/(nη + κ)², "
            "E_g = Σ κ²v²/((1 − γ̃)(nη + κ)²) + σ²γ̃/(1 − γ̃). η: kernel eigenvalues under the "
            "input density; v²: squared target coefficients, aligned with η (Σ v² is the error "
            "of the zero predictor); λ: ridge of (K + λI)⁻¹ with the unnormalised Gram matrix. "
            "E_g is measured against the noise-free target (add σ² for noisy test labels). "
            "Files: .npy or .csv (a text table may start with one header row)."
        ),
        epilog=(
            "example:\n  finetune-bounds transfer curve --eigenvalues eig.npy --target-power "
            "v2.npy \\\n      --n 10 100 1000 --ridge 1e-3 --output curve.csv\n"
        ),
        formatter_class=raw,
    )
    c.add_argument("--eigenvalues", metavar="FILE", default=sup,
                   help="kernel eigenvalues η ≥ 0 (vector, .npy/.csv)")
    c.add_argument("--target-power", metavar="FILE", default=sup,
                   help="target powers v² ≥ 0, aligned with --eigenvalues (vector, .npy/.csv)")
    c.add_argument("--n", nargs="+", metavar="N", default=sup,
                   help="sample sizes n ≥ 0 (default: 1 10 100 1000)")
    c.add_argument("--ridge", metavar="L", default=sup, help="ridge λ ≥ 0 (0)")
    c.add_argument("--noise-variance", metavar="S2", default=sup, help="label noise σ² ≥ 0 (0)")
    _add_output(c)
    c.set_defaults(func=run_curve)

    # -- toy ------------------------------------------------------------------------------------
    t = modes.add_parser(
        "toy",
        help="linear toy model: E_FT vs lazy / rich scratch over (α_s, ν₂)",
        description=_wrap(
            "The linear toy model of transfer (spec §4) in the proportional limit D → ∞: "
            "x ~ N(0, I_D), teachers with |β|² = D and alignment α_s = β₁·β₂/D, P₁ = ν₁D source "
            "and P₂ = ν₂D target samples. The source network (S-B: hidden layer anchored at its "
            "initialisation, control ŝ; S-A: decay to zero, control λ̂) gives a feature kernel "
            "with a spike c₁ along the learned direction; FT fits a fresh ridge readout (λ₂) on "
            "it. Baselines: lazy scratch (ridge regression, κ = λ₂) and rich scratch (the same "
            "network trained on the target alone). One row per (α_s, ν₂); with --phase a map "
            "of the sign of the gain against --baseline (+ positive, − negative, 0 none)."
        ),
        epilog=(
            "examples:\n  finetune-bounds transfer toy --alpha-s 0 0.5 1 --nu2 0.25 0.5 1 2 "
            "--nu1 2 --s-hat 10\n  finetune-bounds transfer toy --alpha-s 0 0.25 0.5 0.75 1 "
            "--nu2 0.25 1 4 --source S-A \\\n      --lam-hat 0.5 --baseline rich --phase\n"
        ),
        formatter_class=raw,
    )
    t.add_argument("--alpha-s", nargs="+", metavar="A", default=sup,
                   help="task alignments α_s in [−1, 1] (default: 0 0.5 1)")
    t.add_argument("--nu2", nargs="+", metavar="V", default=sup,
                   help="target samples per dimension ν₂ = P₂/D ≥ 0 (default: 0.25 0.5 1 2)")
    t.add_argument("--nu1", metavar="V", default=sup,
                   help="source samples per dimension ν₁ = P₁/D ≥ 0 (2)")
    t.add_argument("--source", choices=("S-B", "S-A"), default=sup,
                   help="source network: S-B (anchored at init, default) or S-A (decay to zero)")
    t.add_argument("--s-hat", metavar="S", default=sup,
                   help="S-B control ŝ = γ²D/(λδ) ≥ 0 (10)")
    t.add_argument("--lam-hat", metavar="L", default=sup,
                   help="S-A control λ̂ = √(λδ)/(γ√D) > 0 (0.5)")
    t.add_argument("--ridge-source", metavar="L", default=sup,
                   help="source readout decay λ₁ > 0 (1)")
    t.add_argument("--ridge-target", metavar="L", default=sup,
                   help="target readout ridge λ₂ > 0 (0.1)")
    t.add_argument("--noise-source", metavar="S2", default=sup, help="source label noise σ₁² (0)")
    t.add_argument("--noise-target", metavar="S2", default=sup, help="target label noise σ₂² (0)")
    t.add_argument("--baseline", choices=("lazy", "rich"), default=sup,
                   help="scratch baseline of the gain and its sign (lazy)")
    t.add_argument("--phase", action="store_true", default=sup,
                   help="print the sign map (rows α_s, columns ν₂) instead of the table")
    _add_output(t)
    t.set_defaults(func=run_toy)

    # -- run ------------------------------------------------------------------------------------
    r = modes.add_parser(
        "run",
        help="the transfer protocols on a task pair (particle solver and/or networks)",
        description=_wrap(
            "The protocols of spec §3 on a generated task pair: scratch_lazy (ridge readout on "
            "the initial random features), scratch_rich (whole network trained on the target), "
            "ft (source training, frozen hidden layer, fresh ridge readout), jr_e (all weights "
            "trained from the source weights, hidden layer anchored at them with --stiffness), "
            "jr_i (all weights trained from the source weights for --time-jr-i). Solvers: the "
            "particle representation of the infinite-width flow (M = --width particles) and/or "
            "finite-width networks (N = --width neurons) trained by gradient descent. Prints "
            "the test error (mean ± standard error over seeds) and the gain against the lazy "
            "and rich scratch baselines (> 0: positive transfer); --output writes the tidy "
            "records. Tasks: linear (y = β·x/√D), hermite (y = He_k(β·x/√D)/√k!), digits "
            "(scikit-learn digits 0 vs 1 → 7 vs 9, D = 64)."
        ),
        epilog=(
            "examples:\n  finetune-bounds transfer run --example linear --activation linear "
            "--seeds 2\n  finetune-bounds transfer run --example digits --activation linear "
            "--width 500 --seeds 2 \\\n      --output digits.json\n"
        ),
        formatter_class=raw,
    )
    r.add_argument("--example", choices=_EXAMPLES, default=sup, help="task pair (required)")
    r.add_argument("--dim", metavar="D", default=sup, help="input dimension D (20; not digits)")
    r.add_argument("--p-source", metavar="P", default=sup, help="source samples P₁ (40)")
    r.add_argument("--p-target", metavar="P", default=sup, help="target samples P₂ (20)")
    r.add_argument("--n-test", metavar="N", default=sup, help="target test inputs (200)")
    r.add_argument("--alpha-s", metavar="A", default=sup,
                   help="task alignment α_s in [−1, 1] (0.8; not digits)")
    r.add_argument("--degree", metavar="K", default=sup,
                   help="Hermite degree k, 1–10 (2; hermite only)")
    r.add_argument("--protocols", nargs="+", metavar="P", default=sup,
                   help=f"protocols to run (default: all: {' '.join(_PROTOCOL_NAMES)})")
    r.add_argument("--solver", choices=_SOLVERS, default=sup,
                   help="particle (infinite width, default), network (finite-width GD) or both")
    r.add_argument("--width", metavar="M", default=sup,
                   help="particles M (particle solver) / neurons N (network) (2000)")
    r.add_argument("--seeds", metavar="S", default=sup, help="seeds 0 … S−1 (2)")
    r.add_argument("--gamma-source", metavar="G", default=sup,
                   help="feature-learning strength γ₁ > 0 of the source stage (1)")
    r.add_argument("--gamma-target", metavar="G", default=sup,
                   help="feature-learning strength γ₂ > 0 of the target stages (1)")
    r.add_argument("--ridge-source", metavar="L", default=sup,
                   help="source readout decay λ₁ > 0 (0.1)")
    r.add_argument("--ridge-hidden", metavar="D", default=sup,
                   help="hidden decay δ ≥ 0 of the source stage and scratch_rich (0.1)")
    r.add_argument("--ridge-target", metavar="L", default=sup,
                   help="readout ridge λ₂ > 0 of every target stage (0.1)")
    r.add_argument("--stiffness", metavar="D", default=sup,
                   help="JR-E stiffness δ₂ ≥ 0 toward the source weights (1)")
    r.add_argument("--anchor", choices=("init", "zero"), default=sup,
                   help="hidden anchor of the source stage: init (S-B, default) or zero (S-A)")
    r.add_argument("--readout", choices=("reset", "kept"), default=sup,
                   help="readout start of jr_e / jr_i: reset to 0 (default) or kept")
    r.add_argument("--time-jr-i", metavar="T", default=sup,
                   help="training time T₂ > 0 of jr_i (10)")
    r.add_argument("--activation", choices=("relu", "linear"), default=sup,
                   help="activation φ (relu)")
    r.add_argument("--tol", metavar="TOL", default=sup,
                   help="relative-gradient tolerance of the converged stages (1e-6)")
    r.add_argument("--max-time", metavar="T", default=sup,
                   help="training-time budget of each converged stage (500)")
    r.add_argument("--rng", metavar="SEED", default=sup,
                   help="seed of the task generator (0)")
    _add_output(r)
    r.set_defaults(func=run_transfer)


def _add_output(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--output", metavar="FILE", default=None,
        help="also write the tidy records (.csv, .json with NaN as null, or .parquet)",
    )


def _no_mode(args: argparse.Namespace) -> int:
    """``finetune-bounds transfer`` without a mode."""
    raise InvalidInputError("choose a mode: curve, toy or run (see 'finetune-bounds transfer "
                            "--help')")


# ---------------------------------------------------------------------------------------------
# options
# ---------------------------------------------------------------------------------------------
def _number(
    text: Any, flag: str, lo: float | None = None, hi: float | None = None,
    *, positive: bool = False,
) -> float:
    """A finite number in [lo, hi] (either end optional; > lo with ``positive``)."""
    try:
        v = float(str(text).strip())
    except ValueError:
        raise InvalidInputError(f"{flag} must be a number, got {text!r}") from None
    if not math.isfinite(v):
        raise InvalidInputError(f"{flag} must be finite, got {text!r}")
    if positive and lo is not None and v <= lo:
        raise InvalidInputError(f"{flag} must be > {lo:g}, got {v:g}")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        rng = (f"in [{lo:g}, {hi:g}]" if lo is not None and hi is not None
               else f"≥ {lo:g}" if lo is not None else f"≤ {hi:g}")
        raise InvalidInputError(f"{flag} must be {rng}, got {v:g}")
    return v


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def _check_modes_swallowed(args: argparse.Namespace) -> None:
    """A many-valued option never swallows text that is not a number: the messages name it."""
    for key, value in vars(args).items():
        if isinstance(value, list):
            for v in value:
                if str(v).strip() in _MODES:
                    raise InvalidInputError(
                        f"{_flag(key)} must be a number, got {v!r}: put the mode first "
                        f"('finetune-bounds transfer {str(v).strip()} …')"
                    )


def _not_with(args: argparse.Namespace, dests: Sequence[str], where: str) -> None:
    """The given options among ``dests`` do not apply (``where`` says why)."""
    given = [d for d in dests if d in vars(args)]
    if given:
        flags = ", ".join(_flag(d) for d in given)
        verb = "does" if len(given) == 1 else "do"
        raise InvalidInputError(f"{flags} {verb} not apply {where}")


def _output(path: str | None) -> Path | None:
    from .._cli_common import check_output

    return check_output(path)


def _write(rows: list[dict[str, Any]], output: Path) -> None:
    from ..records import to_frame
    from ..sweep.store import write_output

    print(f"\nwrote {write_output(to_frame(rows), output)}")


def _text(v: float) -> str:
    """An axis value: an integer without decimals, else %g."""
    if math.isinf(v):
        return "inf"
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else f"{v:g}"


# ---------------------------------------------------------------------------------------------
# mode 1: kernel learning curve
# ---------------------------------------------------------------------------------------------
def _vector(path: str, flag: str) -> Any:
    from .._io import load_array

    a = load_array(path, flag)
    if a.ndim > 2 or (a.ndim == 2 and 1 not in a.shape):
        raise InvalidInputError(f"{flag} must be a vector, got shape {a.shape} from {path}")
    return a.reshape(-1)


def run_curve(args: argparse.Namespace) -> int:
    """Mode ``curve``: files → :func:`learning_curve` → the table (and records on --output).

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options of ``finetune-bounds transfer curve``.

    Returns
    -------
    int
        The exit status (0).

    Raises
    ------
    InvalidInputError
        A missing or bad file, mismatched lengths, a negative eigenvalue, target power, n,
        ridge or noise variance.
    """
    from ._learning_curve import learning_curve

    _check_modes_swallowed(args)
    g = vars(args)
    missing = [_flag(k) for k in ("eigenvalues", "target_power") if k not in g]
    if missing:
        raise InvalidInputError(f"missing input: {' and '.join(missing)} FILE")
    ns = [_number(v, "--n", 0.0) for v in g.get("n", [1, 10, 100, 1000])]
    ridge = parse_float(g.get("ridge", 0.0), "--ridge")
    s2 = parse_float(g.get("noise_variance", 0.0), "--noise-variance")
    output = _output(args.output)
    eta = _vector(g["eigenvalues"], "--eigenvalues")
    v2 = _vector(g["target_power"], "--target-power")
    if eta.size != v2.size:
        raise InvalidInputError(
            f"--target-power has {v2.size} values but --eigenvalues has {eta.size}: they must "
            "be aligned mode by mode"
        )
    for arr, flag in ((eta, "--eigenvalues"), (v2, "--target-power")):
        if np.any(arr < 0):
            raise InvalidInputError(f"{flag} must be ≥ 0, got minimum {arr.min():.3g}")
    lc = learning_curve(eta, v2, ns, ridge=ridge, noise_variance=s2)
    rank = int(lc.info.extra.get("rank", int(np.count_nonzero(eta > 0))))
    print(f"kernel learning curve (spec §4): {eta.size} modes, rank {rank}, "
          f"Σ η = {format_value(float(eta.sum()))}, Σ v² = {format_value(float(v2.sum()))} "
          f"(error of the zero predictor); ridge λ = {ridge:g}, σ² = {s2:g}")
    print("E_g against the noise-free target (add σ² for noisy test labels); "
          "γ̃ = Σ nη²/(nη + κ)²")
    print()
    omg = _one_minus_gamma(eta, lc, ridge)
    body = []
    for i, n in enumerate(ns):
        body.append([_text(n), format_value(float(lc.error[i])), format_value(float(lc.kappa[i])),
                     format_value(float(lc.gamma[i])), format_value(float(omg[i]))])
    headers = ["n", "E_g", "κ", "γ̃", "1 − γ̃"]
    print("\n".join(_lines(headers, ["" for _ in headers], body)))
    if not lc.converged:
        print(f"warning: the κ equation was not solved at {lc.info.extra.get('failed', '?')} "
              f"n value(s) ({lc.info.status.value}); those rows are the last iterate's",
              file=sys.stderr)
    if output is not None:
        rows = _curve_records(lc, omg, ridge, s2)
        _write(rows, output)
    return 0


def _one_minus_gamma(eta: Any, lc: Any, ridge: float) -> Any:
    """1 − γ̃ per n without cancellation near the interpolation peak: λ/κ + Σ ηκ/(nη + κ)² at
    the root (κ > 0), (n − r)/n in the ridgeless interpolation regime (κ = 0), 1 at n = 0."""
    ns = np.asarray(lc.n, dtype=np.float64).reshape(-1)
    kap = np.asarray(lc.kappa, dtype=np.float64).reshape(-1)
    r = int(np.count_nonzero(eta > 0))
    out = np.ones_like(ns)
    for i, (n, k) in enumerate(zip(ns, kap, strict=True)):
        if n == 0:
            continue
        if k > 0:
            out[i] = ridge / k + float(np.sum(eta * k / (n * eta + k) ** 2))
        else:
            out[i] = max(n - r, 0.0) / n
    return out


def _curve_records(lc: Any, omg: Any, ridge: float, s2: float) -> list[dict[str, Any]]:
    from ..records import record

    rows = []
    for i, n in enumerate(np.asarray(lc.n).reshape(-1)):
        for q, v in (("error", float(lc.error[i])), ("kappa", float(lc.kappa[i])),
                     ("gamma", float(lc.gamma[i])), ("one_minus_gamma", float(omg[i]))):
            rows.append(record(q, v, "theory", method="learning_curve", n=float(n),
                               ridge=ridge, noise_variance=s2,
                               converged=bool(lc.solved[i])))
    return rows


# ---------------------------------------------------------------------------------------------
# mode 2: the linear toy model
# ---------------------------------------------------------------------------------------------
def _toy_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of :func:`toy_transfer` (minus α_s, ν₂) from the options."""
    g = vars(args)
    d = {**_TOY_DEFAULTS, **{k: v for k, v in g.items() if k in _TOY_DEFAULTS}}
    src = str(d["source"])
    if src == "S-B":
        _not_with(args, ["lam_hat"], "to the S-B source (its control is --s-hat)")
        ctrl = {"s_hat": parse_float(d["s_hat"], "--s-hat")}
    else:
        _not_with(args, ["s_hat"], "to the S-A source (its control is --lam-hat)")
        ctrl = {"lam_hat": parse_float(d["lam_hat"], "--lam-hat", positive=True)}
    return {
        "nu1": parse_float(d["nu1"], "--nu1"),
        "source": src,
        **ctrl,
        "ridge_source": parse_float(d["ridge_source"], "--ridge-source", positive=True),
        "ridge_target": parse_float(d["ridge_target"], "--ridge-target", positive=True),
        "noise_source": parse_float(d["noise_source"], "--noise-source"),
        "noise_target": parse_float(d["noise_target"], "--noise-target"),
    }


def _sign(gain: float) -> str:
    if gain > _SIGN_TOL:
        return "+"
    if gain < -_SIGN_TOL:
        return "−"
    return "0"


def run_toy(args: argparse.Namespace) -> int:
    """Mode ``toy``: options → :func:`toy_transfer` over the (α_s, ν₂) grid → the table, or the
    sign map of :func:`phase_diagram` with ``--phase``.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options of ``finetune-bounds transfer toy``.

    Returns
    -------
    int
        The exit status (0).

    Raises
    ------
    InvalidInputError
        α_s outside [−1, 1], a negative ν or noise, a ridge ≤ 0, a control that does not
        belong to the chosen source.
    """
    from ._toy import phase_diagram, toy_transfer

    _check_modes_swallowed(args)
    g = vars(args)
    alphas = [_number(v, "--alpha-s", -1.0, 1.0) for v in g.get("alpha_s", [0.0, 0.5, 1.0])]
    nu2s = [_number(v, "--nu2", 0.0, MAX_ABS) for v in g.get("nu2", [0.25, 0.5, 1.0, 2.0])]
    kw = _toy_kwargs(args)
    baseline = str(g.get("baseline", _TOY_DEFAULTS["baseline"]))
    output = _output(args.output)
    a = np.asarray(alphas, dtype=np.float64)
    v = np.asarray(nu2s, dtype=np.float64)
    res = toy_transfer(a[:, None], nu2=v[None, :], **kw)
    shape = (a.size, v.size)
    e_ft = np.broadcast_to(res.e_ft, shape)
    e_lazy = np.broadcast_to(res.e_scratch_lazy, shape)
    e_rich = np.broadcast_to(res.e_scratch_rich, shape)
    src = kw["source"]
    ctrl = f"ŝ = {kw['s_hat']:g}" if src == "S-B" else f"λ̂ = {kw['lam_hat']:g}"
    print(f"linear toy model (spec §4), D → ∞: source {src} at ν₁ = {kw['nu1']:g}, {ctrl}, "
          f"λ₁ = {kw['ridge_source']:g}, σ₁² = {kw['noise_source']:g} → κ₁ = "
          f"{format_value(res.kappa1)}, spike c₁ = {format_value(res.c1)}, cosine ρ₁ = "
          f"{format_value(res.rho1)}")
    print(f"target: ridge λ₂ = {kw['ridge_target']:g}, σ₂² = {kw['noise_target']:g}; errors "
          "against the noise-free target; gain = E_scratch − E_FT (> 0: positive transfer)")
    print()
    if g.get("phase", False):
        pdg = phase_diagram(a, v, second="nu2", baseline=baseline, **kw)
        print(f"sign of the gain against the {baseline} scratch baseline "
              "(+ positive, − negative, 0 none); rows α_s, columns ν₂")
        headers = ["α_s \\ ν₂", *(_text(x) for x in nu2s)]
        body = [[_text(al), *({1: "+", -1: "−", 0: "0"}[int(s)] for s in row)]
                for al, row in zip(alphas, pdg.sign, strict=True)]
        print("\n".join(_lines(headers, ["" for _ in headers], body)))
        signs = np.asarray(pdg.sign)
        print(f"\n{int(np.sum(signs > 0))} positive, {int(np.sum(signs < 0))} negative, "
              f"{int(np.sum(signs == 0))} neutral of {signs.size} cells")
    else:
        gain = (e_lazy if baseline == "lazy" else e_rich) - e_ft
        body = []
        for i, al in enumerate(alphas):
            for j, nu in enumerate(nu2s):
                body.append([_text(al), _text(nu), format_value(float(e_ft[i, j])),
                             format_value(float(e_lazy[i, j])), format_value(float(e_rich[i, j])),
                             format_value(float(gain[i, j])), _sign(float(gain[i, j]))])
        headers = ["α_s", "ν₂", "E_FT", "E_scratch (lazy)", "E_scratch (rich)",
                   f"gain vs {baseline}", "transfer"]
        print("\n".join(_lines(headers, ["" for _ in headers], body)))
    if not res.converged:
        print(f"warning: a source or rich-scratch root search did not converge "
              f"({res.info.status.value}); those errors are the last iterate's", file=sys.stderr)
    if output is not None:
        rows = _toy_records(alphas, nu2s, e_ft, e_lazy, e_rich, kw)
        _write(rows, output)
    return 0


def _toy_records(
    alphas: list[float], nu2s: list[float], e_ft: Any, e_lazy: Any, e_rich: Any,
    kw: dict[str, Any],
) -> list[dict[str, Any]]:
    from ..records import record

    rows = []
    # the toy's "source" (S-B | S-A) would clash with the records' source (theory)
    tags = {("source_network" if k == "source" else k): v for k, v in kw.items()}
    for i, al in enumerate(alphas):
        for j, nu in enumerate(nu2s):
            ft, lz, rc = float(e_ft[i, j]), float(e_lazy[i, j]), float(e_rich[i, j])
            for q, val in (("error_ft", ft), ("error_scratch_lazy", lz),
                           ("error_scratch_rich", rc), ("gain_lazy", lz - ft),
                           ("gain_rich", rc - ft)):
                rows.append(record(q, val, "theory", method="toy_limit", alpha_s=al, nu2=nu,
                                   **tags))
    return rows


# ---------------------------------------------------------------------------------------------
# mode 3: the protocols on a task pair
# ---------------------------------------------------------------------------------------------
def _protocols(values: Sequence[str]) -> tuple[str, ...]:
    """Protocol names (``jr-e`` is ``jr_e``), checked, in canonical order, without repeats."""
    from ._transfer import PROTOCOLS

    out = []
    for v in values:
        name = str(v).strip().lower().replace("-", "_")
        if name not in PROTOCOLS:
            raise InvalidInputError(
                f"--protocols: unknown protocol {v!r}; choose from {', '.join(PROTOCOLS)}"
            )
        out.append(name)
    return tuple(p for p in PROTOCOLS if p in out)


def _task_and_setting(args: argparse.Namespace) -> tuple[Any, Any, str]:
    """(TransferTask, TransferSetting, one-line description of the task) of the options."""
    from ._tasks import make_task
    from ._transfer import TransferSetting

    g = vars(args)
    if "example" not in g:
        raise InvalidInputError(f"missing input: --example NAME ({', '.join(_EXAMPLES)})")
    ex = str(g["example"])
    d = {**_RUN_DEFAULTS, **{k: v for k, v in g.items() if k in _RUN_DEFAULTS}}
    if ex == "digits":
        _not_with(args, ["dim", "alpha_s", "degree"],
                  "to --example digits (D = 64; the tasks are digits 0 vs 1 → 7 vs 9)")
    elif ex == "linear":
        _not_with(args, ["degree"], "to --example linear (only to hermite)")
    sizes = {k: parse_int(d[k], _flag(k)) for k in ("p_source", "p_target", "n_test")}
    rng = parse_int(d["rng"], "--rng", allow_zero=True)
    kwargs: dict[str, Any] = {**sizes, "rng": rng}
    if ex != "digits":
        kwargs["dim"] = parse_int(d["dim"], "--dim")
        kwargs["alpha_s"] = _number(d["alpha_s"], "--alpha-s", -1.0, 1.0)
    if ex == "hermite":
        kwargs["degree"] = parse_int(d["degree"], "--degree")
        if kwargs["degree"] > 10:
            raise InvalidInputError(f"--degree must be ≤ 10, got {kwargs['degree']}")
    positive = ("gamma_source", "gamma_target", "ridge_source", "ridge_target", "time_jr_i")
    nonneg = ("ridge_hidden", "stiffness")
    setting = TransferSetting(
        **{k: parse_float(d[k], _flag(k), positive=True) for k in positive},
        **{k: parse_float(d[k], _flag(k)) for k in nonneg},
        anchor=str(d["anchor"]), readout=str(d["readout"]), activation=str(d["activation"]),
    )
    task = make_task(ex, **kwargs)
    what = (f"D = {kwargs['dim']}, α_s = {kwargs['alpha_s']:g}" if ex != "digits"
            else f"D = {task.dim}, digits {task.meta['source_classes']} → "
                 f"{task.meta['target_classes']}")
    if ex == "hermite":
        what += f", degree {kwargs['degree']}"
    label = (f"task {ex}: {what}, P₁ = {sizes['p_source']}, P₂ = {sizes['p_target']}, "
             f"{sizes['n_test']} test inputs (generator seed {rng})")
    return task, setting, label


def _mean_se(values: Any) -> tuple[float, float | None]:
    """Mean and standard error std(ddof=1)/√S over seeds (None for a single seed)."""
    a = np.asarray(values, dtype=np.float64)
    if a.size < 2:
        return float(a.mean()), None
    return float(a.mean()), float(a.std(ddof=1) / math.sqrt(a.size))


def _status_line(res: Any, setting: Any) -> str:
    """``source 2/2 converged; jr_e 1/2 converged, 1 stalled; jr_i ran to T₂ = 10 (2 runs)``."""
    parts = []
    for stage in ("source", "scratch_rich", "jr_e", "jr_i"):
        d = res.diagnostics.get(stage)
        if d is None:
            continue
        total = len(d["converged"])
        if stage == "jr_i":
            parts.append(f"jr_i ran to T₂ = {setting.time_jr_i:g} ({total} "
                         f"run{'s' if total != 1 else ''})")
            continue
        conv = int(np.sum(np.asarray(d["converged"]) > 0))
        stall = int(np.sum(np.asarray(d.get("stalled", np.zeros(total))) > 0))
        text = f"{stage} {conv}/{total} converged"
        if stall:
            text += f", {stall} stalled"
        if total - conv - stall:
            text += f", {total - conv - stall} hit the budget"
        parts.append(text)
    return "; ".join(parts) if parts else "no trained stage"


def _unfinished(res: Any) -> int:
    """Runs of the converged stages that neither converged nor stalled (budget exhausted)."""
    n = 0
    for stage in ("source", "scratch_rich", "jr_e"):
        d = res.diagnostics.get(stage)
        if d is not None:
            conv = np.asarray(d["converged"]) > 0
            stall = np.asarray(d.get("stalled", np.zeros(conv.shape))) > 0
            n += int(np.sum(~conv & ~stall))
    return n


def run_transfer(args: argparse.Namespace) -> int:
    """Mode ``run``: options → task pair → :func:`transfer_dmft` and/or
    :func:`transfer_network` → one table (and the tidy records on --output).

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options of ``finetune-bounds transfer run``.

    Returns
    -------
    int
        The exit status (0).

    Raises
    ------
    InvalidInputError
        A missing --example, an unknown protocol, a bad size, count or hyperparameter, an
        option that does not apply to the example.
    """
    from ._transfer import PROTOCOLS, transfer_dmft, transfer_network

    g = vars(args)
    prots = _protocols(g.get("protocols", PROTOCOLS))
    d = {**_RUN_DEFAULTS, **{k: v for k, v in g.items() if k in _RUN_DEFAULTS}}
    solver = str(d["solver"])
    width = parse_int(d["width"], "--width")
    if solver in ("particle", "both") and width < 2:
        raise InvalidInputError(f"--width must be ≥ 2 on the particle solver, got {width}")
    seeds = parse_int(d["seeds"], "--seeds")
    # sizes against the resource limits before the "running …" note (one error line)
    from .. import limits

    if solver in ("particle", "both"):
        limits.check(width, "draws", "--width (particles)")
    if solver in ("network", "both"):
        limits.check(width, "width", "--width")
    limits.check(seeds, "draws", "--seeds")
    tol = parse_float(d["tol"], "--tol", positive=True)
    max_time = parse_float(d["max_time"], "--max-time", positive=True)
    output = _output(args.output)
    task, setting, label = _task_and_setting(args)

    solvers = ["particle", "network"] if solver == "both" else [solver]
    runners: dict[str, Callable[..., Any]] = {"particle": transfer_dmft,
                                              "network": transfer_network}
    size_kw = {"particle": "neurons", "network": "width"}
    where = " and ".join(
        f"the particle solver (M = {width})" if s == "particle"
        else f"finite-width networks (N = {width})" for s in solvers
    )
    print(label)
    print(f"setting: γ₁ = {setting.gamma_source:g}, γ₂ = {setting.gamma_target:g}, "
          f"λ₁ = {setting.ridge_source:g}, δ = {setting.ridge_hidden:g}, "
          f"λ₂ = {setting.ridge_target:g}, δ₂ = {setting.stiffness:g}, anchor "
          f"{setting.anchor}, readout {setting.readout}, T₂ = {setting.time_jr_i:g}, "
          f"φ = {setting.activation}; tol {tol:g}, max time {max_time:g}")
    print(f"running {len(prots)} protocol{'s' if len(prots) != 1 else ''} × {seeds} "
          f"seed{'s' if seeds != 1 else ''} on {where}…", file=sys.stderr, flush=True)
    results = []
    for s in solvers:
        res = runners[s](task, setting, protocols=prots, seeds=seeds, tol=tol,
                         max_time=max_time, **{size_kw[s]: width})
        results.append((s, res))

    body = []
    for s, res in results:
        for prot in res.protocols:
            readout = setting.readout if prot in ("jr_e", "jr_i") else "fresh"
            mean, se = _mean_se(res.errors[prot])
            gains = []
            for base in ("lazy", "rich"):
                if prot.startswith("scratch") or f"scratch_{base}" not in res.errors:
                    gains.append("–")
                else:
                    gm, gse = _mean_se(res.gain(prot, base))
                    gains.append(format_value(gm, gse))
            body.append([prot, readout, s, format_value(mean, se), *gains])
    headers = ["protocol", "readout", "solver", "test error", "gain vs lazy", "gain vs rich"]
    print()
    print(f"test MSE against the noise-free target, mean ± s.e. over {seeds} seed"
          f"{'s' if seeds != 1 else ''}; gain = E_scratch − E_protocol (> 0: positive transfer)")
    print("\n".join(_lines(headers, ["" for _ in headers], body, left=3)))
    absent = [f"scratch_{b}" for b in ("lazy", "rich") if f"scratch_{b}" not in prots]
    if absent and any(not p.startswith("scratch") for p in prots):
        print(f"(no gain against {' or '.join(absent)}: add it to --protocols)")
    print()
    for s, res in results:
        print(f"stages ({s}): {_status_line(res, setting)}; {res.wall_time:.1f} s")
    bad = sum(_unfinished(res) for _, res in results)
    if bad:
        print(f"warning: {bad} training run(s) hit the time/step budget before converging "
              "(raise --max-time or --tol); their errors are those of the unfinished networks",
              file=sys.stderr)
    if output is not None:
        rows = [r for s, res in results
                for r in res.records(solver=s, example=str(g["example"]))]
        _write(rows, output)
    return 0
