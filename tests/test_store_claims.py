"""Concurrent sweeps into one store never compute a cell twice (issue 13, item 6).

A sweep claims its cells in the store before computing them and keeps a heartbeat; another
sweep waits for cells a live sweep holds, computes the rest, and takes over claims whose owner
died (at once for a process of this machine that is gone, after ``LEASE_SECONDS`` otherwise).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from _toy_family import TESTS_DIR, register, write
from finetune_bounds.errors import InvalidInputError
from finetune_bounds.sweep import Store, execute_sweep
from finetune_bounds.sweep import store as store_mod
from finetune_bounds.sweep.grid import Cell
from finetune_bounds.sweep.store import StoredRow


def _cell(key: str) -> Cell:
    return Cell("toy", {"n": 1}, key=key)


def _row() -> list[StoredRow]:
    return [StoredRow("q", "theory", -1, 1.0, "{}")]


def test_a_claimed_cell_is_not_claimed_twice(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    a, b = Store(path), Store(path)
    with a.lease() as la, b.lease() as lb:
        assert la.claim("e", ["k1", "k2"]) == (["k1", "k2"], [])
        assert lb.claim("e", ["k1", "k2", "k3"]) == (["k3"], ["k1", "k2"])
        a.write_cell("e", _cell("k1"), 1, _row())  # finished: claimed by nobody
        assert lb.claim("e", ["k1", "k2"]) == ([], ["k2"])
        a.record_failure("e", _cell("k2"), "boom")  # a failure releases the claim
        assert lb.claim("e", ["k2"]) == (["k2"], [])
        assert la.claim("e", ["k2", "k3"]) == ([], ["k2", "k3"])
    assert a.claims("e") == {}  # leaving a lease releases what it held
    a.close()
    b.close()


def test_a_cell_with_too_few_seeds_can_be_claimed(tmp_path: Path) -> None:
    with Store(tmp_path / "r.sqlite") as st, st.lease() as lease:
        st.write_cell("e", _cell("k"), 2, _row())
        assert lease.claim("e", ["k"], seeds=2) == ([], [])
        assert lease.claim("e", ["k"], seeds=5) == (["k"], [])


def test_claims_of_a_dead_or_silent_owner_are_taken_over(tmp_path: Path) -> None:
    path = tmp_path / "r.sqlite"
    with Store(path) as st:
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        la, lb = st.lease(), st.lease()
        la.claim("e", ["k1"])
        lb.claim("e", ["k2"])
        # la belongs to a process of this host that no longer exists: taken over at once
        st._rows("UPDATE owners SET pid=? WHERE owner=?", (dead.pid, la.owner))
        with st.lease() as lc:
            assert lc.claim("e", ["k1", "k2"]) == (["k1"], ["k2"])
            # lb has not beaten for longer than the lease: taken over as well
            st._rows("UPDATE owners SET heartbeat=? WHERE owner=?", (time.time() - 3600, lb.owner))
            assert lc.claim("e", ["k2"]) == (["k2"], [])


def test_heartbeat_keeps_a_long_sweep_alive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_mod, "HEARTBEAT_SECONDS", 0.05)
    with Store(tmp_path / "r.sqlite") as st, st.lease() as lease:
        before = st._rows("SELECT heartbeat FROM owners WHERE owner=?", (lease.owner,))[0][0]
        time.sleep(0.4)
        after = st._rows("SELECT heartbeat FROM owners WHERE owner=?", (lease.owner,))[0][0]
        assert after > before
    with Store(tmp_path / "r.sqlite") as st:
        assert st._rows("SELECT COUNT(*) FROM owners")[0][0] == 0


_SCRIPT = """
import sys
from finetune_bounds import families
families._REGISTRY["toy"] = "_toy_family:FAMILY"
from finetune_bounds.sweep import execute_sweep
run = execute_sweep(sys.argv[1], store=sys.argv[2])
print(run.ran, len(run.frame))
"""


def _start(cfg: Path, store: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _SCRIPT, str(cfg), str(store)], env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def test_two_concurrent_sweeps_compute_each_cell_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(monkeypatch)
    head = 'name = "shared"\nfamily = "toy"\nseeds = 2\n'
    first = write(tmp_path, head + "[grid]\nn = [1, 2, 3, 4, 5, 6]\n", "first.toml")
    second = write(tmp_path, head + "[grid]\nn = [4, 5, 6, 7, 8]\n", "second.toml")
    log, store = tmp_path / "cells.log", tmp_path / "results.sqlite"
    env = {**os.environ, "FB_TOY_SLEEP": "0.15", "FB_TOY_LOG": str(log),
           "PYTHONPATH": TESTS_DIR + os.pathsep + os.environ.get("PYTHONPATH", "")}
    a = _start(first, store, env)
    deadline = time.monotonic() + 60
    def claimed() -> bool:
        try:
            with Store(store, readonly=True) as st:
                return bool(st.claims("shared"))
        except InvalidInputError:  # not created yet, or its tables not yet written
            return False

    while not claimed():
        assert a.poll() is None, a.communicate()
        assert time.monotonic() < deadline, "the first sweep never claimed its cells"
        time.sleep(0.05)
    b = _start(second, store, env)
    out_a, err_a = a.communicate(timeout=120)
    out_b, err_b = b.communicate(timeout=120)
    assert a.returncode == 0 and b.returncode == 0, (err_a, err_b)
    computed = [int(line.split()[0]) for line in log.read_text().splitlines()]
    assert sorted(computed) == [1, 2, 3, 4, 5, 6, 7, 8]  # each cell once
    assert out_a.split()[0] == "6" and out_b.split()[0] == "2"  # b computed only n = 7, 8
    assert "another sweep" in err_b
    with Store(store, readonly=True) as st:
        assert st.claims() == {}
    # b returned all its 5 cells; a re-run computes nothing and reads the same table
    again = execute_sweep(second, store=store)
    assert again.ran == 0 and out_b.split()[1] == str(len(again.frame))
