"""SSRL (Li et al., ECCV 2022) in pure torch: PSR per patch scale, MPA, VTR, snippet classifier.

Shapes: B videos, T snippets, C clip crops, P = rows*cols patches of one scale (row-major), D dims.
The clip-only model (no patch scales) is exactly RTFM: SSRL's stage 1 and baseline.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from vadbench.data.synthetic import grid_shape
from vadbench.models.components.patches import patch_scale_list, snippet_patches
from vadbench.models.relation import AttentionNorm, TemporalRelation
from vadbench.models.rtfm.torch_model import RTFMModel, RTFMOutput, _xavier_init

MPAConv = Literal["paper", "official"]


def mpa_conv_geometry(rows: int, cols: int, mode: MPAConv) -> tuple[int, int, tuple[int, int]]:
    """(stride, padding, output grid) of the MPA 3x3 convolution for a rows x cols grid.

    `paper`: stride 2 (Sec. 4.2); padding 1, which the paper leaves open and a 2x3 grid needs.
    `official`: stride 1, padding 1 for grids with fewer than 3 rows (2x3) and 0 otherwise.
    """
    stride, pad = (2, 1) if mode == "paper" else (1, 1 if rows < 3 else 0)
    out = ((rows + 2 * pad - 3) // stride + 1, (cols + 2 * pad - 3) // stride + 1)
    if min(out) < 1:
        raise ValueError(f"MPA convolution ({mode}) leaves nothing of a {rows}x{cols} patch grid")
    return stride, pad, out


def build_relation(dim: int, use_dilated: bool, use_nonlocal: bool, attention_norm: AttentionNorm,
                   conv_bias: bool = True) -> TemporalRelation:
    """The relation network of SSRL Fig. 4 (same settings as RTFM)."""
    return TemporalRelation(dim, use_dilated=use_dilated, use_nonlocal=use_nonlocal, attention_norm=attention_norm,
                            conv_bias=conv_bias)


class PatchAggregation(nn.Module):
    """One MPA branch (SSRL Sec. 3.3): grid -> Conv2d 3x3 D->D/2 + ReLU + BN -> FC to D + ReLU."""

    def __init__(self, dim: int, rows: int, cols: int, mode: MPAConv = "paper", dropout: float = 0.0):
        super().__init__()
        stride, pad, (h, w) = mpa_conv_geometry(rows, cols, mode)
        self.rows, self.cols = rows, cols
        self.conv = nn.Sequential(nn.Conv2d(dim, dim // 2, 3, stride=stride, padding=pad), nn.ReLU(),
                                  nn.BatchNorm2d(dim // 2))
        self.fc = nn.Sequential(nn.Linear(dim // 2 * h * w, dim), nn.ReLU())
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        """patches (N, P, D) -> (N, D): phi_t^r reshaped to the grid, then the aggregated feature."""
        n, p, d = patches.shape
        grid = patches.transpose(1, 2).reshape(n, d, self.rows, self.cols)   # row-major patches -> grid
        return self.dropout(self.fc(self.conv(grid).flatten(1)))


class SSRLModel(RTFMModel):
    """Patch spatial relation per scale + multi-scale aggregation, added to the clip features, then RTFM.

    Args (the others, `**rtfm_args`, go to RTFMModel and configure the VTR, classifier and top-k):
        feature_dim: D of the clip and patch features.
        patch_scales: patch feature sets used, e.g. ["patch23", "patch35", "patch47"] ([] = RTFM).
        use_psr: False = SSRL w/o PSR (Table 4): patches go straight to MPA.
        psr_dilated, psr_nonlocal: PSR sub-networks (Table 5).
        share_psr: one PSR for all scales (Table 1/6 "share parameters").
        mpa_conv: `paper` (stride 2) or `official` (stride 1, padding 1 for 2x3 else 0).
        mpa_dropout: dropout after a scale's FC, by scale name (official code: only on patch47).
    """

    def __init__(
        self,
        feature_dim: int = 2048,
        *,
        patch_scales: tuple[str, ...] | None = ("patch23", "patch35", "patch47"),
        use_psr: bool = True,
        psr_dilated: bool = True,
        psr_nonlocal: bool = True,
        share_psr: bool = False,
        mpa_conv: MPAConv = "paper",
        mpa_dropout: dict[str, float] | None = None,
        **rtfm_args,
    ):
        super().__init__(feature_dim=feature_dim, **rtfm_args)
        attention_norm = self.attention_norm
        self.patch_scales = patch_scale_list(patch_scales, "SSRLModel")
        self.grids = {s: grid_shape(s) for s in self.patch_scales}
        psr_args = (feature_dim, psr_dilated, psr_nonlocal, attention_norm, self.relation_bias)
        self.shared_psr = (build_relation(*psr_args) if use_psr and share_psr and self.patch_scales else None)
        self.psr = nn.ModuleDict({s: build_relation(*psr_args) for s in self.patch_scales if use_psr and not share_psr})
        self.mpa = nn.ModuleDict({s: PatchAggregation(feature_dim, *self.grids[s], mpa_conv,
                                                      (mpa_dropout or {}).get(s, 0.0))
                                  for s in self.patch_scales})
        for module in (self.shared_psr, self.psr, self.mpa):
            if module is not None:
                module.apply(_xavier_init)

    def psr_for(self, scale: str) -> TemporalRelation | None:
        return self.shared_psr if self.shared_psr is not None else self.psr[scale] if scale in self.psr else None

    def aggregate(self, patches: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """patches: scale -> (B, T, P, D). Returns phi'_t = sum_r MPA_r(PSR_r(chi_t^r)) as (B, T, D)."""
        total = None
        for scale in self.patch_scales:  # a loop over <= 3 scales; patches and snippets are batched
            x, (b, t, d) = snippet_patches(patches, scale, self.grids[scale], "SSRL")   # (B*T, P, D)
            psr = self.psr_for(scale)
            if psr is not None:
                x = psr(x)                                 # SSRL eqs. (1)-(3): phi_t^r
            fused = self.mpa[scale](x).view(b, t, d)       # Sec. 3.3: ddot(phi)_t^r
            total = fused if total is None else total + fused   # phi'_t: element-wise sum over scales
        return total

    def forward(self, features: torch.Tensor, mask: torch.Tensor | None = None,
                patches: dict[str, torch.Tensor] | None = None) -> RTFMOutput:
        """features (B, T, C, D), mask (B, T), patches scale -> (B, T, P, D) -> RTFMOutput."""
        aggregated = self.aggregate(patches or {}) if self.patch_scales else None
        if aggregated is not None:
            features = features + aggregated[:, :, None, :]   # broadcast-added to every clip crop (code)
        return super().forward(features, mask)             # VTR eqs. (4)-(6) + snippet classifier
