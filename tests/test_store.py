"""The SQLite store: atomic cell writes, tidy frames, export round trips, bad files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pandas.testing as pdt
import pytest

from finetune_bounds.errors import InvalidInputError
from finetune_bounds.sweep import RESULT_SCHEMA_VERSION, Cell, Store
from finetune_bounds.sweep.grid import canonical_json
from finetune_bounds.sweep.store import StoredRow


def rows(k: int, seeds: int = 2) -> list[StoredRow]:
    out = [StoredRow("risk", "theory", -1, 1.0 * k, canonical_json({"method": "closed_form"}))]
    for s in range(seeds):
        out.append(StoredRow("risk", "empirical", s, k + 0.1 * s, canonical_json({"step": s})))
    out.append(StoredRow("gap", "bound", -1, float("inf"), "{}"))
    return out


def cell(n: int, kind: str = "a") -> Cell:
    return Cell("toy", {"n": n, "kind": kind, "scale": 0.5})


def test_write_read_frame_layout(tmp_path: Path) -> None:
    with Store(tmp_path) as st:
        assert st.path == str(tmp_path / "results.sqlite")
        for n in (20, 3, 100):
            st.write_cell("exp", cell(n), 2, rows(n), elapsed=0.1)
        st.write_cell("other", cell(1), 2, rows(1))
        assert st.experiments() == ["exp", "other"]
        assert st.done("exp") == {cell(n).key: 2 for n in (3, 20, 100)}
        f = st.frame("exp")
        assert list(f.columns) == [
            *("family", "experiment", "quantity", "source", "seed", "value", "method"),
            *("kind", "n", "scale", "step"),
        ]
        # cells ordered by parameter values (numeric, not lexicographic), rows in stored order
        assert f["n"].drop_duplicates().tolist() == [3, 20, 100]
        assert f.loc[f["n"] == 3, "seed"].tolist() == [-1, 0, 1, -1]
        assert f.dtypes["n"] == "int64" and f.dtypes["seed"] == "int64"
        assert f.dtypes["step"] == "Int64" and f.dtypes["value"] == "float64"
        assert f["method"].iloc[0] == "closed_form" and f["method"].iloc[1:4].isna().all()
        assert f["value"].iloc[3] == float("inf")
        assert len(st.frame()) == 4 * 4
        # explicit cell order and seed filter
        g = st.frame("exp", cells=[cell(100).key, cell(3).key], max_seeds=1)
        assert g["n"].tolist() == [100, 100, 100, 3, 3, 3]
        assert set(st.cells("exp")["n"]) == {3, 20, 100}
        assert st.integrity_check() == "ok"
        mode = st._conn.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"


def test_cell_write_is_atomic() -> None:
    """A write that fails half-way leaves the previous rows and marker untouched."""
    st = Store(None)
    c = cell(5)
    st.write_cell("e", c, 2, rows(5))
    before = st.frame("e")
    bad = [*rows(6, seeds=3)[:3], StoredRow("risk", "empirical", 0, "oops", "{}")]  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        st.write_cell("e", c, 3, bad)
    pdt.assert_frame_equal(st.frame("e"), before)
    assert st.done("e") == {c.key: 2}
    # rewriting a cell replaces its rows (no duplicates)
    st.write_cell("e", c, 3, rows(5, seeds=3))
    assert len(st.frame("e")) == 5
    n = st._conn.execute("SELECT COUNT(*) FROM records").fetchone()[0]
    assert n == 5


def test_failures_table_cleared_on_success() -> None:
    st = Store(None)
    c = cell(5)
    st.record_failure("e", c, "ValueError: boom", "Traceback ...")
    f = st.failures("e")
    assert f["error"].tolist() == ["ValueError: boom"] and st.done("e") == {}
    st.write_cell("e", c, 1, rows(5, 1))
    assert st.failures("e").empty


def test_empty_store_frame() -> None:
    f = Store(None).frame()
    assert f.empty and list(f.columns) == [  # n is a parameter, not a core column
        *("family", "experiment", "quantity", "source", "seed", "value", "method")
    ]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_export_round_trip(tmp_path: Path, suffix: str) -> None:
    st = Store(tmp_path / "s.sqlite")
    for n in (3, 4):
        st.write_cell("exp", cell(n, kind="b"), 2, rows(n))
    path = st.export(tmp_path / f"out{suffix}")
    f = st.frame()
    if suffix == ".csv":
        back = pd.read_csv(path)
        # CSV has no nullable ints / None: compare values, not dtypes
        pdt.assert_frame_equal(back, f, check_dtype=False)
    else:
        back = pd.read_parquet(path)
        pdt.assert_frame_equal(back, f)


def test_bad_files(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(InvalidInputError, match="not a usable results store"):
        Store(junk)
    old = tmp_path / "old.sqlite"
    Store(old).close()
    con = sqlite3.connect(old)
    con.execute("UPDATE meta SET value='999' WHERE key='format'")
    con.commit()
    con.close()
    with pytest.raises(InvalidInputError, match="format 999"):
        Store(old)
    with pytest.raises(InvalidInputError, match=r"\.csv or \.parquet"):
        Store(None).export(tmp_path / "x.xlsx")


def test_new_path_without_extension_is_a_folder(tmp_path: Path) -> None:
    """``run_sweep(config, store="results")`` makes results/results.sqlite, as ``--out`` does,
    not a bare SQLite file named ``results`` (which then broke ``sweep --out results``)."""
    with Store(tmp_path / "results") as st:
        assert Path(st.path) == tmp_path / "results" / "results.sqlite"
    assert (tmp_path / "results").is_dir()
    with Store(tmp_path / "custom.db") as st:  # an extension: a file
        assert Path(st.path) == tmp_path / "custom.db"


def test_schema_version_is_part_of_the_key(tmp_path: Path) -> None:
    st = Store(tmp_path)
    st.write_cell("e", cell(1), 1, rows(1, 1))
    st._conn.execute("UPDATE cells SET schema_version=?", (RESULT_SCHEMA_VERSION - 1,))
    assert st.done("e") == {} and st.frame("e").empty


# ---------------------------------------------------------------------- read-only and locked
def _filled_store(tmp_path: Path) -> Path:
    path = tmp_path / "ro" / "results.sqlite"
    with Store(path) as st:
        st.write_cell("e", cell(1), 2, rows(1))
        st.record_failure("e", cell(2), "ValueError: boom")
    return path


def test_readonly_store_reads_and_refuses_writes(tmp_path: Path) -> None:
    from finetune_bounds.sweep.store import ReadOnlyStoreError

    path = _filled_store(tmp_path)
    with Store(path) as st:
        expected = st.frame("e")
    with Store(path, readonly=True) as st:
        assert st.readonly
        pdt.assert_frame_equal(st.frame("e"), expected)
        assert list(st.cells()["cell_key"]) == [cell(1).key]
        assert list(st.failures()["error"]) == ["ValueError: boom"]
        assert st.done("e") == {cell(1).key: 2} and st.experiments() == ["e"]
        with pytest.raises(ReadOnlyStoreError, match="read-only") as info:
            st.write_cell("e", cell(3), 2, rows(3))
        assert isinstance(info.value, InvalidInputError) and "\n" not in str(info.value)
        with pytest.raises(ReadOnlyStoreError, match="read-only"):
            st.record_failure("e", cell(3), "x")
    with pytest.raises(InvalidInputError, match="no results store"):
        Store(tmp_path / "missing.sqlite", readonly=True)
    assert not (tmp_path / "missing.sqlite").exists()


def test_unwritable_store_file_opens_readonly(tmp_path: Path) -> None:
    """A file (and folder) without write permission opens read-only by itself."""
    import os

    from finetune_bounds.sweep.store import ReadOnlyStoreError

    path = _filled_store(tmp_path)
    with Store(path) as st:
        expected = st.frame("e")
    os.chmod(path, 0o444)
    os.chmod(path.parent, 0o555)
    try:
        if os.access(path, os.W_OK):
            pytest.skip("running as root: chmod does not stop writes")
        with Store(path) as st:
            assert st.readonly
            pdt.assert_frame_equal(st.frame("e"), expected)
            assert len(st.failures()) == 1
            with pytest.raises(ReadOnlyStoreError):
                st.write_cell("e", cell(3), 2, rows(3))
    finally:
        os.chmod(path.parent, 0o755)
        os.chmod(path, 0o644)


def test_locked_store_is_a_one_line_error(tmp_path: Path) -> None:
    import time

    from finetune_bounds.sweep.store import StoreLockedError

    path = _filled_store(tmp_path)
    st = Store(path, timeout=0.2)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        t0 = time.perf_counter()
        with pytest.raises(StoreLockedError, match="locked by another process") as info:
            st.write_cell("e", cell(3), 2, rows(3))
        assert time.perf_counter() - t0 < 5
        assert str(path) in str(info.value) and "\n" not in str(info.value)
        assert isinstance(info.value, InvalidInputError)
        assert st.done("e") == {cell(1).key: 2}  # readers still read (write-ahead log)
    finally:
        other.execute("ROLLBACK")
        other.close()
    st.write_cell("e", cell(3), 2, rows(3))  # the lock is gone: the store works again
    assert set(st.done("e")) == {cell(1).key, cell(3).key}
    st.close()
    with pytest.raises(InvalidInputError, match="timeout"):
        Store(path, timeout=-1)


def test_store_locked_in_rollback_journal_mode(tmp_path: Path) -> None:
    """A non-WAL SQLite file held exclusively: opening it waits, then fails in one line."""
    from finetune_bounds.sweep.store import StoreLockedError

    path = tmp_path / "plain.sqlite"
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("CREATE TABLE t (x)")
    other.execute("BEGIN EXCLUSIVE")
    other.execute("INSERT INTO t VALUES (1)")
    try:
        with pytest.raises(StoreLockedError, match=r"plain\.sqlite"):
            Store(path, timeout=0.1)
    finally:
        other.execute("ROLLBACK")
        other.close()
