"""Transfer protocols on the infinite-width (particle) network (spec infinite-width-transfer §3).

Given a :class:`~._tasks.TransferTask` (source data, target data, target test inputs) and a
:class:`TransferSetting`, :func:`transfer_dmft` runs the protocols of §3 on the particle
representation of the infinite-width flow (:func:`~._dmft.particle_dmft`'s integrator, one
population of M particles over the union of every input, per seed):

``scratch_lazy``
    No pretraining: a ridge readout (ridge λ₂) on the random features of the initial network,
    f = Φ₀(x, X₂)(Φ₀(X₂, X₂) + λ₂I)⁻¹y₂ — kernel regression with the lazy NNGP kernel. It is
    the FT readout without the source stage, so ``ft − scratch_lazy`` isolates what the
    source-adapted features buy.
``scratch_rich``
    The whole network trained on the target alone from its random initialisation, with the
    source stage's recipe (hidden decay δ, anchor) and γ₂, readout decay λ₂, to convergence.
``ft``
    Source stage (γ₁, readout decay λ₁, hidden decay δ, ``anchor``) to convergence; hidden layer
    frozen; fresh ridge readout λ₂ on the target: f = Φ₁(x, X₂)(Φ₁(X₂, X₂) + λ₂I)⁻¹y₂ (the fixed
    point of readout-only training with decay λ₂ toward 0, whatever the readout's start).
``jr_e``
    Jointly rich, elastic: from the source-trained weights, all weights trained on the target
    with γ₂, the hidden layer anchored at the source weights with stiffness δ₂, the readout
    decaying to 0 at λ₂, to convergence. δ₂ → ∞ recovers ``ft``.
``jr_i``
    Jointly rich, implicit: from the source-trained weights, all weights trained with γ₂, no
    hidden decay, readout decay λ₂, for a finite time T₂ (``time_jr_i``).

For the JR protocols the readout either restarts at z = 0 (``readout="reset"``, the default) or
keeps the source readout z₁ (``"kept"``; the stage-2 output ⟨zφ⟩/γ₂ then starts at the source
network's output times γ₁/γ₂). Every result and record states the protocol, the readout choice
and the solver. Errors are the test MSE against the noise-free target; the transfer gain is
G = E_scratch − E_protocol (> 0: positive transfer), against the lazy or the rich baseline.

Pitfalls (spec §6): with decay to zero and small γ the source stage collapses to 0 (not the lazy
limit); collinear neurons with a reset readout sit on a saddle the flow never leaves (``jr_*``
with ``anchor="zero"`` and linear φ can stay at the FT solution); kernels from M particles are
O(M^{-1/2}) noisy, so the readout is always solved with its ridge λ₂ > 0.

:func:`transfer_dmft`, :func:`transfer_network` and :func:`transfer_curve` run under
:func:`finetune_bounds.threads.small_blas` (one BLAS thread by default).
"""

from __future__ import annotations

import time as _time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import limits
from .._validation import (
    FloatArray,
    as_float_array,
    check_choice,
    nonneg_float,
    positive_int,
    readonly,
)
from ..errors import InvalidInputError
from ..threads import small_blas
from ._checks import choices, ensure_finite
from ._checks import seeds as _seed_list
from ._checks import sizes as _size_list
from ._dmft import _act, _flow, _span, default_stall
from ._kernels import ACTIVATIONS
from ._tasks import TransferTask

__all__ = [
    "BASELINES",
    "PROTOCOLS",
    "READOUTS",
    "TransferCurve",
    "TransferResult",
    "TransferSetting",
    "ridge_readout_predict",
    "transfer_curve",
    "transfer_dmft",
    "transfer_network",
]

#: The protocols of spec §3, in their canonical order.
PROTOCOLS: tuple[str, ...] = ("scratch_lazy", "scratch_rich", "ft", "jr_e", "jr_i")
#: Readout choices of the jointly rich protocols.
READOUTS: tuple[str, ...] = ("reset", "kept")
#: Baselines of the transfer gain.
BASELINES: tuple[str, ...] = ("lazy", "rich")
_NEEDS_SOURCE = frozenset({"ft", "jr_e", "jr_i"})


