"""The model-family interface that the sweep/report spine runs, its parameter constraints and
its registry.

A family is a frozen :class:`Family`: a name, documented default parameters with declarative
constraints, the parameters it accepts as inner *axes*, and two pure functions that turn one grid
cell into tidy records (see :mod:`finetune_bounds.records`):

- ``theory(params, rng) -> list[record]``: rows with sources ``theory`` and ``bound``, computed
  once per cell. ``rng`` is a ``numpy.random.Generator`` whose stream is derived from the cell's
  content (independent of every seed's stream); a randomised theory (Monte Carlo, particles)
  draws from it and gives each random row its standard error in the field ``stderr``.
- ``simulate(params, rngs) -> list[record]``: rows from actually training the model, batched
  over seeds (source ``empirical``). ``rngs[i]`` is the generator of seed ``i``, derived by the
  sweep from the cell's content and the seed number, so the numbers of a seed do not depend on
  how many seeds run together, on worker count or on order. Every returned row carries
  ``seed = i`` (the index into ``rngs``).

An *inner axis* (``[axes] n = [10, 20, 50]`` in a config, ``--axis n=10,20,50`` on the command
line) is a parameter the family receives whole, as a tuple, so that one cell computes a curve
with shared draws and shared expensive work; every row the cell returns carries the axis value
it belongs to. :func:`axis_values` reads a parameter that may or may not be an axis.

A family knows nothing of stores, executors or reports. Adding one is a module that defines a
:class:`Family` plus one :func:`register_family` call (``docs/families.md`` has a complete
30-line example).
"""

from __future__ import annotations

import importlib
import math
import numbers
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import ConfigError, InvalidInputError

__all__ = [
    "Boolean",
    "Constraint",
    "Family",
    "Interval",
    "Options",
    "Words",
    "available_families",
    "axis_values",
    "family_ref",
    "get_family",
    "register_family",
    "seed_ints",
]

Records = list[dict[str, Any]]

#: column names of the tidy table that a parameter may not take
RESERVED_NAMES: frozenset[str] = frozenset(
    {"family", "experiment", "quantity", "source", "seed", "value", "method", "stderr"}
)


# ---------------------------------------------------------------------------------------------
# constraints (in the spirit of scikit-learn's Interval / StrOptions)
# ---------------------------------------------------------------------------------------------
class Constraint:
    """A rule one parameter value must satisfy. Subclasses implement :meth:`accepts` and
    :meth:`describe` (the expected range, as shown in error messages)."""

    def accepts(self, value: Any) -> bool:  # pragma: no cover - interface
        raise NotImplementedError

    def describe(self) -> str:  # pragma: no cover - interface
        raise NotImplementedError

    def __or__(self, other: Constraint) -> Constraint:
        return _AnyOf((self, other))


@dataclass(frozen=True)
class _AnyOf(Constraint):
    parts: tuple[Constraint, ...]

    def accepts(self, value: Any) -> bool:
        return any(p.accepts(value) for p in self.parts)

    def describe(self) -> str:
        return " or ".join(p.describe() for p in self.parts)

    def __or__(self, other: Constraint) -> Constraint:
        return _AnyOf((*self.parts, other))


