"""Executors: one small interface over serial, process-pool and dask execution.

An :class:`Executor` runs a picklable function over a list of tasks and yields
``(index, result)`` pairs *as they complete*; if running a task raised (or a worker died),
the exception object takes the place of the result, so one bad cell never stops a sweep.
Executors built by :func:`make_executor` are owned (and closed) by the sweep; an executor you
pass in yourself stays open, so one pool or dask cluster can serve several sweeps.

Workers use the ``workers`` thread setting of :mod:`finetune_bounds.threads` (one BLAS/OpenMP
thread by default; ``FINETUNE_BOUNDS_THREADS="workers=2"`` or ``threads.configure(workers=2)``
to change it): the process pool starts its workers with ``OMP_NUM_THREADS =
OPENBLAS_NUM_THREADS = MKL_NUM_THREADS = 1`` in their environment (unless you set them), repeats
it in the worker initializer and applies ``threadpoolctl`` limits
(:func:`finetune_bounds.threads.pin_process`); the workers of a dask ``LocalCluster`` do the same.

The serial executor runs its cells in the calling process, which keeps its own BLAS thread
count (multithreaded by default, or whatever the environment / your ``threadpoolctl`` calls
chose): only while a cell runs is every BLAS / OpenMP pool limited to the ``workers`` count
(:func:`finetune_bounds.threads.blas_threads`, restored after the cell), and the BLAS of
scipy is loaded before that, so a library first loaded inside a cell is limited too. So serial,
process and dask runs give the same bits (a multithreaded BLAS sums in a different order).

Process-pool workers exit by themselves when the process that started them dies (even by
``kill -9``): each worker's initializer starts a daemon thread that checks its parent pid every
half second and ends the worker with ``os._exit`` once it changes (the worker was reparented);
the pool's resource tracker then sees its last users gone and exits too.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.context
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

from .. import threads as _threads
from ..errors import ConfigError, InvalidInputError

__all__ = [
    "BLAS_ENV",
    "DaskExecutor",
    "Executor",
    "ProcessExecutor",
    "SerialExecutor",
    "default_workers",
    "make_executor",
]

log = logging.getLogger("finetune_bounds.sweep")

#: environment of every worker under the default thread settings: one BLAS / OpenMP thread
#: (the settings in force are :func:`finetune_bounds.threads.worker_env`)
BLAS_ENV: dict[str, str] = dict(_threads.WORKER_ENV)

EXECUTORS: tuple[str, ...] = ("serial", "processes", "dask")


def default_workers() -> int:
    """CPUs this process may use (at least 1)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def _check_workers(workers: int | None) -> int:
    if workers is None:
        return default_workers()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InvalidInputError(f"workers must be a positive integer, got {workers!r}")
    return workers


def limit_blas_threads() -> None:
    """Worker initializer: the ``workers`` thread count (env vars, and threadpoolctl)."""
    _threads.pin_process()


#: seconds between two parent checks of a process-pool worker
PARENT_POLL_INTERVAL = 0.5


def _exit_when_orphaned(parent: int, interval: float) -> None:  # pragma: no cover - in workers
    import time

    while True:
        time.sleep(interval)
        if os.getppid() != parent:
            os._exit(1)


def _process_worker_init(creator: int | None = None) -> None:
    """Process-pool worker initializer: one BLAS thread, and exit when the parent dies.

    ``creator`` is the pid of the process that started the pool when it is also the worker's
    parent (``spawn``; a ``forkserver`` worker's parent is the fork server): a worker whose
    parent died while it was still starting (importing) is already orphaned here and exits.
    """
    parent = os.getppid()
    if creator is not None and parent != creator:  # pragma: no cover - in orphaned workers
        os._exit(1)
    threading.Thread(
        target=_exit_when_orphaned,
        args=(parent, PARENT_POLL_INTERVAL),
        name="finetune-bounds-parent-watch",
        daemon=True,
    ).start()
    limit_blas_threads()