@dataclass(frozen=True)
class TransferSetting:
    """Hyperparameters of the transfer protocols (spec §1, §3).

    Attributes
    ----------
    gamma_source, gamma_target : float
        Feature-learning strengths γ₁ (source stage) and γ₂ (target stages), > 0.
    ridge_source : float
        Readout decay λ₁ of the source stage (> 0).
    ridge_hidden : float
        Hidden decay δ of the source stage and of ``scratch_rich`` (≥ 0).
    ridge_target : float
        Readout ridge λ₂ of every target stage (> 0: the FT/lazy readouts invert Φ + λ₂I).
    stiffness : float
        JR-E hidden stiffness δ₂ toward the source weights (≥ 0).
    anchor : {"init", "zero"}
        Hidden anchor of the source stage and of ``scratch_rich``: the random initialisation
        (S-B for linear φ) or zero (S-A).
    readout : {"reset", "kept"}
        Readout start of ``jr_e`` and ``jr_i``.
    time_jr_i : float
        Training time T₂ of ``jr_i`` (> 0).
    activation : {"relu", "linear"}
        φ.
    """

    gamma_source: float = 1.0
    gamma_target: float = 1.0
    ridge_source: float = 0.1
    ridge_hidden: float = 0.1
    ridge_target: float = 0.1
    stiffness: float = 1.0
    anchor: str = "init"
    readout: str = "reset"
    time_jr_i: float = 10.0
    activation: str = "relu"

    def __post_init__(self) -> None:
        for name in ("gamma_source", "gamma_target", "ridge_source", "ridge_target", "time_jr_i"):
            object.__setattr__(self, name, nonneg_float(getattr(self, name), name, positive=True))
        for name in ("ridge_hidden", "stiffness"):
            object.__setattr__(self, name, nonneg_float(getattr(self, name), name))
        check_choice(self.anchor, "anchor", ("init", "zero"))
        check_choice(self.readout, "readout", READOUTS)
        check_choice(self.activation, "activation", ACTIVATIONS)


@dataclass(frozen=True)
class TransferResult:
    """Target test errors of the protocols, per seed (spec §3).

    Attributes
    ----------
    errors : dict[str, ndarray]
        Protocol → test MSE against the noise-free target, shape (S,).
    predictions : dict[str, ndarray]
        Protocol → predictions on the test inputs, shape (S, n_test).
    setting : TransferSetting
        The hyperparameters.
    solver : str
        ``"particle"`` (infinite width, M particles) or ``"network"`` (finite width, GD).
    width : int
        M particles or N neurons.
    diagnostics : dict[str, dict[str, ndarray]]
        Stage → {``steps``, ``time``, ``residual``, ``converged``} per seed (stages ``source``,
        ``scratch_rich``, ``jr_e``, ``jr_i``, where run).
    wall_time : float
        Seconds spent.
    target_size : int
        Target training size P₂ used.
    source_kernel : ndarray, shape (n_test, n_test), or None
        Particle solver with a source stage: the source-adapted feature kernel Φ₁ on the test
        inputs, averaged over seeds (the kernel of FT, for its learning-curve theory, spec §4).
    """

    errors: dict[str, FloatArray]
    predictions: dict[str, FloatArray]
    setting: TransferSetting
    solver: str
    width: int
    diagnostics: dict[str, dict[str, FloatArray]] = field(repr=False)
    wall_time: float = 0.0
    target_size: int = 0
    source_kernel: FloatArray | None = field(default=None, repr=False)

    @property
    def protocols(self) -> tuple[str, ...]:
        """The protocols that were run, in canonical order."""
        return tuple(p for p in PROTOCOLS if p in self.errors)

    def gain(self, protocol: str, baseline: str = "lazy") -> FloatArray:
        """G = E_scratch − E_protocol per seed (> 0: positive transfer)."""
        check_choice(protocol, "protocol", self.protocols)
        check_choice(baseline, "baseline", BASELINES)
        base = f"scratch_{baseline}"
        if base not in self.errors:
            raise InvalidInputError(f"the baseline {base!r} was not run")
        return readonly(np.asarray(self.errors[base] - self.errors[protocol]))

    def records(self, **fields: Any) -> list[dict[str, Any]]:
        """Tidy rows: ``error`` per protocol and seed, ``gain_lazy``/``gain_rich`` per transfer
        protocol and seed, tagged ``source="empirical"`` for finite-width networks and
        ``source="theory"`` with ``method="particle_dmft"`` for the particle solver."""
        from ..records import record

        src = "empirical" if self.solver == "network" else "theory"
        method = "gd" if self.solver == "network" else "particle_dmft"
        rows: list[dict[str, Any]] = []
        tag = {"readout": self.setting.readout, "width": self.width, **fields}
        for prot in self.protocols:
            extra = tag if prot in ("jr_e", "jr_i") else {**tag, "readout": "fresh"}
            for s, e in enumerate(self.errors[prot]):
                rows.append(record("error", float(e), src, method=method, protocol=prot,
                                   seed=s, **extra))
            if prot.startswith("scratch"):
                continue
            for base in BASELINES:
                if f"scratch_{base}" in self.errors:
                    for s, g in enumerate(self.gain(prot, base)):
                        rows.append(record(f"gain_{base}", float(g), src, method=method,
                                           protocol=prot, seed=s, **extra))
        return rows