@dataclass(frozen=True)
class Interval(Constraint):
    """A number in an interval.

    Parameters
    ----------
    kind : {"int", "float"}
        ``"int"``: an integer (not a bool); ``"float"``: any real number (ints included).
    low, high : float or None
        Bounds (None: unbounded on that side).
    closed : {"both", "left", "right", "neither"}
        Which bounds belong to the interval.
    allow_inf : bool
        Accept ±inf when it lies in the interval (e.g. an infinite depth).
    """

    kind: str
    low: float | None = None
    high: float | None = None
    closed: str = "both"
    allow_inf: bool = False

    def __post_init__(self) -> None:
        if self.kind not in ("int", "float"):
            raise ConfigError(f"Interval kind must be 'int' or 'float', got {self.kind!r}")
        if self.closed not in ("both", "left", "right", "neither"):
            raise ConfigError(
                f"Interval closed must be 'both', 'left', 'right' or 'neither', got {self.closed!r}"
            )

    def accepts(self, value: Any) -> bool:
        if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
            return False
        v = float(value)
        if math.isnan(v):
            return False
        if math.isinf(v):
            if not self.allow_inf:
                return False
        elif self.kind == "int" and not isinstance(value, numbers.Integral):
            return False
        lo_ok = self.low is None or (
            v >= self.low if self.closed in ("both", "left") else v > self.low
        )
        hi_ok = self.high is None or (
            v <= self.high if self.closed in ("both", "right") else v < self.high
        )
        return lo_ok and hi_ok

    def describe(self) -> str:
        name = "an integer" if self.kind == "int" else "a number"
        lo = "-inf" if self.low is None else f"{self.low:g}"
        hi = "inf" if self.high is None else f"{self.high:g}"
        left = "[" if self.closed in ("both", "left") and self.low is not None else "("
        right = "]" if self.closed in ("both", "right") and self.high is not None else ")"
        extra = " (inf allowed)" if self.allow_inf else ""
        if self.low is None and self.high is None:
            return f"{name}{extra}"
        return f"{name} in {left}{lo}, {hi}{right}{extra}"


@dataclass(frozen=True)
class Options(Constraint):
    """One of a fixed set of values (strings, usually)."""

    values: tuple[Any, ...]

    def __init__(self, *values: Any) -> None:
        object.__setattr__(self, "values", tuple(values))

    def accepts(self, value: Any) -> bool:
        return any(type(value) is type(v) and value == v for v in self.values)

    def describe(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)


@dataclass(frozen=True)
class Boolean(Constraint):
    """``true`` or ``false`` (not 0/1)."""

    def accepts(self, value: Any) -> bool:
        return isinstance(value, bool | np.bool_)

    def describe(self) -> str:
        return "true or false"


@dataclass(frozen=True)
class Words(Constraint):
    """A string of one or more distinct words (space/comma separated) from a fixed set, e.g.
    ``"closed_form cvxpy gd"``."""

    values: tuple[str, ...]
    allow_empty: bool = False

    def accepts(self, value: Any) -> bool:
        if not isinstance(value, str):
            return False
        words = value.replace(",", " ").split()
        if not words:
            return self.allow_empty
        return len(set(words)) == len(words) and all(w in self.values for w in words)

    def describe(self) -> str:
        return "distinct words from " + ", ".join(self.values)


# ---------------------------------------------------------------------------------------------
# the family
# ---------------------------------------------------------------------------------------------
def axis_values(params: Mapping[str, Any], name: str) -> list[Any]:
    """The values of parameter ``name`` as a list: the whole inner axis when the cell received
    one (a tuple or list), else the single value."""
    if not isinstance(params, Mapping):
        raise InvalidInputError(f"axis_values: params must be a mapping, got {params!r}")
    if not isinstance(name, str) or name not in params:
        raise InvalidInputError(
            f"axis_values: name must be a parameter of the cell {sorted(map(str, params))}, "
            f"got {name!r}"
        )
    v = params[name]
    return list(v) if isinstance(v, list | tuple) else [v]


