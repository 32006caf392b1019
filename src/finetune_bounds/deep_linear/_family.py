"""The ``deep_linear`` family for the sweep/report spine (spec ``linear-teachers.md`` §3).

One cell = one teacher model (θ_S = source_scale·θ₀, θ_T = target_scale·(αθ₀ + εξ) with θ₀,
ξ ~ N(0, I/d), fresh per draw unless ``teachers = "fixed"``), one covariance (isotropic or power
law, diagonal), one n, and one *or several* depths: ``depth`` is an integer ≥ 1 or ``inf`` (the
TOML float literal), or an inner axis ``[axes] depth = [1, 2, 3, 5, 7, inf]``. Every record
carries its own ``depth`` field (a float; ``inf`` for the infinite-depth limit), so the depths of
an axis share their random draws (smooth curves) and can be used as a plot axis.

Given tasks: ``teachers = "files"`` (Σ, θ_S, θ_T from .npy/.csv files: ``covariance_file`` or
``spectrum_file`` [+ ``eigenvectors_file``], ``source_file``, ``target_file``; ``files_sha256``
is filled in from their contents) and ``teachers = "linear_example"`` (the task of
``finetune-bounds linear --example NAME``, ``linear_example = NAME``) fix θ_S, θ_T and Σ; the
cell works in Σ's eigenbasis (θ ↦ Vᵀθ, x ~ N(0, Λ)), which is exact because the risk, the closed
form and layered GD from balanced weights are rotation-equivariant. ``EXAMPLES`` holds the
``--example`` settings of the CLI as parameters.

Theory rows (source ``theory``/``bound``, no seed), for each depth L:
``risk`` (method ``closed_form``): Monte Carlo mean over ``theory_draws`` draws of the exact
closed-form risk (§3.3), with its standard error in the field ``stderr``. The draws come from
the fixed seed ``theory_seed``, common to all cells, on purpose (common random numbers: curves
over a grid of n or of scales are smooth), not from the cell's theory stream.
``coefficient`` (mean c_L, or γ with frozen layers); ``zero_shot``; with
``infinite_reference``: ``risk`` (method ``infinite_depth``) at every finite depth (a flat
reference line); bounds (``bounds``): ``risk`` method ``max_linear_infinite`` — E[max(R_1, R_∞)]
≥ E[R_L] (full fine-tuning) — and ``frozen_floor`` — the population floor
min_γ‖θ_T − γθ_S‖²_Σ, a lower bound for every n (frozen layers, §3.5).

Empirical rows (source ``empirical``, ``seed = i``), for each depth and each route in
``methods``: ``risk`` with method ``closed_form`` | ``cvxpy`` | ``ode`` | ``gd`` (layered
network, batched over seeds), and the distances ``cvxpy_vs_closed_form``,
``ode_vs_closed_form``, ``gd_vs_closed_form`` (‖w − w_cf‖/‖w_cf‖), ``balancedness`` (max_j
‖W_{j+1}ᵀW_{j+1} − W_jW_jᵀ‖_F / ‖θ_S‖^{2/L} after GD), ``iterations`` (GD steps) and
``converged`` (0/1: its mean over seeds is the fraction of runs that reached the tolerance).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._limited import Limited
from .._numerics import power_law_spectrum
from .._numerics import stderr as _stderr
from .._task_files import FILE_PARAMS, Digest, FileName, cached_task, load_linear_files
from .._task_files import resolve_files as _resolve_files
from .._validation import FloatArray
from ..errors import ConfigError
from ..families import Boolean, Constraint, Family, Interval, Options, Words, axis_values
from ..records import record
from ..threads import small_blas
from . import simulate as sim
from .theory import (
    _batch_predictors,
    _batch_risks,
    _frozen_gamma,
    check_depth,
    solve_predictor,
)

__all__ = ["DEFAULTS", "EXAMPLES", "FAMILY", "task_from_params"]

DEFAULTS: dict[str, Any] = {
    "d": 100,
    "n": 10,
    "depth": 3,
    "alpha": 1.0,
    "epsilon": 0.3,
    "source_scale": 1.0,
    "target_scale": 1.0,
    "teachers": "random",  # random | fixed | files | linear_example
    "teacher_seed": 0,
    # teachers = "linear_example": Σ, θ_S, θ_T of a built-in linear task (power_law | spiked |
    # digits, finetune_bounds.linear.example_task); teachers = "files": from .npy/.csv files.
    # Both fix θ_S, θ_T (times source_scale, target_scale) and Σ (spectrum, decay, alpha,
    # epsilon, teacher_seed unused), d follows them, and a non-diagonal Σ = VΛVᵀ is worked in
    # its eigenbasis (θ ↦ Vᵀθ, x ~ N(0, Λ)): risks, c_L and layered GD are rotation-equivariant.
    # Unused ones are dropped from a cell (other cells keep their content hash).
    "linear_example": "",
    "covariance_file": "",
    "spectrum_file": "",
    "eigenvectors_file": "",
    "source_file": "",
    "target_file": "",
    "files_sha256": "",
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


_POS = Interval("float", 0, None, closed="neither")
_FINITE = Interval("float")
_COUNT = Interval("int", 1, None)

#: every parameter's admissible values, checked when a config loads (see families.Interval)
_CONSTRAINTS: dict[str, Constraint] = {
    "d": Limited(_COUNT, "d", "d"),
    "n": Limited(_COUNT, "n", "n"),
    "depth": Interval("int", 1, None) | Options(math.inf),
    "alpha": _FINITE,
    "epsilon": Interval("float", 0, None),
    "source_scale": _POS,
    "target_scale": _FINITE,
    "teachers": Options("random", "fixed", "files", "linear_example"),
    "linear_example": Options("", "power_law", "spiked", "digits"),
    **{k: FileName() for k in FILE_PARAMS},
    "files_sha256": Digest(),
    "teacher_seed": Interval("int", 0, None),
    "spectrum": Options("isotropic", "power_law"),
    "decay": Interval("float", 0, None),
    "noise_variance": Interval("float", 0, None),
    "frozen_layers": Interval("int", 0, None),
    "theory_draws": Limited(Interval("int", 2, None), "draws", "theory_draws"),
    "theory_seed": Interval("int", 0, None),
    "infinite_reference": Boolean(),
    "bounds": Words(_BOUNDS, allow_empty=True),
    "methods": Words(_METHODS, allow_empty=True),
    "width": Limited(_COUNT, "width", "width"),
    "init": Options("balanced", "pretrained"),
    "init_scale": _POS,
    "lr_scale": _POS,
    "max_steps": Limited(_COUNT, "steps", "max_steps"),
    "gd_tol": _POS,
}


def _words(value: str) -> list[str]:
    return value.replace(",", " ").split()


#: ``finetune-bounds deep-linear --example NAME`` as family parameters
EXAMPLES: dict[str, dict[str, Any]] = {
    # spec §3.4: Σ = I, d = 100, θ_S = θ₀, θ_T = 2θ₀ + 0.3ξ with θ₀, ξ ~ N(0, I/d) (seed 0)
    "reference": {"d": 100, "spectrum": "isotropic", "teachers": "fixed", "teacher_seed": 0,
                  "alpha": 2.0, "epsilon": 0.3, "source_scale": 1.0, "target_scale": 1.0},
    # the tasks of finetune-bounds linear --example NAME (d = 200, 200, 64)
    "power_law": {"teachers": "linear_example", "linear_example": "power_law"},
    "spiked": {"teachers": "linear_example", "linear_example": "spiked"},
    "digits": {"teachers": "linear_example", "linear_example": "digits"},
}

_FIXED = ("files", "linear_example")  # teachers that also fix Σ


def _load_example(files: Mapping[str, str]) -> Any:
    from ..linear import example_task

    return example_task(files["linear_example"])


def _given_task(p: Mapping[str, Any]) -> Any:
    """The LinearTask of teachers = files | linear_example (cached per process)."""
    if p["teachers"] == "files":
        return cached_task(p, FILE_PARAMS, load_linear_files)
    return cached_task(p, ("linear_example",), _load_example)


def _eigen_problem(p: Mapping[str, Any]) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(λ, Vᵀθ_S, Vᵀθ_T) of teachers = files | linear_example: the problem in Σ's eigenbasis."""
    task = _given_task(p)
    cov = task.covariance
    return (np.asarray(cov.eigenvalues), cov.to_eigenbasis(task.source),
            cov.to_eigenbasis(task.target))


