"""Hard edges of the linear family and the problem specs (issue 13, item 7).

Each test pins a failure that used to return a silent wrong number or raise a raw
numpy/Python exception; the fuzz at the end calls every public function of
``finetune_bounds.linear`` with one bad secondary value at a time.
"""

from __future__ import annotations

import dataclasses
import math
import re
import warnings
from typing import Any

import numpy as np
import pytest

import finetune_bounds as fb
from _fuzz import BAD_VALUES, call_with_bad_value, fuzz_cases, fuzz_params, public_functions
from finetune_bounds import linear
from finetune_bounds._io import load_array
from finetune_bounds.errors import ConvergenceError, InvalidInputError

D = 6
LAM = 1.0 / np.arange(1, D + 1)


def _task(noise: float = 0.0) -> fb.LinearTask:
    return fb.LinearTask(fb.Covariance.from_spectrum(LAM), np.zeros(D), np.ones(D), noise)


def _design(seeds: int = 2, n: int = 3) -> tuple[np.ndarray, np.ndarray]:
    x = _task().covariance.sample(n, np.random.default_rng(0), batch=(seeds,))
    return x, np.zeros((seeds, n))


# -- 1. tolerances of linear/simulate.py --------------------------------------------------------
@pytest.mark.parametrize("bad", [math.nan, math.inf, True, 1j, np.complex128(0.5), 0.0, 1.0, "x"])
def test_simulate_batch_rejects_bad_rtol(bad: Any) -> None:
    x, xi = _design()
    with pytest.raises(InvalidInputError, match="rtol"):
        linear.simulate_batch(_task(), x, xi, rtol=bad)


@pytest.mark.parametrize(
    ("kw", "bad"),
    [("tol", math.nan), ("tol", True), ("tol", 1.5), ("step", True), ("step", math.nan),
     ("step", 1j), ("max_iter", True), ("max_iter", 2.5)],
)
def test_gradient_descent_rejects_bad_settings(kw: str, bad: Any) -> None:
    x, _ = _design()
    with pytest.raises(InvalidInputError, match=kw):
        linear.gradient_descent(x, np.zeros((2, 3)), np.zeros(D), **{kw: bad})
    with pytest.raises(InvalidInputError, match=kw):
        linear.simulate_batch(_task(), x, np.zeros((2, 3)), gd=True, **{kw: bad})


def test_closed_form_batch_rejects_bad_rtol() -> None:
    x, xi = _design()
    with pytest.raises(InvalidInputError, match="rtol"):
        linear.closed_form_batch(x, xi, np.zeros(D), rtol=math.nan)


