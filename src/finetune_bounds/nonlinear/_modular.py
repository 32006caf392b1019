"""Modular-arithmetic Transformer task of the nonlinear family (private).

Data (generated in code, no download): every pair ``(a, b)`` with ``a, b ∈ Z_p`` is one example,
the input is the token sequence ``[a, b, "="]`` (vocabulary ``p + 1``; ``"="`` is token ``p``)
and the label is

- pretraining: ``(a + b) mod p`` (modular addition);
- fine-tuning (``op``): ``"shift"`` = ``(a + b + 1) mod p`` (the default) or ``"sub"`` =
  ``(a − b) mod p``.

Why the shift by default: a network that has learnt modular addition represents ``(a + b)`` by
its Fourier features ``cos ω(a + b), sin ω(a + b)`` on the last token, and ``(a + b + 1) mod p``
is a fixed rotation of those features, so the whole feature map transfers and the fine-tuning
problem is to learn a fresh p-way readout (while all layers move) from few samples — the
transfer situation of the theory, where pretraining supplies the features. Scratch training cannot
learn modular arithmetic from a few hundred pairs in the step budget, so the gap is large.
Subtraction shares the embeddings' Fourier features (``cos ω(a − b) = cos ωa cos ωb +
sin ωa sin ωb``) but needs the attention/MLP to recombine them; with the default budget
(150 steps) fine-tuning on it stays near chance for n_FT ≤ 250 (errors ≈ 0.85–0.96, chance
22/23 ≈ 0.96), so it is available only as an option.

Splits (fixed, independent of the run seed; drawn with the fixed :data:`SPLIT_SEED`):

- pretraining: a fraction :data:`PRETRAIN_FRACTION` of the ``p²`` pairs is the training set, the
  rest the test set (``pretrain_test_error``);
- fine-tuning: a fraction :data:`FT_TEST_FRACTION` of the pairs is the held-out test set, the rest
  the pool; a run with seed ``s`` trains on the first ``n_ft`` pairs of a seed-``s`` permutation
  of the pool (so the sets are nested in ``n_ft`` for one seed).

Model (:func:`build_model`): token + position embeddings of width ``width``, one residual
self-attention block with ``heads`` heads (no biases), one residual ReLU MLP block (hidden
``4 · width``, with biases) and a linear readout (with bias) on the representation of the last
(``"="``) token. There is no LayerNorm: it would make the network invariant to the scale of the
layers before it and so cancel the knobs. With one layer only the last token's representation
reaches the readout, so attention is computed for the last query only (the other positions'
outputs would be discarded).

The default initialisation is torch's (``nn.Linear``: uniform ±1/√fan_in for weights and
biases) except for the embeddings, drawn from N(0, :data:`EMBED_STD`²) with ``EMBED_STD = 0.5``
instead of torch's N(0, 1): with the N(0, 1) embeddings the network starts further in the lazy
regime and modular addition generalises ("groks") within the 400-step budget for only some seeds.

Layer groups (:func:`layer_groups`): "early" = the two embeddings and the attention block,
"late" = the MLP block, readout = ``readout``. :func:`init_model` multiplies *all* parameters of a
group (weights and biases; there are no LayerNorm gains) of the default initialisation:
early × ``knobs.early`` (κ · scale), late and readout × ``knobs.late`` (scale / κ). Fine-tuning
re-initialises the readout (p-way, default init × ``knobs.readout_scale``) and trains all layers.

Training is full-batch AdamW (betas 0.9/0.98) in float32 on the CPU with a linear learning-rate
warm-up over the first :data:`WARMUP_STEPS` steps (constant afterwards), inside
:func:`~._common.deterministic`, so the same seed gives bit-identical results. Pretraining
defaults (400 steps, lr 3e-2, weight decay 1, 70 % of the pairs) are tuned to generalise within
~1.5 s of one CPU thread for p = 23.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InvalidInputError, SolverError
from ._common import FinetuneResult, Knobs, deterministic, require_torch

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = [
    "EMBED_STD",
    "FT_OPS",
    "FT_TEST_FRACTION",
    "PRETRAIN_FRACTION",
    "P_RANGE",
    "SPLIT_SEED",
    "WARMUP_STEPS",
    "build_model",
    "finetune",
    "finetune_data",
    "init_model",
    "layer_groups",
    "pretrain",
    "pretrain_data",
    "scratch",
]

#: Fine-tuning operations: "shift" = (a + b + 1) mod p (default), "sub" = (a − b) mod p.
FT_OPS = ("shift", "sub")
#: Allowed modulus range (inclusive).
P_RANGE = (5, 97)
#: Fraction of the p² pairs used for pretraining (the rest is the pretraining test set).
PRETRAIN_FRACTION = 0.7
#: Fraction of the p² pairs held out as the fine-tuning test set (the rest is the pool).
FT_TEST_FRACTION = 0.3
#: Seed of the fixed data splits (independent of the run seed).
SPLIT_SEED = 20_240_514
#: Standard deviation of the default embedding initialisation (torch's own default is 1).
EMBED_STD = 0.5
#: Linear learning-rate warm-up (optimiser steps) of every training run; constant afterwards.
WARMUP_STEPS = 50

_WIDTH_RANGE = (4, 512)
_HEADS_RANGE = (1, 64)
_EARLY = ("tok_embed", "pos_embed", "attn.q", "attn.k", "attn.v", "attn.o")
_LATE = ("mlp.fc1", "mlp.fc2")
_READOUT = "readout"


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------


def _int_in(value: Any, name: str, lo: int, hi: int) -> int:
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
        raise InvalidInputError(f"{name} must be an integer in [{lo}, {hi}], got {value!r}")
    v = int(value)
    if not lo <= v <= hi:
        raise InvalidInputError(f"{name} must be in [{lo}, {hi}], got {v}")
    return v


def _check_p(p: Any) -> int:
    return _int_in(p, "p", *P_RANGE)


def _check_arch(p: Any, width: Any, heads: Any) -> tuple[int, int, int]:
    p = _check_p(p)
    width = _int_in(width, "width", *_WIDTH_RANGE)
    heads = _int_in(heads, "heads", *_HEADS_RANGE)
    if width % heads:
        raise InvalidInputError(f"width ({width}) must be a multiple of heads ({heads})")
    return p, width, heads


def _check_knobs(knobs: Any) -> Knobs:
    if not isinstance(knobs, Knobs):
        raise InvalidInputError(f"knobs must be a Knobs, got {type(knobs).__name__}")
    return knobs


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool | np.bool_) or not isinstance(seed, int | np.integer):
        raise InvalidInputError(f"seed must be an integer, got {seed!r}")
    s = int(seed)
    if not 0 <= s < 2**63:
        raise InvalidInputError(f"seed must be in [0, 2**63), got {s}")
    return s


def _check_training(steps: Any, lr: Any, weight_decay: Any) -> tuple[int, float, float]:
    from .._validation import nonneg_float, positive_int

    return (
        positive_int(steps, "steps", limit="steps"),
        nonneg_float(lr, "lr", positive=True),
        nonneg_float(weight_decay, "weight_decay"),
    )


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------


def _pairs(p: int) -> np.ndarray:
    a, b = np.meshgrid(np.arange(p), np.arange(p), indexing="ij")
    return np.stack([a.ravel(), b.ravel()], axis=1)


def _tokens(pairs: np.ndarray, p: int) -> np.ndarray:
    eq = np.full((len(pairs), 1), p, dtype=np.int64)
    return np.concatenate([pairs.astype(np.int64), eq], axis=1)


def _split(p: int, fraction: float, salt: int) -> tuple[np.ndarray, np.ndarray]:
    perm = np.random.default_rng([SPLIT_SEED, p, salt]).permutation(p * p)
    k = round(fraction * p * p)
    return np.sort(perm[:k]), np.sort(perm[k:])


def pretrain_data(p: int = 23) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pretraining split of modular addition.

    Parameters
    ----------
    p : int
        Modulus, in :data:`P_RANGE`.

    Returns
    -------
    x_train, y_train, x_test, y_test : numpy.ndarray
        Token sequences ``(n, 3)`` (int64) and labels ``(a + b) mod p`` (int64); a fixed fraction
        :data:`PRETRAIN_FRACTION` of the ``p²`` pairs trains.
    """
    p = _check_p(p)
    pairs = _pairs(p)
    x = _tokens(pairs, p)
    y = (pairs[:, 0] + pairs[:, 1]) % p
    tr, te = _split(p, PRETRAIN_FRACTION, 0)
    return x[tr], y[tr], x[te], y[te]


