"""Resource limits: the sizes finetune-bounds refuses unless the user says they mean it.

A sample size of 10⁷, a billion Monte Carlo draws or a width of 10⁹ is almost always a typo, and
without a limit it runs for hours or dies with an untyped ``MemoryError``. Every public entry that
takes such a size checks it here and raises :class:`ResourceLimitError` (an
:class:`~finetune_bounds.errors.InvalidInputError`, so the CLI prints one line and exits 2) with
the parameter, the value, the limit and how to raise it.

Raise a limit
-------------
* in Python, for a block: ``with finetune_bounds.limits.override(n=10**7): ...``; or for the
  rest of the process: ``finetune_bounds.limits.set_limits(n=10**7)`` (``set_limits(off=True)``
  switches every limit off, :func:`reset` restores the defaults);
* from the shell (also read by process and dask-local workers started from it):
  ``FINETUNE_BOUNDS_LIMITS="n=1e7,draws=1e6"`` or ``FINETUNE_BOUNDS_LIMITS=off``.

The defaults (:data:`DEFAULTS`) are far above anything the shipped configs use and below sizes
that cannot finish on a workstation.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Collection, Iterator, Mapping
from typing import Any

from .errors import InvalidInputError, ResourceLimitError

__all__ = [
    "DEFAULTS",
    "ENV_VAR",
    "ResourceLimitError",
    "check",
    "check_elements",
    "current",
    "override",
    "reset",
    "set_limits",
]

#: The environment variable read for overrides (``"n=1e7,draws=1e6"`` or ``"off"``).
ENV_VAR = "FINETUNE_BOUNDS_LIMITS"

#: Default limits. ``n``: samples in one design; ``d``: input dimension; ``draws``: Monte Carlo
#: draws or seeds in one call; ``steps``: iterations of one gradient-descent run; ``width``:
#: hidden units; ``cells``: cells of one sweep grid; ``elements``: float64 entries of one array
#: a call would allocate (2·10⁸ ≈ 1.6 GB).
DEFAULTS: Mapping[str, int] = {
    "n": 1_000_000,
    "d": 100_000,
    "draws": 1_000_000,
    "steps": 10_000_000,
    "width": 1_000_000,
    "cells": 100_000,
    "elements": 200_000_000,
}

_WHAT = {
    "n": "samples",
    "d": "dimensions",
    "draws": "draws",
    "steps": "steps",
    "width": "hidden units",
    "cells": "cells",
    "elements": "array entries",
}


def env_pairs(text: str, env_var: str, names: Collection[str]) -> dict[str, str] | None:
    """``"a=1, b=2"`` → ``{"a": "1", "b": "2"}`` (values stripped), ``None`` for ``"off"``.

    The syntax of :data:`ENV_VAR` and of ``FINETUNE_BOUNDS_THREADS``; an unknown name or a
    part without ``=`` is an :class:`InvalidInputError` naming ``env_var``.
    """
    text = text.strip()
    if text.lower() in {"off", "none", "false", "no"}:
        return None
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in names:
            raise InvalidInputError(
                f"{env_var}={text!r} is not understood: expected 'off' or comma-separated "
                f"name=value pairs with names in {sorted(names)}"
            )
        out[key] = value.strip()
    return out


def _parse_env(text: str) -> dict[str, float] | None:
    pairs = env_pairs(text, ENV_VAR, DEFAULTS)
    if pairs is None:
        return None
    out: dict[str, float] = {}
    for key, value in pairs.items():
        if value.lower() in {"inf", "off", "none"}:
            out[key] = math.inf
            continue
        try:
            v = float(value)
        except ValueError:
            v = math.nan
        if not v > 0:
            raise InvalidInputError(f"{ENV_VAR}: {key} must be a positive number, got {value!r}")
        out[key] = v
    return out


def current() -> dict[str, float]:
    """The limits in force now (``math.inf`` where a limit is off)."""
    parsed = _parse_env(os.environ.get(ENV_VAR, ""))
    if parsed is None:
        return dict.fromkeys(DEFAULTS, math.inf)
    out: dict[str, float] = {k: float(v) for k, v in DEFAULTS.items()}
    out.update(parsed)
    return out


def _checked(overrides: Mapping[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in overrides.items():
        if key not in DEFAULTS:
            raise InvalidInputError(
                f"unknown resource limit {key!r}; the limits are {sorted(DEFAULTS)}"
            )
        if value is None:
            out[key] = math.inf
            continue
        ok = isinstance(value, int | float) and not isinstance(value, bool) and value > 0
        if not ok:
            raise InvalidInputError(f"limit {key} must be a positive number or None, got {value!r}")
        out[key] = float(value)
    return out


def _write_env(limits: dict[str, float] | None) -> None:
    if limits is None:
        os.environ[ENV_VAR] = "off"
        return
    changed = {k: v for k, v in limits.items() if v != DEFAULTS[k]}
    if changed:
        os.environ[ENV_VAR] = ",".join(f"{k}={v:.17g}" for k, v in sorted(changed.items()))
    else:
        os.environ.pop(ENV_VAR, None)


def _merged(off: bool, overrides: Mapping[str, Any]) -> dict[str, float] | None:
    checked = _checked(overrides)
    if off:
        return None
    parsed = _parse_env(os.environ.get(ENV_VAR, ""))
    base = dict.fromkeys(DEFAULTS, math.inf) if parsed is None else {**DEFAULTS, **parsed}
    return {**{k: float(v) for k, v in base.items()}, **checked}


def set_limits(*, off: bool = False, **overrides: Any) -> None:
    """Change limits for the rest of this process and the workers it starts.

    ``set_limits(n=10**7)`` raises one limit (a value of ``None`` switches it off);
    ``set_limits(off=True)`` switches every limit off; :func:`reset` restores the defaults.
    The limits live in the environment variable :data:`ENV_VAR`, so process and local dask
    workers started afterwards inherit them.
    """
    _write_env(_merged(off, overrides))


def reset() -> None:
    """Restore the default limits (drops :data:`ENV_VAR` from this process's environment)."""
    os.environ.pop(ENV_VAR, None)


@contextlib.contextmanager
def restoring_env(var: str) -> Iterator[None]:
    """Put the environment variable ``var`` back as it was (or unset) when the block ends."""
    saved = os.environ.get(var)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(var, None)
        else:
            os.environ[var] = saved


@contextlib.contextmanager
def override(*, off: bool = False, **overrides: Any) -> Iterator[None]:
    """Raise limits (or switch them all ``off``) inside a ``with`` block."""
    with restoring_env(ENV_VAR):
        _write_env(_merged(off, overrides))
        yield


def _fmt(v: float) -> str:
    return f"{int(v)}" if float(v).is_integer() and abs(v) < 1e16 else f"{v:.4g}"


def check(value: float, kind: str, name: str | None = None) -> None:
    """Raise :class:`ResourceLimitError` if ``value`` is above the ``kind`` limit."""
    limit = current()[kind]
    if value > limit:
        label = name or kind
        raise ResourceLimitError(
            f"{label} = {_fmt(value)} is above the limit of {_fmt(limit)} {_WHAT[kind]}; if you "
            f"mean it, raise the limit (finetune_bounds.limits.override({kind}=...) in Python, "
            f"{ENV_VAR}='{kind}=...' in the shell)"
        )


def check_elements(*shape: float, name: str) -> None:
    """Refuse an allocation of ``prod(shape)`` float64 entries above the ``elements`` limit."""
    total = math.prod(float(s) for s in shape)
    check(total, "elements", name)
