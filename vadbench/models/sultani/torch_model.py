"""Sultani et al. (CVPR 2018) MIL ranking model in pure torch: a 3-layer MLP scoring each segment."""

from __future__ import annotations

import torch
from torch import nn

from vadbench.models.components.precision import float32_call


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
        # the last layer and the sigmoid in float32 (docs/precision.md): ranked max scores, AUC ties
        return float32_call(self.net[-2:], self.net[:-2](features)).squeeze(-1).mean(dim=2)


def official_frame_scores(segment_scores: torch.Tensor, num_clips: int, frames_per_clip: int = 16) -> torch.Tensor:
    """The official evaluation's frame scores (Evaluate_Anomaly_Detector.m, Sultani 8aa957c, transcribed).

    A test video of `num_clips` 16-frame C3D clips is scored as 32 segments; segment i (0-based) covers
    clips b[i] .. b[i+1]-2 (1-based), b = round(linspace(1, num_clips, 33)) (MATLAB rounding, half away
    from zero), or the single clip b[i] when that range is empty; later segments overwrite earlier
    ones, and frames no segment covers (the last clip when b[i+1]-1 < num_clips) keep score 0, as in
    the script. Returns (num_clips * frames_per_clip,) frame scores; the script then pads them to the
    video's frame count with the last value (see `pad_to_frames`).
    """
    if segment_scores.shape[-1] != 32:
        raise ValueError(f"the official evaluation expects 32 segment scores, got {segment_scores.shape[-1]}")
    bounds = torch.floor(torch.linspace(1, num_clips, 33, dtype=torch.float64) + 0.5).long().tolist()
    frames = torch.zeros(num_clips * frames_per_clip, dtype=segment_scores.dtype, device=segment_scores.device)
    for i in range(32):
        first, last = bounds[i], bounds[i + 1] - 1          # 1-based clips
        last = max(last, first)
        frames[(first - 1) * frames_per_clip: last * frames_per_clip] = segment_scores[i]
    return frames


def official_segment_features(clip_features: torch.Tensor) -> torch.Tensor:
    """A test video's clip features (T, ...) -> its 32 segment features (32, ...) as the official
    feature script builds them (Save_C3DFeatures_32Segments.m, Sultani 8aa957c, transcribed): segment i
    is the mean of clips b[i] .. max(b[i+1]-1, b[i]) (1-based), b = round(linspace(1, T, 33)), the
    bounds `official_frame_scores` expands the scores back with. (The l2 normalisation follows in the
    model, `l2_normalize`.)"""
    t = clip_features.shape[0]
    bounds = torch.floor(torch.linspace(1, t, 33, dtype=torch.float64, device=clip_features.device) + 0.5).long()
    first = bounds[:-1] - 1                                   # 0-based, inclusive
    last = torch.maximum(bounds[1:] - 2, first)               # 0-based, inclusive
    csum = torch.cat([clip_features.new_zeros((1,) + clip_features.shape[1:]), clip_features.cumsum(0)])
    shape = (-1,) + (1,) * (clip_features.ndim - 1)
    return (csum[last + 1] - csum[first]) / (last - first + 1).to(clip_features.dtype).view(shape)


def pad_to_frames(frame_scores: torch.Tensor, num_frames: int) -> torch.Tensor:
    """Repeat the last frame score up to the video's frame count (the official script's padding)."""
    extra = num_frames - frame_scores.shape[0]
    return frame_scores if extra <= 0 else torch.cat([frame_scores, frame_scores[-1:].expand(extra)])
