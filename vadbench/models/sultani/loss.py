"""Sultani et al. MIL ranking loss (paper eq. (7)): hinge ranking of the bags' maximum scores
plus temporal smoothness and sparsity of the anomalous bag's scores, lambda1 = lambda2 = 8e-5.

`reduction` sets the scale:
- `mean` (default): the paired hinge (normal bag b against anomalous bag b) averaged over the B
  pairs, sparsity and smoothness averaged over the anomalous bags.
- `official_sum`: the official Keras `custom_objective` (WaqasSultani/AnomalyDetectionCVPR2018
  8aa957c), checked against tests/golden: every normal bag against EVERY anomalous bag, the hinges
  summed over the anomalous bags and averaged over the normal ones; sparsity (sum of all anomalous
  scores) and smoothness (sum of squared consecutive differences within each anomalous bag) summed
  over the bags. About B times the `mean` objective (B = 30 officially), so with the same weight
  decay the effective L2 is B times weaker than under `mean`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vadbench.models.components.precision import in_float32
from vadbench.models.rtfm.loss import smoothness_loss, sparsity_loss


def masked_max(scores: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    return scores.amax(1) if mask is None else scores.masked_fill(~mask, float("-inf")).amax(1)


class MILRankingLoss(nn.Module):
    def __init__(self, margin: float = 1.0, lambda_smooth: float = 8e-5, lambda_sparsity: float = 8e-5,
                 reduction: str = "mean"):
        super().__init__()
        if reduction not in ("mean", "official_sum"):
            raise ValueError(f"reduction must be 'mean' or 'official_sum'; got {reduction!r}")
        self.margin, self.lambda_smooth, self.lambda_sparsity = margin, lambda_smooth, lambda_sparsity
        self.reduction = reduction

    @in_float32  # margins of max scores, sums over bags: docs/precision.md
    def forward(self, scores: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """scores (2B, T): B normal bags then B anomalous bags (paired by position)."""
        n = labels.shape[0] // 2
        m_nor = None if mask is None else mask[:n]
        m_abn = None if mask is None else mask[n:]
        if self.reduction == "official_sum":
            max_abn, max_nor = masked_max(scores[n:], m_abn), masked_max(scores[:n], m_nor)
            hinge = F.relu(self.margin - max_abn[None, :] + max_nor[:, None])     # (normal, anomalous)
            n_abn = scores.shape[0] - n
            terms = {
                "ranking": hinge.sum(1).mean(),
                "smoothness": self.lambda_smooth * smoothness_loss(scores[n:], m_abn) * n_abn,
                "sparsity": self.lambda_sparsity * sparsity_loss(scores[n:], m_abn, "l1") * n_abn,
            }
            terms["loss"] = sum(terms.values())
            return terms
        terms = {
            # max(0, 1 - max_i f(V_a^i) + max_i f(V_n^i))
            "ranking": F.relu(self.margin - masked_max(scores[n:], m_abn) + masked_max(scores[:n], m_nor)).mean(),
            "smoothness": self.lambda_smooth * smoothness_loss(scores[n:], m_abn),
            "sparsity": self.lambda_sparsity * sparsity_loss(scores[n:], m_abn, "l1"),
        }
        terms["loss"] = sum(terms.values())
        return terms
