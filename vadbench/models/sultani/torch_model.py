"""Sultani et al. (CVPR 2018) MIL ranking model in pure torch: a 3-layer MLP scoring each segment."""

from __future__ import annotations

import torch
from torch import nn


class SultaniMILModel(nn.Module):
    """D -> 512 -> 32 -> 1 MLP (ReLU, dropout 0.6, sigmoid) applied to every snippet and crop.

    features (B, T, C, D) -> scores (B, T), averaged over crops (C = 1 for C3D features).
    """

    def __init__(self, feature_dim: int = 4096, hidden: tuple[int, ...] = (512, 32), dropout: float = 0.6,
                 l2_normalize: bool = True):
        super().__init__()
        self.feature_dim, self.l2_normalize = feature_dim, l2_normalize
        layers: list[nn.Module] = []
        d = feature_dim
        for i, h in enumerate(hidden):
            # paper: ReLU after the first FC layer; the official Keras model has linear 2nd layer
            layers += [nn.Linear(d, h), nn.ReLU() if i == 0 else nn.Identity(), nn.Dropout(dropout)]
            d = h
        layers += [nn.Linear(d, 1), nn.Sigmoid()]
        self.net = nn.Sequential(*layers)
        for m in self.net:
            if isinstance(m, nn.Linear):
                nn.init.xavier_normal_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if self.l2_normalize:  # paper Sec. 4: each clip feature is l2-normalised
            features = nn.functional.normalize(features, dim=-1)
        return self.net(features).squeeze(-1).mean(dim=2)
