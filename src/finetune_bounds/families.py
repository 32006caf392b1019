"""The model-family interface that the sweep/report spine runs.

A family is a frozen :class:`Family`: a name, documented default parameters, and two pure
functions that turn one grid cell into tidy records (see :mod:`finetune_bounds.records`):

- ``theory(params) -> list[record]``: deterministic rows (sources ``theory`` and ``bound``),
  computed once per cell;
- ``simulate(params, rngs) -> list[record]``: rows from actually training the model, batched
  over seeds (source ``empirical``). ``rngs[i]`` is the ``numpy.random.Generator`` of seed ``i``,
  derived by the sweep from the cell's content and the seed number, so the numbers of a seed do
  not depend on how many seeds run together, on worker count or on order. Every returned row
  carries ``seed = i`` (the index into ``rngs``).

A family knows nothing of stores, executors or reports. Adding one is a new subpackage that
defines ``FAMILY`` in its ``_family`` module plus one line in :data:`_REGISTRY`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import ConfigError

__all__ = ["Family", "available_families", "get_family"]

Records = list[dict[str, Any]]


@dataclass(frozen=True)
class Family:
    """A model family as the sweep sees it.

    Attributes
    ----------
    name : str
        Registry key (``"linear"``, ``"deep_linear"``, ``"relu"`` …).
    defaults : mapping
        Every accepted parameter with its default; a cell may override any of them and nothing
        else (unknown keys are a :class:`ConfigError`).
    theory : callable(params) -> list of records
    simulate : callable(params, rngs) -> list of records, or None for theory-only families
    derive : callable(params) -> params, optional
        Adds derived values to a cell (e.g. ``n = ratio · d``) before it is hashed and run.
    description : str
    """

    name: str
    defaults: Mapping[str, Any]
    theory: Callable[[Mapping[str, Any]], Records]
    simulate: Callable[[Mapping[str, Any], Sequence[np.random.Generator]], Records] | None = None
    derive: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    description: str = ""
    schema_version: int = 1
    meta: Mapping[str, Any] = field(default_factory=dict)

    def resolve(self, cell: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults ← cell ← derived values; unknown keys raise :class:`ConfigError`."""
        unknown = set(cell) - set(self.defaults)
        if unknown:
            raise ConfigError(
                f"family {self.name!r} has no parameter(s) {sorted(unknown)}; "
                f"known: {sorted(self.defaults)}"
            )
        params = {**self.defaults, **cell}
        return self.derive(params) if self.derive is not None else params


#: family name → "module:attribute"; one line per family
_REGISTRY: dict[str, str] = {
    "linear": "finetune_bounds.linear._family:FAMILY",
    "deep_linear": "finetune_bounds.deep_linear._family:FAMILY",
    "relu": "finetune_bounds.relu._family:FAMILY",
    "linear_measures": "finetune_bounds.linear._family:MEASURES",
}


def available_families() -> list[str]:
    """Names of the registered families whose module imports."""
    out = []
    for name in _REGISTRY:
        try:
            get_family(name)
        except ConfigError:
            continue
        out.append(name)
    return out


def get_family(name: str) -> Family:
    """Look up a family by name (imported lazily)."""
    key = name.replace("-", "_")
    if key not in _REGISTRY:
        raise ConfigError(f"unknown family {name!r}; known: {sorted(_REGISTRY)}")
    mod_name, attr = _REGISTRY[key].split(":")
    try:
        mod = importlib.import_module(mod_name)
    except ModuleNotFoundError as exc:
        if exc.name and mod_name.startswith(exc.name):
            raise ConfigError(f"family {name!r} is not available in this build") from None
        raise
    fam = getattr(mod, attr)
    if not isinstance(fam, Family):
        raise ConfigError(f"{_REGISTRY[key]} is not a Family")
    return fam
