"""The digits CNN task of the nonlinear family: determinism, knob scaling, training, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from _torch import skip_without_torch, torch
from finetune_bounds.errors import FinetuneBoundsError, InvalidInputError, SolverError
from finetune_bounds.nonlinear import _digits_cnn as dc
from finetune_bounds.nonlinear._common import FinetuneResult, Knobs, deterministic

pytestmark = skip_without_torch

# small budgets keep the file fast; the defaults are exercised once (the pretrained fixture)
FAST_PT = {"steps": 40}
FAST_FT = {"steps": 20}


@pytest.fixture(scope="module")
def state() -> dict[str, np.ndarray]:
    return dc.pretrain(Knobs(), 0)


def test_splits_fixed_and_disjoint() -> None:
    (xtr, ytr), (_, yte) = dc.pretrain_split()
    assert set(np.unique(ytr)) == set(np.unique(yte)) == set(dc.PT_CLASSES)
    assert xtr.shape[1:] == (1, 8, 8) and xtr.dtype == np.float32
    pool, (_, yft) = dc.finetune_split()
    assert len(pool) == 2 and set(np.unique(yft)) == {0, 1}
    assert sum(len(p) for p in pool) + len(yft) == int(
        np.isin(dc._digits()[1], dc.FT_CLASSES).sum()
    )
    # the sample draw is seeded and class-balanced
    x1, y1 = dc._draw_ft(10, 3)
    x2, y2 = dc._draw_ft(10, 3)
    assert np.array_equal(x1, x2) and np.array_equal(y1, y2)
    assert int(y1.sum()) == 5
    assert abs(int(dc._draw_ft(11, 4)[1].sum()) - 5.5) == 0.5


def test_layer_groups() -> None:
    model = dc.build_model(8)
    early, late, readout = dc.layer_groups(model)
    assert early == ["conv1", "conv2"] and late == ["hidden"] and readout == "readout"
    assert model(torch.zeros(3, 1, 8, 8)).shape == (3, 8)


@pytest.mark.parametrize("knobs", [Knobs(kappa=0.25, scale=2.0), Knobs(kappa=3.0, scale=0.5)])
def test_knobs_scale_what_they_claim(knobs: Knobs) -> None:
    with deterministic(5):
        ref = dc.init_model(8, Knobs(), 5)
    with deterministic(5):
        model = dc.init_model(8, knobs, 5)
    early, late, readout = dc.layer_groups(model)
    for names, factor in ((early, knobs.early), ([*late, readout], knobs.late)):
        for name in names:
            w = getattr(model, name).weight.detach()
            w0 = getattr(ref, name).weight.detach()
            assert float(w.norm()) == pytest.approx(float(w0.norm()) * factor, rel=1e-6)
            assert torch.allclose(w, w0 * factor, rtol=1e-6, atol=0)
    # biases by the cumulative factor: the whole network is scale⁴ × the default one
    x = torch.from_numpy(dc.pretrain_split()[1][0][:20])
    with torch.no_grad():
        assert torch.allclose(model(x), ref(x) * knobs.scale**4, rtol=1e-4, atol=1e-6)


def test_readout_scale(state: dict[str, np.ndarray]) -> None:
    def fresh(r: float) -> torch.Tensor:
        with deterministic(7):
            model = dc.build_model(8)
            dc._load_body(model, state)
            dc._fresh_readout(model, 2, r)
        return model.readout.weight.detach()

    w1, w3, w0 = fresh(1.0), fresh(3.0), fresh(0.0)
    assert w1.shape == (2, 32)
    assert float(w3.norm()) == pytest.approx(3 * float(w1.norm()), rel=1e-6)
    assert float(w0.norm()) == 0.0


def test_pretrain_state_and_quality(state: dict[str, np.ndarray]) -> None:
    expected = {
        f"{m}.{p}" for m in ("conv1", "conv2", "hidden", "readout") for p in ("weight", "bias")
    }
    assert set(state) == expected | {"pretrain_test_error"}
    assert all(v.dtype == np.float32 for v in state.values())
    assert state["pretrain_test_error"].shape == ()
    assert float(state["pretrain_test_error"]) < 0.10  # default budget: 8 classes, chance 7/8


def test_pretraining_reduces_loss(state: dict[str, np.ndarray]) -> None:
    (xtr, ytr), _ = dc.pretrain_split()
    x, y = torch.from_numpy(xtr), torch.from_numpy(ytr)
    with deterministic(0):
        init = dc.init_model(8, Knobs(), 0)
        trained = dc.build_model(8)
        trained.load_state_dict({k: torch.from_numpy(v) for k, v in state.items() if "." in k})
    assert dc._evaluate(trained, x, y)[1] < 0.5 * dc._evaluate(init, x, y)[1]


def test_determinism() -> None:
    a = dc.pretrain(Knobs(kappa=0.5), 1, **FAST_PT)
    b = dc.pretrain(Knobs(kappa=0.5), 1, **FAST_PT)
    c = dc.pretrain(Knobs(kappa=0.5), 2, **FAST_PT)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["conv1.weight"], c["conv1.weight"])
    r1 = dc.finetune(a, 20, Knobs(readout_scale=0.5), 3, **FAST_FT)
    r2 = dc.finetune(a, 20, Knobs(readout_scale=0.5), 3, **FAST_FT)
    r3 = dc.finetune(a, 20, Knobs(readout_scale=0.5), 4, **FAST_FT)
    assert r1 == r2
    assert r1.test_loss != r3.test_loss
    s1, s2 = dc.scratch(20, Knobs(), 3, **FAST_FT), dc.scratch(20, Knobs(), 3, **FAST_FT)
    assert s1 == s2


def test_finetune_beats_chance(state: dict[str, np.ndarray]) -> None:
    r = dc.finetune(state, 30, Knobs(), 0)
    assert isinstance(r, FinetuneResult)
    assert (r.n_ft, r.steps) == (30, 60)
    assert r.train_loss < r.initial_train_loss
    assert r.test_error < 0.25  # chance is 1/2
    assert math.isfinite(r.test_loss)
    s = dc.scratch(30, Knobs(), 0, **FAST_FT)
    assert s.train_loss < s.initial_train_loss


@pytest.mark.parametrize(
    "call",
    [
        lambda st: dc.finetune(st, 1, Knobs(), 0),
        lambda st: dc.finetune(st, 10_000, Knobs(), 0),
        lambda st: dc.finetune(st, 2.5, Knobs(), 0),
        lambda st: dc.finetune(st, True, Knobs(), 0),
        lambda st: dc.finetune(st, 10, Knobs(), 0, steps=0),
        lambda st: dc.finetune(st, 10, Knobs(), 0, steps=-3),
        lambda st: dc.finetune(st, 10, Knobs(), 0, lr=0.0),
        lambda st: dc.finetune(st, 10, Knobs(), 0, lr=float("nan")),
        lambda st: dc.finetune(st, 10, Knobs(), -1),
        lambda st: dc.finetune(st, 10, "knobs", 0),  # type: ignore[arg-type]
        lambda st: dc.finetune(
            {k: v for k, v in st.items() if k != "conv2.weight"}, 10, Knobs(), 0
        ),
        lambda st: dc.finetune({**st, "hidden.weight": st["hidden.weight"][:3]}, 10, Knobs(), 0),
        lambda st: dc.finetune(st, 10, Knobs(), 0, channels=4),  # shapes do not match
        lambda st: dc.finetune([1, 2], 10, Knobs(), 0),  # type: ignore[arg-type]
        lambda st: dc.scratch(0, Knobs(), 0),
        lambda st: dc.pretrain(Knobs(), 0, steps=0),
        lambda st: dc.pretrain(Knobs(), 0, lr=-1.0),
        lambda st: dc.pretrain(Knobs(), 0, batch=0),
        lambda st: dc.build_model(1),
    ],
)
def test_bad_inputs_raise_typed(state: dict[str, np.ndarray], call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInputError):
        call(state)


@pytest.mark.parametrize(
    "kw", [{"kappa": 0}, {"scale": -1}, {"readout_scale": float("inf")}, {"kappa": "1"}]
)

def test_bad_knobs(kw: dict[str, object]) -> None:
    with pytest.raises(FinetuneBoundsError):
        Knobs(**kw)  # type: ignore[arg-type]


def test_n_ft_message_names_value_and_range(state: dict[str, np.ndarray]) -> None:
    with pytest.raises(InvalidInputError, match=r"\[2, \d+\].*got 1\b"):
        dc.finetune(state, 1, Knobs(), 0)


def test_divergence_is_a_solver_error(state: dict[str, np.ndarray]) -> None:
    with pytest.raises(SolverError, match="step"):
        dc.finetune(state, 20, Knobs(readout_scale=1e4), 0, lr=1e6, steps=50)