def ridge_readout_predict(
    phi_train: FloatArray, phi_eval: FloatArray, y: FloatArray, ridge: float
) -> FloatArray:
    """Φ(x, X)(Φ(X, X) + λI)⁻¹y from features φ (…, P, M) and (…, n, M), Φ = φφᵀ/M.

    Solved with a Cholesky factorisation of Φ(X, X) + λI (λ > 0), never an explicit inverse;
    leading dimensions (seeds) broadcast. ``y`` is (P,) or (…, P).

    Raises
    ------
    InvalidInputError
        Non-numeric, non-finite or mismatched arrays, λ ≤ 0, or features/targets so large that
        the prediction overflows float64.
    """
    phi_train = as_float_array(phi_train, "phi_train")
    phi_eval = as_float_array(phi_eval, "phi_eval", allow_empty=True)
    if phi_train.ndim < 2 or phi_eval.ndim != phi_train.ndim:
        raise InvalidInputError(
            f"phi_train and phi_eval must be (…, P, M) and (…, n, M) arrays, got shapes "
            f"{phi_train.shape} and {phi_eval.shape}"
        )
    if phi_eval.shape[-1] != phi_train.shape[-1] or phi_eval.shape[:-2] != phi_train.shape[:-2]:
        raise InvalidInputError(
            f"phi_eval must have shape (…, n, {phi_train.shape[-1]}) matching phi_train "
            f"{phi_train.shape}, got {phi_eval.shape}"
        )
    y = as_float_array(y, "y")
    if y.shape[-1:] != phi_train.shape[-2:-1]:
        raise InvalidInputError(f"y must have length P = {phi_train.shape[-2]}, got {y.shape}")
    try:
        np.broadcast_shapes(y.shape, phi_train.shape[:-1])
    except ValueError:
        raise InvalidInputError(
            f"y of shape {y.shape} does not broadcast against {phi_train.shape[:-1]}"
        ) from None
    ridge = nonneg_float(ridge, "ridge", positive=True)
    return _ridge_predict(phi_train, phi_eval, y, ridge)


def _ridge_predict(
    phi_train: FloatArray, phi_eval: FloatArray, y: FloatArray, ridge: float
) -> FloatArray:
    with np.errstate(all="ignore"):
        return _ridge_solve(phi_train, phi_eval, y, ridge)


