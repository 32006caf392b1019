"""The digits CNN task of the nonlinear family (private): a small convolutional network
pretrained on eight digit classes and fine-tuned on the held-out pair 8 vs 9.

Regime
------
Real (nonlinear, ReLU) networks trained with PyTorch on scikit-learn's bundled handwritten
digits (1797 images of 8×8 pixels, scaled to [0, 1]; nothing is downloaded). Nothing here is
a theorem: the task checks, empirically, the diagonal-linear-network predictions about the
pretraining initialisation (:class:`~finetune_bounds.nonlinear._common.Knobs`).

- **Pretraining**: digits 0–7, an 8-way readout, cross-entropy, Adam on seeded minibatches.
  A fixed 75 % / 25 % split (independent of the run seed) of the 0–7 images gives the
  pretraining training and test sets.
- **Fine-tuning**: digits 8 vs 9 as a binary task. A fixed 50 % of the 8/9 images (per
  class) is the fine-tuning *pool*, the rest the *test set*. ``n_ft`` samples are drawn from
  the pool by the seed, class-balanced (when odd, the seed decides which class gets the extra
  sample). The pretrained readout is replaced by a fresh 2-way one (the default torch init
  × ``knobs.readout_scale``) and **all** layers are trained by full-batch gradient descent.
- **Scratch** baseline: the same network, from its knob-scaled initialisation, trained on the
  fine-tuning task directly with the fine-tuning optimiser.

The network (:func:`build_model`): conv3×3(1→c) ReLU maxpool2, conv3×3(c→2c) ReLU maxpool2,
flatten, linear(8c→hidden) ReLU, readout linear(hidden→classes). The *early* layers are the two
convolutions, the *late* ones the hidden linear layer and (for pretraining) the readout
(:func:`layer_groups`).

Knob scaling (:func:`init_model`): after the default torch init, the weight of layer ℓ is
multiplied by a_ℓ (κ·scale for the early layers, scale/κ for the late ones) and its bias by
the cumulative product c_ℓ = a_1 ⋯ a_ℓ. ReLU and max-pooling are positively homogeneous, so
the scaled network computes exactly c_L × the default network: κ changes only the balance
between the layers (the initial function is unchanged, κ² · κ⁻² = 1), ``scale`` multiplies the
initial output by scale⁴ — the analogues of λ_PT and c_PT of the diagonal network.

Everything runs inside :func:`~finetune_bounds.nonlinear._common.deterministic` (one thread,
deterministic algorithms, float32): the same seed gives bit-identical results.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._validation import nonneg_float, positive_int
from ..errors import InvalidInputError, SolverError
from ._common import FinetuneResult, Knobs, deterministic, require_torch

__all__ = [
    "FT_CLASSES",
    "PT_CLASSES",
    "build_model",
    "finetune",
    "finetune_split",
    "init_model",
    "layer_groups",
    "pretrain",
    "pretrain_split",
    "scratch",
]

#: the pretraining classes (8-way task) and the held-out fine-tuning pair (binary task)
PT_CLASSES: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 7)
FT_CLASSES: tuple[int, int] = (8, 9)

_SPLIT_SEED = 20240514  # fixed splits, independent of the run seeds
_PT_TRAIN_FRACTION = 0.75
_FT_POOL_FRACTION = 0.5

_EARLY = ("conv1", "conv2")
_LATE = ("hidden",)
_READOUT = "readout"
_ORDER = (*_EARLY, *_LATE, _READOUT)

Images = NDArray[np.float32]
Labels = NDArray[np.int64]


# ---------------------------------------------------------------------------------------------
# data


@lru_cache(maxsize=1)
def _digits() -> tuple[Images, Labels]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (np.asarray(bunch.data, dtype=np.float32) / np.float32(16.0)).reshape(-1, 1, 8, 8)
    y = np.asarray(bunch.target, dtype=np.int64)
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def _split_class(
    idx: NDArray[np.int64], fraction: float, rng: np.random.Generator
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    perm = rng.permutation(idx)
    k = round(fraction * len(perm))
    return np.sort(perm[:k]), np.sort(perm[k:])


@lru_cache(maxsize=1)
def _splits() -> dict[str, Any]:
    x, y = _digits()
    rng = np.random.default_rng(_SPLIT_SEED)
    pt_train, pt_test = [], []
    for k in PT_CLASSES:
        a, b = _split_class(np.flatnonzero(y == k), _PT_TRAIN_FRACTION, rng)
        pt_train.append(a)
        pt_test.append(b)
    pool, test = [], []
    for k in FT_CLASSES:
        a, b = _split_class(np.flatnonzero(y == k), _FT_POOL_FRACTION, rng)
        pool.append(a)
        test.append(b)
    ptr, pte = np.concatenate(pt_train), np.concatenate(pt_test)
    ft_label = {k: i for i, k in enumerate(FT_CLASSES)}
    te = np.concatenate(test)
    return {
        "pt_train": (x[ptr], y[ptr]),
        "pt_test": (x[pte], y[pte]),
        "pool": [x[p] for p in pool],  # one array per fine-tuning class
        "ft_test": (x[te], np.array([ft_label[int(k)] for k in y[te]], dtype=np.int64)),
    }


def pretrain_split() -> tuple[tuple[Images, Labels], tuple[Images, Labels]]:
    """The fixed pretraining ``(train, test)`` sets: images (n, 1, 8, 8) in [0, 1], labels 0–7."""
    s = _splits()
    return s["pt_train"], s["pt_test"]


def finetune_split() -> tuple[list[Images], tuple[Images, Labels]]:
    """The fixed fine-tuning pool (one image array per class of :data:`FT_CLASSES`) and the
    test set ``(images, labels)``, labels 0 (digit 8) and 1 (digit 9)."""
    s = _splits()
    return list(s["pool"]), s["ft_test"]


def _pool_size() -> int:
    return sum(len(p) for p in _splits()["pool"])


def _check_n_ft(n_ft: Any) -> int:
    size = _pool_size()
    if isinstance(n_ft, bool) or not isinstance(n_ft, int | np.integer):
        raise InvalidInputError(f"n_ft must be an integer in [2, {size}], got {n_ft!r}")
    n = int(n_ft)
    if not 2 <= n <= size:
        raise InvalidInputError(f"n_ft must be in [2, {size}] (the fine-tuning pool), got {n}")
    return n


def _draw_ft(n_ft: int, seed: int) -> tuple[Images, Labels]:
    """``n_ft`` class-balanced samples of the pool, drawn by ``seed`` (numpy, not torch)."""
    pool = _splits()["pool"]
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0xD161])
    sizes = [len(p) for p in pool]
    first = n_ft // 2 + (n_ft % 2) * int(rng.integers(2))
    first = min(first, sizes[0])
    second = n_ft - first
    if second > sizes[1]:
        second = sizes[1]
        first = n_ft - second
    xs, ys = [], []
    for label, (p, k) in enumerate(zip(pool, (first, second), strict=True)):
        pick = rng.choice(len(p), size=k, replace=False)
        xs.append(p[np.sort(pick)])
        ys.append(np.full(k, label, dtype=np.int64))
    return np.concatenate(xs), np.concatenate(ys)


# ---------------------------------------------------------------------------------------------
# model


def build_model(n_classes: int, *, channels: int = 8, hidden: int = 32) -> Any:
    """The small CNN (default torch init, no knob scaling).

    conv3×3(1→c, pad 1) ReLU maxpool2 → conv3×3(c→2c, pad 1) ReLU maxpool2 → flatten (2c·2·2)
    → linear(→hidden) ReLU → ``readout`` linear(hidden→n_classes). Module names: ``conv1``,
    ``conv2``, ``hidden``, ``readout`` (see :func:`layer_groups`).

    Parameters
    ----------
    n_classes : int
        Outputs of the readout (≥ 2).
    channels, hidden : int
        Channels c of the first convolution, width of the hidden linear layer.

    Returns
    -------
    torch.nn.Sequential
    """
    torch = require_torch()
    n_classes = positive_int(n_classes, "n_classes")
    if n_classes < 2:
        raise InvalidInputError(f"n_classes must be ≥ 2, got {n_classes}")
    channels = positive_int(channels, "channels", limit="width")
    hidden = positive_int(hidden, "hidden", limit="width")
    nn = torch.nn
    return nn.Sequential(
        OrderedDict(
            [
                ("conv1", nn.Conv2d(1, channels, 3, padding=1)),
                ("relu1", nn.ReLU()),
                ("pool1", nn.MaxPool2d(2)),
                ("conv2", nn.Conv2d(channels, 2 * channels, 3, padding=1)),
                ("relu2", nn.ReLU()),
                ("pool2", nn.MaxPool2d(2)),
                ("flatten", nn.Flatten()),
                ("hidden", nn.Linear(2 * channels * 4, hidden)),
                ("relu3", nn.ReLU()),
                (_READOUT, nn.Linear(hidden, n_classes)),
            ]
        )
    )


def layer_groups(model: Any) -> tuple[list[str], list[str], str]:
    """``(early, late, readout)`` module names of a :func:`build_model` network.

    Early = the convolutions, late = the hidden linear layer; the readout counts as late for
    pretraining (its weight is scaled by ``knobs.late`` in :func:`init_model`).
    """
    names = {name for name, _ in model.named_children()}
    missing = [n for n in _ORDER if n not in names]
    if missing:
        raise InvalidInputError(f"not a digits-CNN model: no module(s) {missing}")
    return list(_EARLY), list(_LATE), _READOUT


def _scale_layers(model: Any, knobs: Knobs) -> None:
    torch = require_torch()
    early, late, readout = layer_groups(model)
    factor = {**dict.fromkeys(early, knobs.early), **dict.fromkeys([*late, readout], knobs.late)}
    cumulative = 1.0
    with torch.no_grad():
        for name in _ORDER:
            layer = getattr(model, name)
            cumulative *= factor[name]
            layer.weight.mul_(factor[name])
            layer.bias.mul_(cumulative)


def init_model(n_classes: int, knobs: Knobs, seed: int, **arch: Any) -> Any:
    """A :func:`build_model` network, seeded default init, then scaled by the knobs.

    The weight of each early layer is multiplied by ``knobs.early`` = κ·scale, that of each late
    layer and of the readout by ``knobs.late`` = scale/κ; each bias by the cumulative product of
    the weight factors up to its layer, so that the network is exactly (κ·scale)²(scale/κ)² =
    scale⁴ times the default-init network (κ only rebalances the layers).
    ``knobs.readout_scale`` is not used here (it acts on the fine-tuning readout).
    Must be called inside :func:`deterministic` for bit-reproducibility across thread settings;
    it seeds torch itself (``torch.manual_seed(seed)``).
    """
    torch = require_torch()
    knobs = _check_knobs(knobs)
    torch.manual_seed(_check_seed(seed))
    model = build_model(n_classes, **arch)
    _scale_layers(model, knobs)
    return model


def _fresh_readout(model: Any, n_classes: int, readout_scale: float) -> None:
    torch = require_torch()
    old = getattr(model, _READOUT)
    new = torch.nn.Linear(old.in_features, n_classes)
    with torch.no_grad():
        new.weight.mul_(readout_scale)
        new.bias.mul_(readout_scale)
    setattr(model, _READOUT, new)


# ---------------------------------------------------------------------------------------------
# training


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or int(seed) < 0:
        raise InvalidInputError(f"seed must be an integer ≥ 0, got {seed!r}")
    return int(seed)


def _check_knobs(knobs: Any) -> Knobs:
    if not isinstance(knobs, Knobs):
        raise InvalidInputError(f"knobs must be a Knobs, got {type(knobs).__name__}")
    return knobs


def _evaluate(model: Any, x: Any, y: Any) -> tuple[float, float]:
    """(error, mean cross-entropy) of ``model`` on tensors ``x``, ``y``."""
    torch = require_torch()
    with torch.no_grad():
        logits = model(x)
        loss = float(torch.nn.functional.cross_entropy(logits, y))
        err = float((logits.argmax(dim=1) != y).float().mean())
    return err, loss


def _check_loss(loss: Any, step: int, what: str) -> None:
    if not math.isfinite(float(loss)):
        raise SolverError(
            f"{what}: non-finite loss {float(loss)} at step {step}; lower lr or the init scale"
        )


def pretrain(
    knobs: Knobs,
    seed: int,
    *,
    steps: int = 200,
    lr: float = 5e-3,
    batch: int = 32,
    **arch: Any,
) -> dict[str, NDArray[np.float32]]:
    """Pretrain the CNN on digits 0–7 (8-way readout) from the knob-scaled init.

    Adam (``lr``), ``steps`` minibatches of ``batch`` images drawn without replacement within
    each epoch by a torch generator seeded with ``seed``; cross-entropy loss.

    Parameters
    ----------
    knobs : Knobs
        Initialisation knobs (κ and scale act here).
    seed : int
        Seeds the init and the minibatch order.
    steps, lr, batch
        Optimiser steps, Adam learning rate, minibatch size.
    **arch
        ``channels``, ``hidden`` of :func:`build_model`.

    Returns
    -------
    dict of str to numpy.ndarray
        The state dict as float32 arrays (``conv1.weight`` … ``readout.bias``) plus
        ``"pretrain_test_error"`` (0-d float32) on the fixed pretraining test set.

    Raises
    ------
    InvalidInputError
        Bad knobs, seed, steps, lr, batch or architecture.
    SolverError
        The loss became non-finite (the step is named).
    """
    torch = require_torch()
    knobs = _check_knobs(knobs)
    seed = _check_seed(seed)
    steps = positive_int(steps, "steps", limit="steps")
    lr = nonneg_float(lr, "lr", positive=True)
    batch = positive_int(batch, "batch", limit="n")
    (xtr, ytr), (xte, yte) = pretrain_split()
    with deterministic(seed) as gen:
        model = init_model(len(PT_CLASSES), knobs, seed, **arch)
        x, y = torch.from_numpy(xtr), torch.from_numpy(ytr)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        n = len(y)
        batch = min(batch, n)
        perm = torch.randperm(n, generator=gen)
        pos = 0
        for step in range(steps):
            if pos + batch > n:
                perm = torch.randperm(n, generator=gen)
                pos = 0
            idx = perm[pos : pos + batch]
            pos += batch
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
            _check_loss(loss.detach(), step, "pretraining")
            loss.backward()
            opt.step()
        err, test_loss = _evaluate(model, torch.from_numpy(xte), torch.from_numpy(yte))
        _check_loss(test_loss, steps, "pretraining (test)")
        out = {
            k: v.detach().numpy().astype(np.float32, copy=True)
            for k, v in model.state_dict().items()
        }
    out["pretrain_test_error"] = np.array(err, dtype=np.float32)
    return out


def _train_ft(model: Any, n_ft: int, seed: int, steps: int, lr: float, what: str) -> FinetuneResult:
    torch = require_torch()
    xs, ys = _draw_ft(n_ft, seed)
    _, (xte, yte) = finetune_split()
    x, y = torch.from_numpy(xs), torch.from_numpy(ys)
    ce = torch.nn.functional.cross_entropy
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    initial = float("nan")
    for step in range(steps):
        opt.zero_grad(set_to_none=True)
        loss = ce(model(x), y)
        _check_loss(loss.detach(), step, what)
        if step == 0:
            initial = float(loss.detach())
        loss.backward()
        opt.step()
    _, train_loss = _evaluate(model, x, y)
    _check_loss(train_loss, steps, what)
    err, test_loss = _evaluate(model, torch.from_numpy(xte), torch.from_numpy(yte))
    return FinetuneResult(
        test_error=err,
        test_loss=test_loss,
        train_loss=train_loss,
        initial_train_loss=initial,
        steps=steps,
        n_ft=n_ft,
    )


def _load_body(model: Any, state: Any) -> None:
    torch = require_torch()
    if not isinstance(state, dict):
        raise InvalidInputError(f"state must be a dict of arrays, got {type(state).__name__}")
    _, _, readout = layer_groups(model)
    body = {k: v for k, v in model.state_dict().items() if not k.startswith(readout + ".")}
    missing = sorted(k for k in body if k not in state)
    if missing:
        raise InvalidInputError(f"state is missing {missing} (a pretrain() state dict is needed)")
    new = {}
    for k, ref in body.items():
        try:
            arr = np.asarray(state[k], dtype=np.float32)
        except (TypeError, ValueError):
            raise InvalidInputError(f"state[{k!r}] is not a numeric array") from None
        if arr.shape != tuple(ref.shape):
            raise InvalidInputError(
                f"state[{k!r}] has shape {arr.shape}, the model needs {tuple(ref.shape)} "
                "(same channels/hidden as in pretraining?)"
            )
        if not np.all(np.isfinite(arr)):
            raise InvalidInputError(f"state[{k!r}] has non-finite entries")
        new[k] = torch.from_numpy(np.array(arr, dtype=np.float32, copy=True))
    model.load_state_dict(new, strict=False)


def finetune(
    state: dict[str, NDArray[np.float32]],
    n_ft: int,
    knobs: Knobs,
    seed: int,
    *,
    steps: int = 60,
    lr: float = 0.08,
    **arch: Any,
) -> FinetuneResult:
    """Fine-tune a pretrained body on ``n_ft`` samples of 8 vs 9 with a fresh 2-way readout.

    The body (``conv1``, ``conv2``, ``hidden``) is loaded from ``state``; the readout is a fresh
    ``Linear(hidden, 2)`` with the default torch init (seeded by ``seed``) whose weight and bias
    are multiplied by ``knobs.readout_scale``. All layers are trained by full-batch gradient
    descent (``lr``, ``steps``) on the cross-entropy; κ and scale are not used here (they act
    through the pretrained state).

    Parameters
    ----------
    state : dict of str to numpy.ndarray
        A :func:`pretrain` result (the readout entries and ``pretrain_test_error`` are ignored).
    n_ft : int
        Fine-tuning samples, in [2, pool size]; drawn class-balanced from the pool by ``seed``.
    knobs : Knobs
    seed : int
        Seeds the readout init and the sample draw.
    steps, lr
        Gradient-descent steps and learning rate.
    **arch
        ``channels``, ``hidden``: must match the pretraining.

    Returns
    -------
    FinetuneResult

    Raises
    ------
    InvalidInputError
        Bad arguments; ``state`` lacks a body entry or has a wrong shape.
    SolverError
        The loss became non-finite (the step is named).
    """
    require_torch()
    knobs = _check_knobs(knobs)
    n_ft = _check_n_ft(n_ft)
    seed = _check_seed(seed)
    steps = positive_int(steps, "steps", limit="steps")
    lr = nonneg_float(lr, "lr", positive=True)
    with deterministic(seed):
        model = build_model(len(PT_CLASSES), **arch)
        _load_body(model, state)
        _fresh_readout(model, len(FT_CLASSES), knobs.readout_scale)
        return _train_ft(model, n_ft, seed, steps, lr, "fine-tuning")


def scratch(
    n_ft: int,
    knobs: Knobs,
    seed: int,
    *,
    steps: int = 60,
    lr: float = 0.08,
    **arch: Any,
) -> FinetuneResult:
    """The baseline: the network trained on the fine-tuning task from its knob-scaled init.

    A 2-way network from :func:`init_model` (κ and scale act, ``readout_scale`` does not), then
    the same full-batch gradient descent as :func:`finetune` on the same ``n_ft`` samples (the
    draw depends on ``seed`` only, so ``scratch`` and ``finetune`` with the same seed see the same
    samples). Parameters, returns and raises as :func:`finetune` (without ``state``).
    """
    require_torch()
    knobs = _check_knobs(knobs)
    n_ft = _check_n_ft(n_ft)
    seed = _check_seed(seed)
    steps = positive_int(steps, "steps", limit="steps")
    lr = nonneg_float(lr, "lr", positive=True)
    with deterministic(seed):
        model = init_model(len(FT_CLASSES), knobs, seed, **arch)
        return _train_ft(model, n_ft, seed, steps, lr, "scratch training")
