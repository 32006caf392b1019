"""The fuzz's two profiles (issue 13: "a fast default profile and a longer slow one").

Every parameter of every public callable is fuzzed with bad values. The default run gives each
parameter :data:`DEFAULT_PER_PARAMETER` of the values, chosen by a hash of the callable and the
parameter name so that across parameters every value is used; ``-m slow`` runs the rest.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
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
