"""``build_report``: configs → sweeps (run or reused from the store) → tables, figures, HTML.

Thin glue over :func:`finetune_bounds.sweep.execute_sweep` and the renderers of this package;
no mathematics here.

Output layout (``out_dir``)::

    index.html                     the report page (self-contained; relative links)
    answer.md, answer.csv          its first section: n*(ε) per experiment and route
    results.sqlite                 the store (default; finished cells are reused on a re-run)
    <experiment>/data.csv          the experiment's tidy table
    <experiment>/fig<i>_<slug>.png (and .svg)
    <experiment>/table<i>_<slug>.md, .csv, .tex

Before writing an experiment, the ``fig*``/``table*`` files a previous report left in its
folder are removed, so a renamed or deleted figure does not linger.
"""

from __future__ import annotations

import os
import platform
import re
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ._checks import check_dpi, check_formats, check_frame, check_path, check_title, shown
from .answer import experiment_answer, write_answer_files
from .figures import plot_figure
from .html import render_html
from .results import ExperimentReport, ReportResult, TableOutput
from .specs import TableSpec, figure_spec_from_dict, slugify
from .tables import build_table, write_table_files

if TYPE_CHECKING:
    from ..sweep import Executor, Store, SweepConfig

__all__ = ["build_report", "render_experiment"]

#: files this module writes into an experiment folder (removed before a re-render)
_OWNED_FILE = re.compile(
    r"(fig\d+(_[a-z0-9_]+)?\.(png|svg|pdf)|table\d+(_[a-z0-9_]+)?\.(md|csv|tex))\Z"
)


def _as_configs(configs: Any, quick: bool) -> list[SweepConfig]:
    from ..sweep import SweepConfig, load_config

    if isinstance(configs, str | Path | SweepConfig):
        configs = [configs]
    if not isinstance(configs, Iterable):
        raise ConfigError(f"configs: expected paths or SweepConfig objects, got {configs!r}")
    out = []
    for c in configs:
        if isinstance(c, SweepConfig):
            cfg = c
        elif isinstance(c, str | Path):
            cfg = load_config(c)
        else:
            raise ConfigError(f"configs: expected a path or a SweepConfig, got {c!r}")
        out.append(cfg.quick() if quick else cfg)
    if not out:
        raise ConfigError("no experiment configs given")
    seen: dict[str, Any] = {}
    for cfg in out:
        if cfg.name in seen:
            raise ConfigError(
                f"two configs define the experiment {cfg.name!r} ({seen[cfg.name]} and "
                f"{cfg.path}); experiment names must be unique"
            )
        seen[cfg.name] = cfg.path
    return out


def _stem(prefix: str, i: int, name: str, title: str) -> str:
    """``fig<i>_<slug>``: numbered (stable order, unique) and readable."""
    slug = slugify(name or title, "")
    return f"{prefix}{i}_{slug}" if slug else f"{prefix}{i}"


def _clean(folder: Path) -> None:
    for p in folder.iterdir():
        if p.is_file() and _OWNED_FILE.match(p.name):
            p.unlink()