def _ridge_solve(
    phi_train: FloatArray, phi_eval: FloatArray, y: FloatArray, ridge: float
) -> FloatArray:
    m = phi_train.shape[-1]
    kxx = np.einsum("...im,...jm->...ij", phi_train, phi_train) / m
    kex = np.einsum("...im,...jm->...ij", phi_eval, phi_train) / m
    p = kxx.shape[-1]
    a = kxx + ridge * np.eye(p)
    yb = np.broadcast_to(y, a.shape[:-1])[..., None]
    try:
        if not (np.all(np.isfinite(kxx)) and np.all(np.isfinite(kex))):
            raise FloatingPointError
        chol = np.linalg.cholesky(a)
        w = np.linalg.solve(np.swapaxes(chol, -1, -2), np.linalg.solve(chol, yb))
        out = np.asarray((kex @ w)[..., 0])
    except (np.linalg.LinAlgError, FloatingPointError):
        out = np.full(kex.shape[:-1], np.nan)
    ensure_finite("ridge_readout_predict", out,
                  cause="features or targets too large for float64, or ridge too small")
    return out


def _check_task(task: TransferTask, protocols: Sequence[str]) -> tuple[str, ...]:
    if not isinstance(task, TransferTask):
        raise InvalidInputError(f"task must be a TransferTask, got {type(task).__name__}")
    prots = choices(protocols, "protocols", PROTOCOLS)
    for name in ("x_source", "x_target", "x_test"):
        a = getattr(task, name)
        if a.shape[0] == 0 or not np.all(np.isfinite(a)):
            raise InvalidInputError(f"task.{name} must be non-empty and finite")
    return tuple(p for p in PROTOCOLS if p in prots)


@small_blas
def transfer_dmft(
    task: TransferTask,
    setting: TransferSetting | None = None,
    *,
    protocols: Sequence[str] = PROTOCOLS,
    neurons: int = 4000,
    seeds: int | Sequence[int] = 1,
    tol: float = 1e-8,
    max_time: float = 2_000.0,
    max_steps: int = 200_000,
) -> TransferResult:
    """Run the transfer protocols of spec §3 on the infinite-width network (particle DMFT).

    Regime: width → ∞ represented by M = ``neurons`` particles (error O(M^{-1/2})), gradient
    flow to a relative-gradient tolerance (``jr_i``: to the time T₂), float64. One particle
    population per seed, drawn over the union of source, target and test inputs; the same
    initial particles start the source stage and ``scratch_rich`` (common random numbers).

    Parameters
    ----------
    task : TransferTask
        Source data, target data and target test inputs (see :func:`linear_pair`, …).
    setting : TransferSetting, optional
        Hyperparameters (default: ``TransferSetting()``).
    protocols : sequence of str
        Any of ``scratch_lazy``, ``scratch_rich``, ``ft``, ``jr_e``, ``jr_i``.
    neurons : int, default 4000
        Particles M per population.
    seeds : int or sequence of int
        A count (seeds 0 … S−1) or the seeds themselves.
    tol, max_time, max_steps
        Stopping rule of each converged stage (see :func:`particle_dmft`).

    Returns
    -------
    TransferResult
        Errors, predictions and per-stage diagnostics, ``solver="particle"``.

    Raises
    ------
    InvalidInputError
        Bad task, setting, protocol or sizes.

    Examples
    --------
    >>> from finetune_bounds.infinite_width import linear_pair
    >>> task = linear_pair(10, 30, 10, 50, alpha_s=1.0, rng=0)
    >>> s = TransferSetting(gamma_source=1.0, ridge_source=0.2, ridge_hidden=0.2,
    ...                     ridge_target=0.05, activation="linear")
    >>> r = transfer_dmft(task, s, protocols=("scratch_lazy", "ft"), neurons=200, tol=1e-6)
    >>> bool(r.gain("ft", "lazy")[0] > 0)   # aligned source, rich pretraining: positive transfer
    True
    """
    return _particles(task, setting, protocols, None, neurons, seeds, tol, max_time,
                      max_steps)[0]


