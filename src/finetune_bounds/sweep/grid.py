"""Grid cells, their content hash and their seeds.

A *cell* is one point of a sweep: the fully resolved parameters a family receives. Its identity
is a content hash — sha256 of the canonical JSON of ``{family, schema_version, params}`` — which
keys the store and seeds the random numbers, so that

- the numbers of seed ``i`` of a cell depend only on the cell's content and on ``i``: not on the
  number of seeds in the run, the order of the grid, the worker count or the executor;
- re-running a sweep finds its finished cells again, and a change of any parameter, of the
  family's defaults or of its ``schema_version`` makes a new cell.

File inputs: when a cell has a non-empty ``files_sha256`` (the sha256 of its input files'
contents, filled in by the family, see :mod:`finetune_bounds._task_files`), its ``*_file``
parameters — the paths, which the family reads — are left out of the hash: the content is keyed
by the digest, so the same files reached by another path (a moved project folder, a config
loaded from elsewhere) give the same cell, and a changed file gives a new one. The paths are
still stored with the cell (as columns of the results).

Seeds: the hash (a 256-bit integer) is the entropy of a :class:`numpy.random.SeedSequence`;
seed ``i`` uses ``SeedSequence(entropy, spawn_key=(i,))`` — the same stream as the ``i``-th
child of ``SeedSequence(entropy).spawn(...)`` — and a fresh ``PCG64`` generator. The cell's
theory stream (``Family.theory(params, rng)``) uses ``spawn_key = (THEORY_STREAM, 0)``, a key no
seed can take, so a randomised theory is independent of every seed.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validation import positive_int
from ..errors import ConfigError, InvalidInputError

__all__ = [
    "Cell",
    "canonical_json",
    "canonical_value",
    "cell_key",
    "cell_rngs",
    "grid_size",
    "seed_sequence",
    "theory_rng",
]

#: first word of the theory stream's spawn key (ASCII "theo"); seed streams use (i,)
THEORY_STREAM = 0x7468656F


def canonical_value(value: Any, where: str = "value") -> Any:
    """A JSON-ready copy of a parameter value: numpy scalars → Python, tuples → lists.

    Raises
    ------
    TypeError
        For NaN or a type that has no canonical JSON form (the caller wraps it in a
        :class:`~finetune_bounds.errors.ConfigError` naming the key).
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        f = float(value)
        if math.isnan(f):
            raise TypeError(f"{where} is NaN")
        return f
    if isinstance(value, list | tuple):
        return [canonical_value(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        return {str(k): canonical_value(v, f"{where}.{k}") for k, v in value.items()}
    raise TypeError(f"{where} has type {type(value).__name__}, which a sweep cannot store")


def canonical_json(obj: Any) -> str:
    """Deterministic JSON text (sorted keys, no spaces; ``Infinity`` for infinite floats)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=True)


#: parameters whose name ends so are file paths, left out of the hash when the cell has a digest
FILE_SUFFIX = "_file"


def cell_key(family: str, schema_version: int, params: Mapping[str, Any]) -> str:
    """Content hash (64 hex digits) of a resolved cell of ``family``.

    When ``params["files_sha256"]`` is a non-empty string, the ``*_file`` parameters (paths)
    are not hashed: the digest stands for the files' contents, wherever they are.
    """
    if not isinstance(family, str) or not family:
        raise InvalidInputError(f"family must be a non-empty family name, got {family!r}")
    if isinstance(schema_version, bool | np.bool_) or not isinstance(schema_version,
                                                                     int | np.integer):
        raise InvalidInputError(f"schema_version must be an integer ≥ 0, got {schema_version!r}")
    schema_version = positive_int(schema_version, "schema_version", allow_zero=True)
    if not isinstance(params, Mapping):
        raise InvalidInputError(f"params must be a mapping of parameter values, got {params!r}")
    hashed = dict(params)
    digest = hashed.get("files_sha256")
    if isinstance(digest, str) and digest:
        hashed = {k: v for k, v in hashed.items() if not str(k).endswith(FILE_SUFFIX)}
    payload = {
        "family": family,
        "schema_version": int(schema_version),
        "params": canonical_value(hashed, "params"),
    }
    return hashlib.sha256(canonical_json(payload).encode("ascii")).hexdigest()


def seed_sequence(key: str, seed: int) -> np.random.SeedSequence:
    """The seed sequence of seed ``seed`` of the cell with hash ``key``."""
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    return np.random.SeedSequence(int(key, 16), spawn_key=(int(seed),))


def _check_key(key: Any) -> None:
    ok = isinstance(key, str) and bool(key)
    if ok:
        try:
            int(key, 16)
        except ValueError:
            ok = False
    if not ok:
        raise InvalidInputError(f"key must be a cell hash (hex digits, cell_key), got {key!r}")


def cell_rngs(key: str, seeds: int | Iterable[int]) -> list[np.random.Generator]:
    """One independent generator per seed (``range(seeds)`` if an int is given)."""
    _check_key(key)
    if isinstance(seeds, int | np.integer) and not isinstance(seeds, bool | np.bool_):
        ids: Iterable[int] = range(positive_int(seeds, "seeds", allow_zero=True, limit="draws"))
    elif isinstance(seeds, str | bytes) or not isinstance(seeds, Iterable):
        raise InvalidInputError(f"seeds must be a count ≥ 0 or a sequence of seeds ≥ 0, got "
                                f"{seeds!r}")
    else:
        ids = [positive_int(s, "seed", allow_zero=True) for s in seeds]
    return [np.random.Generator(np.random.PCG64(seed_sequence(key, i))) for i in ids]


def theory_rng(key: str) -> np.random.Generator:
    """The generator ``Family.theory`` receives for the cell with hash ``key``."""
    ss = np.random.SeedSequence(int(key, 16), spawn_key=(THEORY_STREAM, 0))
    return np.random.Generator(np.random.PCG64(ss))


@dataclass(frozen=True)
class Cell:
    """One resolved grid point.

    Attributes
    ----------
    family : str
        Registry name of the family.
    params : mapping
        What the family receives: its defaults ← config values ← derived values ←
        ``Family.derive``, canonicalised (plain Python scalars).
    extra : mapping
        Auxiliary config values that are not family parameters (e.g. ``ratio`` in
        ``n = "round(ratio * d)"``): stored as columns and part of the hash, never passed on.
    schema_version : int
        The family's ``schema_version``.
    key : str
        Content hash (see :func:`cell_key`).
    """

    family: str
    params: Mapping[str, Any]
    extra: Mapping[str, Any] = field(default_factory=dict)
    schema_version: int = 1
    key: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.family, str) or not self.family:
            raise ConfigError(f"Cell family must be a family name, got {self.family!r}")
        for name in ("params", "extra"):
            if not isinstance(getattr(self, name), Mapping):
                raise ConfigError(f"Cell {name} must be a mapping, got {getattr(self, name)!r}")
        sv = self.schema_version
        if isinstance(sv, bool) or not isinstance(sv, int) or sv < 0:
            raise ConfigError(f"Cell schema_version must be an integer ≥ 0, got {sv!r}")
        if not isinstance(self.key, str):
            raise ConfigError(f"Cell key must be a string, got {self.key!r}")
        if not self.key:
            object.__setattr__(
                self, "key", cell_key(self.family, self.schema_version, self.columns)
            )

    @property
    def columns(self) -> dict[str, Any]:
        """Every value of the cell (family parameters and auxiliary values)."""
        return {**self.params, **self.extra}


def grid_size(grid: Mapping[str, Sequence[Any]]) -> int:
    """Number of points of a grid (the product of its list lengths; 1 for an empty grid),
    computed without building them."""
    return math.prod(len(v) for v in grid.values())


def product_points(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Cartesian product of a grid, in row-major order (the last key varies fastest)."""
    import itertools

    keys = list(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*grid.values())]
