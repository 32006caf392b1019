"""The ``diagonal`` family through the spine: configs load, cells run, rows are labelled, the
spec's settings and task types resolve, bad settings are one-line config errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import finetune_bounds as fb
from finetune_bounds import sweep
from finetune_bounds.diagonal._family import SETTINGS, TASKS

CONFIGS = sorted(Path(__file__).parent.parent.glob("configs/diagonal_*.toml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_configs_load_in_both_modes(path: Path) -> None:
    full = sweep.load_config(path)
    for cfg in (full, full.quick()):
        assert cfg.family == "diagonal" and cfg.cells()


def test_theory_rows_match_the_public_entry_point() -> None:
    res = fb.run("diagonal", params={"omega": 1.0, "regime_measures": True},
                 axes={"alpha": [0.1, 0.2], "lambda_pt": [-0.99, 0.0]}, seeds=0)
    df = res.frame
    err = df[(df.quantity == "error") & (df.source == "theory")]
    assert len(err) == 4
    for _, row in err.iterrows():
        ref = fb.diagonal.generalization_error(row.alpha, omega=1.0, lambda_pt=row.lambda_pt,
                                               gamma_ft=0.0)
        assert row.value == ref.error
    regime = df[df.quantity == "regime"].groupby("lambda_pt")["value"].first()
    assert regime[-0.99] == 3.0 and regime[0.0] == 1.0  # IV and II (category codes 0–3)


def test_settings_and_task_types_resolve_to_the_spec_values() -> None:
    fam = fb.get_family("diagonal")
    for name, (lam, gam) in SETTINGS.items():
        for task, (om, rf) in TASKS.items():
            p = fam.resolve({"setting": name, "task": task})
            assert (p["lambda_pt"], p["gamma_ft"], p["omega"], p["rho_ft"]) == (lam, gam, om, rf)


def test_empirical_rows_and_implicit_bias_gap() -> None:
    res = fb.run("diagonal", params={"d": 120, "empirical": "both", "alpha": 0.3}, seeds=2)
    df = res.frame
    emp = df[df.source == "empirical"]
    assert set(emp.quantity) == {"error", "iterations", "converged", "invariant_drift",
                                 "gd_vs_exact"}
    assert set(emp[emp.quantity == "error"].method) == {"gd", "exact"}
    assert (emp[emp.quantity == "converged"].value == 1.0).all()
    assert (emp[emp.quantity == "gd_vs_exact"].value < 5e-3).all()
    # the GD error and the exact implicit-bias error agree closely seed by seed
    gd = emp[(emp.quantity == "error") & (emp.method == "gd")].sort_values("seed").value.to_numpy()
    ex = emp[(emp.quantity == "error") & (emp.method == "exact")].sort_values("seed").value
    np.testing.assert_allclose(gd, ex.to_numpy(), rtol=0.02)


def test_scratch_does_not_depend_on_lambda() -> None:
    """Spec §2: from scratch only c_PT matters — the theory is identical for every λ_PT and
    GD on the same data gives the same β up to round-off."""
    res = fb.run("diagonal", params={"d": 100, "start": "scratch", "omega": 0.0},
                 axes={"alpha": [0.2], "lambda_pt": [-0.9, 0.0, 0.9]}, seeds=2)
    df = res.frame
    th = df[(df.quantity == "error") & (df.source == "theory")].value.to_numpy()
    assert np.ptp(th) == 0.0
    emp = df[(df.quantity == "error") & (df.source == "empirical")]
    per_lambda = emp.pivot_table(index="seed", columns="lambda_pt", values="value")
    np.testing.assert_allclose(per_lambda.to_numpy(), per_lambda[[0.0] * 3].to_numpy(),
                               rtol=1e-9)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"omega": 1.0, "rho_ft": 0.5}, "infeasible task"),
        ({"lambda_pt": -1.0, "gamma_ft": 0.0}, "saddle"),
        ({"lambda_pt": 1.5}, "lambda_pt = 1.5"),
        ({"alpha": 0.0}, "alpha = 0.0"),
        ({"c_pt": -1.0}, "c_pt"),
        ({"a_pt": 0.0}, "a_pt = 0.0"),
    ],
)
def test_bad_settings_are_config_errors(params: dict, match: str) -> None:
    with pytest.raises(fb.ConfigError, match=match):
        fb.get_family("diagonal").resolve(params)
