"""BN-WVAD (Zhou, Qu, Xu, Shen, Song, Shen, 2023: "BatchNorm-based Weakly Supervised Video Anomaly
Detection") in pure torch: UR-DMU's encoder, a normal head whose BatchNorm running statistics define
normality, the Divergence of Feature from Mean (DFM) and the sample-batch selection (SBS).

Shapes: B videos, T snippets, C crops, D feature dims, E = embed_dim (512), H_l the normal head's
hidden widths (E/16 = 32, E/32 = 16). Crops are separate sequences (N = B*C) whose scores are
averaged; the official training feeds one crop file per video (`components.crops`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from vadbench.models.components.crops import crops_as_sequences
from vadbench.models.components.precision import float32_call, in_float32
from vadbench.models.components.gl_transformer import (GlobalLocalTransformer, LocalNormalisation,
                                                      TemporalConvEmbedding, official_encoder_key_map)

Distance = Literal["mahalanobis", "euclidean"]
Selection = Literal["sample_batch", "sample", "batch"]
Score = Literal["dfm_x_classifier", "classifier", "dfm"]


def _masked(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    return x if mask is None else x * mask[:, None, :].to(x.dtype)


class NormalHead(nn.Module):
    """Conv1d E -> E/r1, BN, ReLU, Conv1d -> E/r2, BN, ReLU, Conv1d -> 1, sigmoid (official `NormalHead`).

    forward(x (N, E, T)) -> ([h1 (N, E/r1, T), h2 (N, E/r2, T)] the pre-BatchNorm features, scores (N, T)).
    In training the BatchNorms normalise with batch statistics and update their running mean/variance
    (momentum `bn_momentum`), which are the DFM's reference.
    """

    def __init__(self, in_channels: int = 512, ratios: tuple[int, int] = (16, 32),
                 kernel_sizes: tuple[int, int, int] = (1, 1, 1), bn_momentum: float = 0.1):
        super().__init__()
        c1, c2 = in_channels // ratios[0], in_channels // ratios[1]
        k1, k2, k3 = kernel_sizes
        self.conv1 = nn.Conv1d(in_channels, c1, k1, 1, k1 // 2)
        self.bn1 = nn.BatchNorm1d(c1, momentum=bn_momentum)
        self.conv2 = nn.Conv1d(c1, c2, k2, 1, k2 // 2)
        self.bn2 = nn.BatchNorm1d(c2, momentum=bn_momentum)
        self.conv3 = nn.Conv1d(c2, 1, k3, 1, k3 // 2)
        self.act = nn.ReLU()

    @property
    def norms(self) -> tuple[nn.BatchNorm1d, nn.BatchNorm1d]:
        return self.bn1, self.bn2

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[list[torch.Tensor], torch.Tensor]:
        h1 = self.conv1(_masked(x, mask))
        h2 = self.conv2(_masked(self.act(self.bn1(h1)), mask))
        scores = torch.sigmoid(float32_call(self.conv3, _masked(self.act(self.bn2(h2)), mask))).squeeze(1)
        return [h1, h2], scores


@in_float32  # a distance to the mean: differences of close numbers summed over channels (docs/precision.md)
def divergence_from_mean(h: torch.Tensor, mean: torch.Tensor, var: torch.Tensor, kind: Distance = "mahalanobis") -> torch.Tensor:
    """DFM: h (N, H, T), BatchNorm running mean / var (H,) -> (N, T): sqrt(sum_h (h - mean)^2 / var)
    (diagonal Mahalanobis, official); `euclidean`: without the variance."""
    sq = (h - mean[None, :, None]).pow(2)
    if kind == "mahalanobis":
        sq = sq / var[None, :, None]
    elif kind != "euclidean":
        raise ValueError(f"distance must be 'mahalanobis' or 'euclidean'; got {kind!r}")
    return sq.sum(1).sqrt()


def select_snippets(feats: torch.Tensor, dfm: torch.Tensor, ratio_sample: float, ratio_batch: float,
                    selection: Selection = "sample_batch") -> tuple[torch.Tensor, torch.Tensor]:
    """Sample-batch selection (official `pos_neg_select`). feats (2B, H, T) crop-averaged hidden
    features, dfm (2B, T): B normal videos then B anomalous.

    Anomalous snippets: the union (`sample_batch`) of each anomalous video's int(T * ratio_sample)
    largest-DFM snippets (`sample`) and the int(B * T * ratio_batch) largest of the whole anomalous batch
    (`batch`), in video-major order. Normal snippets: each normal video's k = int(n / B) + 1 largest-DFM
    snippets, taken rank by rank over the videos (rank 0 of every video, then rank 1, ...) and cut to the
    n anomalous ones. Returns (normal (n, H), anomalous (n, H)).
    """
    b2, h, t = feats.shape
    b = b2 // 2
    nor_dfm, abn_dfm = dfm[:b], dfm[b:]
    nor_feats, abn_feats = feats[:b].transpose(1, 2), feats[b:].transpose(1, 2)           # (B, T, H)
    chosen = torch.zeros_like(abn_dfm, dtype=torch.bool)
    if selection in ("sample_batch", "sample"):
        chosen.scatter_(1, abn_dfm.topk(int(t * ratio_sample), dim=-1).indices, True)
    if selection in ("sample_batch", "batch"):
        flat = torch.zeros(b * t, dtype=torch.bool, device=dfm.device)
        flat[abn_dfm.reshape(-1).topk(int(b * t * ratio_batch)).indices] = True
        chosen |= flat.view(b, t)
    if selection not in ("sample_batch", "sample", "batch"):
        raise ValueError(f"selection must be 'sample_batch', 'sample' or 'batch'; got {selection!r}")
    abnormal = abn_feats.reshape(-1, h)[chosen.reshape(-1)]
    n = abnormal.shape[0]
    k = min(int(n / b) + 1, t)
    idx = nor_dfm.topk(k, dim=-1).indices
    normal = nor_feats.gather(1, idx[..., None].expand(-1, -1, h)).transpose(0, 1).reshape(-1, h)[:n]
    return normal, abnormal


@dataclass
class BNWVADTrainOutput:
    """One training forward: `normal_scores` (B, T) of the normal videos (crop-averaged); per normal-head
    layer the BatchNorm running `means` / `variances` (after this batch's update) and the selected
    `normal` / `abnormal` hidden features (n, H_l)."""

    normal_scores: torch.Tensor
    means: list[torch.Tensor] = field(default_factory=list)
    variances: list[torch.Tensor] = field(default_factory=list)
    normal: list[torch.Tensor] = field(default_factory=list)
    abnormal: list[torch.Tensor] = field(default_factory=list)
    distance: Distance = "mahalanobis"


class BNWVADModel(nn.Module):
    """Conv embedding + GL-MHSA Transformer (UR-DMU's, dropout 0) and the BatchNorm normal head.

    Args:
        feature_dim: D (1024 for Wu et al.'s I3D files).
        embed_dim, depth, heads, dim_head, mlp_dim, dropout, local_normalisation: the encoder (official
            512, 2, 4, 128, 512, 0, columns).
        ratios, kernel_sizes, bn_momentum: the normal head (official (16, 32), (1, 1, 1), 0.1).
        ratio_sample, ratio_batch: SBS ratios (official 0.2, 0.4); selection: `sample_batch` (SBS,
            official), `sample` (SLS) or `batch` (BLS) (paper ablation).
        distance: the DFM, `mahalanobis` (official) or `euclidean` (paper ablation).
        score: test score, `dfm_x_classifier` (sum of the layers' DFM times the head's score, official),
            `classifier` or `dfm` alone (paper ablation).
    """

    def __init__(self, feature_dim: int = 1024, embed_dim: int = 512, depth: int = 2, heads: int = 4,
                 dim_head: int = 128, mlp_dim: int = 512, dropout: float = 0.0,
                 local_normalisation: LocalNormalisation = "columns", ratios: tuple[int, int] = (16, 32),
                 kernel_sizes: tuple[int, int, int] = (1, 1, 1), bn_momentum: float = 0.1,
                 ratio_sample: float = 0.2, ratio_batch: float = 0.4, selection: Selection = "sample_batch",
                 distance: Distance = "mahalanobis", score: Score = "dfm_x_classifier"):
        super().__init__()
        if score not in ("dfm_x_classifier", "classifier", "dfm"):
            raise ValueError(f"score must be 'dfm_x_classifier', 'classifier' or 'dfm'; got {score!r}")
        self.feature_dim = feature_dim
        self.ratio_sample, self.ratio_batch, self.selection = ratio_sample, ratio_batch, selection
        self.distance, self.score = distance, score
        self.embedding = TemporalConvEmbedding(feature_dim, embed_dim)
        self.transformer = GlobalLocalTransformer(embed_dim, depth, heads, dim_head, mlp_dim, dropout,
                                                  local_normalisation=local_normalisation)
        self.normal_head = NormalHead(embed_dim, tuple(ratios), tuple(kernel_sizes), bn_momentum)

    def head(self, features: torch.Tensor, mask: torch.Tensor | None = None):
        """(N, T, D) -> hidden features [(N, H_l, T)], head scores (N, T), DFM per layer [(N, T)]."""
        x = self.transformer(self.embedding(features, mask), mask)
        hidden, scores = self.normal_head(x.transpose(1, 2), mask)
        dfm = [divergence_from_mean(h, bn.running_mean, bn.running_var, self.distance)
               for h, bn in zip(hidden, self.normal_head.norms)]
        return hidden, scores, dfm

    def forward(self, features: torch.Tensor, mask: torch.Tensor | None = None,
                patches: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """Evaluation: features (B, T, C, D), mask (B, T) -> (B, T) anomaly scores, each crop scored
        alone and the crops' scores averaged (official test). Not in [0, 1]: DFM x classifier."""
        b, t, c, _ = features.shape
        seqs, seq_mask = crops_as_sequences(features, mask)
        _, scores, dfm = self.head(seqs, seq_mask)
        if self.score == "dfm_x_classifier":
            scores = sum(dfm) * scores
        elif self.score == "dfm":
            scores = sum(dfm)
        return scores.view(b, c, t).mean(1)

    def training_forward(self, features: torch.Tensor) -> BNWVADTrainOutput:
        """features (2B, T, C, D): B normal videos then B anomalous, no padding."""
        b2, t, c, _ = features.shape
        hidden, scores, dfm = self.head(crops_as_sequences(features, None)[0])
        out = BNWVADTrainOutput(normal_scores=scores.view(b2, c, t).mean(1)[: b2 // 2], distance=self.distance)
        for h, d, bn in zip(hidden, dfm, self.normal_head.norms):
            feats = h.view(b2, c, h.shape[1], t).mean(1)
            normal, abnormal = select_snippets(feats, d.view(b2, c, t).mean(1), self.ratio_sample,
                                               self.ratio_batch, self.selection)
            out.means.append(bn.running_mean)
            out.variances.append(bn.running_var)
            out.normal.append(normal)
            out.abnormal.append(abnormal)
        return out


def official_key_map(depth: int = 2) -> dict[str, str]:
    """Official `WSAD` (BN-WVAD models/model.py) module names -> `BNWVADModel`'s."""
    head = {f"normal_head.{m}": f"normal_head.{m}" for m in ("conv1", "bn1", "conv2", "bn2", "conv3")}
    return {**official_encoder_key_map(depth), **head}
