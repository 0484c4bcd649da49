"""Which crops of a training batch a model trains on (UR-DMU, BN-WVAD).

A MIL batch holds every crop of each video, `features (B, T, C, D)`. Models trained on Wu et al.'s
per-crop files treat ONE crop file as one training video (UR-DMU's and BN-WVAD's loaders list
`<video>__<c>.npy` files and draw 64 of them per class per step), while RTFM-style models average
their crops. `training_crops` picks them on the model side, so every data layout works unchanged:

- `one_random`: one crop per video, drawn uniformly (the official per-crop-file instances): (B, T, 1, D);
- `all`: every crop, averaged inside the model (the official models' 4-D input path): (B, T, C, D);
- `mean`: the crops' mean feature as one view: (B, T, 1, D).

The draw uses the global torch RNG of the batch's device (seeded by `seed_everything`, saved in
checkpoints by the RNG callback), so a run is deterministic and resumes exactly.
"""

from __future__ import annotations

from typing import Literal

import torch

CropSampling = Literal["one_random", "all", "mean"]
CROP_SAMPLINGS = ("one_random", "all", "mean")


def check_crop_sampling(mode: str) -> str:
    if mode not in CROP_SAMPLINGS:
        raise ValueError(f"crop_sampling must be one of {CROP_SAMPLINGS}; got {mode!r}")
    return mode


def training_crops(features: torch.Tensor, mode: CropSampling) -> torch.Tensor:
    """features (B, T, C, D) -> the crops a training step uses (module docstring)."""
    if mode == "all":
        return features
    if mode == "mean":
        return features.mean(2, keepdim=True)
    if mode == "one_random":
        b, t, _, d = features.shape
        pick = torch.randint(features.shape[2], (b,), device=features.device)
        return features.gather(2, pick[:, None, None, None].expand(b, t, 1, d))
    raise ValueError(f"crop_sampling must be one of {CROP_SAMPLINGS}; got {mode!r}")


def crops_as_sequences(features: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(B, T, C, D), (B, T) -> (B*C, T, D) video-major, crop-minor, and the mask repeated per crop."""
    b, t, c, d = features.shape
    seqs = features.permute(0, 2, 1, 3).reshape(b * c, t, d)
    return seqs, None if mask is None else mask.repeat_interleave(c, dim=0)
