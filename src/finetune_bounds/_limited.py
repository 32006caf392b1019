"""A family-parameter constraint that also applies a resource limit (private).

``Limited(Interval("int", 1, None), "n", "n")`` accepts what the interval accepts and raises
:class:`~finetune_bounds.errors.ResourceLimitError` (one line: the parameter, the value, the
limit and how to raise it) for a value above the ``n`` limit of :mod:`finetune_bounds.limits`
— when a config or a CLI command resolves its parameters, before any cell runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from . import limits
from .families import Constraint

__all__ = ["Limited"]


@dataclass(frozen=True)
class Limited(Constraint):
    """``inner`` plus the resource limit ``kind`` on the value (named ``name`` in messages)."""

    inner: Constraint
    kind: str
    name: str

    def accepts(self, value: Any) -> bool:
        if not self.inner.accepts(value):
            return False
        try:
            v = float(value)
        except (TypeError, ValueError):
            return True
        if math.isfinite(v):
            limits.check(v, self.kind, self.name)
        return True

    def describe(self) -> str:
        return self.inner.describe()
