"""The display vocabulary (report/labels.py) and its use in figures and tables."""

from __future__ import annotations

import pytest

from finetune_bounds.records import record, to_frame
from finetune_bounds.report.figures import draw_figure
from finetune_bounds.report.labels import (
    QUANTITIES,
    column_label,
    humanize,
    is_roundoff,
    key_label,
    method_label,
    quantity_label,
    roundoff_floor,
    series_label,
    source_category,
    source_label,
    wrap,
)
from finetune_bounds.report.tables import build_table

pytest.importorskip("matplotlib")


def test_vocabulary_labels() -> None:
    assert quantity_label("risk") == "risk E[R_n]"
    assert quantity_label("sample_complexity") == "n*(ε)"
    assert column_label("n") == "n (target samples)"
    assert column_label("frozen_layers") == "frozen layers"
    assert method_label("ntk_limit") == "NTK limit"
    assert key_label("frozen_layers", 0) == "frozen layers = 0"
    assert key_label("start", "scratch") == "from scratch"
    assert source_label("bound", "worst_case") == "bound (worst case)"
    assert source_label("theory") == "theory"


def test_docs_quantities_have_labels_without_underscores() -> None:
    for q, label in QUANTITIES.items():
        assert "_" not in label.replace("R_n", "").replace("c_L", "").replace("λ_min", "") \
            .replace("w_", "").replace("f_", "").replace("β_", "").replace("θ_", ""), q


def test_rates_are_labelled_as_rates() -> None:
    assert source_category("bound", "benign") == "rate"
    assert source_category("bound", "naive") == "bound"
    assert source_label("bound", "benign", 1.0) == "rate (benign, C = 1)"
    assert source_label("bound", "head_tail") == "rate (head/tail)"
    assert source_label("bound", "rate", 2) == "rate (C = 2)"
    row = {"quantity": "risk", "source": "bound", "method": "benign", "constant": 1.0}
    assert series_label(row) == "risk E[R_n] · rate (benign, C = 1)"


def test_unknown_ids_never_crash() -> None:
    assert quantity_label("some_new_thing") == "some new thing"
    assert method_label(None) == "" and method_label(float("nan")) == ""
    assert column_label("weird_col") == "weird col"
    assert humanize(3.0) == "3" and humanize(float("inf")) == "∞"
    assert series_label({"quantity": "x_y", "source": "theory", "foo_bar": 2}) == (
        "x y · foo bar = 2 · theory"
    )


def test_roundoff_floor_rule() -> None:
    floor = roundoff_floor([1.0, 0.5, 1e-29])
    assert floor == pytest.approx(1e-12)
    assert is_roundoff(1e-29, floor) and not is_roundoff(1e-6, floor)
    assert not is_roundoff(0.0, floor) and not is_roundoff(float("inf"), floor)
    assert roundoff_floor([1e-30]) == 1e-15  # the absolute floor
    assert wrap("word " * 30, 40).count("\n") >= 3


def _frame():
    rows = []
    for k in (0, 2):
        for n in (10, 100):
            rows.append(record("risk", 1 / n + k, "theory", n=n, frozen_layers=k,
                               method="closed_form"))
            rows.append(record("risk", 2 / n + k, "bound", n=n, frozen_layers=k,
                               method="max_linear_infinite"))
            rows.append(record("risk", 3 / n + k, "bound", n=n, frozen_layers=k, method="benign"))
    return to_frame(rows)


def test_figure_and_table_speak_the_vocabulary() -> None:
    d = draw_figure(_frame(), {"x": "n", "facet": "frozen_layers", "logx": True})
    texts = list(d.lines)
    for ax in d.figure.axes:
        texts += [ax.get_xlabel(), ax.get_ylabel(), ax.get_title()]
    for legend in d.figure.legends:
        texts += [t.get_text() for t in legend.get_texts()]
    assert "risk E[R_n] · bound (max(R_1, R_∞))" in d.lines
    assert "risk E[R_n] · rate (benign)" in d.lines
    for text in texts:
        assert "max_linear" not in text and "frozen_layers" not in text
        assert "· bound · benign" not in text
    assert "frozen layers = 2" in texts and "n (target samples)" in texts

    t = build_table(_frame(), {"index": ["n"], "columns": ["frozen_layers", "source", "method"]})
    headers = [t.column_label(c) for c in t.columns]
    assert "frozen layers = 0 · theory (closed form)" in headers
    assert "frozen layers = 0 · rate (benign)" in headers
    assert all("_" not in h.replace("R_1", "").replace("R_∞", "") for h in headers)


def test_integer_quantity_cells() -> None:
    rows = [
        record("sample_complexity", 12.0, "theory", eps=0.1, method="ntk_limit", start="scratch"),
        record("sample_complexity", 20 / 3, "theory", eps=0.2, method="ntk_limit",
               start="scratch"),
        record("sample_complexity", 20 / 3, "bound", eps=0.1, method="worst_case",
               start="scratch", stderr=0.5),
    ]
    t = build_table(to_frame(rows), {"index": ["eps"], "columns": ["start", "source", "method"]})
    df = t.to_frame()
    assert list(df.columns) == [
        "ε",
        "from scratch · theory (NTK limit)",
        "from scratch · bound (worst case)",
    ]
    assert df.iloc[0].tolist() == ["0.1", "12", "6.667 ± 0.5"]
    assert df.iloc[1, 1] == "6.667 (mean)"  # a mean over draws is not passed off as data