@small_blas
def transfer_network(
    task: TransferTask,
    setting: TransferSetting | None = None,
    *,
    protocols: Sequence[str] = PROTOCOLS,
    width: int = 1000,
    seeds: int | Sequence[int] = 1,
    tol: float = 1e-8,
    max_time: float = 2_000.0,
    max_steps: int = 200_000,
) -> TransferResult:
    """The protocols of :func:`transfer_dmft` on finite-width networks trained by GD (spec §1, §3).

    Regime: width N = ``width``, full-batch gradient descent with the §1 update (step chosen
    automatically per seed, energy-descent safeguard), batched over seeds, float64 — the
    independent check of the particle solver (the two agree up to O(N^{-1/2})).

    Parameters and return value are those of :func:`transfer_dmft` (``width`` replaces
    ``neurons``); ``solver="network"``.

    Examples
    --------
    >>> from finetune_bounds.infinite_width import linear_pair
    >>> task = linear_pair(10, 30, 10, 50, alpha_s=1.0, rng=0)
    >>> s = TransferSetting(ridge_source=0.2, ridge_hidden=0.2, activation="linear")
    >>> r = transfer_network(task, s, protocols=("scratch_lazy", "ft"), width=200, seeds=2,
    ...                      tol=1e-6)
    >>> r.errors["ft"].shape, bool(np.all(r.gain("ft") > 0))
    ((2,), True)
    """
    return _networks(task, setting, protocols, None, width, seeds, tol, max_time,
                     max_steps)[0]


def _sizes(task: TransferTask, target_sizes: Sequence[int] | None) -> list[int]:
    p2 = task.x_target.shape[0]
    if target_sizes is None:
        return [p2]
    sizes = _size_list(target_sizes, "target_sizes", limit="n")
    if max(sizes) > p2:
        raise InvalidInputError(
            f"target_sizes go up to {max(sizes)} but the task has {p2} target samples"
        )
    return sizes


class _Collect:
    """Predictions and stage diagnostics per target size, assembled into TransferResults."""

    def __init__(self, prots: tuple[str, ...], sizes: list[int]) -> None:
        self.prots = prots
        self.sizes = sizes
        self.preds: list[dict[str, list[FloatArray]]] = [{p: [] for p in prots} for _ in sizes]
        self.diag: list[dict[str, dict[str, list[float]]]] = [{} for _ in sizes]
        self.kernels: list[FloatArray] = []

    def note(self, k: int, stage: str, steps: Any, time: Any, residual: Any, status: Any,
             stalled: Any) -> None:
        d = self.diag[k].setdefault(stage, {q: [] for q in
                                            ("steps", "time", "residual", "converged", "stalled")})
        for q, v in (("steps", steps), ("time", time), ("residual", residual),
                     ("converged", status), ("stalled", stalled)):
            d[q].extend(float(x) for x in np.atleast_1d(v))

    def results(self, task: TransferTask, st: TransferSetting, solver: str, width: int,
                t0: float) -> list[TransferResult]:
        out = []
        kernel = readonly(np.mean(self.kernels, axis=0)) if self.kernels else None
        for k in range(len(self.sizes)):
            pred = {p: readonly(np.asarray(np.vstack(v) if v and np.ndim(v[0]) == 2 else v,
                                           dtype=np.float64))
                    for p, v in self.preds[k].items()}
            for p, v in pred.items():
                ensure_finite(f"{solver} protocol {p!r}", v, solver=True,
                              cause="the training flow diverged")
            with np.errstate(over="ignore"):
                errors = {p: readonly(np.mean((v - task.y_test) ** 2, axis=1))
                          for p, v in pred.items()}
            for p, v in errors.items():
                ensure_finite(f"{solver} protocol {p!r} test error", v)
            diagnostics = {s: {q: readonly(np.asarray(v, dtype=np.float64)) for q, v in d.items()}
                           for s, d in self.diag[k].items()}
            out.append(TransferResult(errors=errors, predictions=pred, setting=st,
                                      solver=solver, width=width, diagnostics=diagnostics,
                                      wall_time=_time.perf_counter() - t0,
                                      target_size=self.sizes[k], source_kernel=kernel))
        return out


