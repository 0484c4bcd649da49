"""Sultani et al. MIL ranking loss (paper eq. (7)): hinge ranking of the bags' maximum scores
plus temporal smoothness and sparsity of the anomalous bag's scores, lambda1 = lambda2 = 8e-5."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vadbench.models.rtfm.loss import smoothness_loss, sparsity_loss


def masked_max(scores: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    return scores.amax(1) if mask is None else scores.masked_fill(~mask, float("-inf")).amax(1)


class MILRankingLoss(nn.Module):
    def __init__(self, margin: float = 1.0, lambda_smooth: float = 8e-5, lambda_sparsity: float = 8e-5):
        super().__init__()
        self.margin, self.lambda_smooth, self.lambda_sparsity = margin, lambda_smooth, lambda_sparsity

    def forward(self, scores: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """scores (2B, T): B normal bags then B anomalous bags (paired by position)."""
        n = labels.shape[0] // 2
        m_nor = None if mask is None else mask[:n]
        m_abn = None if mask is None else mask[n:]
        terms = {
            # max(0, 1 - max_i f(V_a^i) + max_i f(V_n^i))
            "ranking": F.relu(self.margin - masked_max(scores[n:], m_abn) + masked_max(scores[:n], m_nor)).mean(),
            "smoothness": self.lambda_smooth * smoothness_loss(scores[n:], m_abn),
            "sparsity": self.lambda_sparsity * sparsity_loss(scores[n:], m_abn, "l1"),
        }
        terms["loss"] = sum(terms.values())
        return terms
