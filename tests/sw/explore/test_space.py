"""The space file: the grid is the product of the axes, a sample is seeded and
keeps the grid's order, and a bad file is refused naming its key (the CLI's
matrix in tests/sw/cli/test_bad_input.py has the rest)."""

import pytest

from sw.errors import EiegenError
from sw.explore.space import load_space

SPACE = """
[compression]
density = [0.1, [0.05, 0.1, 0.2]]
index_bits = [3, 4, 5]

[hardware]
pes = [1, 2]
target = ["icebreaker"]
"""


def test_grid_and_samples(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(SPACE)
    space = load_space(path, 3)
    grid = space.points()
    assert space.size() == len(grid) == 12
    assert grid[0] == {"compression": {"density": [0.1] * 3, "index_bits": 3},
                       "hardware": {"pes": 1, "target": "icebreaker"}}
    assert grid[-1]["compression"] == {"density": [0.05, 0.1, 0.2], "index_bits": 5}
    assert len({repr(p) for p in grid}) == 12
    sample = space.points(5, seed=7)
    assert sample == space.points(5, seed=7) != space.points(5, seed=8)
    assert sample == [p for p in grid if p in sample] and len(sample) == 5
    assert space.measure == {"cycle_samples": 20, "rtl_points": 1, "rtl_samples": 3}


@pytest.mark.parametrize("text, message", [
    ("[compression]\nretrain_epochs = [2]\n", "needs labelled training data"),
    ("[hardware]\nclock_mhz = [0]\n", "hardware.clock_mhz value 0 is impossible"),
    ("[hardware]\nspram = [1]\n", "hardware.spram value 1 is impossible: true or false"),
    ("[compression]\nact_bits = [30]\n", "compression.act_bits value 30 is impossible"),
    ("[compression]\nquality = [-1]\n", "a quality is a number >= 0"),
    ("compression = 3\n", "compression must be a [compression] table"),
])
def test_refusals_name_the_key(tmp_path, text, message):
    path = tmp_path / "s.toml"
    path.write_text(text)
    with pytest.raises(EiegenError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_space(path, 3, bundled=False)
