"""ATA's training loss (official train.py): classification over the training classes by the appearance
score, two entropy terms and the temporal score, on the per-segment classifier's similarities."""

from __future__ import annotations

import torch
from torch import nn

from vadbench.models.ata.torch_model import ATATrainOutput, ata_objective
from vadbench.models.components.precision import in_float32


class ATALoss(nn.Module):
    """`(ATATrainOutput, labels) -> (loss, terms)`, labels (B,) = each video's training-class id.

    loss = CE(softmax(appearance)) + w_ce * conditional entropy - w_e * entropy - w_t * temporal score,
    each a mean over the videos of the value at the video's class (`torch_model.ata_objective`).

    Args:
        conditional_entropy_weight: official 0.1.
        entropy_weight: official 1.
        temporal_weight: official 0.05.
        eps: inside the logarithms (official 1e-12).
    """

    def __init__(self, conditional_entropy_weight: float = 0.1, entropy_weight: float = 1.0,
                 temporal_weight: float = 0.05, eps: float = 1e-12):
        super().__init__()
        self.conditional_entropy_weight, self.entropy_weight = conditional_entropy_weight, entropy_weight
        self.temporal_weight, self.eps = temporal_weight, eps

    @in_float32  # softmax, logarithms and entropies (docs/precision.md)
    def forward(self, outputs: ATATrainOutput, labels: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        similarity = outputs.similarity
        classes = similarity.shape[-1]
        if labels.shape != similarity.shape[:1]:
            raise ValueError(f"ATA loss: expected one training-class label per video ({similarity.shape[0]}); "
                             f"got shape {tuple(labels.shape)}")
        if int(labels.min()) < 0 or int(labels.max()) >= classes:
            raise ValueError(f"ATA: training-class id {int(labels.max())} outside the classifier's {classes} classes; "
                             f"set model.init_args.net.init_args.num_classes to the number of training classes "
                             f"of the split")
        terms = ata_objective(similarity, outputs.normalized, labels, outputs.prior, self.conditional_entropy_weight,
                              self.entropy_weight, self.temporal_weight, self.eps)
        return terms["loss"], terms
