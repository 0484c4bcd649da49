"""SKPS-Net's training loss: spatio-temporal refined loss (sec. 2.4) and journal eq. (12)."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from vadbench.models.components.precision import in_float32
from vadbench.models.skps_net.torch_model import SKPSOutputs


def skps_loss(out: SKPSOutputs, labels: torch.Tensor, reduction: Literal["sum", "mean"] = "sum",
              temporal_weight: float = 1.0) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Total loss and its terms for one episode (query labels (Q,)).

    STR = CE(cross-transformer logits) + temporal_weight * CE(-D_TR) (sec. 2.4: "the sum of two
    parts"); with the extra TRX heads, loss = (STR + TRM_global + TRM_local) / 3 (journal eq. 12).
    Cross-entropy is summed over the queries (`sum`, as TRX's code) or averaged (`mean`).
    """
    terms = {"loss_cross_transformer": F.cross_entropy(out.cross_transformer, labels, reduction=reduction)}
    str_loss = terms["loss_cross_transformer"]
    if out.temporal is not None:
        terms["loss_temporal"] = F.cross_entropy(out.temporal, labels, reduction=reduction)
        str_loss = str_loss + temporal_weight * terms["loss_temporal"]
    terms["loss_str"] = str_loss
    losses = [str_loss]
    for name, logits in (("loss_global_trm", out.global_trm), ("loss_local_trm", out.local_trm)):
        if logits is not None:
            terms[name] = F.cross_entropy(logits, labels, reduction=reduction)
            losses.append(terms[name])
    loss = torch.stack(losses).mean()  # journal eq. (12): mean of the three losses
    terms["loss"] = loss
    return loss, terms


class SKPSLoss(nn.Module):
    """SKPS-Net's loss as a part the LightningModule receives: `(SKPSOutputs, labels) -> (loss, terms)`.

    Args:
        reduction: cross-entropy summed over the queries (`sum`, TRX's code) or averaged (`mean`).
        temporal_weight: weight of the Hausdorff cross-entropy in the STR loss (1: "the sum").
    """

    def __init__(self, reduction: Literal["sum", "mean"] = "sum", temporal_weight: float = 1.0):
        super().__init__()
        if reduction not in ("sum", "mean"):
            raise ValueError(f"SKPSLoss: unknown reduction {reduction!r}; expected sum or mean")
        self.reduction, self.temporal_weight = reduction, temporal_weight

    @in_float32  # cross-entropies of distance logits: docs/precision.md
    def forward(self, out: SKPSOutputs, labels: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return skps_loss(out, labels, self.reduction, self.temporal_weight)
