"""The ``diagonal`` family as the sweep sees it (spec ``diagonal-networks.md`` §1–§5).

One cell = one setting of the initialisation scales (c_PT, λ_PT, γ_FT) and of the task
statistics (ω, ρ_PT, ρ_FT, a_PT, σ²), with two inner axes: ``alpha`` (α = n/d, a learning curve
in one cell) and ``lambda_pt`` (a row of a regime map in one cell).

- theory (source ``theory``): ``error`` — the exact high-dimensional error of
  :func:`~.theory.generalization_error` (method ``replica``; with ``tau``, ``theta`` as fields) —
  when ``theory_error`` is true, and the regime measures ``ell``, ``pd`` and ``regime`` (the
  label I–IV as its index 0–3, method ``measures``; α-independent, repeated on every α) when
  ``regime_measures`` is true.
- empirical (source ``empirical``, per seed): ``error`` = (1/d)‖β̂ − β*‖² of the trained network
  (method ``gd``: full-batch gradient descent on all four parameter vectors; ``iterations``,
  ``converged`` as 0/1, ``invariant_drift`` — the largest relative drift of the conserved c
  — alongside) and/or of the exact implicit-bias solution (method ``exact``, the minimum-q
  interpolant); with ``empirical = "both"`` also ``gd_vs_exact`` =
  ‖β_GD − β_exact‖/‖β_exact‖.

``start = "scratch"`` trains from the pretraining initialisation directly on the target (the
single-task baseline of §5, whose error does not depend on λ_PT); its theory is the same fixed
point with c = c_PT on every coordinate (spec §2: only c matters), obtained as a_PT → 0
(1e-300), λ_PT = −½, γ_FT = 0 in the c_FT map (c_FT = c_PT(1 − ½)·2 = c_PT, exactly).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._limited import Limited
from ..errors import ConfigError, InvalidInputError
from ..families import Boolean, Family, Interval, Options, axis_values, seed_ints
from ..records import record
from ._bias import REGIMES, min_q_interpolant, regime_measures
from ._fixed_point import generalization_error
from ._penalty import check_task
from .simulate import SimulationResult, simulate_finetuning, simulate_scratch

__all__ = ["DEFAULTS", "FAMILY"]

DEFAULTS: dict[str, Any] = {
    "alpha": 0.3,  # α = n/d (inner axis)
    "omega": 0.5,
    "lambda_pt": 0.0,  # relative layer scale in [−1, 1] (inner axis); < 0: smaller early layer
    "gamma_ft": 0.0,  # readout re-initialisation scale
    "c_pt": 1e-3,  # absolute pretraining scale
    "rho_pt": 0.1,
    "rho_ft": 0.1,
    "a_pt": 1.0,  # |β_PT| on the pretraining support
    "noise_variance": 0.0,
    "start": "pretrained",  # or "scratch": the single-task baseline
    "setting": "custom",  # or a regime setting of spec §4 ("I" … "IV"): sets λ_PT and γ_FT
    "task": "custom",  # or a task type of spec §4 (see TASKS): sets ω and ρ_FT
    "theory_error": True,  # the replica error (≈ 10 ms per point)
    "regime_measures": False,  # ℓ, PD and the regime label
    "d": 500,  # dimension of the empirical runs
    "empirical": "gd",  # "gd", "exact" (the minimum-q solver) or "both"
    "gd_lr": 1.0,
    "gd_tol": 1e-10,  # stop when the training loss ≤ gd_tol × its initial value
    "gd_max_steps": 200_000,
}

_CONSTRAINTS = {
    "alpha": Interval("float", 0.0, None, closed="neither"),
    "omega": Interval("float", 0.0, 1.0),
    "lambda_pt": Interval("float", -1.0, 1.0),
    "gamma_ft": Interval("float", 0.0, None),
    "c_pt": Interval("float", 0.0, None, closed="neither"),
    "rho_pt": Interval("float", 0.0, 1.0, closed="right"),
    "rho_ft": Interval("float", 0.0, 1.0, closed="right"),
    "a_pt": Interval("float", 0.0, None, closed="neither"),  # the fixed point needs a_PT > 0
    "noise_variance": Interval("float", 0.0, None),
    "start": Options("pretrained", "scratch"),
    "setting": Options("custom", "I", "II", "III", "IV"),
    "task": Options("custom", "sparse_new", "dense_pt", "dense_new", "pt_subset"),
    "theory_error": Boolean(),
    "regime_measures": Boolean(),
    "d": Limited(Interval("int", 1, None), "d", "d"),
    "empirical": Options("gd", "exact", "both"),
    "gd_lr": Interval("float", 0.0, 2.0, closed="neither"),
    "gd_tol": Interval("float", 0.0, 1.0, closed="neither"),
    "gd_max_steps": Limited(Interval("int", 1, None), "steps", "gd_max_steps"),
}


#: the regime settings of spec §4 as (λ_PT, γ_FT) (with the default c_PT = 1e-3)
SETTINGS: dict[str, tuple[float, float]] = {
    "I": (-0.999999, 1e-6), "II": (0.0, 0.0), "III": (0.0, 10.0), "IV": (-0.99, 0.0),
}
#: the task types of spec §4 as (ω, ρ_FT), each the one its regime is said to favour (ρ_PT = 0.1):
#: I sparse new features, II dense use of all PT features, III dense new features, IV a sparse
#: subset of the PT features
TASKS: dict[str, tuple[float, float]] = {
    "sparse_new": (0.0, 0.01), "dense_pt": (1.0, 0.1), "dense_new": (0.0, 0.9),
    "pt_subset": (1.0, 0.01),
}


def _derive(params: dict[str, Any]) -> dict[str, Any]:
    if params["setting"] != "custom":
        params = {**params}
        params["lambda_pt"], params["gamma_ft"] = SETTINGS[params["setting"]]
    if params["task"] != "custom":
        params = {**params}
        params["omega"], params["rho_ft"] = TASKS[params["task"]]
    try:
        check_task(params["omega"], params["rho_pt"], params["rho_ft"])
    except InvalidInputError as exc:
        raise ConfigError(f"diagonal: {exc}") from None
    lams = [float(v) for v in axis_values(params, "lambda_pt")]
    if params["start"] == "pretrained" and float(params["gamma_ft"]) == 0.0 and -1.0 in lams:
        raise ConfigError(
            "diagonal: lambda_pt = -1 with gamma_ft = 0 gives c_FT = 0, a saddle gradient descent "
            "never leaves; use lambda_pt = -0.999999 with gamma_ft = 1e-6 (spec §6)"
        )
    return params


def _scales(params: Mapping[str, Any], lam: float) -> dict[str, Any]:
    """(c_pt, lambda_pt, gamma_ft, a_pt) of the fixed point for a cell's start."""
    if params["start"] == "scratch":  # c = c_PT everywhere: see the module docstring
        # a_PT = 1e-300: √(1 + (a/c)²) rounds to exactly 1 (the fixed point wants a_PT > 0)
        return {"c_pt": float(params["c_pt"]), "lambda_pt": -0.5, "gamma_ft": 0.0,
                "a_pt": 1e-300}
    return {"c_pt": float(params["c_pt"]), "lambda_pt": lam,
            "gamma_ft": float(params["gamma_ft"]), "a_pt": float(params["a_pt"])}


