"""One patch-grid parser/formatter pair, shared by extraction, data and models."""

from __future__ import annotations

import pytest

from vadbench.data.patch_grids import grid_shape, grid_tag


def test_round_trip_every_grid_up_to_12x12():
    for rows in range(1, 13):
        for cols in range(1, 13):
            tag = grid_tag((rows, cols))
            assert grid_shape(tag) == (rows, cols), tag
            assert grid_tag(grid_shape(tag)) == tag


def test_names():
    assert grid_tag((2, 3)) == "patch23" and grid_tag((4, 7)) == "patch47"
    assert grid_tag((10, 3)) == "patch10x3" and grid_tag((3, 10)) == "patch3x10"
    # the short forms people type all read the same; the canonical tag is the file name's
    assert grid_shape("patch23") == grid_shape("2x3") == grid_shape("23") == (2, 3)
    assert grid_shape("patch10x3") == (10, 3)


@pytest.mark.parametrize("bad", ["patch", "patch103", "patch20", "patch0x3", "2by3", "", "patch2x",
                                 "patch2x3", "patch03"])
def test_bad_names_say_what_is_expected(bad):
    with pytest.raises(ValueError, match="patch grid"):
        grid_shape(bad)


def test_extraction_data_and_models_use_the_same_pair():
    """Extraction names its files with the tag the models parse (patch10x3 was once unreadable)."""
    import vadbench.data.patch_grids as shared
    from vadbench.data import synthetic
    from vadbench.features import outputs, transforms

    assert transforms.grid_tag is outputs.grid_tag is shared.grid_tag
    assert transforms.parse_grid is outputs.parse_grid is synthetic.grid_shape is shared.grid_shape
    # and no second definition anywhere in the package (the models import one of these names)
    import re
    from pathlib import Path

    package = Path(shared.__file__).parents[1]
    defs = [str(p.relative_to(package)) for p in package.rglob("*.py")
            if re.search(r"^def (grid_shape|grid_tag|parse_grid)\(", p.read_text(encoding="utf-8"), re.M)]
    assert defs == ["data/patch_grids.py"], defs
