"""STA-MIL loss terms against eqs. (4)-(6), written with explicit loops over clips."""

from __future__ import annotations

import pytest
import torch

from vadbench.models.sta_mil import STAMILLoss, mean_pairwise_cosine, mutual_cosine_embedding_loss


def cos(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(a @ b / (a.norm() * b.norm()))


def eq4(normal: torch.Tensor, abnormal: torch.Tensor, xi: float) -> float:
    """eq. (4) for one pair of videos (T, C), one crop."""
    t = normal.shape[0]
    pairs = [(i, j) for i in range(t) for j in range(i + 1, t)]
    compact = sum(cos(normal[i], normal[j]) for i, j in pairs) / len(pairs)
    spread = sum(min(cos(abnormal[i], abnormal[j]), xi) for i, j in pairs) / len(pairs)
    return 1 - compact + spread


def eq5(s_abn: list[float], s_nor: list[float], lambda1: float, lambda2: float) -> float:
    ranking = max(0.0, 1 - max(s_abn) + max(s_nor))
    smooth = sum((s_abn[i + 1] - s_abn[i]) ** 2 for i in range(len(s_abn) - 1))
    sparse = sum(s_abn)
    return ranking + lambda1 * smooth + lambda2 * sparse


def test_mutual_cosine_embedding_loss_matches_eq4():
    torch.manual_seed(0)
    normal, abnormal = torch.randn(3, 1, 6, 5), torch.randn(3, 1, 6, 5)
    abnormal[0, 0, 1] = abnormal[0, 0, 0] * 2  # one pair with cos = 1 > xi: clipped to xi
    expected = sum(eq4(normal[b, 0], abnormal[b, 0], 0.4) for b in range(3)) / 3
    got = mutual_cosine_embedding_loss(normal, abnormal, margin=0.4)
    assert float(got) == pytest.approx(expected, rel=1e-5)


def test_mutual_cosine_extremes():
    same = torch.ones(1, 1, 4, 3)  # every normal clip identical: compact term = 1
    opposite = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])[None, None]  # cos = -1 < xi
    assert float(mutual_cosine_embedding_loss(same, opposite, 0.4)) == pytest.approx(1 - 1 + -1)
    assert float(mutual_cosine_embedding_loss(same, same, 0.4)) == pytest.approx(1 - 1 + 0.4)


def test_pairwise_cosine_crops_and_mask():
    torch.manual_seed(1)
    f = torch.randn(2, 3, 5, 4)
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    got = mean_pairwise_cosine(f, mask)
    for b, t in ((0, 5), (1, 3)):
        per_crop = []
        for v in range(3):
            pairs = [(i, j) for i in range(t) for j in range(i + 1, t)]
            per_crop.append(sum(cos(f[b, v, i], f[b, v, j]) for i, j in pairs) / len(pairs))
        assert float(got[b]) == pytest.approx(sum(per_crop) / 3, rel=1e-5)


def test_total_loss_matches_eq5_and_eq6():
    torch.manual_seed(2)
    b, t = 2, 8
    scores = torch.rand(2 * b, t)
    boosted = torch.randn(2 * b, 1, t, 6)
    labels = torch.tensor([0.0] * b + [1.0] * b)
    loss = STAMILLoss(lambda_mce=2e-2, mce_margin=0.4, lambda_smooth=2e-4, lambda_sparsity=4e-5)
    terms = loss(boosted, scores, labels)
    mil = sum(eq5(scores[b + k].tolist(), scores[k].tolist(), 2e-4, 4e-5) for k in range(b)) / b
    mce = sum(eq4(boosted[k, 0], boosted[b + k, 0], 0.4) for k in range(b)) / b
    assert float(terms["ranking"] + terms["smoothness"] + terms["sparsity"]) == pytest.approx(mil, rel=1e-5)
    assert float(terms["mce"]) == pytest.approx(2e-2 * mce, rel=1e-5)
    assert float(terms["loss"]) == pytest.approx(2e-2 * mce + mil, rel=1e-5)  # eq. (6)


def test_without_mce_the_loss_is_the_mil_ranking_loss():
    torch.manual_seed(3)
    scores, boosted = torch.rand(4, 8), torch.randn(4, 1, 8, 6)
    labels = torch.tensor([0.0, 0.0, 1.0, 1.0])
    terms = STAMILLoss(use_mce=False)(boosted, scores, labels)
    assert "mce" not in terms
    mil = sum(eq5(scores[2 + k].tolist(), scores[k].tolist(), 2e-4, 4e-5) for k in range(2)) / 2
    assert float(terms["loss"]) == pytest.approx(mil, rel=1e-5)


def test_loss_defaults_are_the_papers():
    loss = STAMILLoss()
    assert (loss.lambda_mce, loss.mce_margin, loss.use_mce) == (2e-2, 0.4, True)
    assert (loss.mil.margin, loss.mil.lambda_smooth, loss.mil.lambda_sparsity) == (1.0, 2e-4, 4e-5)
