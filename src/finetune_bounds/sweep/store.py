"""The results store: one SQLite file, one row per record, resumable.

Layout (all tables keyed by the experiment, the cell's content hash and
:data:`RESULT_SCHEMA_VERSION`):

- ``cells``: one row per finished cell (its ``done`` marker): family, parameters (canonical
  JSON), number of seeds, elapsed seconds, finish time;
- ``records``: one row per record: quantity, source, seed, value, and the record's other fields
  (e.g. ``method``, ``n``) as JSON; ``UNIQUE(experiment, cell_key, schema_version, ord)``;
- ``failures``: the last error of each cell that failed (cleared when it succeeds);
- ``claims`` and ``owners``: which running sweep is computing which cell. A sweep claims the
  cells it is about to compute (:meth:`Store.lease`), and its main process keeps a heartbeat
  while it runs; a cell claimed by another live sweep is not computed twice — the second sweep
  waits for it. A claim lapses when its sweep finishes, when its owner's heartbeat is older than
  :data:`LEASE_SECONDS`, or at once when the owner was a process on this machine that is gone
  (a resume after ``kill -9`` does not wait).

A cell's records and its ``done`` marker are written in ONE transaction, so a process killed at
any moment (even ``kill -9``) leaves either the whole cell or nothing of it; a re-run skips the
finished cells and recomputes the rest. The file uses write-ahead logging, so readers (a report,
a notebook) may read while a sweep writes. Only the main process of a sweep writes.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, FinetuneBoundsError, InvalidInputError
from ..records import CORE_COLUMNS
from .grid import Cell, canonical_json

__all__ = [
    "DEFAULT_FILENAME",
    "DEFAULT_TIMEOUT",
    "LEASE_SECONDS",
    "OUTPUT_SUFFIXES",
    "RESULT_SCHEMA_VERSION",
    "Lease",
    "ReadOnlyStoreError",
    "Store",
    "StoreLockedError",
    "StoredRow",
    "write_frame",
    "write_output",
    "write_records",
]

#: bump when the meaning or layout of stored records changes; older rows are then ignored
RESULT_SCHEMA_VERSION = 1
#: file name of the store inside an output folder
DEFAULT_FILENAME = "results.sqlite"
_STORE_FORMAT = "1"
#: seconds a store waits for another process's lock before :class:`StoreLockedError`
DEFAULT_TIMEOUT = 30.0
#: seconds after its last heartbeat that a sweep's claims on cells lapse
LEASE_SECONDS = 60.0
#: seconds between two heartbeats of a running sweep
HEARTBEAT_SECONDS = 10.0
#: file types :func:`write_records` writes
OUTPUT_SUFFIXES: tuple[str, ...] = (".csv", ".json", ".parquet")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cells (
    experiment TEXT NOT NULL,
    cell_key TEXT NOT NULL,
    schema_version INTEGER NOT NULL,
    family TEXT NOT NULL,
    params TEXT NOT NULL,
    seeds INTEGER NOT NULL,
    n_rows INTEGER NOT NULL,
    elapsed REAL NOT NULL,
    finished_at REAL NOT NULL,
    PRIMARY KEY (experiment, cell_key, schema_version)
);
CREATE TABLE IF NOT EXISTS records (
    experiment TEXT NOT NULL,
    cell_key TEXT NOT NULL,
    schema_version INTEGER NOT NULL,
    ord INTEGER NOT NULL,
    quantity TEXT NOT NULL,
    source TEXT NOT NULL,
    seed INTEGER NOT NULL,
    value REAL NOT NULL,
    fields TEXT NOT NULL,
    PRIMARY KEY (experiment, cell_key, schema_version, ord)
);
CREATE TABLE IF NOT EXISTS failures (
    experiment TEXT NOT NULL,
    cell_key TEXT NOT NULL,
    schema_version INTEGER NOT NULL,
    family TEXT NOT NULL,
    params TEXT NOT NULL,
    error TEXT NOT NULL,
    traceback TEXT NOT NULL,
    failed_at REAL NOT NULL,
    PRIMARY KEY (experiment, cell_key, schema_version)
);
CREATE TABLE IF NOT EXISTS owners (
    owner TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    heartbeat REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS claims (
    experiment TEXT NOT NULL,
    cell_key TEXT NOT NULL,
    schema_version INTEGER NOT NULL,
    owner TEXT NOT NULL,
    PRIMARY KEY (experiment, cell_key, schema_version)
);
"""


