"""The report's first section: n*(ε) read off each experiment's grid, and generated findings."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from finetune_bounds.report.answer import (
    NStar,
    answer_frame,
    answer_html,
    answer_markdown,
    epsilon_levels,
    experiment_answer,
    nstar_on_grid,
    saving_ratio,
    write_answer_files,
)


def _rows(source: str, method: str, start: str, ns: list[int], vals: list[float],
          seed: int = -1, **extra: object) -> list[dict[str, object]]:
    return [
        {"family": "linear", "experiment": "toy_curve", "quantity": "risk", "source": source,
         "seed": seed, "value": v, "method": method, "start": start, "n": n, "d": 50, **extra}
        for n, v in zip(ns, vals, strict=True)
    ]


NS = [5, 10, 20, 40]


def _frame() -> pd.DataFrame:
    rows = []
    rows += _rows("theory", "deterministic", "pretrained", NS, [0.8, 0.4, 0.2, 0.1])
    rows += _rows("theory", "deterministic", "scratch", NS, [1.0, 0.9, 0.5, 0.3])
    rows += _rows("bound", "naive", "pretrained", NS, [8.0, 4.0, 2.4, 1.2])
    # two seeds: the means are 0.82, 0.41, 0.21, 0.099 (within 5 % of the theory)
    rows += _rows("empirical", "closed_form", "pretrained", NS, [0.84, 0.42, 0.22, 0.098], seed=0)
    rows += _rows("empirical", "closed_form", "pretrained", NS, [0.80, 0.40, 0.20, 0.100], seed=1)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------- grid reading


def test_first_crossing_of_a_non_monotone_curve() -> None:
    ns = nstar_on_grid([10, 20, 40, 80], [1.0, 0.3, 0.6, 0.1], 0.5)
    assert (ns.kind, ns.value, ns.prev) == ("at", 20.0, 10.0)
    assert ns.text() == "20"


def test_grid_order_does_not_matter() -> None:
    assert nstar_on_grid([40, 10, 20], [0.1, 1.0, 0.3], 0.5).value == 20.0


def test_not_reached_and_reached_at_the_first_point() -> None:
    above = nstar_on_grid([10, 20, 40], [1.0, 0.9, 0.8], 0.5)
    assert above.kind == "above" and above.text() == "> 40" and not above.reached
    first = nstar_on_grid([10, 20, 40], [0.4, 0.3, 0.2], 0.5)
    assert first.kind == "first" and first.text() == "≤ 10" and first.reached
    assert nstar_on_grid([10, 20], [math.inf, 0.2], 0.5).value == 20.0
    assert nstar_on_grid([], [], 0.5).kind == "none"


def test_epsilon_levels_are_geometric_inside_the_range() -> None:
    assert epsilon_levels([0.01, 1.0]) == (0.032, 0.1, 0.32)
    assert epsilon_levels([0.0, 1.0]) == (0.25, 0.5, 0.75)  # no positive range: linear
    assert epsilon_levels([]) == ()
    # round-off zeros far below the rest do not drag the levels down
    assert min(epsilon_levels([1e-24, 0.1, 1.0])) >= 1e-4


def test_saving_ratio_exact_and_one_sided() -> None:
    assert saving_ratio(NStar("at", 40, 20), NStar("at", 10, 5)) == "4×"
    assert saving_ratio(NStar("above", 40), NStar("at", 10, 5)) == "> 4×"
    assert saving_ratio(NStar("at", 40, 20), NStar("first", 5)) == "≥ 8×"
    assert saving_ratio(NStar("above", 40), NStar("above", 40)) == ""


# ------------------------------------------------------------------------- one experiment


def test_empirical_curve_is_the_mean_over_seeds() -> None:
    ans = experiment_answer(_frame(), eps=[0.1])
    emp = next(r for r in ans.rows if r.source == "empirical")
    # seeds 0.098 and 0.100 at n = 40: mean 0.099 ≤ 0.1 (seed 0 alone would also pass, seed 1
    # is exactly 0.1); at n = 20 the mean 0.21 is above
    assert emp.nstar[0].value == 40.0
    ans2 = experiment_answer(_frame(), eps=[0.415])
    emp2 = next(r for r in ans2.rows if r.source == "empirical")
    assert emp2.nstar[0].value == 10.0  # mean 0.41 ≤ 0.415 although seed 0 has 0.42


def test_routes_levels_and_saving() -> None:
    ans = experiment_answer(_frame(), title="Toy")
    assert ans.experiment == "toy_curve" and ans.family == "linear" and ans.quantity == "risk"
    assert ans.eps == epsilon_levels([0.8, 0.4, 0.2, 0.1, 1.0, 0.9, 0.5, 0.3])
    assert {(r.source, r.start) for r in ans.rows} == {
        ("theory", "pretrained"), ("theory", "scratch"), ("bound", "pretrained"),
        ("empirical", "pretrained")}
    assert [r.source for r in ans.rows][:2] == ["theory", "theory"]  # theory first
    eps = [0.3]
    again = experiment_answer(_frame(), eps=eps)
    ft = next(r for r in again.rows if r.source == "theory" and r.start == "pretrained")
    sc = next(r for r in again.rows if r.source == "theory" and r.start == "scratch")
    assert ft.nstar[0].value == 20.0 and sc.nstar[0].value == 40.0
    assert ft.saving == "2× at ε = 0.3" and sc.saving == ""
    # scratch never reaches 0.25 on the grid: the saving is one-sided
    low = experiment_answer(_frame(), eps=[0.25])
    assert next(r for r in low.rows if r.start == "pretrained").saving == "> 2× at ε = 0.25"


def test_findings_contain_the_computed_numbers() -> None:
    ans = experiment_answer(_frame(), eps=[0.3])
    text = " ".join(ans.findings)
    # theory vs mean over seeds: gaps 2.5 %, 2.5 %, 5 %, 1 % → median 2.5 %, largest 5 %
    assert "4/4 points" in text and "median relative gap 2.5 %" in text and "largest 5 %" in text
    assert "pretraining saves n*_scratch / n*_pretrained = 2× at ε = 0.3" in text
    assert "at n = 40 the bounds are 12× (naive) the theory" in text


def test_settings_separate_curves_and_phase_diagrams_are_skipped() -> None:
    a = pd.DataFrame(_rows("theory", "deterministic", "pretrained", NS, [0.8, 0.4, 0.2, 0.1],
                           alignment="head"))
    b = pd.DataFrame(_rows("theory", "deterministic", "pretrained", NS, [0.9, 0.9, 0.9, 0.9],
                           alignment="tail"))
    ans = experiment_answer(pd.concat([a, b]), eps=[0.5], grid_params=["alignment", "n"])
    got = {r.setting: r.nstar[0].text() for r in ans.rows}
    assert got == {"alignment = head": "10", "alignment = tail": "> 40"}
    many = pd.concat([pd.DataFrame(_rows("theory", "m", "pretrained", NS, [1, 0.5, 0.2, 0.1],
                                         g=i)) for i in range(20)])
    skipped = experiment_answer(many, grid_params=["g", "n"])
    assert skipped.skipped.startswith("a phase diagram over 20 settings")


def test_experiments_without_a_sample_size_axis_are_skipped() -> None:
    one_n = pd.DataFrame(_rows("theory", "m", "pretrained", [10, 10], [0.1, 0.2]))
    assert "single value" in experiment_answer(one_n).skipped
    assert "no 'risk' records" in experiment_answer(
        pd.DataFrame(_rows("theory", "m", "", NS, [1, 2, 3, 4])).assign(quantity="pearson")
    ).skipped
    assert "no sample-size axis" in experiment_answer(_frame().assign(family="toy")).skipped


def test_diagonal_and_infinite_width_sample_sizes() -> None:
    diag = pd.DataFrame([
        {"family": "diagonal", "experiment": "dg", "quantity": "error", "source": "theory",
         "seed": -1, "value": v, "method": "replica", "start": "pretrained", "alpha": a, "d": 100}
        for a, v in [(0.1, 0.5), (0.3, 0.05)]
    ])
    r = experiment_answer(diag, eps=[0.1]).rows[0]
    assert r.nstar[0].text() == "30"  # n = alpha · d
    iw = pd.DataFrame([
        {"family": "infinite_width", "experiment": "iw", "quantity": "error",
         "source": "theory", "seed": -1, "value": v, "method": "toy", "protocol": p,
         "readout": "fresh", "nu2": nu, "dim": 20, "task": "linear"}
        for p, vals in [("ft", [0.3, 0.05]), ("scratch_lazy", [0.6, 0.2])]
        for nu, v in zip([0.5, 2.0], vals, strict=True)
    ])
    ans = experiment_answer(iw, eps=[0.25])
    ft = next(r for r in ans.rows if r.start == "ft")
    assert ft.nstar[0].text() == "40"  # P₂ = ν₂ · D
    assert ft.saving.startswith("1× vs scratch_lazy at ε = 0.25")


def test_relu_sample_complexity_records_are_tabulated_directly() -> None:
    rows = []
    for start, vals in [("pretrained", [300.0, 20.0]), ("scratch", [math.inf, 60.0])]:
        for e, v in zip([0.05, 0.5], vals, strict=True):
            rows.append({"family": "relu", "experiment": "sc", "quantity": "sample_complexity",
                         "source": "theory", "seed": -1, "value": v, "method": "ntk_limit",
                         "start": start, "eps": e, "n_max": 1200, "data": "synthetic"})
    ans = experiment_answer(pd.DataFrame(rows), grid_params=["data", "eps"])
    assert ans.eps == (0.05, 0.5)
    ft = next(r for r in ans.rows if r.start == "pretrained")
    sc = next(r for r in ans.rows if r.start == "scratch")
    assert [x.text() for x in ft.nstar] == ["300", "20"]
    assert [x.text() for x in sc.nstar] == ["> 1200", "60"]
    # an exact ratio (ε = 0.5) is preferred to a one-sided one (ε = 0.05: > 1200 / 300)
    assert ft.saving == "3× at ε = 0.5"
    assert any("pretraining saves n*_scratch / n*_pretrained = 3× at ε = 0.5 (theory" in f
               for f in ans.findings)


# ------------------------------------------------------------------------------ rendering


def test_files_markdown_and_html_are_consistent_and_escaped(tmp_path: Path) -> None:
    ans = experiment_answer(_frame(), title="Toy <b>&", eps=[0.25, 0.5])
    skipped = experiment_answer(_frame().assign(family="toy"), experiment="nope")
    md, csv = write_answer_files([ans, skipped], tmp_path)
    text = md.read_text(encoding="utf-8")
    assert text.startswith("# The answer: n*(ε)") and "| ε = 0.25 | ε = 0.5 |" in text
    assert "`nope`: no sample-size axis" in text
    df = pd.read_csv(csv)
    assert len(df) == len(ans.rows) * 2 and set(df["eps"]) == {0.25, 0.5}
    assert df.equals(answer_frame([ans, skipped]).pipe(lambda f: pd.read_csv(csv)))
    page = answer_html([ans, skipped])
    assert page.startswith('<section id="answer">') and "Toy &lt;b&gt;&amp;" in page
    assert "<b>&" not in page.replace("<b>Toy", "")
    assert answer_markdown([skipped]).count("|") == 0


@pytest.mark.parametrize("kind", ["at", "first", "above"])
def test_nstar_text_round_trips_through_the_csv(kind: str, tmp_path: Path) -> None:
    vals = {"at": [1.0, 0.1], "first": [0.1, 0.1], "above": [1.0, 1.0]}[kind]
    f = pd.DataFrame(_rows("theory", "m", "pretrained", [10, 20], vals))
    ans = experiment_answer(f, eps=[0.5])
    assert ans.rows[0].nstar[0].kind == kind


# ------------------------------------------------------------------------------ end to end

TINY_LINEAR = """\
name = "tiny_linear"
family = "linear"
title = "Tiny linear <curve>"
seeds = 2

[params]
d = 20
gd = false

[grid]
n = [4, 8, 16, 32]

[[table]]
quantities = ["risk"]
index = ["n"]
"""


def test_build_report_opens_with_the_answer(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from finetune_bounds.report import build_report

    cfg = tmp_path / "tiny_linear.toml"
    cfg.write_text(TINY_LINEAR)
    r = build_report([cfg], tmp_path / "out", formats=("png",))
    page = r.html.read_text(encoding="utf-8")
    first = page.index('<section id="answer">')
    assert first < page.index('<section id="tiny_linear">')
    assert "The answer: n*(ε)" in page and "Tiny linear &lt;curve&gt;" in page
    (exp,) = r.experiments
    assert exp.answer is not None and exp.answer.tabulated and exp.answer.eps
    assert exp.findings and 'id="tiny_linear-findings"' in page
    assert [p.name for p in r.answer_files] == ["answer.md", "answer.csv"]
    csv = pd.read_csv(r.out_dir / "answer.csv")
    assert set(csv["experiment"]) == {"tiny_linear"} and set(csv["start"]) >= {"pretrained"}
    assert "n*(ε)" in r.summary() and "tiny_linear" in r.answer_summary()
