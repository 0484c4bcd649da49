"""The OTAM head against its reference code (OTAM has no official code; the reference is
tobyperrett/few-shot-action-recognition 3687f3a: `CNN_OTAM`, `OTAM_cum_dist`, `cos_sim`), fixtures in
tests/golden/data/otam_reference_head.npz: a 5-way 1-shot episode with 5 queries per class and a 5-way
5-shot episode, support and queries in shuffled order, float64. Logits, the two alignment directions
alone, the loss, accuracy and the full gradients with respect to every support and query frame feature
(the head has no parameters: these are all its gradients). Also: the soft-DTW recursion against a plain
double loop written here and a 3 x 3 case checked by hand, and each switch away from the reference
(lambda, padding/vertical moves, cosine eps, soft vs hard minimum, one direction) moves the numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tests.golden.official import load, rel_err, u
from vadbench.models.otam.loss import otam_loss
from vadbench.models.otam.torch_model import (OTAMHeadConfig, OTAMModel, frame_cosine_distance,
                                              otam_cumulative_distance)

EPISODES = ("5way_1shot_5q", "5way_5shot_1q")
SEED = "golden-otam-v1"
TOL = 1e-6


def otam_features(episode: str, video_key: str, t: int = 8, d: int = 64) -> np.ndarray:
    """(8, 64) float32 frame features of an OTAM golden video (tests/golden/data/README.md, OTAM section)."""
    cls = video_key.rsplit("/", 1)[1].split("_")[0]          # "class<c>"
    e = f"{SEED}/otam/{episode}"
    x = 0.3 * u(e + "/common", t, d) + 0.5 * u(f"{e}/{cls}", t, d) + 0.4 * u(video_key, t, d)
    return x.astype(np.float32)


@pytest.fixture(scope="module")
def golden():
    return load("otam_reference_head")


def episode(arrays, meta, name):
    info = meta["episodes"][name]
    support = torch.from_numpy(np.stack([otam_features(name, k) for k in info["support_video_keys"]])).double()
    query = torch.from_numpy(np.stack([otam_features(name, k) for k in info["query_video_keys"]])).double()
    return (support, torch.from_numpy(arrays[f"{name}_support_labels"]).long(), query,
            torch.from_numpy(arrays[f"{name}_query_labels"]).long(), info["way"])


def head_model(**head) -> OTAMModel:
    model = OTAMModel("resnet_tiny", head=OTAMHeadConfig(**head))  # the backbone is not used: features are fed
    return model.double().eval()


def logits_loss_grads(model, support, support_labels, query, query_labels, way):
    support, query = support.clone().requires_grad_(True), query.clone().requires_grad_(True)
    logits = model(support, support_labels, query, way)
    loss = otam_loss(logits, query_labels)
    loss.backward()
    return logits.detach(), loss.detach(), support.grad, query.grad


@pytest.mark.parametrize("name", EPISODES)
def test_head_matches_reference(golden, name):
    arrays, meta = golden
    support, support_labels, query, query_labels, way = episode(arrays, meta, name)
    logits, loss, grad_support, grad_query = logits_loss_grads(head_model(), support, support_labels, query,
                                                               query_labels, way)
    assert rel_err(logits, arrays[f"{name}_logits_f64"]) < TOL
    assert rel_err(loss, arrays[f"{name}_loss_f64"]) < TOL
    accuracy = (logits.argmax(-1) == query_labels).double().mean()
    assert abs(float(accuracy) - float(arrays[f"{name}_accuracy_f64"])) < 1e-6   # the reference's mean is float32
    assert rel_err(grad_support, arrays[f"{name}_grad_support_f64"]) < TOL
    assert rel_err(grad_query, arrays[f"{name}_grad_query_f64"]) < TOL
    # each alignment direction alone, every query against every support video
    distances = frame_cosine_distance(query, support, 0.01)
    assert rel_err(otam_cumulative_distance(distances), arrays[f"{name}_cum_dist_q2s_f64"]) < TOL
    assert rel_err(otam_cumulative_distance(distances.transpose(-1, -2)), arrays[f"{name}_cum_dist_s2q_f64"]) < TOL


# ------------------------------------------------------------------ a plain double loop, and a hand check
def loop_otam(d: list[list[float]], lam: float = 0.1, vertical_first_column: bool = True) -> float:
    """OTAM's cumulative distance written out cell by cell (no tensors): zero columns padded before the
    first and after the last column; row 0 a running sum; rows l >= 1 a soft minimum (lambda = 0: min)
    over the diagonal and horizontal predecessors, plus the vertical one in column 1 (reference) and in
    the last (padded) column."""
    def softmin(xs):
        if lam == 0:
            return min(xs)
        return -lam * math.log(sum(math.exp(-x / lam) for x in xs))

    padded = [[0.0] + list(row) + [0.0] for row in d]
    rows, cols = len(padded), len(padded[0])
    g = [[0.0] * cols for _ in range(rows)]
    for m in range(1, cols):
        g[0][m] = padded[0][m] + g[0][m - 1]
    for l in range(1, rows):
        for m in range(1, cols):
            cands = [g[l - 1][m - 1], g[l][m - 1]]
            if m == cols - 1 or (m == 1 and vertical_first_column):
                cands.append(g[l - 1][m])
            g[l][m] = padded[l][m] + softmin(cands)
    return g[-1][-1]


SMALL = [[0.1, 0.5, 0.9], [0.4, 0.2, 0.6], [0.8, 0.7, 0.3]]


def test_small_case_by_hand_and_by_loop(golden):
    arrays, _ = golden
    small = torch.tensor(SMALL, dtype=torch.float64)[None, None]
    # hard minimum, by hand: the best ordered path is the diagonal, 0.1 + 0.2 + 0.3
    assert loop_otam(SMALL, lam=0) == pytest.approx(0.6, abs=1e-12)
    assert float(otam_cumulative_distance(small, smoothing=0.0)) == pytest.approx(0.6, abs=1e-12)
    # hard minimum, the other direction (transposed matrix): again the diagonal
    assert float(otam_cumulative_distance(small.transpose(-1, -2), smoothing=0.0)) == pytest.approx(0.6, abs=1e-12)
    # soft minimum (lambda 0.1): the loop, our recursion and the reference agree; the soft minimum lies
    # below the hard one (log-sum-exp over several paths)
    reference = float(arrays["small_cum_dist_f64"].reshape(()))
    assert loop_otam(SMALL) == pytest.approx(reference, rel=1e-12)
    assert float(otam_cumulative_distance(small)) == pytest.approx(reference, rel=1e-12)
    assert reference == pytest.approx(0.5788755847415966, rel=1e-12) and reference < 0.6
    lam05 = float(arrays["small_cum_dist_lambda_0.05_f64"].reshape(()))
    assert float(otam_cumulative_distance(small, smoothing=0.05)) == pytest.approx(lam05, rel=1e-12)
    assert loop_otam(SMALL, lam=0.05) == pytest.approx(lam05, rel=1e-12)


def test_recursion_matches_loop_on_random_matrices():
    gen = torch.Generator().manual_seed(0)
    d = torch.rand(3, 5, 7, generator=gen, dtype=torch.float64) * 2
    for lam in (0.1, 0.5, 0.0):
        for vertical in ("reference", "paper"):
            ours = otam_cumulative_distance(d, smoothing=lam, vertical_moves=vertical)
            loops = [loop_otam(m.tolist(), lam, vertical == "reference") for m in d]
            np.testing.assert_allclose(ours.numpy(), loops, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------ every switch away from the reference moves the numbers
@pytest.mark.parametrize("change", [
    {"smoothing": 0.05}, {"smoothing": 0.0}, {"cosine_eps": 0.0}, {"directions": "query_to_support"},
    {"vertical_moves": "paper"},
])
def test_each_switch_changes_the_logits(golden, change):
    arrays, meta = golden
    for name in EPISODES:
        support, support_labels, query, query_labels, way = episode(arrays, meta, name)
        with torch.no_grad():
            logits = head_model(**change)(support, support_labels, query, way)
        assert rel_err(logits, arrays[f"{name}_logits_f64"]) > 100 * TOL, (change, name)


def test_support_order_does_not_matter_but_labels_do(golden):
    arrays, meta = golden
    support, support_labels, query, _, way = episode(arrays, meta, "5way_5shot_1q")
    model = head_model()
    with torch.no_grad():
        base = model(support, support_labels, query, way)
        perm = torch.randperm(len(support_labels), generator=torch.Generator().manual_seed(0))
        shuffled = model(support[perm], support_labels[perm], query, way)
        wrong = model(support, support_labels[perm], query, way)
    torch.testing.assert_close(shuffled, base, rtol=1e-12, atol=1e-12)
    assert (wrong - base).abs().max() > 1e-3


def test_unequal_shots_are_refused():
    model = head_model()
    support, query = torch.rand(3, 4, 8, dtype=torch.float64), torch.rand(2, 4, 8, dtype=torch.float64)
    with pytest.raises(ValueError, match="same number of shots"):
        model(support, torch.tensor([0, 0, 1]), query, 2)
    with pytest.raises(ValueError, match="same D"):
        model(support, torch.tensor([0, 1, 1]), torch.rand(2, 4, 9, dtype=torch.float64), 2)
