"""Figures: drawn lines carry the right data and style; files are written and not blank;
non-finite values never crash a plot."""

from __future__ import annotations

import math
import sys

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("matplotlib")

from matplotlib.collections import PolyCollection
from matplotlib.colors import to_rgb
from matplotlib.container import ErrorbarContainer

from finetune_bounds.errors import ConfigError
from finetune_bounds.records import record, to_frame
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
    assert d.lines == (
        "risk E[R_n] · theory (closed form)",
        "risk E[R_n] · bound",
        "risk E[R_n] · empirical (GD)",
    )
    arts = _lines(fig)
    ax0 = axes[0]  # spectrum = flat
    theory = arts[(ax0, "risk E[R_n] · theory (closed form)")]
    bound = arts[(ax0, "risk E[R_n] · bound")]
    emp = arts[(ax0, "risk E[R_n] · empirical (GD)")]
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
        arts[(ax1, "risk E[R_n] · theory (closed form)")].get_ydata(), [1 + 10 / n for n in NS]
    )
    assert ax0.get_title() == "spectrum = flat" and ax1.get_title() == "spectrum = spiked"


def test_unlisted_parameter_splits_lines_and_hue_sets_colour() -> None:
    d = draw_figure(_frame(), {"x": "n", "quantities": ["risk", "bias"], "hue": "spectrum"})
    assert "risk E[R_n] · spectrum = spiked · theory (closed form)" in d.lines
    assert len(d.lines) == 8
    arts = _lines(d.figure)
    colors = {
        label: to_rgb(a.get_color())
        for (_, label), a in arts.items()
        if not isinstance(a, ErrorbarContainer)
    }
    assert (
        colors["risk E[R_n] · spectrum = flat · theory (closed form)"]
        == colors["bias · spectrum = flat · theory (closed form)"]
    )
    assert (
        colors["risk E[R_n] · spectrum = flat · theory (closed form)"]
        != colors["risk E[R_n] · spectrum = spiked · theory (closed form)"]
    )


def test_log_axes_and_infinite_values_are_left_out_with_a_note() -> None:
    frame = _frame()
    frame.loc[(frame.source == "bound") & (frame.n == 10), "value"] = np.inf
    frame.loc[(frame.quantity == "bias") & (frame.n == 20), "value"] = 0.0  # not on a log axis
    d = draw_figure(frame, {"x": "n", "facet": "spectrum", "logx": True, "logy": True})
    ax = d.figure.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    bound = _lines(d.figure)[(ax, "risk E[R_n] · bound")]
    np.testing.assert_allclose(bound.get_xdata(), NS[1:])
    assert any(
        "risk E[R_n] · bound" in n and "non-finite" in n and "2 point" in n for n in d.notes
    )
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
        ({"x": "stderr"}, "not a grouping column"),
        ({"x": "n", "hue": "stderr"}, "not a grouping column"),
        ({"x": "n", "kind": "bars"}, "kind: expected one of"),
        ({"x": "n", "center": 0}, "belong to figures of kind 'heatmap'"),
        ({"x": "n", "where": {"spectrum": "round"}}, r"where.spectrum = \['round'\] keeps no row"),
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


# ---------------------------------------------------------------------- randomised theory


def _mc_frame() -> pd.DataFrame:
    """An exact theory line, a Monte Carlo theory line (with stderr), a bound with stderr
    (infinite at n = 20) and measurements over seeds."""
    rows = []
    for n in NS:
        rows.append(record("risk", 1 / n, "theory", n=n, method="closed_form"))
        rows.append(record("risk", 1 / n, "theory", n=n, method="monte_carlo", stderr=0.2 / n))
        se = math.inf if n == 20 else 0.5 / n
        rows.append(record("risk", 2 / n, "bound", n=n, method="head_tail", stderr=se))
        for s, v in enumerate(EMP[n]):
            rows.append(record("risk", v / n, "empirical", n=n, seed=s, method="gd"))
    return to_frame(rows)


def _bands(ax) -> list[PolyCollection]:
    return [c for c in ax.collections if isinstance(c, PolyCollection)]


