"""MGFN's training objective: top-k BCE + magnitude contrastive (MC) loss + sparsity + smoothness.

Official code (carolchenyx/MGFN. 98e9389, train.py `mgfn_loss`, `sparsity`, `smooth`; checked against
tests/golden/test_mgfn_golden.py), with M the L1 norm over the F features of each of the k selected
snippets of one crop (a k-vector per (video, crop)):

- classification: BCE between the mean of the k selected crop-averaged scores and the video label;
- MC loss, Hadsell's contrastive form on the distance d(x, y) = ||x - y + 1e-6||_2 between k-vectors:
  separation = mean over (video b, crop c) of max(0, margin - d(M_abn[b, c], M_nor[b, c]))^2;
  compactness (normal, anomalous) = mean of d(...)^2 over pairs of rows of the same class, the rows
  ordered crop-major (c * B + b) and the second half paired with the first (`same_class_pairs:
  crop_halves`: with 10 crops, crop c + 5 of a video with crop c of the same video);
  MC = lambda_mc * (separation_weight * separation + compact_normal + compact_anomalous),
  official lambda_mc = 1e-3, separation_weight = 1e-3, margin = 200;
- sparsity: lambda_sparsity (8e-3) times ONE L2 norm of the chosen videos' scores flattened
  (`sparsity_videos`: the anomalous ones in the authors' code that produced the published numbers, before
  the merged pull request a6588e1 of April 2023 (the default); the normal videos at HEAD 98e9389);
- smoothness: lambda_smooth (8e-4) times the sum of squared differences of consecutive scores
  (default, before a6588e1: `anomalous` with `smooth_across_videos: true`, RTFM's flattened form where
  differences cross videos and the last score is compared with itself; HEAD: `smoothness_videos: all`,
  within each video, summed over videos).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from vadbench.models.components.precision import in_float32

PAIRWISE_EPS = 1e-6   # torch.nn.functional.pairwise_distance's default, as in the official ContrastiveLoss


def contrastive_distance(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(N, k), (N, k) -> (N,): ||x - y + eps||_2, the official ContrastiveLoss's distance."""
    return F.pairwise_distance(x, y, p=2.0, eps=PAIRWISE_EPS)


