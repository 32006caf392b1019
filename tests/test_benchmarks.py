"""The benchmarks stay runnable and honest (issue 15, item 2).

The shared harness's behaviour (agreement before timing, interleaved rounds, ratios, the record),
that docs/performance.md is the table the recorded results make, and every script in its
``--smoke`` form as a real process (≈ 1 s each: the scripts cannot rot unnoticed).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCH))

import _harness  # noqa: E402
import run_all  # noqa: E402
import table  # noqa: E402


def _bench(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *flags: str) -> _harness.Bench:
    monkeypatch.setattr(_harness, "RESULTS", tmp_path / "results")
    args = _harness.parser("test").parse_args(list(flags))
    return _harness.start("bench_test", args)


def test_compare_checks_agreement_then_interleaves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[str] = []

    def route(name: str, value: float) -> Any:
        def call() -> float:
            calls.append(name)
            return value
        return call

    bench = _bench(tmp_path, monkeypatch, "--repeat", "3", "--record")
    rows = bench.compare(
        "case", {"a": route("a", 1.0), "b": route("b", 1.0 + 1e-13), "c": route("c", 1.0)},
        baseline="a", check=lambda r: _harness.agree(r, "a", 1e-12), goals={"b": 1e9},
    )
    # one warm-up call each, then three rounds in rotated order
    assert calls == ["a", "b", "c", "a", "b", "c", "b", "c", "a", "c", "a", "b"]
    assert rows["a"].ratio == 1.0 and rows["b"].rounds == 3 and rows["b"].meets
    out = capsys.readouterr().out
    assert "BLAS:" in out and "thread(s)" in out and "max rel diff" in out
    assert bench.finish() == 0
    record = json.loads((tmp_path / "results" / "bench_test.json").read_text())
    assert {"date", "machine", "blas", "rows"} <= set(record)
    assert [r["route"] for r in record["rows"]] == ["a", "b", "c"]


def test_a_disagreement_withholds_the_timings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[str] = []

    def main(bench: _harness.Bench) -> None:
        bench.compare("case", {"a": lambda: calls.append("a") or 1.0,
                               "b": lambda: calls.append("b") or 2.0},
                      baseline="a", check=lambda r: _harness.agree(r, "a", 1e-12))

    monkeypatch.setattr(_harness, "RESULTS", tmp_path / "results")
    assert _harness.run(main, "bench_test", "test", ["--record"]) == 1
    assert calls == ["a", "b"]  # checked once each, never timed
    assert "DISAGREEMENT" in capsys.readouterr().err
    assert not (tmp_path / "results").exists()


def test_the_performance_page_is_the_recorded_table() -> None:
    assert table.main(["--check"]) == 0, "run: python benchmarks/table.py"


def test_every_script_is_run_by_run_all() -> None:
    scripts = {p.stem for p in BENCH.glob("*.py")} - {"_harness", "run_all", "table"}
    assert scripts == set(run_all.SCRIPTS)


@pytest.mark.parametrize("name", run_all.SCRIPTS)
def test_smoke_run(name: str) -> None:
    proc = subprocess.run([sys.executable, str(BENCH / f"{name}.py"), "--smoke"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "BLAS:" in proc.stdout and "smoke run" in proc.stdout
