"""HyRSM's episode loss (official training loop): cross-entropy of the query logits (-set distances)
plus a weighted frame-level classification over the training classes."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vadbench.models.components.precision import in_float32
from vadbench.models.hyrsm.torch_model import HyRSMOutput


def hyrsm_loss(outputs: HyRSMOutput, query_labels: torch.Tensor, class_labels: torch.Tensor,
               classification_weight: float = 0.15, scale: float = 1.0) -> dict[str, torch.Tensor]:
    """scale * (CE(logits, query labels) + w * CE(frame logits, each video's training-class id per frame)).

    outputs.logits (Q, C); outputs.frame_logits (S + Q, T, N_cls); query_labels (Q,) in [0, C);
    class_labels (S + Q,) training-class ids of the support videos then the queries (the order of
    frame_logits). Both cross-entropies are means (over queries, over (S + Q) T frames).
    """
    n, t, classes = outputs.frame_logits.shape
    if class_labels.shape != (n,):
        raise ValueError(f"HyRSM loss: expected {n} training-class labels (support then queries); "
                         f"got shape {tuple(class_labels.shape)}")
    if int(class_labels.max()) >= classes or int(class_labels.min()) < 0:
        raise ValueError(f"HyRSM: training-class id {int(class_labels.max())} outside the frame classifier's "
                         f"{classes} classes; set model.init_args.net.init_args.num_classes to the number of "
                         f"training classes of the split")
    metric = F.cross_entropy(outputs.logits, query_labels)
    classification = F.cross_entropy(outputs.frame_logits.reshape(n * t, classes), class_labels.repeat_interleave(t))
    return {"loss": scale * (metric + classification_weight * classification), "loss_metric": metric,
            "loss_classification": classification}


class HyRSMLoss(nn.Module):
    """HyRSM's loss as a part the LightningModule receives: `(outputs, query_labels, class_labels) ->
    (loss, terms)`.

    Args:
        classification_weight: weight of the frame classification term (official USE_CLASSIFICATION_VALUE:
            0.15 HMDB51, 0.4 Kinetics-100).
        scale: multiplies the episode loss. The official loop divides each task's loss by 4 (TRAIN.BATCH_SIZE)
            and averages gradients over 4 GPUs, so an update is sum over tasks / 16; Lightning's
            `accumulate_grad_batches: A` divides by A, so scale = A / 16 reproduces it (HMDB51: 8 tasks,
            0.5; Kinetics-100: 16 tasks, 1.0). It matters only through Adam's weight decay and epsilon.
    """

    def __init__(self, classification_weight: float = 0.15, scale: float = 1.0):
        super().__init__()
        self.classification_weight, self.scale = classification_weight, scale

    @in_float32  # cross-entropies of distance logits and frame logits: docs/precision.md
    def forward(self, outputs: HyRSMOutput, query_labels: torch.Tensor,
                class_labels: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        terms = hyrsm_loss(outputs, query_labels, class_labels, self.classification_weight, self.scale)
        return terms["loss"], terms
