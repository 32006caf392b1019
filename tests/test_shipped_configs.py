"""The example configs ship inside the package: ``finetune-bounds report`` and ``sweep`` find
them from any folder (no ``configs/`` needed), by default or by bare name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from finetune_bounds.cli import main
from finetune_bounds.sweep import example_configs

SMALL = "linear_power_law"  # a shipped config whose --quick variant runs in seconds


def _shipped(name: str) -> Path:
    return next(p for p in example_configs() if p.stem == name)


def test_report_runs_a_shipped_config_from_a_folder_without_configs(tmp_path: Path) -> None:
    assert not (tmp_path / "configs").exists()
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    proc = subprocess.run(
        [sys.executable, "-m", "finetune_bounds", "report", "--quick", "--config",
         str(_shipped(SMALL)), "--out", "tmp", "--no-progress"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "tmp" / "index.html").is_file()
    assert SMALL in proc.stdout


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, Any]:
    """Run from an empty folder, with ``build_report`` replaced by a recorder."""
    from finetune_bounds.report import build

    seen: dict[str, Any] = {}

    def fake_build_report(configs: Any, out: Any, **kwargs: Any) -> Any:
        seen["configs"], seen["out"] = list(configs), out
        raise SystemExit(0)

    monkeypatch.setattr(build, "build_report", fake_build_report)
    monkeypatch.chdir(tmp_path)
    return seen


def test_report_defaults_to_the_shipped_configs(captured: dict[str, Any]) -> None:
    with pytest.raises(SystemExit):
        main(["report", "--quick", "--out", "tmp"])
    assert captured["configs"] == example_configs() and len(captured["configs"]) >= 20


def test_report_config_by_bare_name_and_by_path(
    captured: dict[str, Any], tmp_path: Path
) -> None:
    own = tmp_path / "mine.toml"
    own.write_text(_shipped(SMALL).read_text())
    with pytest.raises(SystemExit):
        main(["report", "--config", SMALL, "--config", "mine.toml", "--out", "tmp"])
    assert captured["configs"] == [_shipped(SMALL), Path("mine.toml")]


def test_report_unknown_config_lists_the_shipped_names(
    captured: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "--config", "no_such_experiment", "--out", "tmp"]) == 2
    err = capsys.readouterr().err
    assert "no_such_experiment" in err and SMALL in err and "configs" not in captured


def test_sweep_a_shipped_config_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", SMALL, "--quick", "--out", "out", "--no-progress"]) == 0
    assert f"{SMALL}: " in capsys.readouterr().out
    assert (tmp_path / "out" / "results.sqlite").is_file()
    assert main(["sweep", "no_such_experiment", "--out", "out"]) == 2
    assert SMALL in capsys.readouterr().err
