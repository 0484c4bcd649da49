"""BN-WVAD's loss (official `LossComputer`: `NormalLoss` + `MPPLoss`).

- normal: the mean over the B normal videos of the L2 norm of their T head scores (every normal
  snippet pushed to score 0), times `lambda_normal` (1);
- mpp (mean-based pull-push), per normal-head layer l with weight w_l (official 5 and 20): a margin-1
  triplet loss whose anchor is the layer's BatchNorm running mean mu, with distance
  d(x) = DFM(x) = sqrt(sum((x - mu)^2 / var)): mean over the n selected pairs of
  max(0, d(normal_i) - d(abnormal_i) + margin). Terms `mpp_1`, `mpp_2` (already weighted).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vadbench.models.bn_wvad.torch_model import BNWVADTrainOutput
from vadbench.models.components.precision import in_float32


def _dfm(x: torch.Tensor, mean: torch.Tensor, var: torch.Tensor, kind: str) -> torch.Tensor:
    """x (n, H) -> (n,) distance to the running mean (diagonal Mahalanobis or Euclidean)."""
    sq = (x - mean).pow(2)
    return (sq / var if kind == "mahalanobis" else sq).sum(-1).sqrt()


class BNWVADLoss(nn.Module):
    def __init__(self, lambda_normal: float = 1.0, mpp_weights: tuple[float, ...] = (5.0, 20.0), margin: float = 1.0):
        super().__init__()
        self.lambda_normal, self.mpp_weights, self.margin = lambda_normal, tuple(mpp_weights), margin

    @in_float32  # distances to the running mean (differences of close numbers, long sums): docs/precision.md
    def forward(self, out: BNWVADTrainOutput, labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        terms = {"normal": self.lambda_normal * out.normal_scores.norm(p=2, dim=1).mean()}
        for i, (w, mean, var, nor, abn) in enumerate(zip(self.mpp_weights, out.means, out.variances, out.normal,
                                                         out.abnormal), start=1):
            pull = _dfm(nor, mean, var, out.distance)
            push = _dfm(abn, mean, var, out.distance)
            terms[f"mpp_{i}"] = w * F.relu(pull - push + self.margin).mean()
        terms["loss"] = sum(terms.values())
        return terms
