"""MGFN (Chen et al., AAAI 2023) in pure torch: feature amplification, glance and focus blocks, scores.

Shapes: B videos, T snippets, C crops, D input feature dims, F = the last stage's width (1024).
Crops are processed as B·C separate sequences in a channels-first layout (N, channels, T); scores
and feature magnitudes are averaged over crops, as the official code does. Top-k selection and the
output record are RTFM's (`select_topk`, `RTFMOutput`): MGFN's "magnitude selection" (the official
`MSNSD`) is the same top-k by crop-averaged feature magnitude with the same random exclusion.
"""

from __future__ import annotations

from typing import Literal, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from vadbench.models.components.precision import in_float32
from vadbench.models.rtfm.torch_model import RTFMOutput, select_topk

BlockKind = Literal["glance", "focus"]


def _masked(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Zero the padded positions of x (N, channels, T), so a padded batch equals one video at a time
    (each temporal convolution then sees the zero padding it sees at a video's end)."""
    return x if mask is None else x * mask[:, None, :].to(x.dtype)


class TemporalConv(nn.Conv1d):
    """`nn.Conv1d` with stride 1, zero "same" padding and odd `kernel` (its parameters and state-dict
    keys), computed as one matrix product over the unfolded windows: the same function, about twice
    as fast as torch's CPU convolution in float64 (the golden tests) and a little faster in float32."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int = 1, bias: bool = True):
        super().__init__(in_channels, out_channels, kernel, padding=kernel // 2, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, in, T) -> (N, out, T)."""
        k, (n, c, t) = self.kernel_size[0], x.shape
        if k == 1:
            return F.linear(x.transpose(1, 2), self.weight[:, :, 0], self.bias).transpose(1, 2)
        windows = F.pad(x, (k // 2, k // 2)).unfold(2, k, 1)               # (N, in, T, k)
        windows = windows.permute(0, 2, 1, 3).reshape(n, t, c * k)
        return F.linear(windows, self.weight.reshape(self.out_channels, c * k), self.bias).transpose(1, 2)


class ChannelLayerNorm(nn.Module):
    """Layer norm over the channels of (N, channels, T): (x - mean) / (std + eps) * weight + bias,
    with the biased std added to eps outside the root (the official `LayerNorm` of utils.py)."""

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        std = x.var(dim=1, unbiased=False, keepdim=True).sqrt()
        mean = x.mean(dim=1, keepdim=True)
        return (x - mean) / (std + self.eps) * self.weight[:, None] + self.bias[:, None]


class FeatureAmplifier(nn.Module):
    """MGFN's Feature Amplification Mechanism (FAM) and token projection (paper Sec. "FAM", eqs. 1-2).

    M = ||x_t||_2 over the D input dims (eq. 1); out = Conv1d_k3(x) + ratio * Conv1d_k3(M) (eq. 2),
    both convolutions D -> dim and 1 -> dim, kernel 3 over time. `enabled=False` is the paper's
    "w/o FAM" ablation: out = Conv1d_k3(x), no magnitude branch (and no parameters for it).
    """

    def __init__(self, feature_dim: int, dim: int, ratio: float = 0.1, enabled: bool = True):
        super().__init__()
        self.ratio, self.enabled = ratio, enabled
        self.to_tokens = TemporalConv(feature_dim, dim, 3)
        self.to_magnitude = TemporalConv(1, dim, 3) if enabled else None

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x (N, D, T) -> (N, dim, T)."""
        out = self.to_tokens(x)
        if self.to_magnitude is not None:
            magnitude = x.norm(p=2, dim=1, keepdim=True)                   # FAM eq. (1)
            out = out + self.ratio * self.to_magnitude(magnitude)          # FAM eq. (2)
        return _masked(out, mask)


class GlanceAttention(nn.Module):
    """The glance block's video clip-level transformer (VCT): multi-head softmax self-attention over
    all T snippets of a video (global context). Channel layer norm, one 1x1 convolution to q, k, v
    (no bias; head-major channels), softmax(q k^T / sqrt(dim_head)) v, 1x1 output convolution."""

    def __init__(self, dim: int, heads: int, dim_head: int):
        super().__init__()
        self.heads, self.dim_head = heads, dim_head
        inner = heads * dim_head
        self.norm = ChannelLayerNorm(dim)
        self.qkv = TemporalConv(dim, 3 * inner, bias=False)
        self.out = TemporalConv(inner, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        n, _, t = x.shape
        q, k, v = self.qkv(self.norm(x)).chunk(3, dim=1)                    # (N, inner, T) each
        q, k, v = (z.reshape(n, self.heads, self.dim_head, t).transpose(2, 3) for z in (q, k, v))
        logits = (q * self.dim_head ** -0.5) @ k.transpose(2, 3)            # (N, h, T, T)
        if mask is not None:
            logits = logits.masked_fill(~mask[:, None, None, :], float("-inf"))
        y = logits.softmax(dim=-1) @ v                                      # (N, h, T, dim_head)
        return self.out(y.transpose(2, 3).reshape(n, self.heads * self.dim_head, t))


class FocusAttention(nn.Module):
    """The focus block's self-attentional convolution (SAC): BatchNorm, a 1x1 convolution to the
    values (no bias), then per head one kernel-`kernel` temporal convolution shared by the head's
    dim_head channels (channel c * heads + h belongs to head h: head-minor), 1x1 output convolution."""

    def __init__(self, dim: int, heads: int, dim_head: int, kernel: int = 5):
        super().__init__()
        self.heads, self.dim_head = heads, dim_head
        inner = heads * dim_head
        self.norm = nn.BatchNorm1d(dim)
        self.value = TemporalConv(dim, inner, bias=False)
        self.local = nn.Conv1d(heads, heads, kernel, padding=kernel // 2, groups=heads)
        self.out = TemporalConv(inner, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        n, _, t = x.shape
        v = _masked(self.value(self.norm(x)), mask)                         # (N, inner, T)
        v = self.local(v.reshape(n * self.dim_head, self.heads, t))         # each head's kernel over time
        return self.out(v.reshape(n, self.heads * self.dim_head, t))


class FeedForward(nn.Module):
    """Channel layer norm, 1x1 convolution dim -> mult*dim, GELU, dropout, 1x1 convolution back."""

    def __init__(self, dim: int, mult: int = 4, dropout: float = 0.0):
        super().__init__()
        self.norm = ChannelLayerNorm(dim)
        self.expand = TemporalConv(dim, dim * mult)
        self.dropout = nn.Dropout(dropout)
        self.project = TemporalConv(dim * mult, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(self.dropout(F.gelu(self.expand(self.norm(x)))))


class MGFNBlock(nn.Module):
    """A glance block (GB) or focus block (FB): x + SCC(x), then + mixer(x), then + FFN(x), where
    SCC is the shortcut kernel-3 convolution and the mixer the VCT (glance) or the SAC (focus)."""

    def __init__(self, kind: BlockKind, dim: int, heads: int, dim_head: int, focus_kernel: int = 5,
                 ff_mult: int = 4, ff_dropout: float = 0.0):
        super().__init__()
        if kind not in ("glance", "focus"):
            raise ValueError(f"MGFN block kind must be 'glance' or 'focus'; got {kind!r}")
        self.kind = kind
        self.shortcut = TemporalConv(dim, dim, 3)
        self.mixer = (GlanceAttention(dim, heads, dim_head) if kind == "glance"
                      else FocusAttention(dim, heads, dim_head, focus_kernel))
        self.ffn = FeedForward(dim, ff_mult, ff_dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = _masked(self.shortcut(x) + x, mask)
        x = _masked(self.mixer(x, mask) + x, mask)
        return _masked(self.ffn(x) + x, mask)


class MGFNStage(nn.Module):
    """`depth` blocks of one kind at one width, then (except after the last stage) a channel layer
    norm and a 1x1 convolution to the next stage's width."""

    def __init__(self, kind: BlockKind, dim: int, depth: int, next_dim: int | None, dim_head: int,
                 focus_kernel: int, ff_mult: int, ff_dropout: float):
        super().__init__()
        heads = max(1, dim // dim_head)
        self.blocks = nn.ModuleList(MGFNBlock(kind, dim, heads, dim_head, focus_kernel, ff_mult, ff_dropout)
                                    for _ in range(depth))
        self.transition = (nn.Sequential(ChannelLayerNorm(dim), TemporalConv(dim, next_dim))
                           if next_dim is not None else None)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, mask)
        return x if self.transition is None else _masked(self.transition(x), mask)


class MGFNModel(nn.Module):
    """Magnitude-Contrastive Glance-and-Focus Network: FAM, then stages of glance / focus blocks,
    a LayerNorm over the last stage's channels (the features whose magnitudes select the top-k) and
    a linear scorer with a sigmoid.

    Args:
        feature_dim: D of the input features (2048: the official code's 10-crop I3D; linked from the data).
        dims: width of each stage (official: 64, 128, 1024; 64 = 2048 / 32, "C/32" in the paper).
        depths: blocks per stage (official: 3, 3, 2).
        block_kinds: `glance` or `focus` per stage (official: glance, focus, focus = GB -> FB; the
            paper's structure ablation: e.g. [focus, focus, focus], [glance, glance, glance]).
        dim_head: channels per attention head (64; heads = width // dim_head, at least one: 1, 2, 16).
        focus_kernel: temporal kernel of the SAC convolution (5).
        ff_mult, ff_dropout: feed-forward expansion (4) and its dropout (official: 0).
        use_amplifier: the Feature Amplification Mechanism (paper ablation "w/o FAM": false).
        magnitude_ratio: FAM's ratio alpha (official `mag_ratio` 0.1).
        k: snippets selected by magnitude (3).
        exclusion_rate: dropout rate of the random top-k exclusion in training (official 0.7; 0 = off).
    """

    def __init__(
        self,
        feature_dim: int = 2048,
        dims: Sequence[int] = (64, 128, 1024),
        depths: Sequence[int] = (3, 3, 2),
        block_kinds: Sequence[BlockKind] = ("glance", "focus", "focus"),
        dim_head: int = 64,
        focus_kernel: int = 5,
        ff_mult: int = 4,
        ff_dropout: float = 0.0,
        use_amplifier: bool = True,
        magnitude_ratio: float = 0.1,
        k: int = 3,
        exclusion_rate: float = 0.7,
    ):
        super().__init__()
        dims, depths, block_kinds = list(dims), list(depths), list(block_kinds)
        if not (len(dims) == len(depths) == len(block_kinds)) or not dims:
            raise ValueError(f"MGFN needs one width, depth and block kind per stage; got dims={dims}, "
                             f"depths={depths}, block_kinds={block_kinds}")
        self.feature_dim, self.k = feature_dim, k
        self.amplifier = FeatureAmplifier(feature_dim, dims[0], magnitude_ratio, use_amplifier)
        self.stages = nn.ModuleList(
            MGFNStage(kind, dim, depth, dims[i + 1] if i + 1 < len(dims) else None, dim_head, focus_kernel,
                      ff_mult, ff_dropout)
            for i, (kind, dim, depth) in enumerate(zip(block_kinds, dims, depths)))
        self.head_norm = nn.LayerNorm(dims[-1])
        self.classifier = nn.Linear(dims[-1], 1)
        self.exclusion = nn.Dropout(exclusion_rate) if exclusion_rate > 0 else None

    @in_float32  # the whole network: its top-k ranks LayerNorm-output norms that tie to float32 resolution
    def forward(self, features: torch.Tensor, mask: torch.Tensor | None = None,
                patches: dict[str, torch.Tensor] | None = None) -> RTFMOutput:
        """features (B, T, C, D), mask (B, T) -> RTFMOutput (features (B, C, T, F), scores (B, T),
        magnitudes (B, T)). `patches` is not used (the magnitude-MIL cores share one call).

        Under bf16-mixed the network runs in float32 (docs/precision.md): the magnitudes that pick the
        top-k snippets are L2 norms of LayerNorm outputs, which at initialisation differ between snippets
        by 1e-7 relative or less (only through each snippet's variance against the LayerNorm's eps);
        bfloat16 rounding anywhere upstream reorders them (half of a tiny batch's top-k changed)."""
        b, t, c, d = features.shape
        x = features.permute(0, 2, 3, 1).reshape(b * c, d, t)                 # crops as sequences
        crop_mask = None if mask is None else mask.repeat_interleave(c, dim=0)
        x = self.amplifier(_masked(x, crop_mask), crop_mask)
        for stage in self.stages:
            x = stage(x, crop_mask)
        feats = self.head_norm(x.transpose(1, 2))                              # (B*C, T, F)
        scores = torch.sigmoid(self.classifier(feats)).view(b, c, t).mean(1)  # mean over crops
        feats = feats.view(b, c, t, -1)
        magnitudes = feats.norm(p=2, dim=-1).mean(1)                           # (B, T)
        return RTFMOutput(feats, scores, magnitudes)

    def topk(self, out: RTFMOutput, mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, k') snippet indices of the largest crop-averaged magnitudes (official `MSNSD`)."""
        return select_topk(out.magnitudes, self.k, mask, self.exclusion)
