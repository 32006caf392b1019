"""Lazy (γ → 0) kernels of the infinite-width two-layer network, closed form and Monte Carlo.

Spec ``infinite-width-transfer.md`` §1–§2. The network is the mean-field (μP) two-layer MLP
h_i(x) = w_i·x/√D, f(x) = (1/(γN)) Σ_i z_i φ(h_i(x)) with w_i ~ N(0, I_D), z_i ~ N(0, 1). At
initialisation, and throughout training in the lazy limit γ → 0, the width-N → ∞ kernels are

* input kernel     K_x(x, x') = x·x'/D,
* feature kernel   Φ(x, x') = ⟨φ(h(x)) φ(h(x'))⟩,
* gradient kernel  G(x, x') = ⟨g(x) g(x')⟩, g = z φ'(h); since z is independent of w and
  ⟨z²⟩ = 1 this is ⟨φ'(h(x)) φ'(h(x'))⟩,
* neural tangent kernel K = Φ + G ⊙ K_x,

with ⟨·⟩ the average over one random neuron (h(x), h(x')) ~ N(0, [[q, K_x], [K_x, q']]),
q = K_x(x, x), q' = K_x(x', x').

:func:`lazy_kernels` gives the closed forms (arc-cosine kernels of order 1 and 0 for ReLU);
:func:`monte_carlo_kernels` estimates the same averages from random neurons, with standard errors,
as their independent check. The ReLU helper ``finetune_bounds.relu.theory._arccos_kernel`` is a
different object (the hidden-layer NTK c(π − arccos c)/(2π) of unit-norm inputs, i.e. only the
G₀ ⊙ K_x term at q = q' = 1), so the mean-field kernels are written out here in full.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .. import limits
from .._validation import (
    FloatArray,
    as_float_array,
    as_generator,
    check_choice,
    positive_int,
    readonly,
)
from ..errors import InvalidInputError
from ._checks import ensure_finite

__all__ = [
    "ACTIVATIONS",
    "LazyKernels",
    "MonteCarloKernels",
    "input_kernel",
    "lazy_kernels",
    "monte_carlo_kernels",
]

#: Activations with closed-form lazy kernels.
ACTIVATIONS: tuple[str, ...] = ("relu", "linear")

#: Floats held per chunk of neurons in :func:`monte_carlo_kernels` (≈ 32 MB of float64).
_CHUNK_FLOATS = 4_000_000


@dataclass(frozen=True)
class LazyKernels:
    """Lazy-limit kernels between two sets of inputs (spec §2), each of shape (n1, n2).

    Attributes
    ----------
    phi : ndarray
        Feature kernel Φ₀(x, x') = ⟨φ(h(x)) φ(h(x'))⟩.
    g : ndarray
        Gradient kernel G₀(x, x') = ⟨φ'(h(x)) φ'(h(x'))⟩ (= ⟨g(x) g(x')⟩ with g = zφ', ⟨z²⟩ = 1).
    ntk : ndarray
        Neural tangent kernel K₀ = Φ₀ + G₀ ⊙ K_x.
    kx : ndarray
        Input kernel K_x(x, x') = x·x'/D.
    """

    phi: FloatArray
    g: FloatArray
    ntk: FloatArray
    kx: FloatArray


@dataclass(frozen=True)
class MonteCarloKernels:
    """Monte Carlo estimates of the lazy kernels with elementwise standard errors (spec §2).

    Attributes
    ----------
    phi, g, ntk : ndarray
        Sample means over ``neurons`` random neurons of φ(h(x))φ(h(x')), φ'(h(x))φ'(h(x')) and
        φφ' + φ'φ'·K_x (shape (n1, n2)).
    phi_se, g_se, ntk_se : ndarray
        Standard errors of those means, √(s²/M) with s² the unbiased per-neuron sample variance.
    kx : ndarray
        Input kernel K_x(x, x') = x·x'/D (exact).
    neurons : int
        Number M of neurons averaged.
    """

    phi: FloatArray
    g: FloatArray
    ntk: FloatArray
    phi_se: FloatArray
    g_se: FloatArray
    ntk_se: FloatArray
    kx: FloatArray
    neurons: int


def _inputs(x1: ArrayLike, x2: ArrayLike | None) -> tuple[FloatArray, FloatArray, bool]:
    """Validated (n1, D) and (n2, D) float64 copies; the flag says ``x2`` was omitted."""
    a = as_float_array(x1, "x1", ndim=2)
    if x2 is None:
        return a, a, True
    b = as_float_array(x2, "x2", ndim=2)
    if b.shape[1] != a.shape[1]:
        raise InvalidInputError(
            f"x1 and x2 must have the same input dimension D, got {a.shape[1]} and {b.shape[1]}"
        )
    return a, b, False


def _kx(a: FloatArray, b: FloatArray, same: bool) -> FloatArray:
    limits.check_elements(a.shape[0], b.shape[0], name="n1 × n2 (kernel entries)")
    with np.errstate(all="ignore"):
        kx = np.asarray(a @ b.T, dtype=np.float64) / a.shape[1]
        if same:
            kx = 0.5 * (kx + kx.T)  # exactly symmetric
    ensure_finite("input kernel x·x'/D", kx)
    return kx


def input_kernel(x1: ArrayLike, x2: ArrayLike | None = None) -> FloatArray:
    """Input kernel K_x(x, x') = x·x'/D between the rows of ``x1`` and ``x2`` (spec §1).

    Parameters
    ----------
    x1 : array_like, shape (n1, D)
        Inputs, one per row.
    x2 : array_like, shape (n2, D), optional
        Second set of inputs; ``None`` (default) means ``x1`` (the Gram matrix, exactly
        symmetric).

    Returns
    -------
    ndarray, shape (n1, n2)
        Read-only float64 matrix x1 x2ᵀ / D.

    Raises
    ------
    InvalidInputError
        Non-2-D, empty or non-finite inputs, or different input dimensions D.

    Examples
    --------
    >>> input_kernel([[1.0, 1.0], [2.0, 0.0]])
    array([[1., 1.],
           [1., 2.]])
    """
    a, b, same = _inputs(x1, x2)
    return readonly(_kx(a, b, same))


def lazy_kernels(
    x1: ArrayLike, x2: ArrayLike | None = None, *, activation: str = "relu"
) -> LazyKernels:
    """Closed-form lazy kernels Φ₀, G₀, K₀ of the infinite-width two-layer network (spec §2).

    Regime: width N → ∞ in the lazy limit γ → 0 (equivalently, the kernels at initialisation),
    weights w ~ N(0, I_D) and pre-activations h = w·x/√D as in spec §1.

    ReLU: with q = K_x(x, x), q' = K_x(x', x') and θ = arccos(K_x(x, x')/√(qq')) (the cosine
    clipped to [−1, 1]),

        Φ₀ = √(qq') [sin θ + (π − θ) cos θ] / (2π),   G₀ = (π − θ) / (2π),

    (the arc-cosine kernels of order 1 and 0). Linear φ: Φ₀ = K_x, G₀ = 1. In both cases
    K₀ = Φ₀ + G₀ ⊙ K_x.

    Parameters
    ----------
    x1 : array_like, shape (n1, D)
        Inputs, one per row.
    x2 : array_like, shape (n2, D), optional
        Second set of inputs; ``None`` (default) means ``x1``, in which case the kernels are
        exactly symmetric and θ = 0 on the diagonal.
    activation : {"relu", "linear"}
        The activation φ.

    Returns
    -------
    LazyKernels
        Read-only (n1, n2) arrays ``phi``, ``g``, ``ntk`` and ``kx``.

    Raises
    ------
    InvalidInputError
        Non-2-D, empty or non-finite inputs, different input dimensions, unknown activation.

    Notes
    -----
    Zero-norm inputs (q = 0 or q' = 0) leave θ undefined. There Φ₀ = 0 and, by convention,
    G₀ = 1/2 (θ := 0); the convention never reaches K₀, because K_x = 0 on such pairs. (A Monte
    Carlo estimate with φ'(0) = 0 gives G = 0 there.)

    Examples
    --------
    >>> k = lazy_kernels([[1.0, 0.0], [0.0, 1.0]])
    >>> bool(np.isclose(k.phi[0, 1], 0.5 / (2 * np.pi)))  # orthogonal: √(qq')/(2π), q = 1/2
    True
    >>> float(k.g[0, 1]), float(k.g[0, 0])
    (0.25, 0.5)
    """
    check_choice(activation, "activation", ACTIVATIONS)
    a, b, same = _inputs(x1, x2)
    kx = _kx(a, b, same)
    with np.errstate(all="ignore"):
        phi, g, ntk = _lazy(a, b, kx, same, activation)
    ensure_finite("lazy_kernels", phi, g, ntk)
    return LazyKernels(phi=readonly(phi), g=readonly(g), ntk=readonly(ntk), kx=readonly(kx))


def _lazy(
    a: FloatArray, b: FloatArray, kx: FloatArray, same: bool, activation: str
) -> tuple[FloatArray, FloatArray, FloatArray]:
    if activation == "linear":
        phi = kx.copy()
        g = np.ones_like(kx)
    else:
        q1 = _sqnorm(a)
        q2 = q1 if same else _sqnorm(b)
        norm = np.outer(np.sqrt(q1), np.sqrt(q2))
        zero = norm == 0.0
        cos = np.divide(kx, norm, out=np.ones_like(kx), where=~zero)
        cos = np.clip(cos, -1.0, 1.0)
        if same:
            np.fill_diagonal(cos, 1.0)
        theta = np.arccos(cos)
        _refine_angles(theta, cos, a, b, q1, q2, zero, same)
        phi = norm * (np.sin(theta) + (np.pi - theta) * cos) / (2.0 * np.pi)
        phi[zero] = 0.0
        g = (np.pi - theta) / (2.0 * np.pi)
        if same:
            phi = 0.5 * (phi + phi.T)
            g = 0.5 * (g + g.T)
    ntk = phi + g * kx
    return phi, g, ntk


def _sqnorm(a: FloatArray) -> FloatArray:
    """|x|²/D per row, computed on rescaled rows so that it overflows only when the result
    does."""
    scale = np.max(np.abs(a), axis=1)
    scale = np.where(scale > 0, scale, 1.0)
    r = a / scale[:, None]
    return np.asarray(np.einsum("ij,ij->i", r, r) / a.shape[1] * scale * scale)


def _refine_angles(
    theta: FloatArray,
    cos: FloatArray,
    a: FloatArray,
    b: FloatArray,
    q1: FloatArray,
    q2: FloatArray,
    zero: NDArray[np.bool_],
    same: bool,
) -> None:
    """Recompute, in place, angles of nearly (anti)parallel pairs from vector differences.

    ``arccos`` of a Gram-matrix cosine loses half the digits near θ = 0 and θ = π (a 1-ulp
    error in the cosine moves θ by ~1e-8). There θ = 2 arcsin(‖u − u'‖/2), respectively
    π − 2 arcsin(‖u + u'‖/2), with u, u' the unit inputs, is accurate to rounding. Pairs are
    processed in bounded batches.
    """
    near = (np.abs(cos) > 0.99) & ~zero
    if same:
        np.fill_diagonal(near, False)
    i, j = np.nonzero(near)
    if i.size == 0:
        return
    dim = a.shape[1]
    ua = a / np.sqrt(np.where(q1 > 0, q1 * dim, 1.0))[:, None]
    ub = b / np.sqrt(np.where(q2 > 0, q2 * dim, 1.0))[:, None]
    step = max(1, _CHUNK_FLOATS // dim)
    for s in range(0, i.size, step):
        ii, jj = i[s : s + step], j[s : s + step]
        sign = np.sign(cos[ii, jj])[:, None]
        dist = np.linalg.norm(ua[ii] - sign * ub[jj], axis=1)
        half = 2.0 * np.arcsin(np.minimum(dist / 2.0, 1.0))
        theta[ii, jj] = np.where(sign[:, 0] > 0, half, np.pi - half)


def _act(h: FloatArray, activation: str) -> tuple[FloatArray, FloatArray]:
    """φ(h) and φ'(h); ReLU uses φ'(0) = 0."""
    if activation == "linear":
        return h, np.ones_like(h)
    d = (h > 0.0).astype(np.float64)
    return h * d, d


def _mean_se(s1: FloatArray, s2: FloatArray, m: int) -> tuple[FloatArray, FloatArray]:
    """Mean and standard error of the mean from the running sums Σs and Σs² over m samples."""
    mean = s1 / m
    var = np.maximum(s2 - m * mean * mean, 0.0) / max(m - 1, 1)
    return mean, np.sqrt(var / m)


def monte_carlo_kernels(
    x1: ArrayLike,
    x2: ArrayLike | None = None,
    *,
    activation: str = "relu",
    neurons: int = 200_000,
    rng: np.random.Generator | int | None = None,
    chunk: int | None = None,
) -> MonteCarloKernels:
    """Monte Carlo estimate of the lazy kernels over random neurons, with standard errors (§2).

    Regime: width N → ∞, lazy limit γ → 0 (kernels at initialisation) — the same quantities as
    :func:`lazy_kernels`, estimated as averages over M = ``neurons`` independent neurons
    w ~ N(0, I_D), h(x) = w·x/√D:

        Φ = ⟨φ(h(x)) φ(h(x'))⟩,  G = ⟨φ'(h(x)) φ'(h(x'))⟩,  K = ⟨φφ' + φ'φ' K_x⟩ = Φ + G ⊙ K_x.

    G is the gradient kernel ⟨g(x) g(x')⟩ of spec §1 with g = zφ'(h): the readout z ~ N(0, 1) is
    independent of w and ⟨z²⟩ = 1, so it is averaged out exactly rather than sampled.

    Parameters
    ----------
    x1 : array_like, shape (n1, D)
        Inputs, one per row.
    x2 : array_like, shape (n2, D), optional
        Second set of inputs; ``None`` (default) means ``x1`` (the same neurons are used on both
        sides, so the estimate is exactly symmetric).
    activation : {"relu", "linear"}
        The activation φ (ReLU with φ'(0) = 0).
    neurons : int, default 200_000
        Number M of random neurons.
    rng : numpy.random.Generator, int or None
        Random source or seed; ``None`` means seed 0 (reproducible).
    chunk : int, optional
        Neurons drawn per batch; by default chosen so that a batch holds about 4·10⁶ floats
        (memory stays bounded in ``neurons``).

    Returns
    -------
    MonteCarloKernels
        Read-only means ``phi``, ``g``, ``ntk``, their standard errors ``phi_se``, ``g_se``,
        ``ntk_se`` (unbiased per-neuron variance / M, square-rooted), the exact ``kx`` and M.

    Raises
    ------
    InvalidInputError
        Bad inputs (as in :func:`lazy_kernels`), ``neurons`` or ``chunk`` not a positive integer,
        bad seed.

    Examples
    --------
    >>> x = [[1.0, 0.0], [0.6, 0.8]]
    >>> mc = monte_carlo_kernels(x, neurons=100_000, rng=1)
    >>> exact = lazy_kernels(x)
    >>> bool(np.all(np.abs(mc.phi - exact.phi) < 5 * mc.phi_se + 1e-15))
    True
    """
    check_choice(activation, "activation", ACTIVATIONS)
    a, b, same = _inputs(x1, x2)
    m = positive_int(neurons, "neurons", limit="draws")
    gen = as_generator(rng)
    n1, dim = a.shape
    n2 = b.shape[0]
    if chunk is None:
        step = max(1, _CHUNK_FLOATS // (4 * (n1 + n2) + dim))
    else:
        step = positive_int(chunk, "chunk", limit="draws")
    limits.check_elements(min(step, m), a.shape[0] + b.shape[0] + dim,
                          name="chunk × (n1 + n2 + D) (neurons per batch)")
    kx = _kx(a, b, same)
    with np.errstate(all="ignore"):
        kx2 = kx * kx
        shape = (n1, n2)
        s_phi, s_phi2 = np.zeros(shape), np.zeros(shape)
        s_g, s_g2 = np.zeros(shape), np.zeros(shape)
        s_cross = np.zeros(shape)  # Σ φφ'·φφ' (per side), for the NTK variance
        scale = 1.0 / np.sqrt(dim)
        done = 0
        while done < m:
            c = min(step, m - done)
            # neuron-major draws: results do not depend on chunk
            w = gen.standard_normal((c, dim)).T
            f1, d1 = _act((a @ w) * scale, activation)
            if same:
                f2, d2 = f1, d1
            else:
                f2, d2 = _act((b @ w) * scale, activation)
            s_phi += f1 @ f2.T
            s_phi2 += (f1 * f1) @ (f2 * f2).T
            s_g += d1 @ d2.T
            s_g2 += (d1 * d1) @ (d2 * d2).T
            s_cross += (f1 * d1) @ (f2 * d2).T
            done += c
        phi, phi_se = _mean_se(s_phi, s_phi2, m)
        g, g_se = _mean_se(s_g, s_g2, m)
        # per neuron k = φφ' + (φ'φ')K_x, so Σk = Σφφ + K_x Σφ'φ' and
        # Σk² = Σ(φφ)² + 2 K_x Σ(φφ')(φφ') + K_x² Σ(φ'φ')².
        ntk, ntk_se = _mean_se(s_phi + kx * s_g, s_phi2 + 2.0 * kx * s_cross + kx2 * s_g2, m)
        if same:
            parts = [0.5 * (t + t.T) for t in (phi, g, ntk, phi_se, g_se, ntk_se)]
            phi, g, ntk, phi_se, g_se, ntk_se = parts
    ensure_finite("monte_carlo_kernels", phi, g, ntk, phi_se, g_se, ntk_se)
    return MonteCarloKernels(
        phi=readonly(phi),
        g=readonly(g),
        ntk=readonly(ntk),
        phi_se=readonly(phi_se),
        g_se=readonly(g_se),
        ntk_se=readonly(ntk_se),
        kx=readonly(kx),
        neurons=m,
    )
