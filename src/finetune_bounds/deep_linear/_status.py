"""Solver status of the deep-linear computations: one shape for every result (private).

Every public result of :mod:`finetune_bounds.deep_linear` carries ``info:``
:class:`~finetune_bounds._numerics.SolverInfo` (how the solve that produced it ended) and the
property ``status`` (= ``info.status``). Results of one problem also have ``converged`` (bool, =
``info.converged``). Batched results keep one status per element in ``statuses`` (an array of
:class:`SolverStatus` values as strings) and the aggregate in ``info``: for
:class:`~.DepthCoefficient` ``converged`` is the aggregate bool and ``converged_mask`` the
per-element array; the layered-GD results keep their per-member boolean array ``converged`` (as
the linear family's GD result does). The aggregate ``info``:

- ``status``: the worst element status — ``not_finite`` > ``bracket_lost`` > ``max_iterations``
  > ``solver_failed`` > ``converged`` > ``exact`` (``exact`` only when every element was);
- ``iterations``: the largest iteration count, ``residual``: the largest stopping-criterion value
  of the iterated elements, ``tolerance``: the criterion's threshold;
- ``extra["counts"]``: ``{status value: number of elements}`` (only statuses that occur).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from .._numerics import Solved, SolverInfo, SolverStatus

#: numpy dtype wide enough for every status value
_STATUS_DTYPE = np.dtype(f"U{max(len(s.value) for s in SolverStatus)}")

#: aggregation order: the first status present wins
_WORST_FIRST: tuple[SolverStatus, ...] = (
    SolverStatus.NOT_FINITE,
    SolverStatus.BRACKET_LOST,
    SolverStatus.MAX_ITERATIONS,
    SolverStatus.SOLVER_FAILED,
    SolverStatus.CONVERGED,
    SolverStatus.EXACT,
)


_Solved = Solved  # results of one problem: ``status`` and ``converged`` from ``info``


def _status_array(shape: tuple[int, ...], status: SolverStatus) -> NDArray[np.str_]:
    return np.full(shape, status.value, dtype=_STATUS_DTYPE)


def _worst(counts: Mapping[str, int]) -> SolverStatus:
    for s in _WORST_FIRST:
        if counts.get(s.value, 0):
            return s
    return SolverStatus.EXACT  # nothing was solved (an empty batch)


def _counts(statuses: NDArray[np.str_]) -> dict[str, int]:
    values, counts = np.unique(np.asarray(statuses, dtype=_STATUS_DTYPE), return_counts=True)
    return {str(v): int(c) for v, c in zip(values, counts, strict=True)}


def _aggregate(
    statuses: NDArray[np.str_],
    *,
    iterations: int,
    residual: float,
    tolerance: float,
    extra: Mapping[str, Any] | None = None,
) -> SolverInfo:
    """The aggregate :class:`SolverInfo` of a batch with per-element ``statuses``."""
    counts = _counts(statuses)
    return SolverInfo(
        _worst(counts), int(iterations), float(residual), float(tolerance),
        {**(extra or {}), "counts": counts},
    )


def _combine(infos: Iterable[SolverInfo]) -> SolverInfo:
    """Merge the infos of several solves (chunks of draws, several depths) into one.

    Status: the worst; iterations, residual: the largest; tolerance: the first one given;
    ``extra["counts"]``: summed (an info without counts counts as one solve); other extras are
    dropped.
    """
    items = list(infos)
    counts: dict[str, int] = {}
    for info in items:
        part = info.extra.get("counts", {info.status.value: 1})
        for key, value in part.items():
            counts[key] = counts.get(key, 0) + int(value)
    tols = [i.tolerance for i in items if not math.isnan(i.tolerance)]
    return SolverInfo(
        _worst(counts),
        max((i.iterations for i in items), default=0),
        max((i.residual for i in items), default=0.0),
        tols[0] if tols else math.nan,
        {"counts": counts},
    )


def _exact(extra: Mapping[str, Any] | None = None) -> SolverInfo:
    """The info of a closed form (nothing iterated)."""
    return SolverInfo(SolverStatus.EXACT, 0, 0.0, math.nan, dict(extra or {}))


def _worse(a: NDArray[np.str_], b: NDArray[np.str_]) -> NDArray[np.str_]:
    """Element-wise the worse of two status arrays (same order as the aggregate)."""
    out = np.array(a, dtype=_STATUS_DTYPE, copy=True)
    for s in reversed(_WORST_FIRST):  # best first: a worse status present overrides
        out[(a == s.value) | (b == s.value)] = s.value
    return out