def _theory(params: Mapping[str, Any], rng: np.random.Generator) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    start = params["start"]
    alphas = [float(a) for a in axis_values(params, "alpha")]
    for lam in (float(v) for v in axis_values(params, "lambda_pt")):
        if params["regime_measures"]:
            m = regime_measures(float(params["c_pt"]), lam, float(params["gamma_ft"]))
            code = float(REGIMES.index(str(m.regime)))  # I → 0 … IV → 3 (heatmap categories)
            for q, v in (("ell", float(m.ell)), ("pd", float(m.pd)), ("regime", code)):
                for a in alphas:  # α-independent, but every row carries its axis values
                    rows.append(record(q, v, "theory", method="measures", alpha=a,
                                       lambda_pt=lam))
        if not params["theory_error"]:
            continue
        for a in alphas:
            r = generalization_error(
                a, omega=float(params["omega"]), rho_pt=float(params["rho_pt"]),
                rho_ft=float(params["rho_ft"]),
                noise_variance=float(params["noise_variance"]), strict=False,
                **_scales(params, lam),
            )
            rows.append(record("error", r.error, "theory", method="replica", alpha=a,
                               lambda_pt=lam, start=start, converged=bool(r.converged)))
    return rows


def _simulate(
    params: Mapping[str, Any], rngs: Sequence[np.random.Generator]
) -> list[dict[str, Any]]:
    if not rngs:
        return []
    seeds = seed_ints(rngs)
    how = params["empirical"]
    start = params["start"]
    common: dict[str, Any] = {
        "d": int(params["d"]), "c_pt": float(params["c_pt"]), "omega": float(params["omega"]),
        "rho_pt": float(params["rho_pt"]), "rho_ft": float(params["rho_ft"]),
        "a_pt": float(params["a_pt"]), "noise_variance": float(params["noise_variance"]),
        "seeds": seeds, "lr": float(params["gd_lr"]), "tol": float(params["gd_tol"]),
        "max_steps": int(params["gd_max_steps"]), "keep_data": how != "gd",
    }
    rows: list[dict[str, Any]] = []
    for lam in (float(v) for v in axis_values(params, "lambda_pt")):
        for a in (float(v) for v in axis_values(params, "alpha")):
            try:
                if start == "scratch":
                    res = simulate_scratch(a, lambda_pt=lam, **common)
                else:
                    res = simulate_finetuning(a, lambda_pt=lam,
                                              gamma_ft=float(params["gamma_ft"]), **common)
            except InvalidInputError as exc:
                raise ConfigError(f"diagonal: alpha = {a:g}, lambda_pt = {lam:g}: {exc}") from None
            rows += _empirical_records(res, how, a, lam, start)
    return rows


