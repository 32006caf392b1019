"""Hard edges of the diagonal-network family (issue 13).

Every public callable of ``finetune_bounds.diagonal`` is called with one bad value at a time
(the fuzz); bad input must raise a :class:`FinetuneBoundsError`, never a raw numpy/Python
exception, a RuntimeWarning, or a result with NaN in it. Then: resource limits
(:mod:`finetune_bounds.limits`), and Hypothesis on the theory and GD at extreme scales.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import time
import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from _fuzz import BAD_VALUES, call_with_bad_value, fuzz_cases, fuzz_params, public_functions
from finetune_bounds import diagonal, limits
from finetune_bounds.errors import (
    ConvergenceError,
    FinetuneBoundsError,
    InvalidInputError,
    ResourceLimitError,
    SolverError,
)

D = 6
N = 3


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, D)) / math.sqrt(D)
    return x, x @ np.r_[1.0, -0.5, np.zeros(D - 2)]


_THEORY: dict[str, Any] = {
    "omega": 0.5, "lambda_pt": 0.0, "gamma_ft": 0.0, "c_pt": 1e-3, "rho_pt": 0.1,
    "rho_ft": 0.1, "a_pt": 1.0, "noise_variance": 0.0, "pretraining_alpha": None,
    "tol": 1e-8, "max_iter": 100, "grid_points": 101, "pretraining_nodes": 21,
}
_TEACHERS: dict[str, Any] = {"omega": 0.5, "rho_pt": 0.5, "rho_ft": 0.5, "a_pt": 1.0,
                             "pt_amplitude": "constant"}
_GD: dict[str, Any] = {"lr": 1.0, "rapidity": 0.5, "tol": 1e-4, "max_steps": 100,
                       "strict": False}


def _baselines() -> dict[str, tuple[Any, dict[str, Any]]]:
    x, y = _data()
    beta = np.r_[1.0, -2.0, np.zeros(D - 2)]
    w = np.full(D, 0.1)
    sim = {"alpha": 0.5, "d": D, "lambda_pt": 0.0, "c_pt": 1e-2, **_TEACHERS,
           "noise_variance": 0.0, "seeds": 2, **_GD, "keep_data": False}
    return {
        "DiagonalNetwork": (diagonal.DiagonalNetwork,
                            {"w_plus": w, "w_minus": w, "v_plus": w, "v_minus": w}),
        "c_finetune": (diagonal.c_finetune,
                       {"beta_pt": beta, "c_pt": 1e-3, "lambda_pt": 0.0, "gamma_ft": 0.0}),
        "classify_regime": (diagonal.classify_regime, {"ell": 1.2, "pd": -0.2}),
        "ell_order": (diagonal.ell_order, {"beta_ft": 1.0, "c_ft": 1.0}),
        "error_curve": (diagonal.error_curve, {"alphas": [0.3, 0.5], "strict": True, **_THEORY}),
        "finetune_init": (diagonal.finetune_init,
                          {"state": diagonal.pretrained_state(beta, 1e-3, 0.0), "gamma_ft": 0.0}),
        "generalization_error": (diagonal.generalization_error,
                                 {"alpha": 0.3, "strict": True, **_THEORY}),
        "gradient_descent": (diagonal.gradient_descent,
                             {"network": diagonal.pretraining_init(D, 1e-2, 0.0), "X": x, "y": y,
                              "lr": 1.0, "rapidity": 0.5, "tol": 1e-4, "atol": 0.0,
                              "max_steps": 100, "strict": False}),
        "min_q_interpolant": (diagonal.min_q_interpolant,
                              {"x": x, "y": y, "c": 1e-2, "method": "dual", "tol": 1e-10,
                               "max_iter": 50, "strict": True}),
        "pd_sensitivity": (diagonal.pd_sensitivity,
                           {"beta_pt": 1.0, "c_pt": 1e-3, "lambda_pt": 0.0, "gamma_ft": 0.0}),
        "pretrained_state": (diagonal.pretrained_state,
                             {"beta": beta, "c_pt": 1e-3, "lambda_pt": -0.5}),
        "pretraining_dependence": (diagonal.pretraining_dependence,
                                   {"beta_pt": 1.0, "c_pt": 1e-3, "lambda_pt": 0.0,
                                    "gamma_ft": 0.0, "beta_ft": 1.0}),
        "pretraining_init": (diagonal.pretraining_init, {"d": D, "c_pt": 1e-3, "lambda_pt": 0.0}),
        "regime_measures": (diagonal.regime_measures,
                            {"c_pt": 1e-3, "lambda_pt": 0.0, "gamma_ft": 0.0, "beta_pt": 1.0,
                             "beta_ft": 1.0}),
        "sample_teachers": (diagonal.sample_teachers, {"d": D, **_TEACHERS, "rng": 0}),
        "simulate_finetuning": (diagonal.simulate_finetuning, {**sim, "gamma_ft": 0.0}),
        "simulate_scratch": (diagonal.simulate_scratch, sim),
    }


def test_fuzz_covers_every_public_function() -> None:
    # functions, plus the dataclass a user builds as an input (DiagonalNetwork); Teachers and
    # the result classes are outputs only
    assert sorted(_baselines()) == public_functions(diagonal, "DiagonalNetwork")


@pytest.mark.parametrize("name", sorted(_baselines()))
def test_baseline_runs_clean(name: str) -> None:
    func, kws = _baselines()[name]
    sig = inspect.signature(func)
    named = [p for p in sig.parameters.values() if p.kind is not p.VAR_KEYWORD]
    assert {p.name for p in named} <= set(kws), "every parameter is spelled out"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = func(**kws)
    _no_nan(out, name)



_SKIP_FIELDS = {"info", "params", "diagnostics", "points", "X", "y"}


def _no_nan(obj: Any, where: str, depth: int = 0) -> None:
    """No NaN in the numbers a caller reads (inf is allowed where documented: the standard
    error of one seed, the least-squares error at α = 1)."""
    if depth > 4 or obj is None or isinstance(obj, str | bool | int):
        return
    if isinstance(obj, float | np.floating):
        assert not math.isnan(obj), where
    elif isinstance(obj, np.ndarray):
        if obj.dtype.kind in "fc":
            assert not np.any(np.isnan(obj)), where
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            if f.name not in _SKIP_FIELDS:
                _no_nan(getattr(obj, f.name), f"{where}.{f.name}", depth + 1)
        for prop in ("beta", "c"):
            if isinstance(obj, diagonal.DiagonalNetwork):
                _no_nan(getattr(obj, prop), f"{where}.{prop}", depth + 1)
    elif isinstance(obj, tuple | list):
        for v in obj:
            _no_nan(v, where, depth + 1)


_CASES = fuzz_cases(_baselines())


@pytest.mark.parametrize(("fn", "kw", "i"), fuzz_params(_CASES, len(BAD_VALUES)))
def test_fuzz_one_bad_value(fn: str, kw: str, i: int) -> None:
    func, kws = _baselines()[fn]
    returned, out = call_with_bad_value(func, kws, kw, i)
    if returned:
        _no_nan(out, f"{fn}({kw}={BAD_VALUES[i]!r})")


# -- typed messages name the parameter, its range and the value --------------------------------
@pytest.mark.parametrize(
    ("fn", "kw", "bad", "match"),
    [("generalization_error", "tol", math.nan, r"tol must be finite, got nan"),
     ("generalization_error", "max_iter", 0, r"max_iter must be ≥ 1, got 0"),
     ("gradient_descent", "lr", -1, r"lr must be > 0, got -1"),
     ("gradient_descent", "max_steps", 2.5, r"max_steps must be an integer, got 2\.5"),
     ("min_q_interpolant", "tol", True, r"tol must be a number, got True"),
     ("sample_teachers", "pt_amplitude", "x", r"pt_amplitude must be one of"),
     ("simulate_finetuning", "seeds", -1, r"seeds must be ≥ 1, got -1"),
     ("regime_measures", "lambda_pt", 2.0, r"lambda_pt must be in \[-1, 1\]")],
)
def test_messages_name_parameter_range_and_value(fn: str, kw: str, bad: Any, match: str) -> None:
    func, kws = _baselines()[fn]
    with pytest.raises(InvalidInputError, match=match):
        func(**{**kws, kw: bad})


@pytest.mark.parametrize("kw", ["strict", "keep_data"])
@pytest.mark.parametrize("fn", ["simulate_finetuning", "simulate_scratch"])
def test_flags_must_be_booleans(fn: str, kw: str) -> None:
    func, kws = _baselines()[fn]
    with pytest.raises(InvalidInputError, match=kw):
        func(**{**kws, kw: "x"})


def test_fixed_point_budget_too_small_is_not_converged() -> None:
    with pytest.raises(ConvergenceError):
        diagonal.generalization_error(0.3, **{**_THEORY, "max_iter": 1})
    res = diagonal.generalization_error(0.3, strict=False, **{**_THEORY, "max_iter": 1})
    assert not res.converged and math.isfinite(res.error)


def test_gradient_descent_with_zero_steps_is_not_converged() -> None:
    func, kws = _baselines()["gradient_descent"]
    res = func(**{**kws, "max_steps": 0})
    assert not bool(res.converged)
    with pytest.raises(ConvergenceError):
        func(**{**kws, "max_steps": 0, "strict": True})


@pytest.mark.parametrize("scale", [1e160, 1e200, 1e300])
def test_gradient_descent_overflowing_data_is_typed(scale: float) -> None:
    x, y = _data()
    net = diagonal.pretraining_init(D, 1e-2, 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        try:
            res = diagonal.gradient_descent(net, x * scale, y * scale, max_steps=50)
        except (InvalidInputError, SolverError):
            return
    assert np.all(np.isfinite(res.loss)) and np.all(np.isfinite(res.beta))


def test_gradient_descent_huge_lr_stays_finite() -> None:
    x, y = _data()
    net = diagonal.pretraining_init(D, 1.0, 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        res = diagonal.gradient_descent(net, x, y, lr=1e300, rapidity=1e300, max_steps=50)
    assert np.all(np.isfinite(res.loss)) and np.all(np.isfinite(res.beta))


def test_pretrained_state_huge_beta_is_typed() -> None:
    with pytest.raises(InvalidInputError, match="beta"):
        diagonal.pretrained_state([1e300], 1e-300, 0.0)


def test_network_with_overflowing_products_is_typed() -> None:
    big = np.full(D, 1e200)
    with pytest.raises(InvalidInputError, match="overflows"):
        diagonal.DiagonalNetwork(big, big, big, big)
    net = diagonal.DiagonalNetwork(*(np.full(D, 1e100),) * 4)  # Σ finite, the loss is not
    x, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        with pytest.raises(InvalidInputError, match="overflows"):
            diagonal.gradient_descent(net, x * 1e200, y, max_steps=5)


# -- resource limits ---------------------------------------------------------------------------
def _quick(func: Any, *args: Any, **kwargs: Any) -> None:
    t0 = time.perf_counter()
    with pytest.raises(ResourceLimitError):
        func(*args, **kwargs)
    assert time.perf_counter() - t0 < 2.0


def test_resource_limits_refuse_huge_sizes_quickly() -> None:
    x, y = _data()
    net = diagonal.pretraining_init(D, 1e-2, 0.0)
    _quick(diagonal.pretraining_init, 10**7, 1e-3, 0.0)
    _quick(diagonal.sample_teachers, 10**7, omega=0.5, rho_pt=0.1, rho_ft=0.1)
    _quick(diagonal.gradient_descent, net, x, y, max_steps=10**9)
    _quick(diagonal.min_q_interpolant, x, y, 1e-2, max_iter=10**9)
    _quick(diagonal.generalization_error, 0.3, **{**_THEORY, "max_iter": 10**9})
    _quick(diagonal.generalization_error, 0.3, **{**_THEORY, "grid_points": 10**9})
    _quick(diagonal.generalization_error, 0.3,
           **{**_THEORY, "pretraining_alpha": 0.5, "pretraining_nodes": 10**9})
    _quick(diagonal.error_curve, [0.3], **{**_THEORY, "max_iter": 10**9})
    for func in (diagonal.simulate_finetuning, diagonal.simulate_scratch):
        base = _baselines()[func.__name__][1]
        _quick(func, **{**base, "seeds": 10**9})
        _quick(func, **{**base, "seeds": list(range(2 * 10**6))})
        _quick(func, **{**base, "d": 10**7})
        _quick(func, **{**base, "alpha": 1e4, "d": 10**4})  # n = 10**8
        _quick(func, **{**base, "max_steps": 10**9})
        _quick(func, **{**base, "alpha": 10.0, "d": 50_000, "seeds": 1000})  # 2.5e10 entries
    # broadcasting two long axes would allocate 10**10 entries
    _quick(diagonal.regime_measures, np.full((10**5, 1), 1e-3), 0.0, 0.0,
           beta_ft=np.ones((1, 10**5)))
    _quick(diagonal.ell_order, np.ones((10**5, 1)), np.ones((1, 10**5)))


def test_limits_override_changes_the_verdict() -> None:
    x, y = _data()
    net = diagonal.pretraining_init(D, 1e-2, 0.0)
    diagonal.gradient_descent(net, x, y, max_steps=10)
    with limits.override(steps=5), pytest.raises(ResourceLimitError, match="max_steps"):
        diagonal.gradient_descent(net, x, y, max_steps=10)
    with limits.override(d=5), pytest.raises(ResourceLimitError, match="d"):
        diagonal.pretraining_init(D, 1e-3, 0.0)
    with limits.override(draws=1), pytest.raises(ResourceLimitError, match="seeds"):
        diagonal.simulate_scratch(**_baselines()["simulate_scratch"][1])
    with limits.override(n=2), pytest.raises(ResourceLimitError, match="n"):
        diagonal.simulate_scratch(**_baselines()["simulate_scratch"][1])
    with limits.override(steps=50), pytest.raises(ResourceLimitError, match="max_iter"):
        diagonal.generalization_error(0.3, **_THEORY)
    with limits.override(elements=20), pytest.raises(ResourceLimitError, match="seeds × n × d"):
        diagonal.simulate_finetuning(**_baselines()["simulate_finetuning"][1])
    diagonal.pretraining_init(D, 1e-3, 0.0)  # limits are back


# -- Hypothesis: extreme but finite inputs ------------------------------------------------------
_wide = st.one_of(
    st.floats(1e-300, 1e300, allow_nan=False, allow_infinity=False),
    st.sampled_from([5e-324, 1e-300, 1e-160, 1e-9, 1.0, 1e9, 1e160, 1e300, 1.7e308]),
)


def _finite_or_typed(func: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            return func(*args, **kwargs)
    except FinetuneBoundsError:
        return None


@settings(max_examples=12)
@given(alpha=_wide, c_pt=_wide, gamma=st.one_of(st.just(0.0), _wide), a_pt=_wide,
       sigma2=st.one_of(st.just(0.0), _wide), lam=st.floats(-1.0, 1.0))
def test_theory_extreme_scales(
    alpha: float, c_pt: float, gamma: float, a_pt: float, sigma2: float, lam: float
) -> None:
    kw = {**_THEORY, "c_pt": c_pt, "gamma_ft": gamma, "a_pt": a_pt, "noise_variance": sigma2,
          "lambda_pt": lam, "max_iter": 40, "grid_points": 31}
    res = _finite_or_typed(diagonal.generalization_error, alpha, **kw)
    if res is not None:
        assert res.converged
        assert math.isfinite(res.error) or (alpha == 1.0 and sigma2 > 0)
        assert math.isfinite(res.tau) or (alpha == 1.0 and sigma2 > 0)
        assert math.isfinite(res.theta)
    curve = _finite_or_typed(diagonal.error_curve, [min(alpha, 0.5), 0.5], **kw)
    if curve is not None:
        assert not np.any(np.isnan(curve.error)) and np.all(np.isfinite(curve.theta))


@settings(max_examples=12)
@given(pa=_wide, c_pt=_wide, lam=st.floats(-1.0, 1.0))
def test_theory_imperfect_pretraining_extreme_scales(pa: float, c_pt: float, lam: float) -> None:
    kw = {**_THEORY, "c_pt": c_pt, "lambda_pt": lam, "gamma_ft": 1e-3,
          "pretraining_alpha": pa, "max_iter": 40, "grid_points": 31,
          "pretraining_nodes": 11}
    res = _finite_or_typed(diagonal.generalization_error, 0.3, **kw)
    if res is not None:
        assert res.converged and math.isfinite(res.error) and math.isfinite(res.theta)


_elements = st.one_of(
    st.floats(-1e300, 1e300, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, 5e-324, -1e-300, 1e-160, 1e150, -1e200, 1.7e308]),
)


@settings(max_examples=30)
@given(x=hnp.arrays(np.float64, (N, D), elements=_elements),
       y=hnp.arrays(np.float64, (N,), elements=_elements),
       c_pt=_wide, lam=st.floats(-1.0, 1.0), lr=st.floats(1e-3, 10.0))
def test_gradient_descent_extreme_data(
    x: np.ndarray, y: np.ndarray, c_pt: float, lam: float, lr: float
) -> None:
    net = _finite_or_typed(diagonal.pretraining_init, D, c_pt, lam)
    if net is None:
        return
    res = _finite_or_typed(diagonal.gradient_descent, net, x, y, lr=lr, max_steps=30,
                           tol=1e-6)
    if res is not None:
        for name in ("beta", "loss", "initial_loss", "drift_c", "drift_lambda"):
            assert np.all(np.isfinite(getattr(res, name))), name


@settings(max_examples=25)
@given(beta=hnp.arrays(np.float64, (3,), elements=_elements), c_pt=_wide,
       lam=st.floats(-1.0, 1.0), gamma=st.one_of(st.just(0.0), _wide))
def test_measures_extreme_scales(beta: np.ndarray, c_pt: float, lam: float, gamma: float) -> None:
    for func, args in (
        (diagonal.c_finetune, (beta, c_pt, lam, gamma)),
        (diagonal.pd_sensitivity, (beta, c_pt, lam, gamma)),
        (diagonal.ell_order, (beta, c_pt)),
    ):
        out = _finite_or_typed(func, *args)
        if out is not None:
            assert np.all(np.isfinite(out)), func.__name__
    rm = _finite_or_typed(diagonal.regime_measures, c_pt, lam, gamma, beta_pt=beta,
                          beta_ft=beta[::-1])
    if rm is not None:
        for name in ("ell", "pd", "sensitivity", "c_ft"):
            assert np.all(np.isfinite(getattr(rm, name))), name
    st_ = _finite_or_typed(diagonal.pretrained_state, beta, c_pt, lam)
    if st_ is not None:
        assert np.all(np.isfinite(st_.beta)) and np.all(np.isfinite(st_.c))
        ft = _finite_or_typed(diagonal.finetune_init, st_, gamma)
        if ft is not None:
            assert np.all(np.isfinite(ft.c)) and np.all(np.isfinite(ft.scale))
