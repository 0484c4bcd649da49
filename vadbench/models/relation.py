"""The relation network shared by RTFM, SSRL and MSIP (RTFM's "MTN"; SSRL's PSR and VTR; MSIP's CTR).

`TemporalRelation` runs over any sequence axis: snippets in time (RTFM, VTR, CTR) or patches in
space (SSRL's PSR). Two branches on the input x (N, L, D):
- a pyramid of dilated 1-D convolutions (kernel 3, dilations 1/2/4), each D -> D/4 (SSRL eq. (3));
- a 1x1 convolution D -> D/4 feeding a non-local block (SSRL eqs. (1)-(2)).
Their outputs are concatenated (back to D), fused by a kernel-3 convolution and added to x.
Either branch can be switched off (SSRL Table 5).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from vadbench.models.components.precision import in_float32

AttentionNorm = Literal["softmax", "count"]


def _masked(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Zero padded positions of x (N, C, L) so batched padding equals per-video zero padding."""
    return x if mask is None else x * mask[:, None, :].to(x.dtype)


class NonLocalBlock1d(nn.Module):
    """Embedded dot-product non-local block over a sequence (SSRL eqs. (1)-(2)).

    normalization: `softmax` (SSRL eq. (1), the paper) or `count` (the official RTFM code: dot
    products divided by the sequence length N, no softmax). The output projection W_z is followed
    by a BatchNorm initialised to zero, so the block starts as the identity (official code).
    """

    def __init__(self, channels: int, inner_channels: int | None = None, normalization: AttentionNorm = "softmax"):
        super().__init__()
        inner = inner_channels or max(1, channels // 2)
        self.normalization = normalization
        self.theta = nn.Conv1d(channels, inner, 1)
        self.phi = nn.Conv1d(channels, inner, 1)
        self.g = nn.Conv1d(channels, inner, 1)
        self.w_z = nn.Sequential(nn.Conv1d(inner, channels, 1), nn.BatchNorm1d(channels))
        nn.init.zeros_(self.w_z[1].weight)
        nn.init.zeros_(self.w_z[1].bias)
        self.keep_attention = False
        self.last_attention: torch.Tensor | None = None

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x: (N, C, L); mask: (N, L) bool of valid positions. Returns (N, C, L)."""
        theta = self.theta(x).transpose(1, 2)              # (N, L, C')
        phi = self.phi(x)                                  # (N, C', L)
        g = self.g(x).transpose(1, 2)                      # (N, L, C')
        y = self.attend(theta, phi, g, mask)
        return self.w_z(y) + x                             # SSRL eq. (2): W_z y + x

    @in_float32  # attention logits and their normalisation in float32 (docs/precision.md)
    def attend(self, theta: torch.Tensor, phi: torch.Tensor, g: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """theta (N, L, C'), phi (N, C', L), g (N, L, C') -> the attention-weighted g, (N, C', L)."""
        logits = theta @ phi                               # (N, L, L)  W_theta x x^T W_phi^T
        if self.normalization == "softmax":
            if mask is not None:
                logits = logits.masked_fill(~mask[:, None, :], float("-inf"))
            attn = logits.softmax(dim=-1)
        else:
            if mask is not None:
                logits = logits * mask[:, None, :].to(logits.dtype)
                n = mask.sum(dim=1).clamp(min=1).to(logits.dtype)[:, None, None]
            else:
                n = logits.shape[-1]
            attn = logits / n
        if self.keep_attention:
            self.last_attention = attn.detach()
        return (attn @ g).transpose(1, 2)


class TemporalRelation(nn.Module):
    """Dilated-convolution pyramid + non-local relation network over a sequence axis.

    Args:
        dim: feature dim D of input and output.
        reduced_dim: per-branch dim (default D/4).
        dilations: dilation of each pyramid convolution (paper: 1, 2, 4).
        use_dilated, use_nonlocal: switch each branch off for the ablations (SSRL Table 5).
        attention_norm: `softmax` (paper) or `count` (official code's 1/N).
        nonlocal_inner_dim: inner dim of the non-local block (official: D/8).
        conv_stride: kept at 1 (a stride would change the sequence length).
        conv_bias: bias on the 1x1 reduction before the non-local block and on the fusion convolution
            (True, vadbench's earlier build); the official RTFM / SSRL code builds both without a bias
            (`conv_4`, `conv_5`): False = the official parameter set (2,560 fewer per D = 2048 network).
    """

    def __init__(
        self,
        dim: int = 2048,
        reduced_dim: int | None = None,
        dilations: tuple[int, ...] = (1, 2, 4),
        use_dilated: bool = True,
        use_nonlocal: bool = True,
        attention_norm: AttentionNorm = "softmax",
        nonlocal_inner_dim: int | None = None,
        conv_bias: bool = True,
    ):
        super().__init__()
        if not (use_dilated or use_nonlocal):
            raise ValueError("TemporalRelation needs at least one branch (use_dilated or use_nonlocal)")
        r = reduced_dim or dim // 4
        self.dilated = nn.ModuleList(
            nn.Sequential(nn.Conv1d(dim, r, 3, padding=d, dilation=d), nn.ReLU(), nn.BatchNorm1d(r))
            for d in (dilations if use_dilated else ())
        )
        self.reduce = nn.Sequential(nn.Conv1d(dim, r, 1, bias=conv_bias), nn.ReLU()) if use_nonlocal else None
        self.non_local = NonLocalBlock1d(r, nonlocal_inner_dim or max(1, r // 2), attention_norm) if use_nonlocal else None
        fused_in = r * (len(self.dilated) + (1 if use_nonlocal else 0))
        self.fuse = nn.Sequential(nn.Conv1d(fused_in, dim, 3, padding=1, bias=conv_bias), nn.ReLU(), nn.BatchNorm1d(dim))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x: (N, L, D), mask: (N, L) bool. Returns (N, L, D)."""
        h = _masked(x.transpose(1, 2), mask)               # (N, D, L)
        branches = [_masked(conv(h), mask) for conv in self.dilated]   # eq. (3) dilated branch
        if self.non_local is not None:
            branches.append(_masked(self.non_local(self.reduce(h), mask), mask))  # eqs. (1)-(2)
        out = self.fuse(torch.cat(branches, dim=1)) + h    # concat + fuse + residual, eq. (3)
        return _masked(out, mask).transpose(1, 2)

    @property
    def attention_module(self) -> NonLocalBlock1d | None:
        return self.non_local
