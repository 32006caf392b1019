"""The ``deep_linear`` family for the sweep/report spine (spec ``linear-teachers.md`` §3).

One cell = one teacher model (θ_S = source_scale·θ₀, θ_T = target_scale·(αθ₀ + εξ) with θ₀,
ξ ~ N(0, I/d), fresh per draw unless ``teachers = "fixed"``), one covariance (isotropic or power
law, diagonal), one n, and one *or several* depths: ``depth`` is an integer, ``inf`` (the TOML
float literal, or the string ``"inf"``), or a string list such as ``"1 2 3 5 7 inf"``. Every
record carries its own ``depth`` field (a float; ``inf`` for the infinite-depth limit), so the
depths of a list share their random draws (smooth curves) and can be used as a plot axis.

Theory rows (source ``theory``/``bound``, no seed), for each depth L:
``risk`` (method ``closed_form``): Monte Carlo mean over ``theory_draws`` draws (fixed seed
``theory_seed``, common to all cells) of the exact closed-form risk (§3.3); ``risk_stderr``;
``coefficient`` (mean c_L, or γ with frozen layers); ``zero_shot_risk``; with
``infinite_reference``: ``risk`` (method ``infinite_depth``) at every finite depth (a flat
reference line); bounds (``bounds``): ``risk`` method ``max_linear_infinite`` — E[max(R_1, R_∞)]
≥ E[R_L] (full fine-tuning) — and ``frozen_floor`` — the population floor
min_γ‖θ_T − γθ_S‖²_Σ, a lower bound for every n (frozen layers, §3.5).

Empirical rows (source ``empirical``, ``seed = i``), for each depth and each route in
``methods``: ``risk`` with method ``closed_form`` | ``cvxpy`` | ``ode`` | ``gd`` (layered
network, batched over seeds), and the distances ``cvxpy_vs_closed_form``,
``ode_vs_closed_form``, ``gd_vs_closed_form`` (‖w − w_cf‖/‖w_cf‖), ``balancedness`` (max_j
‖W_{j+1}ᵀW_{j+1} − W_jW_jᵀ‖_F / ‖θ_S‖^{2/L} after GD), ``gd_steps``, ``gd_converged``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._validation import FloatArray
from ..errors import InvalidInputError
from ..families import Family
from ..records import record
from . import simulate as sim
from .theory import (
    _batch_predictors,
    _batch_risks,
    _frozen_gamma,
    _stderr,
    check_depth,
    solve_predictor,
)

__all__ = ["DEFAULTS", "FAMILY", "parse_depths"]

DEFAULTS: dict[str, Any] = {
    "d": 100,
    "n": 10,
    "depth": 3,
    "alpha": 1.0,
    "epsilon": 0.3,
    "source_scale": 1.0,
    "target_scale": 1.0,
    "teachers": "random",
    "teacher_seed": 0,
    "spectrum": "isotropic",
    "decay": 1.0,
    "noise_variance": 0.0,
    "frozen_layers": 0,
    "theory_draws": 2000,
    "theory_seed": 0,
    "infinite_reference": False,
    "bounds": "max_linear_infinite frozen_floor",
    "methods": "closed_form cvxpy gd",
    "width": 8,
    "init": "balanced",
    "init_scale": 0.1,
    "lr_scale": 0.5,
    "max_steps": 20000,
    "gd_tol": 1e-9,
}

_METHODS = ("closed_form", "cvxpy", "ode", "gd")
_BOUNDS = ("max_linear_infinite", "frozen_floor")


def parse_depths(value: Any) -> list[float]:
    """Depths from a config value: an int, ``inf``, or a string list ``"1 2 3 inf"``/``"1,2"``.

    Raises
    ------
    InvalidInputError
        An empty list, a repeated depth, or any depth < 1 / non-integer.
    """
    if isinstance(value, str):
        parts = [p for p in re.split(r"[\s,;]+", value.strip()) if p]
        if not parts:
            raise InvalidInputError("depth: empty list")
        out = [check_depth(p) for p in parts]
    else:
        out = [check_depth(value)]
    if len(set(out)) != len(out):
        raise InvalidInputError(f"depth: repeated value in {value!r}")
    return out


def _words(value: Any, name: str, allowed: tuple[str, ...]) -> list[str]:
    if not isinstance(value, str):
        raise InvalidInputError(f"{name} must be a string of words from {allowed}, got {value!r}")
    words = [w for w in re.split(r"[\s,;]+", value.strip()) if w]
    bad = [w for w in words if w not in allowed]
    if bad:
        raise InvalidInputError(f"{name}: unknown {bad}; allowed: {allowed}")
    return words


def _spectrum(p: Mapping[str, Any]) -> FloatArray:
    d = int(p["d"])
    if p["spectrum"] == "isotropic":
        return np.ones(d)
    if p["spectrum"] == "power_law":
        lam = np.arange(1, d + 1, dtype=np.float64) ** (-float(p["decay"]))
        return np.asarray(lam / lam.mean())
    raise InvalidInputError(f"spectrum must be 'isotropic' or 'power_law', got {p['spectrum']!r}")


def _checked(params: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a cell (raises InvalidInputError); returns parsed helpers."""
    p = dict(params)
    for key in ("d", "n", "theory_draws", "width", "max_steps"):
        v = p[key]
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
            raise InvalidInputError(f"{key} must be an integer ≥ 1, got {v!r}")
    if p["theory_draws"] < 2:
        raise InvalidInputError("theory_draws must be ≥ 2 (standard error)")
    k = p["frozen_layers"]
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 0:
        raise InvalidInputError(f"frozen_layers must be an integer ≥ 0, got {k!r}")
    for key in ("alpha", "epsilon", "source_scale", "target_scale", "decay", "noise_variance",
                "init_scale", "lr_scale", "gd_tol"):
        v = p[key]
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise InvalidInputError(f"{key} must be a finite number, got {v!r}")
    for key in ("source_scale", "init_scale", "lr_scale", "gd_tol"):
        if p[key] <= 0:
            raise InvalidInputError(f"{key} must be > 0, got {p[key]!r}")
    if p["noise_variance"] < 0 or p["epsilon"] < 0:
        raise InvalidInputError("noise_variance and epsilon must be ≥ 0")
    if p["teachers"] not in ("random", "fixed"):
        raise InvalidInputError(f"teachers must be 'random' or 'fixed', got {p['teachers']!r}")
    if p["init"] not in ("balanced", "pretrained"):
        raise InvalidInputError(f"init must be 'balanced' or 'pretrained', got {p['init']!r}")
    _spectrum(p)
    return {
        "depths": parse_depths(p["depth"]),
        "methods": _words(p["methods"], "methods", _METHODS),
        "bounds": _words(p["bounds"], "bounds", _BOUNDS),
        "lam": _spectrum(p),
    }


