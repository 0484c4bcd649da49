"""`vadbench complexity --table6`: SSRL's variants built from the official-recipe config, parameter
counts beside SSRL Table 6's (191M full, 136M shared PSR, RTFM 28M). The official geometry without
the relation-convolution biases has exactly the official code's parameter count (the golden keys)."""

from __future__ import annotations

import math

from tests.golden.official import key_table
from vadbench.commands.complexity import main, table6


def official_params(name: str) -> int:
    """Parameters of the official model: the golden key table's shapes (BatchNorm buffers excluded)."""
    return sum(math.prod(row["shape"]) for row in key_table(name)
               if row["rule"] not in ("running_mean", "running_var", "zero"))


def test_table6_variants_beside_the_paper(capsys):
    rows = {r["variant"]: (r["params"], r["table6"]) for r in table6()}
    assert rows["SSRL, official MPA conv (default recipe)"] == (192_015_105, "191M")
    assert rows["SSRL, official MPA conv, relation biases"][0] - 192_015_105 == 10_240   # 4 relation nets x 2,560
    assert rows["SSRL, paper MPA conv (3x3 stride 2)"] == (185_723_649, "191M")
    assert rows["SSRL share parameters, official MPA conv"] == (144_807_169, "136M")
    assert rows["SSRL share parameters, paper MPA conv"] == (138_515_713, "136M")
    assert rows["RTFM = SSRL stage 1 (clip only)"] == (24_718_849, "28M")
    assert 192_015_105 == official_params("ssrl_stage4_official")       # the official code's exact count
    assert 24_718_849 == official_params("ssrl_stage1_official")
    assert main(["--table6"]) == 0
    out = capsys.readouterr().out
    assert "192.0M (192,015,105)  191M" in out and "185.7M (185,723,649)  191M" in out
