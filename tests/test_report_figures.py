"""Figures: drawn lines carry the right data and style; files are written and not blank;
non-finite values never crash a plot."""

from __future__ import annotations

import math
import sys

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("matplotlib")

from matplotlib.colors import to_rgb
from matplotlib.container import ErrorbarContainer

from finetune_bounds.errors import ConfigError
from finetune_bounds.report import draw_figure, plot_figure
from finetune_bounds.report.figures import COLORBLIND

NS = (10, 20, 50, 100)
EMP = {10: [1.0, 2.0, 4.0], 20: [3.0, 5.0, 4.0], 50: [2.0, 2.0, 5.0], 100: [1.0, 1.5, 2.0]}


def _frame(spectra=("flat", "spiked")) -> pd.DataFrame:
    rows = []
    for k, spectrum in enumerate(spectra):
        for n in NS:
            base = {"family": "toy", "experiment": "e", "n": n, "spectrum": spectrum, "d": 4}
            rows.append(
                base
                | dict(
                    quantity="risk",
                    source="theory",
                    seed=-1,
                    value=k + 10 / n,
                    method="closed_form",
                )
            )
            rows.append(
                base | dict(quantity="risk", source="bound", seed=-1, value=k + 30 / n, method=None)
            )
            for s, v in enumerate(EMP[n]):
                rows.append(
                    base
                    | dict(quantity="risk", source="empirical", seed=s, value=k + v, method="gd")
                )
            rows.append(
                base
                | dict(
                    quantity="bias", source="theory", seed=-1, value=k + 1.0, method="closed_form"
                )
            )
    return pd.DataFrame(rows)


def _lines(fig):
    """label → artist, over every axes."""
    out = {}
    for ax in fig.axes:
        for line in ax.get_lines():
            if not line.get_label().startswith("_"):
                out.setdefault((ax, line.get_label()), line)
        for c in ax.containers:
            if isinstance(c, ErrorbarContainer):
                out.setdefault((ax, c.get_label()), c)
    return out


def test_styles_and_data_of_each_source() -> None:
    d = draw_figure(_frame(), {"x": "n", "quantities": ["risk"], "facet": "spectrum"})
    fig = d.figure
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 2
    assert d.lines == ("risk · theory · closed_form", "risk · bound", "risk · empirical · gd")
    arts = _lines(fig)
    ax0 = axes[0]  # spectrum = flat
    theory = arts[(ax0, "risk · theory · closed_form")]
    bound = arts[(ax0, "risk · bound")]
    emp = arts[(ax0, "risk · empirical · gd")]
    assert theory.get_linestyle() == "-"
    assert bound.get_linestyle() == "--"
    np.testing.assert_allclose(theory.get_xdata(), NS)
    np.testing.assert_allclose(theory.get_ydata(), [10 / n for n in NS])
    np.testing.assert_allclose(bound.get_ydata(), [30 / n for n in NS])
    # empirical: markers only, at the seed mean, with bars of ± one standard error
    data_line, _caps, (bars,) = emp.lines
    assert data_line.get_linestyle() in ("None", "none", "")
    assert data_line.get_marker() not in (None, "None", "")
    means = [np.mean(EMP[n]) for n in NS]
    ses = [np.std(EMP[n], ddof=1) / math.sqrt(len(EMP[n])) for n in NS]
    np.testing.assert_allclose(np.asarray(data_line.get_ydata(), float), means, rtol=1e-12)
    segs = bars.get_segments()
    np.testing.assert_allclose([s[0][1] for s in segs], np.subtract(means, ses), rtol=1e-12)
    np.testing.assert_allclose([s[1][1] for s in segs], np.add(means, ses), rtol=1e-12)
    # one colour per quantity: theory, bound and measurement of `risk` share it
    c = to_rgb(COLORBLIND[0])
    assert to_rgb(theory.get_color()) == c and to_rgb(bound.get_color()) == c
    assert to_rgb(data_line.get_color()) == c
    # the second panel holds the spiked values (shifted by 1)
    ax1 = axes[1]
    np.testing.assert_allclose(
        arts[(ax1, "risk · theory · closed_form")].get_ydata(), [1 + 10 / n for n in NS]
    )
    assert ax0.get_title() == "spectrum = flat" and ax1.get_title() == "spectrum = spiked"


