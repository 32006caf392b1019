"""The report page: one self-contained ``index.html`` (inline CSS, no network, no external JS).

Figures are ``<img>`` elements with paths relative to the page, so the folder can be moved,
committed or opened from disk. A few lines of inline script check, after the page has loaded,
that every image decoded (``complete`` and ``naturalWidth > 0``): the result is written to
``data-images-*`` attributes of ``<html>`` (read back by the headless-browser test) and a
missing figure is flagged on the page itself.

The page opens with the answer (:func:`.answer.answer_html`: n*(ε) per experiment and route,
and the generated findings), then the metadata and the table of contents, then each experiment
(its findings under its heading).
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import quote

from ..errors import ConfigError
from ._checks import check_path, check_title, shown
from .answer import answer_html, answer_order
from .results import ExperimentReport

__all__ = ["render_html"]

_CSS = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       max-width: 1180px; margin: 0 auto; padding: 1.5rem; color: #1d1d1f; line-height: 1.45; }
h1 { margin-bottom: .2rem; }
h2 { margin-top: 2.6rem; border-bottom: 2px solid #e3e3e8; padding-bottom: .2rem; }
h3 { margin: 1.4rem 0 .4rem; font-size: 1.05rem; }
.meta, .note, figcaption, .files { color: #55565c; font-size: .9rem; }
.meta code { font-size: .85rem; }
dl.info { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem;
          margin: .8rem 0; }
dl.info dt { font-weight: 600; } dl.info dd { margin: 0; }
nav ol { padding-left: 1.4rem; }
figure { margin: 1.2rem 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #e3e3e8; background: #fff; }
figure.broken img, img.broken { min-height: 3rem; outline: 3px solid #c0392b; }
.warn { background: #fdecea; color: #8a1c12; padding: .5rem .8rem; border-radius: 4px; }
.table-wrap { overflow-x: auto; }
table.results { border-collapse: collapse; font-size: .88rem; margin: .3rem 0; }
table.results caption { text-align: left; font-weight: 600; padding-bottom: .3rem; }
table.results th, table.results td { padding: .25rem .6rem; border-bottom: 1px solid #e3e3e8; }
table.results thead th { border-bottom: 2px solid #9a9aa2; text-align: left; }
table.results .num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.results tbody th { text-align: left; font-weight: normal; }
ul.notes { margin: .2rem 0; padding-left: 1.2rem; }
table.answer tbody tr.group th { background: #f3f3f6; font-weight: 600; }
ul.findings li { margin: .2rem 0; }
a { color: #1a5fb4; }
"""

_SCRIPT = """
window.addEventListener("load", function () {
  var imgs = document.images, ok = 0;
  for (var i = 0; i < imgs.length; i++) {
    if (imgs[i].complete && imgs[i].naturalWidth > 0) { ok++; }
    else { imgs[i].classList.add("broken"); }
  }
  var root = document.documentElement;
  root.setAttribute("data-images-total", String(imgs.length));
  root.setAttribute("data-images-loaded", String(ok));
  root.setAttribute("data-images-ok", ok === imgs.length ? "true" : "false");
  if (ok < imgs.length) {
    var w = document.getElementById("image-warning");
    w.textContent = (imgs.length - ok) + " of " + imgs.length +
      " figure(s) failed to load: is the folder complete?";
    w.hidden = false;
  }
});
"""


def _href(path: Path, base: Path) -> str:
    rel = Path(os.path.relpath(path, base)).as_posix()
    return quote(rel, safe="/._-~")


def _files(paths: Sequence[Path], base: Path) -> str:
    links = [
        f'<a href="{_href(p, base)}">{html.escape(p.suffix.lstrip(".").upper())}</a>' for p in paths
    ]
    return " · ".join(links)


def _notes(notes: Sequence[str]) -> str:
    if not notes:
        return ""
    items = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    return f'<ul class="notes note">{items}</ul>'