def render_experiment(
    config: SweepConfig,
    frame: Any,
    folder: str | Path,
    *,
    formats: Sequence[str] = ("png", "svg"),
    dpi: int = 150,
) -> tuple[tuple[Any, ...], tuple[TableOutput, ...], Path]:
    """Write an experiment's tidy CSV, figures and tables into ``folder``.

    Returns ``(figures, tables, data_csv)`` (:class:`~.figures.FigureResult` and
    :class:`~.results.TableOutput` objects). Every ``[[figure]]``/``[[table]]`` spec is validated
    before anything is drawn, so a typo fails fast.
    """
    # a SweepConfig, or anything shaped like one (a name, a path, figures and tables)
    if not (
        isinstance(getattr(config, "name", None), str)
        and hasattr(config, "path")
        and all(isinstance(getattr(config, a, None), tuple | list) for a in ("figures", "tables"))
    ):
        raise ConfigError(f"config must be a SweepConfig, got {shown(config)}")
    check_frame(frame)
    folder = check_path(folder, "folder")
    formats = check_formats(formats)
    dpi = check_dpi(dpi)
    label = f"{config.path or config.name}"
    fig_specs = [
        figure_spec_from_dict(f, f"{label}: figure {i}") for i, f in enumerate(config.figures, 1)
    ]
    tab_specs = [
        TableSpec.from_dict(t, f"{label}: table {i}") for i, t in enumerate(config.tables, 1)
    ]
    folder.mkdir(parents=True, exist_ok=True)
    _clean(folder)
    data = folder / "data.csv"
    frame.to_csv(data, index=False)
    figures = []
    for i, spec in enumerate(fig_specs, 1):
        stem = _stem("fig", i, spec.name, spec.title)
        figures.append(
            plot_figure(
                frame, spec, folder / stem, formats=formats, dpi=dpi, where=f"{label}: figure {i}"
            )
        )
    tables = []
    for i, tspec in enumerate(tab_specs, 1):
        stem = _stem("table", i, tspec.name, tspec.title)
        table = build_table(frame, tspec, where=f"{label}: table {i}")
        paths = write_table_files(table, folder / stem, label=f"tab:{config.name}:{stem}")
        tables.append(TableOutput(table, paths))
    return tuple(figures), tuple(tables), data


def _now() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")  # reproducible builds
    when = datetime.fromtimestamp(int(epoch), UTC) if epoch else datetime.now(UTC)
    return when.strftime("%Y-%m-%d %H:%M UTC")


def build_report(
    configs: str | Path | SweepConfig | Iterable[str | Path | SweepConfig],
    out_dir: str | Path,
    *,
    quick: bool = False,
    store: str | Path | Store | None = None,
    executor: str | Executor = "serial",
    workers: int | None = None,
    progress: bool = False,
    formats: Sequence[str] = ("png", "svg"),
    dpi: int = 150,
    title: str | None = None,
) -> ReportResult:
    """Run (or reuse) every experiment and write the report into ``out_dir``.

    Parameters
    ----------
    configs : path, SweepConfig, or an iterable of them
        Experiment configs (TOML files or loaded configs); names must be unique.
    out_dir : path
        Output folder (created if missing); see the module docstring for its layout.
    quick : bool
        Apply each config's ``[quick]`` overrides (fewer seeds, a coarser grid).
    store : path, Store or None
        Results store; default ``<out_dir>/results.sqlite``. Cells already finished there are
        not recomputed, so re-rendering a report is cheap.
    executor : {"serial", "processes", "dask"} or Executor
        Where cells run (one executor is shared by all experiments).
    workers : int, optional
        Worker processes for ``"processes"``/``"dask"``.
    progress : bool
        Show a progress bar per experiment (tqdm).
    formats : sequence of {"png", "svg", "pdf"}
        Figure files to write (the page shows the PNG).
    dpi : int
        Resolution of the PNG files.
    title : str, optional
        Title of the page (default: "finetune-bounds report", with "(quick)" in quick mode).

    Returns
    -------
    ReportResult

    Raises
    ------
    ConfigError
        Invalid configs, figure or table specs (unknown key, missing column or quantity).
    SweepError
        Some cells of an experiment failed (the others are stored; nothing is rendered for it).
    """
    from ..sweep import Store, make_executor

    t0 = time.perf_counter()
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
    ):
        raise ConfigError(f"workers must be a positive integer, got {workers!r}")
    out_path = check_path(out_dir, "out_dir")
    formats = check_formats(formats)
    dpi = check_dpi(dpi)
    if title is not None:
        check_title(title)
    if store is not None and not isinstance(store, Store):
        check_path(store, "store (a Store, a path to the results file, or None)")
    cfgs = _as_configs(configs, quick)
    out = _prepare(cfgs, out_path)
    owns_store = not isinstance(store, Store)
    st = (
        store
        if isinstance(store, Store)
        else Store(out / "results.sqlite" if store is None else store)
    )
    ex, owns_ex = make_executor(executor, workers=workers)
    try:
        experiments = [
            _run_and_render(cfg, st, ex, out, progress=progress, formats=formats, dpi=dpi)
            for cfg in cfgs
        ]
        store_path = st.path
    finally:
        if owns_ex:
            ex.close()
        if owns_store:
            st.close()
    t2 = time.perf_counter()
    answer_files = write_answer_files(
        [e.answer for e in experiments if e.answer is not None], out
    )
    html_path = _write_page(experiments, out, quick, store_path, executor, title)
    sweep_total = sum(e.sweep_seconds for e in experiments)
    render_total = sum(e.render_seconds for e in experiments) + time.perf_counter() - t2
    return ReportResult(
        html=html_path,
        out_dir=out,
        store=store_path,
        quick=quick,
        experiments=tuple(experiments),
        timing={
            "sweep": sweep_total,
            "render": render_total,
            "total": time.perf_counter() - t0,
        },
        answer_files=answer_files,
    )