# -- 2. solve_kappa -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "kw", "match"),
    [((LAM, 3), {"max_iter": 0}, "max_iter"), ((LAM, 3), {"xtol": math.nan}, "xtol"),
     ((LAM, 3), {"xtol": True}, "xtol"), ((-LAM, 3), {}, "eigenvalues"),
     ((np.r_[LAM, -1e-3], 3), {}, "eigenvalues"), ((LAM, math.nan), {}, "n"),
     ((LAM, [2.0, math.inf]), {}, "n")],
)
def test_solve_kappa_validates(args: tuple[Any, Any], kw: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        linear.solve_kappa(*args, **kw)


# -- 3. Covariance.from_matrix at extreme scales ------------------------------------------------
@pytest.mark.parametrize("scale", [2.0**1020, 1e300, 1e-300, 1e-320])
def test_from_matrix_is_scale_invariant(scale: float) -> None:
    base = np.array([[2.0, 1.0], [1.0, 2.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cov = fb.Covariance.from_matrix(base * scale)
    assert np.all(np.isfinite(cov.eigenvalues))
    want = np.array([3.0, 1.0]) * scale
    atol = 0.0 if scale > 1e-300 else 1e-322
    np.testing.assert_allclose(cov.eigenvalues, want, rtol=1e-12, atol=atol)


def test_from_matrix_overflowing_spectrum_raises() -> None:
    # eigenvalues of full(2, 2, a) are (2a, 0): 2·2^1023 is beyond float64
    with pytest.raises(InvalidInputError, match="overflow"):
        fb.Covariance.from_matrix(np.full((2, 2), 2.0**1023))


# -- 4. a task whose risks overflow -------------------------------------------------------------
def test_task_with_overflowing_risk_is_refused() -> None:
    cov = fb.Covariance.from_spectrum(LAM)
    with pytest.raises(InvalidInputError, match="overflows float64"):
        fb.LinearTask(cov, np.zeros(D), np.full(D, 1e154))
    with pytest.raises(InvalidInputError, match="overflows float64"):
        fb.LinearTask(fb.Covariance.from_spectrum(np.full(D, 1e300)), np.zeros(D), np.full(D, 1e5))


@pytest.mark.parametrize("method", ["deterministic", "monte_carlo", "weights", "auto"])
def test_large_but_representable_task_gives_finite_risk(method: str) -> None:
    task = fb.LinearTask(fb.Covariance.from_spectrum(LAM), np.zeros(D), np.full(D, 1e150))
    res = linear.expected_risk(task, 3, method, n_draws=20, max_draws=200)  # type: ignore[arg-type]
    assert math.isfinite(res.risk) and res.risk > 0


# -- 5. gradient descent that overflows is never "converged" ------------------------------------
def test_gradient_descent_overflow_is_not_converged() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 8))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        res = linear.gradient_descent(x, np.full(5, 1e300), np.zeros(8))
    assert not res.converged
    assert res.info.status == "not_finite"
    with pytest.raises(ConvergenceError, match="diverged"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        linear.gradient_descent(x, np.full(5, 1e300), np.zeros(8), strict=True)


@pytest.mark.parametrize("scale", [1e-200, 1e-160, 1e100, 1e160, 1e200])
def test_gradient_descent_is_scale_invariant(scale: float) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 8))
    y = rng.standard_normal(5)
    ref = linear.gradient_descent(x, y, np.zeros(8), tol=1e-9)
    res = linear.gradient_descent(x * scale, y * scale, np.zeros(8), tol=1e-9)
    assert bool(res.converged)
    np.testing.assert_allclose(res.weights, ref.weights, rtol=1e-6, atol=1e-9)


# -- 6. secondary parameters --------------------------------------------------------------------
def test_sample_complexity_tiny_eps_with_noise() -> None:
    res = linear.sample_complexity(_task(noise=0.5), 5e-324)
    assert res.reachable and res.n is not None and res.n > 10**300
    assert res.risk_at_n is not None and math.isfinite(res.risk_at_n)


def test_bounds_constants_must_be_a_mapping() -> None:
    with pytest.raises(InvalidInputError, match="constants"):
        linear.bounds(_task(), 3, constants=[1])  # type: ignore[arg-type]


# -- 7. load_array ------------------------------------------------------------------------------
def test_load_array_rejects_empty_and_non_real_npy(tmp_path: Any) -> None:
    empty = tmp_path / "empty.npy"
    empty.write_bytes(b"")
    with pytest.raises(InvalidInputError, match=r"empty\.npy"):
        load_array(empty, "x")
    for name, arr in (("dates.npy", np.array(["2020-01-01"], dtype="datetime64[D]")),
                      ("cplx.npy", np.array([1 + 1j])),
                      ("obj.npy", np.array([1, "a"], dtype=object))):
        p = tmp_path / name
        np.save(p, arr, allow_pickle=True)
        with pytest.raises(InvalidInputError, match=re.escape(name)):
            load_array(p, "x")
    trunc = tmp_path / "trunc.npy"
    np.save(trunc, np.arange(4.0))
    trunc.write_bytes(trunc.read_bytes()[:20])
    with pytest.raises(InvalidInputError, match=r"trunc\.npy"):
        load_array(trunc, "x")


# -- fuzz: one bad secondary value at a time -----------------------------------------------------


def _frame() -> Any:
    return linear.simulate_curve(_task(), [3], seeds=2, rng=0)


def _baselines() -> dict[str, tuple[Any, dict[str, Any]]]:
    task = _task(noise=0.1)
    x, xi = _design()
    x2 = x[0]
    return {
        "benign_bound": (linear.benign_bound, {"task": task, "n": 3, "constant": 1.0}),
        "bounds": (linear.bounds, {"task": task, "n": 3, "constants": None}),
        "closed_form_batch": (linear.closed_form_batch,
                              {"X": x, "y": xi, "init": np.zeros(D), "rtol": None}),
        "empirical_sample_complexity": (linear.empirical_sample_complexity,
                                        {"frame": _frame(), "eps": 10.0, "method": "closed_form",
                                         "quantity": "risk", "strict": False,
                                         "start": "pretrained"}),
        "example_task": (linear.example_task, {"name": "aligned", "noise_variance": 0.0}),
        "expected_risk": (linear.expected_risk,
                          {"task": task, "n": 3, "method": "monte_carlo", "rng": 0, "n_draws": 10,
                           "rel_tol": None, "max_draws": 50, "strict": False}),
        "finetuned_predictor": (linear.finetuned_predictor,
                                {"x": x2, "y": np.zeros(3), "source": np.zeros(D), "rtol": None}),
        "gradient_descent": (linear.gradient_descent,
                             {"X": x, "y": xi, "init": np.zeros(D), "step": None, "tol": 1e-8,
                              "max_iter": 1000, "strict": False}),
        "head_tail_bound": (linear.head_tail_bound,
                            {"task": task, "n": 3, "constant": 1.0, "k_max": None}),
        "measure_correlation_study": (linear.measure_correlation_study,
                                      {"n_instances": 4, "d": D, "n": 3, "spectrum": "flat",
                                       "rng": 0, "return_instances": False}),
        "naive_bound": (linear.naive_bound, {"task": task, "constant": 1.0}),
        "random_task": (linear.random_task,
                        {"d": D, "rng": np.random.default_rng(0), "spectrum": "flat",
                         "noise_variance": 0.0}),
        "risk_curve": (linear.risk_curve,
                       {"task": task, "ns": [1, 2, 3], "method": "deterministic", "rel_tol": None,
                        "rng": 0, "max_draws": 200, "strict": False}),
        "risk_weights": (linear.risk_weights,
                         {"covariance": task.covariance, "ns": [2, 3], "rel_tol": 0.2,
                          "probe": task, "min_draws": 8, "max_draws": 64, "block": 8, "rng": 0,
                          "strict": False}),
        "row_space_projector": (linear.row_space_projector, {"x": x2, "rtol": None}),
        "sample_complexity": (linear.sample_complexity,
                              {"task": task, "eps": 0.5, "method": "deterministic",
                               "n_max": None, "strict": False, "rel_tol": None, "rng": 0}),
        "sample_risk": (linear.sample_risk, {"task": task, "x": x2, "rtol": None}),
        "simulate_batch": (linear.simulate_batch,
                           {"task": task, "X": x, "noise": xi, "gd": True, "step": None,
                            "tol": 1e-8, "max_iter": 1000, "rtol": None}),
        "simulate_curve": (linear.simulate_curve,
                           {"task": task, "ns": [3], "seeds": 2, "rng": 0, "method": "both",
                            "theory": True, "theory_method": "deterministic", "theory_draws": 10,
                            "theory_rng": 0, "bound_constants": None, "step": None, "tol": 1e-8,
                            "max_iter": 500, "sampler": None}),
        "solve_kappa": (linear.solve_kappa,
                        {"eigenvalues": LAM, "n": 3, "xtol": 1e-14, "max_iter": 50,
                         "strict": False}),
        "spectrum_task": (linear.spectrum_task,
                          {"d": D, "spectrum": "power_law", "exponent": 1.0, "spike_count": None,
                           "spike_height": 20.0, "delta_profile": "random",
                           "delta_fraction": 0.5, "delta_norm": 1.0, "source_norm": 1.0,
                           "noise_variance": 0.0, "seed": 0}),
        "summarize_curve": (linear.summarize_curve, {"frame": _frame()}),
    }


def test_fuzz_covers_every_public_function() -> None:
    assert sorted(_baselines()) == public_functions(linear)


_KEYS = ("risk", "bias", "variance", "value", "kappa", "gamma", "weights", "risk_at_n",
         "mean_risk")


def _no_nan(obj: Any, where: str) -> None:
    """No NaN in the numbers a caller reads (inf is allowed where documented: E[V] at n = r)."""
    if obj is None or isinstance(obj, str | bool | int):
        return
    if isinstance(obj, float | np.floating):
        assert not math.isnan(obj), where
    elif isinstance(obj, np.ndarray):
        if obj.dtype.kind == "f":
            assert not np.any(np.isnan(obj)), where
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for k in _KEYS:
            if hasattr(obj, k):
                _no_nan(getattr(obj, k), f"{where}.{k}")
    elif isinstance(obj, dict):
        for k, v in obj.items():
            if k in _KEYS or not isinstance(k, str):
                _no_nan(v, f"{where}[{k}]")
            elif isinstance(v, dataclasses.__class__):
                pass
        for v in obj.values():
            if dataclasses.is_dataclass(v):
                _no_nan(v, where)
    elif hasattr(obj, "columns") and "value" in obj.columns:
        assert not obj["value"].isna().any(), where
    elif isinstance(obj, tuple):
        for v in obj:
            _no_nan(v, where)


_CASES = fuzz_cases(_baselines())


@pytest.mark.parametrize(("fn", "kw", "i"), fuzz_params(_CASES, len(BAD_VALUES)))
def test_fuzz_one_bad_value(fn: str, kw: str, i: int) -> None:
    func, kws = _baselines()[fn]
    returned, out = call_with_bad_value(func, kws, kw, i)
    if returned:
        _no_nan(out, f"{fn}({kw}={BAD_VALUES[i]!r})")


# -- resource limits -----------------------------------------------------------------------------
def test_sizes_above_the_limits_are_refused_at_once() -> None:
    from finetune_bounds.errors import ResourceLimitError

    task = _task()
    with pytest.raises(ResourceLimitError, match="n = 10000000 "):
        linear.simulate_curve(task, [10**7], seeds=2, rng=0, theory=False)
    with pytest.raises(ResourceLimitError, match="n_draws"):
        linear.expected_risk(task, 3, method="monte_carlo", n_draws=10**9)
    with pytest.raises(ResourceLimitError, match="elements"):
        task.covariance.sample(10**6, np.random.default_rng(0), batch=(10**3,))
    # a closed form whose cost does not grow with n is not limited
    assert linear.expected_risk(task, 10**7, method="deterministic").risk >= 0


def test_limits_can_be_lowered_and_raised() -> None:
    from finetune_bounds import limits
    from finetune_bounds.errors import ResourceLimitError

    task = _task()
    with limits.override(draws=3), pytest.raises(ResourceLimitError, match="seeds"):
        linear.simulate_curve(task, [3], seeds=4, rng=0, theory=False)
    with limits.override(draws=4):
        linear.simulate_curve(task, [3], seeds=4, rng=0, theory=False)
    with pytest.raises(InvalidInputError, match="unknown resource limit"):
        limits.set_limits(widht=3)
    with pytest.raises(InvalidInputError, match="positive"):
        limits.set_limits(n=-1)


@pytest.mark.parametrize("method", ["monte_carlo", "weights", "auto"])
def test_monte_carlo_routes_near_the_float64_limit_warn_nothing(method: str) -> None:
    """Risks ~1e304 are finite; their standard errors used to overflow in numpy's std (a
    RuntimeWarning line in the CLI) — the spread is now taken on values scaled by 2^k."""
    task = fb.LinearTask(fb.Covariance.from_spectrum(LAM), np.zeros(D), np.full(D, 1e152))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = linear.expected_risk(task, 3, method=method)
    assert 1e303 < r.risk < 1e305


def test_stderr_scaling_keeps_ordinary_bits() -> None:
    from finetune_bounds._numerics import stderr

    a = np.random.default_rng(0).standard_normal((50, 7)) * 3.3
    assert np.array_equal(stderr(a, axis=0), np.std(a, axis=0, ddof=1) / math.sqrt(50))
    assert stderr([1e300, -1e300]) == pytest.approx(1e300)