class Executor(ABC):
    """Runs ``fn`` over tasks; yields ``(index, result or exception)`` as tasks complete."""

    #: number of tasks that may run at once
    workers: int = 1

    @abstractmethod
    def imap_unordered(
        self, fn: Callable[[Any], Any], tasks: Sequence[Any]
    ) -> Iterator[tuple[int, Any]]:
        """Yield ``(i, fn(tasks[i]))`` in completion order; an exception replaces a result."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release workers (idempotent)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SerialExecutor(Executor):
    """Runs every task in the calling process, in order (the reference executor).

    Each task runs with one BLAS/OpenMP thread (threadpoolctl), as the workers of the other
    executors do, so a serial run gives the same bits as a process or dask run; the calling
    process's own thread settings are restored after each task.
    """

    workers = 1

    def imap_unordered(
        self, fn: Callable[[Any], Any], tasks: Sequence[Any]
    ) -> Iterator[tuple[int, Any]]:
        for i, task in enumerate(tasks):
            try:
                with _one_blas_thread():
                    result: Any = fn(task)
            except Exception as exc:
                result = exc
            yield i, result


def _one_blas_thread() -> contextlib.AbstractContextManager[None]:
    """The ``workers`` thread count in every pool while the block runs (restored afterwards).

    threadpoolctl limits the libraries loaded when the block starts; scipy ships its own
    OpenBLAS, loaded on first use, so :mod:`finetune_bounds.threads` loads it first.
    """
    return _threads.blas_threads(_threads.current()["workers"])


# ---------------------------------------------------------------------- process pool
_ENV_LOCK = threading.Lock()


@contextlib.contextmanager
def _worker_environment() -> Iterator[None]:
    """Set the worker environment (:func:`finetune_bounds.threads.worker_env`, where unset)
    while a worker process is being started."""
    env = _threads.worker_env()
    with _ENV_LOCK:
        added = [k for k in env if k not in os.environ]
        for k in added:
            os.environ[k] = env[k]
        try:
            yield
        finally:
            for k in added:
                os.environ.pop(k, None)


class _SpawnProcess(multiprocessing.context.SpawnProcess):
    """A spawn process started with :data:`BLAS_ENV` in its environment (module level: the
    process object is pickled to the child)."""

    @staticmethod
    def _Popen(process_obj: Any) -> Any:
        with _worker_environment():
            return multiprocessing.context.SpawnProcess._Popen(process_obj)


class _SpawnContext(multiprocessing.context.SpawnContext):
    Process = _SpawnProcess


_CONTEXTS: dict[str, type[multiprocessing.context.BaseContext]] = {"spawn": _SpawnContext}

if hasattr(multiprocessing.context, "ForkServerProcess"):  # POSIX only

    class _ForkServerProcess(multiprocessing.context.ForkServerProcess):
        @staticmethod
        def _Popen(process_obj: Any) -> Any:
            with _worker_environment():
                return multiprocessing.context.ForkServerProcess._Popen(process_obj)

    class _ForkServerContext(multiprocessing.context.ForkServerContext):
        Process = _ForkServerProcess

    _CONTEXTS["forkserver"] = _ForkServerContext


def _context(method: str) -> multiprocessing.context.BaseContext:
    """A multiprocessing context whose processes start with :data:`BLAS_ENV` in their
    environment, so BLAS reads it before numpy is imported in the child."""
    if not isinstance(method, str) or method not in _CONTEXTS:
        raise InvalidInputError(f"start method must be one of {sorted(_CONTEXTS)}, got {method!r}")
    return _CONTEXTS[method]()


class ProcessExecutor(Executor):
    """A :class:`concurrent.futures.ProcessPoolExecutor` with ``spawn`` (default) or
    ``forkserver`` workers, each limited to one BLAS thread.

    Parameters
    ----------
    workers : int, optional
        Number of worker processes (default: the CPUs available to this process).
    start_method : {"spawn", "forkserver"}
    """

    def __init__(self, workers: int | None = None, *, start_method: str = "spawn") -> None:
        self.workers = _check_workers(workers)
        self._ctx = _context(start_method)
        self._start_method = start_method
        self._pool: ProcessPoolExecutor | None = None

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            check_main_guard("processes")
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=self._ctx, initializer=_process_worker_init,
                initargs=(os.getpid() if self._start_method == "spawn" else None,),
            )
        return self._pool

    def imap_unordered(
        self, fn: Callable[[Any], Any], tasks: Sequence[Any]
    ) -> Iterator[tuple[int, Any]]:
        if not tasks:
            return
        pool = self._get_pool()
        index: dict[Future[Any], int] = {pool.submit(fn, t): i for i, t in enumerate(tasks)}
        pending = set(index)
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in sorted(done, key=index.__getitem__):
                    exc = fut.exception()
                    if exc is not None and "BrokenProcessPool" in type(exc).__name__:
                        self._pool = None  # a worker died: the next call starts a fresh pool
                    yield index[fut], exc if exc is not None else fut.result()
        finally:
            for fut in pending:
                fut.cancel()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def check_main_guard(executor: str) -> None:
    """Stop before starting workers that would re-run an unguarded script.

    Spawned workers (and a local dask cluster's) import the ``__main__`` script again; a script
    that starts a sweep at top level, without ``if __name__ == "__main__":``, would start it again
    in every worker, and every cell would fail with ``BrokenProcessPool``. A script whose source
    has no such guard is refused with one clear line instead. Interactive sessions, notebooks,
    ``python -c`` and ``python -m module`` are not affected.

    Raises
    ------
    ConfigError
        The main module is a script file without a ``__name__ == "__main__"`` guard.
    """
    import sys

    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if not path or getattr(main, "__spec__", None) is not None or not str(path).endswith(".py"):
        return
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            source = fh.read()
    except OSError:
        return
    if "__name__" in source and "__main__" in source:
        return
    raise ConfigError(
        f"executor {executor!r} starts worker processes that import your script {path} again; "
        f'put the code that runs the sweep under `if __name__ == "__main__":` (or use '
        f"executor='serial')"
    )


# ---------------------------------------------------------------------- dask
def _check_address(address: str) -> None:
    """Reject a malformed scheduler address before ``distributed.Client`` tries it: a Client
    whose start fails inside its constructor can hang in its own ``__del__`` (seen with
    distributed 2026.8), so the address is parsed here with distributed's own parser."""
    from distributed.comm.addressing import parse_address, parse_host_port
    from distributed.comm.registry import get_backend

    try:
        if not isinstance(address, str) or not address.strip():
            raise ValueError("empty address")
        scheme, loc = parse_address(address, strict=False)
        get_backend(scheme)
        if scheme in ("tcp", "tls"):
            parse_host_port(loc)
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"invalid dask scheduler address {address!r} (expected e.g. tcp://host:8786): {exc}"
        ) from None


