"""TRX's episode loss: cross-entropy of the query logits (-distances)."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from vadbench.models.components.precision import in_float32


def trx_loss(logits: torch.Tensor, labels: torch.Tensor, reduction: Literal["sum", "mean"] = "sum") -> torch.Tensor:
    """Cross-entropy over the C*Q queries of one episode, summed as in the official code.

    The official code then divides by the 16 tasks of a batch; under Lightning that division is
    done by gradient accumulation (`accumulate_grad_batches: 16` divides each task's loss by 16).
    logits: (Q, C); labels: (Q,).
    """
    return F.cross_entropy(logits, labels, reduction=reduction)


class TRXLoss(nn.Module):
    """TRX's loss as a part the LightningModule receives: `(logits, labels) -> (loss, {"loss": loss})`.

    Args:
        reduction: `sum` over the queries (the official code) or `mean`.
    """

    def __init__(self, reduction: Literal["sum", "mean"] = "sum"):
        super().__init__()
        if reduction not in ("sum", "mean"):
            raise ValueError(f"{type(self).__name__}: unknown reduction {reduction!r}; expected sum or mean")
        self.reduction = reduction

    @in_float32  # cross-entropy of distance logits: docs/precision.md
    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        loss = trx_loss(logits, labels, self.reduction)
        return loss, {"loss": loss}
