"""The ``relu`` family as the sweep sees it (spec §4–5).

One cell = one task (synthetic teachers or digits label functions), one n and one width, in one
of three modes:

- ``mode = "curve"`` (default): theory rows from :func:`~.theory.theory_curve` (kernel-limit
  risks, data-dependent and worst-case bounds, complexities; averaged over ``theory_draws``
  designs drawn from ``theory_seed``) plus ``pretrain_error`` = √(2/m) (closed-form
  pretraining only); empirical rows from
  :func:`~.simulate.simulate_cell` (trained network from the source and from scratch, its kernel
  limit on the same data, the network–kernel gap). Sweeping ``width`` gives the width study.
- ``mode = "sample_complexity"``: theory only, :func:`~.theory.theory_sample_complexity` at
  ``eps`` with nested designs up to ``n_max``.
- ``mode = "measures"``: empirical only, :func:`~.simulate.simulate_measures` (correlation of
  rᵀH⁻¹r, ‖P_XΔ‖², ‖Δ‖², zero-shot risk and the bound with the measured fine-tuning risk over
  ``instances`` random tasks per seed; rows carry a ``measure`` field).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..families import Family
from ..records import record
from ._tasks import LABEL_FUNCTIONS, ReluTask, digits_task, synthetic_task
from .simulate import simulate_cell, simulate_measures
from .theory import DEFAULT_CONSTANT, DEFAULT_DELTA, theory_curve, theory_sample_complexity

__all__ = ["DEFAULTS", "FAMILY", "task_from_params"]

#: every parameter of the family, with its default
DEFAULTS: dict[str, Any] = {
    "mode": "curve",  # curve | sample_complexity | measures
    "data": "synthetic",  # synthetic | digits
    "d": 20,  # input dimension (synthetic; digits: 64)
    "n": 20,  # target samples
    "width": 2000,  # m, number of hidden neurons (even: antisymmetric pairs)
    "inputs": "sphere",  # synthetic inputs: sphere | power_law (z/‖z‖, z ~ N(0, diag(i^-alpha)))
    "alpha": 1.0,  # power-law exponent
    "source_norm": 1.0,  # ‖θ_S‖
    "delta_norm": 0.5,  # ‖Δ‖ = ‖θ_T − θ_S‖
    "task_seed": 0,  # draws the teacher directions
    "source_task": "value",  # digits label function of the source task
    "target_task": "large",  # digits label function of the target task
    "labels": "teacher",  # digits: teacher (y = θ_Tᵀx) | direct (the label function)
    "pretrain": "closed_form",  # closed_form (W₀ + 2aθ_Sᵀ/√m) | gd
    "pretrain_samples": 0,  # gd pretraining samples (0 → 100·d)
    "pretrain_steps": 100,
    "n_test": 1000,
    "tol": 1e-3,  # relative training residual at which GD stops
    "max_steps": 4000,
    "lr_scale": 1.0,  # step = lr_scale / λ_max(H)
    "delta": DEFAULT_DELTA,  # confidence δ of the bound
    "constant": DEFAULT_CONSTANT,  # C of the bound's confidence term
    "ridge": 0.0,  # explicit Gram regularisation (0 = none; singular Gram raises)
    "theory_draws": 10,  # designs averaged in theory rows
    "theory_seed": 0,
    "eps": 0.1,  # sample_complexity mode: target mae
    "n_max": 2000,  # sample_complexity mode: largest n searched
    "instances": 24,  # measures mode: random tasks per seed
    "delta_spread": 10.0,  # measures mode: ‖Δ‖ log-uniform in [delta_norm/delta_spread, delta_norm]
}

MODES = ("curve", "sample_complexity", "measures")


def _choice(params: Mapping[str, Any], key: str, allowed: Sequence[str]) -> str:
    v = params[key]
    if v not in allowed:
        raise ConfigError(f"relu: {key} must be one of {tuple(allowed)}, got {v!r}")
    return str(v)


def _derive(params: dict[str, Any]) -> dict[str, Any]:
    out = dict(params)
    _choice(out, "mode", MODES)
    data = _choice(out, "data", ("synthetic", "digits"))
    _choice(out, "inputs", ("sphere", "power_law"))
    _choice(out, "labels", ("teacher", "direct"))
    _choice(out, "pretrain", ("closed_form", "gd"))
    _choice(out, "source_task", tuple(LABEL_FUNCTIONS))
    _choice(out, "target_task", tuple(LABEL_FUNCTIONS))
    if data == "digits":
        out["d"] = 64
    width = out["width"]
    if isinstance(width, bool) or not isinstance(width, int) or width < 2 or width % 2:
        raise ConfigError(f"relu: width must be an even integer ≥ 2, got {width!r}")
    spread = out["delta_spread"]
    if isinstance(spread, bool) or not isinstance(spread, int | float) or not spread >= 1:
        raise ConfigError(f"relu: delta_spread must be a number ≥ 1, got {spread!r}")
    if out["mode"] == "measures" and data != "synthetic":
        raise ConfigError("relu: mode 'measures' uses random synthetic instances (data=synthetic)")
    return out


def task_from_params(params: Mapping[str, Any]) -> ReluTask:
    """The task of a resolved cell (synthetic teachers or digits label functions)."""
    if params["data"] == "digits":
        return digits_task(params["source_task"], params["target_task"], labels=params["labels"])
    return synthetic_task(
        int(params["d"]),
        source_norm=params["source_norm"],
        delta_norm=params["delta_norm"],
        inputs=params["inputs"],
        alpha=params["alpha"],
        rng=int(params["task_seed"]),
    )


def _theory(params: Mapping[str, Any]) -> list[dict[str, Any]]:
    mode = params["mode"]
    if mode == "measures":
        return []
    task = task_from_params(params)
    common: dict[str, Any] = {
        "draws": int(params["theory_draws"]),
        "seed": int(params["theory_seed"]),
        "n_test": int(params["n_test"]),
        "delta": float(params["delta"]),
        "constant": float(params["constant"]),
        "ridge": float(params["ridge"]),
    }
    if mode == "sample_complexity":
        return theory_sample_complexity(
            task, [float(params["eps"])], n_max=int(params["n_max"]), **common
        )
    n, width = int(params["n"]), int(params["width"])
    rows = theory_curve(task, [n], **common)
    if params["pretrain"] == "closed_form":  # √(2/m) is the closed form's error, not GD's
        rows.append(
            record("pretrain_error", math.sqrt(2.0 / width), "theory", method="binomial", n=n)
        )
    return rows


def _simulate(
    params: Mapping[str, Any], rngs: Sequence[np.random.Generator]
) -> list[dict[str, Any]]:
    mode = params["mode"]
    if mode == "sample_complexity" or not rngs:
        return []
    common: dict[str, Any] = {
        "n_test": int(params["n_test"]),
        "tol": float(params["tol"]),
        "max_steps": int(params["max_steps"]),
        "delta": float(params["delta"]),
        "constant": float(params["constant"]),
    }
    n, width = int(params["n"]), int(params["width"])
    if mode == "measures":
        return simulate_measures(
            int(params["d"]), n, width, rngs, instances=int(params["instances"]),
            source_norm=float(params["source_norm"]),
            delta_range=(float(params["delta_norm"]) / float(params["delta_spread"]),
                         float(params["delta_norm"])),
            **common,
        )
    return simulate_cell(
        task_from_params(params),
        n,
        width,
        rngs,
        pretrain=params["pretrain"],
        pretrain_samples=int(params["pretrain_samples"]) or None,
        pretrain_steps=int(params["pretrain_steps"]),
        lr_scale=float(params["lr_scale"]),
        ridge=float(params["ridge"]),
        **common,
    )


FAMILY = Family(
    name="relu",
    defaults=DEFAULTS,
    theory=_theory,
    simulate=_simulate,
    derive=_derive,
    description=(
        "Two-layer ReLU network (first layer trained, antisymmetric init) fine-tuned from a "
        "linear source teacher: NTK theory, bounds and numpy training (spec §4–5)."
    ),
)