@dataclass(frozen=True)
class StoredRow:
    """One record as stored: the core fields plus the rest as canonical JSON."""

    quantity: str
    source: str
    seed: int
    value: float
    fields: str


def _resolve_path(path: str | Path | None, create: bool = True) -> str:
    if path is None or str(path) == ":memory:":
        return ":memory:"
    p = Path(path)
    if p.is_dir() or (not p.exists() and not p.suffix):
        # an existing folder, or a new path without a file extension ("results"): a folder,
        # as the CLI's --out treats it (never a bare SQLite file named like a folder)
        p = p / DEFAULT_FILENAME
    if not create:
        return str(p)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInputError(f"cannot create the store folder {p.parent}: {exc}") from None
    return str(p)


def _not_writable(path: str) -> bool:
    """An existing store file (or its folder, where SQLite keeps the WAL files) we cannot write."""
    p = Path(path)
    return p.exists() and not (os.access(p, os.W_OK) and os.access(p.parent, os.W_OK))


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


class Lease:
    """One sweep's claims on cells of a :class:`Store` (made by :meth:`Store.lease`).

    While the lease is open a daemon thread writes a heartbeat every
    :data:`HEARTBEAT_SECONDS` (on its own connection); :meth:`claim` takes the free cells among
    the keys it is given, in one transaction, and reports the ones another live sweep holds.
    Claims of owners whose heartbeat is older than :data:`LEASE_SECONDS`, or whose process on
    this host no longer exists, are taken over.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.owner = uuid.uuid4().hex
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._beat(store._conn)

    def _beat(self, conn: sqlite3.Connection) -> None:
        with self.store._guard():
            conn.execute(
                "INSERT OR REPLACE INTO owners VALUES (?,?,?,?)",
                (self.owner, self.host, self.pid, time.time()),
            )

    def _heartbeat_loop(self) -> None:  # pragma: no cover - timing dependent
        conn = sqlite3.connect(self.store.path, timeout=self.store.timeout, isolation_level=None)
        try:
            while not self._stop.wait(HEARTBEAT_SECONDS):
                with contextlib.suppress(Exception):
                    self._beat(conn)
        finally:
            conn.close()

    def __enter__(self) -> Lease:
        if self.store.path != ":memory:":
            self._thread = threading.Thread(
                target=self._heartbeat_loop, name="finetune-bounds-lease", daemon=True
            )
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the heartbeat and release every claim (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with contextlib.suppress(sqlite3.Error, FinetuneBoundsError):
            self.store._rows("DELETE FROM claims WHERE owner=?", (self.owner,))
            self.store._rows("DELETE FROM owners WHERE owner=?", (self.owner,))

    def _live_owners(self, conn: sqlite3.Connection) -> set[str]:
        now = time.time()
        live = set()
        rows = conn.execute("SELECT owner, host, pid, heartbeat FROM owners")
        for owner, host, pid, beat in rows:
            if now - float(beat) > LEASE_SECONDS:
                continue
            if host == self.host and owner != self.owner and not _process_alive(int(pid)):
                continue
            live.add(owner)
        return live

    def claim(
        self, experiment: str, keys: Sequence[str], seeds: int = 1
    ) -> tuple[list[str], list[str]]:
        """Claim the cells among ``keys`` not yet finished with at least ``seeds`` seeds.

        Returns
        -------
        (mine, elsewhere)
            Keys now claimed by this lease (in the given order), and keys another live sweep
            is computing. Finished cells are in neither list.
        """
        conn = self.store._conn
        mine: list[str] = []
        elsewhere: list[str] = []
        with self.store._guard():
            conn.execute("BEGIN IMMEDIATE")
            try:
                live = self._live_owners(conn)
                live.add(self.owner)
                conn.execute(
                    "INSERT OR REPLACE INTO owners VALUES (?,?,?,?)",
                    (self.owner, self.host, self.pid, time.time()),
                )
                held = dict(
                    conn.execute(
                        "SELECT cell_key, owner FROM claims WHERE experiment=? AND "
                        "schema_version=?",
                        (experiment, RESULT_SCHEMA_VERSION),
                    ).fetchall()
                )
                finished = {
                    k for (k,) in conn.execute(
                        "SELECT cell_key FROM cells WHERE experiment=? AND schema_version=? "
                        "AND seeds>=?",
                        (experiment, RESULT_SCHEMA_VERSION, int(seeds)),
                    )
                }
                for key in keys:
                    owner = held.get(key)
                    if owner == self.owner:
                        mine.append(key)
                    elif owner is not None and owner in live:
                        elsewhere.append(key)
                    elif key not in finished:
                        mine.append(key)
                conn.executemany(
                    "INSERT OR REPLACE INTO claims VALUES (?,?,?,?)",
                    [(experiment, k, RESULT_SCHEMA_VERSION, self.owner) for k in mine],
                )
                dead = [o for o in {*held.values()} if o not in live]
                conn.executemany("DELETE FROM owners WHERE owner=?", [(o,) for o in dead])
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return mine, elsewhere


class StoreLockedError(InvalidInputError):
    """Another process held the store's write lock longer than the store's ``timeout``."""


class ReadOnlyStoreError(InvalidInputError):
    """A write to a store opened read-only (or whose file is not writable)."""


class Store:
    """A SQLite results store (see the module docstring for the layout and guarantees).

    Parameters
    ----------
    path : str, Path or None
        A file with an extension such as ``.sqlite`` (created if missing, with its folders),
        a folder (the store is ``<folder>/results.sqlite``; a path that does not exist and has
        no extension is taken as a folder and created) or None / ``":memory:"`` for a private
        in-memory store.
    readonly : bool, optional
        Open the file read-only (``mode=ro``: nothing is created or written; :meth:`frame`,
        :meth:`cells`, :meth:`failures` … work, writes raise :class:`ReadOnlyStoreError`).
        Default: read-only exactly when the file exists but it (or its folder) is not writable.
    timeout : float
        Seconds to wait for another process's lock (a sweep writing the same file) before
        giving up with :class:`StoreLockedError` (default :data:`DEFAULT_TIMEOUT`).

    Raises
    ------
    InvalidInputError
        Not a results store, an unsupported store format, a read-only store that does not exist.
    StoreLockedError
        The file stayed locked by another process for ``timeout`` seconds.

    Examples
    --------
    >>> store = Store(None)
    >>> store.frame().empty
    True
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        readonly: bool | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout >= 0:
            raise InvalidInputError(f"timeout must be a non-negative number, got {timeout!r}")
        self.timeout = float(timeout)
        memory = path is None or str(path) == ":memory:"
        if readonly and memory:
            raise InvalidInputError("a read-only store needs a file (not an in-memory store)")
        self.path = _resolve_path(path, create=not readonly)
        self.readonly = bool(readonly) if readonly is not None else _not_writable(self.path)
        if self.readonly and not Path(self.path).is_file():
            raise InvalidInputError(f"{self.path}: no results store to open read-only")
        try:
            with self._guard():
                self._open()
        except BaseException as exc:
            conn = getattr(self, "_conn", None)
            if conn is not None:
                conn.close()
            if isinstance(exc, sqlite3.DatabaseError):
                raise InvalidInputError(f"{self.path}: not a usable results store: {exc}") from None
            raise

    def _open(self) -> None:
        if self.readonly:
            uri = Path(self.path).resolve().as_uri() + "?mode=ro"
            conn = sqlite3.connect(uri, uri=True, timeout=self.timeout, isolation_level=None)
        else:
            conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        self._conn = conn
        conn.execute(f"PRAGMA busy_timeout={int(self.timeout * 1000)}")
        if not self.readonly:
            if self.path != ":memory:":
                mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if str(mode).lower() != "wal":  # pragma: no cover - e.g. a network filesystem
                    raise InvalidInputError(f"{self.path}: cannot enable write-ahead logging")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
        row = conn.execute("SELECT value FROM meta WHERE key='format'").fetchone()
        if row is None and not self.readonly:
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('format', ?)", (_STORE_FORMAT,))
        elif row is None or row[0] != _STORE_FORMAT:
            raise InvalidInputError(
                f"{self.path}: store format {None if row is None else row[0]} is not supported "
                f"(expected {_STORE_FORMAT})"
            )

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """Turn SQLite's lock and read-only errors into one-line typed errors naming the file."""
        try:
            yield
        except sqlite3.OperationalError as exc:
            msg = str(exc).lower()
            if "locked" in msg or "busy" in msg:
                raise StoreLockedError(
                    f"{self.path}: the results store is locked by another process (waited "
                    f"{self.timeout:g} s; is another sweep writing it?)"
                ) from None
            if "readonly" in msg or "read-only" in msg:
                raise ReadOnlyStoreError(
                    f"{self.path}: the results store is read-only ({exc})"
                ) from None
            raise

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        """Run a query and fetch its rows (lock errors as :class:`StoreLockedError`)."""
        with self._guard():
            return self._conn.execute(sql, args).fetchall()

    def _check_writable(self) -> None:
        if self.readonly:
            raise ReadOnlyStoreError(
                f"{self.path}: the results store is opened read-only; cannot write to it"
            )

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Close the connection (idempotent)."""
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.path!r}{', readonly=True' if self.readonly else ''})"

    # ------------------------------------------------------------------ writing
    def done(self, experiment: str, keys: Iterable[str] | None = None) -> dict[str, int]:
        """Finished cells of ``experiment`` → the number of seeds stored for each."""
        rows = self._rows(
            "SELECT cell_key, seeds FROM cells WHERE experiment=? AND schema_version=?",
            (experiment, RESULT_SCHEMA_VERSION),
        )
        out = {k: int(s) for k, s in rows}
        if keys is not None:
            wanted = set(keys)
            out = {k: s for k, s in out.items() if k in wanted}
        return out

    def write_cell(
        self,
        experiment: str,
        cell: Cell,
        seeds: int,
        rows: Sequence[StoredRow],
        elapsed: float = 0.0,
    ) -> None:
        """Store a finished cell: its records and its ``done`` marker, in one transaction.

        Any earlier rows of the same cell (e.g. from a run with fewer seeds) are replaced.
        """
        self._check_writable()
        with self._guard():
            self._write_cell(experiment, cell, seeds, rows, elapsed)

    def _write_cell(
        self, experiment: str, cell: Cell, seeds: int, rows: Sequence[StoredRow], elapsed: float
    ) -> None:
        ident = (experiment, cell.key, RESULT_SCHEMA_VERSION)
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "DELETE FROM records WHERE experiment=? AND cell_key=? AND schema_version=?", ident
            )
            conn.executemany(
                "INSERT INTO records VALUES (?,?,?,?,?,?,?,?,?)",
                [
                    (*ident, i, r.quantity, r.source, int(r.seed), float(r.value), r.fields)
                    for i, r in enumerate(rows)
                ],
            )
            conn.execute(
                "INSERT OR REPLACE INTO cells VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    *ident,
                    cell.family,
                    canonical_json(cell.columns),
                    int(seeds),
                    len(rows),
                    float(elapsed),
                    time.time(),
                ),
            )
            conn.execute(
                "DELETE FROM failures WHERE experiment=? AND cell_key=? AND schema_version=?", ident
            )
            conn.execute(
                "DELETE FROM claims WHERE experiment=? AND cell_key=? AND schema_version=?", ident
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def record_failure(self, experiment: str, cell: Cell, error: str, traceback: str = "") -> None:
        """Remember the last failure of a cell (the cell stays unfinished, its claim lapses)."""
        self._check_writable()
        self._rows(
            "DELETE FROM claims WHERE experiment=? AND cell_key=? AND schema_version=?",
            (experiment, cell.key, RESULT_SCHEMA_VERSION),
        )
        self._rows(
            "INSERT OR REPLACE INTO failures VALUES (?,?,?,?,?,?,?,?)",
            (
                experiment,
                cell.key,
                RESULT_SCHEMA_VERSION,
                cell.family,
                canonical_json(cell.columns),
                error,
                traceback,
                time.time(),
            ),
        )

    # ------------------------------------------------------------------ claims
    def lease(self) -> Lease:
        """A :class:`Lease`: claims on cells for one running sweep, with a heartbeat thread.

        Use it as a context manager; leaving it releases every claim it still holds.
        """
        self._check_writable()
        return Lease(self)

    def claims(self, experiment: str | None = None) -> dict[str, str]:
        """Cells claimed now, key → owner (lapsed claims stay until another sweep claims)."""
        sql = "SELECT cell_key, owner FROM claims WHERE schema_version=?"
        args: list[Any] = [RESULT_SCHEMA_VERSION]
        if experiment is not None:
            sql += " AND experiment=?"
            args.append(experiment)
        return dict(self._rows(sql, args))

    # ------------------------------------------------------------------ reading
    def experiments(self) -> list[str]:
        """Names of the experiments with at least one finished cell."""
        rows = self._rows(
            "SELECT DISTINCT experiment FROM cells WHERE schema_version=? ORDER BY experiment",
            (RESULT_SCHEMA_VERSION,),
        )
        return [r[0] for r in rows]

    def cells(self, experiment: str | None = None) -> Any:
        """One row per finished cell: experiment, cell_key, family, seeds, n_rows, elapsed,
        finished_at, then the cell's parameters as columns."""
        import pandas as pd

        q = "SELECT experiment, cell_key, family, seeds, n_rows, elapsed, finished_at, params "
        q += "FROM cells WHERE schema_version=?"
        args: list[Any] = [RESULT_SCHEMA_VERSION]
        if experiment is not None:
            q += " AND experiment=?"
            args.append(experiment)
        rows = self._rows(q + " ORDER BY experiment, cell_key", args)
        base = ["experiment", "cell_key", "family", "seeds", "n_rows", "elapsed", "finished_at"]
        dicts = [{**dict(zip(base, r[:7], strict=True)), **json.loads(r[7])} for r in rows]
        return pd.DataFrame(dicts, columns=None if dicts else base)

    def failures(self, experiment: str | None = None) -> Any:
        """The recorded failures (experiment, cell_key, family, params, error, traceback)."""
        import pandas as pd

        q = "SELECT experiment, cell_key, family, params, error, traceback, failed_at "
        q += "FROM failures WHERE schema_version=?"
        args: list[Any] = [RESULT_SCHEMA_VERSION]
        if experiment is not None:
            q += " AND experiment=?"
            args.append(experiment)
        cols = ["experiment", "cell_key", "family", "params", "error", "traceback", "failed_at"]
        return pd.DataFrame(
            self._rows(q + " ORDER BY experiment, cell_key", args), columns=cols
        )

    def frame(
        self,
        experiment: str | None = None,
        *,
        cells: Sequence[str] | None = None,
        max_seeds: int | None = None,
    ) -> Any:
        """The tidy table of stored records.

        Parameters
        ----------
        experiment : str, optional
            Only this experiment (default: every experiment in the store).
        cells : sequence of str, optional
            Only these cell keys, in this order (default: every finished cell, ordered by
            experiment and then by parameter values).
        max_seeds : int, optional
            Drop empirical rows with ``seed >= max_seeds`` (theory rows, seed -1, are kept).

        Returns
        -------
        pandas.DataFrame
            Columns ``family, experiment, quantity, source, n, seed, value, method`` first, then
            the cell parameters (sorted by name), then the records' other fields (sorted). Rows
            are ordered by cell and, within a cell, in the order the family produced them.
            A record field with the same name as a cell parameter takes precedence.
        """
        q = (
            "SELECT c.experiment, c.cell_key, c.family, c.params, r.ord, r.quantity, r.source, "
            "r.seed, r.value, r.fields FROM records r JOIN cells c "
            "ON r.experiment=c.experiment AND r.cell_key=c.cell_key "
            "AND r.schema_version=c.schema_version WHERE c.schema_version=?"
        )
        args: list[Any] = [RESULT_SCHEMA_VERSION]
        if experiment is not None:
            q += " AND c.experiment=?"
            args.append(experiment)
        if max_seeds is not None:
            q += " AND r.seed < ?"
            args.append(int(max_seeds))
        rows = self._rows(q, args)

        params_of: dict[tuple[str, str], dict[str, Any]] = {}
        for exp, key, _fam, ptext, *_ in rows:
            if (exp, key) not in params_of:
                params_of[(exp, key)] = json.loads(ptext)
        if cells is not None:
            order = {k: i for i, k in enumerate(cells)}
            rank: dict[tuple[str, str], tuple[Any, ...]] = {
                ek: (ek[0], order[ek[1]]) for ek in params_of if ek[1] in order
            }
        else:
            names = sorted({k for p in params_of.values() for k in p})
            rank = {
                ek: (ek[0], tuple(_sort_key(p.get(n)) for n in names), ek[1])
                for ek, p in params_of.items()
            }
        rows = [r for r in rows if (r[0], r[1]) in rank]
        rows.sort(key=lambda r: (rank[(r[0], r[1])], r[4]))

        param_names: set[str] = set()
        field_names: set[str] = set()
        dicts = []
        for exp, key, fam, _ptext, _ord, quantity, source, seed, value, ftext in rows:
            params = params_of[(exp, key)]
            fields = json.loads(ftext)
            param_names.update(params)
            field_names.update(fields)
            dicts.append(
                {
                    **params,
                    **fields,
                    "family": fam,
                    "experiment": exp,
                    "quantity": quantity,
                    "source": source,
                    "seed": seed,
                    "value": value,
                }
            )
        lead = [*CORE_COLUMNS, "method"]
        ordered = (
            lead + sorted(param_names - set(lead)) + sorted(field_names - param_names - set(lead))
        )
        return _build_frame(dicts, ordered)

    def export(self, path: str | Path, experiment: str | None = None) -> Path:
        """Write :meth:`frame` to ``.csv`` or ``.parquet`` (needs pyarrow), by extension."""
        p = Path(path)
        suffix = p.suffix.lower()
        if suffix not in (".csv", ".parquet"):
            raise InvalidInputError(f"export must end in .csv or .parquet, got {p.name!r}")
        frame = self.frame(experiment)
        return write_frame(frame, p)

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` ("ok" when the file is sound)."""
        return str(self._rows("PRAGMA integrity_check")[0][0])


def _out_path(path: Any) -> Path:
    """An output path (str or os.PathLike) as a Path."""
    if not isinstance(path, str | os.PathLike) or not str(path):
        raise InvalidInputError(f"path must be a file path (str or pathlib.Path), got {path!r}")
    return Path(path)


def write_frame(frame: Any, path: str | Path) -> Path:
    """Write a tidy frame to ``.csv`` or ``.parquet`` (pyarrow, imported lazily)."""
    from ..records import check_frame

    check_frame(frame, "frame")
    p = _out_path(path)
    suffix = p.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise InvalidInputError(f"export must end in .csv or .parquet, got {p.name!r}")
    if not p.parent.exists():
        raise InvalidInputError(f"output folder does not exist: {p.parent}")
    if suffix == ".csv":
        frame.to_csv(p, index=False)
    else:
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise ConfigError(
                "Parquet export needs pyarrow: pip install 'finetune-bounds[parquet]'"
            ) from None
        frame.to_parquet(p, index=False, engine="pyarrow")
    return p


def write_output(frame: Any, path: str | Path) -> Path:
    """What every command's ``--output`` writes: the long summary of a tidy frame, one row per
    group of rows that differ only in ``seed`` — the keys (every other column), then ``mean``,
    ``stderr`` and ``count`` (:func:`finetune_bounds.records.summarize`) — as ``.csv``,
    ``.parquet`` or ``.json`` (NaN as null; see :func:`write_records`)."""
    from ..records import check_frame, summarize

    check_frame(frame, "frame")
    _out_path(path)
    if "value" not in getattr(frame, "columns", ()):  # already summarised (e.g. samples)
        return write_records(frame, path)
    if len(frame) == 0:
        return write_records(frame.drop(columns=[c for c in ("seed", "value", "stderr")
                                                 if c in frame.columns]), path)
    out = summarize(frame)
    keys = [c for c in out.columns if c not in ("mean", "stderr", "count")]
    return write_records(out[[*keys, "mean", "stderr", "count"]], path)


def write_records(frame: Any, path: str | Path) -> Path:
    """The tidy frame to ``.csv``/``.parquet`` (as ``sweep --export``) or ``.json`` (a list of
    records; NaN and missing values as null, ±inf as the strings "inf"/"-inf")."""
    from ..records import check_frame

    check_frame(frame, "frame")
    path = _out_path(path)
    suffix = path.suffix.lower()
    if suffix not in OUTPUT_SUFFIXES:
        raise InvalidInputError(f"--output must end in .csv, .json or .parquet, got {path.name!r}")
    if not path.parent.exists():
        raise InvalidInputError(f"output folder does not exist: {path.parent}")
    if suffix != ".json":
        return write_frame(frame, path)

    def clean(v: Any) -> Any:
        if v is None:
            return None
        if isinstance(v, float):
            if math.isnan(v):
                return None
            if math.isinf(v):
                return "inf" if v > 0 else "-inf"
        try:
            import pandas as pd

            if pd.isna(v):
                return None
        except (TypeError, ValueError):
            pass
        return v.item() if hasattr(v, "item") else v

    rows = [{k: clean(v) for k, v in rec.items()} for rec in frame.to_dict(orient="records")]
    path.write_text(json.dumps(rows, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    return path


def _sort_key(v: Any) -> tuple[int, Any]:
    if v is None:
        return (0, 0)
    if isinstance(v, bool):
        return (1, int(v))
    if isinstance(v, int | float):
        return (2, float(v))
    if isinstance(v, str):
        return (3, v)
    return (4, canonical_json(v))


def _column(values: list[Any]) -> Any:
    """A pandas Series with a stable dtype: int64 / Int64 (ints with gaps), float64,
    bool / boolean, pandas' default string dtype (strings, all missing), object (mixed)."""
    import pandas as pd

    present = [v for v in values if v is not None]
    missing = len(present) < len(values)
    if present and all(isinstance(v, bool) for v in present):
        return pd.Series(values, dtype="boolean" if missing else bool)
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return pd.Series(values, dtype="Int64" if missing else "int64")
    if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return pd.Series([math.nan if v is None else float(v) for v in values], dtype="float64")
    if all(isinstance(v, str) for v in present):  # pandas' default string dtype (str in 3.x)
        return pd.Series(values, dtype=pd.Series(["x"]).dtype)
    return pd.Series(values, dtype=object)


def _build_frame(dicts: Sequence[Mapping[str, Any]], columns: list[str]) -> Any:
    import pandas as pd

    data = {c: _column([d.get(c) for d in dicts]) for c in columns}
    frame = pd.DataFrame(data, columns=columns)
    if not dicts:
        frame["seed"] = frame["seed"].astype("int64")
        frame["value"] = frame["value"].astype("float64")
    return frame
