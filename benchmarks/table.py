"""Write the performance table of ``docs/performance.md`` from ``benchmarks/results/*.json``.

    python benchmarks/run_all.py            # every benchmark with --record, then this script
    python benchmarks/table.py              # rewrite the table from the recorded results
    python benchmarks/table.py --check      # exit 1 if docs/performance.md is out of date

The table sits between the markers ``<!-- perf-table:begin -->`` and ``<!-- perf-table:end -->``;
everything else in the page is prose and stays as written.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from _harness import fmt_ratio, fmt_time

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
PAGE = HERE.parent / "docs" / "performance.md"
BEGIN, END = "<!-- perf-table:begin -->", "<!-- perf-table:end -->"


def render(records: list[dict[str, Any]]) -> str:
    """The markdown between the markers: one section per benchmark, one row per route."""
    out: list[str] = []
    for rec in records:
        out.append(f"### `{rec['benchmark']}` ({rec['mode']} run, {rec['seconds']:g} s)")
        out.append("")
        out.append(f"{rec['date']} · {rec['machine']} · Python {rec['python']}, numpy "
                   f"{rec['numpy']} · {rec['blas']}")
        out.append("")
        out.append("| case | route | floor / baseline | time, median | ratio, median (min–max) "
                   "| goal |")
        out.append("|---|---|---|---|---|---|")
        for row in rec["rows"]:
            if row["route"] == row["baseline"]:
                continue
            goal = "" if row["goal"] is None else (
                f"≤ {row['goal']:g}× {'✓' if row['meets'] else '✗ missed'}")
            out.append(
                f"| {row['case']} | {row['route']} | {row['baseline']} "
                f"({fmt_time(row['median_s'] / row['ratio'])}) | {fmt_time(row['median_s'])} | "
                f"{fmt_ratio(row['ratio'])} "
                f"({fmt_ratio(row['ratio_min'])}–{fmt_ratio(row['ratio_max'])})"
                f" | {goal} |"
            )
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def load() -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json"))]


def updated_page(text: str, table: str) -> str:
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{PAGE}: the markers {BEGIN} / {END} are missing")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{table}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only check that the page is current")
    args = ap.parse_args(argv)
    text = PAGE.read_text()
    new = updated_page(text, render(load()))
    if args.check:
        if new != text:
            print(f"{PAGE.name} is out of date: run python benchmarks/table.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(new)
    print(f"wrote {PAGE.relative_to(HERE.parent)} from {len(load())} recorded benchmark(s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
