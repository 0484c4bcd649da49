"""`relation_bias: false` (recipe/rtfm_official.yaml): our RTFM core then has exactly the official
code's tensors (no bias on conv_4 / conv_5) and computes the official eval forward."""

from __future__ import annotations

import torch

from tests.golden.official import load_official, rel_err, rtfm_key_map
from tests.golden.test_rtfm_golden import TOL, golden  # noqa: F401 - the module fixture
from vadbench.models.rtfm.torch_model import RTFMModel


def test_without_relation_bias_the_state_is_the_official_one(golden):  # noqa: F811
    model = RTFMModel(dropout=0.0, exclusion_rate=0.0, attention_norm="count", relation_bias=False)
    names = load_official(model, golden["state"], rtfm_key_map())
    assert set(names.values()) == set(model.state_dict())      # every tensor of ours is an official one
    with_bias = RTFMModel(attention_norm="count")
    extra = set(with_bias.state_dict()) - set(model.state_dict())
    assert extra == {"relation.reduce.0.bias", "relation.fuse.0.bias"}
    model.eval()
    with torch.no_grad():
        out = model(golden["batch"])
    assert rel_err(out.scores, golden["fwd"]["eval_scores_f64"]) < TOL
