"""Patch features of one scale as the patch-scale cores (SSRL's PSR + MPA, MSIP's MPSR) consume them."""

from __future__ import annotations

import torch


def snippet_patches(patches: dict[str, torch.Tensor], scale: str, grid: tuple[int, int],
                    model: str) -> tuple[torch.Tensor, tuple[int, int, int]]:
    """patches[scale] (B, T, P, D), checked against its rows x cols grid -> ((B*T, P, D), (B, T, D)):
    every snippet's patches as one sequence, and the shape to fold the fused feature back into."""
    if scale not in patches:
        raise KeyError(f"{model} uses patch scale {scale!r} but the batch holds {sorted(patches)}; "
                       f"add it to data.init_args.patch_scales")
    x = patches[scale]
    b, t, p, d = x.shape
    rows, cols = grid
    if p != rows * cols:
        raise ValueError(f"patch scale {scale}: {p} patches per snippet, expected {rows}x{cols}")
    return x.reshape(b * t, p, d), (b, t, d)


def patch_scale_list(patch_scales, model: str) -> list[str]:
    """The net's patch scales as a list; None (the data's default, linked into the net) is an error."""
    if patch_scales is None:
        raise ValueError(f"{model}: patch_scales is None; set data.init_args.patch_scales (linked into the model), "
                         f"e.g. [patch23, patch35, patch47], or [] for the clip-only model")
    return list(patch_scales)