def _derive(params: dict[str, Any]) -> dict[str, Any]:
    _checked(params)  # fail at config load, not in a worker
    return params


def _teachers(
    p: Mapping[str, Any], rng: np.random.Generator, b: int
) -> tuple[FloatArray, FloatArray]:
    d = int(p["d"])
    if p["teachers"] == "fixed":
        g = np.random.default_rng(int(p["teacher_seed"]))
        th0 = np.broadcast_to(g.standard_normal(d) / math.sqrt(d), (b, d))
        xi = np.broadcast_to(g.standard_normal(d) / math.sqrt(d), (b, d))
    else:
        th0 = rng.standard_normal((b, d)) / math.sqrt(d)
        xi = rng.standard_normal((b, d)) / math.sqrt(d)
    src = float(p["source_scale"]) * th0
    tgt = float(p["target_scale"]) * (float(p["alpha"]) * th0 + float(p["epsilon"]) * xi)
    return np.asarray(src), np.asarray(tgt)


def _designs(
    p: Mapping[str, Any], lam: FloatArray, tgt: FloatArray, rngs: Sequence[np.random.Generator]
) -> tuple[FloatArray, FloatArray]:
    n = int(p["n"])
    sd = math.sqrt(float(p["noise_variance"]))
    xs, ys = [], []
    for rng in rngs:
        b = tgt.shape[0] if len(rngs) == 1 else 1
        x = rng.standard_normal((b, n, lam.shape[0])) * np.sqrt(lam)
        xs.append(x)
        ys.append(rng.standard_normal((b, n)) * sd if sd > 0 else np.zeros((b, n)))
    x = np.concatenate(xs)
    y = np.einsum("bnd,bd->bn", x, tgt) + np.concatenate(ys)
    return x, y


