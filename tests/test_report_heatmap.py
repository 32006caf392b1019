"""Heatmap figures (``kind = "heatmap"``): cell values and edges, the diverging scale and contour
lines, categorical regime maps with discrete colours, blank cells with notes, and the spec
validation of the ``[[figure]]`` kinds."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("matplotlib")

from matplotlib.collections import QuadMesh
from matplotlib.colors import TwoSlopeNorm, to_rgba
from matplotlib.contour import ContourSet

from finetune_bounds.errors import ConfigError
from finetune_bounds.records import record, to_frame
from finetune_bounds.report import draw_figure, plot_figure, render_experiment
from finetune_bounds.report.figures import COLORBLIND, DrawnFigure, FigureResult
from finetune_bounds.report.specs import (
    FigureSpec,
    HeatmapSpec,
    figure_spec_from_dict,
)

NS = (10, 20, 50, 100, 200)
NOISES = (0.01, 0.1, 1.0, 10.0)
MISSING = (200, 10.0)  # this (n, noise) cell has no rows
SEED_SHIFTS = (0.0, 0.1, 0.2)  # empirical seeds: gain + shift (mean: gain + 0.1)
NAMES = ["small", "large n", "noisy", "both"]


def gain(n: float, noise: float) -> float:
    """A transfer gain: positive for large n / low noise, negative otherwise."""
    return math.log(n / 40) - math.log(noise)


def regime(n: float, noise: float) -> int:
    return int(n >= 50) + 2 * int(noise >= 1.0)


def _frame(spectra: tuple[str, ...] = ("flat",)) -> pd.DataFrame:
    rows = []
    for k, spectrum in enumerate(spectra):
        for n in NS:
            for noise in NOISES:
                if (n, noise) == MISSING:
                    continue
                cell = {"family": "toy", "experiment": "e", "n": n, "noise": noise}
                cell["spectrum"] = spectrum
                g = gain(n, noise) + k
                rows.append(record("transfer_gain", g, "theory", method="closed_form", **cell))
                rows.append(record("regime", regime(n, noise), "theory", **cell))
                for seed, shift in enumerate(SEED_SHIFTS):
                    rows.append(record("transfer_gain", g + shift, "empirical", seed=seed, **cell))
    return to_frame(rows)


GAIN = {
    "kind": "heatmap",
    "x": "n",
    "y": "noise",
    "quantity": "transfer_gain",
    "center": 0,
    "contours": [0.0],
    "logx": True,
    "logy": True,
    "title": "Transfer gain",
}
REGIME = {
    "kind": "heatmap",
    "x": "n",
    "y": "noise",
    "quantity": "regime",
    "categories": NAMES,
    "logy": True,
    "title": "Regimes",
}


def _panels(d: DrawnFigure) -> list[Any]:
    """The axes holding a heatmap mesh (not the colorbar)."""
    return [
        ax
        for ax in d.figure.axes
        if ax.get_label() != "<colorbar>" and any(isinstance(c, QuadMesh) for c in ax.collections)
    ]


def _mesh(ax: Any) -> QuadMesh:
    (mesh,) = [c for c in ax.collections if isinstance(c, QuadMesh)]
    return mesh


def _contour_sets(ax: Any) -> list[ContourSet]:
    return [c for c in ax.collections if isinstance(c, ContourSet)]


# ---------------------------------------------------------------------- continuous


def test_continuous_heatmap_renders_with_centre_contour_and_notes(tmp_path: Path) -> None:
    r = plot_figure(_frame(), GAIN, tmp_path / "gain", formats=("png",), dpi=60)
    assert isinstance(r, FigureResult)
    (png,) = r.paths
    assert png.suffix == ".png" and png.stat().st_size > 1000
    assert r.alt.startswith("Transfer gain. Heatmap of transfer_gain (theory) over n")
    assert "centred at 0" in r.alt and "contour lines at 0" in r.alt
    assert r.lines == ("transfer gain",)  # the label, not the id
    assert r.points == len(NS) * len(NOISES) - 1
    assert any("1 (n, noise) cell(s) without a value" in n for n in r.notes)

    d = draw_figure(_frame(), GAIN)
    (ax,) = _panels(d)
    # the zero contour was drawn (and labelled), at level 0 only
    (cs,) = _contour_sets(ax)
    assert list(cs.levels) == [0.0]
    assert sum(len(seg) for seg in cs.allsegs[0]) > 0
    assert ax.texts  # the clabel
    # diverging scale centred at 0, covering the data
    mesh = _mesh(ax)
    assert isinstance(mesh.norm, TwoSlopeNorm) and mesh.norm.vcenter == 0.0
    values = [gain(n, s) for n in NS for s in NOISES if (n, s) != MISSING]
    assert mesh.norm.vmin == pytest.approx(min(values))
    assert mesh.norm.vmax == pytest.approx(max(values))
    # a colorbar next to the panel
    assert len(d.figure.axes) == 2


def test_cell_values_edges_and_ticks() -> None:
    spec = GAIN | {"source": "empirical", "contours": []}
    d = draw_figure(_frame(), spec)
    (ax,) = _panels(d)
    z = _mesh(ax).get_array()
    assert z.shape == (len(NOISES), len(NS))
    for j, noise in enumerate(NOISES):
        for i, n in enumerate(NS):
            if (n, noise) == MISSING:
                assert z.mask[j, i]
            else:  # the mean over seeds
                assert z[j, i] == pytest.approx(gain(n, noise) + np.mean(SEED_SHIFTS))
    # log axes: edges at geometric midpoints, ticks at the data values
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.get_xlim()[0] == pytest.approx(10 / math.sqrt(2))  # 10²/√(10·20)
    assert ax.get_xlim()[1] == pytest.approx(200 * math.sqrt(2))
    np.testing.assert_allclose(ax.get_xticks(), NS)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["0.01", "0.1", "1", "10"]
    assert not _contour_sets(ax)


def test_linear_and_categorical_axes() -> None:
    frame = _frame(("flat", "spiked"))
    d = draw_figure(
        frame,
        {"kind": "heatmap", "x": "spectrum", "y": "n", "quantity": "transfer_gain"}
        | {"where": {"noise": 0.1}, "cmap": "magma"},
    )
    (ax,) = _panels(d)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["flat", "spiked"]
    np.testing.assert_allclose(ax.get_xlim(), (-0.5, 1.5))
    # linear numeric y: arithmetic midpoints, outer cells as wide as their inner half
    assert ax.get_ylim() == pytest.approx((5.0, 250.0))
    z = _mesh(ax).get_array()
    assert z[0, 1] == pytest.approx(gain(10, 0.1) + 1)
    assert _mesh(ax).get_cmap().name == "magma"
    assert "spectrum (x; categorical, 2 values)" in d.alt


def test_facets_share_one_colour_scale() -> None:
    d = draw_figure(_frame(("flat", "spiked")), GAIN | {"facet": "spectrum"})
    panels = _panels(d)
    assert [ax.get_title() for ax in panels] == ["spectrum = flat", "spectrum = spiked"]
    norms = {id(_mesh(ax).norm) for ax in panels}
    assert len(norms) == 1
    assert _mesh(panels[0]).norm.vmax == pytest.approx(max(gain(200, 0.01) + 1, 0))
    assert all(len(_contour_sets(ax)) == 1 for ax in panels)
    assert "2 panels by spectrum" in d.alt


def test_non_finite_cells_are_blank_with_a_note() -> None:
    frame = _frame()
    frame.loc[(frame.n == 10) & (frame.noise == 0.01), "value"] = np.inf
    d = draw_figure(frame, GAIN)
    (ax,) = _panels(d)
    z = _mesh(ax).get_array()
    assert z.mask[0, 0]
    assert any("1 cell(s) with a non-finite value" in n for n in d.notes)
    assert d.points == len(NS) * len(NOISES) - 2


def test_contours_need_two_values_per_axis_and_a_crossing() -> None:
    frame = _frame()
    d = draw_figure(frame, GAIN | {"where": {"noise": 1.0}})
    assert not _contour_sets(_panels(d)[0])
    assert any("at least 2 distinct values" in n for n in d.notes)
    d = draw_figure(frame, GAIN | {"contours": [0.0, 100.0]})
    (cs,) = _contour_sets(_panels(d)[0])
    assert list(cs.levels) == [0.0]
    assert any("level(s) 100 not drawn" in n for n in d.notes)


def test_ambiguous_cells_name_the_column_and_where_fixes_it() -> None:
    frame = _frame(("flat", "spiked"))
    spec = {k: v for k, v in GAIN.items() if k != "contours"}
    with pytest.raises(ConfigError, match=r"differ by \['spectrum'\].*where = \{spectrum = "):
        draw_figure(frame, spec, where="exp: figure 3")
    d = draw_figure(frame, spec | {"where": {"spectrum": "spiked"}})
    assert _mesh(_panels(d)[0]).get_array()[0, 0] == pytest.approx(gain(10, 0.01) + 1)
    # two methods of the same source in one cell: pick one with `method`
    extra = frame[frame.source == "theory"].assign(method="monte_carlo", value=0.0)
    both = pd.concat([frame, extra], ignore_index=True)
    one = spec | {"where": {"spectrum": "flat"}}
    with pytest.raises(ConfigError, match=r"method = \"closed_form\""):
        draw_figure(both, one)
    d = draw_figure(both, one | {"method": "monte_carlo"})
    assert float(_mesh(_panels(d)[0]).get_array().max()) == 0.0


# ---------------------------------------------------------------------- categorical


def test_categorical_regime_map_has_one_discrete_colour_per_category(tmp_path: Path) -> None:
    d = draw_figure(_frame(), REGIME)
    (ax,) = _panels(d)
    assert d.lines == tuple(NAMES)
    legend = d.figure.legends[0]
    assert [t.get_text() for t in legend.get_texts()] == NAMES
    assert legend.get_title().get_text() == "regime"
    d.figure.draw_without_rendering()
    colors = {tuple(c) for c in _mesh(ax).get_facecolor() if c[3] > 0}
    assert len(colors) == len(NAMES)
    assert colors == {to_rgba(c) for c in COLORBLIND[:4]}
    # code k has colour k: (n = 10, noise = 0.01) is regime 0
    z = _mesh(ax).get_array()
    assert z[0, 0] == 0 and to_rgba(COLORBLIND[0]) == tuple(_mesh(ax).get_facecolor()[0])
    assert "Categories: small, large n, noisy, both." in d.alt
    r = plot_figure(_frame(), REGIME, tmp_path / "regime", formats=("png", "svg"), dpi=60)
    assert all(p.stat().st_size > 1000 for p in r.paths)


def test_codes_that_are_not_categories_are_blank_with_a_note() -> None:
    frame = _frame()
    is_regime = frame.quantity == "regime"
    frame.loc[is_regime & (frame.n == 10) & (frame.noise == 0.01), "value"] = 7.0  # out of range
    frame.loc[is_regime & (frame.n == 20) & (frame.noise == 0.01), "value"] = 0.5  # not integer
    frame.loc[is_regime & (frame.noise >= 1.0), "value"] = 1.0  # no "noisy"/"both" any more
    d = draw_figure(frame, REGIME | {"cmap": "tab10"})
    (ax,) = _panels(d)
    z = _mesh(ax).get_array()
    assert z.mask[0, 0] and z.mask[0, 1] and not z.mask[0, 2]
    assert any("2 cell(s) whose value is not a category code" in n for n in d.notes)
    assert d.lines == ("small", "large n")
    d.figure.draw_without_rendering()
    colors = {tuple(c) for c in _mesh(ax).get_facecolor() if c[3] > 0}
    assert len(colors) == 2


# ---------------------------------------------------------------------- specs


@pytest.mark.parametrize(
    ("entry", "match"),
    [
        ({"kind": "bars", "x": "n"}, r"kind: expected one of \['lines', 'heatmap'\]"),
        ({"kind": 3, "x": "n"}, "kind: expected one of"),
        ({"kind": "heatmap", "x": "n", "y": "noise"}, "missing required key 'quantity'"),
        ({"kind": "heatmap", "x": "n", "quantity": "q"}, "missing required key 'y'"),
        (GAIN | {"cmap": "viridiss"}, "'viridiss' is not a matplotlib colormap"),
        (GAIN | {"contours": [0.0, "zero"]}, "contours: expected a list of finite numbers"),
        (GAIN | {"contours": [math.nan]}, "contours: expected a list of finite numbers"),
        (GAIN | {"center": "0"}, "center: expected a finite number"),
        (GAIN | {"center": True}, "center: expected a finite number"),
        (REGIME | {"categories": "small"}, None),  # a single name is fine
        (REGIME | {"categories": [0, 1]}, "categories: expected a list of names"),
        (REGIME | {"categories": ["a", "a"]}, "categories: repeated names"),
        (REGIME | {"center": 0}, "center and contours apply to a continuous quantity"),
        (GAIN | {"source": "theroy"}, "source: expected one of"),
        (GAIN | {"quantities": ["risk"]}, r"\['quantities'\] belong to figures of kind 'lines'"),
        ({"x": "n", "cmap": "viridis"}, r"\['cmap'\] belong to figures of kind 'heatmap'"),
        (GAIN | {"colour": "red"}, r"unknown key\(s\) \['colour'\]; allowed for kind 'heatmap'"),
        (GAIN | {"y": "n"}, "x, y and facet must be different columns"),
        (GAIN | {"y": "stderr"}, "'stderr' is not a grouping column"),
        (GAIN | {"where": ["n", 10]}, "where: expected a table"),
        (GAIN | {"where": {"n": {"a": 1}}}, "where.n: expected a string, number or boolean"),
        (GAIN | {"where": {"seed": 0}}, "'seed' cannot be filtered on"),
    ],
)
def test_bad_figure_specs(entry: dict[str, Any], match: str | None) -> None:
    if match is None:
        assert figure_spec_from_dict(entry).categories == ("small",)
        return
    with pytest.raises(ConfigError, match=match) as info:
        figure_spec_from_dict(entry, "exp.toml: figure 2")
    assert str(info.value).startswith("exp.toml: figure 2: ")


def test_kind_dispatch_and_defaults() -> None:
    lines = figure_spec_from_dict({"x": "n"})
    assert isinstance(lines, FigureSpec) and lines.kind == "lines" and lines.where == ()
    assert figure_spec_from_dict({"x": "n", "kind": "lines"}) == lines
    h = figure_spec_from_dict(GAIN | {"where": {"spectrum": ["flat", "spiked"]}})
    assert isinstance(h, HeatmapSpec)
    assert (h.source, h.center, h.contours, h.cmap, h.categories) == (
        "theory",
        0.0,
        (0.0,),
        None,
        None,
    )
    assert h.where == (("spectrum", ("flat", "spiked")),)
    assert figure_spec_from_dict(GAIN | {"contours": [1, -1, 1]}).contours == (-1.0, 1.0)
    with pytest.raises(ConfigError, match="this is a 'lines' figure spec"):
        FigureSpec.from_dict(GAIN)
    # a spec object is drawn as is
    assert draw_figure(_frame(), h).title == "Transfer gain"


def test_data_errors_name_the_problem() -> None:
    frame = _frame()
    with pytest.raises(ConfigError, match=r"no quantity \['gian'\]"):
        draw_figure(frame, GAIN | {"quantity": "gian"})
    with pytest.raises(ConfigError, match=r"no column\(s\) \['sigma'\]"):
        draw_figure(frame, GAIN | {"y": "sigma"})
    with pytest.raises(ConfigError, match=r"with source = 'bound'; source values"):
        draw_figure(frame, GAIN | {"source": "bound"})
    with pytest.raises(ConfigError, match=r"where.noise = \[0.5\] keeps no row"):
        draw_figure(frame, GAIN | {"where": {"noise": 0.5}})
    with pytest.raises(ConfigError, match=r"where: no column\(s\) \['depth'\]"):
        draw_figure(frame, GAIN | {"where": {"depth": 2}})


def test_render_experiment_uses_the_kind_dispatcher(tmp_path: Path) -> None:
    config = SimpleNamespace(
        path=None,
        name="toy",
        figures=({"x": "n", "quantities": ["transfer_gain"], "facet": "noise"}, GAIN, REGIME),
        tables=(),
    )
    figures, tables, data = render_experiment(
        config,  # type: ignore[arg-type]
        _frame(),
        tmp_path,
        formats=("png",),
        dpi=50,
    )
    assert [f.paths[0].name for f in figures] == [
        "fig1.png",
        "fig2_transfer_gain.png",
        "fig3_regimes.png",
    ]
    assert figures[2].lines == tuple(NAMES) and data.exists() and tables == ()
    bad = SimpleNamespace(path=None, name="toy", figures=(GAIN | {"hue": "n"},), tables=())
    with pytest.raises(ConfigError, match=r"toy: figure 1: key\(s\) \['hue'\] belong"):
        render_experiment(bad, _frame(), tmp_path)  # type: ignore[arg-type]


def test_heatmap_labels_speak_the_vocabulary() -> None:
    rows = [
        record("gain_lazy", float(a - n), "theory", n=n, alpha=a, frozen_layers=0)
        for n in (1, 2, 3) for a in (1, 2)
    ]
    d = draw_figure(to_frame(rows), {"kind": "heatmap", "x": "n", "y": "alpha",
                                     "quantity": "gain_lazy"})
    ax = d.figure.axes[0]
    assert ax.get_xlabel() == "n (target samples)" and ax.get_ylabel() == "α"
    assert d.lines == ("transfer gain vs lazy scratch",)
    assert d.figure.axes[-1].get_ylabel() == "transfer gain vs lazy scratch"  # colorbar
