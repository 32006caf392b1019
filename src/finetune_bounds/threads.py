"""BLAS threads: the one place finetune-bounds decides how many threads its linear algebra uses.

Why it matters
--------------
OpenBLAS starts one thread per core and, on small problems, its threads spin-wait on each other.
Measured on the 2-core machine the project is tested on (``benchmarks/bench_threads.py``, ratios
of one thread to two): on a quiet machine one thread is 1.4–2× *faster* for a batched thin SVD
(20 × 100 × 400), a 250 × 1000 SVD and a thin QR, while two threads are 1.2–1.9× faster for
``eigh``/Cholesky of 1000 × 1000 and a 1000² matrix product; with one other process busy on a
core — the situation of parallel sweep or test workers — one thread is 2–7× faster for the SVDs,
QR and ``eigh`` and about as fast for Cholesky and products (an earlier, busier measurement saw
89× for the batched SVD). Two processes that each run a multithreaded pool on two cores are
worse still (the test suite: 12–20 min instead of under 4). Run
``python benchmarks/bench_threads.py`` for your machine.

The decision
------------
Two settings, each a number of threads (or ``None``: leave the BLAS as it is):

``small`` (default 1)
    applied *by the library* around its small batched linear algebra — the Monte Carlo and
    simulation routes of every family (batched SVDs, QRs, solves and products over draws,
    seeds or sample sizes): see :func:`small_blas`. One large factorisation on its own (a
    covariance's ``eigh`` at d = 10⁴) is not wrapped and uses whatever the process uses.
``workers`` (default 1)
    the pool of every worker process the library starts (process-pool and local dask workers),
    of the serial executor while it runs a cell, of the test workers and of the benchmarks: one
    thread per process, one process per core.

The main process otherwise keeps its own choice: the library never changes the process-wide
thread count except inside those blocks, and restores it after each.

Override
--------
* in Python: ``finetune_bounds.threads.configure(small=2)`` for the rest of the process
  (``configure(small=None)``: leave the BLAS alone), ``with threads.override(small=None): ...``
  for a block, :func:`reset` for the defaults;
* from the shell (read by workers started from it as well):
  ``FINETUNE_BOUNDS_THREADS="small=2,workers=1"``, or ``FINETUNE_BOUNDS_THREADS=off`` to let
  the BLAS decide everywhere (the library never limits threads then);
* :func:`blas_threads` limits every BLAS / OpenMP pool to ``n`` threads inside a ``with`` block
  (the public form of what the library does), :func:`describe` says which BLAS runs and with
  how many threads.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

from .errors import InvalidInputError
from .limits import env_pairs, restoring_env

__all__ = [
    "DEFAULTS",
    "ENV_VAR",
    "WORKER_ENV",
    "blas_threads",
    "configure",
    "current",
    "describe",
    "override",
    "pin_process",
    "reset",
    "small_blas",
]

#: The environment variable read for overrides (``"small=2,workers=1"`` or ``"off"``).
ENV_VAR = "FINETUNE_BOUNDS_THREADS"

#: Default thread counts (``None`` would mean: leave the BLAS alone).
DEFAULTS: Mapping[str, int | None] = {"small": 1, "workers": 1}

#: Environment variables that fix a BLAS / OpenMP pool's size when a process starts.
BLAS_VARS: tuple[str, ...] = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

_F = TypeVar("_F", bound=Callable[..., Any])
_OFF = {"off", "none", "auto", "false", "no"}


def _parse_count(key: str, value: Any, where: str) -> int | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in _OFF):
        return None
    given = value
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            value = -1
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or value > 4096:
        raise InvalidInputError(
            f"{where}: threads '{key}' must be a positive integer (at most 4096) or None/'off', "
            f"got {given!r}"
        )
    return value


def _parse_env(text: str) -> dict[str, int | None]:
    pairs = env_pairs(text, ENV_VAR, DEFAULTS)
    if pairs is None:
        return dict.fromkeys(DEFAULTS)
    return {key: _parse_count(key, value, ENV_VAR) for key, value in pairs.items()}


def current() -> dict[str, int | None]:
    """The thread counts in force now (``None``: the library leaves that BLAS alone)."""
    out = dict(DEFAULTS)
    out.update(_parse_env(os.environ.get(ENV_VAR, "")))
    return out


def _write_env(values: Mapping[str, int | None]) -> None:
    if all(v is None for v in values.values()):
        os.environ[ENV_VAR] = "off"
        return
    changed = {k: v for k, v in values.items() if v != DEFAULTS[k]}
    if changed:
        os.environ[ENV_VAR] = ",".join(
            f"{k}={'off' if v is None else v}" for k, v in sorted(changed.items())
        )
    else:
        os.environ.pop(ENV_VAR, None)


def _merged(overrides: Mapping[str, Any]) -> dict[str, int | None]:
    values = current()
    for key, value in overrides.items():
        if key not in DEFAULTS:
            raise InvalidInputError(f"unknown thread setting {key!r}; the settings are "
                                    f"{sorted(DEFAULTS)}")
        values[key] = _parse_count(key, value, "threads")
    return values


def configure(**settings: Any) -> None:
    """Set ``small`` and/or ``workers`` for the rest of this process and the workers it starts.

    A value of ``None`` (or ``"off"``) leaves that BLAS alone. The settings live in the
    environment variable :data:`ENV_VAR`, so worker processes started afterwards inherit them.
    """
    _write_env(_merged(settings))


def reset() -> None:
    """Restore the defaults (drops :data:`ENV_VAR` from this process's environment)."""
    os.environ.pop(ENV_VAR, None)


@contextlib.contextmanager
def override(**settings: Any) -> Iterator[None]:
    """:func:`configure` inside a ``with`` block (the previous settings come back after it)."""
    with restoring_env(ENV_VAR):
        _write_env(_merged(settings))
        yield


# ----------------------------------------------------------------------------- the pools
_LOCK = threading.Lock()
_CONTROLLER: Any = None
_CONTROLLER_KEY = -1
_ACTIVE = threading.local()


def _controller() -> Any:
    """A cached ``threadpoolctl.ThreadpoolController`` (None without threadpoolctl).

    Building one scans the loaded libraries (≈ 0.5 ms); limiting through a cached one costs
    ≈ 20 µs. It is rebuilt when modules were imported since (a new library may have come with
    them: scipy's own OpenBLAS, torch's OpenMP).
    """
    global _CONTROLLER, _CONTROLLER_KEY
    key = len(sys.modules)
    if _CONTROLLER is not None and key == _CONTROLLER_KEY:
        return _CONTROLLER
    with _LOCK:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # pragma: no cover - a dependency; do not fail without it
            return None
        with contextlib.suppress(ImportError):  # scipy's OpenBLAS: load it now, limit it too
            import scipy.linalg  # noqa: F401
        _CONTROLLER = ThreadpoolController()
        _CONTROLLER_KEY = len(sys.modules)
        return _CONTROLLER


@contextlib.contextmanager
def blas_threads(n: int | None) -> Iterator[None]:
    """Limit every BLAS / OpenMP pool to ``n`` threads inside the block (``None``: no change).

    The previous thread counts come back after the block.
    """
    count = _parse_count("n", n, "blas_threads")
    ctl = None if count is None else _controller()
    if ctl is None:
        yield
        return
    with ctl.limit(limits=count):
        yield


@contextlib.contextmanager
def _small() -> Iterator[None]:
    depth = getattr(_ACTIVE, "depth", 0)
    if depth:  # already inside: the limit is in force
        _ACTIVE.depth = depth + 1
        try:
            yield
        finally:
            _ACTIVE.depth = depth
        return
    count = current()["small"]
    _ACTIVE.depth = 1
    try:
        with blas_threads(count):
            yield
    finally:
        _ACTIVE.depth = 0


def small_blas(fn: _F) -> _F:
    """Decorator: run ``fn`` with the ``small`` thread setting (the library's batched routes).

    Nested calls pay once; the cost of entering is ≈ 20 µs. The limit is set and restored by
    the calling thread (the nesting count is per thread). How a BLAS treats a limit set from a
    non-main thread differs between libraries and versions — the OpenBLAS numpy 2.4 ships does
    not show it to ``threadpool_info`` — so calls from several Python threads at once are not
    guaranteed the ``small`` count; the library itself calls from one thread per process.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _small():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def worker_env() -> dict[str, str]:
    """Environment for a worker process being started: the ``workers`` count (or nothing)."""
    count = current()["workers"]
    return {} if count is None else dict.fromkeys(BLAS_VARS, str(count))


#: The environment a worker starts with under the defaults (one BLAS / OpenMP thread).
WORKER_ENV: Mapping[str, str] = dict.fromkeys(BLAS_VARS, "1")


def pin_process(n: int | None = None) -> None:
    """Set this whole process's BLAS / OpenMP pools to ``n`` threads (default: ``workers``).

    For worker processes, test workers and benchmarks: sets the environment variables where
    unset (for libraries not loaded yet and for child processes) and limits the pools already
    loaded (threadpoolctl). ``n = None`` with ``workers = None`` changes nothing.
    """
    count = current()["workers"] if n is None else _parse_count("n", n, "pin_process")
    if count is None:
        return
    for var in BLAS_VARS:
        os.environ.setdefault(var, str(count))
    ctl = _controller()
    if ctl is not None:
        ctl.limit(limits=count)


def describe() -> str:
    """One line: which BLAS / OpenMP libraries are loaded and how many threads each uses."""
    ctl = _controller()
    if ctl is None:  # pragma: no cover - threadpoolctl missing
        return "BLAS: unknown (threadpoolctl not installed)"
    parts = []
    for lib in ctl.info():
        name = lib.get("internal_api", "?")
        version = lib.get("version") or "?"
        arch = lib.get("architecture")
        path = os.path.basename(str(lib.get("filepath", "")))
        extra = f", {arch}" if arch else ""
        parts.append(f"{name} {version}{extra} ({path}): {lib.get('num_threads')} thread(s)")
    return "; ".join(parts) if parts else "no BLAS / OpenMP library loaded"
