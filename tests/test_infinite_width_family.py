"""The ``infinite_width`` family through the sweep spine (spec infinite-width-transfer.md §3–§5)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import finetune_bounds as fb
from finetune_bounds.errors import ConfigError
from finetune_bounds.families import get_family
from finetune_bounds.infinite_width import (
    empirical_spectrum,
    lazy_kernels,
    learning_curve,
    linear_pair,
    toy_transfer,
)

SMALL = {"dim": 8, "n_test": 40, "neurons": 100, "width": 60, "tol": 1e-5, "max_time": 100.0,
         "alpha_s": 0.9}


@pytest.fixture(scope="module")
def frame() -> object:
    return fb.run("infinite_width", params=SMALL, axes={"nu2": [0.5, 2.0]}, seeds=2).frame


def test_every_route_and_protocol_is_there(frame: object) -> None:
    df = frame  # a pandas DataFrame
    err = df[df.quantity == "error"]  # type: ignore[attr-defined]
    methods = {m: set(err[err.method == m].protocol) for m in set(err.method)}
    assert methods["gd"] == methods["particle_dmft"] == {
        "scratch_lazy", "scratch_rich", "ft", "jr_e", "jr_i"}
    assert methods["toy"] == {"scratch_lazy", "scratch_rich", "ft"}
    assert methods["learning_curve"] == {"scratch_lazy", "ft"}
    gd = err[err.method == "gd"]
    assert set(gd.seed) == {0, 1} and set(gd.source) == {"empirical"}
    assert set(err[err.method != "gd"].source) == {"theory"}
    jr = df[df.protocol.isin(["jr_e", "jr_i"])]  # type: ignore[attr-defined]
    assert set(jr.readout) == {"reset"}
    assert set(df[df.protocol == "ft"].readout) == {"fresh"}  # type: ignore[attr-defined]


def test_gains_are_scratch_minus_protocol(frame: object) -> None:
    df = frame[frame.method == "gd"]  # type: ignore[index,attr-defined]
    for nu in (0.5, 2.0):
        for s in (0, 1):
            cell = df[(df.nu2 == nu) & (df.seed == s)]
            e = {r.protocol: r.value for r in cell[cell.quantity == "error"].itertuples()}
            g = cell[(cell.quantity == "gain_lazy") & (cell.protocol == "ft")].value.item()
            assert g == pytest.approx(e["scratch_lazy"] - e["ft"], abs=1e-12)


def test_toy_rows_match_the_library(frame: object) -> None:
    # ŝ = γ₁²D/(λ₁δ) = 1·8/(0.1·0.1) with the defaults; rich control from γ₂, λ₂
    t = toy_transfer(0.9, 2.0, 0.5, source="S-B", s_hat=800.0, s_hat_target=800.0,
                     ridge_source=0.1, ridge_target=0.1)
    df = frame
    row = df[(df.method == "toy") & (df.protocol == "ft") & (df.quantity == "error")  # type: ignore[index,attr-defined]
             & (df.nu2 == 0.5)]
    assert row.value.item() == pytest.approx(t.e_ft, rel=1e-12)


def test_lazy_learning_curve_rows_match_the_library(frame: object) -> None:
    task = linear_pair(8, 16, 16, 40, alpha_s=0.9, rng=0)  # max ν₂ = 2 → P₂ = 16
    spec = empirical_spectrum(lazy_kernels(task.x_test, activation="linear").phi, task.y_test)
    lc = learning_curve(spec.eigenvalues, spec.target_power, [4.0, 16.0], ridge=0.1)
    df = frame
    rows = df[(df.method == "learning_curve") & (df.protocol == "scratch_lazy")]  # type: ignore[index,attr-defined]
    np.testing.assert_allclose(rows.sort_values("nu2").value.to_numpy(), lc.error, rtol=1e-12)


def test_particles_and_gd_agree_roughly(frame: object) -> None:
    df = frame
    err = df[df.quantity == "error"]  # type: ignore[attr-defined]
    for prot in ("scratch_lazy", "ft"):
        gd = err[(err.method == "gd") & (err.protocol == prot) & (err.nu2 == 2.0)].value
        dm = err[(err.method == "particle_dmft") & (err.protocol == prot)
                 & (err.nu2 == 2.0)].value.item()
        # widths 60 and 100: O(N^{-1/2}) ≈ 10–15 % apart, plus the seed spread
        assert abs(gd.mean() - dm) < 0.3 * dm + 4 * gd.std() / math.sqrt(len(gd))


def test_width_gap_mode() -> None:
    params = {k: v for k, v in SMALL.items() if k != "width"}
    df = fb.run("infinite_width", params={**params, "mode": "width_gap", "tol": 1e-7},
                grid={"width": [50, 800]}, seeds=3).frame
    assert set(df.quantity) == {"gap"} and set(df.reference) == {"closed_form_sb"}
    means = df.groupby("width").value.mean()
    assert means[800] < 0.5 * means[50]  # 16× the width: ≈ 4× smaller


def test_relu_and_digits_cells_run() -> None:
    df = fb.run("infinite_width", params={"task": "digits", "nu1": 0.25, "nu2": 0.25,
                                          "activation": "relu", "n_test": 30, "neurons": 60,
                                          "width": 40, "tol": 1e-4, "max_time": 20.0,
                                          "protocols": "scratch_lazy ft"}, seeds=1).frame
    assert set(df[df.quantity == "error"].method) == {"gd", "particle_dmft", "learning_curve"}
    assert np.all(np.isfinite(df.value))


@pytest.mark.parametrize(
    "params",
    [
        {"source_classes": "1 1"},
        {"target_classes": "7"},
        {"protocols": "ft transfer"},
        {"nu2": 0.0},
        {"alpha_s": 1.5},
        {"anchor": "source"},
        {"ridge_target": 0.0},
        {"task": "digits", "nu2": 4.0, "n_test": 200},
    ],
)
def test_config_errors(params: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        get_family("infinite_width").resolve(params)