def test_theory_with_stderr_gets_a_band_of_one_standard_error() -> None:
    frame = _mc_frame()
    assert "stderr" in frame.columns and frame["stderr"].isna().any()
    d = draw_figure(frame, {"x": "n", "logx": True})
    ax = d.figure.axes[0]
    # stderr never splits lines: one line per method, as without it
    assert d.lines == (
        "risk E[R_n] · theory (closed form)",
        "risk E[R_n] · theory (Monte Carlo)",
        "risk E[R_n] · rate (head/tail)",
        "risk E[R_n] · empirical (GD)",
    )
    arts = _lines(d.figure)
    mc = arts[(ax, "risk E[R_n] · theory (Monte Carlo)")]
    np.testing.assert_allclose(mc.get_ydata(), [1 / n for n in NS])
    bands = _bands(ax)
    assert len(bands) == 2  # Monte Carlo theory and bound; not the exact theory line
    mc_band, bound_band = bands
    # the band's edges are mean ∓ stderr, in the line's colour, light
    (path,) = mc_band.get_paths()
    xy = path.vertices
    for n in NS:
        ys = xy[np.isclose(xy[:, 0], n), 1]
        np.testing.assert_allclose([ys.min(), ys.max()], [0.8 / n, 1.2 / n], rtol=1e-12)
    assert to_rgb(mc_band.get_facecolor()[0]) == to_rgb(mc.get_color())
    assert mc_band.get_alpha() is not None and mc_band.get_alpha() < 0.5
    # an infinite standard error: the point is drawn, without a band there, with a note
    bound = arts[(ax, "risk E[R_n] · rate (head/tail)")]
    np.testing.assert_allclose(bound.get_xdata(), NS)
    ys = bound_band.get_paths()[0].vertices
    np.testing.assert_allclose(ys[np.isclose(ys[:, 0], 20), 1], 0.1)
    assert any("rate (head/tail)" in n and "infinite standard error" in n for n in d.notes)
    assert "Shaded bands" in d.alt
    # empirical points keep their error bars of the spread over seeds
    emp = arts[(ax, "risk E[R_n] · empirical (GD)")]
    assert isinstance(emp, ErrorbarContainer)
    # the legend shows the band behind the line
    handles = d.figure.legends[0].legend_handles
    assert len(handles) == 4


def test_no_stderr_no_band_and_a_zero_stderr_no_band() -> None:
    frame = _mc_frame()
    exact = frame[frame.method == "closed_form"]
    assert not _bands(draw_figure(exact, {"x": "n"}).figure.axes[0])
    zero = frame.assign(stderr=0.0)
    d = draw_figure(zero[zero.source != "empirical"], {"x": "n"})
    assert not _bands(d.figure.axes[0]) and "Shaded" not in d.alt


def test_where_filter_keeps_rows_before_drawing() -> None:
    d = draw_figure(_frame(), {"x": "n", "quantities": ["risk"], "where": {"spectrum": "spiked"}})
    assert all("spectrum" not in label for label in d.lines)  # no longer splits lines
    theory = _lines(d.figure)[(d.figure.axes[0], "risk E[R_n] · theory (closed form)")]
    np.testing.assert_allclose(theory.get_ydata(), [1 + 10 / n for n in NS])
    d = draw_figure(
        _frame(), {"x": "n", "quantities": ["risk"], "where": {"source": ["theory", "bound"]}}
    )
    assert len(d.lines) == 4  # 2 sources × 2 spectra


def test_roundoff_zero_is_not_drawn_on_a_log_axis_and_long_title_fits(tmp_path) -> None:
    rows = [record("risk", 1.0 / n, "theory", n=n, method="closed_form") for n in (1, 2, 4)]
    rows.append(record("risk", 1e-30, "theory", n=8, method="closed_form"))
    title = "A very long figure title that would be clipped at the edge of the figure " * 3
    d = draw_figure(to_frame(rows), {"x": "n", "logy": True, "title": title})
    ax = d.figure.axes[0]
    (line,) = ax.get_lines()
    assert list(line.get_xdata()) == [1, 2, 4]  # the round-off zero is left out
    assert any("round-off" in n and "1 point" in n for n in d.notes)
    assert ax.get_ylabel() == "risk E[R_n]"  # the quantity's label, not its id
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(d.figure)
    canvas.draw()
    renderer = canvas.get_renderer()
    box = d.figure._suptitle.get_window_extent(renderer)
    fig_box = d.figure.bbox
    assert box.x0 >= fig_box.x0 - 1 and box.x1 <= fig_box.x1 + 1
    assert box.y1 <= fig_box.y1 + 1
