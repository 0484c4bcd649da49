"""ATA against its official code (VinAIResearch/fsvc-ata a6b3143), fixtures in
tests/golden/data/ata_official_golden.npz (how they were made: tests/golden/data/README.md, ATA section):

- training: one step of the official `train()` (per-segment classifier `new_fc` on per-frame features,
  the ResNet replaced by an identity, dropout p = 0) on 12 videos of 6 training classes in shuffled order:
  the similarities D, the appearance and temporal scores, the loss, the training accuracy scores and the
  full gradients of the classifier weight, bias and input features; also on a "saturated" batch
  (features x 1000: softmax entries underflow to exactly 0, where the official eps inside the logarithms
  keeps the loss finite);
- few-shot test: the official `inductive()` and `transductive()` (50 prototype refinement steps) on a
  5-way 1-shot episode with 5 queries per class and a 5-way 5-shot episode with 1 query per class, fed
  to us in shuffled order: the final scores (softmax(appearance) + softmax(temporal) inductive,
  softmax(appearance) transductive).
All in float64, <= 1e-6 relative."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.golden.official import load, official_state, rel_err, u
from vadbench.models.ata.loss import ATALoss
from vadbench.models.ata.torch_model import (ATAHeadConfig, ATAModel, appearance_score, similarity_matrix,
                                             temporal_prior, temporal_score)

SEED = "golden-ata-v1"
EPISODES = ("5way_1shot_5q", "5way_5shot_1q")
MODES = ("inductive", "transductive")
TOL = 1e-6
DIM = 256


def ata_features(episode_key: str, cls: int, video_key: str, t: int = 8, d: int = DIM) -> np.ndarray:
    """(8, 256) float32 frame features of an ATA golden video (tests/golden/data/README.md, ATA section)."""
    x = 0.3 * u(episode_key + "/common", t, d) + 0.5 * u(f"{episode_key}/class{cls}", t, d) + 0.4 * u(video_key, t, d)
    return x.astype(np.float32)


def class_of(video_key: str) -> int:
    return int(video_key.rsplit("/", 1)[1].split("_")[0][len("class"):])


@pytest.fixture(scope="module")
def golden():
    return load("ata_official_golden")


def model(num_classes: int = 6, **head) -> ATAModel:
    """ATAModel in float64 with the official `new_fc` weights as its classifier; eval mode (dropout off,
    as the official step with p = 0). The backbone is not used: features are fed."""
    net = ATAModel("resnet_tiny", num_classes=num_classes, head=ATAHeadConfig(**head)).double().eval()
    net.classifier = torch.nn.Linear(DIM, num_classes * 8, dtype=torch.float64)   # the fixtures' D = 256
    state = official_state("ata_head_official", seed=SEED)
    net.classifier.load_state_dict({"weight": state["new_fc.weight"], "bias": state["new_fc.bias"]})
    return net


def train_batch(meta, name):
    info = meta["train"][name]
    x = np.stack([ata_features(info["episode_key"], c, k) for c, k in zip(info["labels"], info["video_keys"])])
    x = torch.from_numpy((x * np.float32(info["feature_multiplier"])).astype(np.float32)).double()  # x1000 in float32
    return x, torch.tensor(info["labels"])


@pytest.mark.parametrize("name", ["train", "train_saturated"])
def test_training_step_matches_official(golden, name):
    arrays, meta = golden
    net = model()
    x, labels = train_batch(meta, name)
    assert (labels.numpy() == arrays[f"{name}_labels"]).all()
    x.requires_grad_(True)
    outputs = net.classify(x)
    loss, terms = ATALoss()(outputs, labels)
    loss.backward()
    assert torch.isfinite(loss)
    assert rel_err(loss, arrays[f"{name}_loss_f64"]) < TOL
    assert rel_err(outputs.similarity, arrays[f"{name}_D_f64"]) < TOL
    assert rel_err(outputs.normalized, arrays[f"{name}_norm_D_f64"]) < TOL
    sim = outputs.similarity.detach()
    sim_a, sim_d = appearance_score(sim, 1.0), temporal_score(sim.softmax(2), outputs.prior, 1.0)
    assert rel_err(sim_a, arrays[f"{name}_sim_a_f64"]) < TOL
    assert rel_err(sim_d, arrays[f"{name}_sim_d_f64"]) < TOL
    assert rel_err(sim_a.softmax(1) + sim_d.softmax(1), arrays[f"{name}_train_sim_f64"]) < TOL
    assert rel_err(net.classifier.weight.grad, arrays[f"{name}_grad_new_fc.weight_f64"]) < TOL
    assert rel_err(net.classifier.bias.grad, arrays[f"{name}_grad_new_fc.bias_f64"]) < TOL
    if f"{name}_grad_features_f64" in arrays:
        assert rel_err(x.grad, arrays[f"{name}_grad_features_f64"]) < TOL
    # the terms add up to the loss with the official weights
    total = terms["loss_ce"] + 0.1 * terms["conditional_entropy"] - terms["entropy"] - 0.05 * terms["temporal"]
    assert float((total - loss).detach().abs()) < 1e-12 * max(1.0, float(loss.detach().abs()))


def episode(arrays, meta, name):
    info = meta["episodes"][name]
    e = info["episode_key"]
    support = np.stack([ata_features(e, class_of(k), k) for k in info["support_video_keys"]])
    query = np.stack([ata_features(e, class_of(k), k) for k in info["query_video_keys"]])
    return (torch.from_numpy(support).double(), torch.from_numpy(arrays[f"{name}_support_labels"]).long(),
            torch.from_numpy(query).double(), torch.from_numpy(arrays[f"{name}_query_labels"]).long(), info)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", EPISODES)
def test_few_shot_test_matches_official(golden, name, mode):
    arrays, meta = golden
    support, support_labels, query, query_labels, info = episode(arrays, meta, name)
    assert support_labels.tolist() == [class_of(k) for k in info["support_video_keys"]]
    net = model(transductive=mode == "transductive")
    logits = net(support, support_labels, query, info["way"])
    # official rows: the queries in the official order; ours: shuffled (query_order)
    expected = arrays[f"{name}_{mode}_logits_f64"][info["query_order"]]
    assert rel_err(logits, expected) < TOL
    accuracy = 100 * (logits.argmax(-1) == query_labels).double().mean()
    assert abs(float(accuracy) - float(arrays[f"{name}_{mode}_accuracy_f64"])) < 1e-9


def test_scores_match_official_on_stored_similarities(golden):
    """The scores as the test path computes them (scale 5), on the official training similarities."""
    arrays, _ = golden
    d = torch.from_numpy(arrays["train_D_f64"])
    prior = temporal_prior(8)
    assert rel_err(appearance_score(d, 5.0), 5 * arrays["train_sim_a_f64"]) < TOL
    assert rel_err(temporal_score(d.softmax(2), prior, 5.0), 5 * arrays["train_sim_d_f64"]) < TOL


def test_prior_by_hand():
    """Row i of the prior: exp(-((i - j) / 8 / sqrt(2 / 64))^2 / 2) = exp(-(i - j)^2 / 4), normalised."""
    prior = temporal_prior(8)
    d = torch.arange(8, dtype=torch.float64)
    hand = torch.exp(-(d[:, None] - d[None, :]) ** 2 / 4)
    torch.testing.assert_close(prior, hand / hand.sum(1, keepdim=True), rtol=1e-14, atol=1e-15)
    assert int(prior.argmax(dim=1).eq(torch.arange(8)).sum()) == 8


def test_similarity_layout():
    q, p = torch.rand(2, 3, 4, dtype=torch.float64), torch.rand(5, 3, 4, dtype=torch.float64)
    d, n = similarity_matrix(q, p, 2.0)
    assert d.shape == (2, 3, 3, 5)
    assert float(d[1, 2, 0, 4]) == pytest.approx(2 * float(q[1, 2] @ p[4, 0]), rel=1e-14)
    torch.testing.assert_close(n.sum(2), torch.ones(2, 3, 5, dtype=torch.float64))


@pytest.mark.parametrize("change", [
    {"prior_width": 1.0}, {"sigma": 2.0}, {"test_scale": 1.0}, {"init_scale": 5.0}, {"refine_steps": 10},
    {"refine_lr": 1e-2}, {"refine_entropy_weight": 0.0}, {"refine_conditional_entropy_weight": 0.0},
])
def test_each_switch_changes_the_logits(golden, change):
    arrays, meta = golden
    support, support_labels, query, _, info = episode(arrays, meta, "5way_5shot_1q")
    logits = model(**change)(support, support_labels, query, info["way"])
    expected = arrays[f"5way_5shot_1q_inductive_logits_f64"][info["query_order"]]
    assert rel_err(logits, expected) > 100 * TOL, change


def test_support_order_does_not_matter_but_labels_do(golden):
    arrays, meta = golden
    support, support_labels, query, _, info = episode(arrays, meta, "5way_5shot_1q")
    net = model(refine_steps=5)
    base = net(support, support_labels, query, info["way"])
    perm = torch.randperm(len(support_labels), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(net(support[perm], support_labels[perm], query, info["way"]), base,
                               rtol=1e-10, atol=1e-12)
    assert (net(support, support_labels[perm], query, info["way"]) - base).abs().max() > 1e-3


def test_bad_input_is_refused():
    net = model(refine_steps=1)
    support, query = torch.rand(3, 8, 16, dtype=torch.float64), torch.rand(2, 8, 16, dtype=torch.float64)
    with pytest.raises(ValueError, match="same number of shots"):
        net(support, torch.tensor([0, 0, 1]), query, 2)
    with pytest.raises(ValueError, match="T=8"):
        net(support[:, :4], torch.tensor([0, 1, 1]), query, 2)
    with pytest.raises(ValueError, match="outside the classifier"):
        ATALoss()(net.classify(torch.rand(2, 8, DIM, dtype=torch.float64)), torch.tensor([0, 6]))
