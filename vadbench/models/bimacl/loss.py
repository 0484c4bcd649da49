"""BiMACL's episode loss: cross-entropy of the TRX logits plus 0.05 times that of the CTRX contrast logits."""

from __future__ import annotations

from typing import Literal

import torch

from vadbench.models.bimacl.torch_model import BiMACLOutput
from vadbench.models.components.precision import in_float32
from vadbench.models.trx.loss import TRXLoss, trx_loss


class BiMACLLoss(TRXLoss):
    """BiMACL's joint loss (official run_model.py `train_task`): L = CE(TRX logits) + w CE(contrast logits).

    Each cross-entropy is summed over the queries, as TRX's (the official division by the 16 tasks of a batch
    is gradient accumulation here). `(outputs, labels) -> (loss, {"loss", "loss_frame", "loss_contrast"})`.

    Args:
        contrast_weight: w, the weight of the CTRX contrast term (0.05 in the official code).
        reduction: `sum` over the queries (official) or `mean`.
    """

    def __init__(self, contrast_weight: float = 0.05, reduction: Literal["sum", "mean"] = "sum"):
        super().__init__(reduction)
        self.contrast_weight = contrast_weight

    @in_float32  # cross-entropy of distance logits: docs/precision.md
    def forward(self, outputs: BiMACLOutput, labels: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if outputs.contrast_logits is None:
            raise ValueError("BiMACLLoss needs the contrast logits of `BiMACLModel.forward` (the cached evaluation "
                             "path `forward_projected` leaves them out)")
        loss_frame = trx_loss(outputs.frame_logits, labels, self.reduction)
        loss_contrast = trx_loss(outputs.contrast_logits, labels, self.reduction)
        loss = loss_frame + self.contrast_weight * loss_contrast
        return loss, {"loss": loss, "loss_frame": loss_frame, "loss_contrast": loss_contrast}
