"""One vocabulary of display labels: quantity, source, method and column ids → human text.

Figures, tables and the family CLIs name things through these functions, so a legend, an axis
label and a table header say ``risk E[R_n]`` or ``rate (benign, C = 1)`` rather than an internal
id such as ``risk · bound · benign``. Every function accepts unknown ids and falls back to
:func:`humanize` (underscores → spaces), so a new quantity never crashes a report — it is only
less pretty until it is added here. The ids are those of ``docs/vocabulary.md``.

Conventions
-----------
* A **quantity** label is the quantity's name with its symbol: ``"risk E[R_n]"``,
  ``"n*(ε)"``, ``"iterations"`` (:func:`quantity_label`).
* A **source** label is ``theory``, ``bound`` or ``empirical``, with the route in parentheses
  when it says something: ``"theory (NTK limit)"``, ``"bound (worst case)"``,
  ``"empirical (GD)"`` (:func:`source_label`).
* A **rate** — a ``bound`` row whose method is a rate with a free constant (:data:`RATE_METHODS`:
  ``benign``, ``head_tail``, ``rate``) — is labelled ``"rate (benign, C = 1)"``, never "bound".
* ``start`` reads ``"fine-tuned"`` (pretrained) / ``"from scratch"``; other keys read
  ``"<column label> = <value>"``, e.g. ``"frozen layers = 0"`` (:func:`key_label`).
* Parts of one label are joined by ``" · "`` (:data:`SEP`): ``"risk E[R_n] · frozen layers = 2 ·
  theory"``.

Round-off floor
---------------
A value is an exact zero in disguise (floating-point round-off, e.g. ``1e-29``) when
``|value| < max(ROUNDOFF_RELATIVE × scale, ROUNDOFF_ABSOLUTE)``, ``scale`` being the largest
finite ``|value|`` of the same quantity in the figure or table (:func:`roundoff_floor`):
``ROUNDOFF_RELATIVE = 1e-12`` and ``ROUNDOFF_ABSOLUTE = 1e-15``. Such values are printed as ``0``
in tables (a standard error below the floor too) and left out of log axes with a note; the CSV
summaries keep the raw numbers.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "COLUMNS",
    "INTEGER_QUANTITIES",
    "METHODS",
    "QUANTITIES",
    "RATE_METHODS",
    "ROUNDOFF_ABSOLUTE",
    "ROUNDOFF_RELATIVE",
    "SEP",
    "column_label",
    "humanize",
    "is_roundoff",
    "key_label",
    "method_label",
    "quantity_label",
    "roundoff_floor",
    "series_label",
    "source_category",
    "source_label",
    "value_label",
    "wrap",
]

#: separator of the parts of one label
SEP = " · "

#: relative round-off floor (× the largest finite |value| of the quantity)
ROUNDOFF_RELATIVE = 1e-12
#: absolute round-off floor
ROUNDOFF_ABSOLUTE = 1e-15

#: quantity id → label (with its symbol); see docs/vocabulary.md
QUANTITIES: Mapping[str, str] = {
    "risk": "risk E[R_n]",
    "bias": "bias",
    "variance": "variance (label noise)",
    "zero_shot": "zero-shot risk R(θ_S)",
    "mae": "test MAE",
    "mse": "test MSE",
    "complexity": "complexity rᵀH⁻¹r",
    "complexity_ratio": "complexity ratio",
    "complexity_term_ratio": "complexity-term ratio",
    "lambda_min": "λ_min (NTK Gram)",
    "kernel_gap": "network–kernel gap",
    "kernel_gap_scaled": "network–kernel gap × √m",
    "pretrain_error": "pretraining error (relative)",
    "bound_ratio": "bound / error",
    "bound_ratio_min": "bound / error (min)",
    "bound_ratio_median": "bound / error (median)",
    "sample_complexity": "n*(ε)",
    "coefficient": "coefficient c_L",
    "balancedness": "balancedness",
    "gd_vs_closed_form": "‖w_GD − w_cf‖ / ‖w_cf‖",
    "cvxpy_vs_closed_form": "‖w_cvxpy − w_cf‖ / ‖w_cf‖",
    "ode_vs_closed_form": "‖w_ODE − w_cf‖ / ‖w_cf‖",
    "iterations": "iterations",
    "converged": "converged (fraction)",
    "pearson": "Pearson correlation",
    "spearman": "Spearman correlation",
    "error": "error (1/d)‖β̂ − β*‖²",
    "gain_lazy": "transfer gain vs lazy scratch",
    "gain_rich": "transfer gain vs rich scratch",
    "stalled": "stalled (fraction)",
    "gap": "width gap RMS(f_N − f_∞)",
    "ell": "ℓ-order",
    "pd": "pretraining dependence",
    "regime": "regime",
    "invariant_drift": "invariant drift",
    "gd_vs_exact": "‖β_GD − β_exact‖ / ‖β_exact‖",
}

#: quantities whose values are integers (a mean over draws is shown with its standard error)
INTEGER_QUANTITIES: frozenset[str] = frozenset({"sample_complexity", "iterations"})

#: ``bound`` methods that are rates with a free constant, labelled "rate", not "bound"
RATE_METHODS: frozenset[str] = frozenset({"benign", "head_tail", "rate"})

#: method id → label
METHODS: Mapping[str, str] = {
    "closed_form": "closed form",
    "deterministic": "deterministic equivalent",
    "isotropic": "isotropic formula",
    "monte_carlo": "Monte Carlo",
    "gd": "GD",
    "cvxpy": "convex program",
    "ode": "gradient flow",
    "ntk_limit": "NTK limit",
    "network": "trained network",
    "replica": "replica",
    "exact": "exact",
    "measures": "measures",
    "weights": "per-coordinate weights",
    "auto": "auto",
    "toy": "toy model",
    "learning_curve": "learning curve",
    "particle_dmft": "particle DMFT",
    "naive": "naive",
    "benign": "benign",
    "head_tail": "head/tail",
    "rate": "rate",
    "data_dependent": "data-dependent",
    "worst_case": "worst case",
    "worst_case_norm": "worst case (norm)",
    "max_linear_infinite": "max(R_1, R_∞)",
    "frozen_floor": "frozen floor (n → ∞)",
    "infinite_depth": "infinite depth",
    "binomial": "binomial",
    "zero_shot": "zero-shot",
    "analytic": "analytic NTK",
    "empirical_ntk": "empirical NTK",
}

#: column / axis id → label
COLUMNS: Mapping[str, str] = {
    "quantity": "quantity",
    "source": "source",
    "method": "method",
    "start": "start",
    "n": "n (target samples)",
    "d": "d (dimension)",
    "depth": "depth L",
    "frozen_layers": "frozen layers",
    "eps": "ε",
    "alpha": "α",
    "nu2": "ν²",
    "width": "width m",
    "seed": "seed",
    "measure": "measure",
    "protocol": "protocol",
    "readout": "readout",
    "noise_variance": "noise σ²",
    "sigma2": "noise σ²",
    "delta": "δ",
    "delta_norm": "‖Δ‖",
    "constant": "constant C",
    "n_test": "test inputs",
    "n_max": "largest n",
    "theory_draws": "draws",
    "mc_draws": "Monte Carlo draws",
    "ridge": "ridge",
    "lr": "learning rate",
    "lr_scale": "learning-rate scale",
    "spectrum": "spectrum",
    "alignment": "alignment",
    "aspect": "n / d",
    "gamma": "γ",
    "beta": "β",
    "rho": "ρ",
    "lambda": "λ",
    "kappa": "κ",
    "sigma": "σ",
    "value": "value",
}

_STARTS: Mapping[str, str] = {"pretrained": "fine-tuned", "scratch": "from scratch"}
_PROTOCOLS: Mapping[str, str] = {
    "scratch_lazy": "scratch (lazy)",
    "scratch_rich": "scratch (rich)",
    "ft": "fine-tuning",
    "jr_e": "JR (explicit)",
    "jr_i": "JR (implicit)",
}
_READOUTS: Mapping[str, str] = {
    "fresh": "fresh readout",
    "reset": "readout reset",
    "kept": "readout kept",
}
#: the source, method, start, protocol and readout columns are shown by their value alone
_BARE = ("quantity", "source", "method", "start", "protocol", "readout", "measure")


def humanize(name: Any) -> str:
    """Readable text for an unknown id: ``"max_linear_infinite"`` → ``"max linear infinite"``."""
    if name is None:
        return ""
    if isinstance(name, bool):
        return str(name).lower()
    if isinstance(name, float):
        return _number(name)
    if isinstance(name, int):
        return str(name)
    return " ".join(str(name).replace("_", " ").split())


def _number(v: float) -> str:
    if math.isnan(v):
        return ""
    if math.isinf(v):
        return "∞" if v > 0 else "−∞"
    if v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.6g}"


def quantity_label(quantity: Any) -> str:
    """``"risk"`` → ``"risk E[R_n]"``; unknown ids are humanized."""
    return QUANTITIES.get(str(quantity), humanize(quantity)) if quantity is not None else ""


def method_label(method: Any) -> str:
    """``"ntk_limit"`` → ``"NTK limit"``; unknown ids are humanized; None/NaN → ``""``."""
    if method is None or (isinstance(method, float) and math.isnan(method)):
        return ""
    return METHODS.get(str(method), humanize(method))


def source_category(source: Any, method: Any = None) -> str:
    """``"rate"`` for a bound whose method is in :data:`RATE_METHODS`, else the source."""
    if str(source) == "bound" and str(method) in RATE_METHODS:
        return "rate"
    return "" if source is None else str(source)


def source_label(source: Any, method: Any = None, constant: Any = None) -> str:
    """The source with its route: ``"theory (NTK limit)"``, ``"bound (worst case)"``,
    ``"rate (benign, C = 1)"`` (``constant``: the rate's free constant, if known)."""
    category = source_category(source, method)
    m = method_label(method)
    if category == "rate":
        parts = [m] if m and str(method) != "rate" else []
        c = _plain(constant)
        if c is not None and not isinstance(c, str):
            parts.append(f"C = {humanize(c)}")
        return f"rate ({', '.join(parts)})" if parts else "rate"
    head = humanize(category)
    return f"{head} ({m})" if m else head


def column_label(name: Any) -> str:
    """A column / axis name: ``"n"`` → ``"n (target samples)"``, ``"frozen_layers"`` →
    ``"frozen layers"``; unknown names are humanized."""
    return COLUMNS.get(str(name), humanize(name))


def value_label(column: str, value: Any) -> str:
    """A key value as text: ``start = "scratch"`` → ``"from scratch"``, a method or protocol
    by its label, a quantity by its label, numbers ``%g``-style, other strings humanized."""
    v = _plain(value)
    if v is None:
        return ""
    if column == "quantity":
        return quantity_label(v)
    if column == "method":
        return method_label(v)
    if column == "source":
        return source_label(v)
    if column == "start":
        return _STARTS.get(str(v), humanize(v))
    if column == "protocol":
        return _PROTOCOLS.get(str(v), humanize(v))
    if column == "readout":
        return _READOUTS.get(str(v), humanize(v))
    return humanize(v)


def key_label(column: str, value: Any) -> str:
    """One key of a series or column: ``"frozen layers = 0"``; the quantity, source, method,
    start, protocol, readout and measure keys by their value alone (``"from scratch"``)."""
    text = value_label(column, value)
    if not text:
        return ""
    return text if column in _BARE else f"{column_label(column)} = {text}"


def series_label(row: Mapping[str, Any], keys: Iterable[str] | None = None) -> str:
    """The label of a line or table column from its key values (``row``: column → value).

    The quantity comes first, then the other keys, then the source with its method (a rate as
    ``"rate (benign, C = 1)"``, using a ``constant`` entry of ``row`` when there is one).
    ``keys``: the columns to use, in order (default: all of ``row``). Blank parts are skipped.
    """
    names = list(row) if keys is None else list(keys)
    parts: list[str] = []
    if "quantity" in names:
        parts.append(quantity_label(row.get("quantity")))
    method = row.get("method") if "method" in names else None
    rate = "source" in names and source_category(row.get("source"), method) == "rate"
    for k in names:
        if k in ("quantity", "source", "method") or (k == "constant" and rate):
            continue
        parts.append(key_label(k, row.get(k)))
    if "source" in names:
        constant = row.get("constant") if rate else None
        parts.append(source_label(row.get("source"), method, constant))
    elif "method" in names:
        parts.append(method_label(row.get("method")))
    return SEP.join(p for p in parts if p)


def wrap(text: str, width: int = 60) -> str:
    """Long text (a figure title) wrapped on word boundaries at ``width`` characters."""
    return "\n".join(textwrap.wrap(text, width)) if len(text) > width else text


def roundoff_floor(values: Iterable[Any]) -> float:
    """The round-off floor of a group of values: ``max(ROUNDOFF_RELATIVE × max finite |v|,
    ROUNDOFF_ABSOLUTE)`` (the absolute floor alone when no value is finite)."""
    scale = 0.0
    for v in values:
        try:
            f = abs(float(v))
        except (TypeError, ValueError):
            continue
        if math.isfinite(f):
            scale = max(scale, f)
    return max(ROUNDOFF_RELATIVE * scale, ROUNDOFF_ABSOLUTE)


def is_roundoff(value: Any, floor: float = ROUNDOFF_ABSOLUTE) -> bool:
    """Whether a finite nonzero ``value`` lies below ``floor`` (an exact zero in disguise);
    0 itself is not round-off (it is already exact)."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        return False
    return math.isfinite(f) and f != 0.0 and abs(f) < floor


def _plain(v: Any) -> Any:
    """A plain Python value; None for missing markers (None, NaN, pandas NA)."""
    if v is None:
        return None
    if hasattr(v, "item") and not isinstance(v, str):
        try:
            v = v.item()
        except (ValueError, TypeError):
            pass
    if isinstance(v, float) and math.isnan(v):
        return None
    try:
        import pandas as pd

        if v is pd.NA:
            return None
    except ImportError:  # pragma: no cover
        pass
    return v
