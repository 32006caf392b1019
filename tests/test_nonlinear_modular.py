"""Modular-arithmetic Transformer task of the nonlinear family (finetune_bounds.nonlinear)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from _torch import skip_without_torch, torch
from finetune_bounds.errors import (
    FinetuneBoundsError,
    InvalidInputError,
    SolverError,
)
from finetune_bounds.nonlinear import _modular as M
from finetune_bounds.nonlinear._common import FinetuneResult, Knobs

pytestmark = skip_without_torch

P = 7  # tiny modulus: 49 pairs, fast


@pytest.fixture(scope="module")
def state() -> dict[str, np.ndarray]:
    return M.pretrain(Knobs(), 0, p=P, steps=30)


def _group_norms(model: torch.nn.Module) -> tuple[float, float, float]:
    early, late, readout = M.layer_groups(model)

    def norm(names: list[str]) -> float:
        sq = 0.0
        for name in names:
            for param in model.get_submodule(name).parameters():
                sq += float((param.detach().double() ** 2).sum())
        return math.sqrt(sq)

    return norm(early), norm(late), norm([readout])


def test_data_splits() -> None:
    x_tr, y_tr, x_te, _ = M.pretrain_data(P)
    assert len(x_tr) + len(x_te) == P * P
    assert len(x_tr) == round(M.PRETRAIN_FRACTION * P * P)
    assert np.all(x_tr[:, 2] == P) and np.all(y_tr == (x_tr[:, 0] + x_tr[:, 1]) % P)
    x_pool, y_pool, x_ft_te, _ = M.finetune_data(P)
    assert len(x_pool) + len(x_ft_te) == P * P
    assert np.all(y_pool == (x_pool[:, 0] + x_pool[:, 1] + 1) % P)
    sub = M.finetune_data(P, "sub")
    assert np.all(sub[1] == (sub[0][:, 0] - sub[0][:, 1]) % P)
    assert np.array_equal(sub[0], x_pool)
    with pytest.raises(InvalidInputError, match="op"):
        M.finetune_data(P, "mul")
    # the pool and the fine-tuning test set are disjoint
    pool = {tuple(r) for r in x_pool.tolist()}
    assert not pool & {tuple(r) for r in x_ft_te.tolist()}
    # fixed splits
    assert np.array_equal(M.finetune_data(P)[0], x_pool)


def test_model_shapes_and_groups() -> None:
    model = M.build_model(P, width=16, heads=2)
    x = torch.from_numpy(M.pretrain_data(P)[0])
    assert model(x).shape == (len(x), P)
    early, late, readout = M.layer_groups(model)
    owned = set()
    for name in (*early, *late, readout):
        owned |= {id(q) for q in model.get_submodule(name).parameters()}
    assert owned == {id(q) for q in model.parameters()}  # every parameter is in a group


@pytest.mark.parametrize("knobs", [Knobs(kappa=0.25), Knobs(kappa=4.0, scale=0.5), Knobs(scale=2)])
def test_knobs_scale_init(knobs: Knobs) -> None:
    base = _group_norms(M.init_model(P, Knobs(), 3, width=16, heads=2))
    scaled = _group_norms(M.init_model(P, knobs, 3, width=16, heads=2))
    want = (knobs.kappa * knobs.scale, knobs.scale / knobs.kappa, knobs.scale / knobs.kappa)
    for b, s, w in zip(base, scaled, want, strict=True):
        assert s == pytest.approx(b * w, rel=1e-6)


def test_zero_readout_scale_gives_uniform_logits(state: dict[str, np.ndarray]) -> None:
    # readout_scale 0: the fresh readout is all zeros, so the initial loss is log p exactly
    res = M.finetune(state, 10, Knobs(readout_scale=0.0), 1, p=P, steps=1)
    assert res.initial_train_loss == pytest.approx(math.log(P), rel=1e-6)


@pytest.mark.parametrize("readout_scale", [0.1, 3.0])
def test_fresh_readout_is_default_times_readout_scale(readout_scale: float) -> None:
    model = M.build_model(P)
    norms = []
    for factor in (1.0, readout_scale):
        torch.manual_seed(5)
        M._fresh_readout(model, factor)
        w, b = model.readout.weight.detach(), model.readout.bias.detach()
        norms.append((float(w.norm()), float(b.norm())))
    assert norms[1][0] == pytest.approx(readout_scale * norms[0][0], rel=1e-6)
    assert norms[1][1] == pytest.approx(readout_scale * norms[0][1], rel=1e-6)


def test_determinism(state: dict[str, np.ndarray]) -> None:
    again = M.pretrain(Knobs(), 0, p=P, steps=30)
    assert state.keys() == again.keys()
    assert all(np.array_equal(state[k], again[k]) for k in state)
    other = M.pretrain(Knobs(), 1, p=P, steps=30)
    assert not np.array_equal(state["tok_embed.weight"], other["tok_embed.weight"])
    a = M.finetune(state, 20, Knobs(), 2, p=P, steps=20)
    b = M.finetune(state, 20, Knobs(), 2, p=P, steps=20)
    c = M.finetune(state, 20, Knobs(), 3, p=P, steps=20)
    assert a == b
    assert a != c
    assert M.scratch(20, Knobs(), 2, p=P, steps=20) == M.scratch(20, Knobs(), 2, p=P, steps=20)
    for k in state:
        assert state[k].dtype == (np.float64 if k == "pretrain_test_error" else np.float32)


def test_training_reduces_loss(state: dict[str, np.ndarray]) -> None:
    res = M.finetune(state, 25, Knobs(), 0, p=P, steps=40)
    assert isinstance(res, FinetuneResult)
    assert res.train_loss < 0.5 * res.initial_train_loss
    assert res.n_ft == 25 and res.steps == 40
    assert 0.0 <= res.test_error <= 1.0 and math.isfinite(res.test_loss)
    sc = M.scratch(25, Knobs(), 0, p=P, steps=60, lr=1e-2)
    assert sc.train_loss < 0.5 * sc.initial_train_loss
    assert 0.0 <= float(state["pretrain_test_error"]) <= 1.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kappa": 0.0},
        {"kappa": -1.0},
        {"scale": float("nan")},
        {"scale": float("inf")},
        {"readout_scale": -0.5},
        {"kappa": "1"},
        {"kappa": True},
    ],
)
def test_bad_knobs(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidInputError):
        Knobs(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("n_ft", [0, -3, 1.5, True, "10", 10**6])
def test_bad_n_ft(state: dict[str, np.ndarray], n_ft: object) -> None:
    with pytest.raises(InvalidInputError, match="n_ft"):
        M.finetune(state, n_ft, Knobs(), 0, p=P, steps=1)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="n_ft"):
        M.scratch(n_ft, Knobs(), 0, p=P, steps=1)  # type: ignore[arg-type]


def test_n_ft_pool_bound(state: dict[str, np.ndarray]) -> None:
    pool = len(M.finetune_data(P)[0])
    M.finetune(state, pool, Knobs(), 0, p=P, steps=1)
    with pytest.raises(InvalidInputError, match=str(pool)):
        M.finetune(state, pool + 1, Knobs(), 0, p=P, steps=1)


@pytest.mark.parametrize("p", [4, 98, 23.0, None, "7"])
def test_bad_p(p: object) -> None:
    with pytest.raises(InvalidInputError, match="p must"):
        M.pretrain(Knobs(), 0, p=p, steps=1)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="p must"):
        M.build_model(p)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"steps": 0}, "steps"),
        ({"steps": 2.5}, "steps"),
        ({"steps": 10**9}, "steps"),
        ({"lr": 0.0}, "lr"),
        ({"lr": float("nan")}, "lr"),
        ({"lr": -1e-3}, "lr"),
        ({"weight_decay": -1.0}, "weight_decay"),
        ({"width": 30, "heads": 4}, "multiple"),
        ({"heads": 0}, "heads"),
    ],
)
def test_bad_training_args(
    state: dict[str, np.ndarray], kwargs: dict[str, object], match: str
) -> None:

    with pytest.raises(FinetuneBoundsError, match=match):
        M.pretrain(Knobs(), 0, p=P, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(FinetuneBoundsError, match=match):
        M.finetune(state, 5, Knobs(), 0, p=P, **kwargs)  # type: ignore[arg-type]


def test_bad_knobs_and_seed_types(state: dict[str, np.ndarray]) -> None:
    with pytest.raises(InvalidInputError, match="knobs"):
        M.finetune(state, 5, {"kappa": 1.0}, 0, p=P)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="seed"):
        M.pretrain(Knobs(), -1, p=P, steps=1)
    with pytest.raises(InvalidInputError, match="seed"):
        M.init_model(P, Knobs(), 1.5)  # type: ignore[arg-type]


def test_bad_state(state: dict[str, np.ndarray]) -> None:
    broken = {k: v for k, v in state.items() if k != "mlp.fc1.weight"}
    with pytest.raises(InvalidInputError, match=r"mlp\.fc1\.weight"):
        M.finetune(broken, 5, Knobs(), 0, p=P, steps=1)
    with pytest.raises(InvalidInputError, match="shape"):
        M.finetune(state, 5, Knobs(), 0, p=11, steps=1)  # state is for p = 7
    nan = dict(state)
    nan["readout.bias"] = np.full_like(state["readout.bias"], np.nan)
    nan["attn.q.weight"] = np.full_like(state["attn.q.weight"], np.nan)
    with pytest.raises(InvalidInputError, match="finite"):
        M.finetune(nan, 5, Knobs(), 0, p=P, steps=1)
    with pytest.raises(InvalidInputError, match="state"):
        M.finetune(None, 5, Knobs(), 0, p=P)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="state"):
        M.finetune([1, 2], 5, Knobs(), 0, p=P)  # type: ignore[arg-type]


def test_non_finite_loss_is_solver_error(state: dict[str, np.ndarray]) -> None:
    # an absurd learning rate sends the float32 weights to inf after the first update
    with pytest.raises(SolverError, match=r"non-finite.*at step [1-9]"):
        M.scratch(5, Knobs(), 0, p=P, steps=60, lr=1e38)
    with pytest.raises(SolverError, match=r"finetune: non-finite"):
        M.finetune(state, 5, Knobs(), 0, p=P, steps=60, lr=1e38)
    assert issubclass(SolverError, FinetuneBoundsError)


def test_import_without_torch_is_lazy() -> None:
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import finetune_bounds.nonlinear._modular as m\n"
        "from finetune_bounds.nonlinear._common import Knobs, TorchUnavailableError\n"
        "try:\n    m.build_model(7)\nexcept TorchUnavailableError:\n    print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"
