"""RTFM loss (SSRL eqs. (7)-(10)) with each divergence of the official code as an option.

Defaults follow the papers; the official code's choices are available for comparison:
- magnitude_loss: `hinge` (eq. (8): max(0, eps - g(X+) + g(X-)), g = mean of the top-k magnitudes)
  or `squared` (code: mean((|eps - ||mean_k f+|| | + ||mean_k f-||)^2) per crop).
- classification: `per_snippet` (eq. (9): BCE on each of the k selected scores, summed over k) or
  `topk_mean` (code: BCE on the mean of the k selected scores).
- sparsity: `l1` (eq. (10): sum_t |s_t+|, averaged over the anomalous videos), `l2` (code: ONE L2
  norm of the anomalous videos' scores flattened into a vector of B*T values, not averaged: sqrt(B)
  times a per-video norm when the videos' norms are equal) or `l2_per_video` (the mean over videos
  of per-video L2 norms; what `l2` computed before it was matched to the official code).
- smoothness within each video (eq. (10)); `smooth_across_videos=True` reproduces the code's
  flattened version, whose differences cross video boundaries.
Sparsity and smoothness apply to the anomalous videos' scores (averaged over those videos, except the
official `l2` sparsity and `smooth_across_videos`, which sum over the whole flattened batch).
The official recipe (RTFM cf938f4 train.py; checked against tests/golden/): magnitude_loss=squared,
classification=topk_mean, sparsity=l2, smooth_across_videos=True, margin 100, lambda_fm 1e-4,
lambda_sparsity 8e-3, lambda_smooth 8e-4 (with attention_norm=count in the model and Adam lr 1e-3,
weight decay 5e-3).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from vadbench.models.components.precision import in_float32


def sparsity_loss(scores: torch.Tensor, mask: torch.Tensor | None = None, kind: str = "l1") -> torch.Tensor:
    """scores (B, T) -> `l1`: mean over videos of sum_t |s_t| (SSRL eq. (10)); `l2`: ||vec(s)||_2, one
    norm over all B*T scores (official code); `l2_per_video`: mean over videos of ||s_b||_2."""
    s = scores if mask is None else scores * mask
    if kind == "l1":
        return s.abs().sum(1).mean()
    if kind == "l2":
        return s.reshape(-1).pow(2).sum().sqrt()
    if kind == "l2_per_video":
        return s.pow(2).sum(1).sqrt().mean()
    raise ValueError(f"sparsity must be one of l1, l2, l2_per_video; got {kind!r}")


def smoothness_loss(scores: torch.Tensor, mask: torch.Tensor | None = None, across_videos: bool = False) -> torch.Tensor:
    """scores (B, T) -> mean over videos of sum_t (s_t - s_{t-1})^2."""
    if across_videos:  # official code: one flattened sequence, last element compared with itself
        flat = scores.reshape(-1)
        nxt = torch.cat([flat[1:], flat[-1:]])
        return (nxt - flat).pow(2).sum()
    diff = (scores[:, 1:] - scores[:, :-1]).pow(2)
    if mask is not None:
        diff = diff * (mask[:, 1:] & mask[:, :-1])
    return diff.sum(1).mean()


class RTFMLoss(nn.Module):
    def __init__(
        self,
        margin: float = 100.0,
        lambda_fm: float = 1e-4,
        lambda_sparsity: float = 8e-3,
        lambda_smooth: float = 8e-4,
        magnitude_loss: Literal["hinge", "squared"] = "hinge",
        classification: Literal["per_snippet", "topk_mean"] = "per_snippet",
        sparsity: Literal["l1", "l2", "l2_per_video"] = "l1",
        smooth_across_videos: bool = False,
    ):
        super().__init__()
        self.margin, self.lambda_fm = margin, lambda_fm
        self.lambda_sparsity, self.lambda_smooth = lambda_sparsity, lambda_smooth
        self.magnitude_loss, self.classification = magnitude_loss, classification
        self.sparsity, self.smooth_across_videos = sparsity, smooth_across_videos

    def magnitude_term(self, feat_normal: torch.Tensor, feat_abnormal: torch.Tensor) -> torch.Tensor:
        """feat_* (B, C, k, D): top-k features of paired normal / anomalous videos."""
        if self.magnitude_loss == "hinge":  # SSRL eq. (7)-(8)
            g_abn = feat_abnormal.norm(dim=-1).mean(dim=(1, 2))
            g_nor = feat_normal.norm(dim=-1).mean(dim=(1, 2))
            return F.relu(self.margin - g_abn + g_nor).mean()
        m_abn = feat_abnormal.mean(2).norm(dim=-1)   # (B, C)
        m_nor = feat_normal.mean(2).norm(dim=-1)
        return ((self.margin - m_abn).abs() + m_nor).pow(2).mean()

    def classification_term(self, topk_scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """topk_scores (2B, k), labels (2B,)."""
        if self.classification == "per_snippet":  # SSRL eq. (9): sum over the k snippets
            target = labels[:, None].expand_as(topk_scores)
            return F.binary_cross_entropy(topk_scores.clamp(1e-7, 1 - 1e-7), target, reduction="none").sum(1).mean()
        return F.binary_cross_entropy(topk_scores.mean(1).clamp(1e-7, 1 - 1e-7), labels)

    @in_float32  # BCE (refused by CUDA autocast), magnitude margins, squared sums: docs/precision.md
    def forward(self, topk_features: torch.Tensor, topk_scores: torch.Tensor, scores: torch.Tensor,
                labels: torch.Tensor, mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """topk_features (2B, C, k, D), topk_scores (2B, k), scores (2B, T), labels (2B,): B normal then B anomalous."""
        n = labels.shape[0] // 2
        abn_mask = None if mask is None else mask[n:]
        terms = {
            "classification": self.classification_term(topk_scores, labels),
            "magnitude": self.lambda_fm * self.magnitude_term(topk_features[:n], topk_features[n:]),
            "sparsity": self.lambda_sparsity * sparsity_loss(scores[n:], abn_mask, self.sparsity),
            "smoothness": self.lambda_smooth * smoothness_loss(scores[n:], abn_mask, self.smooth_across_videos),
        }
        terms["loss"] = sum(terms.values())  # SSRL eq. (10)
        return terms