def _experiment(exp: ExperimentReport, base: Path) -> str:
    e = html.escape
    parts = [f'<section id="{e(exp.name)}">', f"<h2>{e(exp.title)}</h2>"]
    if exp.description:
        parts.append(f"<p>{e(exp.description)}</p>")
    if exp.findings:
        items = "".join(f"<li>{e(f)}</li>" for f in exp.findings)
        parts.append(f'<ul class="findings" id="{e(exp.name)}-findings">{items}</ul>')
    cfg = f" · config <code>{e(exp.config_path.as_posix())}</code>" if exp.config_path else ""
    parts.append(
        f'<p class="meta">experiment <code>{e(exp.name)}</code> · family '
        f"<code>{e(exp.family)}</code> · {exp.cells} cells × {exp.seeds} seeds · "
        f"{exp.rows} rows · {exp.sweep_seconds + exp.render_seconds:.1f} s{cfg} · "
        f'tidy data: <a href="{_href(exp.data, base)}">CSV</a></p>'
    )
    for i, fig in enumerate(exp.figures, 1):
        png = next((p for p in fig.paths if p.suffix == ".png"), fig.paths[0])
        cap = e(fig.title) if fig.title else f"Figure {i}"
        parts.append(
            f'<figure id="{e(exp.name)}-figure-{i}">'
            f'<img src="{_href(png, base)}" alt="{e(fig.alt)}" loading="eager">'
            f"<figcaption>{cap} · {_files(fig.paths, base)}{_notes(fig.notes)}</figcaption>"
            "</figure>"
        )
    for i, out in enumerate(exp.tables, 1):
        t = out.table
        parts.append(f'<div class="table-block" id="{e(exp.name)}-table-{i}">')
        parts.append(f'<div class="table-wrap">{t.to_html()}</div>')
        parts.append(f'<p class="files">Table {i}: {_files(out.paths, base)}</p>')
        parts.append(_notes(t.notes))
        parts.append("</div>")
    if not exp.figures and not exp.tables:
        parts.append('<p class="note">This experiment defines no figure or table.</p>')
    parts.append("</section>")
    return "\n".join(p for p in parts if p)


def render_html(
    experiments: Sequence[ExperimentReport],
    out_dir: str | Path,
    *,
    title: str = "finetune-bounds report",
    info: Mapping[str, str] | None = None,
) -> str:
    """The report page as a string.

    Parameters
    ----------
    experiments : sequence of ExperimentReport
    out_dir : path
        Folder the page will be written to (links are made relative to it).
    title : str
    info : mapping, optional
        Generation information shown under the title (version, mode, date, …).
    """
    e = html.escape
    if isinstance(experiments, str | bytes) or not isinstance(experiments, Sequence):
        raise ConfigError(
            f"experiments must be a list of ExperimentReport objects, got {shown(experiments)}"
        )
    for i, x in enumerate(experiments):
        if not isinstance(x, ExperimentReport):
            raise ConfigError(f"experiments[{i}] must be an ExperimentReport, got {shown(x)}")
    base = check_path(out_dir, "out_dir")
    check_title(title)
    if info is not None and not isinstance(info, Mapping):
        raise ConfigError(f"info must be a mapping (dict) or None, got {shown(info)}")
    info_html = ""
    if info:
        rows = "".join(f"<dt>{e(str(k))}</dt><dd>{e(str(v))}</dd>" for k, v in info.items())
        info_html = f'<dl class="info">{rows}</dl>'
    toc = "".join(f'<li><a href="#{e(x.name)}">{e(x.title)}</a></li>' for x in experiments)
    body = "\n".join(_experiment(x, base) for x in experiments)
    # the first section: the answer, n*(ε), before the page's metadata
    answers = answer_order([x.answer for x in experiments if x.answer is not None])
    first = answer_html(answers) if answers else ""
    if first:
        toc = f'<li><a href="#answer">The answer: n*(ε)</a></li>{toc}'

    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)}</title>
<style>{_CSS}</style>
</head>
<body>
<header>
<h1>{e(title)}</h1>
</header>
{first}
<div class="about">
<p class="meta">Theory (solid lines), bounds (dashed lines) and trained models (markers: mean ±
standard error over seeds) for each experiment. Tables: empirical cells are mean ± standard error.
</p>
{info_html}
<p id="image-warning" class="warn" hidden></p>
<nav><ol>{toc}</ol></nav>
</div>
<main>
{body}
</main>
<script>{_SCRIPT}</script>
</body>
</html>
"""
