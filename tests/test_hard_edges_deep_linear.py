"""Hard edges of the deep-linear family (issue 13).

Every public function of ``finetune_bounds.deep_linear`` must, for bad input, raise a typed
:class:`~finetune_bounds.errors.FinetuneBoundsError` (never a raw numpy/Python exception) and
never return NaN. The fuzz at the end calls each one with one bad value at a time; a Hypothesis
test feeds extreme float arrays to the main theory routes; resource limits are checked on the
sizes that can blow up time or memory.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import finetune_bounds as fb
from _fuzz import BAD_VALUES, call_with_bad_value, fuzz_cases, fuzz_params, public_functions
from finetune_bounds import deep_linear as dl
from finetune_bounds import limits
from finetune_bounds.errors import (
    FinetuneBoundsError,
    InvalidInputError,
    ResourceLimitError,
)

D = 5
N = 3
LAM = 1.0 / np.arange(1, D + 1)


def _task(noise: float = 0.0) -> fb.LinearTask:
    src = np.ones(D) / math.sqrt(D)
    tgt = src + 0.3 * np.cos(np.arange(D))
    return fb.LinearTask(fb.Covariance.from_spectrum(LAM), src, tgt, noise)


def _data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, D))
    task = _task()
    return x, x @ task.target, task.source.copy()


# -- depth -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "bad", [0, -1, -math.inf, 0.5, 2.5, math.nan, math.inf * -1, 1e400, "1e400", "x", None,
            True, 1j, [2], np.nan, np.float64("nan"), "2.5", "", "-inf"],
)
def test_check_depth_rejects(bad: Any) -> None:
    if bad == 1e400:  # the literal is +inf: infinite depth is allowed
        assert dl.check_depth(bad) == math.inf
        return
    with pytest.raises(InvalidInputError, match="depth"):
        dl.check_depth(bad)


@pytest.mark.parametrize("bad", [0, -3, 1.5, math.nan, "1e400", 10**400], ids=range(6))
def test_routes_reject_bad_depth(bad: Any) -> None:
    x, y, src = _data()
    task = _task()
    calls = [
        lambda: dl.solve_predictor(x, y, src, bad),
        lambda: dl.depth_coefficient(1.0, 0.5, 0.5, bad),
        lambda: dl.sample_risk(task, x, bad),
        lambda: dl.expected_risk(task, N, bad, draws=4),
        lambda: dl.risk_curve(task, [1, 2], bad, draws=4),
        lambda: dl.frozen_predictor(x, y, src, bad, 1),
        lambda: dl.frozen_risk_floor(task, bad, 1),
    ]
    for call in calls:
        with pytest.raises(InvalidInputError, match="depth"):
            call()


def test_check_depth_accepts() -> None:
    assert dl.check_depth(3) == 3.0
    assert dl.check_depth(3.0) == 3.0
    assert dl.check_depth(np.int64(2)) == 2.0
    assert dl.check_depth("inf") == math.inf
    assert dl.check_depth(math.inf) == math.inf


# -- resource limits ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "call",
    [
        lambda: dl.expected_risk(_task(), 10**7, 2, draws=4),
        lambda: dl.expected_risk(_task(), N, 2, draws=10**9),
        lambda: dl.expected_risk(_task(), 10**5, 2, draws=10**5),  # 10¹⁰·d entries
        lambda: dl.risk_curve(_task(), [10**7], 2, draws=4),
        lambda: dl.risk_curve(_task(), [2], 2, draws=10**9),
        lambda: dl.risk_curve(_task(), [10**5], 2, draws=10**5),
        lambda: dl.sample_complexity(_task(), 0.1, 2, n_max=10**7, draws=4),
        lambda: dl.sample_complexity(_task(), 0.1, 2, draws=10**9),
        lambda: dl.solve_predictor(*_data(), 2, root_max_iter=10**9),
        lambda: dl.depth_coefficient(1.0, 0.5, 0.5, 2, max_iter=10**9),
    ],
)
def test_resource_limits(call: Any) -> None:
    t0 = time.perf_counter()
    with pytest.raises(ResourceLimitError):
        call()
    assert time.perf_counter() - t0 < 2.0


def test_limit_override() -> None:
    task = _task()
    dl.expected_risk(task, N, 2, draws=10)
    with limits.override(draws=5):
        with pytest.raises(ResourceLimitError, match="draws"):
            dl.expected_risk(task, N, 2, draws=10)
        with pytest.raises(ResourceLimitError, match="draws"):
            dl.risk_curve(task, [1, 2], 2, draws=10)
        dl.expected_risk(task, N, 2, draws=4)
    with limits.override(n=2):
        with pytest.raises(ResourceLimitError, match="n"):
            dl.expected_risk(task, N, 2, draws=4)
        with pytest.raises(ResourceLimitError):
            dl.sample_complexity(task, 0.1, 2, n_max=3, draws=4)
    with limits.override(elements=100):
        with pytest.raises(ResourceLimitError):
            dl.expected_risk(task, N, 2, draws=10)
    # back to the defaults
    dl.risk_curve(task, [1, 2], 2, draws=10)


# -- overflow ---------------------------------------------------------------------------------
def test_depth_coefficient_overflow_is_typed() -> None:
    for args in [(1e-300, 0.5e-300, 1e300, 3), (1e300, 0.5e300, 1e-300, 10**6),
                 (1e-308, 0.0, 1e308, 2), (5e-324, 0.0, 1.7e308, 2)]:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                res = dl.depth_coefficient(*args)
            except FinetuneBoundsError:
                continue
        assert np.all(np.isfinite(res.value)) and np.all(res.value > 0), args
        assert np.all(np.isfinite(res.residual)), args


def test_solve_predictor_huge_inputs() -> None:
    x, _, src = _data()
    for scale_x, scale_y, scale_s in [(1e200, 1e200, 1.0), (1e-200, 1.0, 1e200),
                                      (1.0, 1e300, 1e-300), (1e300, 1e300, 1e300)]:
        with np.errstate(over="ignore"):
            y = (x * scale_x) @ np.ones(D) * scale_y / max(scale_x, 1.0)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                res = dl.solve_predictor(x * scale_x, y, src * scale_s, 3)
            except FinetuneBoundsError:
                continue
        assert np.all(np.isfinite(res.predictor))
        assert math.isfinite(res.residual)


# -- fuzz: one bad value at a time ------------------------------------------------------------


def _baselines() -> dict[str, tuple[Any, dict[str, Any]]]:
    task = _task()
    x, y, src = _data()
    return {
        "check_depth": (dl.check_depth, {"depth": 3, "name": "depth"}),
        "depth_coefficient": (dl.depth_coefficient,
                              {"source_norm_sq": 1.0, "perp_source_norm_sq": 0.5,
                               "fitted_norm_sq": 0.7, "depth": 3, "max_iter": 200,
                               "strict": False}),
        "expected_risk": (dl.expected_risk,
                          {"task": task, "n": N, "depth": 3, "draws": 6, "rng": 0,
                           "frozen_layers": 0, "batch": 4, "strict": False}),
        "frozen_predictor": (dl.frozen_predictor,
                             {"x": x, "y": y, "source": src, "depth": 3, "frozen_layers": 1}),
        "frozen_risk_floor": (dl.frozen_risk_floor,
                              {"task": task, "depth": 3, "frozen_layers": 1}),
        "predictor": (dl.predictor,
                      {"x": x, "y": y, "source": src, "depth": 3, "method": "closed_form",
                       "rtol": None, "root_max_iter": 200}),
        "risk_curve": (dl.risk_curve,
                       {"task": task, "ns": [1, 2, 3], "depth": 3, "draws": 4, "rng": 0,
                        "frozen_layers": 0, "strict": False}),
        "sample_complexity": (dl.sample_complexity,
                              {"task": task, "eps": 0.5, "depth": 3, "n_max": 4, "draws": 4,
                               "rng": 0, "frozen_layers": 0, "strict": False}),
        "sample_risk": (dl.sample_risk,
                        {"task": task, "x": x, "depth": 3, "frozen_layers": 0,
                         "noise": np.zeros(N), "rtol": None, "strict": False}),
        "solve_predictor": (dl.solve_predictor,
                            {"x": x, "y": y, "source": src, "depth": 3, "method": "closed_form",
                             "rtol": None, "solver": None, "kkt_tol": 1e-9, "ode_tol": 1e-10,
                             "t_max": None, "root_max_iter": 200, "strict": False}),
    }


def test_fuzz_covers_every_public_function() -> None:
    assert sorted(_baselines()) == public_functions(dl)


def test_baselines_are_finite() -> None:
    for name, (func, kws) in _baselines().items():
        _no_nan(func(**kws), name)


def _no_nan(obj: Any, where: str) -> None:
    """No NaN/inf in the numbers a caller reads (c_∞ may be inf where documented)."""
    if obj is None or isinstance(obj, str | bool | int):
        return
    if isinstance(obj, float | np.floating):
        assert not math.isnan(obj), where
    elif isinstance(obj, np.ndarray):
        if obj.dtype.kind == "f":
            assert not np.any(np.isnan(obj)), where
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            if f.name in ("info", "diagnostics", "statuses", "infinite_depth", "depth"):
                continue
            _no_nan(getattr(obj, f.name), f"{where}.{f.name}")
    elif isinstance(obj, dict):
        for k, v in obj.items():
            if k != "info":
                _no_nan(v, f"{where}[{k}]")
    elif isinstance(obj, tuple | list):
        for v in obj:
            _no_nan(v, where)


def _finite(obj: Any, where: str) -> None:
    """Stronger: every numeric field finite (used by the Hypothesis test)."""
    if obj is None or isinstance(obj, str | bool | int):
        return
    if isinstance(obj, float | np.floating):
        assert math.isfinite(obj), where
    elif isinstance(obj, np.ndarray):
        if obj.dtype.kind == "f":
            assert np.all(np.isfinite(obj)), where
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            if f.name in ("info", "diagnostics", "statuses", "infinite_depth", "depth"):
                continue
            _finite(getattr(obj, f.name), f"{where}.{f.name}")
    elif isinstance(obj, dict):
        for k, v in obj.items():
            if k != "info":
                _finite(v, f"{where}[{k}]")


_CASES = fuzz_cases(_baselines())


@pytest.mark.parametrize(("fn", "kw", "i"), fuzz_params(_CASES, len(BAD_VALUES)))
def test_fuzz_one_bad_value(fn: str, kw: str, i: int) -> None:
    func, kws = _baselines()[fn]
    returned, out = call_with_bad_value(func, kws, kw, i)
    if returned:
        _no_nan(out, f"{fn}({kw}={BAD_VALUES[i]!r})")


@pytest.mark.parametrize("bad", [math.nan, math.inf, -1.0, 0.0, True, "x", 1j])
def test_tolerances_are_validated(bad: Any) -> None:
    x, y, src = _data()
    for kw in ("kkt_tol", "ode_tol"):
        method = "cvxpy" if kw == "kkt_tol" else "ode"
        with pytest.raises(InvalidInputError, match=kw):
            dl.solve_predictor(x, y, src, 2, method, **{kw: bad})  # type: ignore[arg-type]


def test_settings_validated_whatever_the_method() -> None:
    """A bad setting of another route is not silently accepted by the closed form."""
    x, y, src = _data()
    for kw, bad in (("kkt_tol", math.nan), ("ode_tol", math.nan), ("t_max", -1.0),
                    ("root_max_iter", 0), ("solver", 3)):
        with pytest.raises(InvalidInputError, match=kw):
            dl.solve_predictor(x, y, src, 2, "closed_form", **{kw: bad})


# -- Hypothesis: extreme float arrays as the task's vectors and spectrum ----------------------
_EXTREME = st.one_of(
    st.floats(-1e300, 1e300, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, 1e-300, -1e-300, 5e-324, 1e300, -1e300, 1.7e308, -1.7e308, 1.0]),
)
_VEC = hnp.arrays(np.float64, 4, elements=_EXTREME)
_SPEC = hnp.arrays(np.float64, 4, elements=st.one_of(
    st.floats(0.0, 1e300, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, 5e-324, 1e-300, 1e300, 1.7e308, 1.0]),
))


def _typed_or_finite(call: Any, where: str) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            out = call()
    except FinetuneBoundsError:
        return
    _finite(out, where)


@settings(max_examples=25)
@given(spec=_SPEC, src=_VEC, tgt=_VEC, depth=st.sampled_from([1, 2, 3, 50, math.inf]))
def test_hypothesis_task_routes(spec: np.ndarray, src: np.ndarray, tgt: np.ndarray,
                                depth: float) -> None:
    try:
        # (LinearTask's own scale check may warn on a spectrum whose trace overflows:
        # problems.py, outside this family)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            task = fb.LinearTask(fb.Covariance.from_spectrum(spec), src, tgt)
    except FinetuneBoundsError:
        return
    x = np.random.default_rng(1).standard_normal((2, 4))
    _typed_or_finite(lambda: dl.sample_risk(task, x, depth), "sample_risk")
    _typed_or_finite(lambda: dl.expected_risk(task, 2, depth, draws=3, rng=0), "expected_risk")
    _typed_or_finite(lambda: dl.risk_curve(task, [1, 3], depth, draws=3, rng=0), "risk_curve")
    _typed_or_finite(lambda: dl.frozen_risk_floor(task, depth, 1), "frozen_risk_floor")
    _typed_or_finite(lambda: dl.expected_risk(task, 2, depth, draws=3, rng=0, frozen_layers=1),
                     "expected_risk frozen")


@settings(max_examples=25)
@given(xs=hnp.arrays(np.float64, (2, 4), elements=_EXTREME), y=hnp.arrays(
    np.float64, 2, elements=_EXTREME), src=_VEC, depth=st.sampled_from([1, 2, 3, math.inf]))
def test_hypothesis_design_routes(xs: np.ndarray, y: np.ndarray, src: np.ndarray,
                                  depth: float) -> None:
    _typed_or_finite(lambda: dl.solve_predictor(xs, y, src, depth), "solve_predictor")
    _typed_or_finite(lambda: dl.frozen_predictor(xs, y, src, depth, 1), "frozen_predictor")


@settings(max_examples=40)
@given(s2=_SPEC, a=hnp.arrays(np.float64, 4, elements=st.floats(0.0, 1.0)), b2=_SPEC,
       depth=st.sampled_from([1, 2, 3, 7, 10**6, math.inf]))
def test_hypothesis_depth_coefficient(s2: np.ndarray, a: np.ndarray, b2: np.ndarray,
                                      depth: float) -> None:
    _typed_or_finite(lambda: dl.depth_coefficient(s2, s2 * a, b2, depth), "depth_coefficient")
