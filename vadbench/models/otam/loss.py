"""OTAM's episode loss: cross-entropy of the query logits (-OTAM class distances), TRX's loss with the
reference's reduction (the mean over the queries)."""

from __future__ import annotations

from typing import Literal

import torch

from vadbench.models.trx.loss import TRXLoss, trx_loss


def otam_loss(logits: torch.Tensor, labels: torch.Tensor, reduction: Literal["sum", "mean"] = "mean") -> torch.Tensor:
    """Cross-entropy over the queries of one episode, averaged as in the reference (`CNN_OTAM.loss`:
    `F.cross_entropy` with its default mean). The reference's `train_task` then divides by the tasks
    of a batch; under Lightning gradient accumulation does that division. logits: (Q, C); labels: (Q,)."""
    return trx_loss(logits, labels, reduction)


class OTAMLoss(TRXLoss):
    """OTAM's loss as a part the LightningModule receives: `(logits, labels) -> (loss, {"loss": loss})`.

    Args:
        reduction: `mean` over the queries (the reference) or `sum` (TRX's).
    """

    def __init__(self, reduction: Literal["sum", "mean"] = "mean"):
        super().__init__(reduction)
