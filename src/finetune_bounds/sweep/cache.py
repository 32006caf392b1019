"""Content-addressed results of expensive shared steps (e.g. one source training run serving
many target cells).

A family calls :func:`shared_step` inside ``theory`` or ``simulate``::

    from finetune_bounds.sweep.cache import shared_step, step_rng

    def simulate(params, rngs):
        key = {k: params[k] for k in ("width", "source_alpha", "source_n", "source_seed")}
        source = shared_step("source_run", key,
                             lambda: train_source(key, step_rng("source_run", key)))
        ...

The result — a mapping of names to numpy arrays (or numbers) — is keyed by a sha256 of the step
name, its ``version`` and the canonical JSON of ``key`` (only what the step depends on, never the
whole cell), so every cell whose ``key`` agrees reuses it:

- within a process, from memory (a small LRU);
- across processes, workers, re-runs and executors, from ``<store>.cache/`` beside the results
  store (one ``.npz`` file per step, written atomically: a temporary file, then ``os.replace``),
  when the sweep has a store on disk. Two workers that need the same step at the same moment may
  both compute it (the same numbers: its randomness must come from :func:`step_rng`, not from a
  cell's generators); the second write replaces the first with identical content.

A dask cluster on several machines shares the cache only through a shared file system (the
store's folder); otherwise each machine computes a step once.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import os
import tempfile
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidInputError
from .grid import canonical_json, canonical_value

__all__ = ["StepCache", "shared_step", "step_key", "step_rng", "using_cache"]

Arrays = dict[str, np.ndarray]


def step_key(name: str, key: Mapping[str, Any], version: int = 1) -> str:
    """The content hash (64 hex digits) of a shared step."""
    if not isinstance(name, str) or not name:
        raise InvalidInputError(f"a shared step needs a non-empty name, got {name!r}")
    try:
        payload = {"step": name, "version": int(version), "key": canonical_value(dict(key))}
    except TypeError as exc:
        raise InvalidInputError(f"shared step {name!r}: {exc}") from None
    return hashlib.sha256(canonical_json(payload).encode("ascii")).hexdigest()


def step_rng(name: str, key: Mapping[str, Any], version: int = 1) -> np.random.Generator:
    """A generator determined by the step and its key alone (the same in every cell)."""
    ss = np.random.SeedSequence(int(step_key(name, key, version), 16))
    return np.random.Generator(np.random.PCG64(ss))


class StepCache:
    """Memory (LRU, ``capacity`` entries) in front of an optional folder of ``.npz`` files.

    Attributes
    ----------
    folder : Path or None
    hits, misses : int
        Lookups served from memory or disk, and steps computed.
    """

    def __init__(self, folder: str | Path | None = None, capacity: int = 8) -> None:
        self.folder = Path(folder) if folder is not None else None
        self.capacity = int(capacity)
        self._memory: OrderedDict[str, Arrays] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def _path(self, digest: str) -> Path:
        assert self.folder is not None
        return self.folder / digest[:2] / f"{digest}.npz"

    def _remember(self, digest: str, value: Arrays) -> None:
        self._memory[digest] = value
        self._memory.move_to_end(digest)
        while len(self._memory) > self.capacity:
            self._memory.popitem(last=False)

    def get(self, digest: str) -> Arrays | None:
        """The stored result of a step, or None."""
        if digest in self._memory:
            self._memory.move_to_end(digest)
            return self._memory[digest]
        if self.folder is not None:
            path = self._path(digest)
            if path.is_file():
                try:
                    with np.load(path, allow_pickle=False) as data:
                        value = {k: data[k] for k in data.files}
                except (OSError, ValueError):  # a damaged file: recompute and replace it
                    return None
                self._remember(digest, value)
                return value
        return None

    def put(self, digest: str, value: Arrays) -> None:
        """Keep a result (in memory, and atomically on disk when there is a folder)."""
        self._remember(digest, value)
        if self.folder is None:
            return
        path = self._path(digest)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **value)  # type: ignore[arg-type]
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def get_or_compute(
        self, name: str, key: Mapping[str, Any], compute: Callable[[], Mapping[str, Any]],
        version: int = 1,
    ) -> Arrays:
        """The step's result: stored, or computed now and stored."""
        digest = step_key(name, key, version)
        found = self.get(digest)
        if found is not None:
            self.hits += 1
            return found
        self.misses += 1
        raw = compute()
        if not isinstance(raw, Mapping) or not raw:
            raise InvalidInputError(
                f"shared step {name!r} must return a non-empty mapping of arrays, got {raw!r}"
            )
        value = {}
        for k, v in raw.items():
            arr = np.asarray(v)
            if arr.dtype == object:
                raise InvalidInputError(f"shared step {name!r}: {k!r} is not a numeric array")
            arr.setflags(write=False)
            value[str(k)] = arr
        self.put(digest, value)
        return value


#: the cache of the cell being run (set by the sweep around theory/simulate)
_CURRENT: contextvars.ContextVar[StepCache | None] = contextvars.ContextVar(
    "finetune_bounds_step_cache", default=None
)
#: per-process caches by folder (None: memory only), reused across the cells a worker runs
_CACHES: dict[str | None, StepCache] = {}


def cache_for(folder: str | Path | None) -> StepCache:
    """This process's cache for a folder (memory only for None)."""
    k = None if folder is None else str(folder)
    if k not in _CACHES:
        _CACHES[k] = StepCache(folder)
    return _CACHES[k]


@contextlib.contextmanager
def using_cache(cache: StepCache) -> Iterator[StepCache]:
    """Make ``cache`` the one :func:`shared_step` uses inside the block."""
    token = _CURRENT.set(cache)
    try:
        yield cache
    finally:
        _CURRENT.reset(token)


def shared_step(
    name: str,
    key: Mapping[str, Any],
    compute: Callable[[], Mapping[str, Any]],
    *,
    version: int = 1,
) -> Arrays:
    """Run an expensive step once per distinct ``key`` and reuse its result everywhere.

    Parameters
    ----------
    name : str
        What the step is (``"source_run"``); part of the key.
    key : mapping
        Exactly the parameters the step depends on (JSON-able scalars).
    compute : callable() -> mapping of arrays
        Computes the result; must draw its randomness from :func:`step_rng` ``(name, key)``.
    version : int
        Bump when the step's code changes its results (old entries are then ignored).

    Returns
    -------
    dict of str to read-only ndarray
        Numbers come back as 0-d arrays.
    """
    cache = _CURRENT.get()
    if cache is None:  # outside a sweep (a direct call): this process's memory cache
        cache = cache_for(None)
    return cache.get_or_compute(name, key, compute, version)
