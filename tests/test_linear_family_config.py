"""Bad values in a linear sweep config stop the sweep at load time, before anything runs."""

from __future__ import annotations

import pytest

from finetune_bounds import ConfigError
from finetune_bounds.sweep import SweepConfig


def _config(grid: dict) -> SweepConfig:
    return SweepConfig.from_dict({"name": "bad", "family": "linear", "seeds": 1, "grid": grid})


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ({"n": [0, 5]}, "n must be ≥ 1"),
        ({"n": [5.5]}, "n must be an integer"),
        ({"spectrum": ["power_law", "powerlaw"]}, "spectrum must be one of"),
        ({"noise_variance": [-0.1]}, "noise_variance must be ≥ 0"),
        ({"mc_draws": [1]}, "mc_draws must be ≥ 2"),
        ({"gd": ["yes"]}, "gd must be true or false"),
    ],
)
def test_bad_grid_values_fail_at_load(grid: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _config(grid).cells()


def test_good_grid_resolves_unchanged() -> None:
    cells = _config({"n": [5, 10], "spectrum": ["spiked"]}).cells()
    assert [c["n"] for c in cells] == [5, 10]
    assert all(c["spectrum"] == "spiked" and c["d"] == 200 for c in cells)
