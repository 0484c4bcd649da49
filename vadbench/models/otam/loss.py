"""OTAM's episode loss: cross-entropy of the query logits (-OTAM class distances)."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from vadbench.models.components.precision import in_float32


def otam_loss(logits: torch.Tensor, labels: torch.Tensor, reduction: Literal["sum", "mean"] = "mean") -> torch.Tensor:
    """Cross-entropy over the queries of one episode, averaged as in the reference (`CNN_OTAM.loss`:
    `F.cross_entropy` with its default mean). The reference's `train_task` then divides by the tasks
    of a batch; under Lightning gradient accumulation does that division. logits: (Q, C); labels: (Q,)."""
    return F.cross_entropy(logits, labels, reduction=reduction)


class OTAMLoss(nn.Module):
    """OTAM's loss as a part the LightningModule receives: `(logits, labels) -> (loss, {"loss": loss})`.

    Args:
        reduction: `mean` over the queries (the reference) or `sum` (TRX's).
    """

    def __init__(self, reduction: Literal["sum", "mean"] = "mean"):
        super().__init__()
        if reduction not in ("sum", "mean"):
            raise ValueError(f"OTAMLoss: unknown reduction {reduction!r}; expected sum or mean")
        self.reduction = reduction

    @in_float32  # cross-entropy of distance logits: docs/precision.md
    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        loss = otam_loss(logits, labels, self.reduction)
        return loss, {"loss": loss}