def _empirical_records(
    res: SimulationResult, how: str, alpha: float, lam: float, start: str
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    base = {"alpha": alpha, "lambda_pt": lam, "start": start}
    exact_err: list[float] = []
    gaps: list[float] = []
    if how != "gd":
        assert res.X is not None and res.y is not None
        for i in range(len(res.seeds)):
            sol = min_q_interpolant(res.X[i], res.y[i], res.c[i], strict=False)
            exact_err.append(float(np.mean((sol.beta - res.beta_star[i]) ** 2)))
            nb = float(np.linalg.norm(sol.beta))
            gaps.append(float(np.linalg.norm(res.beta_hat[i] - sol.beta)) / nb if nb > 0 else 0.0)
    for i in range(len(res.seeds)):
        seed = {"seed": i}
        if how != "exact":
            rows.append(record("error", float(res.errors[i]), "empirical", method="gd",
                               **base, **seed))
            rows.append(record("iterations", float(res.gd.steps[i]), "empirical", method="gd",
                               **base, **seed))
            rows.append(record("converged", float(res.gd.converged[i]), "empirical",
                               method="gd", **base, **seed))
            rows.append(record("invariant_drift", float(res.gd.drift_c[i]), "empirical",
                               method="gd", **base, **seed))
        if how != "gd":
            rows.append(record("error", exact_err[i], "empirical", method="exact", **base, **seed))
        if how == "both":
            rows.append(record("gd_vs_exact", gaps[i], "empirical", method="gd",
                               **base, **seed))
    return rows


FAMILY = Family(
    name="diagonal",
    defaults=DEFAULTS,
    theory=_theory,
    simulate=_simulate,
    derive=_derive,
    constraints=_CONSTRAINTS,
    axes=("alpha", "lambda_pt"),
    description=(
        "Two-layer diagonal linear network, pretrained from a balanced init (c_PT, λ_PT), "
        "readout re-initialised at γ_FT, fine-tuned by gradient descent: exact high-dimensional "
        "error, implicit bias and the four regimes (diagonal-networks spec)."
    ),
)