def _frozen_floor(lam: FloatArray, src: FloatArray, tgt: FloatArray, L: float, k: int) -> float:
    ss = np.sum(lam * src * src, axis=-1)
    st = np.sum(lam * src * tgt, axis=-1)
    tt = np.sum(lam * tgt * tgt, axis=-1)
    g, _ = _frozen_gamma(st / ss, L, k)
    return float(np.mean(np.maximum(tt - 2 * g * st + g * g * ss, 0.0)))


def theory(params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Closed-form rows for one cell (Monte Carlo over designs and teachers; §3.3–3.5)."""
    h = _checked(params)
    p = params
    lam, depths, k = h["lam"], h["depths"], int(p["frozen_layers"])
    n, d, draws = int(p["n"]), int(p["d"]), int(p["theory_draws"])
    rng = np.random.default_rng(int(p["theory_seed"]))
    chunk = max(2, min(draws, (32 * 2**20) // (8 * n * d)))
    finite = [L for L in depths if math.isfinite(L)]
    want_inf = k == 0 and (
        bool(p["infinite_reference"]) or "max_linear_infinite" in h["bounds"]
    )
    ref_depths = [1.0, math.inf] if want_inf else []
    parts: dict[str, list[FloatArray]] = {"risk": [], "c": [], "ref": [], "zs": [], "floor": []}
    # teachers first, all at once: the same teacher draws in every cell (common random numbers
    # across n, scales, depths), independent of how the designs are chunked
    src_all, tgt_all = _teachers(p, rng, draws)
    done = 0
    while done < draws:
        b = min(chunk, draws - done)
        src, tgt = src_all[done:done + b], tgt_all[done:done + b]
        x, y = _designs(p, lam, tgt, [rng])
        yy = y if float(p["noise_variance"]) > 0 else None
        out = _batch_risks(lam, src, tgt, x, depths, y=yy, frozen_layers=k)
        parts["risk"].append(out["risk"])
        parts["c"].append(out["c"])
        parts["zs"].append(out["zero_shot"])
        if ref_depths:
            parts["ref"].append(_batch_risks(lam, src, tgt, x, ref_depths, y=yy)["risk"])
        if k > 0:
            parts["floor"].append(
                np.array([_frozen_floor(lam, src, tgt, L, k) * b for L in depths])
            )
        done += b
    risk = np.concatenate(parts["risk"])
    coef = np.concatenate(parts["c"])
    rows: list[dict[str, Any]] = []
    zs = float(np.mean(np.concatenate(parts["zs"])))
    se = _stderr(risk)
    for j, L in enumerate(depths):
        f = {"depth": L, "n": n, "method": "closed_form"}
        rows.append(record("risk", float(risk[:, j].mean()), "theory", **f))
        rows.append(record("risk_stderr", float(se[j]), "theory", **f))
        rows.append(record("coefficient", float(coef[:, j].mean()), "theory", **f))
        rows.append(record("zero_shot_risk", zs, "theory", **f))
    if ref_depths:
        ref = np.concatenate(parts["ref"])
        bound = np.maximum(ref[:, 0], ref[:, 1])
        for L in finite:
            f = {"depth": L, "n": n}
            if p["infinite_reference"]:
                rows.append(
                    record("risk", float(ref[:, 1].mean()), "theory", method="infinite_depth", **f)
                )
            if "max_linear_infinite" in h["bounds"]:
                rows.append(
                    record("risk", float(bound.mean()), "bound", method="max_linear_infinite", **f)
                )
    if k > 0 and "frozen_floor" in h["bounds"]:
        floors = np.sum(np.stack(parts["floor"]), axis=0) / draws
        for j, L in enumerate(depths):
            rows.append(
                record("risk", float(floors[j]), "bound", method="frozen_floor", depth=L, n=n)
            )
    return rows


def _risk(lam: FloatArray, w: FloatArray, tgt: FloatArray) -> float:
    return float(np.sum(lam * (w - tgt) ** 2))


def _rel(a: FloatArray, b: FloatArray) -> float:
    nb = float(np.linalg.norm(b))
    return float(np.linalg.norm(a - b)) / (nb if nb > 0 else 1.0)


def simulate(
    params: Mapping[str, Any], rngs: Sequence[np.random.Generator]
) -> list[dict[str, Any]]:
    """Per-seed rows: sampled teachers and design from ``rngs[i]``; every route in ``methods``."""
    h = _checked(params)
    p = params
    lam, depths, methods = h["lam"], h["depths"], h["methods"]
    k, n = int(p["frozen_layers"]), int(p["n"])
    bsz = len(rngs)
    if bsz == 0:
        return []
    pairs = [_teachers(p, rng, 1) for rng in rngs]
    src = np.concatenate([a for a, _ in pairs])
    tgt = np.concatenate([b for _, b in pairs])
    x, y = _designs(p, lam, tgt, rngs)
    rows: list[dict[str, Any]] = []
    w_all = _batch_predictors(src, x, y, depths, frozen_layers=k)  # (B, depths, d)
    for j, L in enumerate(depths):
        f = {"depth": L, "n": n}
        w_cf = w_all[:, j]  # the closed-form limit every route is compared with
        if "closed_form" in methods:
            for i in range(bsz):
                rows.append(record("risk", _risk(lam, w_cf[i], tgt[i]), "empirical", seed=i,
                                   method="closed_form", **f))
        for route in ("cvxpy", "ode"):
            if route not in methods or k > 0 or (route == "ode" and math.isinf(L)):
                continue
            for i in range(bsz):
                w = solve_predictor(x[i], y[i], src[i], L, route, strict=True).predictor
                rows.append(record("risk", _risk(lam, w, tgt[i]), "empirical", seed=i,
                                   method=route, **f))
                rows.append(record(f"{route}_vs_closed_form", _rel(w, w_cf[i]), "empirical",
                                   seed=i, method=route, **f))
        if "gd" in methods and math.isfinite(L) and L > k:
            rows += _gd_rows(p, lam, src, tgt, x, y, int(L), k, w_cf, rngs, f)
    return rows


def _gd_rows(
    p: Mapping[str, Any],
    lam: FloatArray,
    src: FloatArray,
    tgt: FloatArray,
    x: FloatArray,
    y: FloatArray,
    depth: int,
    k: int,
    w_cf: FloatArray,
    rngs: Sequence[np.random.Generator],
    f: Mapping[str, Any],
) -> list[dict[str, Any]]:
    width = int(p["width"])
    if p["init"] == "balanced":
        weights = sim.balanced_weights(src, depth, width)
    else:
        pre = [
            sim.pretrain(src[i], depth, width, rng=rngs[i], init_scale=float(p["init_scale"]))
            for i in range(len(rngs))
        ]
        weights = tuple(
            np.concatenate([r.weights[j] for r in pre]) for j in range(depth)
        )
    res = sim.train(
        weights, x, y, frozen_layers=k, lr_scale=float(p["lr_scale"]),
        target_norm=np.linalg.norm(w_cf, axis=1), max_steps=int(p["max_steps"]),
        tol=float(p["gd_tol"]),
    )
    scale = np.linalg.norm(src, axis=1) ** (2.0 / depth)
    rows = []
    for i in range(len(rngs)):
        g = {"seed": i, "method": "gd", **f}
        w = res.predictor[i]
        rows += [
            record("risk", _risk(lam, w, tgt[i]), "empirical", **g),
            record("gd_vs_closed_form", _rel(w, w_cf[i]), "empirical", **g),
            record("balancedness", float(res.balancedness[i] / scale[i]), "empirical", **g),
            record("gd_steps", float(res.steps[i]), "empirical", **g),
            record("gd_converged", float(res.converged[i]), "empirical", **g),
        ]
    return rows


FAMILY = Family(
    name="deep_linear",
    defaults=DEFAULTS,
    theory=theory,
    simulate=simulate,
    derive=_derive,
    description=(
        "Depth-L linear networks fine-tuned from balanced pretrained weights (spec §3): "
        "closed form, cvxpy implicit bias, gradient-flow ODE and layered GD"
    ),
)
