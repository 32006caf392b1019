"""The ``sample_complexity`` sweep family: :func:`finetune_bounds.sample_complexity` as cells
(private; spec linear-teachers §2.4, §3.3, §4).

One cell = one task (the ``linear`` family's task parameters: a built-in spectrum, the digits
data or ``spectrum = "files"``), one ``model`` (``"linear"``, ``"deep_linear:L"``, ``"relu"``)
and a list of ε (the inner axis ``eps``). ``theory`` emits n*(ε) of the theory, bound and rate
routes; ``simulate`` the trained route, read off the mean over the cell's seeds (one row per ε
and start, ``seed = 0``: n* is a property of the mean curve, not of one seed). Records:
``quantity = "sample_complexity"``, value n* (``inf``: not reached up to ``n_max``), fields
``eps``, ``start``, ``route``, ``n_max``, ``error_quantity`` and, for the relu theory and
bounds, ``stderr`` (spread of n* over designs). (The error at n* stays in the one call's
answer: as a record field it would split the report's table rows.) Routes that do not apply
to a model emit no row.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ._samples import RouteAnswer, parse_model, sample_complexity
from .errors import ConfigError, InvalidInputError
from .families import Constraint, Family, Interval, Words, axis_values
from .records import record

__all__ = ["FAMILY"]


class _Model(Constraint):
    """A model of :func:`finetune_bounds.sample_complexity`."""

    def accepts(self, value: Any) -> bool:
        try:
            parse_model(value)
        except InvalidInputError:
            return False
        return True

    def describe(self) -> str:
        return "a model: linear, deep_linear:L (L ≥ 1 or inf), relu"


def _linear_parts() -> tuple[dict[str, Any], dict[str, Constraint]]:
    from .linear import _family as lf

    task_keys = [k for k in lf._DEFAULTS if k not in (
        "n", "gd", "gd_tol", "gd_max_iter", "theory_method", "mc_draws", "bound_naive",
        "bound_benign", "bound_head_tail", "design")]
    return ({k: lf._DEFAULTS[k] for k in task_keys},
            {k: lf._CONSTRAINTS[k] for k in task_keys})


_TASK_DEFAULTS, _TASK_CONSTRAINTS = _linear_parts()

DEFAULTS: dict[str, Any] = {
    **_TASK_DEFAULTS,
    "d": 100,
    "model": "linear",  # linear | deep_linear:L | relu
    "eps": 0.05,  # target error level(s) ε (an inner axis for several)
    "routes": "theory bound rate",  # of theory, bound, rate (trained: the cell's seeds)
    "n_max": 0,  # 0: each model's default (see finetune_bounds.sample_complexity)
    "draws": 0,  # Monte Carlo designs of randomised theories (0: default)
    "width": 0,  # hidden width of trained relu networks / deep-linear layers (0: default)
    "grid_points": 10,  # trained scans: geometric grid points before bisection
}

CONSTRAINTS: dict[str, Constraint] = {
    **_TASK_CONSTRAINTS,
    "model": _Model(),
    "eps": Interval("float", 0, None, closed="neither"),
    "routes": Words(("theory", "bound", "rate")),
    "n_max": Interval("int", 0, None),
    "draws": Interval("int", 0, None),
    "width": Interval("int", 0, None),
    "grid_points": Interval("int", 2, None),
}


def _derive(params: dict[str, Any]) -> dict[str, Any]:
    from .linear._family import _validate

    full = {"n": 1, "gd": False, "gd_tol": 1e-8, "gd_max_iter": 1, "theory_method": "auto",
            "mc_draws": 2, "bound_naive": 1.0, "bound_benign": 1.0, "bound_head_tail": 1.0,
            "design": "gaussian", **params}
    out = _validate(full)
    return {k: v for k, v in out.items() if k in DEFAULTS or k not in full}


def _task(params: Mapping[str, Any]) -> Any:
    from .linear._family import build_task

    full = {"design": "gaussian", **params}
    return build_task(full)


def _opt(params: Mapping[str, Any], key: str) -> int | None:
    v = int(params[key])
    return v if v > 0 else None


def _call(params: Mapping[str, Any], routes: Sequence[str], trained: int, seed: int) -> Any:
    eps = [float(e) for e in axis_values(params, "eps")]
    try:
        return sample_complexity(
            _task(params), eps, model=str(params["model"]), routes=tuple(routes),
            trained=trained, n_max=_opt(params, "n_max"), rng=seed,
            draws=_opt(params, "draws"), width=_opt(params, "width"),
            grid_points=int(params["grid_points"]),
        )
    except InvalidInputError as exc:
        raise ConfigError(f"sample_complexity: {exc}") from None


def _rows(answers: Sequence[RouteAnswer], **extra: Any) -> list[dict[str, Any]]:
    rows = []
    for a in answers:
        if not a.available:
            continue
        fields: dict[str, Any] = {"eps": a.eps, "start": a.start, "route": a.route,
                                  "n_max": -1 if a.n_max is None else a.n_max,
                                  "error_quantity": a.quantity}
        if a.n_spread is not None and a.route != "trained":
            fields["stderr"] = a.n_spread
        # linear.sample_complexity's route may change with ε and start (the DE, or the Monte
        # Carlo check where its band straddles ε): one method, "auto" (as a record field the
        # deciding route would split the report's lines and rows; the one call keeps it)
        method = "auto" if a.route == "theory" and a.model == "linear" else a.method
        value = math.inf if a.n is None else float(a.n)
        rows.append(record("sample_complexity", value, a.source, method=method, **fields,
                           **extra))
    return rows


def theory(params: Mapping[str, Any], rng: np.random.Generator) -> list[dict[str, Any]]:
    """n*(ε) of the theory, bound and rate routes (seeded by the cell's content via ``rng``)."""
    routes = str(params["routes"]).replace(",", " ").split()
    seed = int(rng.integers(2**31))
    ans = _call(params, routes, 0, seed)
    return _rows(ans.answers)


def simulate(
    params: Mapping[str, Any], rngs: Sequence[np.random.Generator]
) -> list[dict[str, Any]]:
    """n*(ε) of trained models, read off the mean over ``len(rngs)`` seeds (one row per ε and
    start, ``seed = 0``)."""
    if not rngs:
        return []
    seed = int(rngs[0].integers(2**31))
    ans = _call(params, ("trained",), len(rngs), seed)
    return _rows([a for a in ans.answers if a.route == "trained"], seed=0, seeds=len(rngs))


FAMILY = Family(
    name="sample_complexity",
    defaults=DEFAULTS,
    theory=theory,
    simulate=simulate,
    derive=_derive,
    constraints=CONSTRAINTS,
    axes=("eps",),
    description=("n*(ε) per model (linear, deep_linear:L, relu) and route (theory, bound, rate, "
                 "trained), from θ_S and from scratch: finetune_bounds.sample_complexity"),
    schema_version=2,  # 2: no decided_by field
)
