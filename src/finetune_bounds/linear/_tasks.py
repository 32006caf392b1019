"""Task builders of the linear family: synthetic spectra with a chosen placement of Δ, and the
built-in examples (``finetune-bounds linear --example NAME``).

Public through :mod:`finetune_bounds.linear` (``spectrum_task``, ``example_task``); the family's
``build_task`` (in :mod:`finetune_bounds.linear._family`) turns a cell's parameters into one of
these tasks, a digits task or a task read from files.
"""

from __future__ import annotations

import math

import numpy as np

from .._numerics import power_law_spectrum
from .._validation import nonneg_float, positive_int
from ..errors import InvalidInputError
from ..problems import Covariance, LinearTask

__all__ = ["DELTA_PROFILES", "EXAMPLES", "SPECTRA", "example_task", "spectrum_task"]

#: spectra of :func:`spectrum_task` (``"digits"`` comes from :mod:`finetune_bounds.data`)
SPECTRA: tuple[str, ...] = ("power_law", "spiked", "flat")
DELTA_PROFILES: tuple[str, ...] = ("head", "tail", "random")


def spectrum_task(
    d: int = 200,
    spectrum: str = "power_law",
    *,
    exponent: float = 1.0,
    spike_count: int | None = None,
    spike_height: float = 20.0,
    delta_profile: str = "random",
    delta_fraction: float = 0.1,
    delta_norm: float = 1.0,
    source_norm: float = 1.0,
    noise_variance: float = 0.0,
    seed: int = 0,
) -> LinearTask:
    """A reproducible synthetic task with a chosen spectrum and a chosen placement of Δ.

    Σ is diagonal with tr Σ = d (mean eigenvalue 1), eigenvalues decreasing:

    - ``"power_law"``: λ_i ∝ i^(−exponent);
    - ``"spiked"``: ``spike_count`` (default max(1, d // 20)) eigenvalues ``spike_height``
      times the others;
    - ``"flat"``: Σ = I.

    θ_S is a uniformly random direction of norm ``source_norm``; Δ = θ_T − θ_S has norm
    ``delta_norm`` and Gaussian coordinates on the top (``"head"``) or bottom (``"tail"``)
    ⌈delta_fraction·d⌉ eigen-directions, or on all of them (``"random"``). Δ on the tail is the
    case the covariance-aware measure of spec §2.4 rewards: large ‖Δ‖, small ΔᵀΣΔ.

    Raises
    ------
    InvalidInputError
        Unknown spectrum or profile, d < 1, negative norms, fraction outside (0, 1].
    """
    d = positive_int(d, "d", limit="d")
    if spectrum not in SPECTRA:
        raise InvalidInputError(f"spectrum must be one of {SPECTRA}, got {spectrum!r}")
    if delta_profile not in DELTA_PROFILES:
        raise InvalidInputError(
            f"delta_profile must be one of {DELTA_PROFILES}, got {delta_profile!r}"
        )
    frac = nonneg_float(delta_fraction, "delta_fraction", positive=True)
    if frac > 1:
        raise InvalidInputError(f"delta_fraction must be in (0, 1], got {frac}")
    if spectrum == "power_law":
        lam = power_law_spectrum(d, nonneg_float(exponent, "exponent"))  # mean 1
    elif spectrum == "spiked":
        k = max(1, d // 20) if spike_count is None else positive_int(spike_count, "spike_count")
        if k > d:
            raise InvalidInputError(f"spike_count must be ≤ d = {d}, got {k}")
        lam = np.ones(d)
        lam[:k] = nonneg_float(spike_height, "spike_height", positive=True)
        lam = np.sort(lam)[::-1]
        lam = lam / lam.mean()
    else:
        lam = np.ones(d)
    rng = np.random.default_rng(positive_int(seed, "seed", allow_zero=True))
    src = rng.standard_normal(d)
    src *= nonneg_float(source_norm, "source_norm") / np.linalg.norm(src)
    k = min(d, max(1, math.ceil(frac * d)))
    delta = np.zeros(d)
    if delta_profile == "head":
        delta[:k] = rng.standard_normal(k)
    elif delta_profile == "tail":
        delta[d - k:] = rng.standard_normal(k)
    else:
        delta = rng.standard_normal(d)
    delta *= nonneg_float(delta_norm, "delta_norm") / np.linalg.norm(delta)
    return LinearTask(Covariance.from_spectrum(lam), src, src + delta, noise_variance)


#: built-in examples of the CLI (``finetune-bounds linear --example NAME``)
EXAMPLES: tuple[str, ...] = ("power_law", "spiked", "digits")


def example_task(name: str, *, noise_variance: float = 0.0) -> LinearTask:
    """Built-in example tasks: ``"power_law"`` (d = 200, λ_i ∝ 1/i, Δ on the head),
    ``"spiked"`` (d = 200, 10 spikes ×20, Δ random) and ``"digits"`` (scikit-learn digits,
    source "digit ≥ 5", target "digit is even"; see :func:`finetune_bounds.data.digits_task`)."""
    if name == "power_law":
        return spectrum_task(200, "power_law", delta_profile="head", noise_variance=noise_variance)
    if name == "spiked":
        return spectrum_task(200, "spiked", delta_profile="random", noise_variance=noise_variance)
    if name == "digits":
        from ..data import digits_task

        return digits_task(noise_variance=noise_variance)
    raise InvalidInputError(f"example must be one of {EXAMPLES}, got {name!r}")
