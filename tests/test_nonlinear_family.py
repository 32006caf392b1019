"""The ``nonlinear`` sweep family (issue 14): records, shared pretraining, determinism, the
diagonal analogue, and what happens without PyTorch."""

from __future__ import annotations

import importlib.util
import math
from typing import Any

import numpy as np
import pytest

import finetune_bounds as fb
from finetune_bounds.errors import ConfigError
from finetune_bounds.nonlinear import _family as fam
from finetune_bounds.nonlinear import analogue_settings

FAST = {"pretrain_steps": 15, "finetune_steps": 8}


def _without_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "torch" else real(name, *a))


# ---------------------------------------------------------------- the analogue (no torch needed)
def test_analogue_maps_the_knobs() -> None:
    base = analogue_settings(1.0, 1.0, 1.0)
    assert base == {"lambda_pt": 0.0, "c_pt": 1e-3, "gamma_ft": 0.01}
    small, big = analogue_settings(0.5, 1.0, 1.0), analogue_settings(2.0, 1.0, 1.0)
    assert small["lambda_pt"] == pytest.approx(math.tanh(2 * math.log(0.5)))
    assert small["lambda_pt"] == pytest.approx(-big["lambda_pt"]) and small["lambda_pt"] < 0
    assert analogue_settings(1.0, 3.0, 1.0)["c_pt"] == pytest.approx(9e-3)
    assert analogue_settings(1.0, 1.0, 0.1)["gamma_ft"] == pytest.approx(1e-3)
    assert analogue_settings(1e-6, 1.0, 1.0)["lambda_pt"] == -0.999999  # kept off −1


def test_analogue_theory_states_the_predictions() -> None:
    """The diagonal analogue on a sparse-subset task (the defaults) predicts what issue 14 asks
    the networks about: smaller early layers help, a larger scale hurts, a smaller readout
    helps — at an intermediate α."""
    def err(**knobs: float) -> float:
        p = {**fam.DEFAULTS, "kappa": 1.0, "scale": 1.0, "readout_scale": 1.0, **knobs,
             "n": [32], "analogue_d": 1000}
        (row,) = fam._theory(p, np.random.default_rng(0))
        return float(row["value"])

    assert err(kappa=0.25) < err() < err(kappa=4.0)
    assert err(scale=0.5) < err() < err(scale=2.0)
    assert err(readout_scale=0.1) <= err() < err(readout_scale=3.0)


def test_without_torch_the_family_fails_once_at_load(monkeypatch: pytest.MonkeyPatch) -> None:
    _without_torch(monkeypatch)
    with pytest.raises(ConfigError, match=r"finetune-bounds\[torch\]"):
        fb.run("nonlinear", params=FAST, axes={"n": [8]}, seeds=1)


def test_the_report_leaves_nonlinear_out_without_torch(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from finetune_bounds.report._cli import find_configs

    _without_torch(monkeypatch)
    kept = {p.stem for p in find_configs()}
    shipped = {p.stem for p in fb.sweep.example_configs()}
    assert {n for n in shipped - kept} == {n for n in shipped if n.startswith("nonlinear_")}
    assert len(shipped - kept) == 6
    assert "finetune-bounds[torch]" in capsys.readouterr().err


def test_bad_knobs_are_config_errors() -> None:
    for bad in ({"kappa": 0.0}, {"scale": -1.0}, {"readout_scale": math.nan},
                {"task": "cifar"}, {"pretrain_steps": 10**9}):
        with pytest.raises(fb.FinetuneBoundsError):
            fb.run("nonlinear", params={**FAST, **bad}, axes={"n": [8]}, seeds=1)


# ---------------------------------------------------------------- real training (torch)
def _run(**params: Any) -> Any:
    return fb.run("nonlinear", params={**FAST, **params}, axes={"n": [8, 16]}, seeds=2)


def test_records_of_a_cell() -> None:
    pytest.importorskip("torch", reason="the nonlinear family needs the torch extra")
    frame = _run(task="digits_cnn", scratch=True).frame
    q = set(frame["quantity"])
    assert {"test_error", "train_loss", "pretrain_test_error", "diagonal_error"} <= q
    te = frame[frame.quantity == "test_error"]
    assert set(te["start"]) == {"pretrained", "scratch"}
    assert te["value"].between(0, 1).all() and np.isfinite(frame["value"]).all()
    assert sorted(set(te["n"])) == [8, 16] and sorted(set(te["seed"])) == [0, 1]
    assert (frame[frame.quantity == "diagonal_error"]["source"] == "theory").all()


def test_same_seed_same_numbers_and_pretraining_is_shared(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("torch", reason="the nonlinear family needs the torch extra")
    from finetune_bounds.nonlinear import _digits_cnn

    calls: list[int] = []
    real = _digits_cnn.pretrain

    def counting(*a: Any, **k: Any) -> Any:
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(_digits_cnn, "pretrain", counting)
    cfg = fb.sweep.SweepConfig.from_dict({
        "name": "nl", "family": "nonlinear", "seeds": 2,
        # pretrain_steps of its own: no other test has cached these pretrainings in memory
        "params": {**FAST, "task": "digits_cnn", "pretrain_steps": 17},
        "grid": {"readout_scale": [0.5, 1.0]}, "axes": {"n": [8, 16]}})
    a = fb.sweep.run_sweep(cfg)
    assert len(calls) == 2  # one pretraining per seed, shared by both readout scales
    b = fb.sweep.run_sweep(cfg)
    assert a.equals(b)
    # paired design: the two readout scales fine-tune on the same samples, yet differ
    te = a[a.quantity == "test_error"].pivot_table(index=["seed", "n"], columns="readout_scale",
                                                  values="value")
    assert te.shape == (4, 2)


def test_modular_task_runs_through_the_family() -> None:
    pytest.importorskip("torch", reason="the nonlinear family needs the torch extra")
    frame = fb.run("nonlinear", params={**FAST, "task": "modular"}, axes={"n": [20]},
                   seeds=1).frame
    te = frame[frame.quantity == "test_error"]["value"]
    assert len(te) == 1 and 0 <= float(te.iloc[0]) <= 1


def test_winners_table() -> None:
    import pandas as pd

    from finetune_bounds.nonlinear import winners

    rows = []
    for k, errs in {0.5: [0.1, 0.12, 0.11], 1.0: [0.3, 0.32, 0.31]}.items():
        for s, e in enumerate(errs):
            rows.append({"quantity": "test_error", "source": "empirical", "task": "t", "n": 8,
                         "kappa": k, "value": e, "seed": s, "start": "pretrained"})
        rows.append({"quantity": "diagonal_error", "source": "theory", "task": "t", "n": 8,
                     "kappa": k, "value": 1.0 if k == 0.5 else 0.5, "seed": -1, "start": None})
    w = winners(pd.DataFrame(rows), "kappa")
    (row,) = w.to_dict("records")
    assert row["best"] == 0.5 and row["runner_up"] == 1.0 and row["predicted"] == 1.0
    assert not row["agrees"] and row["margin_se"] > 10
    with pytest.raises(fb.InvalidInputError, match="knob"):
        winners(pd.DataFrame(rows), "width")