def _ft_labels(pairs: np.ndarray, p: int, op: Any) -> np.ndarray:
    a, b = pairs[:, 0], pairs[:, 1]
    if op == "shift":
        return (a + b + 1) % p
    if op == "sub":
        return (a - b) % p
    raise InvalidInputError(f"op must be one of {FT_OPS}, got {op!r}")


def finetune_data(
    p: int = 23, op: str = "shift"
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fine-tuning pool and held-out test set.

    Parameters
    ----------
    p : int
        Modulus, in :data:`P_RANGE`.
    op : {"shift", "sub"}
        Fine-tuning operation: ``"shift"`` = ``(a + b + 1) mod p`` (the default),
        ``"sub"`` = ``(a − b) mod p``.

    Returns
    -------
    x_pool, y_pool, x_test, y_test : numpy.ndarray
        Token sequences ``(n, 3)`` (int64) and labels (int64); a fixed fraction
        :data:`FT_TEST_FRACTION` of the ``p²`` pairs is the test set, the rest the pool (the
        split does not depend on ``op``).
    """
    p = _check_p(p)
    pairs = _pairs(p)
    x = _tokens(pairs, p)
    y = _ft_labels(pairs, p, op)
    te, pool = _split(p, FT_TEST_FRACTION, 1)
    return x[pool], y[pool], x[te], y[te]


# --------------------------------------------------------------------------------------------
# model
# --------------------------------------------------------------------------------------------


def _module_classes() -> tuple[type, type]:
    th = require_torch()
    nn = th.nn
    base: Any = nn.Module

    class _LastTokenAttention(base):
        """Multi-head self-attention evaluated for the last query position only (no biases)."""

        def __init__(self, width: int, heads: int) -> None:
            super().__init__()
            self.heads = heads
            self.q = nn.Linear(width, width, bias=False)
            self.k = nn.Linear(width, width, bias=False)
            self.v = nn.Linear(width, width, bias=False)
            self.o = nn.Linear(width, width, bias=False)

        def forward(self, x: Any) -> Any:
            # broadcast-and-sum instead of batched matmuls: with 3 positions and head width
            # ~8 the bmm kernels are dominated by per-batch overhead on the CPU.
            n, t, w = x.shape
            h = self.heads
            dh = w // h
            q = self.q(x[:, -1]).view(n, 1, h, dh)
            k = self.k(x).view(n, t, h, dh)
            v = self.v(x).view(n, t, h, dh)
            att = th.softmax((q * k).sum(dim=-1) * (1.0 / math.sqrt(dh)), dim=1)
            return self.o((att.unsqueeze(-1) * v).sum(dim=1).reshape(n, w))

    class _ModularTransformer(base):
        """One-layer Transformer reading out the last token (see the module docstring)."""

        def __init__(self, p: int, width: int, heads: int) -> None:
            super().__init__()
            self.p = p
            self.tok_embed = nn.Embedding(p + 1, width)
            self.pos_embed = nn.Embedding(3, width)
            self.attn = _LastTokenAttention(width, heads)
            self.mlp = nn.Sequential()
            self.mlp.add_module("fc1", nn.Linear(width, 4 * width))
            self.mlp.add_module("act", nn.ReLU())
            self.mlp.add_module("fc2", nn.Linear(4 * width, width))
            self.readout = nn.Linear(width, p)
            with th.no_grad():  # N(0, EMBED_STD²) instead of torch's N(0, 1)
                self.tok_embed.weight.normal_(0.0, EMBED_STD)
                self.pos_embed.weight.normal_(0.0, EMBED_STD)

        def forward(self, tokens: Any) -> Any:
            x = self.tok_embed(tokens) + self.pos_embed.weight[: tokens.shape[1]]
            h = x[:, -1] + self.attn(x)
            h = h + self.mlp(h)
            return self.readout(h)

    return _LastTokenAttention, _ModularTransformer


def build_model(p: int, *, width: int = 32, heads: int = 4) -> torch.nn.Module:
    """The one-layer modular-arithmetic Transformer with torch's default initialisation.

    Parameters
    ----------
    p : int
        Modulus (vocabulary ``p + 1``, ``p`` output classes), in :data:`P_RANGE`.
    width : int
        Residual width (4..512), a multiple of ``heads``.
    heads : int
        Attention heads (1..64).

    Returns
    -------
    torch.nn.Module
        Maps int64 tokens ``(n, 3)`` to logits ``(n, p)``. Torch's default initialisation except
        the embeddings, N(0, :data:`EMBED_STD`²); drawn from torch's global generator (seed it,
        e.g. inside :func:`~._common.deterministic`).
    """
    p, width, heads = _check_arch(p, width, heads)
    _, cls = _module_classes()
    return cls(p, width, heads)


def layer_groups(model: Any) -> tuple[list[str], list[str], str]:
    """Names of the parameter-holding submodules of each knob group.

    Parameters
    ----------
    model : torch.nn.Module
        A model from :func:`build_model` (only used to check the names exist).

    Returns
    -------
    early : list of str
        Token and position embeddings and the attention projections (× κ · scale).
    late : list of str
        The MLP layers (× scale / κ).
    readout : str
        The readout (× scale / κ when pretraining; re-initialised × readout_scale to fine-tune).
    """
    names = {name for name, _ in model.named_modules()}
    missing = [n for n in (*_EARLY, *_LATE, _READOUT) if n not in names]
    if missing:
        raise InvalidInputError(f"model lacks the modules {missing} (not from build_model?)")
    return list(_EARLY), list(_LATE), _READOUT


def _scale_module(model: Any, name: str, factor: float) -> None:
    torch = require_torch()
    with torch.no_grad():
        for param in model.get_submodule(name).parameters():
            param.mul_(factor)


def _fresh_readout(model: Any, readout_scale: float) -> None:
    torch = require_torch()
    mod = model.get_submodule(_READOUT)
    mod.reset_parameters()
    with torch.no_grad():
        for param in mod.parameters():
            param.mul_(readout_scale)


def init_model(
    p: int, knobs: Knobs, seed: int, *, width: int = 32, heads: int = 4
) -> torch.nn.Module:
    """The knob-scaled initialisation.

    The default initialisation (:func:`build_model`, seeded with ``seed``), then every parameter
    (weights *and* biases; the model has no LayerNorm) of the early modules multiplied by
    ``knobs.early`` (κ · scale) and of the MLP and the readout by ``knobs.late`` (scale / κ).

    Parameters
    ----------
    p : int
        Modulus, in :data:`P_RANGE`.
    knobs : Knobs
        The initialisation knobs (``readout_scale`` is not used here).
    seed : int
        Seed of the initialisation.
    width, heads : int
        Architecture (see :func:`build_model`).

    Returns
    -------
    torch.nn.Module
    """
    knobs = _check_knobs(knobs)
    seed = _check_seed(seed)
    p, width, heads = _check_arch(p, width, heads)
    with deterministic(seed):
        return _init(p, knobs, width, heads)


def _init(p: int, knobs: Knobs, width: int, heads: int) -> Any:
    model = build_model(p, width=width, heads=heads)
    early, late, readout = layer_groups(model)
    for name in early:
        _scale_module(model, name, knobs.early)
    for name in (*late, readout):
        _scale_module(model, name, knobs.late)
    return model


# --------------------------------------------------------------------------------------------
# training
# --------------------------------------------------------------------------------------------


def _train(
    model: Any, x: Any, y: Any, *, steps: int, lr: float, weight_decay: float, what: str
) -> tuple[float, float]:
    """Full-batch AdamW; returns (initial, final) training loss."""
    torch = require_torch()
    opt = torch.optim.AdamW(
        model.parameters(), lr=lr, weight_decay=weight_decay, betas=(0.9, 0.98), fused=True
    )
    loss_fn = torch.nn.functional.cross_entropy
    model.train()
    initial = math.nan
    for step in range(steps):
        if step <= WARMUP_STEPS:
            for group in opt.param_groups:
                group["lr"] = lr * min(1.0, (step + 1) / WARMUP_STEPS)
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        value = float(loss.detach())
        if not math.isfinite(value):
            raise SolverError(f"{what}: non-finite training loss ({value}) at step {step}")
        if step == 0:
            initial = value
        loss.backward()
        opt.step()
    with torch.no_grad():
        final = float(loss_fn(model(x), y))
    if not math.isfinite(final):
        raise SolverError(f"{what}: non-finite training loss ({final}) at step {steps}")
    return initial, final


def _evaluate(model: Any, x: Any, y: Any) -> tuple[float, float]:
    """(error, mean cross-entropy)."""
    torch = require_torch()
    model.eval()
    with torch.no_grad():
        logits = model(x)
        loss = float(torch.nn.functional.cross_entropy(logits, y))
        err = float((logits.argmax(dim=1) != y).double().mean())
    return err, loss


def pretrain(
    knobs: Knobs,
    seed: int,
    *,
    p: int = 23,
    steps: int = 400,
    lr: float = 3e-2,
    weight_decay: float = 1.0,
    width: int = 32,
    heads: int = 4,
) -> dict[str, np.ndarray]:
    """Pretrain on modular addition from the knob-scaled initialisation.

    Parameters
    ----------
    knobs : Knobs
        Initialisation knobs (κ and scale act here).
    seed : int
        Seed of the initialisation (the data split is fixed).
    p : int
        Modulus, in :data:`P_RANGE`.
    steps : int
        Full-batch AdamW steps.
    lr : float
        Learning rate (> 0).
    weight_decay : float
        AdamW (decoupled) weight decay (≥ 0).
    width, heads : int
        Architecture (see :func:`build_model`).

    Returns
    -------
    dict of str to numpy.ndarray
        The trained state dict as float32 arrays plus ``"pretrain_test_error"`` (0-d float64
        array), suitable for :func:`numpy.savez`.

    Raises
    ------
    InvalidInputError
        A bad argument.
    SolverError
        The training loss became non-finite.
    """
    knobs = _check_knobs(knobs)
    seed = _check_seed(seed)
    p, width, heads = _check_arch(p, width, heads)
    steps, lr, weight_decay = _check_training(steps, lr, weight_decay)
    torch = require_torch()
    x_tr, y_tr, x_te, y_te = (torch.from_numpy(a) for a in pretrain_data(p))
    with deterministic(seed):
        model = _init(p, knobs, width, heads)
        _train(model, x_tr, y_tr, steps=steps, lr=lr, weight_decay=weight_decay, what="pretrain")
        err, _ = _evaluate(model, x_te, y_te)
    out = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    out["pretrain_test_error"] = np.array(err, dtype=np.float64)
    return out


def _load_state(model: Any, state: Any) -> None:
    torch = require_torch()
    if not hasattr(state, "keys"):
        raise InvalidInputError(f"state must be a mapping of arrays, got {type(state).__name__}")
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    if missing:
        raise InvalidInputError(f"state lacks the keys {missing} (not from pretrain?)")
    new = {}
    for key, ref in expected.items():
        arr = np.asarray(state[key])
        if arr.shape != tuple(ref.shape):
            raise InvalidInputError(
                f"state[{key!r}] has shape {arr.shape}, expected {tuple(ref.shape)} "
                "(a different p, width or heads?)"
            )
        if not np.issubdtype(arr.dtype, np.number) or not np.all(np.isfinite(arr)):
            raise InvalidInputError(f"state[{key!r}] must be finite numbers")
        new[key] = torch.from_numpy(np.array(arr, dtype=np.float32, copy=True))
    model.load_state_dict(new)


def _finetune_run(
    state: Any,
    n_ft: Any,
    knobs: Any,
    seed: Any,
    *,
    p: Any,
    steps: Any,
    lr: Any,
    weight_decay: Any,
    width: Any,
    heads: Any,
    op: Any,
) -> FinetuneResult:
    knobs = _check_knobs(knobs)
    seed = _check_seed(seed)
    p, width, heads = _check_arch(p, width, heads)
    steps, lr, weight_decay = _check_training(steps, lr, weight_decay)
    x_pool, y_pool, x_te, y_te = finetune_data(p, op)
    n_ft = _int_in(n_ft, "n_ft", 1, len(x_pool))
    torch = require_torch()
    idx = np.random.default_rng(seed).permutation(len(x_pool))[:n_ft]
    x_tr, y_tr = torch.from_numpy(x_pool[idx]), torch.from_numpy(y_pool[idx])
    x_te_t, y_te_t = torch.from_numpy(x_te), torch.from_numpy(y_te)
    with deterministic(seed):
        if state is None:
            model = _init(p, knobs, width, heads)
            what = "scratch"
        else:
            model = build_model(p, width=width, heads=heads)
            _load_state(model, state)
            _fresh_readout(model, knobs.readout_scale)
            what = "finetune"
        initial, final = _train(
            model, x_tr, y_tr, steps=steps, lr=lr, weight_decay=weight_decay, what=what
        )
        err, loss = _evaluate(model, x_te_t, y_te_t)
    return FinetuneResult(
        test_error=err,
        test_loss=loss,
        train_loss=final,
        initial_train_loss=initial,
        steps=steps,
        n_ft=n_ft,
    )


def finetune(
    state: dict[str, np.ndarray],
    n_ft: int,
    knobs: Knobs,
    seed: int,
    *,
    p: int = 23,
    steps: int = 150,
    lr: float = 3e-3,
    weight_decay: float = 0.0,
    width: int = 32,
    heads: int = 4,
    op: str = "shift",
) -> FinetuneResult:
    """Fine-tune a pretrained network on the fine-tuning operation ``op``.

    The pretrained state is loaded, the readout re-initialised (default init ×
    ``knobs.readout_scale``) and *all* layers trained full-batch with AdamW on ``n_ft`` pairs of
    the fixed pool (the first ``n_ft`` of a seed-``seed`` permutation); the error is measured on
    the fixed held-out test set.

    Parameters
    ----------
    state : dict of str to numpy.ndarray
        From :func:`pretrain` (extra keys such as ``"pretrain_test_error"`` are ignored).
    n_ft : int
        Fine-tuning samples, in ``[1, pool size]`` (pool size ``p² − round(0.3 p²)``).
    knobs : Knobs
        Only ``readout_scale`` acts here (κ and scale acted on the pretraining init).
    seed : int
        Seed of the sample draw and the fresh readout.
    p : int
        Modulus, in :data:`P_RANGE` (must match the state).
    steps : int
        Full-batch AdamW steps.
    lr : float
        Learning rate (> 0).
    weight_decay : float
        AdamW weight decay (≥ 0).
    width, heads : int
        Architecture (must match the state).
    op : {"shift", "sub"}
        Fine-tuning operation (see :func:`finetune_data`).

    Returns
    -------
    FinetuneResult

    Raises
    ------
    InvalidInputError
        A bad argument, or a state with missing keys / wrong shapes / non-finite values.
    SolverError
        The training loss became non-finite.
    """
    if state is None:
        raise InvalidInputError("state must be a state dict from pretrain, got None")
    return _finetune_run(
        state,
        n_ft,
        knobs,
        seed,
        p=p,
        steps=steps,
        lr=lr,
        weight_decay=weight_decay,
        width=width,
        heads=heads,
        op=op,
    )


def scratch(
    n_ft: int,
    knobs: Knobs,
    seed: int,
    *,
    p: int = 23,
    steps: int = 150,
    lr: float = 3e-3,
    weight_decay: float = 0.0,
    width: int = 32,
    heads: int = 4,
    op: str = "shift",
) -> FinetuneResult:
    """Train the knob-scaled initialisation (:func:`init_model`) on the fine-tuning task directly.

    Same data, sample draw and optimiser as :func:`finetune`, without pretraining (the readout
    is part of the init and scaled by ``knobs.late``; ``readout_scale`` is not used).

    Parameters
    ----------
    n_ft, knobs, seed, p, steps, lr, weight_decay, width, heads, op
        As in :func:`finetune`; ``seed`` also seeds the initialisation.

    Returns
    -------
    FinetuneResult

    Raises
    ------
    InvalidInputError
        A bad argument.
    SolverError
        The training loss became non-finite.
    """
    return _finetune_run(
        None,
        n_ft,
        knobs,
        seed,
        p=p,
        steps=steps,
        lr=lr,
        weight_decay=weight_decay,
        width=width,
        heads=heads,
        op=op,
    )
