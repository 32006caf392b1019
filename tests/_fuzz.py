"""The fuzz's two profiles (issue 13: "a fast default profile and a longer slow one").

Every parameter of every public callable is fuzzed with bad values. The default run gives each
parameter :data:`DEFAULT_PER_PARAMETER` of the values, chosen by a hash of the callable and the
parameter name so that across parameters every value is used; ``-m slow`` runs the rest.
"""

from __future__ import annotations

import inspect
import zlib
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import pytest

#: bad values of the default run per parameter (of len(BAD_VALUES))
DEFAULT_PER_PARAMETER = 3


def fuzz_params(cases: Sequence[tuple[str, str, int]], n_values: int) -> list[Any]:
    """``pytest.param`` for each (callable, parameter, value index), ``slow`` beyond the
    default share."""
    out = []
    for fn, kw, i in cases:
        start = zlib.crc32(f"{fn}.{kw}".encode()) % n_values
        default = (i - start) % n_values < DEFAULT_PER_PARAMETER
        out.append(pytest.param(fn, kw, i, id=f"{fn}-{kw}-{i}",
                                marks=() if default else pytest.mark.slow))
    return out


#: one bad value per parameter at a time: missing, wrong type, NaN, negative, a bool, complex,
#: a list where a scalar belongs
BAD_VALUES: list[Any] = [None, "x", float("nan"), -1, True, 1j, [1]]


def fuzz_cases(baselines: dict[str, tuple[Any, dict[str, Any]]]) -> list[tuple[str, str, int]]:
    """(callable name, parameter, bad-value index) for every parameter of every baseline."""
    return [(fn, kw, i) for fn, (_, kws) in sorted(baselines.items()) for kw in kws
            for i in range(len(BAD_VALUES))]


def call_with_bad_value(func: Any, kws: dict[str, Any], kw: str, i: int) -> tuple[bool, Any]:
    """Call ``func`` with ``kws`` and ``kw`` replaced by ``BAD_VALUES[i]``: (False, None) for a
    typed error, (True, result) otherwise. A RuntimeWarning (numpy overflow / invalid) is an
    error: the library must not leak one for an input it accepts."""
    import warnings

    from finetune_bounds.errors import FinetuneBoundsError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            return True, func(**{**kws, kw: BAD_VALUES[i]})
    except FinetuneBoundsError:
        return False, None


def public_functions(module: ModuleType, *input_classes: str) -> list[str]:
    """The functions of ``module.__all__`` (plus the named input dataclasses), sorted: what a
    family's fuzz baselines must cover."""
    funcs = [n for n in module.__all__ if inspect.isfunction(getattr(module, n))]
    return sorted([*funcs, *input_classes])
