"""The ``nonlinear`` family as the sweep sees it (spec ``diagonal-networks.md`` §5, last item).

One cell = one task (``digits_cnn``: a small CNN pretrained on the digits 0–7 and fine-tuned on
8 vs 9; ``modular``: a small Transformer pretrained on one modular operation and fine-tuned on a
related one) and one setting of the three pretraining-initialisation knobs (``kappa``, ``scale``,
``readout_scale``; see :mod:`._common`), with the fine-tuning sample size ``n`` as inner axis.

- empirical (source ``empirical``, per seed): ``test_error`` of the fine-tuned network (field
  ``start = "pretrained"``) and, with ``scratch = true``, of the same network trained from its
  knob-scaled initialisation on the fine-tuning task alone (``start = "scratch"``); per seed
  also ``pretrain_test_error`` (the pretraining task's test error, n-independent) and the
  fine-tuning ``train_loss``.
- theory (source ``theory``, with ``analogue = true``): ``diagonal_error``, the exact error of
  the diagonal linear network whose initialisation is the analogue of the knobs (method
  ``diagonal analogue``) at α = n / ``analogue_d``: relative scale λ_PT = tanh(2 ln κ) (early
  layer ×κ, later ×1/κ: w² ∝ κ², v² ∝ κ⁻², so λ = (κ² − κ⁻²)/(κ² + κ⁻²)), taken at a fixed
  absolute scale as the theory compares them, c_PT = ``analogue_c0`` · scale², readout
  γ_FT = ``analogue_gamma0`` · readout_scale, on the fine-tuning task the theory's headline
  claim is about: a sparse subset of the pretraining features (ω = ``analogue_omega`` = 1,
  ρ_FT = ``analogue_rho_ft`` = 0.01, ρ_PT = 0.1; spec §4, regime IV). With denser tasks
  (ρ_FT ≳ ρ_PT/2) the analogue itself favours κ ≥ 1. Its units are not the networks' (a
  squared error of β, not a classification error): it says which knob setting the theory
  expects to win, not by how much.

Randomness: one pretraining per (task, κ, scale, steps, seed index) is shared by every cell that
needs it (:func:`~finetune_bounds.sweep.cache.shared_step`, keyed without n or the readout
scale); the fine-tuning samples of seed *i* at size *n* come from a stream keyed by (task, i, n)
alone, so different knob values are compared on the same samples (a paired design).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._limited import Limited
from ..families import Boolean, Constraint, Family, Interval, Options, axis_values
from ..records import record
from ._common import Knobs, TorchUnavailableError

__all__ = ["DEFAULTS", "FAMILY", "TASKS", "analogue_settings", "task_module", "winners"]

#: task name → module implementing pretrain / finetune / scratch
TASKS: dict[str, str] = {
    "digits_cnn": "finetune_bounds.nonlinear._digits_cnn",
    "modular": "finetune_bounds.nonlinear._modular",
}

DEFAULTS: dict[str, Any] = {
    "task": "digits_cnn",
    "n": 50,  # fine-tuning samples (inner axis)
    "kappa": 1.0,  # relative layer scale: early ×κ, later ×1/κ (κ < 1: smaller early layers)
    "scale": 1.0,  # global multiplier of the pretraining init
    "readout_scale": 1.0,  # multiplier of the re-initialised readout
    "scratch": False,  # also train from the (knob-scaled) init on the fine-tuning task alone
    "pretrain_steps": 0,  # 0: the task's default
    "finetune_steps": 0,  # 0: the task's default
    "analogue": True,  # theory rows: the diagonal-network analogue
    "analogue_d": 1000,  # α = n / analogue_d
    "analogue_c0": 1e-3,  # c_PT at κ = scale = 1
    "analogue_gamma0": 0.01,  # γ_FT at readout_scale = 1 (regime IV needs γ_FT ≈ 0)
    "analogue_omega": 1.0,  # the fine-tuning task reuses a subset of the PT features …
    "analogue_rho_ft": 0.01,  # … a tenth of them (ρ_PT = 0.1): the regime-IV task of spec §4
}

_KNOB = Interval("float", 0.0, 1e6, closed="right")
_CONSTRAINTS: dict[str, Constraint] = {
    "task": Options(*TASKS),
    "n": Limited(Interval("int", 1, None), "n", "n"),
    "kappa": _KNOB,
    "scale": _KNOB,
    "readout_scale": Interval("float", 0.0, 1e6),
    "scratch": Boolean(),
    "pretrain_steps": Limited(Interval("int", 0, None), "steps", "pretrain_steps"),
    "finetune_steps": Limited(Interval("int", 0, None), "steps", "finetune_steps"),
    "analogue": Boolean(),
    "analogue_d": Limited(Interval("int", 1, None), "d", "analogue_d"),
    "analogue_c0": Interval("float", 0.0, 1e6, closed="right"),
    "analogue_gamma0": Interval("float", 0.0, 1e6),
    "analogue_omega": Interval("float", 0.0, 1.0),
    "analogue_rho_ft": Interval("float", 0.0, 1.0, closed="right"),
}


def task_module(name: str) -> Any:
    """The module implementing task ``name`` (imports torch lazily, inside its functions)."""
    return importlib.import_module(TASKS[name])


def analogue_settings(kappa: float, scale: float, readout_scale: float, *,
                      c0: float = 1e-3, gamma0: float = 0.01) -> dict[str, float]:
    """The diagonal-network initialisation analogous to the knobs (see the module docstring).

    >>> s = analogue_settings(1.0, 2.0, 1.0)
    >>> s["lambda_pt"], s["c_pt"], s["gamma_ft"]
    (0.0, 0.004, 0.01)
    >>> round(analogue_settings(0.5, 1.0, 1.0)["lambda_pt"], 4)  # tanh(2 ln ½)
    -0.8824
    """
    k2 = kappa * kappa
    lam = (k2 - 1.0 / k2) / (k2 + 1.0 / k2)
    lam = float(np.clip(lam, -0.999999, 0.999999))  # spec §6: keep λ_PT off ±1
    c_pt = c0 * scale * scale
    return {"lambda_pt": lam, "c_pt": float(c_pt), "gamma_ft": float(gamma0 * readout_scale)}


def _derive(params: dict[str, Any]) -> dict[str, Any]:
    """At config load (main process): fail once, in one line, when PyTorch is missing."""
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        raise TorchUnavailableError(
            "the nonlinear family needs PyTorch: pip install \"finetune-bounds[torch]\""
        )
    return params


def _knobs(params: Mapping[str, Any]) -> Knobs:
    return Knobs(float(params["kappa"]), float(params["scale"]), float(params["readout_scale"]))


def _steps(params: Mapping[str, Any], key: str) -> dict[str, int]:
    v = int(params[key])
    return {"steps": v} if v > 0 else {}


def _theory(params: Mapping[str, Any], rng: np.random.Generator) -> list[dict[str, Any]]:
    if not params["analogue"]:
        return []
    from ..diagonal import error_curve

    ns = [int(n) for n in axis_values(params, "n")]
    s = analogue_settings(float(params["kappa"]), float(params["scale"]),
                          float(params["readout_scale"]), c0=float(params["analogue_c0"]),
                          gamma0=float(params["analogue_gamma0"]))
    alphas = [n / int(params["analogue_d"]) for n in ns]
    curve = error_curve(alphas, omega=float(params["analogue_omega"]),
                        rho_ft=float(params["analogue_rho_ft"]), rho_pt=0.1,
                        lambda_pt=s["lambda_pt"], c_pt=s["c_pt"], gamma_ft=s["gamma_ft"])
    return [
        record("diagonal_error", float(e), "theory", method="diagonal analogue", n=n,
               alpha=float(a), lambda_pt=s["lambda_pt"], c_pt=s["c_pt"], gamma_ft=s["gamma_ft"])
        for n, a, e in zip(ns, alphas, curve.error, strict=True)
    ]


def _seed(name: str, key: Mapping[str, Any]) -> int:
    from ..sweep.cache import step_rng

    return int(step_rng(name, key).integers(2**31 - 1))


def _simulate(
    params: Mapping[str, Any], rngs: Sequence[np.random.Generator]
) -> list[dict[str, Any]]:
    from ..sweep.cache import shared_step

    task = str(params["task"])
    mod = task_module(task)
    knobs = _knobs(params)
    ns = [int(n) for n in axis_values(params, "n")]
    rows: list[dict[str, Any]] = []
    for i in range(len(rngs)):
        key = {"task": task, "kappa": knobs.kappa, "scale": knobs.scale, "seed": i,
               "steps": int(params["pretrain_steps"])}
        pt_seed = _seed("nonlinear_pretrain", key)
        pt_knobs = Knobs(knobs.kappa, knobs.scale)

        def run(seed: int = pt_seed, kn: Knobs = pt_knobs) -> Any:
            return mod.pretrain(kn, seed, **_steps(params, "pretrain_steps"))

        state = shared_step("nonlinear_pretrain", key, run)
        rows.append(record("pretrain_test_error", float(state["pretrain_test_error"]),
                           "empirical", seed=i, n=ns[0]))
        for n in ns:
            ft_seed = _seed("nonlinear_finetune", {"task": task, "seed": i, "n": n})
            res = mod.finetune(state, n, knobs, ft_seed, **_steps(params, "finetune_steps"))
            rows.append(record("test_error", res.test_error, "empirical", seed=i, n=n,
                               start="pretrained"))
            rows.append(record("train_loss", res.train_loss, "empirical", seed=i, n=n,
                               start="pretrained"))
            if params["scratch"]:
                sc = mod.scratch(n, knobs, ft_seed, **_steps(params, "finetune_steps"))
                rows.append(record("test_error", sc.test_error, "empirical", seed=i, n=n,
                                   start="scratch"))
    for r in rows:
        if not math.isfinite(r["value"]):  # pragma: no cover - the task modules raise first
            raise ValueError(f"non-finite {r['quantity']} at n = {r.get('n')}")
    return rows


FAMILY = Family(
    name="nonlinear",
    defaults=DEFAULTS,
    theory=_theory,
    simulate=_simulate,
    derive=_derive,
    constraints=_CONSTRAINTS,
    axes=("n",),
    description=(
        "Real nonlinear networks (PyTorch, CPU): a CNN on digits and a Transformer on modular "
        "arithmetic, pretrained from an initialisation shaped by the relative layer scale κ, a "
        "global scale and the readout re-init scale, then fine-tuned on n samples; beside it the "
        "diagonal-network analogue's error (diagonal-networks spec §5)."
    ),
)


def winners(frame: Any, knob: str) -> Any:
    """Which value of ``knob`` wins, per task and n: the trained networks' lowest mean test
    error (fine-tuned), its margin over the runner-up in standard errors, and the value the
    diagonal analogue predicts (lowest ``diagonal_error``).

    Parameters
    ----------
    frame : pandas.DataFrame
        Records of the ``nonlinear`` family (e.g. ``run(...).frame`` or a store's frame) over
        several values of ``knob``.
    knob : {"kappa", "scale", "readout_scale"}

    Returns
    -------
    pandas.DataFrame
        One row per (task, n): ``best`` (knob value), ``error`` (its mean), ``runner_up``,
        ``margin_se`` ((runner-up − best) / √(s.e.² + s.e.²)), ``predicted`` (the analogue's
        best value), ``agrees`` (best == predicted).
    """
    import pandas as pd

    from .._validation import check_choice

    check_choice(knob, "knob", ("kappa", "scale", "readout_scale"))
    emp = frame[(frame["quantity"] == "test_error") & (frame["source"] == "empirical")]
    if "start" in emp:
        emp = emp[emp["start"] == "pretrained"]
    th = frame[frame["quantity"] == "diagonal_error"]
    rows = []
    for (task, n), g in emp.groupby(["task", "n"]):
        s = g.groupby(knob)["value"].agg(["mean", "std", "count"])
        s["se"] = s["std"] / np.sqrt(s["count"])
        s = s.sort_values("mean")
        best, second = s.iloc[0], s.iloc[1] if len(s) > 1 else None
        margin = math.nan
        if second is not None:
            den = math.hypot(float(best["se"]), float(second["se"]))
            margin = (float(second["mean"]) - float(best["mean"])) / den if den > 0 else math.inf
        t = th[(th["task"] == task) & (th["n"] == n)]
        predicted = float(t.loc[t["value"].idxmin(), knob]) if len(t) else math.nan
        rows.append({"task": task, "n": int(n), "best": float(s.index[0]),
                     "error": float(best["mean"]),
                     "runner_up": float(s.index[1]) if second is not None else math.nan,
                     "margin_se": margin, "predicted": predicted,
                     "agrees": bool(float(s.index[0]) == predicted)})
    return pd.DataFrame(rows)
