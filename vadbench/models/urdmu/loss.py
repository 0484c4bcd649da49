"""UR-DMU's loss (official `AD_Loss` and the terms its model computes), each term weighted and logged.

With k = T // 16 + 1 and BCE the binary cross-entropy:
- classification: BCE(mean of the k largest snippet scores, video label);
- the dual-memory terms, each times `lambda_memory` (0.1): `abnormal_memory` BCE(top-k mean of the
  A-memory score on anomalous videos, 1); `normal_memory_on_abnormal` BCE(top-k mean of (1 - N-memory
  score) on anomalous videos, 1); `normal_memory` BCE(N-memory score of every normal snippet, 1);
  `abnormal_memory_on_normal` BCE(A-memory score of every normal snippet, 0);
- triplet (x `lambda_triplet`, 0.1): margin-1 triplet loss on l2-normalised top-k mean features:
  anchor = normal videos by N-memory score, positive = anomalous videos by N-memory score, negative =
  anomalous videos by A-memory score;
- kl (x `lambda_kl`, 0.001): KL(N(mu, exp(logvar)) || N(0, I)) of the normal videos' N-memory read-out;
  official: -0.5 * (1 + logvar - mu^2 - exp(logvar)) summed over the snippets (dim 1 of (N, T, E)),
  averaged over sequences and feature dims (`kl_sum_over: time`); `feature` sums over E and averages
  over sequences and snippets (the usual VAE form);
- distance (x `lambda_distance`, 1e-4): max(0, 100 - ||negative read-out|| + ||anchor read-out||),
  averaged over videos: the anomalous videos' A-memory read-out (top-k by A score) pushed to a larger
  norm than the normal videos' sampled N-memory read-out.
The official total: classification + 0.1 (four memory terms) + 0.1 triplet + 0.001 kl + 1e-4 distance.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from vadbench.models.components.precision import in_float32
from vadbench.models.urdmu.torch_model import URDMUTrainOutput


def topk_mean(scores: torch.Tensor, k: int) -> torch.Tensor:
    return scores.topk(k, dim=-1).values.mean(-1)


def l2_normalise(x: torch.Tensor) -> torch.Tensor:
    """x / ||x|| (official `norm`: no epsilon)."""
    return x / x.norm(p=2, dim=-1, keepdim=True)


class URDMULoss(nn.Module):
    def __init__(self, lambda_memory: float = 0.1, lambda_triplet: float = 0.1, lambda_kl: float = 0.001,
                 lambda_distance: float = 0.0001, triplet_margin: float = 1.0, distance_margin: float = 100.0,
                 kl_sum_over: Literal["time", "feature"] = "time"):
        super().__init__()
        if kl_sum_over not in ("time", "feature"):
            raise ValueError(f"kl_sum_over must be 'time' or 'feature'; got {kl_sum_over!r}")
        self.lambda_memory, self.lambda_triplet = lambda_memory, lambda_triplet
        self.lambda_kl, self.lambda_distance = lambda_kl, lambda_distance
        self.triplet_margin, self.distance_margin, self.kl_sum_over = triplet_margin, distance_margin, kl_sum_over

    def kl_term(self, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        inner = 1 + logvar - mu.pow(2) - logvar.exp()
        return (-0.5 * inner.sum(dim=1 if self.kl_sum_over == "time" else -1)).mean()

    @in_float32  # BCE (refused by CUDA autocast), the 100-margin on norms, the KL's exponentials: docs/precision.md
    def forward(self, out: URDMUTrainOutput, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """out: `URDMUModel.training_forward`; labels (2B,) 0 then 1."""
        k, bce = out.k, F.binary_cross_entropy
        labels = labels.to(out.scores.dtype)
        terms = {"classification": bce(topk_mean(out.scores, k), labels)}
        lm = self.lambda_memory
        if out.abnormal_on_abnormal is not None:
            a = topk_mean(out.abnormal_on_abnormal, k)
            terms["abnormal_memory"] = lm * bce(a, torch.ones_like(a))
            terms["abnormal_memory_on_normal"] = lm * bce(out.abnormal_on_normal, torch.zeros_like(out.abnormal_on_normal))
        if out.normal_on_abnormal is not None:
            p = topk_mean(1 - out.normal_on_abnormal, k)
            terms["normal_memory_on_abnormal"] = lm * bce(p, torch.ones_like(p))
            terms["normal_memory"] = lm * bce(out.normal_on_normal, torch.ones_like(out.normal_on_normal))
        if out.anchor is not None and out.negative is not None and self.lambda_triplet:
            terms["triplet"] = self.lambda_triplet * F.triplet_margin_loss(
                l2_normalise(out.anchor), l2_normalise(out.positive), l2_normalise(out.negative), margin=self.triplet_margin)
        if out.mu is not None and self.lambda_kl:
            terms["kl"] = self.lambda_kl * self.kl_term(out.mu, out.logvar)
        if out.anchor_augmented is not None and out.negative_augmented is not None and self.lambda_distance:
            terms["distance"] = self.lambda_distance * F.relu(
                self.distance_margin - out.negative_augmented.norm(dim=-1) + out.anchor_augmented.norm(dim=-1)).mean()
        terms["loss"] = sum(terms.values())
        return terms
