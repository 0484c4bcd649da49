"""The STRM head against the official code (tests/golden/data/strm_official_head.npz): PLE, QC, FLE and
TRX cross-transformers on per-frame 7x7 feature maps (D = 32), a 5-way 1-shot episode (5 queries per class)
and a 5-way 5-shot episode (2 queries per class), support and queries shuffled; with the official
cardinalities [2] and with [2, 3]. Logits of each part, the enriched features, every loss term and the
gradients of the official task loss (TRX CE + 0.1 QC CE) / 16, all in float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tests.golden.official import load, load_official, official_state, rel_err, strm_feature_maps, strm_key_map
from vadbench.models.strm.loss import STRMLoss
from vadbench.models.strm.torch_model import FrameEnrichment, PatchEnrichment, QueryClassSimilarity, STRMModel
from vadbench.models.trx.torch_model import TRXHeadConfig

EPISODES = {"5way_1shot_5q": (2,), "5way_5shot_2q": (2,), "5way_1shot_5q_t23": (2, 3), "5way_5shot_2q_t23": (2, 3)}
DIM, PROJ = 32, 16
TOL = 1e-6
# gradients that are zero up to rounding in exact arithmetic: a softmax ignores a constant added to every key
# logit (PLE key bias), a query's attention weights sum to one (TRX value bias cancels in query - prototype)
ZERO_GRADS = ("attn_pat.key_proj.bias", "v_linear.bias")


def build(cardinalities: tuple[int, ...]) -> tuple[STRMModel, nn.Module, dict[str, str]]:
    """Our model in its official setting, the ResNet replaced by an identity, D = 32, with the formula weights."""
    head_cfg = TRXHeadConfig(seq_len=8, cardinalities=cardinalities, proj_dim=PROJ)
    model = STRMModel("resnet_tiny", head=head_cfg, train_qc_projection=True)   # to compare the QC gradients too
    model.backbone = nn.Identity()        # the fixture feeds feature maps
    model.feature_dim = DIM
    model.patch_enrichment = PatchEnrichment(DIM, 16)
    model.query_class = nn.ModuleList(QueryClassSimilarity(DIM, 8, c) for c in cardinalities)
    model.frame_enrichment = FrameEnrichment(DIM, 8)
    model.transformers = head_cfg.transformers(feature_dim=DIM)
    head = nn.Module()
    for part in ("patch_enrichment", "query_class", "frame_enrichment", "transformers"):
        setattr(head, part, getattr(model, part))
    prefixes = tuple(f"{p}.{i}." for p in ("transformers", "new_dist_loss_post_pat")
                     for i in range(len(cardinalities), 3))   # the cardinality-3 parts when only pairs are built
    state = official_state("strm_head_official", skip_prefixes=prefixes, seed="golden-strm-v1")
    names = load_official(head, state, strm_key_map(len(cardinalities)),
                          unused_official=tuple(f"transformers.{i}.norm_v" for i in range(3)))   # never used officially
    model.double().eval()
    return model, head, names


@pytest.fixture(scope="module")
def golden():
    return load("strm_official_head")


def episode(arrays, meta, name):
    info = meta["episodes"][name]
    maps = lambda keys: torch.from_numpy(np.stack([strm_feature_maps(name, k) for k in keys])).double()  # noqa: E731
    return (maps(info["support_video_keys"]), torch.from_numpy(arrays[f"{name}_support_labels"]).long(),
            maps(info["query_video_keys"]), torch.from_numpy(arrays[f"{name}_query_labels"]).long(), info["way"])


@pytest.mark.parametrize("name", EPISODES)
def test_head_matches_official(golden, name):
    arrays, meta = golden
    cards = EPISODES[name]
    assert tuple(meta["episodes"][name]["temp_set"]) == cards
    model, head, names = build(cards)
    support_maps, support_labels, query_maps, query_labels, way = episode(arrays, meta, name)
    ref = lambda key: arrays[f"{name}_{key}_f64"]   # noqa: E731
    support, query = model.embed(support_maps), model.embed(query_maps)   # adaptive max pool 7x7 -> 4x4 patches
    model.zero_grad()
    out = model(support, support_labels, query, way)
    assert rel_err(out.frame_logits, ref("logits")) < TOL
    assert rel_err(out.patch_logits, ref("logits_post_pat")) < TOL
    assert rel_err(model.logits(out), ref("logits_combined")) < TOL
    with torch.no_grad():   # intermediate features and each cardinality alone
        order = torch.argsort(support_labels, stable=True)
        s_pat = model.enrich_patches(support)
        assert rel_err(s_pat, ref("support_patch_enriched")) < TOL
        assert rel_err(model.frame_enrichment(s_pat), ref("support_frame_enriched")) < TOL
        s_pat, q_pat = s_pat[order], model.enrich_patches(query)
        s_fr, q_fr = model.frame_enrichment(s_pat), model.frame_enrichment(q_pat)
        for i, c in enumerate(cards):
            assert rel_err(model.transformers[i](s_fr, q_fr, way), ref(f"logits_card{c}")) < TOL
            assert rel_err(model.query_class[i](s_pat, q_pat, way), ref(f"logits_qc_card{c}")) < TOL
    loss, terms = STRMLoss(qc_weight=0.1)(out, query_labels)
    # the official loss() holds the per-query log-probabilities in float32: its values carry float32 rounding
    assert rel_err(terms["loss_frame"], ref("loss_sum_frame")) < TOL
    assert rel_err(terms["loss_qc"], ref("loss_sum_patch")) < TOL
    assert rel_err(loss / 16, ref("task_loss")) < TOL
    accuracy = (model.logits(out).argmax(-1) == query_labels).double().mean()
    assert abs(float(accuracy) - float(ref("accuracy"))) < 1e-6
    (loss / 16).backward()
    params = dict(head.named_parameters())
    checked = 0
    for i, official in enumerate(meta["episodes"][name]["param_names"]):
        if official not in names or official.endswith(ZERO_GRADS):
            continue
        grad = params[names[official]].grad
        assert rel_err(grad.norm(), ref("grad_norms")[i]) < TOL, official
        key = f"{name}_grad_" + official.replace(".", "_") + "_f64"
        if key in arrays:
            assert rel_err(grad, arrays[key]) < TOL, official
            checked += 1
    assert checked >= (4 if len(cards) > 1 else 20)


def test_support_order_does_not_matter_but_labels_do(golden):
    """Shuffling the support (with its labels) keeps the logits; shuffling the labels alone does not."""
    arrays, meta = golden
    model, _, _ = build((2,))
    support_maps, support_labels, query_maps, _, way = episode(arrays, meta, "5way_5shot_2q")
    with torch.no_grad():
        support, query = model.embed(support_maps), model.embed(query_maps)
        base = model.logits(model(support, support_labels, query, way))
        perm = torch.randperm(len(support_labels), generator=torch.Generator().manual_seed(0))
        shuffled = model.logits(model(support[perm], support_labels[perm], query, way))
        wrong = model.logits(model(support, support_labels[perm], query, way))
    torch.testing.assert_close(shuffled, base, rtol=1e-10, atol=1e-10)
    assert (wrong - base).abs().max() > 1e-2


def test_cached_projection_matches_forward(golden):
    """The evaluation cache's path (`project` per video, `forward_projected` per episode) equals `forward`."""
    arrays, meta = golden
    model, _, _ = build((2, 3))
    support_maps, support_labels, query_maps, _, way = episode(arrays, meta, "5way_5shot_2q_t23")
    with torch.no_grad():
        support, query = model.embed(support_maps), model.embed(query_maps)
        direct = model(support, support_labels, query, way)
        cached = model.forward_projected(model.project(support), support_labels, model.project(query), way)
    torch.testing.assert_close(cached.frame_logits, direct.frame_logits, rtol=1e-12, atol=1e-9)
    torch.testing.assert_close(cached.patch_logits, direct.patch_logits, rtol=1e-12, atol=1e-12)
