"""STRM's episode loss: cross-entropy of the TRX logits plus lambda times that of the QC logits."""

from __future__ import annotations

from typing import Literal

import torch

from vadbench.models.components.precision import in_float32
from vadbench.models.strm.torch_model import STRMOutput
from vadbench.models.trx.loss import TRXLoss, trx_loss


class STRMLoss(TRXLoss):
    """STRM's joint loss (official run.py `train_task`): L = CE(TRX logits) + qc_weight x CE(QC logits).

    Each cross-entropy is summed over the queries, as TRX's (the official division by the 16 tasks of a
    batch is gradient accumulation here). `(outputs, labels) -> (loss, {"loss", "loss_frame", "loss_qc"})`.

    Args:
        qc_weight: lambda, the weight of the query-class similarity term (0.1 in the official code).
        reduction: `sum` over the queries (official) or `mean`.
    """

    def __init__(self, qc_weight: float = 0.1, reduction: Literal["sum", "mean"] = "sum"):
        super().__init__(reduction)
        self.qc_weight = qc_weight

    @in_float32  # cross-entropy of distance logits: docs/precision.md
    def forward(self, outputs: STRMOutput, labels: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        loss_frame = trx_loss(outputs.frame_logits, labels, self.reduction)
        loss_qc = trx_loss(outputs.patch_logits, labels, self.reduction)
        loss = loss_frame + self.qc_weight * loss_qc
        return loss, {"loss": loss, "loss_frame": loss_frame, "loss_qc": loss_qc}