def seed_ints(rngs: Sequence[np.random.Generator]) -> list[int]:
    """One integer seed per cell generator, for simulators that seed ``default_rng(s)`` per
    seed (batched over seeds) instead of taking the generators themselves."""
    return [int(g.integers(0, 2**63 - 1)) for g in rngs]


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
    theory : callable(params, rng) -> list of records
    simulate : callable(params, rngs) -> list of records, or None for theory-only families
    derive : callable(params) -> params, optional
        Adds derived values to a cell (e.g. ``n = ratio · d``) before it is hashed and run; may
        raise :class:`ConfigError` for combinations the constraints cannot express.
    constraints : mapping of str to Constraint
        Declarative checks of single parameter values (see :class:`Interval`, :class:`Options`,
        :class:`Boolean`, :class:`Words`); checked when a config loads and when a run starts,
        for every value of an inner axis.
    axes : tuple of str
        Parameters the family accepts as inner axes (it then receives a tuple of values and
        labels each row with its value).
    description : str
    schema_version : int
        Bump when the meaning of a parameter or record changes (it is part of every cell key).
    """

    name: str
    defaults: Mapping[str, Any]
    theory: Callable[[Mapping[str, Any], np.random.Generator], Records]
    simulate: Callable[[Mapping[str, Any], Sequence[np.random.Generator]], Records] | None = None
    derive: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    constraints: Mapping[str, Constraint] = field(default_factory=dict)
    axes: tuple[str, ...] = ()
    description: str = ""
    schema_version: int = 1
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"Family name must be a non-empty string, got {self.name!r}")
        for key in ("defaults", "constraints", "meta"):
            if not isinstance(getattr(self, key), Mapping):
                raise ConfigError(
                    f"family {self.name!r}: {key} must be a mapping, got {getattr(self, key)!r}"
                )
        if not isinstance(self.axes, tuple | list) or not all(
            isinstance(a, str) for a in self.axes
        ):
            raise ConfigError(
                f"family {self.name!r}: axes must be a tuple of parameter names, got {self.axes!r}"
            )
        bad = [k for k, c in self.constraints.items() if not isinstance(c, Constraint)]
        if bad:
            raise ConfigError(f"family {self.name!r}: constraints {bad} are not Constraints")
        if not callable(self.theory):
            raise ConfigError(f"family {self.name!r}: theory must be callable, got {self.theory!r}")
        for key in ("simulate", "derive"):
            if getattr(self, key) is not None and not callable(getattr(self, key)):
                raise ConfigError(
                    f"family {self.name!r}: {key} must be callable or None, got "
                    f"{getattr(self, key)!r}"
                )
        clash = sorted(set(self.defaults) & RESERVED_NAMES)
        if clash:
            raise ConfigError(
                f"family {self.name!r}: parameter name(s) {clash} are columns of the results "
                "table; choose other names"
            )
        unknown = sorted((set(self.constraints) | set(self.axes)) - set(self.defaults))
        if unknown:
            raise ConfigError(
                f"family {self.name!r}: constraints/axes name unknown parameter(s) {unknown}"
            )

    def check(self, params: Mapping[str, Any]) -> None:
        """Check every value against :attr:`constraints` (each value of an inner axis too).

        Raises
        ------
        ConfigError
            ``family 'x': key = value: expected <range>`` for the first bad value.
        """
        for key, rule in self.constraints.items():
            if key not in params:
                continue
            value = params[key]
            is_axis = key in self.axes and isinstance(value, list | tuple)
            values = list(value) if is_axis else [value]
            for v in values:
                if not rule.accepts(v):
                    raise ConfigError(
                        f"family {self.name!r}: {key} = {v!r}: expected {rule.describe()}"
                    )

    def resolve(self, cell: Mapping[str, Any], axes: Sequence[str] = ()) -> dict[str, Any]:
        """Defaults ← cell ← derived values, checked against the constraints.

        ``axes`` names the parameters that the cell sets as inner axes (their values are lists).

        Raises
        ------
        ConfigError
            Unknown keys, an axis the family does not accept, or a value outside its constraint.
        """
        unknown = set(cell) - set(self.defaults)
        if unknown:
            raise ConfigError(
                f"family {self.name!r} has no parameter(s) {sorted(unknown)}; "
                f"known: {sorted(self.defaults)}"
            )
        not_axes = sorted(set(axes) - set(self.axes))
        if not_axes:
            allowed = ", ".join(self.axes) or "none"
            raise ConfigError(
                f"family {self.name!r} does not take {not_axes} as an inner axis "
                f"(axes it takes: {allowed}); put it in [grid] instead"
            )
        params = {**self.defaults, **cell}
        for key in self.axes:
            if key not in axes and isinstance(params[key], list | tuple):
                raise ConfigError(
                    f"family {self.name!r}: {key} is a list; declare it in [axes] to compute a "
                    "curve in one cell, or in [grid] for one cell per value"
                )
        self.check(params)
        out = self.derive(params) if self.derive is not None else params
        self.check(out)
        return out


# ---------------------------------------------------------------------------------------------
# registry
# ---------------------------------------------------------------------------------------------
#: family name → "module:attribute" (imported lazily) or the Family itself
_REGISTRY: dict[str, str | Family] = {
    "linear": "finetune_bounds.linear._family:FAMILY",
    "deep_linear": "finetune_bounds.deep_linear._family:FAMILY",
    "relu": "finetune_bounds.relu._family:FAMILY",
    "diagonal": "finetune_bounds.diagonal._family:FAMILY",
    "infinite_width": "finetune_bounds.infinite_width._family:FAMILY",
    "linear_measures": "finetune_bounds.linear._family:MEASURES",
    "sample_complexity": "finetune_bounds._samples_family:FAMILY",
    "nonlinear": "finetune_bounds.nonlinear._family:FAMILY",
}


def register_family(family: Family | str, name: str | None = None) -> str:
    """Make a family available to configs, the runner and the CLI (``run NAME``).

    Parameters
    ----------
    family : Family or str
        The family, or ``"module:attribute"`` naming it (imported lazily, in the main process
        and in every worker). Pass a string — or a Family defined at module level of an
        importable module — to run it on the process or dask executors: workers import it by
        that reference.
    name : str, optional
        Registry key (default: ``family.name``; required for a string reference).

    Returns
    -------
    str
        The registry key.

    Raises
    ------
    ConfigError
        A name that is taken by a different family, or a reference that is not a Family.
    """
    if name is not None and (not isinstance(name, str) or not name):
        raise ConfigError(f"family name must be a non-empty string or None, got {name!r}")
    if isinstance(family, str):
        if ":" not in family:
            raise ConfigError(f"a family reference is 'module:attribute', got {family!r}")
        fam = _import_ref(family)
        key = (name or fam.name).replace("-", "_")
        entry: str | Family = family
    elif isinstance(family, Family):
        fam, key = family, (name or family.name).replace("-", "_")
        entry = _find_ref(family) or family
    else:
        raise ConfigError(f"register_family needs a Family or 'module:attr', got {family!r}")
    old = _REGISTRY.get(key)
    if old is not None and old != entry:
        try:
            same = _resolve(old) is fam
        except ConfigError:
            same = False
        if not same:
            raise ConfigError(f"a different family is already registered as {key!r}")
    _REGISTRY[key] = entry
    return key


def unregister_family(name: str) -> None:
    """Remove a family registered with :func:`register_family` (no error if absent)."""
    _REGISTRY.pop(name.replace("-", "_"), None)


def _find_ref(fam: Family) -> str | None:
    """``module:attribute`` of a Family defined at module level (so workers can import it)."""
    mod_name = getattr(fam.theory, "__module__", None)
    mod = sys.modules.get(mod_name or "")
    if mod is None or mod_name == "__main__" or getattr(mod, "__spec__", None) is None:
        return None  # not importable by name in a worker: the object itself is sent
    for attr, value in vars(mod).items():
        if value is fam:
            return f"{mod_name}:{attr}"
    return None


def _import_ref(ref: str) -> Family:
    mod_name, _, attr = ref.partition(":")
    try:
        mod = importlib.import_module(mod_name)
    except ModuleNotFoundError as exc:
        if exc.name and mod_name.startswith(exc.name):
            raise ConfigError(f"family module {mod_name!r} is not available") from None
        raise
    fam = getattr(mod, attr, None)
    if not isinstance(fam, Family):
        raise ConfigError(f"{ref} is not a Family")
    return fam


def _resolve(entry: str | Family) -> Family:
    return entry if isinstance(entry, Family) else _import_ref(entry)


def family_ref(name: str) -> str | Family:
    """What a worker needs to find family ``name``: its ``module:attribute`` or the Family."""
    key = name.replace("-", "_") if isinstance(name, str) else name
    if key not in _REGISTRY:
        raise ConfigError(f"unknown family {name!r}; known: {sorted(_REGISTRY)}")
    return _REGISTRY[key]


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
    """Look up a family by name (imported lazily).

    Raises
    ------
    ConfigError
        Unknown name (or not a string), or a family whose module is not in this build.
    """
    if not isinstance(name, str):
        raise ConfigError(f"a family name is a string, got {name!r}")
    key = name.replace("-", "_")
    if key not in _REGISTRY:
        raise ConfigError(f"unknown family {name!r}; known: {sorted(_REGISTRY)}")
    try:
        return _resolve(_REGISTRY[key])
    except ConfigError as exc:
        if "not available" in str(exc):
            raise ConfigError(f"family {name!r} is not available in this build") from None
        raise