def _common(
    task: TransferTask, setting: TransferSetting | None, protocols: Sequence[str], tol: float,
    max_time: float, max_steps: int,
) -> tuple[TransferSetting, tuple[str, ...], float, float, int]:
    st = setting if setting is not None else TransferSetting()
    if not isinstance(st, TransferSetting):
        raise InvalidInputError(f"setting must be a TransferSetting, got {type(st).__name__}")
    prots = _check_task(task, protocols)
    return (st, prots, nonneg_float(tol, "tol", positive=True),
            nonneg_float(max_time, "max_time", positive=True),
            positive_int(max_steps, "max_steps", limit="steps"))


def _particles(
    task: TransferTask,
    setting: TransferSetting | None,
    protocols: Sequence[str],
    target_sizes: Sequence[int] | None,
    neurons: int,
    seeds: int | Sequence[int],
    tol: float,
    max_time: float,
    max_steps: int,
) -> list[TransferResult]:
    """The particle runs behind :func:`transfer_dmft` and :func:`transfer_curve`: one source
    stage per seed, then the target protocols on each nested prefix X₂[:k] of the target set."""
    t0 = _time.perf_counter()
    st, prots, tolerance, t_max, cap = _common(task, setting, protocols, tol, max_time,
                                               max_steps)
    m = positive_int(neurons, "neurons", limit="draws")
    if m < 2:
        raise InvalidInputError(f"neurons must be ≥ 2, got {m}")
    seed_ints = _seed_list(seeds)
    limits.check(len(seed_ints), "draws", "seeds")
    sizes = _sizes(task, target_sizes)
    n_all = task.x_source.shape[0] + task.x_target.shape[0] + task.x_test.shape[0]
    limits.check_elements(m, n_all, name="neurons × inputs (particle features)")
    stall = default_stall(st.activation)

    p1, p2 = task.x_source.shape[0], task.x_target.shape[0]
    kx, amat = _span(np.vstack([task.x_source, task.x_target, task.x_test]))
    a_src, k_src = amat[:p1], kx[:p1, :p1]
    a_tgt, k_tgt = amat[p1:p1 + p2], kx[p1:p1 + p2, p1:p1 + p2]
    a_test = amat[p1 + p2:]
    act = st.activation
    out = _Collect(prots, sizes)

    def feats(u: FloatArray, a: FloatArray) -> FloatArray:
        return _act(u @ a.T, act)[0].T  # (n, M)

    def run(u: FloatArray, z: FloatArray, a: FloatArray, kxx: FloatArray, y: FloatArray,
            gamma: float, lam: float, dlt: float, u_anc: FloatArray, time_cap: float,
            stop: float) -> Any:
        return _flow(u, z, a, kxx, y, gamma=gamma, lam=lam, dlt=dlt, u_anc=u_anc,
                     z_anc=np.zeros_like(z), activation=act, tol=stop, max_time=time_cap,
                     max_steps=cap, stall_tol=stall)

    def note(k: int, stage: str, fl: Any) -> None:
        out.note(k, stage, fl.steps, fl.time, fl.residual, fl.status.value == "converged",
                 fl.status.value == "stalled")

    def predict(fl: Any, gamma: float) -> FloatArray:
        return np.asarray((fl.z @ feats(fl.u, a_test).T) / (gamma * m))

    for seed in seed_ints:
        gen = np.random.default_rng(seed)
        u0 = gen.standard_normal((m, amat.shape[1]))
        z0 = gen.standard_normal(m)
        anc0 = u0 if st.anchor == "init" else np.zeros_like(u0)
        phi0_t, phi0_e = feats(u0, a_tgt), feats(u0, a_test)
        src = None
        if _NEEDS_SOURCE.intersection(prots):
            src = run(u0, z0, a_src, k_src, task.y_source, st.gamma_source, st.ridge_source,
                      st.ridge_hidden, anc0, t_max, tolerance)
            phi1 = feats(src.u, a_test)
            out.kernels.append(phi1 @ phi1.T / m)
        for k, size in enumerate(sizes):
            a2, k2, y2 = a_tgt[:size], k_tgt[:size, :size], task.y_target[:size]
            if "scratch_lazy" in prots:
                out.preds[k]["scratch_lazy"].append(
                    ridge_readout_predict(phi0_t[:size], phi0_e, y2, st.ridge_target))
            if "scratch_rich" in prots:
                fl = run(u0, z0, a2, k2, y2, st.gamma_target, st.ridge_target, st.ridge_hidden,
                         anc0, t_max, tolerance)
                note(k, "scratch_rich", fl)
                out.preds[k]["scratch_rich"].append(predict(fl, st.gamma_target))
            if src is None:
                continue
            note(k, "source", src)
            u1, z1 = src.u, src.z
            if "ft" in prots:
                out.preds[k]["ft"].append(ridge_readout_predict(
                    feats(u1, a2), feats(u1, a_test), y2, st.ridge_target))
            z_start = np.zeros_like(z1) if st.readout == "reset" else z1
            for prot, dlt, cap_t, stop in (
                ("jr_e", st.stiffness, t_max, tolerance),
                ("jr_i", 0.0, st.time_jr_i, 1e-300),
            ):
                if prot in prots:
                    fl = run(u1, z_start, a2, k2, y2, st.gamma_target, st.ridge_target, dlt,
                             u1, cap_t, stop)
                    note(k, prot, fl)
                    out.preds[k][prot].append(predict(fl, st.gamma_target))
    return out.results(task, st, "particle", m, t0)