def _prepare(cfgs: Sequence[SweepConfig], out: Path) -> Path:
    """Create the output folder and validate every figure/table spec before the (slow) sweeps."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the output folder {out}: {exc}") from None
    for cfg in cfgs:
        for i, f in enumerate(cfg.figures, 1):
            figure_spec_from_dict(f, f"{cfg.path or cfg.name}: figure {i}")
        for i, t in enumerate(cfg.tables, 1):
            TableSpec.from_dict(t, f"{cfg.path or cfg.name}: table {i}")
    return out


def _run_and_render(
    cfg: SweepConfig, st: Any, ex: Any, out: Path, *, progress: bool,
    formats: Sequence[str], dpi: int,
) -> ExperimentReport:
    """Sweep one experiment (finished cells are reused) and write its figures and tables."""
    from ..sweep import SweepError, execute_sweep

    run = execute_sweep(cfg, store=st, executor=ex, progress=progress)
    if run.failures:
        raise SweepError(run)
    t1 = time.perf_counter()
    figures, tables, data = render_experiment(
        cfg, run.frame, out / cfg.name, formats=formats, dpi=dpi
    )
    answer = experiment_answer(
        run.frame, experiment=cfg.name, family=cfg.family, title=cfg.title,
        grid_params=[*cfg.grid, *cfg.axes],
    )
    return ExperimentReport(
        name=cfg.name,
        title=cfg.title,
        description=" ".join(cfg.description.split()),
        family=cfg.family,
        seeds=cfg.seeds,
        cells=run.cells,
        ran=run.ran,
        skipped=run.skipped,
        rows=len(run.frame),
        data=data,
        figures=figures,
        tables=tables,
        sweep_seconds=run.elapsed,
        render_seconds=time.perf_counter() - t1,
        config_path=cfg.path,
        answer=answer,
    )


def _write_page(
    experiments: Sequence[ExperimentReport], out: Path, quick: bool, store_path: str,
    executor: Any, title: str | None,
) -> Path:
    """Write ``index.html`` (the answer, metadata, then every experiment); return its path."""
    from .. import __version__

    info = {
        "version": f"finetune-bounds {__version__}",
        "mode": "quick (the configs' [quick] overrides)" if quick else "full",
        "generated": _now(),
        "seeds per cell": ", ".join(f"{e.name}: {e.seeds}" for e in experiments),
        "store": _display_path(store_path, out),
        "executor": executor if isinstance(executor, str) else type(executor).__name__,
        "python": f"{platform.python_version()} ({platform.system()})",
    }
    page_title = title or ("finetune-bounds report (quick)" if quick else "finetune-bounds report")
    html_path = out / "index.html"
    html_path.write_text(
        render_html(list(experiments), out, title=page_title, info=info), encoding="utf-8"
    )
    return html_path


def _display_path(path: str, base: Path) -> str:
    if path == ":memory:":
        return "in memory (not kept)"
    try:
        return Path(os.path.relpath(path, base)).as_posix()
    except ValueError:  # pragma: no cover - another drive on Windows
        return path
