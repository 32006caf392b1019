"""Config safety (issue 13): a hostile or mistaken sweep config fails fast, in one short line,
with a ConfigError naming the file and the key, never a traceback or a memory blow-up."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from _toy_family import register, write
from finetune_bounds import cli, limits
from finetune_bounds.errors import ConfigError
from finetune_bounds.report.specs import figure_spec_from_dict
from finetune_bounds.sweep import config as config_mod
from finetune_bounds.sweep import expr, load_config

HEAD = """
name = "toy_safety"
family = "toy"
seeds = 1
"""


@pytest.fixture(autouse=True)
def _toy(monkeypatch: pytest.MonkeyPatch) -> None:
    register(monkeypatch)


def load_error(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return str(info.value)


def cli_error(path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert cli.main(["sweep", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err[:500]
    return err


# ---------------------------------------------------------------------- expressions
def test_huge_string_repetition_fails_fast_in_one_short_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p = write(tmp_path, HEAD + '[derived]\nscale = "kind * 10**8"\n')
    t0 = time.perf_counter()
    msg = load_error(p)
    assert time.perf_counter() - t0 < 1.0
    assert "derived.scale" in msg and str(p) in msg
    assert "\n" not in msg and len(msg) < 400
    err = cli_error(p, capsys)
    assert len(err) < 500 and "derived.scale" in err


@pytest.mark.parametrize(
    "text",
    [
        "kind * 100000",  # a 500 000-character string
        "100000 * kind",
        "(kind * 1000) * 1000",
        "(kind + kind) * 2000",
    ],
)
def test_oversized_values_are_refused_before_they_are_built(text: str) -> None:
    with pytest.raises(expr.ExpressionError, match=r"too large|too long"):
        expr.evaluate(text, {"kind": "gauss"})


def test_small_string_intermediates_still_give_clear_type_errors() -> None:
    with pytest.raises(expr.ExpressionError, match="not a number"):
        expr.evaluate("kind * 2", {"kind": "gauss"})


def test_messages_truncate_long_values(tmp_path: Path) -> None:
    long = "x" * 5000
    p = write(tmp_path, HEAD + f'[params]\nkind = "{long}"\n[derived]\nscale = "kind * 1"\n')
    msg = load_error(p)
    assert "derived.scale" in msg and "…" in msg
    assert len(msg) < 600


def test_string_formatting_is_refused() -> None:
    with pytest.raises(expr.ExpressionError):
        expr.evaluate("fmt % 1", {"fmt": "%0999999999d"})


def test_int_call_result_is_bounded() -> None:
    with pytest.raises(expr.ExpressionError, match="too large"):
        expr.evaluate("int(s) ** 1000", {"s": "9" * 4000})


@pytest.mark.parametrize("text", ["-" * 400 + "1", "+".join(["1"] * 240)])
def test_deep_expressions_are_refused(tmp_path: Path, text: str) -> None:
    with pytest.raises(expr.ExpressionError, match="nested"):
        expr.parse(text)
    p = write(tmp_path, HEAD + f'[derived]\nscale = "{text}"\n')
    msg = load_error(p)
    assert "derived.scale" in msg and "nested" in msg and "\n" not in msg


def test_moderate_nesting_is_still_fine() -> None:
    assert expr.evaluate("-(-(-(1 + 2)))", {}) == -3


# ---------------------------------------------------------------------- the TOML file
def test_deeply_nested_toml_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p = write(tmp_path, HEAD + "x = " + "[" * 5000 + "]" * 5000 + "\n")
    msg = load_error(p)
    assert str(p) in msg and "nest" in msg
    cli_error(p, capsys)


def test_non_utf8_file_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    p = tmp_path / "latin1.toml"
    p.write_bytes((HEAD + 'title = "caf\xe9"\n').encode("latin-1"))
    msg = load_error(p)
    assert str(p) in msg and "UTF-8" in msg
    cli_error(p, capsys)


# ---------------------------------------------------------------------- the grid
def test_grid_above_the_cell_cap_fails_before_building_cells(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vals = ", ".join(str(i) for i in range(1, 1001))
    p = write(tmp_path, HEAD + f"[grid]\nn = [{vals}]\nd = [{vals}]\n")
    t0 = time.perf_counter()
    msg = load_error(p)
    assert time.perf_counter() - t0 < 1.0
    assert "1000000" in msg.replace(",", "").replace("_", "") and "FINETUNE_BOUNDS_LIMITS" in msg
    err = cli_error(p, capsys)
    assert "cells=" in err


def test_cell_cap_can_be_raised_and_lowered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = write(tmp_path, HEAD + "[grid]\nn = [1, 2, 3]\nd = [1, 2]\n")
    assert len(load_config(p).cells()) == 6
    with limits.override(cells=5):
        assert "limit of 5;" in load_error(p)
    monkeypatch.setenv(limits.ENV_VAR, "cells=6")
    assert len(load_config(p).cells()) == 6
    monkeypatch.setenv(limits.ENV_VAR, "cells=5")
    assert "limit of 5;" in load_error(p)


def test_duplicate_check_of_a_long_list_is_linear() -> None:
    values = [*range(50_000), 49_999]
    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match=r"grid\.n: repeated value"):
        config_mod._check_grid({"n": values}, "f.toml", "grid")
    assert time.perf_counter() - t0 < 2.0


def test_numerically_equal_values_are_duplicates(tmp_path: Path) -> None:
    p = write(tmp_path, HEAD + "[grid]\nn = [3, 3.0]\n")
    msg = load_error(p)
    assert "grid.n" in msg and "repeated value" in msg and "3" in msg


def test_bool_and_int_are_not_duplicates() -> None:
    out = config_mod._check_grid({"flag": [True, 1]}, "f.toml", "grid")
    assert out["flag"] == (True, 1)


# ---------------------------------------------------------------------- figure text
@pytest.mark.parametrize("key", ["title", "xlabel", "ylabel"])
def test_bad_mathtext_fails_at_load(key: str) -> None:
    pytest.importorskip("matplotlib")
    with pytest.raises(ConfigError, match=key):
        figure_spec_from_dict({"x": "n", "quantities": ["risk"], key: "$\\frac{$"}, "fig 1")


def test_bad_mathtext_in_heatmap_colorbar_label_fails_at_load() -> None:
    pytest.importorskip("matplotlib")
    entry = {
        "kind": "heatmap",
        "x": "n",
        "y": "d",
        "quantity": "risk",
        "colorbar_label": "$\\sqrt{$",
    }
    with pytest.raises(ConfigError, match="colorbar_label"):
        figure_spec_from_dict(entry, "fig 1")


def test_good_mathtext_and_plain_dollars_pass() -> None:
    spec = figure_spec_from_dict(
        {"x": "n", "quantities": ["risk"], "title": r"risk vs $n/d$", "ylabel": "costs $5"},
        "fig 1",
    )
    assert spec.title == r"risk vs $n/d$"


def test_bad_mathtext_in_a_config_fails_before_the_report_runs(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from finetune_bounds.report import build

    text = HEAD + '[grid]\nn = [3, 4]\n[[figure]]\nx = "n"\nquantities = ["mean_square"]\n'
    p = write(tmp_path, text + 'title = "$\\\\frac{$"\n')
    # refused when the config loads (so `finetune-bounds sweep` too), before the report runs
    with pytest.raises(ConfigError, match=r"figure 1: title = .*invalid math text"):
        load_config(p)
    assert build._prepare is not None
