"""Hard edges of the relu family (issue 13): every public function of ``finetune_bounds.relu``
called with one bad value at a time, resource limits, and extreme-but-finite arrays.

A bad value must raise a :class:`~finetune_bounds.errors.FinetuneBoundsError` (or be harmless:
the result then has no NaN); it must never raise a raw numpy/Python exception, return NaN or
leak a numpy RuntimeWarning.
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
from finetune_bounds import limits, relu
from finetune_bounds.errors import FinetuneBoundsError, InvalidInputError, ResourceLimitError

D, N, M = 4, 5, 8


def _unit_rows(n: int, d: int = D, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _rngs(k: int = 2) -> list[np.random.Generator]:
    return [np.random.default_rng([7, i]) for i in range(k)]


def _task() -> relu.ReluTask:
    return relu.synthetic_task(D, rng=0)


def _net(batch: int = 2) -> relu.ReluNetwork:
    return relu.antisymmetric_init(M, D, _rngs(batch))


def _baselines() -> dict[str, tuple[Any, dict[str, Any]]]:
    task = _task()
    x = _unit_rows(N)
    xt = _unit_rows(3, seed=1)
    r = np.random.default_rng(2).standard_normal(N)
    net = _net()
    sys_ = relu.gram_system(x)
    return {
        "antisymmetric_init": (relu.antisymmetric_init,
                               {"width": M, "dim": D, "rngs": _rngs()}),
        "bound_sample_complexity": (relu.bound_sample_complexity,
                                    {"x": x, "residual": r, "eps": 5.0, "delta": 0.05,
                                     "constant": 1.0, "worst_case_norm2": None, "n_min": 1,
                                     "grid_points": 4, "normalize": False, "ridge": 0.0,
                                     "rcond": 1e-10, "strict": False}),
        "clipped_abs_loss": (relu.clipped_abs_loss,
                             {"prediction": np.zeros(3), "target": np.ones(3)}),
        "closed_form_pretrain": (relu.closed_form_pretrain, {"net": net, "source": task.source}),
        "complexity": (relu.complexity,
                       {"x": x, "residual": r, "normalize": False, "ridge": 0.0,
                        "rcond": 1e-10}),
        "digits_task": (relu.digits_task,
                        {"source": "value", "target": "ge5", "labels": "teacher",
                         "teacher_ridge": 1e-3}),
        "empirical_ntk": (relu.empirical_ntk, {"net": net, "x": x, "z": xt}),
        "gd_pretrain": (relu.gd_pretrain,
                        {"net": net, "x_source": x, "y_source": x @ task.source, "steps": 3,
                         "lr_scale": 1.0}),
        "generalization_bound": (relu.generalization_bound,
                                 {"x": x, "residual": r, "delta": 0.05, "constant": 1.0,
                                  "normalize": False, "ridge": 0.0, "rcond": 1e-10}),
        "gram_system": (relu.gram_system,
                        {"x": x, "normalize": False, "ridge": 0.0, "rcond": 1e-10}),
        "kernel_learning_curve": (relu.kernel_learning_curve,
                                  {"x": x, "residual": r, "x_test": xt, "target_test": np.ones(3),
                                   "offset_test": None, "ns": [2, 5], "normalize": False,
                                   "ridge": 0.0, "rcond": 1e-10}),
        "kernel_predict": (relu.kernel_predict,
                           {"x": sys_, "residual": r, "x_test": xt, "offset_test": np.zeros(3),
                            "steps": 3, "lr": 0.5 / sys_.lambda_max, "normalize": False,
                            "ridge": 0.0, "rcond": 1e-10}),
        "normalize_inputs": (relu.normalize_inputs, {"x": 3.0 * x, "name": "X"}),
        "ntk_gram": (relu.ntk_gram, {"x": x, "z": xt, "normalize": False, "atol": 1e-6}),
        "random_instance": (relu.random_instance,
                            {"d": D, "rng": np.random.default_rng(0), "source_norm": 1.0,
                             "delta_range": (0.1, 1.0)}),
        "rate_sample_complexity": (relu.rate_sample_complexity, {"norm2": 1.0, "eps": 0.5}),
        "simulate_cell": (relu.simulate_cell,
                          {"task": task, "n": N, "width": M, "rngs": _rngs(), "n_test": 4,
                           "pretrain": "gd", "pretrain_samples": 6, "pretrain_steps": 2,
                           "tol": 1e-2, "max_steps": 5, "lr_scale": 1.0, "delta": 0.05,
                           "constant": 1.0, "ridge": 0.0, "scratch": True}),
        "simulate_measures": (relu.simulate_measures,
                              {"d": D, "n": N, "width": M, "rngs": _rngs(1), "instances": 3,
                               "source_norm": 1.0, "delta_range": (0.1, 1.0), "n_test": 4,
                               "tol": 1e-2, "max_steps": 5, "delta": 0.05, "constant": 1.0}),
        "synthetic_task": (relu.synthetic_task,
                           {"d": D, "source_norm": 1.0, "delta_norm": 0.5, "inputs": "power_law",
                            "alpha": 1.0, "rng": 0}),
        "theory_curve": (relu.theory_curve,
                         {"task": task, "ns": [2, N], "draws": 2, "seed": 0, "n_test": 4,
                          "delta": 0.05, "constant": 1.0, "ridge": 0.0}),
        "theory_sample_complexity": (relu.theory_sample_complexity,
                                     {"task": task, "eps": [0.5, 2.0], "n_max": N, "draws": 2,
                                      "seed": 0, "n_test": 4, "delta": 0.05, "constant": 1.0,
                                      "ridge": 0.0, "grid_points": 4}),
        "train": (relu.train,
                  {"net": relu.closed_form_pretrain(net, task.source), "x": x,
                   "y": x @ task.target, "lr": 0.5, "tol": 1e-3, "max_steps": 5,
                   "strict": False}),
        "worst_case_complexity": (relu.worst_case_complexity,
                                  {"x": x, "delta_vector": task.delta, "normalize": False,
                                   "ridge": 0.0, "rcond": 1e-10}),
    }


def test_fuzz_covers_every_public_function() -> None:
    assert sorted(_baselines()) == public_functions(relu)


def test_baselines_spell_out_every_parameter() -> None:
    for name, (func, kws) in _baselines().items():
        params = set(inspect.signature(func).parameters)
        assert set(kws) == params, name


@pytest.mark.parametrize("name", sorted(_baselines()))
def test_baseline_runs_cleanly(name: str) -> None:
    func, kws = _baselines()[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        out = func(**kws)
    _no_nan(out, name)


# fields documented to hold NaN (an undefined correlation)
_NAN_ALLOWED = {"spearman", "pearson"}


def _no_nan(obj: Any, where: str, depth: int = 0) -> None:
    """No NaN in the numbers a caller reads (inf is allowed where documented)."""
    if depth > 4 or obj is None or isinstance(obj, str | bool | int | np.random.Generator):
        return
    if isinstance(obj, float | np.floating):
        assert not math.isnan(obj), where
    elif isinstance(obj, np.ndarray):
        if obj.dtype.kind == "f":
            assert not np.any(np.isnan(obj)), where
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            if f.name not in _NAN_ALLOWED:
                _no_nan(getattr(obj, f.name), f"{where}.{f.name}", depth + 1)
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


# -- classes the user constructs -----------------------------------------------------------------
@pytest.mark.parametrize("bad", BAD_VALUES)
def test_relu_task_from_teachers_rejects_bad_values(bad: Any) -> None:
    for kw in ("source", "target", "covariance"):
        args: dict[str, Any] = {"source": np.ones(D), "target": np.zeros(D), "covariance": None}
        args[kw] = bad
        try:
            out = relu.ReluTask.from_teachers(**args)
        except FinetuneBoundsError:
            continue
        _no_nan(out.source, kw)
        _no_nan(out.target, kw)


@pytest.mark.parametrize("bad", BAD_VALUES)
@pytest.mark.parametrize("method", ["sample", "split", "nested_split"])
def test_relu_task_sampling_rejects_bad_values(method: str, bad: Any) -> None:
    task = _task()
    args = {"sample": (N,), "split": (N, 3), "nested_split": (N, 3)}[method]
    for j in range(len(args)):
        bad_args = list(args)
        bad_args[j] = bad
        with pytest.raises(FinetuneBoundsError):
            getattr(task, method)(*bad_args, np.random.default_rng(0))
    with pytest.raises(FinetuneBoundsError):
        getattr(task, method)(*args, bad)


# -- specific edges --------------------------------------------------------------------------------
def test_odd_width_and_bad_generators() -> None:
    with pytest.raises(InvalidInputError, match="width"):
        relu.antisymmetric_init(7, D, _rngs())
    with pytest.raises(InvalidInputError, match="rngs"):
        relu.antisymmetric_init(M, D, [1, 2])


def test_train_rejects_bad_learning_rate_shape() -> None:
    net = _net()
    x = _unit_rows(N)
    with pytest.raises(InvalidInputError, match="lr"):
        relu.train(net, x, np.zeros(N), lr=[0.1, 0.2, 0.3])
    with pytest.raises(InvalidInputError, match="y"):
        relu.train(net, x, np.zeros((2, 2, N)), lr=0.1)


def test_kernel_learning_curve_rejects_bad_ns() -> None:
    x = _unit_rows(N)
    for ns in ([0], [N + 1], [1.5], [[1, 2]], ["a"], [], [True]):
        with pytest.raises(InvalidInputError, match="ns"):
            relu.kernel_learning_curve(x, np.ones(N), x, np.ones(N), ns=ns)


def test_huge_teachers_overflow_is_typed() -> None:
    task = relu.ReluTask.from_teachers(np.full(D, 1e300), np.full(D, -1e300))
    with pytest.raises(FinetuneBoundsError), warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        relu.theory_curve(task, [3], draws=1, n_test=3)


# -- resource limits -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fn", "kw", "value"),
    [("antisymmetric_init", "width", 10**9), ("simulate_cell", "width", 10**9),
     ("simulate_cell", "n", 10**7), ("simulate_measures", "n", 10**7),
     ("simulate_measures", "width", 10**9), ("simulate_measures", "d", 10**7),
     ("simulate_measures", "instances", 10**7), ("simulate_cell", "n_test", 10**7),
     ("simulate_cell", "max_steps", 10**9), ("simulate_cell", "pretrain_steps", 10**9),
     ("simulate_cell", "pretrain_samples", 10**7), ("train", "max_steps", 10**9),
     ("gd_pretrain", "steps", 10**9), ("theory_curve", "ns", [10**7]),
     ("theory_curve", "draws", 10**7), ("theory_curve", "n_test", 10**7),
     ("theory_sample_complexity", "n_max", 10**7), ("theory_sample_complexity", "draws", 10**7),
     ("theory_sample_complexity", "n_test", 10**7), ("synthetic_task", "d", 10**7),
     ("random_instance", "d", 10**7), ("antisymmetric_init", "dim", 10**7),
     ("bound_sample_complexity", "grid_points", 10**9)],
)
def test_resource_limits(fn: str, kw: str, value: Any) -> None:
    func, kws = _baselines()[fn]
    t0 = time.perf_counter()
    with pytest.raises(ResourceLimitError, match=kw if kw != "ns" else "n"):
        func(**{**kws, kw: value})
    assert time.perf_counter() - t0 < 2.0


def test_resource_limit_on_the_rngs_sequence() -> None:
    with limits.override(draws=1), pytest.raises(ResourceLimitError, match="rngs"):
        relu.antisymmetric_init(M, D, _rngs(2))


def test_limits_override_changes_the_verdict() -> None:
    func, kws = _baselines()["simulate_cell"]
    with limits.override(width=4), pytest.raises(ResourceLimitError, match="width"):
        func(**kws)
    with limits.override(width=4), pytest.raises(ResourceLimitError, match="width"):
        relu.antisymmetric_init(M, D, _rngs())
    with limits.override(n=3), pytest.raises(ResourceLimitError, match="n"):
        relu.theory_curve(_task(), [N], draws=1, n_test=2)
    with limits.override(steps=2), pytest.raises(ResourceLimitError, match="max_steps"):
        relu.train(_net(), _unit_rows(N), np.zeros(N), lr=0.1, max_steps=5)
    with limits.override(elements=10), pytest.raises(ResourceLimitError):
        relu.ntk_gram(_unit_rows(N))
    with limits.override(draws=1), pytest.raises(ResourceLimitError, match="draws"):
        relu.theory_curve(_task(), [N], draws=2, n_test=2)
    # raising a limit lets a case through that the default refuses
    with limits.override(width=10**10), pytest.raises(ResourceLimitError, match="elements"):
        relu.antisymmetric_init(10**9, D, _rngs(1))
    relu.antisymmetric_init(M, D, _rngs())  # and the defaults are back


# -- extreme finite arrays -------------------------------------------------------------------------
_EXTREME = st.one_of(
    st.floats(-1e300, 1e300, allow_nan=False, allow_infinity=False),
    st.sampled_from([1e300, -1e300, 1e-300, -1e-300, 5e-324, 0.0, 1.7e308, -1.7e308]),
)


def _typed_or_finite(func: Any, *args: Any, **kwargs: Any) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            out = func(*args, **kwargs)
    except FinetuneBoundsError:
        return
    _no_nan(out, func.__name__)
    for f in dataclasses.fields(out) if dataclasses.is_dataclass(out) else ():
        v = getattr(out, f.name)
        if isinstance(v, np.ndarray) and v.dtype.kind == "f" and f.name not in _NAN_ALLOWED:
            assert np.all(np.isfinite(v)) or f.name.endswith("ratio"), (func.__name__, f.name)
        elif isinstance(v, float) and f.name not in ("steps", "condition"):
            assert math.isfinite(v), (func.__name__, f.name)


@settings(max_examples=12)
@given(
    x=hnp.arrays(np.float64, (N, D), elements=_EXTREME),
    r=hnp.arrays(np.float64, (N,), elements=_EXTREME),
)
def test_theory_routes_on_extreme_arrays(x: np.ndarray, r: np.ndarray) -> None:
    xt = _unit_rows(3, seed=1)
    _typed_or_finite(relu.normalize_inputs, x)
    _typed_or_finite(relu.generalization_bound, x, r, normalize=True)
    _typed_or_finite(relu.complexity, x, r, normalize=True, ridge=1e-3)
    _typed_or_finite(relu.kernel_predict, x, r, xt, normalize=True, ridge=1e-3)
    _typed_or_finite(relu.kernel_learning_curve, x, r, xt, r[:3], normalize=True, ridge=1e-3)
    _typed_or_finite(relu.worst_case_complexity, x, r[:D], normalize=True, ridge=1e-3)
    _typed_or_finite(relu.bound_sample_complexity, x, r, 0.5, normalize=True, ridge=1e-3,
                     grid_points=3)


@settings(max_examples=8)
@given(
    src=hnp.arrays(np.float64, (D,), elements=_EXTREME),
    tgt=hnp.arrays(np.float64, (D,), elements=_EXTREME),
)
def test_task_routes_on_extreme_teachers(src: np.ndarray, tgt: np.ndarray) -> None:
    try:
        task = relu.ReluTask.from_teachers(src, tgt)
    except FinetuneBoundsError:
        return
    _typed_or_finite(relu.theory_curve, task, [2, 4], draws=1, n_test=3)
    _typed_or_finite(relu.theory_sample_complexity, task, [0.5], n_max=4, draws=1, n_test=3,
                     grid_points=3)
    _typed_or_finite(relu.simulate_cell, task, 4, M, _rngs(1), n_test=3, max_steps=3,
                     tol=1e-2)


@settings(max_examples=8)
@given(
    x=hnp.arrays(np.float64, (N, D), elements=_EXTREME),
    y=hnp.arrays(np.float64, (N,), elements=_EXTREME),
)
def test_training_routes_on_extreme_arrays(x: np.ndarray, y: np.ndarray) -> None:
    net = _net(1)
    _typed_or_finite(relu.train, net, x, y, lr=0.1, max_steps=3)
    _typed_or_finite(relu.gd_pretrain, net, x, y, steps=3)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            out = relu.empirical_ntk(net, x)
            pretrained = relu.closed_form_pretrain(net, y[:D])
            f = pretrained(x)
    except FinetuneBoundsError:
        return
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(f))