def task_from_params(params: Mapping[str, Any]) -> Any:
    """The fixed task of a resolved cell as a :class:`~finetune_bounds.problems.LinearTask` in
    the family's coordinates (Σ diagonal), or None when the teachers are random (drawn per
    seed)."""
    from ..problems import Covariance, LinearTask

    if params["teachers"] == "random":
        return None
    lam = _spectrum(params)
    src, tgt = _teachers(params, np.random.default_rng(0), 1)  # fixed: the rng is not used
    return LinearTask(Covariance.from_spectrum(lam), src[0], tgt[0],
                      float(params["noise_variance"]))


def _spectrum(p: Mapping[str, Any]) -> FloatArray:
    if p["teachers"] in _FIXED:
        return _eigen_problem(p)[0]
    d = int(p["d"])
    if p["spectrum"] == "isotropic":
        return np.ones(d)
    return power_law_spectrum(d, float(p["decay"]))


def _depths(params: Mapping[str, Any]) -> list[float]:
    return [check_depth(v) for v in axis_values(params, "depth")]


def _checked(params: Mapping[str, Any]) -> dict[str, Any]:
    """Parsed helpers of a cell (values were checked against the constraints at load time)."""
    return {
        "depths": _depths(params),
        "methods": _words(params["methods"]),
        "bounds": _words(params["bounds"]),
        "lam": _spectrum(params),
    }


