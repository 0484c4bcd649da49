"""STA-MIL loss (Liu et al., ICASSP 2022), eqs. (4)-(6):

    L_total = lambda_MCE * L_MCE + L_MIL
    L_MCE   = 1 - Avg_{i<j} cos(f^n_i, f^n_j) + Avg_{i<j} min(cos(f^p_i, f^p_j), xi)        eq. (4)
    L_MIL   = max(0, 1 - max_i r(f^p_i) + max_j r(f^n_j))
              + lambda1 sum_i (r(f^p_{i+1}) - r(f^p_i))^2 + lambda2 sum_i r(f^p_i)        eq. (5)

with lambda_MCE = 2e-2, xi = 0.4, lambda1 = 2e-4, lambda2 = 4e-5. L_MIL is Sultani et al.'s ranking
loss (`MILRankingLoss`). Over a batch, every term is averaged over its videos (and, for L_MCE,
over the crops of a video).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vadbench.models.components.precision import in_float32
from vadbench.models.sultani.loss import MILRankingLoss


def mean_pairwise_cosine(features: torch.Tensor, mask: torch.Tensor | None = None,
                         ceiling: float | None = None) -> torch.Tensor:
    """Avg over clip pairs i < j of cos(f_i, f_j) (optionally min(cos, ceiling)), per video.

    features (B, V, T, C): V crops per video, each averaged separately, then over crops.
    mask (B, T): pairs with a padded clip are left out. Returns (B,).
    """
    unit = F.normalize(features, dim=-1)
    cos = unit @ unit.transpose(-1, -2)  # (B, V, T, T)
    if ceiling is not None:
        cos = cos.clamp(max=ceiling)  # min(cos, xi)
    t = features.shape[2]
    pairs = torch.ones(t, t, dtype=torch.bool, device=features.device).triu(1)[None]  # i < j
    if mask is not None:
        pairs = pairs & mask[:, :, None] & mask[:, None, :]
    weights = pairs.to(cos.dtype)[:, None]  # (B or 1, 1, T, T)
    per_crop = (cos * weights).sum((-1, -2)) / weights.sum((-1, -2)).clamp(min=1)
    return per_crop.mean(1)


def mutual_cosine_embedding_loss(normal: torch.Tensor, abnormal: torch.Tensor, margin: float = 0.4,
                                 mask_normal: torch.Tensor | None = None,
                                 mask_abnormal: torch.Tensor | None = None) -> torch.Tensor:
    """STA-MIL eq. (4) on boosted features `normal`, `abnormal` (B, V, T, C) of paired videos:
    pull the clips of a normal video together, push those of an anomalous one apart down to cos = xi."""
    compact = mean_pairwise_cosine(normal, mask_normal)
    spread = mean_pairwise_cosine(abnormal, mask_abnormal, ceiling=margin)
    return (1 - compact + spread).mean()


class STAMILLoss(nn.Module):
    """eq. (6): lambda_MCE * L_MCE (eq. 4; off with `use_mce=False`, Table 2) + L_MIL (eq. 5)."""

    def __init__(self, lambda_mce: float = 2e-2, mce_margin: float = 0.4, use_mce: bool = True,
                 ranking_margin: float = 1.0, lambda_smooth: float = 2e-4, lambda_sparsity: float = 4e-5):
        super().__init__()
        self.lambda_mce, self.mce_margin, self.use_mce = lambda_mce, mce_margin, use_mce
        self.mil = MILRankingLoss(ranking_margin, lambda_smooth, lambda_sparsity)

    @in_float32  # cosines of the boosted features, ranking margins: docs/precision.md
    def forward(self, boosted: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor,
                mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """boosted (2B, V, T, C), scores (2B, T), labels (2B,): B normal videos then B anomalous ones."""
        n = labels.shape[0] // 2
        terms = self.mil(scores, labels, mask)
        terms.pop("loss")
        if self.use_mce:
            m_nor = None if mask is None else mask[:n]
            m_abn = None if mask is None else mask[n:]
            terms["mce"] = self.lambda_mce * mutual_cosine_embedding_loss(
                boosted[:n], boosted[n:], self.mce_margin, m_nor, m_abn)
        terms["loss"] = sum(terms.values())
        return terms
