"""Sweep configs: schema validation (file and key named), safe derived expressions, quick
overrides, cell resolution order."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from _toy_family import register, write
from finetune_bounds.errors import ConfigError
from finetune_bounds.sweep import SweepConfig, expr, load_config

GOOD = """
name = "toy_demo"
family = "toy"
title = "Toy"
description = "A toy sweep."
seeds = 4

[params]
d = 2

[grid]
n = [5, 10]
ratio = [0.5, 1.5]

[derived]
scale = "ratio * 2"

[quick]
seeds = 1
[quick.grid]
n = [3]

[[figure]]
x = "n"
quantities = ["mean_square"]

[[table]]
quantities = ["mean_square"]
index = ["n"]
"""


@pytest.fixture(autouse=True)
def _toy(monkeypatch: pytest.MonkeyPatch) -> None:
    register(monkeypatch)


def test_good_config_fields_and_cells(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD))
    assert (cfg.name, cfg.family, cfg.title, cfg.seeds) == ("toy_demo", "toy", "Toy", 4)
    assert cfg.grid == {"n": (5, 10), "ratio": (0.5, 1.5)}
    assert cfg.figures == ({"x": "n", "quantities": ["mean_square"]},)
    assert cfg.tables[0]["index"] == ["n"]
    cells = cfg.cells()
    # row-major product, last key fastest; defaults <- params <- grid <- derived <- derive
    assert [(c["n"], c["ratio"]) for c in cells] == [(5, 0.5), (5, 1.5), (10, 0.5), (10, 1.5)]
    assert cells[1] == {"d": 2, "n": 5, "scale": 3.0, "kind": "gauss", "aspect": 2.5, "ratio": 1.5}
    spec = cfg.cell_specs()[1]
    assert "ratio" not in spec.params and spec.extra == {"ratio": 1.5}  # auxiliary value
    assert len({c.key for c in cfg.cell_specs()}) == 4


def test_quick_overrides(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD))
    q = cfg.quick()
    assert q.is_quick and q.seeds == 1 and q.grid["n"] == (3,) and q.grid["ratio"] == (0.5, 1.5)
    assert q.quick() is q
    assert [c["n"] for c in q.cells()] == [3, 3]
    # a quick param takes a key out of the grid
    cfg2 = SweepConfig.from_dict(
        {"name": "a", "family": "toy", "grid": {"n": [1, 2]}, "quick": {"params": {"n": 7}}}
    )
    assert cfg2.quick().grid == {} and cfg2.quick().cells()[0]["n"] == 7
    # no [quick] table: same cells
    cfg3 = SweepConfig.from_dict({"name": "a", "family": "toy", "grid": {"n": [1, 2]}})
    assert cfg3.quick().cells() == cfg3.cells()


def test_family_default_and_derive_order() -> None:
    # a derived value overrides a family default; Family.derive sees the derived value
    cfg = SweepConfig.from_dict(
        {"name": "a", "family": "toy", "params": {"d": 4}, "derived": {"n": "d * 3"}}
    )
    (cell,) = cfg.cells()
    assert cell["n"] == 12 and cell["aspect"] == 3.0
    # later derived expressions read earlier ones
    cfg = SweepConfig.from_dict(
        {"name": "a", "family": "toy", "derived": {"n": "d + 1", "scale": "n / 10"}}
    )
    assert cfg.cells()[0]["scale"] == 0.5


BAD_CASES = [
    ('name = "x"\nfamily = "toy"\nsedes = 3\n', "sedes"),
    ('name = "x"\nfamily = "toy"\nseeds = "3"\n', "seeds"),
    ('name = "x"\nfamily = "toy"\nseeds = -1\n', "seeds"),
    ('name = "x"\nfamily = "toy"\n[grid]\nn = []\n', "grid.n"),
    ('name = "x"\nfamily = "toy"\n[grid]\nn = 3\n', "grid.n"),
    ('name = "x"\nfamily = "toy"\n[grid]\nn = [1, 1]\n', "grid.n"),
    ('name = "X-1"\nfamily = "toy"\n', "name"),
    ('family = "toy"\n', "name"),
    ('name = "x"\nfamily = "nope"\n', "nope"),
    ('name = "x"\nfamily = "toy"\n[params]\nwidth = 3\n', "width"),
    ('name = "x"\nfamily = "toy"\n[grid]\nwidth = [3]\n', "width"),
    ('name = "x"\nfamily = "toy"\n[params]\nn = [1, 2]\n', "params.n"),
    ('name = "x"\nfamily = "toy"\n[params]\nscale = nan\n', "params.scale"),
    ('name = "x"\nfamily = "toy"\n[params]\nn = 2\n[grid]\nn = [1]\n', "['n']"),
    ('name = "x"\nfamily = "toy"\n[derived]\nn = "d +"\n', "derived.n"),
    ('name = "x"\nfamily = "toy"\n[derived]\nn = "foo * 2"\n', "derived.n"),
    ('name = "x"\nfamily = "toy"\n[derived]\nn = 3\n', "derived.n"),
    ('name = "x"\nfamily = "toy"\n[derived]\nn = "__import__(\'os\')"\n', "derived.n"),
    ('name = "x"\nfamily = "toy"\n[derived]\nn = "d.real"\n', "derived.n"),
    ('name = "x"\nfamily = "toy"\n[derived]\nn = "2 ** 100000"\n', "derived.n"),
    ('name = "x"\nfamily = "toy"\n[grid]\nd = [0, 1]\n[derived]\nn = "4 // d"\n', "derived.n"),
    ('name = "x"\nfamily = "toy"\n[derived]\nscale = "1e308 * 10"\n', "derived.scale"),
    ('name = "x"\nfamily = "toy"\n[params]\nn = 2\n[derived]\nn = "d"\n', "derived"),
    ('name = "x"\nfamily = "toy"\n[params]\nseed = 2\n', "seed"),
    ('name = "x"\nfamily = "toy"\n[quick]\nseds = 2\n', "quick"),
    ('name = "x"\nfamily = "toy"\n[quick]\nseeds = 2.5\n', "seeds"),
    ('name = "x"\nfamily = "toy"\n[quick.grid]\nn = []\n', "grid.n"),
    ('name = "x"\nfamily = "toy"\nfigure = 3\n', "figure"),
    ('name = "x"\nfamily = "toy"\nparams = 3\n', "params"),
    ('name = "x"\nfamily = "toy"\n[grid]\nn = [1, 2]\n[derived]\nd = "n - n"\n', None),
    ('name = "x"\nfamily = "toy"\nseeds = [\n', "invalid TOML"),
]


@pytest.mark.parametrize(("text", "needle"), BAD_CASES)
def test_bad_configs_name_file_and_key(tmp_path: Path, text: str, needle: str | None) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    msg = str(info.value)
    assert str(path) in msg
    if needle is not None:
        assert needle in msg


def test_aux_value_must_be_used() -> None:
    with pytest.raises(ConfigError, match="ratio"):
        SweepConfig.from_dict({"name": "a", "family": "toy", "grid": {"ratio": [1.0]}})


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")


def test_family_rejecting_a_cell_is_a_config_error() -> None:
    # Family.derive divides by d: a ZeroDivisionError there names the grid point
    with pytest.raises(ConfigError, match="rejects grid point"):
        SweepConfig.from_dict({"name": "a", "family": "toy", "grid": {"d": [0]}})


# ---------------------------------------------------------------------- expressions
def test_expr_functions() -> None:
    assert expr.evaluate("round(ratio * d)", {"ratio": 0.26, "d": 100}) == 26
    assert expr.evaluate("max(1, min(a, 3)) + abs(-2) + int(2.7) + float(1)", {"a": 5}) == 8.0
    assert expr.evaluate("-a ** 2 + 7 % 3 + 7 // 2", {"a": 2}) == -4 + 1 + 3
    assert expr.referenced_names(expr.parse("round(a * b) + max(c, 1)")) == {"a", "b", "c"}
    for bad in ("a if a else 1", "[a]", "lambda: 1", "a < 2", "'x'", "round(a, ndigits=1)"):
        with pytest.raises(expr.ExpressionError):
            expr.evaluate(bad, {"a": 1})


@given(
    a=st.integers(-1000, 1000),
    b=st.integers(1, 50),
    x=st.floats(-1e3, 1e3, allow_nan=False),
)
def test_expr_matches_python_arithmetic(a: int, b: int, x: float) -> None:
    """The evaluator computes what Python computes (an independent route: direct code)."""
    got = expr.evaluate("round(a / b) + a // b - a % b + max(a, b) * min(x, 2) - abs(x)", locals())
    want = round(a / b) + a // b - a % b + max(a, b) * min(x, 2) - abs(x)
    assert got == want


# ---------------------------------------------------------------------- file inputs
FILES_CONFIG = """
name = "my_task"
family = "linear"
seeds = 0
[params]
spectrum = "files"
spectrum_file = "{spectrum}"
source_file = "data/s.npy"
target_file = "data/t.npy"
[grid]
n = [5, 10]
[quick.params]
target_file = "data/t2.npy"
"""


def _task_folder(folder: Path, d: int = 4, shift: float = 0.5) -> Path:
    """A project folder with a config and its input files in data/ (relative paths)."""
    import numpy as np

    (folder / "data").mkdir(parents=True)
    np.save(folder / "data" / "lam.npy", np.linspace(1.0, 2.0, d))
    np.save(folder / "data" / "s.npy", np.ones(d))
    np.save(folder / "data" / "t.npy", np.ones(d) + shift)
    np.save(folder / "data" / "t2.npy", np.ones(d) - shift)
    return write(folder, FILES_CONFIG.format(spectrum="data/lam.npy"), "my_task.toml")


def test_file_params_are_relative_to_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _task_folder(tmp_path / "project")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # not the config's folder
    cfg = load_config(Path("..") / "project" / "my_task.toml")
    data = (tmp_path / "project" / "data").resolve()
    assert cfg.params["source_file"] == str(data / "s.npy")
    cells = cfg.cells()
    assert len(cells) == 2 and all(c["d"] == 4 and len(c["files_sha256"]) == 64 for c in cells)
    assert cells[0]["spectrum_file"] == str(data / "lam.npy")
    quick = cfg.quick()  # [quick] file params are relative to the config too
    assert quick.params["target_file"] == str(data / "t2.npy")
    assert quick.cells()[0]["files_sha256"] != cells[0]["files_sha256"]
    # absolute paths stay as they are
    absolute = write(
        tmp_path / "elsewhere",
        FILES_CONFIG.format(spectrum="data/lam.npy").replace("data/", f"{data}/"),
        "abs.toml",
    )
    assert load_config(absolute).cells() == cells
    # a config without a file keeps paths relative to the current folder
    monkeypatch.chdir(tmp_path / "project")
    mem = SweepConfig(
        name="m",
        family="linear",
        seeds=0,
        params={"spectrum": "files", "spectrum_file": "data/lam.npy",
                "source_file": "data/s.npy", "target_file": "data/t.npy"},
        grid={"n": (5, 10)},
    )
    assert mem.params["source_file"] == "data/s.npy"
    assert [c.key for c in mem.cell_specs()] == [c.key for c in cfg.cell_specs()]


def test_missing_file_names_the_config_the_key_and_the_resolved_path(tmp_path: Path) -> None:
    cfg_path = _task_folder(tmp_path)
    cfg_path.write_text(FILES_CONFIG.format(spectrum="data/nope.npy"))
    with pytest.raises(ConfigError) as exc:
        load_config(cfg_path)
    msg = str(exc.value)
    assert str(cfg_path) in msg and "params.spectrum_file" in msg
    assert str(tmp_path.resolve() / "data" / "nope.npy") in msg and "\n" not in msg
    (tmp_path / "data" / "t2.npy").unlink()  # a [quick] file is checked at load time too
    cfg_path.write_text(FILES_CONFIG.format(spectrum="data/lam.npy"))
    with pytest.raises(ConfigError, match=r"quick\.params\.target_file.*t2\.npy"):
        load_config(cfg_path)


def test_a_changed_file_gives_a_new_cell_key(tmp_path: Path) -> None:
    import numpy as np

    cfg_path = _task_folder(tmp_path)
    before = [c.key for c in load_config(cfg_path).cell_specs()]
    np.save(tmp_path / "data" / "t.npy", np.full(4, 7.0))  # same path, new content
    after = [c.key for c in load_config(cfg_path).cell_specs()]
    assert not set(before) & set(after)


def test_the_same_files_in_another_folder_give_the_same_cell_keys(tmp_path: Path) -> None:
    import shutil

    cfg_path = _task_folder(tmp_path / "a")
    keys = [c.key for c in load_config(cfg_path).cell_specs()]
    shutil.copytree(tmp_path / "a", tmp_path / "moved" / "b")  # the project folder moved
    moved = load_config(tmp_path / "moved" / "b" / "my_task.toml")
    assert [c.key for c in moved.cell_specs()] == keys
    assert moved.params["source_file"].startswith(str((tmp_path / "moved").resolve()))
    # a different file in the same role is a different cell
    other = tmp_path / "c"
    _task_folder(other, shift=0.25)
    assert not set(keys) & {c.key for c in load_config(other / "my_task.toml").cell_specs()}


def test_cell_key_ignores_paths_only_with_a_digest() -> None:
    from finetune_bounds.sweep import cell_key

    digest = "a" * 64
    with_digest = {"source_file": "/x/s.npy", "files_sha256": digest, "n": 3}
    assert cell_key("linear", 1, with_digest) == cell_key(
        "linear", 1, {**with_digest, "source_file": "/elsewhere/s.npy"}
    )
    assert cell_key("linear", 1, with_digest) != cell_key(
        "linear", 1, {**with_digest, "files_sha256": "b" * 64}
    )
    no_digest = {"source_file": "/x/s.npy", "n": 3}
    assert cell_key("linear", 1, no_digest) != cell_key(
        "linear", 1, {**no_digest, "source_file": "/y/s.npy"}
    )


# ---------------------------------------------------------------------- shipped configs
def test_example_configs_lists_every_shipped_config_and_each_loads() -> None:
    from finetune_bounds.sweep import example_configs

    shipped = example_configs()
    folder = Path(__file__).parents[1] / "src" / "finetune_bounds" / "configs"
    assert [p.name for p in shipped] == sorted(p.name for p in folder.glob("*.toml"))
    assert len(shipped) >= 20 and shipped == sorted(shipped)
    for p in shipped:
        cfg = load_config(p)
        assert cfg.name == p.stem and cfg.cells()
        cfg.quick().cells()


def test_shipped_configs_load_by_bare_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from finetune_bounds.sweep import example_configs

    monkeypatch.chdir(tmp_path)  # no configs/ here
    by_name = load_config("linear_power_law")
    assert by_name.name == "linear_power_law"
    assert by_name.path in example_configs()
    assert load_config("linear_power_law.toml").path == by_name.path
    with pytest.raises(ConfigError, match=r"not found.*shipped: .*linear_power_law") as exc:
        load_config("linear_power_lawx")
    assert "\n" not in str(exc.value)
    with pytest.raises(ConfigError, match="not found"):
        load_config("somewhere/linear_power_law")  # a path, not a bare name
    # a file of that name wins over the shipped config
    write(tmp_path, GOOD, "linear_power_law")
    assert load_config("linear_power_law").name == "toy_demo"