def _derive(params: dict[str, Any]) -> dict[str, Any]:
    """Cross-parameter checks (at config load, never in a worker)."""
    k = params["frozen_layers"]
    finite = [L for L in _depths(params) if math.isfinite(L)]
    if k > 0 and any(L <= k for L in finite):
        raise ConfigError(
            f"deep_linear: frozen_layers = {k} needs every finite depth > {k}, got {finite}"
        )
    out, task = _resolve_files(
        params, family="deep_linear", switch="teachers", keys=FILE_PARAMS, load=load_linear_files
    )
    example = out.get("linear_example", "")
    if out["teachers"] == "linear_example":
        if not example:
            raise ConfigError(
                "deep_linear: teachers = 'linear_example' needs linear_example = 'power_law', "
                "'spiked' or 'digits'"
            )
        task = _load_example(out)
    elif example:
        raise ConfigError(
            f"deep_linear: linear_example = {example!r} set but teachers = "
            f"{out['teachers']!r} (it needs teachers = 'linear_example')"
        )
    else:
        out.pop("linear_example", None)
    if task is not None:
        out["d"] = task.dim  # d follows the given task
    return out


def _teachers(
    p: Mapping[str, Any], rng: np.random.Generator, b: int
) -> tuple[FloatArray, FloatArray]:
    d = int(p["d"])
    if p["teachers"] in _FIXED:
        _, s0, t0 = _eigen_problem(p)
        src = float(p["source_scale"]) * np.broadcast_to(s0, (b, s0.shape[0]))
        tgt = float(p["target_scale"]) * np.broadcast_to(t0, (b, t0.shape[0]))
        return np.asarray(src), np.asarray(tgt)
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


@small_blas
def theory(params: Mapping[str, Any], rng: np.random.Generator) -> list[dict[str, Any]]:
    """Closed-form rows for one cell (Monte Carlo over designs and teachers; §3.3–3.5).

    ``rng`` (the cell's theory stream) is not used: the draws come from ``theory_seed`` so that
    every cell shares them (common random numbers across a grid)."""
    h = _checked(params)
    p = params
    lam, depths, k = h["lam"], h["depths"], int(p["frozen_layers"])
    n, d, draws = int(p["n"]), int(p["d"]), int(p["theory_draws"])
    rng = np.random.default_rng(int(p["theory_seed"]))  # common to all cells, on purpose
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
    se, se_c = _stderr(risk, axis=0), _stderr(coef, axis=0)
    zs_se = float(_stderr(np.concatenate(parts["zs"])))
    for j, L in enumerate(depths):
        f = {"depth": L, "n": n, "method": "closed_form"}
        rows.append(record("risk", float(risk[:, j].mean()), "theory", stderr=float(se[j]), **f))
        rows.append(
            record("coefficient", float(coef[:, j].mean()), "theory", stderr=float(se_c[j]), **f)
        )
        rows.append(record("zero_shot", zs, "theory", stderr=zs_se, **f))
    if ref_depths:
        ref = np.concatenate(parts["ref"])
        bound = np.maximum(ref[:, 0], ref[:, 1])
        for L in finite:
            f = {"depth": L, "n": n}
            if p["infinite_reference"]:
                rows.append(record("risk", float(ref[:, 1].mean()), "theory",
                                   method="infinite_depth", stderr=float(_stderr(ref[:, 1])), **f))
            if "max_linear_infinite" in h["bounds"]:
                rows.append(record("risk", float(bound.mean()), "bound",
                                   method="max_linear_infinite", stderr=float(_stderr(bound)), **f))
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


@small_blas
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
            record("iterations", float(res.steps[i]), "empirical", **g),
            record("converged", float(res.converged[i]), "empirical", **g),
        ]
    return rows


FAMILY = Family(
    name="deep_linear",
    defaults=DEFAULTS,
    theory=theory,
    simulate=simulate,
    derive=_derive,
    constraints=_CONSTRAINTS,
    axes=("depth",),
    description=(
        "Depth-L linear networks fine-tuned from balanced pretrained weights (spec §3): "
        "closed form, cvxpy implicit bias, gradient-flow ODE and layered GD"
    ),
)