def _networks(
    task: TransferTask,
    setting: TransferSetting | None,
    protocols: Sequence[str],
    target_sizes: Sequence[int] | None,
    width: int,
    seeds: int | Sequence[int],
    tol: float,
    max_time: float,
    max_steps: int,
) -> list[TransferResult]:
    """The finite-width runs behind :func:`transfer_network` and :func:`transfer_curve`."""
    from .simulate import Network, init_network, readout_ridge, train

    t0 = _time.perf_counter()
    st, prots, tolerance, t_max, cap = _common(task, setting, protocols, tol, max_time,
                                               max_steps)
    n = positive_int(width, "width", limit="width")
    seed_ints = _seed_list(seeds)
    limits.check(len(seed_ints), "draws", "seeds")
    sizes = _sizes(task, target_sizes)
    x1, y1, xt = task.x_source, task.y_source, task.x_test
    out = _Collect(prots, sizes)

    def note(k: int, stage: str, tr: Any) -> None:
        out.note(k, stage, tr.steps, tr.time, tr.residual, tr.converged, tr.stalled)

    net0 = init_network(n, task.dim, seeds=seed_ints, gamma=st.gamma_source,
                        activation=st.activation)
    anc0 = net0.W if st.anchor == "init" else None
    net1 = None
    src = None
    if _NEEDS_SOURCE.intersection(prots):
        src = train(net0, x1, y1, gamma=st.gamma_source, ridge_readout=st.ridge_source,
                    ridge_hidden=st.ridge_hidden, anchor_hidden=anc0, tol=tolerance,
                    max_time=t_max, max_steps=cap)
        net1 = src.network
    for k, size in enumerate(sizes):
        x2, y2 = task.x_target[:size], task.y_target[:size]
        if "scratch_lazy" in prots:
            out.preds[k]["scratch_lazy"].append(readout_ridge(net0, x2, y2, xt,
                                                              ridge=st.ridge_target))
        if "scratch_rich" in prots:
            tr = train(net0, x2, y2, gamma=st.gamma_target, ridge_readout=st.ridge_target,
                       ridge_hidden=st.ridge_hidden, anchor_hidden=anc0, tol=tolerance,
                       max_time=t_max, max_steps=cap)
            note(k, "scratch_rich", tr)
            out.preds[k]["scratch_rich"].append(tr.network.predict(xt))
        if net1 is None or src is None:
            continue
        note(k, "source", src)
        if "ft" in prots:
            out.preds[k]["ft"].append(readout_ridge(net1, x2, y2, xt, ridge=st.ridge_target))
        z_start = np.zeros_like(net1.z) if st.readout == "reset" else net1.z
        start = Network(net1.W, z_start, gamma=st.gamma_target, activation=st.activation)
        for prot, dlt, cap_t, stop in (
            ("jr_e", st.stiffness, t_max, tolerance),
            ("jr_i", 0.0, st.time_jr_i, 1e-300),
        ):
            if prot in prots:
                tr = train(start, x2, y2, gamma=st.gamma_target, ridge_readout=st.ridge_target,
                           ridge_hidden=dlt, anchor_hidden=net1.W, tol=stop, max_time=cap_t,
                           max_steps=cap)
                note(k, prot, tr)
                out.preds[k][prot].append(tr.network.predict(xt))
    return out.results(task, st, "network", n, t0)


