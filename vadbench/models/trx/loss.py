"""TRX's episode loss: cross-entropy of the query logits (-distances)."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F


def trx_loss(logits: torch.Tensor, labels: torch.Tensor, reduction: Literal["sum", "mean"] = "sum") -> torch.Tensor:
    """Cross-entropy over the C*Q queries of one episode, summed as in the official code.

    The official code then divides by the 16 tasks of a batch; under Lightning that division is
    done by gradient accumulation (`accumulate_grad_batches: 16` divides each task's loss by 16).
    logits: (Q, C); labels: (Q,).
    """
    return F.cross_entropy(logits, labels, reduction=reduction)
