"""Patch grids: the one parser and formatter of their names, used by extraction, data and models.

A grid of `rows x cols` patch windows over a frame is named `patch<rows><cols>` when both are one digit
(SSRL's file names: `patch23` = 2x3 windows of 240x280 over 480x840) and `patch<rows>x<cols>` otherwise
(`patch10x3`). Patch features are stored as `<video>_<tag>_i3d.npy`, `[T, rows*cols, D]` row-major.
`grid_shape` also reads the short forms people type (`2x3`, `23`); a name with the `patch` prefix must
be the canonical tag (`patch2x3` is refused: its files would be looked for under a name extraction
never writes), so `grid_tag(grid_shape(s)) == s` for every `patch...` name it accepts.
"""

from __future__ import annotations

import re

_GRID_RE = re.compile(r"(\d+)x(\d+)|([1-9])([1-9])")


def grid_shape(name: str) -> tuple[int, int]:
    """`patch23`, `patch10x3`, `2x3` or `23` -> (rows, cols); anything else is a ValueError."""
    text = str(name).strip().lower()
    m = _GRID_RE.fullmatch(text.removeprefix("patch"))
    if not m:
        raise ValueError(f"patch grid {name!r}: expected 'patch<rows><cols>' with one digit each (e.g. 'patch23'), "
                         f"'patch<rows>x<cols>' (e.g. 'patch10x3'), or the short '2x3' / '23'")
    rows, cols = (int(m.group(1)), int(m.group(2))) if m.group(1) else (int(m.group(3)), int(m.group(4)))
    if rows < 1 or cols < 1:
        raise ValueError(f"patch grid {name!r} must have at least one row and one column")
    if text.startswith("patch") and text != grid_tag((rows, cols)):
        raise ValueError(f"patch grid {name!r}: expected 'patch<rows><cols>' with one digit each, or "
                         f"'patch<rows>x<cols>' when one is 10 or more; this grid is {grid_tag((rows, cols))!r}")
    return rows, cols


def grid_tag(grid: tuple[int, int]) -> str:
    """(2, 3) -> `patch23`; (10, 3) -> `patch10x3` (the file-name tag; `grid_shape` reads it back)."""
    rows, cols = int(grid[0]), int(grid[1])
    if rows < 1 or cols < 1:
        raise ValueError(f"patch grid {grid!r} must have at least one row and one column")
    return f"patch{rows}{cols}" if rows < 10 and cols < 10 else f"patch{rows}x{cols}"


parse_grid = grid_shape  # the name extraction uses for its --patch-grids values
