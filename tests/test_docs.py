"""Documentation examples run as tests: every ```python block of the listed pages, in order, in
one namespace per page, from a temporary working directory (docs are code)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).parents[1] / "docs"
#: pages whose examples are complete programs (the others show fragments against local files)
TESTED_PAGES = ("spine.md", "families.md")

_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks(text: str) -> list[str]:
    return [m.group(1) for m in _BLOCK.finditer(text)]


def test_block_extraction() -> None:
    text = "a\n```python\nx = 1\n```\n```bash\nls\n```\n```python\ny = 2\n```\n"
    assert python_blocks(text) == ["x = 1\n", "y = 2\n"]


@pytest.mark.parametrize("page", TESTED_PAGES)
def test_doc_examples_run(page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from finetune_bounds import families

    blocks = python_blocks((DOCS / page).read_text(encoding="utf-8"))
    assert blocks, f"{page} has no python examples"
    monkeypatch.chdir(tmp_path)
    before = dict(families._REGISTRY)
    namespace: dict[str, object] = {"__name__": f"docs_{page.replace('.', '_')}"}
    try:
        for i, block in enumerate(blocks):
            if "theory=theory,            #" in block:  # the schematic Family on spine.md
                continue
            code = compile(block, f"{page}[{i}]", "exec")
            exec(code, namespace)
    finally:
        families._REGISTRY.clear()
        families._REGISTRY.update(before)
    assert os.getcwd() == str(tmp_path)
