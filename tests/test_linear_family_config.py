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
        ({"n": [0, 5]}, "n = 0: expected an integer in \\[1, inf\\)"),
        ({"n": [5.5]}, "n = 5.5: expected an integer"),
        ({"spectrum": ["power_law", "powerlaw"]}, "spectrum = 'powerlaw': expected one of"),
        ({"noise_variance": [-0.1]}, "noise_variance = -0.1: expected a number in \\[0, inf\\)"),
        ({"mc_draws": [1]}, "mc_draws = 1: expected an integer in \\[2, inf\\)"),
        ({"gd": ["yes"]}, "gd = 'yes': expected true or false"),
    ],
)
def test_bad_grid_values_fail_at_load(grid: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _config(grid).cells()


def test_good_grid_resolves_unchanged() -> None:
    cells = _config({"n": [5, 10], "spectrum": ["spiked"]}).cells()
    assert [c["n"] for c in cells] == [5, 10]
    assert all(c["spectrum"] == "spiked" and c["d"] == 200 for c in cells)