def same_class_pairs(m: torch.Tensor, kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    """m (B, C, k) top-k magnitudes of one class -> the two sides (N, k), (N, k) of its pairs.

    `crop_halves` (official): rows crop-major (c * B + b); row s + i with row i, s = floor(C*B / 2)
    (with an odd C*B the official code fails; here the last row is left out).
    `videos` (the paper's cross-video pairs): video B//2 + i with video i, crop by crop.
    """
    b, c, k = m.shape
    if kind == "crop_halves":
        rows = m.transpose(0, 1).reshape(c * b, k)
        s = (c * b) // 2
        return rows[s:2 * s], rows[:s]
    if kind == "videos":
        h = b // 2
        return m[h:2 * h].reshape(-1, k), m[:h].reshape(-1, k)
    raise ValueError(f"same_class_pairs must be crop_halves or videos; got {kind!r}")


def sparsity_term(scores: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """scores (N, T) -> one L2 norm of all N*T scores (official `sparsity`)."""
    s = scores if mask is None else scores * mask
    return s.reshape(-1).pow(2).sum().sqrt()


def smoothness_term(scores: torch.Tensor, mask: torch.Tensor | None = None,
                    across_videos: bool = False) -> torch.Tensor:
    """scores (N, T) -> sum of squared consecutive differences: within each video, summed over videos
    (official HEAD); `across_videos` = one flattened sequence, the last score compared with itself."""
    if across_videos:
        flat = scores.reshape(-1)
        return (torch.cat([flat[1:], flat[-1:]]) - flat).pow(2).sum()
    diff = (scores[:, 1:] - scores[:, :-1]).pow(2)
    if mask is not None:
        diff = diff * (mask[:, 1:] & mask[:, :-1])
    return diff.sum()


class MGFNLoss(nn.Module):
    """Args (defaults = the authors' code behind the published numbers, i.e. before PR a6588e1;
    `recipe/mgfn_head_98e9389.yaml` = the code at HEAD; `recipe/mgfn_paper.yaml` lists the paper's forms):
        lambda_mc: weight of the MC loss (1e-3; 0 = the "w/o MC loss" ablation: classification,
            sparsity and smoothness only).
        separation_weight: weight of the normal-vs-anomalous term inside the MC loss (official 1e-3).
        margin: contrastive margin (200).
        magnitude_norm: p of the norm over the F features giving each selected snippet's magnitude
            (official 1: L1; the paper's magnitude, eq. 1, is the L2 norm).
        same_class_pairs: `crop_halves` (official) or `videos` (see `same_class_pairs`).
        lambda_sparsity, lambda_smooth: 8e-3, 8e-4.
        sparsity_videos: `anomalous` (before a6588e1, default) or `normal` (HEAD).
        smoothness_videos: `anomalous` (before a6588e1, default) or `all` (HEAD).
        smooth_across_videos: true (before a6588e1, default: one flattened sequence) or false (HEAD).
    """

    def __init__(
        self,
        lambda_mc: float = 1e-3,
        separation_weight: float = 1e-3,
        margin: float = 200.0,
        magnitude_norm: float = 1.0,
        same_class_pairs: Literal["crop_halves", "videos"] = "crop_halves",
        lambda_sparsity: float = 8e-3,
        lambda_smooth: float = 8e-4,
        sparsity_videos: Literal["normal", "anomalous"] = "anomalous",
        smoothness_videos: Literal["all", "anomalous"] = "anomalous",
        smooth_across_videos: bool = True,
    ):
        super().__init__()
        self.lambda_mc, self.separation_weight, self.margin = lambda_mc, separation_weight, margin
        self.magnitude_norm, self.same_class_pairs = magnitude_norm, same_class_pairs
        self.lambda_sparsity, self.lambda_smooth = lambda_sparsity, lambda_smooth
        self.sparsity_videos, self.smoothness_videos = sparsity_videos, smoothness_videos
        self.smooth_across_videos = smooth_across_videos
        for name, value, allowed in (("sparsity_videos", sparsity_videos, ("normal", "anomalous")),
                                     ("smoothness_videos", smoothness_videos, ("all", "anomalous")),
                                     ("same_class_pairs", same_class_pairs, ("crop_halves", "videos"))):
            if value not in allowed:
                raise ValueError(f"MGFNLoss {name} must be one of {allowed}; got {value!r}")

    def contrastive_terms(self, feat_normal: torch.Tensor, feat_abnormal: torch.Tensor) -> dict[str, torch.Tensor]:
        """feat_* (B, C, k, F): top-k features of the B normal / B anomalous videos -> the three
        unweighted MC terms."""
        m_nor = feat_normal.norm(p=self.magnitude_norm, dim=-1)              # (B, C, k)
        m_abn = feat_abnormal.norm(p=self.magnitude_norm, dim=-1)
        k = m_nor.shape[-1]
        d_sep = contrastive_distance(m_abn.reshape(-1, k), m_nor.reshape(-1, k))
        separation = F.relu(self.margin - d_sep).pow(2).mean()               # different classes apart
        x, y = same_class_pairs(m_nor, self.same_class_pairs)
        compact_normal = contrastive_distance(x, y).pow(2).mean()           # normal videos together
        x, y = same_class_pairs(m_abn, self.same_class_pairs)
        compact_anomalous = contrastive_distance(x, y).pow(2).mean()        # anomalous videos together
        return {"separation": separation, "compact_normal": compact_normal, "compact_anomalous": compact_anomalous}

    @in_float32  # BCE (refused by CUDA autocast), the margin of 200 minus a distance, squared sums
    def forward(self, topk_features: torch.Tensor, topk_scores: torch.Tensor, scores: torch.Tensor,
                labels: torch.Tensor, mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """topk_features (2B, C, k, F), topk_scores (2B, k), scores (2B, T), labels (2B,): B normal then
        B anomalous videos. Returns the weighted terms and their sum `loss`."""
        n = labels.shape[0] // 2
        video_scores = topk_scores.mean(1)
        terms = {"classification": F.binary_cross_entropy(video_scores, labels.to(video_scores.dtype))}
        if self.lambda_mc:
            mc = self.contrastive_terms(topk_features[:n], topk_features[n:])
            terms["mc_separation"] = self.lambda_mc * self.separation_weight * mc["separation"]
            terms["mc_normal"] = self.lambda_mc * mc["compact_normal"]
            terms["mc_anomalous"] = self.lambda_mc * mc["compact_anomalous"]
        sp = slice(None, n) if self.sparsity_videos == "normal" else slice(n, None)
        terms["sparsity"] = self.lambda_sparsity * sparsity_term(scores[sp], None if mask is None else mask[sp])
        sm = slice(None) if self.smoothness_videos == "all" else slice(n, None)
        terms["smoothness"] = self.lambda_smooth * smoothness_term(
            scores[sm], None if mask is None else mask[sm], self.smooth_across_videos)
        terms["loss"] = sum(terms.values())
        return terms
