"""RTFM (Tian et al., ICCV 2021) in pure torch: relation network, snippet classifier, top-k by magnitude.

Shapes: B videos, T snippets, C crops, D feature dims.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vadbench.models.components.precision import autocast_off, float32_call, upcast
from vadbench.models.relation import AttentionNorm, TemporalRelation


class SnippetClassifier(nn.Module):
    """D -> 512 -> 128 -> 1 with ReLU, dropout and a sigmoid (RTFM; SSRL's "snippet classifier")."""

    def __init__(self, dim: int = 2048, hidden: tuple[int, ...] = (512, 128), dropout: float = 0.7):
        super().__init__()
        layers: list[nn.Module] = []
        for h in hidden:
            layers += [nn.Linear(dim, h), nn.ReLU(), nn.Dropout(dropout)]
            dim = h
        layers += [nn.Linear(dim, 1), nn.Sigmoid()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # the last layer and the sigmoid in float32 (docs/precision.md): bf16 scores tie in the AUC
        return float32_call(self.net[-2:], self.net[:-2](x)).squeeze(-1)


@dataclass
class RTFMOutput:
    features: torch.Tensor    # (B, C, T, D) relation-enhanced snippet features
    scores: torch.Tensor      # (B, T) anomaly scores, averaged over crops
    magnitudes: torch.Tensor  # (B, T) feature L2 magnitudes, averaged over crops


def select_topk(magnitudes: torch.Tensor, k: int, mask: torch.Tensor | None = None,
                exclusion: nn.Module | None = None) -> torch.Tensor:
    """Indices (B, k') of the k snippets with the largest magnitude (SSRL eq. (7), RTFM).

    `exclusion` (training only) is a Dropout applied to a ones vector that multiplies the
    magnitudes: RTFM's random exclusion of snippets from the top-k. k' = min(k, T).
    """
    if exclusion is not None and exclusion.training:
        magnitudes = magnitudes * exclusion(torch.ones_like(magnitudes))
    if mask is not None:
        magnitudes = magnitudes.masked_fill(~mask, float("-inf"))
    return magnitudes.topk(min(k, magnitudes.shape[1]), dim=1).indices


def gather_snippets(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """x (B, C, T, D) or (B, T), idx (B, k) -> (B, C, k, D) or (B, k)."""
    if x.dim() == 2:
        return x.gather(1, idx)
    b, c, _, d = x.shape
    return x.gather(2, idx[:, None, :, None].expand(b, c, idx.shape[1], d))


class RTFMModel(nn.Module):
    """Relation network over time + snippet classifier; crops are processed as separate sequences.

    Args:
        feature_dim: D of the input features (2048 for I3D ResNet-50).
        dropout: dropout on the relation features and inside the classifier (paper/code: 0.7).
        classifier_hidden: hidden sizes of the snippet classifier (512, 128).
        k: snippets selected by magnitude (3).
        exclusion_rate: dropout rate of RTFM's random top-k exclusion in training (code: 0.7; 0 = off).
        use_dilated, use_nonlocal, attention_norm: relation network options (see TemporalRelation).
        relation_bias: bias on the relation networks' 1x1 reduction and fusion convolutions (True);
            the official code has none (False: its exact parameter set; recipe/rtfm_official.yaml).
    """

    def __init__(
        self,
        feature_dim: int = 2048,
        dropout: float = 0.7,
        classifier_hidden: tuple[int, ...] = (512, 128),
        k: int = 3,
        exclusion_rate: float = 0.7,
        use_dilated: bool = True,
        use_nonlocal: bool = True,
        attention_norm: AttentionNorm = "softmax",
        relation_bias: bool = True,
    ):
        super().__init__()
        self.feature_dim, self.k, self.attention_norm = feature_dim, k, attention_norm
        self.relation_bias = relation_bias
        self.relation = TemporalRelation(feature_dim, use_dilated=use_dilated, use_nonlocal=use_nonlocal,
                                         attention_norm=attention_norm, conv_bias=relation_bias)
        self.dropout = nn.Dropout(dropout)
        self.classifier = SnippetClassifier(feature_dim, tuple(classifier_hidden), dropout)
        self.exclusion = nn.Dropout(exclusion_rate) if exclusion_rate > 0 else None
        self.apply(_xavier_init)

    def forward(self, features: torch.Tensor, mask: torch.Tensor | None = None,
                patches: dict[str, torch.Tensor] | None = None) -> RTFMOutput:
        """features (B, T, C, D), mask (B, T) -> RTFMOutput. `patches` is not used (clip-only model;
        SSRLModel and MSIPModel add them): the magnitude-MIL cores share one call."""
        b, t, c, d = features.shape
        x = features.permute(0, 2, 1, 3).reshape(b * c, t, d)                   # crops as sequences
        crop_mask = None if mask is None else mask.repeat_interleave(c, dim=0)
        x = self.dropout(self.relation(x, crop_mask))                          # (B*C, T, D)
        scores = self.classifier(x).view(b, c, t).mean(1)                       # mean over crops
        feats = x.view(b, c, t, d)
        with autocast_off():                                                    # float32: top-k ranks these
            magnitudes = upcast(feats).norm(p=2, dim=-1).mean(1)                # (B, T)
        return RTFMOutput(feats, scores, magnitudes)

    def topk(self, out: RTFMOutput, mask: torch.Tensor | None = None) -> torch.Tensor:
        return select_topk(out.magnitudes, self.k, mask, self.exclusion)


def _xavier_init(m: nn.Module) -> None:
    if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)):
        nn.init.xavier_uniform_(m.weight)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
