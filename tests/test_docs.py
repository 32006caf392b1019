"""Documentation examples run as tests (docs are code): every ```python block of the README and of
every page in docs/, in order, in one namespace per page, from a temporary working directory that
holds the repository's ``configs/`` (so relative paths work and nothing is written into the
repository)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
DOCS = ROOT / "docs"
PAGES = ("README.md", *sorted(p.name for p in DOCS.glob("*.md")))

_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks(text: str) -> list[str]:
    return [m.group(1) for m in _BLOCK.finditer(text)]


def test_block_extraction() -> None:
    text = "a\n```python\nx = 1\n```\n```bash\nls\n```\n```python\ny = 2\n```\n"
    assert python_blocks(text) == ["x = 1\n", "y = 2\n"]


def test_every_page_is_listed() -> None:
    assert "README.md" in PAGES and "spine.md" in PAGES and "families.md" in PAGES


@pytest.mark.parametrize("page", PAGES)
def test_doc_examples_run(page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("matplotlib")
    from finetune_bounds import families

    path = ROOT / page if page == "README.md" else DOCS / page
    blocks = python_blocks(path.read_text(encoding="utf-8"))
    if not blocks:
        pytest.skip(f"{page} has no python examples")
    (tmp_path / "configs").symlink_to(ROOT / "configs")
    monkeypatch.chdir(tmp_path)
    before = dict(families._REGISTRY)
    namespace: dict[str, object] = {"__name__": f"docs_{page.replace('.', '_')}"}
    try:
        for i, block in enumerate(blocks):
            code = compile(block, f"{page}[{i}]", "exec")
            exec(code, namespace)
    finally:
        families._REGISTRY.clear()
        families._REGISTRY.update(before)
    assert os.getcwd() == str(tmp_path)


def _modules() -> list[str]:
    import pkgutil

    import finetune_bounds

    names = (m.name for m in pkgutil.walk_packages(finetune_bounds.__path__, "finetune_bounds."))
    return sorted(n for n in names if not n.endswith("__main__"))  # (importing it runs the CLI)


@pytest.mark.parametrize("module", _modules())
def test_docstring_examples_run(module: str) -> None:
    """Every ``Examples`` block of a docstring runs as written (doctest)."""
    import doctest
    import importlib

    try:
        mod = importlib.import_module(module)
    except ImportError as exc:  # an optional extra that is not installed
        pytest.skip(f"{module}: {exc}")
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(mod, module):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) of {module} failed"
