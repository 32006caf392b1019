"""The ``linear`` and ``linear_measures`` sweep families (spec ``linear-teachers.md`` §2, §5).

``FAMILY`` (name ``"linear"``): one cell = one task (spectrum, placement of Δ, noise, fixed by
``task_seed`` independently of the empirical seeds) and one sample size n.

- ``theory(params)``: deterministic-equivalent risk, bias and variance (§2.3), zero-shot and
  from-scratch references (§2.2), and the three bound families of §2.4 as ``quantity="risk"``,
  ``source="bound"``, ``method`` = ``naive`` / ``benign`` / ``head_tail``.
- ``simulate(params, rngs)``: per seed, a design and label noise drawn from that seed's generator
  only; the exact population risk of the closed-form limit (``method="closed_form"``, plus its
  bias, conditional variance and the from-scratch risk) and, with ``gd = true``, of iterative
  gradient descent (``method="gd"``, with ``gd_vs_closed_form``, ``iterations`` and
  ``converged`` — a 0/1 quantity, so its mean over seeds is the fraction of runs that reached
  the tolerance; non-converged runs are kept, not dropped).

``MEASURES`` (name ``"linear_measures"``): the [paper] correlation study of §2.4 — per seed, a
fresh set of random instances, and the Pearson/Spearman correlation of each similarity measure
with the exact risk (``quantity="pearson"``/``"spearman"``, field ``measure``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._validation import nonneg_float, positive_int
from ..errors import ConfigError, InvalidInputError
from ..families import Family
from ..problems import LinearTask
from ..records import record
from .simulate import (
    SPECTRA,
    _draw,
    _empirical_records,
    _theory_records,
    simulate_batch,
    spectrum_task,
)
from .theory import measure_correlation_study

__all__ = ["FAMILY", "MEASURES", "build_task"]

_DEFAULTS: dict[str, Any] = {
    # the task (fixed per cell by task_seed)
    "d": 200,  # dimension (ignored for spectrum = "digits", which has d = 64)
    "n": 50,  # target sample size
    "spectrum": "power_law",  # "power_law" | "spiked" | "flat" | "digits"
    "exponent": 1.0,  # power law λ_i ∝ i^-exponent
    "spike_count": 0,  # spiked: number of spikes (0 → max(1, d // 20))
    "spike_height": 20.0,  # spiked: spike / bulk eigenvalue ratio
    "alignment": "head",  # where Δ lives: "head" | "tail" | "random" (synthetic spectra)
    "delta_fraction": 0.1,  # head/tail: fraction of eigen-directions carrying Δ
    "delta_norm": 1.0,  # ‖Δ‖ (synthetic spectra)
    "source_norm": 1.0,  # ‖θ_S‖ (synthetic spectra)
    "noise_variance": 0.0,  # label-noise σ² (0 in the paper)
    "task_seed": 0,  # seed of θ_S and Δ (independent of the empirical seeds)
    "source_label": "ge5",  # digits: source label function (finetune_bounds.data)
    "target_label": "even",  # digits: target label function
    "design": "gaussian",  # "gaussian" x ~ N(0, Σ) | "real" (digits rows, no replacement)
    # training
    "gd": True,  # also run iterative gradient descent (else only the closed-form limit)
    "gd_tol": 1e-8,  # relative gradient-norm tolerance
    "gd_max_iter": 20_000,  # GD budget; runs that hit it are flagged converged = False
    # theory
    "theory_method": "deterministic",  # or "isotropic" (Σ ∝ I) or "monte_carlo"
    "mc_draws": 200,  # Monte Carlo draws when theory_method = "monte_carlo"
    # bound constants (spec §2.4; naive with 1 is a true bound on the bias, the others are rates)
    "bound_naive": 1.0,
    "bound_benign": 1.0,
    "bound_head_tail": 1.0,
}


def build_task(params: Mapping[str, Any]) -> LinearTask:
    """The cell's task from its parameters (deterministic: depends on ``task_seed`` only)."""
    spectrum = params["spectrum"]
    if spectrum == "digits":
        from ..data import digits_task

        return digits_task(
            params["source_label"], params["target_label"], params["noise_variance"]
        )
    if spectrum not in SPECTRA:
        raise InvalidInputError(
            f"spectrum must be one of {(*SPECTRA, 'digits')}, got {spectrum!r}"
        )
    if params["design"] != "gaussian":
        raise InvalidInputError("design = 'real' needs spectrum = 'digits'")
    spikes = positive_int(params["spike_count"], "spike_count", allow_zero=True)
    return spectrum_task(
        params["d"],
        spectrum,
        exponent=params["exponent"],
        spike_count=spikes or None,
        spike_height=params["spike_height"],
        delta_profile=params["alignment"],
        delta_fraction=params["delta_fraction"],
        delta_norm=params["delta_norm"],
        source_norm=params["source_norm"],
        noise_variance=params["noise_variance"],
        seed=params["task_seed"],
    )


_CHOICES: dict[str, tuple[str, ...]] = {
    "spectrum": (*SPECTRA, "digits"),
    "alignment": ("head", "tail", "random"),
    "design": ("gaussian", "real"),
    "theory_method": ("deterministic", "isotropic", "monte_carlo"),
}


