"""The dispatcher: usage errors of every command are one line on stderr with exit status 2."""

from __future__ import annotations

import pytest

from finetune_bounds.cli import main


@pytest.mark.parametrize(
    "argv",
    [
        ["linear", "--bogus"],
        ["nope"],
        ["deep-linear", "--n"],
        ["relu", "--width", "many"],
        ["sweep"],
    ],
)
def test_usage_errors_are_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "error:" in err and "Traceback" not in err


def test_no_command_prints_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "linear" in capsys.readouterr().out


def test_empty_csv_is_one_line_without_warning(
    tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    e = str(empty)
    code = main(["linear", "--spectrum", e, "--source", e, "--target", e])
    assert code == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "is empty" in err


def test_deep_linear_rejects_freezing_every_layer(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["deep-linear", "--example", "reference", "--n", "3", "--depth", "2", "inf"]
    assert main([*argv, "--frozen-layers", "5", "--draws", "4"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "leaves nothing to fine-tune at depth 2" in err
    assert main([*argv, "--frozen-layers", "1", "--draws", "4"]) == 0


def test_deep_linear_gd_reports_unconverged_runs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import dataclasses

    import numpy as np

    from finetune_bounds.deep_linear import simulate as sim

    real_train = sim.train

    def half_converged(*args, **kwargs):  # the first half of the designs "did not converge"
        res = real_train(*args, **kwargs)
        flags = np.array(res.converged, copy=True)
        flags[: flags.size // 2] = False
        return dataclasses.replace(res, converged=flags)

    monkeypatch.setattr(sim, "train", half_converged)
    argv = ["deep-linear", "--example", "reference", "--n", "10", "--depth", "2"]
    assert main([*argv, "--method", "gd", "--draws", "4"]) == 0
    out, err = capsys.readouterr()
    assert "GD converged" in out and "50%" in out
    assert "did not converge" in err


def test_each_command_name_maps_to_the_module_that_registers_it() -> None:
    """`finetune-bounds NAME …` imports only NAME's module (start-up ~0.4 s instead of ~1.5 s):
    the name table must match what the modules register."""
    import finetune_bounds.cli as c

    full = c.build_parser()
    choices = full._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert list(choices) == list(c._BY_NAME)
    for name in c._BY_NAME:
        one = c.build_parser(name)
        assert list(one._subparsers._group_actions[0].choices) == [name]  # type: ignore[union-attr]


def test_a_failing_command_prints_one_line_even_after_warnings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """RuntimeWarnings used to be printed before the one error line; now a failing command
    prints only its error, and a succeeding one prints each distinct warning once, after."""
    import warnings

    import finetune_bounds.cli as c
    from finetune_bounds.errors import InvalidInputError

    def fails(args: object) -> int:
        warnings.warn("overflow encountered", UserWarning, stacklevel=1)
        raise InvalidInputError("bad input")

    def succeeds(args: object) -> int:
        for _ in range(3):
            warnings.warn("careful", UserWarning, stacklevel=1)
        print("table")
        return 0

    real = c.build_parser

    def patched(only: str | None = None):  # type: ignore[no-untyped-def]
        p = real(only)
        p.set_defaults(func=fails if monkeypatch_state["fail"] else succeeds)
        sub = p._subparsers._group_actions[0].choices  # type: ignore[union-attr]
        for sp in sub.values():
            sp.set_defaults(func=fails if monkeypatch_state["fail"] else succeeds)
        return p

    monkeypatch_state = {"fail": True}
    monkeypatch.setattr(c, "build_parser", patched)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert c.main(["run", "linear"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err == ["finetune-bounds run: error: bad input"]
        monkeypatch_state["fail"] = False
        assert c.main(["run", "linear"]) == 0
        out, err2 = capsys.readouterr()
        assert out.strip() == "table"
        assert err2.strip().splitlines() == ["finetune-bounds run: warning: UserWarning: careful"]