class DaskExecutor(Executor):
    """Runs tasks on a dask.distributed cluster.

    Parameters
    ----------
    address : str, optional
        A scheduler address (``"tcp://host:8786"``). Its workers must be able to import
        ``finetune_bounds`` (same version) and the families used.
    workers : int, optional
        Without ``address``: size of the ``LocalCluster`` started here (on 127.0.0.1, one
        process per worker, one thread each, no dashboard pages; the scheduler's HTTP endpoint
        listens on a random port of 127.0.0.1). Default: the CPUs available.
    client : distributed.Client, optional
        An existing client to use (not closed by :meth:`close`).
    timeout : float
        Seconds to wait for the scheduler at ``address``.

    Raises
    ------
    ConfigError
        dask.distributed is not installed, or the scheduler cannot be reached.
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        workers: int | None = None,
        client: Any = None,
        timeout: float = 20.0,
    ) -> None:
        try:
            import distributed
        except ImportError:
            raise ConfigError(
                "the dask executor needs dask.distributed: pip install 'finetune-bounds[dask]'"
            ) from None
        from .._validation import nonneg_float

        timeout = nonneg_float(timeout, "timeout (seconds)", positive=True)
        self._distributed = distributed
        self._cluster: Any = None
        self._owns_client = client is None
        if client is not None:
            self._client = client
        elif address is not None:
            _check_address(address)  # before any Client exists (a failed start can deadlock)
            try:
                self._client = distributed.Client(address, timeout=f"{timeout}s")
            except (OSError, TimeoutError) as exc:
                raise ConfigError(f"cannot reach the dask scheduler at {address}: {exc}") from None
            except (ValueError, TypeError) as exc:  # e.g. no port, unknown scheme
                raise ConfigError(
                    f"invalid dask scheduler address {address!r} (expected e.g. "
                    f"tcp://host:8786): {exc}"
                ) from None
        else:
            n = _check_workers(workers)
            check_main_guard("dask")
            self._cluster = distributed.LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                # distributed cannot switch its HTTP server off (dashboard_address=None still
                # binds :8787, dask/distributed#8136): a random port on 127.0.0.1, and no
                # Bokeh dashboard pages
                dashboard_address="127.0.0.1:0",
                scheduler_kwargs={"dashboard": False},
                silence_logs=logging.ERROR,
            )
            self._client = distributed.Client(self._cluster)
            self._client.run(limit_blas_threads)
        info = self._client.scheduler_info()
        ncores = sum(int(w.get("nthreads", 1)) for w in info.get("workers", {}).values())
        self.workers = max(1, ncores)

    @property
    def client(self) -> Any:
        """The ``distributed.Client`` in use."""
        return self._client

    def imap_unordered(
        self, fn: Callable[[Any], Any], tasks: Sequence[Any]
    ) -> Iterator[tuple[int, Any]]:
        if not tasks:
            return
        futures = [self._client.submit(fn, t, pure=False) for t in tasks]
        index = {f.key: i for i, f in enumerate(futures)}
        try:
            for fut in self._distributed.as_completed(futures):
                i = index[fut.key]
                if fut.status == "error":
                    yield i, fut.exception()
                elif fut.status == "cancelled":
                    yield i, RuntimeError("task was cancelled by the dask scheduler")
                else:
                    yield i, fut.result()
                fut.release()
        finally:
            self._client.cancel([f for f in futures if not f.done()])

    def close(self) -> None:
        if self._owns_client and self._client is not None:
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None
        self._client = None


def make_executor(
    kind: str | Executor = "serial",
    *,
    workers: int | None = None,
    scheduler: str | None = None,
) -> tuple[Executor, bool]:
    """Build an executor by name; returns ``(executor, owned)`` (owned → close it when done).

    ``kind`` is ``"serial"``, ``"processes"`` or ``"dask"`` (``scheduler`` = a dask scheduler
    address; without it a local cluster of ``workers`` processes is started), or an
    :class:`Executor` instance, returned as is and not owned.
    """
    if isinstance(kind, Executor):
        return kind, False
    if kind == "serial":
        return SerialExecutor(), True
    if kind == "processes":
        return ProcessExecutor(workers), True
    if kind == "dask":
        return DaskExecutor(scheduler, workers=workers), True
    raise ConfigError(f"unknown executor {kind!r}; choose one of {list(EXECUTORS)}")
