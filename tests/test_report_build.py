"""End to end: configs → sweep → report folder; the HTML page (links, figures, tables) checked
statically and in a real headless browser; the ``finetune-bounds report`` command."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import numpy as np
import pandas as pd
import pytest

from _toy_family import register

pytest.importorskip("matplotlib")

from finetune_bounds.cli import main as cli_main
from finetune_bounds.errors import ConfigError
from finetune_bounds.report import ReportResult, build_report
from finetune_bounds.report.figures import COLORBLIND
from finetune_bounds.sweep import Store, SweepError, load_config

TOY = """\
name = "toy_report"
family = "toy"
title = "Toy <experiment> & friends"
description = "Mean of n squared Gaussians: theory s², bound 2s², measured over seeds."
seeds = 4

[params]
d = 2

[grid]
n = [4, 8, 16]
kind = ["a", "b"]

[derived]
scale = "1 + n / 16"

[quick]
seeds = 3
[quick.grid]
n = [4, 16]

[[figure]]
x = "n"
quantities = ["mean_square"]
facet = "kind"
logx = true
logy = true
title = "Mean square vs n"

[[figure]]
x = "n"
quantities = ["first_draw"]
title = "First draw"

[[table]]
quantities = ["mean_square"]
index = ["n"]
columns = ["source", "method"]
title = "Mean square | by n"

[[table]]
quantities = ["first_draw"]
index = ["n", "kind"]
columns = ["source"]
title = "First draw"
"""

THEORY_ONLY = """\
name = "toy_theory"
family = "toy"
title = "Theory only"
seeds = 0

[grid]
scale = [1.0, 2.0]

