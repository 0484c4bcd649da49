"""The HyRSM head against the official code (tests/golden/data/hyrsm_*): `CNN_HyRSM_1shot` on a 5-way
1-shot episode (3 queries per class, HMDB51 settings) and `CNN_HyRSM_5shot` on a 5-way 5-shot episode
(2 queries per class, Kinetics-100 settings), support and queries in shuffled order, D = 512 frame
features fed where the official ResNet would run. Logits, frame logits, both loss terms, the task loss
and the gradients of every parameter (norms and checksums; full gradients of the small ones)."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch

from tests.golden.official import SEED, key_table, load, official_state, rel_err, u
from vadbench.models.hyrsm.loss import hyrsm_loss
from vadbench.models.hyrsm.torch_model import HyRSMModel

EPISODES = ("5way_1shot_3q", "5way_5shot_2q")
WEIGHT_SEED = "golden-hyrsm-v1"
TOL = 1e-9

KEY_MAP = {"temporal_atte_before.norm": "intra.norm", "temporal_atte_before.fn.to_qkv": "intra.qkv",
           "temporal_atte_before.fn.to_out.0": "intra.out", "temporal_atte.w_qs": "inter.query",
           "temporal_atte.w_ks": "inter.key", "temporal_atte.w_vs": "inter.value", "temporal_atte.fc": "inter.fc",
           "temporal_atte.layer_norm": "inter.norm", "layer2.0": "fuse", "classification_layer": "frame_classifier"}


def our_name(official: str) -> str:
    module, leaf = official.rsplit(".", 1)
    return f"{KEY_MAP[module]}.{leaf}"


def hyrsm_features(episode: str, video_key: str, dim: int = 512, frames: int = 8) -> np.ndarray:
    """(8, 512) float32 frame features (tests/golden/data/README.md, HyRSM section: the TRX formula with D = 512,
    episode key golden-v1/hyrsm/<episode>, and the common sequence read from a per-video offset)."""
    cls = video_key.rsplit("/", 1)[1].split("_")[0]
    e = f"{SEED}/hyrsm/{episode}"
    offset = zlib.crc32(video_key.encode("utf-8")) % 5   # per-video temporal offset into the common sequence
    common = u(e + "/common", frames + 4, dim)[offset:offset + frames]
    x = 0.5 + 0.4 * common + 0.03 * u(f"{e}/{cls}", frames, dim) + 0.02 * u(video_key, frames, dim)
    return x.astype(np.float32)


def build(info: dict) -> HyRSMModel:
    model = HyRSMModel("resnet18", num_classes=info["num_class"], pe_a=info["position_A"],
                       pe_b=info["position_B"]).double()
    table = f"hyrsm_{info['head'][-5:]}_official"
    official = official_state(table, seed=WEIGHT_SEED)
    assert [r["key"] for r in key_table(table) if r["rule"] != "as_built"] == info["param_names"]
    state = model.state_dict()
    for key, value in official.items():
        ours = our_name(key)
        state[ours] = value.reshape(state[ours].shape)   # the official kernel-1 Conv1d is our Linear
    model.load_state_dict(state)
    return model.double().eval()


@pytest.fixture(scope="module")
def golden():
    return load("hyrsm_official_head")


def episode(arrays, meta, name):
    info = meta["episodes"][name]
    support = torch.from_numpy(np.stack([hyrsm_features(name, k) for k in info["support_video_keys"]])).double()
    query = torch.from_numpy(np.stack([hyrsm_features(name, k) for k in info["query_video_keys"]])).double()
    support_labels = torch.from_numpy(arrays[f"{name}_support_labels"])
    query_labels = torch.from_numpy(arrays[f"{name}_query_labels"])
    class_ids = torch.from_numpy(arrays[f"{name}_class_ids"])
    return info, support, support_labels, query, query_labels, class_ids[torch.cat([support_labels, query_labels])]


@pytest.mark.parametrize("name", EPISODES)
def test_head_matches_official(golden, name):
    arrays, meta = golden
    info, support, support_labels, query, query_labels, class_labels = episode(arrays, meta, name)
    model = build(info)
    out = model(support, support_labels, query, info["way"])
    assert rel_err(out.logits, arrays[f"{name}_logits_f64"]) < TOL
    assert rel_err(out.frame_logits.flatten(0, 1), arrays[f"{name}_class_logits_f64"]) < TOL
    terms = hyrsm_loss(out, query_labels, class_labels, info["classification_weight"], scale=1 / info["tasks"])
    assert rel_err(terms["loss_metric"], arrays[f"{name}_loss_metric_f64"]) < TOL
    assert rel_err(terms["loss_classification"], arrays[f"{name}_loss_class_f64"]) < TOL
    assert rel_err(terms["loss"], arrays[f"{name}_loss_task_f64"]) < TOL
    accuracy = (out.logits.argmax(-1) == query_labels).double().mean()
    assert abs(float(accuracy) - float(arrays[f"{name}_accuracy_f64"])) < 1e-12
    terms["loss"].backward()
    params = dict(model.named_parameters())
    for i, official in enumerate(info["param_names"]):
        grad = params[our_name(official)].grad.reshape(-1)
        assert rel_err(grad.norm(), arrays[f"{name}_grad_norms_f64"][i]) < TOL, official
        wsum = (grad * torch.from_numpy((np.arange(grad.numel()) % 97) / 97)).sum()
        scale = max(1.0, float(grad.abs().sum()))
        assert abs(float(wsum) - arrays[f"{name}_grad_wsums_f64"][i]) < TOL * scale, official
        key = f"{name}_grad_" + official.replace(".", "_") + "_f64"
        if key in arrays:
            assert rel_err(grad, arrays[key].reshape(-1)) < TOL, official


def test_support_order_does_not_matter_but_labels_do(golden):
    """Shuffling the support (with its labels) keeps the logits; shuffling the labels alone does not."""
    arrays, meta = golden
    info, support, support_labels, query, _, _ = episode(arrays, meta, "5way_5shot_2q")
    model = build(info)
    with torch.no_grad():
        base = model(support, support_labels, query, 5).logits
        perm = torch.randperm(len(support_labels), generator=torch.Generator().manual_seed(0))
        shuffled = model(support[perm], support_labels[perm], query, 5).logits
        wrong = model(support, support_labels[perm], query, 5).logits
    torch.testing.assert_close(shuffled, base, rtol=1e-10, atol=1e-10)
    assert (wrong - base).abs().max() > 1e-3


def test_unequal_shots_rejected():
    model = HyRSMModel("resnet_tiny", num_classes=4).double()
    with pytest.raises(ValueError, match="same number of shots"):
        model(torch.rand(3, 8, model.feature_dim).double(), torch.tensor([0, 0, 1]),
              torch.rand(2, 8, model.feature_dim).double(), 2)