def _validate(params: dict[str, Any]) -> dict[str, Any]:
    """Check a cell's values when the config is loaded, so a bad grid value stops the sweep
    before anything runs (the family's ``derive`` hook; values are returned unchanged)."""
    for key, allowed in _CHOICES.items():
        if params[key] not in allowed:
            raise ConfigError(f"linear: {key} must be one of {allowed}, got {params[key]!r}")
    for key in ("d", "n", "gd_max_iter"):
        positive_int(params[key], key)
    for key in ("spike_count", "task_seed"):
        positive_int(params[key], key, allow_zero=True)
    if positive_int(params["mc_draws"], "mc_draws") < 2:
        raise ConfigError("linear: mc_draws must be ≥ 2 (a standard error needs two draws)")
    for key in ("exponent", "spike_height", "delta_fraction", "delta_norm", "source_norm",
                "noise_variance", "gd_tol", "bound_naive", "bound_benign", "bound_head_tail"):
        nonneg_float(params[key], key)
    if not isinstance(params["gd"], bool):
        raise ConfigError(f"linear: gd must be true or false, got {params['gd']!r}")
    return params


def _constants(params: Mapping[str, Any]) -> dict[str, float]:
    return {k: float(params[f"bound_{k}"]) for k in ("naive", "benign", "head_tail")}


def _dim_field(params: Mapping[str, Any], task: LinearTask) -> dict[str, Any]:
    # digits ignores the cell's d: record the true dimension (a record field overrides the column)
    return {"d": task.dim} if params["spectrum"] == "digits" else {}


def _theory(params: Mapping[str, Any]) -> list[dict[str, Any]]:
    task = build_task(params)
    n = positive_int(params["n"], "n")
    rows = _theory_records(
        task,
        n,
        method=params["theory_method"],
        bound_constants=_constants(params),
        rng=np.random.default_rng(positive_int(params["task_seed"], "task_seed", allow_zero=True)),
        n_draws=params["mc_draws"],
        extra_isotropic=params["spectrum"] == "flat",
    )
    extra = _dim_field(params, task)
    return [{**r, **extra} for r in rows]


def _simulate(
    params: Mapping[str, Any], rngs: Sequence[np.random.Generator]
) -> list[dict[str, Any]]:
    task = build_task(params)
    n = positive_int(params["n"], "n")
    design = params["design"]
    if design not in ("gaussian", "real"):
        raise InvalidInputError(f"design must be 'gaussian' or 'real', got {design!r}")
    sampler = None
    if design == "real":
        from ..data import digits_design

        sampler = digits_design
    x, xi = _draw(task, n, len(rngs), list(rngs), sampler)
    gd = bool(params["gd"])
    arrays = simulate_batch(
        task, x, xi, gd=gd, tol=float(params["gd_tol"]),
        max_iter=positive_int(params["gd_max_iter"], "gd_max_iter"),
    )
    extra = _dim_field(params, task)
    rows = _empirical_records(n, arrays, gd, converged_field=False)
    return [{**r, **extra} for r in rows]


FAMILY = Family(
    name="linear",
    defaults=_DEFAULTS,
    theory=_theory,
    simulate=_simulate,
    derive=_validate,
    description=(
        "Fine-tuning linear regression from a linear source teacher (linear-teachers §2, §5): "
        "deterministic-equivalent risk and bounds against gradient descent on sampled data."
    ),
)


# ---------------------------------------------------------------------------------------------
# linear_measures: which similarity measure tracks the risk? ([paper] §2.4)
# ---------------------------------------------------------------------------------------------
_MEASURE_DEFAULTS: dict[str, Any] = {
    "n_instances": 100,  # random (Σ, θ_S, θ_T, X) instances per seed
    "d": 100,
    "n": 20,
    "spectrum": "power_law",  # "power_law" | "spiked" | "flat" (theory.random_task)
}


def _measures_theory(params: Mapping[str, Any]) -> list[dict[str, Any]]:
    return []  # the study is empirical (random instances); see _measures_simulate


def _measures_simulate(
    params: Mapping[str, Any], rngs: Sequence[np.random.Generator]
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for i, g in enumerate(rngs):
        table = measure_correlation_study(
            n_instances=params["n_instances"], d=params["d"], n=params["n"],
            spectrum=params["spectrum"], rng=g,
        )
        for _, r in table.iterrows():
            for q in ("pearson", "spearman"):
                rows.append(record(q, float(r[q]), "empirical", measure=str(r["measure"]),
                                   n=int(params["n"]), seed=i))
    return rows


MEASURES = Family(
    name="linear_measures",
    defaults=_MEASURE_DEFAULTS,
    theory=_measures_theory,
    simulate=_measures_simulate,
    description=(
        "Correlation of similarity measures (‖Δ‖², λ_max‖Δ‖², ΔᵀΣΔ, benign, head/tail, "
        "deterministic equivalent) with the exact fine-tuning risk over random instances "
        "(linear-teachers §2.4)."
    ),
)
