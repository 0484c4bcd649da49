"""The TRX head against the official code (tests/golden/data): a 5-way 1-shot episode with 5
queries per class and a 5-way 5-shot episode, support and queries in shuffled order. Logits (mean
and per cardinality), the summed loss, accuracy and the gradients of loss / 16."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tests.golden.official import load, load_official, official_state, rel_err, trx_features, trx_key_map
from vadbench.models.trx.loss import trx_loss
from vadbench.models.trx.torch_model import TemporalCrossTransformer, TRXModel

EPISODES = ("5way_1shot_5q", "5way_5shot_1q")


@pytest.fixture(scope="module")
def golden():
    arrays, meta = load("trx_official_head")
    model = TRXModel("resnet_tiny")     # the backbone is not used: the fixture feeds frame features
    model.transformers = nn.ModuleList(TemporalCrossTransformer(2048, 8, c, 1152) for c in (2, 3))
    head = nn.Module()
    head.transformers = model.transformers
    names = load_official(head, official_state("trx_head_official"), trx_key_map(),
                          unused_official=("transformers.0.norm_v", "transformers.1.norm_v"))  # never used officially
    model.double().eval()
    return arrays, meta, model, head, names


def episode(arrays, meta, name):
    info = meta["episodes"][name]
    support = torch.from_numpy(np.stack([trx_features(name, k) for k in info["support_video_keys"]])).double()
    query = torch.from_numpy(np.stack([trx_features(name, k) for k in info["query_video_keys"]])).double()
    return (support, torch.from_numpy(arrays[f"{name}_support_labels"]).long(), query,
            torch.from_numpy(arrays[f"{name}_query_labels"]).long(), info["way"])


@pytest.mark.parametrize("name", EPISODES)
def test_head_matches_official(golden, name):
    arrays, meta, model, head, names = golden
    support, support_labels, query, query_labels, way = episode(arrays, meta, name)
    model.zero_grad()
    logits = model(support, support_labels, query, way)
    # positional encoding computed in float32 and cast (official: float64): ~1e-7 on the logits
    np.testing.assert_allclose(logits.detach().numpy(), arrays[f"{name}_logits_f64"], rtol=0, atol=1e-6)
    order = torch.argsort(support_labels, stable=True)
    for i, card in enumerate((2, 3)):
        card_logits = model.transformers[i](support[order], query, way).detach().numpy()
        np.testing.assert_allclose(card_logits, arrays[f"{name}_logits_card{card}_f64"], rtol=0, atol=1e-6)
    loss = trx_loss(logits, query_labels)
    # the official loss holds log-probabilities in float32
    assert rel_err(loss, arrays[f"{name}_loss_sum_f64"]) < 1e-5
    accuracy = (logits.argmax(-1) == query_labels).double().mean()
    assert abs(float(accuracy) - float(arrays[f"{name}_accuracy_f64"])) < 1e-6
    (loss / 16).backward()
    params = dict(head.named_parameters())
    for i, official in enumerate(meta["param_names"]):
        if official not in names or official.endswith("v_linear.bias"):   # norm_v unused; v bias cancels
            continue
        assert rel_err(params[names[official]].grad.norm(), arrays[f"{name}_grad_norms_f64"][i]) < 1e-5, official
    for official in ("transformers.0.norm_k.weight", "transformers.0.norm_k.bias",
                     "transformers.1.k_linear.bias", "transformers.1.norm_k.bias"):
        reference = arrays[f"{name}_grad_" + official.replace(".", "_") + "_f64"]
        assert rel_err(params[names[official]].grad, reference) < 1e-5, official


def test_support_order_does_not_matter_but_labels_do(golden):
    """Shuffling the support (with its labels) keeps the logits; shuffling the labels alone does not."""
    arrays, meta, model, _, _ = golden
    support, support_labels, query, _, way = episode(arrays, meta, "5way_5shot_1q")
    with torch.no_grad():
        base = model(support, support_labels, query, way)
        perm = torch.randperm(len(support_labels), generator=torch.Generator().manual_seed(0))
        shuffled = model(support[perm], support_labels[perm], query, way)
        wrong = model(support, support_labels[perm], query, way)
    torch.testing.assert_close(shuffled, base, rtol=1e-10, atol=1e-10)
    assert (wrong - base).abs().max() > 1e-2
