"""Hard edges of ``finetune_bounds.infinite_width`` (issue 13): every public callable, given one
bad value at a time, raises a typed :class:`FinetuneBoundsError` or returns a result without
NaN; resource limits refuse huge sizes before allocating; kernels and closed forms on extreme
float magnitudes give a typed error or a finite result.
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

from _fuzz import BAD_VALUES, call_with_bad_value, fuzz_cases, fuzz_params, public_functions
from finetune_bounds import infinite_width as iw
from finetune_bounds import limits
from finetune_bounds.errors import (
    ConvergenceError,
    FinetuneBoundsError,
    InvalidInputError,
    ResourceLimitError,
    SolverError,
)

D = 4
P = 4
WIDTH = 8


def _x(n: int = P, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, D))


def _task() -> iw.TransferTask:
    return iw.linear_pair(D, P, P, 3, alpha_s=0.5, rng=0)


def _net() -> iw.Network:
    return iw.init_network(WIDTH, D, seeds=1, gamma=1.0, activation="relu")


def _setting() -> iw.TransferSetting:
    return iw.TransferSetting(activation="linear")


_STOP = {"tol": 1e-4, "max_time": 5.0, "max_steps": 20}


def _baselines() -> dict[str, tuple[Any, dict[str, Any]]]:
    x, y, xe = _x(), _x()[:, 0], _x(3, seed=1)
    task = _task()
    net = _net()
    lazy = iw.lazy_kernels(x)
    return {
        "Network": (iw.Network, {"W": np.array(net.W), "z": np.array(net.z), "gamma": 1.0,
                                 "activation": "relu"}),
        "TransferSetting": (iw.TransferSetting,
                            {"gamma_source": 1.0, "gamma_target": 1.0, "ridge_source": 0.1,
                             "ridge_hidden": 0.1, "ridge_target": 0.1, "stiffness": 1.0,
                             "anchor": "init", "readout": "reset", "time_jr_i": 1.0,
                             "activation": "relu"}),
        "TransferTask": (iw.TransferTask,
                         {"x_source": task.x_source, "y_source": task.y_source,
                          "x_target": task.x_target, "y_target": task.y_target,
                          "x_test": task.x_test, "y_test": task.y_test, "kind": "linear",
                          "meta": {}}),
        "digits_pair": (iw.digits_pair,
                        {"p_source": 4, "p_target": 4, "n_test": 3, "source_classes": (0, 1),
                         "target_classes": (7, 9), "rng": 0}),
        "empirical_spectrum": (iw.empirical_spectrum, {"gram": np.array(lazy.ntk), "targets": y}),
        "hermite_pair": (iw.hermite_pair,
                         {"dim": D, "p_source": P, "p_target": P, "n_test": 3, "alpha_s": 0.5,
                          "degree": 2, "noise_source": 0.1, "noise_target": 0.1, "rng": 0}),
        "init_network": (iw.init_network,
                         {"width": WIDTH, "dim": D, "seeds": 2, "gamma": 1.0,
                          "activation": "relu"}),
        "input_kernel": (iw.input_kernel, {"x1": x, "x2": xe}),
        "lazy_kernels": (iw.lazy_kernels, {"x1": x, "x2": xe, "activation": "relu"}),
        "learning_curve": (iw.learning_curve,
                           {"eigenvalues": 1.0 / np.arange(1, 9), "target_power":
                            1.0 / np.arange(1, 9) ** 2, "n": [0, 2, 8], "ridge": 1e-3,
                            "noise_variance": 0.1}),
        "linear_closed_form_sa": (iw.linear_closed_form_sa,
                                  {"x": x, "y": y, "x_eval": xe, "gamma": 1.0,
                                   "ridge_readout": 0.1, "ridge_hidden": 0.1, "strict": False}),
        "linear_closed_form_sb": (iw.linear_closed_form_sb,
                                  {"x": x, "y": y, "x_eval": xe, "gamma": 1.0,
                                   "ridge_readout": 0.1, "ridge_hidden": 0.1, "strict": False}),
        "linear_pair": (iw.linear_pair,
                        {"dim": D, "p_source": P, "p_target": P, "n_test": 3, "alpha_s": 0.5,
                         "noise_source": 0.1, "noise_target": 0.1, "rng": 0}),
        "make_task": (iw.make_task,
                      {"kind": "linear", "dim": D, "p_source": P, "p_target": P, "n_test": 3,
                       "alpha_s": 0.5, "noise_source": 0.0, "noise_target": 0.0, "rng": 0}),
        "monte_carlo_kernels": (iw.monte_carlo_kernels,
                                {"x1": x, "x2": xe, "activation": "relu", "neurons": 64,
                                 "rng": 0, "chunk": 16}),
        "mp_stieltjes": (iw.mp_stieltjes, {"nu": [0.5, 2.0], "kappa": 0.3}),
        "particle_dmft": (iw.particle_dmft,
                          {"x_train": x, "y_train": y, "x_eval": xe, "gamma": 1.0,
                           "ridge_readout": 0.1, "ridge_hidden": 0.1, "activation": "relu",
                           "neurons": WIDTH, "anchor": "zero", **_STOP, "rng": 0,
                           "strict": False, "stall_tol": None}),
        "phase_diagram": (iw.phase_diagram,
                          {"alpha_s_grid": [0.0, 0.9], "second_grid": [0.5, 2.0],
                           "second": "nu2", "baseline": "lazy", "nu1": 2.0, "source": "S-B",
                           "s_hat": 1.0, "ridge_source": 1.0, "ridge_target": 0.1}),
        "readout_ridge": (iw.readout_ridge,
                          {"net": net, "x_train": x, "y_train": y, "x_eval": xe, "ridge": 0.1}),
        "ridge_limits": (iw.ridge_limits, {"nu": [0.5, 2.0], "kappa": 0.3,
                                           "noise_variance": 0.1}),
        "ridge_readout_predict": (iw.ridge_readout_predict,
                                  {"phi_train": np.abs(_x(P, 2)), "phi_eval": np.abs(_x(3, 3)),
                                   "y": y, "ridge": 0.1}),
        "source_limit": (iw.source_limit,
                         {"nu1": 2.0, "source": "S-B", "s_hat": 1.0, "lam_hat": None,
                          "ridge_readout": 1.0, "noise_variance": 0.1, "strict": False}),
        "toy_transfer": (iw.toy_transfer,
                         {"alpha_s": [0.0, 0.9], "nu1": 2.0, "nu2": 0.5, "source": "S-B",
                          "s_hat": 1.0, "lam_hat": None, "ridge_source": 1.0,
                          "ridge_target": 0.1, "noise_source": 0.0, "noise_target": 0.1,
                          "s_hat_target": None, "lam_hat_target": None}),
        "train": (iw.train,
                  {"net": net, "x": x, "y": y, "gamma": None, "ridge_readout": 0.1,
                   "ridge_hidden": 0.1, "anchor_hidden": None, "anchor_readout": None,
                   "freeze_hidden": False, "lr": None, **_STOP, "stall_tol": None}),
        "transfer_curve": (iw.transfer_curve,
                           {"task": task, "setting": _setting(), "target_sizes": [2, 4],
                            "solver": "particle", "protocols": ("scratch_lazy", "ft"),
                            "width": WIDTH, "seeds": 1, **_STOP}),
        "transfer_dmft": (iw.transfer_dmft,
                          {"task": task, "setting": _setting(),
                           "protocols": ("scratch_lazy", "ft", "jr_i"), "neurons": WIDTH,
                           "seeds": 1, **_STOP}),
        "transfer_network": (iw.transfer_network,
                             {"task": task, "setting": _setting(),
                              "protocols": ("scratch_lazy", "ft", "jr_e"), "width": WIDTH,
                              "seeds": 1, **_STOP}),
        "width_sweep": (iw.width_sweep,
                        {"x": x, "y": y, "x_eval": xe, "widths": [4, 8], "seeds": 2,
                         "reference": np.zeros(3), "gamma": 1.0, "ridge_readout": 0.1,
                         "ridge_hidden": 0.1, "activation": "linear", "anchor": "zero",
                         **_STOP}),
    }


#: Dataclasses of ``__all__`` that users build directly as inputs (fuzzed like functions).
_INPUT_CLASSES = ("Network", "TransferSetting", "TransferTask")


def test_fuzz_covers_every_public_function() -> None:
    assert sorted(_baselines()) == public_functions(iw, *_INPUT_CLASSES)


@pytest.mark.parametrize("name", sorted(_baselines()))
def test_baseline_runs_and_is_finite(name: str) -> None:
    func, kws = _baselines()[name]
    _no_nan(func(**kws), name)


# documented NaN fields: z2 of S-B (not part of that closed form); a width sweep's standard
# error with one seed and its log-log fit with fewer than two distinct widths
_SKIP_FIELDS = frozenset({"info", "z2", "meta", "gap_stderr", "slope", "intercept"})


def _no_nan(obj: Any, where: str, depth: int = 0) -> None:
    """No NaN in the numbers a caller reads (inf is allowed where documented, e.g. S-A κ)."""
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
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _no_nan(v, f"{where}[{k!r}]", depth + 1)
    elif isinstance(obj, tuple | list):
        for i, v in enumerate(obj):
            _no_nan(v, f"{where}[{i}]", depth + 1)



_CASES = fuzz_cases(_baselines())


@pytest.mark.parametrize(("fn", "kw", "i"), fuzz_params(_CASES, len(BAD_VALUES)))
def test_fuzz_one_bad_value(fn: str, kw: str, i: int) -> None:
    func, kws = _baselines()[fn]
    returned, out = call_with_bad_value(func, kws, kw, i)
    if returned:
        _no_nan(out, f"{fn}({kw}={BAD_VALUES[i]!r})")


# -- typed messages: parameter name and value ---------------------------------------------------
@pytest.mark.parametrize(
    ("fn", "kw", "bad"),
    [("particle_dmft", "neurons", 1), ("particle_dmft", "max_steps", 0),
     ("particle_dmft", "tol", math.nan), ("monte_carlo_kernels", "neurons", 0),
     ("init_network", "width", 0), ("train", "max_steps", 0), ("width_sweep", "widths", []),
     ("transfer_dmft", "neurons", 0), ("TransferTask", "x_source", None),
     ("TransferTask", "y_source", np.zeros(P + 1)), ("Network", "W", np.zeros((1, 2))),
     ("ridge_readout_predict", "ridge", 0.0), ("ridge_readout_predict", "phi_eval",
                                                np.zeros((3, 2)))],
)
def test_bad_value_names_the_parameter(fn: str, kw: str, bad: Any) -> None:
    func, kws = _baselines()[fn]
    with pytest.raises(InvalidInputError, match=kw.split("_")[0]):
        func(**{**kws, kw: bad})


def test_particle_dmft_strict_raises_convergence_error() -> None:
    func, kws = _baselines()["particle_dmft"]
    with pytest.raises(ConvergenceError):
        func(**{**kws, "activation": "linear", "strict": True, "max_steps": 2})


# -- resource limits ----------------------------------------------------------------------------
def _quick_limit(func: Any, **kw: Any) -> None:
    t0 = time.perf_counter()
    with pytest.raises(ResourceLimitError):
        func(**kw)
    assert time.perf_counter() - t0 < 2.0


@pytest.mark.parametrize(
    ("fn", "kw", "huge"),
    [("init_network", "width", 10**9), ("init_network", "seeds", 10**7),
     ("init_network", "dim", 10**7), ("particle_dmft", "neurons", 10**9),
     ("particle_dmft", "max_steps", 10**12), ("monte_carlo_kernels", "neurons", 10**12),
     ("transfer_dmft", "neurons", 10**9), ("transfer_network", "width", 10**9),
     ("transfer_curve", "width", 10**9), ("transfer_dmft", "seeds", 10**7),
     ("train", "max_steps", 10**12), ("width_sweep", "widths", [4, 10**9]),
     ("width_sweep", "seeds", 10**7), ("linear_pair", "p_source", 10**7),
     ("linear_pair", "dim", 10**7), ("hermite_pair", "n_test", 10**7),
     ("digits_pair", "p_source", 10**7), ("make_task", "p_target", 10**7)],
)
def test_huge_sizes_are_refused_quickly(fn: str, kw: str, huge: Any) -> None:
    func, kws = _baselines()[fn]
    _quick_limit(func, **{**kws, kw: huge})


def test_learning_curve_huge_spectrum_and_elements() -> None:
    # P × width particle features above the element limit
    with limits.override(elements=100):
        _quick_limit(iw.particle_dmft, x_train=_x(), y_train=np.zeros(P), gamma=1.0,
                     ridge_readout=0.1, ridge_hidden=0.1, neurons=64)
        _quick_limit(iw.init_network, width=64, dim=D, seeds=2, gamma=1.0)


@pytest.mark.parametrize(
    ("fn", "kw", "kind"),
    [("init_network", "width", "width"), ("particle_dmft", "neurons", "draws"),
     ("monte_carlo_kernels", "neurons", "draws"), ("transfer_network", "width", "width"),
     ("transfer_dmft", "neurons", "draws"), ("linear_pair", "p_source", "n")],
)
def test_override_changes_the_verdict(fn: str, kw: str, kind: str) -> None:
    func, kws = _baselines()[fn]
    func(**kws)  # the baseline (size 4–64) passes under the defaults
    with limits.override(**{kind: 3}), pytest.raises(ResourceLimitError, match=kw):
        func(**kws)
    func(**kws)  # and passes again after the block


def test_override_raises_a_limit() -> None:
    with limits.override(width=4), pytest.raises(ResourceLimitError, match="width"):
        iw.init_network(8, D, seeds=1, gamma=1.0)
    with limits.override(width=10**10):
        _quick_limit(iw.init_network, width=10**9, dim=D, seeds=1, gamma=1.0)  # elements


# -- numerical failures are typed ---------------------------------------------------------------
@pytest.mark.parametrize("scale", [1e-300, 1e150, 1e160])
def test_particle_dmft_extreme_scale_is_finite_or_typed(scale: float) -> None:
    _finite_or_typed(iw.particle_dmft, _x() * scale, np.full(P, scale), gamma=1.0,
                     ridge_readout=0.1, ridge_hidden=0.1, neurons=WIDTH, max_steps=20)


def test_particle_dmft_divergence_is_a_solver_error() -> None:
    with pytest.raises(SolverError, match=r"not finite|diverged"):
        iw.particle_dmft(_x() * 1e150, np.full(P, 1.0), gamma=1e-300, ridge_readout=0.1,
                         ridge_hidden=0.1, neurons=WIDTH, max_steps=20)


def test_ridge_readout_predict_validates() -> None:
    with pytest.raises(InvalidInputError, match="y"):
        iw.ridge_readout_predict(np.ones((P, 3)), np.ones((2, 3)), np.ones(P + 1), 0.1)
    with pytest.raises(InvalidInputError, match="phi_train"):
        iw.ridge_readout_predict(np.full((P, 3), np.nan), np.ones((2, 3)), np.ones(P), 0.1)


# -- Hypothesis: extreme magnitudes on the kernel / closed-form routes -------------------------
_floats = st.one_of(
    st.floats(-1e300, 1e300, allow_nan=False, allow_infinity=False),
    st.floats(-1e-300, 1e-300, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, 1.0, -1.0, 1e-320, 1e154, 1e308, -1e308]),
)
_mats = hnp.arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 4)), elements=_floats)


def _finite_or_typed(func: Any, *args: Any, **kw: Any) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            out = func(*args, **kw)
    except FinetuneBoundsError:
        return
    vals = out if isinstance(out, tuple) else (out,)
    for v in vals:
        if dataclasses.is_dataclass(v):
            arrays = [getattr(v, f.name) for f in dataclasses.fields(v)
                      if f.name in {"phi", "g", "ntk", "kx", "beta", "f_train", "f_eval",
                                    "delta"}]
        else:
            arrays = [v]
        for a in arrays:
            assert np.all(np.isfinite(np.asarray(a, dtype=np.float64))), (func.__name__, a)


@settings(max_examples=25)
@given(_mats)
def test_kernels_extreme_magnitudes(x: np.ndarray) -> None:
    _finite_or_typed(iw.input_kernel, x)
    _finite_or_typed(iw.lazy_kernels, x, activation="relu")
    _finite_or_typed(iw.lazy_kernels, x, x[::-1], activation="linear")


@settings(max_examples=25)
@given(_mats, st.sampled_from([1e-300, 1e-8, 1.0, 1e8, 1e300]))
def test_closed_forms_extreme_magnitudes(x: np.ndarray, scale: float) -> None:
    with np.errstate(over="ignore"):
        y = x[:, 0] * scale  # may be inf: then a typed error is expected
    for f in (iw.linear_closed_form_sa, iw.linear_closed_form_sb):
        _finite_or_typed(f, x, y, gamma=1.0, ridge_readout=0.1, ridge_hidden=0.1)
    _finite_or_typed(iw.ridge_readout_predict, x, x, y, scale)


@settings(max_examples=25)
@given(hnp.arrays(np.float64, st.integers(1, 4), elements=_floats),
       hnp.arrays(np.float64, st.integers(1, 4), elements=_floats))
def test_mp_stieltjes_extreme_magnitudes(nu: np.ndarray, kappa: np.ndarray) -> None:
    if nu.shape != kappa.shape:
        kappa = kappa[:1]
    _finite_or_typed(iw.mp_stieltjes, nu, kappa)
    _finite_or_typed(iw.ridge_limits, nu, kappa)
