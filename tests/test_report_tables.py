"""Summary tables: pivot and standard errors against a hand computation, rendering, escaping."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from finetune_bounds.errors import ConfigError
from finetune_bounds.records import record, to_frame
from finetune_bounds.report import TableSpec, build_table, latex_escape, write_table_files
from finetune_bounds.report.tables import _LATEX_SPECIAL, _LATEX_UNICODE

# seeds' values of the empirical risk at each n: small integers so the hand computation is exact
EMP = {2: [1.0, 2.0, 4.0], 10: [3.0, 5.0], 100: [7.0]}


def _frame(spectra=("flat",)) -> pd.DataFrame:
    rows = []
    for spectrum in spectra:
        shift = 0.0 if spectrum == "flat" else 100.0
        for n, values in EMP.items():
            base = {"family": "toy", "experiment": "e", "n": n, "d": 4, "aspect": n / 4}
            base["spectrum"] = spectrum
            rows.append(
                base
                | dict(quantity="risk", source="theory", seed=-1, value=1 / n + shift)
                | {"method": "closed_form"}
            )
            rows.append(
                base
                | dict(quantity="risk", source="bound", seed=-1, value=2 / n + shift)
                | {"method": None}
            )
            for s, v in enumerate(values):
                rows.append(
                    base
                    | dict(quantity="risk", source="empirical", seed=s, value=v + shift)
                    | {"method": "gd"}
                )
            rows.append(
                base
                | dict(quantity="bias", source="theory", seed=-1, value=0.5 + shift)
                | {"method": "closed_form"}
            )
    return pd.DataFrame(rows)


SPEC = {"quantities": ["risk"], "index": ["n"], "columns": ["source", "method"], "title": "Risk"}


def test_pivot_and_stderr_match_hand_computation() -> None:
    t = build_table(_frame(), SPEC)
    # rows sorted numerically (2 < 10 < 100), not as text
    assert t.rows == ((2,), (10,), (100,))
    assert t.index == ("n",) and t.auto_index == ()
    # columns in source order theory, bound, empirical
    assert t.columns == (
        ("risk", "theory", "closed_form"),
        ("risk", "bound", None),
        ("risk", "empirical", "gd"),
    )
    # n = 2: values 1, 2, 4 → mean 7/3; sample variance ((4/3)² + (1/3)² + (5/3)²)/2 = 7/3;
    # stderr = sqrt(7/3)/sqrt(3) = sqrt(7)/3
    c = t.cells[((2,), ("risk", "empirical", "gd"))]
    assert c.mean == pytest.approx(7 / 3, rel=1e-14)
    assert c.stderr == pytest.approx(math.sqrt(7) / 3, rel=1e-14)
    assert c.count == 3
    # n = 10: values 3, 5 → mean 4, std sqrt(2), stderr 1
    c = t.cells[((10,), ("risk", "empirical", "gd"))]
    assert (c.mean, c.stderr, c.count) == (pytest.approx(4.0), pytest.approx(1.0), 2)
    assert t.cells[((100,), ("risk", "theory", "closed_form"))].mean == pytest.approx(0.01)
    assert t.cells[((10,), ("risk", "bound", None))].mean == pytest.approx(0.2)


def test_cells_text() -> None:
    t = build_table(_frame(), SPEC)
    df = t.to_frame()
    assert list(df.columns) == [
        "n (target samples)",
        "theory (closed form)",
        "bound",
        "empirical (GD)",
    ]
    assert df.iloc[0].tolist() == ["2", "0.5", "1", "2.333 ± 0.88"]
    assert df.iloc[1].tolist() == ["10", "0.1", "0.2", "4 ± 1"]
    # a single seed has no standard error: plain value
    assert df.iloc[2].tolist() == ["100", "0.01", "0.02", "7"]


def test_markdown_exact() -> None:
    md = build_table(_frame(), SPEC).to_markdown()
    expected = (
        "**Risk**\n\n"
        "| n (target samples) | theory (closed form) | bound | empirical (GD) |\n"
        "|---|--:|--:|--:|\n"
        "| 2 | 0.5 | 1 | 2.333 ± 0.88 |\n"
        "| 10 | 0.1 | 0.2 | 4 ± 1 |\n"
        "| 100 | 0.01 | 0.02 | 7 |\n"
    )
    assert md.startswith(expected)
    assert "mean ± standard error" in md


def test_several_quantities_in_header_and_spec_order() -> None:
    spec = SPEC | {"quantities": ["risk", "bias"], "columns": ["source"]}
    t = build_table(_frame(), spec)
    labels = [t.column_label(c) for c in t.columns]
    assert labels == [
        "risk E[R_n] · theory",
        "risk E[R_n] · bound",
        "risk E[R_n] · empirical",
        "bias · theory",
    ]
    # method is not a key any more, and rows are not split by it (it is determined by source)
    assert t.auto_index == ()


def test_unlisted_parameter_becomes_a_row_key_but_derived_one_does_not() -> None:
    t = build_table(_frame(("flat", "spiked")), SPEC)
    # spectrum distinguishes rows → added; aspect = n/d is determined by n → not added
    assert t.index == ("n", "spectrum") and t.auto_index == ("spectrum",)
    assert len(t.rows) == 6
    assert t.cells[((10, "spiked"), ("risk", "empirical", "gd"))].mean == pytest.approx(104.0)
    assert any("spectrum" in n for n in t.notes)


def test_csv_is_numeric_long_form(tmp_path) -> None:
    t = build_table(_frame(), SPEC)
    md, csv, tex = write_table_files(t, tmp_path / "risk")
    assert md.suffix == ".md" and tex.suffix == ".tex"
    back = pd.read_csv(csv)
    assert list(back.columns) == ["n", "quantity", "source", "method", "mean", "stderr", "count"]
    assert back["mean"].dtype == np.float64 and back["stderr"].dtype == np.float64
    emp = back[(back.source == "empirical") & (back.n == 2)].iloc[0]
    assert emp["mean"] == pytest.approx(7 / 3) and emp["stderr"] == pytest.approx(7**0.5 / 3)
    assert len(back) == 9  # 3 rows × 3 columns, in display order
    assert back["source"].tolist()[:3] == ["theory", "bound", "empirical"]


def test_source_not_a_key_is_kept_in_the_csv_and_styles_cells() -> None:
    frame = _frame()
    spec = {"quantities": ["risk"], "index": ["n"], "columns": ["method"]}
    t = build_table(frame[frame.source == "empirical"], spec)
    assert "source" in t.summary.columns
    assert t.to_frame().iloc[0, 1] == "2.333 ± 0.88"


def test_missing_cells_are_blank_and_inf_is_shown() -> None:
    frame = _frame()
    frame = frame[~((frame.n == 10) & (frame.source == "bound"))].copy()
    frame.loc[(frame.n == 2) & (frame.source == "theory") & (frame.quantity == "risk"), "value"] = (
        np.inf
    )
    t = build_table(frame, SPEC)
    df = t.to_frame()
    assert df.loc[1, "bound"] == ""
    assert df.loc[0, "theory (closed form)"] == "inf"
    assert "$\\infty$" in t.to_latex()


def test_latex_booktabs_and_escaping() -> None:
    frame = _frame()
    frame["method"] = frame["method"].replace({"gd": "g_d & 50%"})
    spec = SPEC | {"title": "Risk: θ_T & 5% #1 {x} ~ ^ \\ ‖Δ‖²"}
    tex = build_table(frame, spec).to_latex(label="tab:risk")
    assert "\\toprule" in tex and "\\midrule" in tex and "\\bottomrule" in tex
    assert "\\begin{tabular}{lrrr}" in tex
    assert (
        "\\caption{Risk: $\\theta$\\_T \\& 5\\% \\#1 \\{x\\} \\textasciitilde{} "
        "\\textasciicircum{} \\textbackslash{} $\\|$$\\Delta$$\\|$$^{2}$}"
    ) in tex
    assert "empirical (g d \\& 50\\%)" in tex
    assert "$2.333 \\pm 0.88$" in tex
    # no unescaped special character outside math mode in the data rows
    body = tex.split("\\midrule")[1].split("\\bottomrule")[0]
    text_only = re.sub(r"\$[^$]*\$", "", body)
    assert not re.search(r"(?<!\\)[&%#_{}]", text_only.replace(" & ", " "))


_TOKENS = sorted(
    {v: k for k, v in {**_LATEX_SPECIAL, **_LATEX_UNICODE}.items() if k not in "−–—"}.items(),
    key=lambda kv: -len(kv[0]),
)


def _unescape(tex: str) -> str:
    out, i = [], 0
    while i < len(tex):
        for token, ch in _TOKENS:
            if tex.startswith(token, i):
                out.append(ch)
                i += len(token)
                break
        else:
            out.append(tex[i])
            i += 1
    return "".join(out)


@given(st.text(alphabet=st.sampled_from(list("ab 1_&%$#{}~^\\<>θΔ‖²±")), max_size=40))
def test_latex_escape_round_trips(text: str) -> None:
    escaped = latex_escape(text)
    assert _unescape(escaped) == text
    # braces balance, so the escaped text cannot break the enclosing \caption{...}
    depth = 0
    for m in re.finditer(r"(?<!\\)[{}]", escaped):
        depth += 1 if m.group() == "{" else -1
        assert depth >= 0
    assert depth == 0


def test_markdown_and_html_escape() -> None:
    frame = _frame()
    frame["method"] = frame["method"].replace({"gd": "a|b<c>"})
    t = build_table(frame, SPEC)
    assert "a\\|b&lt;c>" in t.to_markdown()  # no raw HTML in Markdown (issue 13)
    html = t.to_html()
    assert "a|b&lt;c&gt;" in html and "<c>" not in html


def test_no_index_groups_everything_it_must() -> None:
    t = build_table(_frame(), {"quantities": ["bias"]})
    # bias differs by nothing but n... which is still distinguishing? no: bias is constant in n,
    # but the rows differ by n, so n is added automatically
    assert t.auto_index == ("n",)
    assert len(t.rows) == 3


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ({"quantities": ["risk"], "colums": ["source"]}, "unknown key"),
        ({"quantities": ["rsik"]}, "no quantity \\['rsik'\\]"),
        ({"quantities": ["risk"], "index": ["m"]}, "no column"),
        ({"index": ["n"], "columns": ["n"]}, "both index and columns"),
        ({"index": ["value"]}, "cannot be a row or column key"),
        ({"index": ["n"], "columns": ["stderr"]}, "cannot be a row or column key"),
        ({"quantities": "risk", "digits": 0}, "digits"),
        ({"quantities": [1]}, "list of names"),
    ],
)
def test_bad_specs(spec, match) -> None:
    with pytest.raises(ConfigError, match=match):
        build_table(_frame(), spec, where="exp: table 1")


def test_bad_frames() -> None:
    frame = _frame()
    frame.loc[0, "value"] = np.nan
    with pytest.raises(ConfigError, match="NaN"):
        build_table(frame, SPEC)
    with pytest.raises(ConfigError, match="DataFrame"):
        build_table([1, 2], SPEC)
    with pytest.raises(ConfigError, match="column"):
        build_table(_frame().drop(columns="source"), SPEC)


def test_spec_object_and_digits() -> None:
    spec = TableSpec.from_dict(SPEC | {"digits": 2})
    t = build_table(_frame(), spec)
    assert t.to_frame().iloc[0, 3] == "2.3 ± 0.88"


def test_theory_with_its_own_stderr_shows_plus_minus() -> None:
    rows = []
    for n in (10, 100):
        rows.append(record("risk", 1 / n, "theory", n=n, method="closed_form"))
        rows.append(record("risk", 1 / n, "theory", n=n, method="monte_carlo", stderr=0.25 / n))
        rows.append(record("risk", 2 / n, "bound", n=n, method="naive", stderr=0.0))
        for s, v in enumerate((3.0, 5.0)):
            rows.append(record("risk", v, "empirical", n=n, seed=s, method="gd"))
    t = build_table(to_frame(rows), {"index": ["n"]})
    assert t.auto_index == ()  # stderr is a value, not a key
    df = t.to_frame()
    assert list(df.columns) == [
        "n (target samples)",
        "theory (closed form)",
        "theory (Monte Carlo)",
        "bound (naive)",
        "empirical (GD)",
    ]
    # exact theory and a zero stderr: plain; Monte Carlo theory: mean ± its own stderr
    assert df.iloc[0].tolist() == ["10", "0.1", "0.1 ± 0.025", "0.2", "4 ± 1"]
    assert df.iloc[1].tolist() == ["100", "0.01", "0.01 ± 0.0025", "0.02", "4 ± 1"]
    cell = t.cells[((10,), ("risk", "theory", "monte_carlo"))]
    assert (cell.count, cell.stderr, cell.with_error) == (1, pytest.approx(0.025), True)
    assert "$0.1 \\pm 0.025$" in t.to_latex()
    assert any("Theory and bound cells with ±" in n for n in t.notes)
    mc = t.summary[t.summary.method == "monte_carlo"]
    np.testing.assert_allclose(mc["stderr"], [0.025, 0.0025])
    # a single empirical seed carrying a stderr of its own shows it too
    one = to_frame([record("risk", 1.0, "empirical", n=1, seed=0, stderr=0.5)])
    assert (
        build_table(one, {"index": ["n"], "columns": ["source"]}).to_frame().iloc[0, 1] == "1 ± 0.5"
    )


def test_table_where_filters_rows_before_pivoting() -> None:
    from finetune_bounds.errors import ConfigError
    from finetune_bounds.records import record, to_frame
    from finetune_bounds.report import build_table

    rows = [record("risk", v, "theory", n=n, start=s, method="closed_form")
            for n, s, v in ((1, "pretrained", 1.0), (1, "scratch", 2.0),
                            (2, "pretrained", 0.5), (2, "scratch", 1.5))]
    frame = to_frame(rows)
    table = build_table(frame, {"index": ["n"], "where": {"start": "pretrained"}})
    out = table.to_frame()
    assert "start" not in table.auto_index and len(out) == 2
    assert "1.5" not in table.to_text() and "0.5" in table.to_text()
    with pytest.raises(ConfigError, match="keeps no row"):
        build_table(frame, {"index": ["n"], "where": {"start": "fresh"}})


def test_roundoff_values_print_as_zero_and_csv_keeps_them(tmp_path) -> None:
    rows = [
        record("gd_vs_closed_form", 3.5e-32, "empirical", n=10, seed=0, method="gd"),
        record("gd_vs_closed_form", 0.25, "empirical", n=20, seed=0, method="gd"),
        record("risk", 1e-30, "theory", n=10, method="closed_form"),
        record("risk", 1.0, "theory", n=20, method="closed_form"),
    ]
    t = build_table(to_frame(rows), {"index": ["n"], "columns": ["source"]})
    df = t.to_frame()
    assert df.iloc[0, 1:].tolist() == ["0", "0"]
    assert any("round-off" in n for n in t.notes)
    assert "| 10 | 0 | 0 |" in t.to_markdown()
    assert "$0$" in t.to_latex()
    _md, csv, _tex = write_table_files(t, tmp_path / "x")
    back = pd.read_csv(csv)
    assert back["mean"].min() == pytest.approx(3.5e-32, rel=1e-9)  # raw numbers in the CSV


def test_markdown_never_passes_raw_html() -> None:
    """A title `<script>` used to pass through into table*.md (the HTML page escaped it)."""
    from finetune_bounds.report.tables import _md_escape

    assert _md_escape("<script>alert(1)</script> a | b") == (
        "&lt;script>alert(1)&lt;/script> a \\| b")
    assert _md_escape("|value| < 10⁻¹²") == "\\|value\\| < 10⁻¹²"  # comparisons stay readable