def test_unlisted_parameter_splits_lines_and_hue_sets_colour() -> None:
    d = draw_figure(_frame(), {"x": "n", "quantities": ["risk", "bias"], "hue": "spectrum"})
    assert "risk · theory · closed_form · spectrum=spiked" in d.lines
    assert len(d.lines) == 8
    arts = _lines(d.figure)
    colors = {
        label: to_rgb(a.get_color())
        for (_, label), a in arts.items()
        if not isinstance(a, ErrorbarContainer)
    }
    assert (
        colors["risk · theory · closed_form · spectrum=flat"]
        == colors["bias · theory · closed_form · spectrum=flat"]
    )
    assert (
        colors["risk · theory · closed_form · spectrum=flat"]
        != colors["risk · theory · closed_form · spectrum=spiked"]
    )


def test_log_axes_and_infinite_values_are_left_out_with_a_note() -> None:
    frame = _frame()
    frame.loc[(frame.source == "bound") & (frame.n == 10), "value"] = np.inf
    frame.loc[(frame.quantity == "bias") & (frame.n == 20), "value"] = 0.0  # not on a log axis
    d = draw_figure(frame, {"x": "n", "facet": "spectrum", "logx": True, "logy": True})
    ax = d.figure.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    bound = _lines(d.figure)[(ax, "risk · bound")]
    np.testing.assert_allclose(bound.get_xdata(), NS[1:])
    assert any("risk · bound" in n and "non-finite" in n and "2 point" in n for n in d.notes)
    assert any("bias" in n and "non-positive" in n for n in d.notes)
    assert "log x, log y" in d.alt


def test_all_infinite_panel_does_not_crash(tmp_path) -> None:
    frame = _frame()
    frame.loc[frame.spectrum == "spiked", "value"] = np.inf
    r = plot_figure(
        frame, {"x": "n", "facet": "spectrum", "logy": True}, tmp_path / "f", formats=("png",)
    )
    assert r.paths[0].stat().st_size > 0
    assert any("non-finite" in n for n in r.notes)
    frame["value"] = np.inf
    r = plot_figure(frame, {"x": "n"}, tmp_path / "g", formats=("png",))
    assert r.points == 0 and r.paths[0].exists()


def test_categorical_x() -> None:
    d = draw_figure(_frame(), {"x": "spectrum", "quantities": ["bias"], "logx": True})
    assert any("not numeric" in n for n in d.notes)
    assert d.figure.axes[0].get_xscale() == "linear"


def test_files_written_and_not_blank(tmp_path) -> None:
    from matplotlib.image import imread

    r = plot_figure(
        _frame(),
        {"x": "n", "quantities": ["risk"], "facet": "spectrum", "title": "Risk vs n"},
        tmp_path / "risk",
        dpi=80,
    )
    png, svg = r.paths
    assert png.suffix == ".png" and svg.suffix == ".svg"
    assert svg.read_text().lstrip().startswith("<?xml") and "<svg" in svg.read_text()
    img = imread(png)[..., :3]
    assert img.shape[0] > 200 and img.shape[1] > 400
    background = np.all(img > 0.97, axis=-1)
    assert 0.02 < 1 - background.mean() < 0.6  # drawn, but not a filled rectangle
    # pixels of the risk colour (theory/bound/measurement lines) are present
    target = np.array(to_rgb(COLORBLIND[0]))
    assert np.sum(np.all(np.abs(img - target) < 0.03, axis=-1)) > 100
    assert r.title == "Risk vs n" and "Risk vs n" in r.alt and r.points == 24


def test_svg_is_reproducible(tmp_path) -> None:
    spec = {"x": "n", "quantities": ["risk"]}
    a = plot_figure(_frame(), spec, tmp_path / "a", formats=("svg",)).paths[0].read_text()
    b = plot_figure(_frame(), spec, tmp_path / "b", formats=("svg",)).paths[0].read_text()
    assert a == b


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ({"quantities": ["risk"]}, "missing required key 'x'"),
        ({"x": "n", "quantities": ["rsik"]}, "no quantity"),
        ({"x": "m"}, "no column"),
        ({"x": "n", "facet": "kind"}, "no column"),
        ({"x": "n", "logy": "yes"}, "true or false"),
        ({"x": "n", "colour": "spectrum"}, "unknown key"),
        ({"x": "n", "facet": "n"}, "same column"),
        ({"x": "value"}, "not a grouping column"),
    ],
)
def test_bad_specs(spec, match) -> None:
    with pytest.raises(ConfigError, match=match):
        draw_figure(_frame(), spec)


def test_bad_format(tmp_path) -> None:
    with pytest.raises(ConfigError, match="formats"):
        plot_figure(_frame(), {"x": "n"}, tmp_path / "f", formats=("jpg",))


def test_missing_matplotlib_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ConfigError, match=r"finetune-bounds\[plot\]"):
        draw_figure(_frame(), {"x": "n"})