@dataclass(frozen=True)
class TransferCurve:
    """Target learning curves of the protocols (spec §3–§4): one :class:`TransferResult` per
    target size, all sharing one source stage per seed.

    Attributes
    ----------
    sizes : tuple of int
        Target training sizes P₂ (nested prefixes of the task's target set).
    results : tuple of TransferResult
        One per size.
    """

    sizes: tuple[int, ...]
    results: tuple[TransferResult, ...]

    def errors(self, protocol: str) -> FloatArray:
        """Test errors, shape (n_sizes, S)."""
        return readonly(np.array([r.errors[protocol] for r in self.results]))

    def records(self, **fields: Any) -> list[dict[str, Any]]:
        """Tidy rows of every size (field ``p_target``)."""
        rows: list[dict[str, Any]] = []
        for size, r in zip(self.sizes, self.results, strict=True):
            rows += r.records(p_target=size, **fields)
        return rows


@small_blas
def transfer_curve(
    task: TransferTask,
    setting: TransferSetting | None = None,
    target_sizes: Sequence[int] | None = None,
    *,
    solver: str = "particle",
    protocols: Sequence[str] = PROTOCOLS,
    width: int = 4000,
    seeds: int | Sequence[int] = 1,
    tol: float = 1e-8,
    max_time: float = 2_000.0,
    max_steps: int = 200_000,
) -> TransferCurve:
    """Learning curves in the target size of every protocol, one source stage per seed.

    Regime: that of :func:`transfer_dmft` (``solver="particle"``, M = ``width`` particles) or
    :func:`transfer_network` (``solver="network"``, width N). The target training sets are the
    nested prefixes X₂[:k] of ``task.x_target`` for k in ``target_sizes`` (default: all of it).

    Examples
    --------
    >>> from finetune_bounds.infinite_width import linear_pair
    >>> task = linear_pair(10, 30, 20, 50, alpha_s=1.0, rng=0)
    >>> c = transfer_curve(task, TransferSetting(activation="linear"), [5, 20],
    ...                    protocols=("scratch_lazy", "ft"), width=200, tol=1e-6)
    >>> c.sizes, c.errors("ft").shape
    ((5, 20), (2, 1))
    """
    check_choice(solver, "solver", ("particle", "network"))
    run = _particles if solver == "particle" else _networks
    res = run(task, setting, protocols, target_sizes, width, seeds, tol, max_time, max_steps)
    return TransferCurve(tuple(r.target_size for r in res), tuple(res))