[[table]]
quantities = ["mean_square"]
index = ["scale"]
title = "Theory and bound"
"""


def write_configs(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / "toy_report.toml", folder / "toy_theory.toml"]
    paths[0].write_text(TOY)
    paths[1].write_text(THEORY_ONLY)
    return paths


@pytest.fixture(autouse=True)
def _toy(monkeypatch: pytest.MonkeyPatch) -> None:
    register(monkeypatch)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReportResult]:
    """One quick report of both toy configs, shared by the read-only tests below."""
    base = tmp_path_factory.mktemp("report")
    with pytest.MonkeyPatch.context() as mp:
        register(mp)
        configs = write_configs(base / "configs")
        yield build_report(configs, base / "out", quick=True)


# ---------------------------------------------------------------------- build_report
def test_result_lists_every_output(report: ReportResult) -> None:
    out = report.out_dir
    assert report.html == out / "index.html" and report.html.is_file()
    assert Path(report.store).resolve() == (out / "results.sqlite").resolve()
    toy, theory = report.experiments
    assert (toy.name, toy.seeds, toy.cells, toy.ran, toy.skipped) == ("toy_report", 3, 4, 4, 0)
    assert (theory.cells, theory.seeds, len(theory.figures)) == (2, 0, 0)
    assert len(report.figures) == 4  # 2 figures × (png, svg)
    assert len(report.tables) == 9  # 3 tables × (md, csv, tex)
    for p in (*report.figures, *report.tables, *report.data):
        assert p.is_file() and p.stat().st_size > 0, p
    assert {p.parent.name for p in report.figures} == {"toy_report"}
    assert set(report.timing) == {"sweep", "render", "total"}
    assert report.timing["total"] >= report.timing["render"] > 0
    text = report.summary()
    assert "toy_report" in text and "toy_theory" in text and "total" in text


def test_tidy_csv_and_tables_agree_with_an_independent_summary(report: ReportResult) -> None:
    toy = report.experiments[0]
    data = pd.read_csv(toy.data)
    assert len(data) == toy.rows
    assert sorted(data["n"].unique()) == [4, 16]  # the quick grid
    emp = data[(data.quantity == "mean_square") & (data.source == "empirical")]
    assert sorted(emp["seed"].unique()) == [0, 1, 2]
    table_csv = next(p for p in toy.tables[0].paths if p.suffix == ".csv")
    t = pd.read_csv(table_csv)
    for n in (4, 16):
        for kind in ("a", "b"):
            v = emp[(emp.n == n) & (emp.kind == kind)]["value"].to_numpy()
            row = t[(t.n == n) & (t.kind == kind) & (t.source == "empirical")].iloc[0]
            assert row["mean"] == pytest.approx(v.mean(), rel=1e-12)
            assert row["stderr"] == pytest.approx(v.std(ddof=1) / np.sqrt(len(v)), rel=1e-12)
            theory = t[(t.n == n) & (t.kind == kind) & (t.source == "theory")].iloc[0]
            assert theory["mean"] == pytest.approx((1 + n / 16) ** 2)
    # `kind` is a grid parameter missing from the table's index: added as a row key so that
    # no cell pools two grid points; `scale = 1 + n/16` is determined by n and is not added
    assert toy.tables[0].table.auto_index == ("kind",)


def test_rerun_reuses_the_store_and_cleans_stale_files(tmp_path: Path) -> None:
    configs = write_configs(tmp_path / "configs")
    out = tmp_path / "out"
    first = build_report(configs[:1], out, quick=True, formats=("png",))
    folder = out / "toy_report"
    (folder / "fig9_old.png").write_bytes(b"stale")
    (folder / "notes.txt").write_text("mine")
    second = build_report(configs[:1], out, quick=True, formats=("png",))
    exp = second.experiments[0]
    assert (exp.ran, exp.skipped) == (0, exp.cells)
    assert not (folder / "fig9_old.png").exists()
    assert (folder / "notes.txt").exists()  # not a report file: kept
    for a, b in zip(first.tables, second.tables, strict=True):
        assert a.read_bytes() == b.read_bytes()
    with Store(out / "results.sqlite") as st:
        assert len(st.frame("toy_report")) == exp.rows


def test_full_mode_and_explicit_store(tmp_path: Path) -> None:
    configs = write_configs(tmp_path / "configs")
    cfg = load_config(configs[1])
    r = build_report(cfg, tmp_path / "full", store=tmp_path / "elsewhere.sqlite")
    assert r.quick is False and (tmp_path / "elsewhere.sqlite").is_file()
    assert not (tmp_path / "full" / "results.sqlite").exists()
    assert r.experiments[0].cells == 2


def test_bad_specs_fail_before_any_sweep(tmp_path: Path) -> None:
    p = tmp_path / "bad.toml"
    p.write_text(TOY.replace('title = "First draw"\n\n[[table]]', 'titel = "x"\n\n[[table]]', 1))
    with pytest.raises(ConfigError, match=r"bad.toml: figure 2: unknown key\(s\) \['titel'\]"):
        build_report([p], tmp_path / "out", quick=True)
    assert not (tmp_path / "out" / "results.sqlite").exists()
    q = tmp_path / "typo.toml"
    q.write_text(TOY.replace('quantities = ["first_draw"]\ntitle', 'quantities = ["frist"]\ntitle'))
    with pytest.raises(ConfigError, match=r"figure 2: no quantity \['frist'\]"):
        build_report([q], tmp_path / "out2", quick=True)


def test_duplicate_names_and_empty_list(tmp_path: Path) -> None:
    configs = write_configs(tmp_path / "configs")
    with pytest.raises(ConfigError, match="unique"):
        build_report([configs[0], configs[0]], tmp_path / "out")
    with pytest.raises(ConfigError, match="no experiment configs"):
        build_report([], tmp_path / "out")
    with pytest.raises(ConfigError, match="workers"):
        build_report(configs, tmp_path / "out", workers=0)


def test_failed_cells_raise_sweep_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    configs = write_configs(tmp_path / "configs")
    monkeypatch.setenv("FB_TOY_FAIL_N", "16")
    with pytest.raises(SweepError, match="toy failure"):
        build_report(configs[:1], tmp_path / "out", quick=True)


@pytest.mark.slow
def test_process_executor_gives_the_same_tables(tmp_path: Path) -> None:
    configs = write_configs(tmp_path / "configs")
    a = build_report(configs, tmp_path / "a", quick=True, formats=("png",))
    b = build_report(
        configs, tmp_path / "b", quick=True, executor="processes", workers=2, formats=("png",)
    )
    for x, y in zip(a.tables, b.tables, strict=True):
        assert x.read_bytes() == y.read_bytes()


@pytest.mark.slow
def test_every_real_family_renders(tmp_path: Path) -> None:
    """A one-cell, one-seed config per registered family, at its defaults, renders a table."""
    from finetune_bounds.families import _REGISTRY, available_families

    names = [f for f in available_families() if f in _REGISTRY and not f.startswith("toy")]
    if not names:
        pytest.skip("no model family is importable in this build")
    paths = []
    for name in names:
        p = tmp_path / f"{name}.toml"
        p.write_text(f'name = "{name}_smoke"\nfamily = "{name}"\nseeds = 1\n\n[[table]]\n')
        paths.append(p)
    r = build_report(paths, tmp_path / "out", formats=("png",))
    assert all(e.rows > 0 and len(e.tables) == 1 for e in r.experiments)


# ---------------------------------------------------------------------- the HTML page
class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.imgs: list[dict[str, str]] = []
        self.hrefs: list[str] = []
        self.ids: set[str] = set()
        self.tables = 0
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags.append(tag)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "img":
            self.imgs.append(a)
        if tag == "a" and "href" in a:
            self.hrefs.append(a["href"])
        if tag == "table":
            self.tables += 1

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def test_html_shows_every_figure_and_table_and_links_resolve(report: ReportResult) -> None:
    out = report.out_dir
    page = _parse(report.html)
    pngs = [p for p in report.figures if p.suffix == ".png"]
    assert sorted(unquote(i["src"]) for i in page.imgs) == sorted(
        p.relative_to(out).as_posix() for p in pngs
    )
    assert all(len(i["alt"]) > 20 for i in page.imgs)
    n_tables = sum(len(e.tables) for e in report.experiments)
    assert page.tables == n_tables
    linked = {unquote(h) for h in page.hrefs if not h.startswith("#")}
    for p in (*report.figures, *report.tables, *report.data):
        assert p.relative_to(out).as_posix() in linked, p
    for h in page.hrefs:
        if h.startswith("#"):
            assert h[1:] in page.ids, h
        else:
            assert (out / unquote(h)).is_file(), h
    text = " ".join(page.text)
    for e in report.experiments:
        assert e.title in text and e.name in page.ids
    for word in ("finetune-bounds 0.", "quick", "UTC", "toy_report: 3"):
        assert word in text, word
    assert "Mean square | by n" in text  # table caption, unescaped by the parser


def test_html_is_self_contained_and_escaped(report: ReportResult) -> None:
    raw = report.html.read_text(encoding="utf-8")
    page = _parse(report.html)
    assert "link" not in page.tags  # no external stylesheet
    assert raw.count("<script") == 1 and "src=" not in raw.split("<script")[1]
    for url in [i["src"] for i in page.imgs] + page.hrefs:  # relative paths only, no network
        assert ":" not in url and not url.startswith("/"), url
    assert "http" not in raw.split("<body>")[0]  # nothing fetched by the head either
    assert "Toy &lt;experiment&gt; &amp; friends" in raw


# ---------------------------------------------------------------------- a real browser
CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)
browser = pytest.mark.skipif(
    CHROMIUM is None, reason="needs a headless chromium (apt-get install chromium)"
)


def _chromium(page: Path, tmp: Path, *mode: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={tmp / 'chromium-profile'}",
        "--window-size=1200,3000",
        *mode,
        page.resolve().as_uri(),
    ]
    env = {**os.environ, "HOME": str(tmp)}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, check=True)


def _dom_attrs(page: Path, tmp: Path) -> dict[str, Any]:
    dom = _chromium(page, tmp, "--dump-dom").stdout
    m = re.search(r"<html[^>]*>", dom)
    assert m, dom[:200]
    attrs = dict(re.findall(r'(data-[a-z-]+)="([^"]*)"', m.group()))
    warning = re.search(r'<p id="image-warning"[^>]*>([^<]*)</p>', dom)
    attrs["warning"] = warning.group(0) if warning else ""
    return attrs


@pytest.mark.browser
@browser
def test_browser_loads_every_figure(report: ReportResult, tmp_path: Path) -> None:
    """Open index.html from disk in headless chromium: the page's own script finds every
    <img> complete with naturalWidth > 0 (and a copy with a missing PNG is caught)."""
    n = len([p for p in report.figures if p.suffix == ".png"])
    attrs = _dom_attrs(report.html, tmp_path)
    assert attrs["data-images-total"] == str(n) and n == 2
    assert attrs["data-images-loaded"] == str(n)
    assert attrs["data-images-ok"] == "true"
    assert "hidden" in attrs["warning"]

    # negative control: the same page with one figure missing must be reported broken
    broken = tmp_path / "broken"
    shutil.copytree(report.out_dir, broken, ignore=shutil.ignore_patterns("*.sqlite*"))
    victim = next(p for p in report.figures if p.suffix == ".png").relative_to(report.out_dir)
    (broken / victim).unlink()
    attrs = _dom_attrs(broken / "index.html", tmp_path)
    assert attrs["data-images-ok"] == "false"
    assert attrs["data-images-loaded"] == str(n - 1)
    assert "hidden" not in attrs["warning"] and "failed to load" in attrs["warning"]


@pytest.mark.browser
@browser
def test_browser_screenshot_shows_the_plots(report: ReportResult, tmp_path: Path) -> None:
    """Pixels of the first palette colour (the plotted lines; the page's CSS never uses it)
    appear in a screenshot of the page, and vanish when the PNGs are removed."""
    from matplotlib.image import imread

    def colour_pixels(page: Path, name: str) -> int:
        shot = tmp_path / name
        _chromium(page, tmp_path, f"--screenshot={shot}")
        img = imread(shot)[..., :3]
        target = np.array([int(COLORBLIND[0][i : i + 2], 16) / 255 for i in (1, 3, 5)])
        return int(np.sum(np.all(np.abs(img - target) < 0.05, axis=-1)))

    assert colour_pixels(report.html, "ok.png") > 200
    bare = tmp_path / "bare"
    shutil.copytree(report.out_dir, bare, ignore=shutil.ignore_patterns("*.png", "*.sqlite*"))
    assert colour_pixels(bare / "index.html", "bare.png") == 0


# ---------------------------------------------------------------------- the command
def test_cli_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    configs = write_configs(tmp_path / "configs")
    out = tmp_path / "out"
    code = cli_main(
        ["report", "--quick", "--config", str(configs[1]), "--out", str(out), "--no-progress"]
    )
    assert code == 0
    stdout = capsys.readouterr().out
    assert f"report: {out / 'index.html'}" in stdout
    assert "toy_theory" in stdout and "experiment" in stdout
    assert (out / "index.html").is_file()


def test_cli_writes_the_quick_report_to_its_default_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # (without --config the report runs the shipped configs: tests/test_shipped_configs.py)
    paths = write_configs(tmp_path / "configs")
    monkeypatch.chdir(tmp_path)
    given = [a for p in paths if p.name != "toy_report.toml" for a in ("--config", str(p))]
    assert cli_main(["report", "--quick", "--no-progress", *given]) == 0
    assert (tmp_path / "reports" / "quick" / "index.html").is_file()
    assert "reports/quick/index.html" in capsys.readouterr().out


def test_cli_errors_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # (no --config: the shipped configs; tests/test_shipped_configs.py)
    assert cli_main(["report", "--config", "missing.toml"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "not found" in err and "shipped" in err
    assert cli_main(["report", "--config", "missing.toml", "--workers", "0"]) == 2
    assert "--workers" in capsys.readouterr().err
